// A typed usage example of the package, checked by `tsc --noEmit` (make types). The lines under
// an expect-error directive must fail to type-check: they pin that the typings are precise.
import init, { initSync, Engine, isKairosError, murmur3 } from '../../../pkg/index.js';
import type { Decision, KairosEvent, Context, OutboxEvent, ErrorCode, Reason, Json } from '../../../pkg/index.js';
// `kairos-engine/min`: the same API from the one minified file.
import initMin, { Engine as MinEngine, SafeStore as MinStore, localStorageBackend as minBackend, sync as minSync } from '../../../pkg/kairos.min.js';
import * as minAll from '../../../pkg/kairos.min.js';

declare const wasmBytes: Uint8Array;
declare const snapshot: Uint8Array;

export async function browser(): Promise<void> {
  await init();
}

export function page(): string | null {
  initSync({ module: wasmBytes });
  const engine = new Engine(snapshot, '00000000000000b2');
  engine.setConsent(true);
  const view: KairosEvent = { type: 'view', category: 'qipao', price: 399 };
  const tracked: 'recorded' | 'no_consent' = engine.track(view);
  engine.track({ type: 'follow', channel: 'wechat_oa' }, Date.now());
  const context: Context = { page: 'home' };
  const prefetched: Decision = engine.peek('home_hero', context, Date.now());
  const d: Decision = engine.decide('home_hero', context);
  const repainted: Decision = engine.refresh(d, context);
  // @ts-expect-error a placement name is not the decision shown
  engine.refresh('home_hero', context);
  void [prefetched, repainted];
  const reason: Reason = d.reason;
  const first = d.items[0];
  const content: Json = first ? first.content : d.fallback;
  const label = first ? `${first.offer}${first.variant ? `/${first.variant}` : ''}` : null;
  const stage: string | undefined = engine.stage();
  const segments: string[] = engine.segments(context);
  const scores: Record<string, number> = engine.scores();
  const why = engine.explain('welcome_story', context);
  const failed = why.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail}`);
  for (const e of engine.drainOutbox() satisfies OutboxEvent[]) {
    switch (e.type) {
      case 'exposure': void e.placement; break;
      case 'conversion': void e.event; break;
      case 'stage_changed': void e.to; break;
      case 'forgotten': void [e.pid, e.install satisfies string | null, e.decisions satisfies number | null]; break;
    }
  }
  const state: Uint8Array = engine.exportState();
  engine.importState(state);
  try {
    engine.applySnapshot(snapshot);
  } catch (e) {
    if (isKairosError(e)) {
      const code: ErrorCode = e.code;
      void code;
    }
  }
  engine.identify('phone', '+86 138 0013 8000');
  engine.setTraits({ hipo: true, crm_segments: ['vip'], birthday: '1996-03-14' }, Date.now() + 86_400_000);
  const v: number = engine.modelVersion + Engine.snapshotVersion(snapshot) + murmur3('user-1');
  void [tracked, reason, content, stage, segments, scores, failed, v];

  // An app's own interfaces and classes are events and contexts as they are.
  interface PageContext { page: string; category?: string }
  interface ViewEvent { type: 'view'; category: string; price: number }
  class Product { readonly type = 'view'; constructor(readonly category: string, readonly price: number) {} }
  const pageContext: PageContext = { page: 'pdp', category: 'qipao' };
  const viewEvent: ViewEvent = { type: 'view', category: 'qipao', price: 399 };
  engine.track(viewEvent);
  engine.track(new Product('qipao', 399));
  void [engine.decide('pdp_offer', pageContext), engine.segments(pageContext), engine.scores(pageContext), engine.explain('welcome_story', pageContext)];
  const shared = engine.decide('home_hero', pageContext).fallback;
  if (shared && typeof shared === 'object' && !Array.isArray(shared)) {
    // @ts-expect-error content is shared by every decision (and frozen): read it, do not change it
    shared['title'] = 'changed';
  }
  // @ts-expect-error a context is an object, not a page name
  engine.decide('home_hero', 'home');
  // @ts-expect-error an interface's fields must be field values too
  engine.decide('home_hero', { page: 'home', when: new Date() });

  // @ts-expect-error an event needs a type
  engine.track({ category: 'qipao' });
  // @ts-expect-error event properties are scalars or string lists
  engine.track({ type: 'view', nested: { a: 1 } });
  // @ts-expect-error the placement is a string
  engine.decide(3);
  // @ts-expect-error reasons are a closed set
  const bad: Reason = 'maybe';
  // @ts-expect-error identifier kinds are a closed set
  engine.identify('fax', '1');
  // @ts-expect-error error codes are a closed set
  const badCode: ErrorCode = 'OOPS';
  const unsigned: ErrorCode = 'TRAITS_UNSIGNED';
  const dev = Engine.fromSignedSnapshot(snapshot, ['kairos-ed25519-public:x'], undefined, { allowUnsignedTraits: true });
  dev.setTraitsToken('kt1.payload.signature');
  const refreshBy: number | null = dev.traitsTokenExpiresMs;
  // @ts-expect-error read only
  dev.traitsTokenExpiresMs = 0;
  // @ts-expect-error trust options are an object, not a positional flag
  Engine.fromSignedSnapshot(snapshot, 'kairos-ed25519-public:x', undefined, true);
  const keys = ['kairos-ed25519-public:x'] as const; // a readonly list of keys
  Engine.fromSignedSnapshot(snapshot, keys).free();
  const freed: ErrorCode = 'ENGINE_FREED';
  void [bad, badCode, unsigned, refreshBy, freed];
  return label;
}


// The storage adapter over localStorage.
import { SafeStore, localStorageBackend } from '../../../pkg/storage.js';
export function stored(engine: Engine): Engine | null {
  const web = new SafeStore(localStorageBackend(window.localStorage));
  const restored = web.loadState();
  // Never over the copy that was restored; the older one goes once this one reads back.
  const saved: boolean = web.saveState(engine.exportState(), (b) => restored !== null && b.length === restored.length);
  // A store with its own prefix that still reads an older layout's keys.
  const moved = new SafeStore(localStorageBackend(window.localStorage), 'shop:model', 'kairos');
  moved.save('etag', new Uint8Array([1]), undefined, true);
  // @ts-expect-error `keep` is a predicate on the stored bytes
  web.saveState(engine.exportState(), true);
  void saved;
  const snap = web.loadSnapshot(Engine.snapshotVersion);
  return snap ? new Engine(snap) : null;
}

// Client sync: the browser's fetch and EventSource fit the transport's and push's types.
import { sync, fetchTransport } from '../../../pkg/index.js';
import type { Sync, SyncEvent, Transport, TransportRequest, TransportResponse } from '../../../pkg/index.js';

export async function keepCurrent(publicKey: string, bundled: Uint8Array): Promise<Engine> {
  const s: Sync = sync({
    url: 'https://kairos.example.com', channel: 'model', publicKey: [publicKey], bundled,
    store: new SafeStore(localStorageBackend(window.localStorage), 'shop'),
    transport: fetchTransport(fetch), push: 'auto', EventSource,
    backoff: { baseMs: 1_000, maxMs: 60_000 }, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as number) },
  });
  const off = s.on((e: SyncEvent) => {
    switch (e.type) {
      case 'update': void (e.version > (e.previous ?? 0) && e.stored); break;
      case 'rejected': { const code: ErrorCode = e.code; void code; break; }
      case 'failure': void [e.reason, e.retryInMs, e.status]; break;
      case 'current': void e.version; break;
    }
  });
  const why: string = s.status.rejected.map((r) => `${r.from}: ${r.code}`).join(', ');
  const outcome = await s.check();
  if (outcome.type === 'rejected') void outcome.code;
  s.saveState();
  off();
  void why;
  // @ts-expect-error push modes are a closed set
  sync({ url: '', publicKey, push: 'websocket' });
  return s.engine ?? s.ready;
}

/** A transport that fails on demand, as a test injects. */
export const flaky: Transport = {
  get(request: TransportRequest): Promise<TransportResponse> {
    if (request.url.endsWith('/latest')) return Promise.reject(new Error('offline'));
    return Promise.resolve({ status: 204, headers: {}, body: '' });
  },
};

export async function minified(): Promise<string> {
  await initMin();
  const store = new MinStore(minBackend());
  const s = minSync({ url: '', publicKey: 'kairos-ed25519-public:x', store });
  const engine: MinEngine = s.engine ?? (await s.ready);
  // The browser build leaves the WeChat adapters out: not values there (a namespace import sees
  // what the module exports as values).
  // @ts-expect-error wxTransport is not a value of kairos.min.js
  const wx = minAll.wxTransport();
  // @ts-expect-error nor is wxStorageBackend
  const wxStore = minAll.wxStorageBackend();
  return `${engine.decide('home_hero', { page: 'home' }).reason} ${typeof wx} ${typeof wxStore}`;
}
