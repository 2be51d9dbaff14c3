// The storefront's use of the Kairos package: start from the stored snapshot and profile (no
// flicker, works offline), fetch the served snapshot, apply newer ones pushed by the server,
// and persist the profile after every change.
import init, { Engine } from '../pkg/index.js';
import { SafeStore, localStorageBackend } from '../pkg/storage.js';

const INSTALL_KEY = 'tos.install';
// `kairos serve --models DIR` serves each `CHANNEL.json` as a channel; the demo's model file is
// examples/taste-of-su/model.json, so its channel is `model`.
const CHANNEL = new URLSearchParams(location.search).get('channel') || 'model';
const SNAPSHOT_URL = `/v1/channels/${CHANNEL}/latest`;
const PUSH_URL = `/v1/channels/${CHANNEL}/events`;
const EVENTS_URL = '/v1/outbox';

// Two checksummed slots per value: a torn or failed write never loses the previous good copy.
const store = new SafeStore(localStorageBackend(), 'tos');

async function fetchSnapshot() {
  const res = await fetch(SNAPSHOT_URL, { cache: 'no-cache' });
  if (!res.ok) throw new Error(`snapshot: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function installId() {
  let id = localStorage.getItem(INSTALL_KEY);
  if (!/^[0-9a-f]{16}$/.test(id || '')) {
    const b = crypto.getRandomValues(new Uint8Array(8));
    id = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
    localStorage.setItem(INSTALL_KEY, id);
  }
  return id;
}

export async function openClient({ clock, onModel }) {
  await init();
  // Start from the stored snapshot when there is one: the first render needs no network.
  let bytes = store.loadSnapshot(Engine.snapshotVersion);
  let engine = null;
  try {
    if (bytes) engine = new Engine(bytes, installId());
  } catch (e) {
    console.warn(`kairos: stored snapshot rejected (${e.code}); fetching`);
  }
  if (!engine) {
    bytes = await fetchSnapshot();
    engine = new Engine(bytes, installId());
    store.saveSnapshot(bytes);
  }
  const state = store.loadState();
  if (state) {
    try { engine.importState(state); } catch (e) { console.warn(`kairos: stored profile rejected (${e.code}); starting fresh`); }
  }

  const refresh = async () => {
    try {
      const next = await fetchSnapshot();
      engine.applySnapshot(next);
      bytes = next;
      store.saveSnapshot(next);
      onModel();
    } catch (e) {
      // Not newer, offline or corrupt: keep the running model.
      if (e.code && e.code !== 'SNAPSHOT_NOT_NEWER') console.warn(`kairos: ${e.code}: ${e.message}`);
    }
  };
  refresh();
  if (typeof EventSource !== 'undefined') {
    const push = new EventSource(PUSH_URL);
    push.addEventListener('snapshot', refresh);
  }

  const client = {
    get version() { return engine.modelVersion; },
    get stageNames() { return engine.stageNames; },
    get consent() { return engine.consent; },
    decide: (placement, context, now) => engine.decide(placement, context, now),
    track: (event, now) => engine.track(event, now),
    stage: () => engine.stage(),
    segments: (context, now) => engine.segments(context, now),
    scores: (context, now) => Object.entries(engine.scores(context, now)),
    features: (now) => Object.entries(engine.features(now)),
    explain: (offer, context, now) => engine.explain(offer, context, now),
    outbox: () => engine.outbox(),
    drainOutbox() {
      const events = engine.drainOutbox();
      if (events.length) {
        const body = events.map((e) => JSON.stringify(e)).join('\n');
        fetch(EVENTS_URL, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body }).catch(() => {});
      }
      return events;
    },
    setConsent: (yes) => engine.setConsent(yes),
    identify: (kind, value) => engine.identify(kind, value),
    setTraits: (traits, expires) => engine.setTraits(traits, expires),
    forget: (now) => engine.forget(undefined, now),
    reset() {
      engine = new Engine(bytes, installId());
      store.saveState(engine.exportState());
    },
    save: () => store.saveState(engine.exportState()),
    clock,
  };
  return client;
}
