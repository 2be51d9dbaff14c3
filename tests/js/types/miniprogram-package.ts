// The mini-program build's own typings (pkg/miniprogram/ copied out to target/types-miniprogram by make types, as into a code package: they
// import nothing outside that directory), against the real `wx`.
import { init, sync, wxTransport, SafeStore, wxStorageBackend, isKairosError } from '../../../target/types-miniprogram/index.js';
import type { Engine, Decision, SyncEvent } from '../../../target/types-miniprogram/index.js';

export async function start(bundled: Uint8Array, publicKey: string): Promise<Decision> {
  await init('/kairos/kairos_wasm.wasm.br');
  const kairos = sync({ url: 'https://kairos.example.com', publicKey, bundled, transport: wxTransport(wx), store: new SafeStore(wxStorageBackend(wx), 'tos') });
  kairos.on((event: SyncEvent) => { if (event.type === 'rejected') console.warn(event.from, event.code); });
  const engine: Engine = kairos.engine ?? await kairos.ready;
  try {
    engine.track({ type: 'view', category: 'qipao', price: 399 });
  } catch (e) {
    if (isKairosError(e)) console.warn(e.code);
  }
  return engine.decide('home_hero', { page: 'home' });
}
