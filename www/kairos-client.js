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
// The brand's public key ships with the storefront's own files (`make demo` puts it beside the
// page): snapshots are only trusted when signed by it.
const PUBLIC_KEY_URL = 'brand.pub';

async function publicKey() {
  const res = await fetch(PUBLIC_KEY_URL);
  if (!res.ok) throw new Error(`the brand's public key is missing (${PUBLIC_KEY_URL}: HTTP ${res.status})`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith('kairos-ed25519-public:'));
  if (!line) throw new Error(`${PUBLIC_KEY_URL} holds no kairos-ed25519-public key`);
  return line.trim();
}

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
  const key = await publicKey();
  const open = (snapshot) => Engine.fromSignedSnapshot(snapshot, key, installId());
  // Start from the stored snapshot when there is one: the first render needs no network.
  let bytes = store.loadSnapshot(Engine.snapshotVersion);
  let engine = null;
  try {
    if (bytes) engine = open(bytes);
  } catch (e) {
    console.warn(`kairos: stored snapshot rejected (${e.code}); fetching`);
  }
  if (!engine) {
    bytes = await fetchSnapshot();
    engine = open(bytes);
    store.saveSnapshot(bytes);
  }
  const state = store.loadState();
  if (state) {
    try { engine.importState(state); } catch (e) { console.warn(`kairos: stored profile rejected (${e.code}); starting fresh`); }
  }

  const refresh = async () => {
    try {
      client.apply(await fetchSnapshot());
      onModel();
    } catch (e) {
      // Not newer, offline or corrupt: keep the running model.
      if (e.code && e.code !== 'SNAPSHOT_NOT_NEWER') console.warn(`kairos: ${e.code}: ${e.message}`);
    }
  };
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
      engine = open(bytes);
      store.saveState(engine.exportState());
    },
    save: () => store.saveState(engine.exportState()),
    /** Applies snapshot bytes if signed by the brand and newer; otherwise throws and keeps the model. */
    apply(snapshot) {
      engine.applySignedSnapshot(snapshot);
      bytes = snapshot;
      store.saveSnapshot(snapshot);
    },
    clock,
  };
  refresh();
  return client;
}
