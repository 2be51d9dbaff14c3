// Client sync: keeps one engine on the brand's latest signed snapshot from `kairos serve`.
//
// - Start at once from what is on hand: the newest stored snapshot or the bundled one, whichever
//   is newer and verifies with the brand's key (no flicker, works offline); the stored profile
//   state is restored into it. The host can read which through `status`.
// - Revalidate in the background: a conditional GET of /v1/channels/{ch}/latest (If-None-Match),
//   at start, every `intervalMs`, and when the push channel announces a newer version: Server-Sent
//   Events where there is an EventSource, long-poll (/poll) where there is none (mini-programs).
// - Every snapshot is verified inside Wasm and applied atomically; a rejected one (bad signature,
//   corrupt, older: rollback) keeps the running model and is reported with its error code.
// - Failures back off exponentially with jitter, capped; a success resets the backoff.
// - The last good snapshot is persisted through SafeStore, never over the copy the engine runs; the
//   profile at once after an erasure, and never over a copy another tab stored since (taken first).
// Time, timers and randomness are injectable, so tests replay faults without waiting.
import { Engine } from './kairos_wasm.js';
import { install, kairosError, isKairosError, needModule, own, MAX_FRAME, isBroken } from './fast.js';
import { SafeStore, localStorageBackend } from './storage.js';
// wx-only:start (`kairos.min.js`, the browser build, leaves these sections out: no wx there)
import { wxStorageBackend } from './storage.js';
// wx-only:end

install(Engine); // the fast `decide`, also when only this module is imported

const EVENT_SOURCE_CLOSED = 2;
// The largest snapshot: the 48-byte header, a body of at most 16 MiB and a 64-byte signature
// (docs/snapshot-format.md). A larger answer is refused before it is copied into Wasm memory.
const MAX_SNAPSHOT = MAX_FRAME;
// The largest push answer (a meta is about 300 bytes): a longer one is not read on, and is a push failure.
const MAX_TEXT = 64 * 1024;
// The shortest interval, long-poll wait and backoff base: smaller ones would spin.
const MIN_MS = 1000;

/** The size of an answer: its length, or its Content-Length when larger (or there is no body yet). */
const sizeOf = (headers, body) => Math.max(Number(headers['content-length']) || 0, (body && (body.byteLength ?? body.length)) || 0);
/** The most sync reads of an answer: a snapshot, or the push channel's text. */
const capOf = (responseType) => (responseType === 'arraybuffer' ? MAX_SNAPSHOT : MAX_TEXT);
const tooLarge = (n) => kairosError('SNAPSHOT_CORRUPT', `${n} bytes, more than a snapshot can be (${MAX_SNAPSHOT})`);

/** Copies any byte body (Uint8Array, other views, ArrayBuffer, from any realm) into a Uint8Array of this realm. */
function toBytes(body) {
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  if (Object.prototype.toString.call(body) === '[object ArrayBuffer]') return new Uint8Array(body.slice(0));
  return null;
}

function sameBytes(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function lowerKeys(headers) {
  const out = {};
  for (const k of Object.keys(headers || {})) out[k.toLowerCase()] = String(headers[k]);
  return out;
}

// wx-only:start
/** A transport over WeChat `wx.request`: snapshots as arraybuffer, the push channel as text. */
export function wxTransport(api = typeof wx === 'object' ? wx : undefined) {
  return {
    get(req) {
      return new Promise((resolve, reject) => {
        const task = api.request({
          url: req.url,
          method: 'GET',
          header: req.headers,
          timeout: req.timeoutMs,
          responseType: req.responseType,
          dataType: 'other', // do not let wx parse JSON: sync reads the text itself
          success: (res) => resolve({ status: res.statusCode, headers: lowerKeys(res.header), body: res.data }),
          fail: (err) => reject(new Error((err && err.errMsg) || 'wx.request failed')),
        });
        req.signal.onabort = () => { if (task && typeof task.abort === 'function') task.abort(); };
        // A body declared larger than sync reads is not downloaded (base library 2.1.0+): sync
        // refuses the answer by its Content-Length. (Without one, wx still reads the whole body first.)
        if (task && typeof task.onHeadersReceived === 'function') {
          task.onHeadersReceived((res) => {
            const headers = lowerKeys(res && res.header);
            if (sizeOf(headers) <= capOf(req.responseType)) return;
            resolve({ status: (res && res.statusCode) || 200, headers, body: new Uint8Array(0) });
            task.abort(); // after: its `fail` may come at once, and must not win
          });
        }
      });
    },
  };
}
// wx-only:end

// web-only:start (the mini-program build leaves this out: it has no fetch)
/** A transport over `fetch` (browsers, Node 18+). */
export function fetchTransport(fetchFn = globalThis.fetch) {
  return {
    async get(req) {
      const ctrl = typeof AbortController === 'function' ? new AbortController() : null;
      req.signal.onabort = () => { if (ctrl) ctrl.abort(); };
      // no-store: sync does its own revalidation with If-None-Match and wants to see the 304.
      const init = { headers: req.headers, cache: 'no-store' };
      if (ctrl) init.signal = ctrl.signal;
      const res = await fetchFn(req.url, init);
      const headers = {};
      res.headers.forEach((value, key) => { headers[key.toLowerCase()] = value; });
      const max = capOf(req.responseType);
      const declared = sizeOf(headers);
      // A body declared larger than sync reads is not read at all, one without a Content-Length not
      // past that: its length so far stands in for the Content-Length, and sync refuses it by it.
      const body = declared > max ? declared : await readCapped(res, max, req.responseType !== 'arraybuffer');
      if (typeof body !== 'number') return { status: res.status, headers, body };
      if (ctrl) ctrl.abort();
      return { status: res.status, headers: { ...headers, 'content-length': String(body) }, body: new Uint8Array(0) };
    },
  };
}

/**
 * The body (its text, or bytes), read chunk by chunk where the response has a stream, so a body
 * without a Content-Length is never buffered past `max` bytes: then its length so far (a number).
 */
async function readCapped(res, max, text) {
  if (!res.body || typeof res.body.getReader !== 'function') return text ? res.text() : new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      reader.cancel().catch(() => {});
      return total;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return text ? new TextDecoder().decode(out) : out;
}

function webTransport() {
  return typeof globalThis.fetch === 'function' ? fetchTransport() : null;
}
// web-only:end

function defaultTransport() {
  // wx-only:start
  if (typeof wx !== 'undefined' && wx && typeof wx.request === 'function') return wxTransport(wx);
  // wx-only:end
  const t = typeof webTransport === 'function' ? webTransport() : null;
  if (t) return t;
  throw kairosError('ARGUMENT_INVALID', 'sync: no fetch here (nor wx.request): pass `transport`');
}

/**
 * Storage under `prefix`, one per server and channel. `legacy`: the keys of releases that had one
 * for all (`kairos.*`), read until the first write under `prefix` (the default channel only).
 */
function defaultStore(prefix, legacy) {
  try {
    let backend = null;
    // wx-only:start
    if (typeof wx !== 'undefined' && wx && typeof wx.getStorageSync === 'function') backend = wxStorageBackend(wx);
    // wx-only:end
    if (!backend && typeof localStorage !== 'undefined' && localStorage) backend = localStorageBackend(localStorage);
    if (backend) return new SafeStore(backend, prefix, legacy ? 'kairos' : undefined);
  } catch {
    // Storage can be blocked (privacy modes): run without persistence.
  }
  return null;
}

const DEFAULT_TIMERS = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

function settle(options) {
  // Only what the host set: a polluted Object.prototype's `allowUnsigned` switched a check off, and
  // its `installId` would be every new install's (hostile-input review).
  const o = own(options, ['url', 'publicKey', 'channel', 'store', 'transport', 'push', 'EventSource', 'installId', 'allowUnsigned',
    'allowUnsignedTraits', 'intervalMs', 'timeoutMs', 'pollWaitMs', 'backoff', 'timers', 'random', 'now', 'onEvent', 'bundled']) || {};
  const keys = typeof o.publicKey === 'string' ? [o.publicKey] : Array.isArray(o.publicKey) ? [...o.publicKey] : null;
  if (!keys || keys.length === 0 || keys.some((k) => typeof k !== 'string')) {
    throw kairosError('ARGUMENT_INVALID', 'sync: `publicKey` must be a `kairos-ed25519-public:…` key or a list of them');
  }
  // Parsed as the engine parses them (a `.pub` file's text with its comment lines too): keys and
  // the install id are read before the (here empty) snapshot, so a bad one fails now, not as
  // every snapshot refused.
  try {
    Engine.fromSignedSnapshot(new Uint8Array(0), keys, o.installId ?? undefined).free();
  } catch (e) {
    if (isKairosError(e) && e.code !== 'SNAPSHOT_CORRUPT') throw kairosError(e.code, `sync: ${e.message}`);
  }
  if (typeof o.url !== 'string') throw kairosError('ARGUMENT_INVALID', "sync: `url` must be the server's base URL ('' for this origin)");
  if (o.store && typeof o.store.loadSnapshot !== 'function') throw kairosError('ARGUMENT_INVALID', 'sync: `store` must be a SafeStore (or null)');
  const channel = o.channel ?? 'model';
  const push = o.push ?? 'auto';
  if (!['auto', 'sse', 'poll', 'none'].includes(push)) {
    throw kairosError('ARGUMENT_INVALID', `sync: \`push\` is \`${push}\`; expected 'auto', 'sse', 'poll' or 'none'`);
  }
  const EventSourceCtor = o.EventSource ?? (typeof EventSource === 'function' ? EventSource : null);
  if (push === 'sse' && !EventSourceCtor) throw kairosError('ARGUMENT_INVALID', "sync: push 'sse' needs an EventSource");
  const ms = (v, d, name, min = 0) => {
    const x = v ?? d;
    if (typeof x !== 'number' || !(x >= 0) || !Number.isFinite(x)) throw kairosError('ARGUMENT_INVALID', `sync: \`${name}\` must be a number of ms ≥ 0`);
    return Math.max(min, x);
  };
  const backoff = own(o.backoff, ['baseMs', 'maxMs']) || {};
  const baseMs = ms(backoff.baseMs, 1000, 'backoff.baseMs', MIN_MS);
  const url = o.url.replace(/\/+$/, '');
  const ch = encodeURIComponent(channel);
  return {
    keys,
    base: `${url}/v1/channels/${ch}`,
    bundled: o.bundled ?? null,
    // `kairos:<server without scheme>/<channel>`: two channels or servers never share a copy.
    store: o.store === undefined ? defaultStore(`kairos:${url.replace(/^\w+:\/\//, '')}/${ch}`, channel === 'model') : o.store,
    transport: o.transport ?? defaultTransport(),
    push: push === 'auto' ? (EventSourceCtor ? 'sse' : 'poll') : push,
    EventSource: EventSourceCtor,
    installId: o.installId,
    trust: { allowUnsigned: o.allowUnsigned === true, allowUnsignedTraits: o.allowUnsignedTraits === true },
    intervalMs: ms(o.intervalMs, 300_000, 'intervalMs', MIN_MS),
    timeoutMs: ms(o.timeoutMs, 15_000, 'timeoutMs', MIN_MS),
    pollWaitMs: ms(o.pollWaitMs, 25_000, 'pollWaitMs', MIN_MS),
    baseMs,
    maxMs: Math.max(baseMs, ms(backoff.maxMs, 300_000, 'backoff.maxMs')),
    timers: o.timers ?? DEFAULT_TIMERS,
    random: o.random ?? Math.random,
    now: o.now ?? Date.now,
    onEvent: o.onEvent ?? null,
  };
}

/**
 * The delay before retry `attempt` (1 after the first failure): drawn uniformly between `baseMs`
 * and min(`maxMs`, `baseMs`·2^attempt), so clients that failed together do not return together.
 */
export function backoffDelay(attempt, random, baseMs, maxMs) {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 40));
  return Math.round(baseMs + random() * (cap - baseMs));
}

/**
 * Whose profile stored state bytes hold, as text: its consent flag and install id, the body's first
 * two fields after the 48-byte header (docs/state-format.md).
 */
function owner(b) {
  let end = 49;
  while (end < 58 && b[end] & 0x80) end++;
  return String(b.subarray(48, end + 1));
}

/** Starts an engine from what is on hand and keeps it on the channel's latest signed snapshot. */
export function sync(options) {
  needModule('sync');
  const o = settle(options);
  const listeners = new Set(o.onEvent ? [o.onEvent] : []);
  const pending = new Set(); // signals of requests in flight, aborted by stop()
  let engine = null;
  let running = null; // the bytes the engine runs
  let etag = null;
  let stopped = false;
  let checkTimer = null;
  let inflight = null;
  let again = false;
  let failures = 0;
  let behind = 0; // consecutive checks that ended below the version push announced
  let pushFailures = 0;
  let early = 0; // consecutive long-polls answered early with nothing new
  let pushTimer = null;
  let source = null;
  let seen = 0; // the highest version the push channel announced
  const at = () => (engine ? engine.modelVersion : 0);
  const delay = (attempt) => backoffDelay(attempt, o.random, o.baseMs, o.maxMs);
  let goodState = null; // the stored profile copy known to import: a write never goes over it
  let known = null; // the newest stored profile copy when this instance last read or wrote one
  let erasedBack = false; // `current()` found a copy of the shopper this engine erased
  let readyResolve;
  let readyReject;
  const ready = new Promise((resolve, reject) => { readyResolve = resolve; readyReject = reject; });
  ready.catch(() => {}); // a host that never awaits it is not told of an unhandled rejection
  const state = {
    source: 'none', version: null, rejected: [], state: 'none', failures: 0, lastError: null,
    checkedAt: null, updatedAt: null, reachable: null, push: o.push, nextCheckInMs: null,
  };

  const emit = (event) => {
    for (const f of listeners) {
      try {
        f(event);
      } catch (e) {
        // A listener's failure is the host's bug: report it like an event handler's, and go on.
        o.timers.setTimeout(() => { throw e; }, 0);
      }
    }
  };
  const open = (bytes, installId) => manage(Engine.fromSignedSnapshot(bytes, o.keys, installId, o.trust));
  // Erasure lasts: the profile is stored as soon as the engine forgets it or consent changes, so
  // the next start cannot restore the copy from before (nor lose the `forgotten` report).
  function manage(e) {
    for (const name of ['forget', 'setConsent']) {
      const method = e[name];
      e[name] = function (...args) {
        const mine = this === engine && o.store;
        // A copy another tab stored since (its own erasure, say) first: this call applies to it.
        try { if (mine) current(); } catch { /* a host's store that throws */ }
        // Whether this call erases: `forget`, or consent withdrawn while it was given.
        const erasing = name === 'forget' || (!args[0] && this.consent === true);
        const out = method.apply(this, args);
        if (mine) {
          let stored = false;
          try {
            stored = storeState();
          } catch {
            // A host's store that throws: stored at the next saveState().
          }
          // An erasure (not a consent given) that could not be stored, storage being full: the
          // copies from before it go, which makes room to store it after all.
          if (erasing) {
            if (!stored) storeErasure();
            // The default channel's default store also read what releases before one store per
            // server and channel kept under `kairos.state`: that copy goes too, whenever written.
            // (Not from other channels: a host's own SafeStore under `kairos` has those keys.)
            if (o.store.legacy) new SafeStore(o.store.backend, o.store.legacy).eraseState();
          }
        }
        return out;
      };
    }
    return e;
  }
  const versionOf = (bytes) => { try { return bytes.length > MAX_SNAPSHOT ? null : Engine.snapshotVersion(bytes); } catch { return null; } };
  // The model version a snapshot's header claims (`KSNP`, then bytes 8 to 11, little endian), or
  // -1: enough to tell whether the bundled copy may be newer than the stored one without decoding
  // it as well as opening it (opening checks everything).
  const claimed = (b) => (b && b.length > 47 && b[0] === 75 && b[1] === 83 && b[2] === 78 && b[3] === 80
    ? (b[8] | b[9] << 8 | b[10] << 16 | b[11] << 24) >>> 0 : -1);
  const rejection = (from, e) => ({ from, code: isKairosError(e) ? e.code : 'SNAPSHOT_CORRUPT', message: String(e && e.message) });
  const rejected = (r, version, retryInMs) => ({ type: 'rejected', from: r.from, code: r.code, message: r.message, version, retryInMs });

  function restoreState() {
    if (!o.store) return;
    let outcome = 'none';
    o.store.loadState((bytes) => {
      if (outcome === 'none') known = bytes; // the newest, whether it imports or not
      try {
        engine.importState(bytes);
        goodState = bytes;
        outcome = 'restored';
      } catch (e) {
        outcome = 'rejected';
        throw e; // try the older copy
      }
    });
    state.state = outcome;
  }

  /**
   * After an erasure that could not be stored: every stored copy of the profile goes (one that does
   * not import too), which makes room to store the erased one after all (else the next start begins
   * with none, never with the profile from before).
   */
  function storeErasure() {
    try {
      if (o.store.eraseState()) goodState = known = null;
      write();
    } catch {
      // Nothing more to do: the engine runs on with the profile erased.
    }
  }

  /**
   * Whether this engine may store its profile: the newest stored copy is the one this instance last
   * read or wrote; or one another instance (a second tab) stored since, of the same consented
   * shopper (the last writer wins, as between tabs of one profile before); or one that erased or
   * changed consent there (its consent or install id differ from this engine's), now imported, so
   * that the erasure or withdrawal is never written over; or one of the shopper this engine
   * erased, which it refuses (`STATE_ERASED`: its erasure request not yet drained), written back by
   * a tab that had not seen the erasure. Not when such a copy does not import (a newer release's,
   * say), nor when every copy went while this engine holds a consented profile: that profile is
   * not written back.
   */
  function current() {
    erasedBack = false;
    const newest = o.store.loadState();
    if (newest ? sameBytes(newest, known) : !known || !engine.consent) return true;
    // The same shopper with the same consent: this engine's events and unsent reports are kept.
    if (newest && owner(newest) === owner(engine.exportState())) {
      known = newest;
      return true;
    }
    try {
      engine.importState(newest);
    } catch (e) {
      // The shopper this engine erased, stored back by a tab that had not seen the erasure yet:
      // never restored, and written over at once (else the next start would restore it).
      if (!isKairosError(e) || e.code !== 'STATE_ERASED') return false;
      known = newest;
      erasedBack = true;
      return true;
    }
    goodState = known = newest;
    return true;
  }

  /** Stores the engine's profile (see `current`); false if it was not stored whole or an older copy stays. */
  function storeState() {
    if (!current()) return false;
    if (write()) return true;
    // Her copy, refused as erased, must not stay for the next start: every copy goes, then ours.
    if (erasedBack) storeErasure();
    return false;
  }

  /** Writes the profile over any copy but the one known to import. */
  function write() {
    const bytes = engine.exportState();
    const ok = o.store.saveState(bytes, goodState && ((b) => sameBytes(b, goodState)));
    known = o.store.loadState(); // ours, also when an older copy could not be erased
    if (sameBytes(known, bytes)) goodState = bytes;
    return ok;
  }

  // The ETag of the running version is stored as `<version> <etag>`, so that the first check after a
  // restart can be a 304. It counts only for the version that runs: a snapshot write that failed
  // while the ETag's succeeded cannot make an older model look current.
  function storedEtag() {
    const b = o.store && o.store.load('etag');
    // Short, as stored: a long record (edited storage) would overflow the spread's arguments.
    const m = b && b.length < 300 && /^(\d+) (\S+)$/.exec(String.fromCharCode(...b));
    return m && Number(m[1]) === engine.modelVersion ? m[2] : null;
  }

  function rememberEtag(tag) {
    // Neither kept nor stored when it is no ETag a server writes (a proxy's or portal's header of
    // 200 KB made every later start throw: hostile-input review).
    if (!/^[\x21-\x7e]{1,256}$/.test(tag)) tag = null;
    if (tag === etag) return;
    etag = tag;
    if (o.store && tag) {
      // A host's store that throws: the next start's first check is a full GET, nothing worse.
      try {
        o.store.save('etag', Uint8Array.from(`${engine.modelVersion} ${tag}`, (c) => c.charCodeAt(0)));
      } catch {
        // Not stored.
      }
    }
  }

  // ---- start: the newest snapshot on hand that verifies ----
  let stored = null;
  if (o.store) {
    o.store.loadSnapshot((bytes) => {
      try {
        engine = open(bytes, o.installId);
        running = stored = bytes;
        source = 'stored';
      } catch (e) {
        state.rejected.push(rejection('stored', e));
        throw e;
      }
    });
  }
  const storedBad = state.rejected.length;
  if (o.bundled && (!engine || claimed(o.bundled) > engine.modelVersion)) {
    try {
      const fresh = open(o.bundled, o.installId);
      if (engine) engine.free();
      engine = fresh;
      running = o.bundled;
      source = 'bundled';
    } catch (e) {
      state.rejected.push(rejection('bundled', e));
    }
  }
  // The bundled one is kept for the next start, and a stored copy that failed verification is
  // replaced: never the stored copy that verified.
  if (o.store && (source === 'bundled' || storedBad) && running) {
    try {
      o.store.saveSnapshot(running, stored && ((b) => sameBytes(b, stored)));
    } catch {
      // A host's store that throws: stored again after the next update.
    }
  }
  // Snapshots refused at start are reported as events too, once sync() has returned (so a listener
  // added with on() right after hears them): a wrong key or a bad bundled copy is not silent.
  const refusedAtStart = state.rejected.slice();
  if (refusedAtStart.length) {
    Promise.resolve().then(() => {
      for (const r of refusedAtStart) emit(rejected(r, null, null));
    });
  }
  if (engine) {
    restoreState();
    state.source = source;
    state.version = engine.modelVersion;
    etag = storedEtag();
    readyResolve(engine);
  }

  /** Verifies and applies `bytes` (or opens the first engine); persists them; the update event, or throws KairosError. */
  function adopt(bytes, from) {
    if (bytes.length > MAX_SNAPSHOT) throw tooLarge(bytes.length);
    const previous = engine ? engine.modelVersion : null;
    const kept = running;
    if (engine) {
      engine.applySignedSnapshot(bytes);
    } else {
      engine = open(bytes, o.installId);
      restoreState();
    }
    running = bytes;
    state.source = from;
    state.version = engine.modelVersion;
    state.updatedAt = o.now();
    let stored = false;
    // A host's store that throws does not turn the update into a refusal: the new model runs.
    if (o.store) {
      try {
        // The slot holding the snapshot that ran until now is kept: a torn write cannot lose it.
        stored = o.store.saveSnapshot(bytes, kept ? (b) => sameBytes(b, kept) : undefined) === true;
      } catch {
        // Not stored.
      }
      try {
        // The profile as the new model maps it, stored beside it.
        if (previous !== null) storeState();
      } catch {
        // Stored at the next saveState().
      }
    }
    if (previous === null) readyResolve(engine);
    const event = { type: 'update', version: engine.modelVersion, previous, source: from, stored };
    emit(event);
    return event;
  }

  function schedule(ms) {
    if (checkTimer !== null) o.timers.clearTimeout(checkTimer);
    checkTimer = null;
    state.nextCheckInMs = stopped ? null : ms;
    if (stopped) return;
    checkTimer = o.timers.setTimeout(() => { checkTimer = null; check(); }, ms);
  }

  /**
   * An answer's `Retry-After` (seconds) in ms, at most the longest backoff: `kairos serve` sends
   * one with a 503 when it holds as many long-polls as it takes (mini-program review: sync came
   * back after 1 to 2 s).
   */
  const retryAfter = (headers) => Math.min(o.maxMs, 1000 * headers['retry-after'] || 0);

  /** A push failure: the delay before the push channel is tried again. */
  function pushFailed(f) {
    state.lastError = f;
    pushFailures += 1;
    const retryInMs = Math.max(delay(pushFailures), f.after || 0);
    emit({ type: 'failure', during: 'push', reason: f.reason, status: f.status, message: f.message, attempt: pushFailures, retryInMs });
    return retryInMs;
  }

  /** A failed check: the next one is scheduled after the backoff delay. */
  function checkFailed(f) {
    state.lastError = f;
    failures += 1;
    state.failures = failures;
    const retryInMs = Math.max(delay(failures), f.after || 0);
    schedule(retryInMs);
    const event = f.reason === 'rejected'
      ? rejected({ from: 'server', code: f.code, message: f.message }, f.version, retryInMs)
      : { type: 'failure', during: 'check', reason: f.reason, status: f.status, message: f.message, attempt: failures, retryInMs };
    emit(event);
    return event;
  }

  function succeeded(event) {
    failures = 0;
    state.failures = 0;
    state.lastError = null;
    // Still below the announced version: the instance or CDN edge that answered has not got it yet.
    // Asked again on the backoff schedule until it has (6 times at most: one that never serves it
    // is then asked at the interval), not a whole interval later.
    if (at() >= seen) behind = 0;
    schedule(at() < seen && behind < 6 ? delay(++behind) : o.intervalMs);
    if (event.type === 'current') emit(event);
    return event;
  }

  /** One GET through the transport, raced against a timeout: a stalled server is a failure. */
  function request(url, responseType, headers, timeoutMs) {
    return new Promise((resolve, reject) => {
      const signal = { aborted: false, onabort: null };
      const settle = (outcome) => {
        if (signal.aborted) return false;
        signal.aborted = true;
        o.timers.clearTimeout(timer);
        pending.delete(signal);
        if (outcome) {
          // Sync gave up on the request: tell the transport to drop it.
          try { if (typeof signal.onabort === 'function') signal.onabort(); } catch { /* best effort */ }
          reject(outcome);
        }
        return true;
      };
      const timer = o.timers.setTimeout(
        () => settle({ reason: 'timeout', status: null, message: `no answer from ${url} within ${timeoutMs} ms` }), timeoutMs);
      signal.stop = () => settle({ reason: 'stopped', status: null, message: 'stopped' });
      pending.add(signal);
      let p;
      try { p = o.transport.get({ url, headers, responseType, timeoutMs, signal }); } catch (e) { p = Promise.reject(e); }
      Promise.resolve(p).then(
        (res) => {
          if (!settle(null)) return;
          // A transport's bug (null, a string) is a failed request: retried, never the end of checks.
          if (res && typeof res === 'object' && typeof res.status === 'number') {
            state.reachable = true;
            resolve(res);
          } else reject({ reason: 'network', status: null, message: 'the transport resolved with no response' });
        },
        (e) => {
          if (!settle(null)) return;
          state.reachable = false;
          reject({ reason: 'network', status: null, message: String((e && e.message) || e) });
        },
      );
    });
  }

  async function revalidate() {
    state.checkedAt = o.now();
    let res;
    try {
      res = await request(`${o.base}/latest`, 'arraybuffer', etag ? { 'If-None-Match': etag } : {}, o.timeoutMs);
    } catch (f) {
      return f.reason === 'stopped' ? { type: 'stopped' } : checkFailed(f);
    }
    if (stopped) return { type: 'stopped' };
    if (res.status === 304 && engine) return succeeded({ type: 'current', version: at() });
    const headers = lowerKeys(res.headers);
    if (res.status !== 200) return checkFailed({ reason: 'http', status: res.status, message: `HTTP ${res.status} from ${o.base}/latest`, after: retryAfter(headers) });
    const size = sizeOf(headers, res.body);
    const tag = headers.etag || null;
    let bytes = null;
    let event;
    try {
      // Refused by its size before it is copied, here or into Wasm memory.
      if (size > MAX_SNAPSHOT) throw tooLarge(size);
      bytes = toBytes(res.body);
      if (!bytes) throw kairosError('SNAPSHOT_CORRUPT', 'the response body is not bytes');
      event = adopt(bytes, 'server');
    } catch (e) {
      const offered = versionOf(bytes);
      if (isKairosError(e) && e.code === 'SNAPSHOT_NOT_NEWER' && offered !== null && offered === at()) {
        rememberEtag(tag); // the same version we run: up to date
        return succeeded({ type: 'current', version: offered });
      }
      const r = rejection('server', e);
      return checkFailed({ reason: 'rejected', code: r.code, message: r.message, version: offered });
    }
    rememberEtag(tag);
    return succeeded(event);
  }

  /** Revalidates now (or joins the check in flight); resolves with what came of it. */
  function check() {
    if (stopped) return Promise.resolve({ type: 'stopped' });
    if (inflight) return inflight;
    if (checkTimer !== null) o.timers.clearTimeout(checkTimer);
    checkTimer = null;
    inflight = revalidate().finally(() => {
      inflight = null;
      // A higher version announced meanwhile: checked at once, even after a failure (only a version
      // above any announced before sets `again`, so this cannot repeat without news).
      if (again) check();
      again = false;
    });
    return inflight;
  }

  /** Acts on a push message; returns the version it announces (0 for none). */
  function announced(text) {
    let meta = null;
    try { meta = typeof text === 'string' ? JSON.parse(text) : null; } catch { meta = null; }
    if (!meta || !Number.isSafeInteger(meta.version)) return 0;
    // Only a version above any announced before is checked at once: a re-announcement (every
    // EventSource reconnect sends the current one) leaves it to the scheduled check, so a version
    // refused or not served yet is asked for again after the backoff, not at each reconnect.
    if (meta.version <= seen) return meta.version;
    seen = meta.version;
    if (meta.version <= at()) return meta.version;
    // A check in flight may have fetched the older snapshot: run one more after it.
    if (inflight) again = true;
    else check();
    return meta.version;
  }

  // ---- push: long-poll ----
  function poll() {
    pushTimer = null;
    if (stopped) return;
    const after = Math.max(seen, at());
    const started = o.now();
    request(`${o.base}/poll?after=${after}&wait_ms=${o.pollWaitMs}`, 'text', {}, o.pollWaitMs + o.timeoutMs).then(
      (res) => {
        if (stopped) return;
        const headers = lowerKeys(res.headers);
        const size = sizeOf(headers, res.body);
        if (size <= MAX_TEXT && (res.status === 200 || res.status === 204)) {
          pushFailures = 0;
          // An answer with nothing new (a 204, or a 200 such as a captive portal's page or the
          // version we run) long before `wait_ms` means something between us and the server does
          // not hold long-polls: poll again after a backoff delay that grows with each such answer
          // (with jitter: clients behind one such proxy do not poll in step), not in a tight loop.
          const fresh = res.status === 200 && announced(res.body) > after;
          early = fresh || o.now() - started >= o.pollWaitMs / 2 ? 0 : early + 1;
          pushTimer = o.timers.setTimeout(poll, early && delay(early));
        } else {
          // A longer answer than a push answer can be (not read past that) is no answer either.
          pushTimer = o.timers.setTimeout(poll, pushFailed({ reason: 'http', status: res.status, message: size > MAX_TEXT
            ? `${size} bytes from ${o.base}/poll, more than a push answer can be (${MAX_TEXT})` : `HTTP ${res.status} from ${o.base}/poll`,
            after: retryAfter(headers) }));
        }
      },
      (f) => {
        if (f.reason !== 'stopped' && !stopped) pushTimer = o.timers.setTimeout(poll, pushFailed(f));
      },
    );
  }

  // ---- push: Server-Sent Events ----
  let events = null;
  function listen() {
    pushTimer = null;
    if (stopped) return;
    const es = new o.EventSource(`${o.base}/events`);
    events = es;
    es.addEventListener('snapshot', (ev) => {
      pushFailures = 0;
      announced(ev.data);
    });
    es.addEventListener('error', () => {
      // While CONNECTING the EventSource retries by itself; CLOSED means it gave up.
      if (es.readyState !== EVENT_SOURCE_CLOSED || stopped || events !== es) return;
      es.close();
      events = null;
      pushTimer = o.timers.setTimeout(listen, pushFailed({ reason: 'network', status: null, message: 'the event stream closed' }));
    });
  }

  const online = () => check();
  // Another tab stored something (its forget, a withdrawal): a profile copy it stored is taken at
  // once, so this engine neither decides on the erased profile nor writes it back, and its own
  // changes build on that copy. A copy of the shopper this engine erased is written over at once.
  // (Any key: reading the state again when it did not change is cheap.)
  const taken = () => {
    try {
      if (engine && o.store && current() && erasedBack && !write()) storeErasure();
    } catch {
      // A host's store that throws: the next saveState() tries again.
    }
  };
  const win = typeof window !== 'undefined' && window && typeof window.addEventListener === 'function' ? window : null;
  if (win) {
    win.addEventListener('online', online);
    win.addEventListener('storage', taken);
  }
  // sync() itself returns before any request. With nothing on hand to run (a first visit) the
  // check starts at once, in a microtask: a timer's turn comes after the browser has rendered the
  // page, which on a first visit delays the first personalized render by as much.
  if (engine) schedule(0);
  else {
    state.nextCheckInMs = 0;
    Promise.resolve().then(check);
  }
  if (o.push !== 'none') pushTimer = o.timers.setTimeout(o.push === 'sse' ? listen : poll, 0);

  function stop() {
    if (stopped) return;
    stopped = true;
    // Else a page awaiting it would wait forever (front-end review of 2026-11-25).
    if (!engine) readyReject(kairosError('SYNC_STOPPED', 'sync stopped before any snapshot verified: there is no engine'));
    if (checkTimer !== null) o.timers.clearTimeout(checkTimer);
    if (pushTimer !== null) o.timers.clearTimeout(pushTimer);
    checkTimer = null;
    pushTimer = null;
    state.nextCheckInMs = null;
    for (const s of [...pending]) s.stop();
    if (events) events.close();
    events = null;
    if (win) {
      win.removeEventListener('online', online);
      win.removeEventListener('storage', taken);
    }
  }

  return {
    get engine() { return engine; },
    get snapshot() { return running; },
    get status() { return { ...state, rejected: state.rejected.slice() }; },
    ready,
    check,
    apply(bytes) {
      let b = null;
      try {
        // Bytes that cannot be copied (a detached buffer, a proxy) are no snapshot either (review).
        try {
          b = toBytes(bytes);
        } catch {
          // b stays null
        }
        if (!b) throw kairosError('ARGUMENT_INVALID', 'apply: expected the snapshot bytes');
        adopt(b, 'host');
      } catch (e) {
        emit(rejected(rejection('host', e), b ? versionOf(b) : null, null));
        throw e;
      }
    },
    saveState() {
      return Boolean(engine && o.store && storeState());
    },
    reset(installId) {
      if (!running) throw kairosError('ARGUMENT_INVALID', 'reset: no snapshot yet (await `ready`)');
      // A broken engine (ENGINE_BROKEN) takes no call: its erasure requests come from the stored
      // copy instead (diff review: reset threw ENGINE_BROKEN for ever).
      const broken = engine && isBroken(engine);
      if (engine && !broken && o.store) current(); // another tab's copy first: its erasure requests count too
      const fresh = open(running, installId);
      if (engine) {
        // Erasure requests not yet drained outlive the reset (the backend learns of an erasure from
        // them alone): the fresh engine takes them, and nothing else of the profile dropped.
        let from = null;
        if (!broken) from = engine.outbox().some((e) => e.type === 'forgotten') && engine.exportState();
        else if (o.store) {
          try {
            from = o.store.loadState();
          } catch {
            // none to take
          }
        }
        if (from) {
          try {
            fresh.__takeErasures(from);
          } catch (e) {
            // An install id one of them retired: its reports are to be erased. (A stored copy that
            // does not read has none to give.)
            const erased = isKairosError(e) && e.code === 'STATE_ERASED';
            if (erased || !broken) {
              fresh.free();
              throw erased ? kairosError('ARGUMENT_INVALID', 'reset: `installId` was erased here (its erasure request waits): pass a new one') : e;
            }
          }
        }
        engine.free();
      }
      engine = fresh;
      state.state = 'none';
      if (o.store) {
        // The old engine is gone by now: a store that throws costs the stored copy, not the reset.
        try {
          storeState();
        } catch {
          // not stored
        }
      }
      return engine;
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop,
    close: stop,
  };
}
