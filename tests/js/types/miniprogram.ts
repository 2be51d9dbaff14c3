// The WeChat side, type-checked against miniprogram-api-typings as a mini-program project does: no
// DOM library, ES2020, skipLibCheck off (the mini-program build's own typings must compile so);
// the storage adapter takes the real `wx`.
import { SafeStore, wxStorageBackend } from '../../../target/types-miniprogram/storage.js';

export function restore(): Uint8Array | null {
  const store = new SafeStore(wxStorageBackend(wx), 'kairos');
  const state = store.loadState();
  if (state) store.saveState(state);
  return store.loadSnapshot();
}

// Sync over wx.request and wx storage: the real `wx` fits the transport's type.
import { sync, wxTransport } from '../../../target/types-miniprogram/sync.js';

export function keepCurrent(publicKey: string, bundled: Uint8Array): number | null {
  const s = sync({ url: 'https://kairos.example.com', publicKey, bundled, transport: wxTransport(wx),
    store: new SafeStore(wxStorageBackend(wx)), push: 'poll' });
  wx.onNetworkStatusChange((r) => { if (r.isConnected) void s.check(); });
  // @ts-expect-error `wx` itself is not a transport: wrap it with wxTransport
  sync({ url: '', publicKey, transport: wx });
  return s.engine ? s.engine.modelVersion : null;
}
