// The storefront's use of the Kairos package: the package's `sync` starts the engine from the
// stored snapshot and profile (no flicker, works offline), revalidates against `kairos serve`,
// applies newer versions it pushes (only when signed by the brand) and stores them; the page
// persists the profile after every change. The brand's traits arrive as tokens signed by the
// brand key, which the engine checks like snapshots.
import init, { sync } from '../pkg/index.js';
import { SafeStore, localStorageBackend } from '../pkg/storage.js';

const INSTALL_KEY = 'tos.install';
// `kairos serve --models DIR` serves each `CHANNEL.json` as a channel; the demo's model file is
// examples/taste-of-su/model.json, so its channel is `model`.
const CHANNEL = new URLSearchParams(location.search).get('channel') || 'model';
const EVENTS_URL = '/v1/outbox';
// The demo's stand-in for the brand's backend: `kairos serve --demo-tokens` (as `make demo` runs
// it) signs trait tokens for anyone. A real brand signs them in its own backend after login
// (`kairos token` or the library) and never offers an open endpoint like this.
const TOKEN_URL = '/demo/token';
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

// Two checksummed slots per value: a torn or failed write never loses the previous good copy. One
// store per channel (the default channel's keys as before), so channels never share a snapshot.
const store = new SafeStore(localStorageBackend(), CHANNEL === 'model' ? 'tos' : `tos:${CHANNEL}`);

/**
 * A new random install id, stored. Not stored (storage full): this page still uses it, and the
 * old one is removed, so the next visit draws another rather than take an erased shopper's.
 */
function newInstallId() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  const id = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  try {
    localStorage.setItem(INSTALL_KEY, id);
  } catch {
    localStorage.removeItem(INSTALL_KEY);
  }
  return id;
}

function installId() {
  const id = localStorage.getItem(INSTALL_KEY);
  return /^[0-9a-f]{16}$/.test(id || '') ? id : newInstallId();
}

// Events the server took (202) but that reached the outbox while the POST was on its way: they
// were drained with the batch, so they wait here for the next Send.
const CARRY_KEY = 'tos.outbox.carry';
const carried = () => { try { return JSON.parse(localStorage.getItem(CARRY_KEY) || '[]'); } catch { return []; } };
const carry = (events) => {
  if (events.length) localStorage.setItem(CARRY_KEY, JSON.stringify(events));
  else localStorage.removeItem(CARRY_KEY);
};
// Forgets and withdrawals so far: the carried events were the shopper's and go, but for her
// erasure requests; a Send in flight then keeps everything it drains.
let erasures = 0;
const erase = () => {
  erasures += 1;
  carry(carried().filter((e) => e.type === 'forgotten'));
};

/**
 * A trait token for shopper `user` from the demo server, issued at `issued` (ms; the journey's
 * simulated time) and expiring at `expires` (ms), or after the server's default TTL.
 */
async function demoToken(user, traits, issued, expires) {
  const request = { user, traits, now: issued, channel: CHANNEL }; // its model checks the traits
  if (expires !== undefined) request.ttl = `${Math.max(1, Math.ceil((expires - issued) / 1000))}s`;
  let res;
  try {
    res = await fetch(TOKEN_URL, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  } catch (e) {
    throw new Error(`trait token: the demo server cannot be reached (${e.message})`);
  }
  if (res.status === 404) throw new Error(`trait token: ${TOKEN_URL} is off (start \`kairos serve\` with --demo-tokens, as \`make demo\` does)`);
  const body = await res.json().catch(() => ({}));
  if (!res.ok || typeof body.token !== 'string') throw new Error(`trait token: HTTP ${res.status}${body.error ? `: ${body.error}` : ''}`);
  return body.token;
}

/**
 * Opens the engine. On a first visit (nothing stored) it waits for the server's snapshot for as
 * long as it takes: `onWaiting(e)` gets every failed or refused attempt (`e.retryInMs`: when sync
 * tries again), so the page can say so instead of staying blank.
 */
export async function openClient({ clock, onModel, onWaiting = () => {} }) {
  // The module and the key in parallel (index.html preloads both while the page parses).
  const [, key] = await Promise.all([init(), publicKey()]);
  const keeper = sync({
    url: '', channel: CHANNEL, publicKey: key, store, installId: installId(),
    onEvent(e) {
      if (e.type === 'update' && e.previous !== null) onModel();
      // Offline is normal (the stored model keeps running); a refused snapshot is worth a line.
      if (e.type === 'rejected') console.warn(`kairos: snapshot v${e.version} refused (${e.code}); the running model stays`);
    },
  });
  if (keeper.status.rejected.length) {
    console.warn(`kairos: stored snapshot refused (${keeper.status.rejected.map((r) => r.code).join(', ')}); started from ${keeper.status.source}`);
  }
  if (!keeper.engine) {
    // First visit: nothing stored, so the first render waits for the server's snapshot.
    // sync keeps retrying with backoff, so a failure is news for the page, not the end. The
    // snapshot's own request says what is wrong (HTTP 503, refused); the push stream's failing
    // alongside it only says that the stream closed.
    const failed = (e) => (e.type === 'failure' && e.during === 'check') || e.type === 'rejected';
    const off = keeper.on((e) => { if (!keeper.engine && failed(e)) onWaiting(e); });
    await keeper.ready;
    off();
  }
  const engine = () => keeper.engine;

  return {
    get version() { return engine().modelVersion; },
    get stageNames() { return engine().stageNames; },
    get consent() { return engine().consent; },
    decide: (placement, context, now) => engine().decide(placement, context, now),
    refresh: (shown, context, now) => engine().refresh(shown, context, now),
    track: (event, now) => engine().track(event, now),
    stage: () => engine().stage(),
    segments: (context, now) => engine().segments(context, now),
    scores: (context, now) => Object.entries(engine().scores(context, now)),
    features: (now) => Object.entries(engine().features(now)),
    explain: (offer, context, now) => engine().explain(offer, context, now),
    /** What Send would post: events carried from the last Send, then the outbox. */
    outbox: () => [...carried(), ...engine().outbox()],
    /**
     * Posts the outbox to the server and removes the events only once it answered 202: a failed
     * POST keeps them for the next Send. Resolves to the number sent; throws with the reason.
     */
    async send() {
      const shopper = engine();
      const before = carried();
      const erased = erasures;
      const events = [...before, ...shopper.outbox()];
      if (!events.length) return 0;
      const body = events.map((e) => JSON.stringify(e)).join('\n');
      let res;
      try {
        res = await fetch(EVENTS_URL, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
      } catch (e) {
        throw new Error(`the server cannot be reached (${e.message}); the events stay`);
      }
      if (res.status !== 202) {
        const text = (await res.text().catch(() => '')).trim();
        throw new Error(`HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}; the events stay`);
      }
      // Only the events posted leave; ones tracked meanwhile were drained too and wait for the
      // next Send. A reset or another tab's state meanwhile: the posted ones are gone already. A
      // forget or withdrawal meanwhile left the engine only its erasure requests (and what came
      // after): none of that was posted, so all of it waits.
      // Told apart by content, not by count (demo review): the outbox keeps only the newest 256
      // reports, so when it was full each new one pushed out one that was posted. A later report
      // equal to a posted one would be a duplicate anyway: the backend tells reports apart by
      // these fields.
      const posted = new Set(events.map((e) => JSON.stringify(e)));
      const drained = engine() === shopper ? shopper.drainOutbox() : [];
      carry(erased === erasures ? drained.filter((e) => !posted.has(JSON.stringify(e))) : drained);
      return events.length;
    },
    /**
     * Withdrawing erases the profile and the reports not sent yet, here too. Withdrawing consent
     * she gave starts a new install id, as a forget does, kept here too: a restart that finds no
     * stored profile (storage full) must not bring back her pid.
     */
    setConsent(yes, now) {
      const shopper = engine();
      if (!yes && shopper.consent) shopper.setConsent(false, now, newInstallId());
      else shopper.setConsent(yes, now);
      if (!yes) erase();
    },
    identify: (kind, value) => engine().identify(kind, value),
    /** The shopper's pseudonymous id: trait tokens are signed for it. */
    get pid() { return engine().pid; },
    /**
     * Sets the brand's traits through a signed token, as a real storefront does: the demo server
     * signs one for this shopper, issued at `issued` and valid until `expires` (ms, optional);
     * the engine checks its signature, user and expiry at `now`. Throws if either refuses.
     */
    async setSignedTraits(traits, { issued, expires }, now) {
      const shopper = engine();
      const token = await demoToken(shopper.pid, traits, issued, expires);
      // A reset while the token was on its way: it names the old shopper, whose engine is gone.
      if (engine() !== shopper) throw new Error('the shopper changed while the token was fetched');
      shopper.setTraitsToken(token, now);
    },
    /** Forgets the shopper: a new install id too, so a later Reset does not bring back her pid. */
    forget(now) {
      engine().forget(newInstallId(), now);
      erase();
    },
    /** A fresh engine: with `id` (a journey's fixture install id) or a new install id (a new shopper: her own pid, decision ids that never repeat the last one's). */
    reset: (id) => keeper.reset(id ?? newInstallId()),
    save: () => keeper.saveState(),
    /** Whether a `storage` event key is this page's stored profile. */
    isStateKey: (key) => typeof key === 'string' && key.startsWith(`${store.prefix}.state.`),
    /** Applies snapshot bytes if signed by the brand and newer; otherwise throws and keeps the model. */
    apply: (snapshot) => keeper.apply(snapshot),
    sync: keeper,
    clock,
  };
}
