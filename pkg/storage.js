// Storage adapters: profile state and the last good snapshot in browser localStorage or WeChat
// storage (wx.getStorageSync / wx.setStorageSync), safe against torn and failed writes.
//
// Each value lives in two slots, `<key>.a` and `<key>.b`. A write goes to the slot that does not
// hold the newest good copy, as `k1.<seq>.<length>.<fnv1a32 hex>.<base64>`; a read takes the valid
// record with the highest sequence number. A write that throws (quota) or is cut short leaves the
// other slot, the previous good copy, untouched and still chosen. A copy is erased by removing its
// key where the backend can (`remove`), else by writing the empty value.

// Base64 by the platform's `btoa`/`atob` (every browser; Node 16+), the same text both ways as
// the package's own coder below, which runtimes without them use (WeChat's, say): the browser
// build leaves that one out.

function toBase64(bytes) {
  // wx-only:start (`kairos.min.js`, the browser build, leaves these sections out: browsers have btoa)
  if (typeof btoa !== 'function') return toBase64Js(bytes);
  // wx-only:end
  // In chunks of 32 KiB: a snapshot's megabytes byte by byte take seconds and hundreds of MB.
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/**
 * The bytes of strict padded base64 (a length of 4n, the alphabet and `=` only), else null. An `=`
 * reads as a zero digit wherever it is, and one or two at the end drop as many bytes: so `atob`
 * is given zero digits in their place, and the bytes it decodes are cut. Exported for a snapshot
 * bundled as base64 text (mini-programs upload no `.kairos` file).
 */
export function fromBase64(s) {
  // wx-only:start
  if (typeof atob !== 'function') return fromBase64Js(s);
  // wx-only:end
  if (s.length % 4 !== 0 || /[^A-Za-z0-9+/=]/.test(s)) return null;
  const bin = atob(s.replace(/=/g, 'A'));
  const out = new Uint8Array(bin.length - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0));
  for (let i = 0; i < out.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// wx-only:start
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function toBase64Js(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.length ? B64[n & 63] : '=';
  }
  return out;
}

function fromBase64Js(s) {
  if (s.length % 4 !== 0) return null;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = s[i + j];
      const v = c === '=' ? 0 : B64.indexOf(c);
      if (v < 0) return null;
      n = (n << 6) | v;
    }
    for (let j = 2; j >= 0 && o < out.length; j--) out[o++] = (n >> (8 * j)) & 255;
  }
  return out;
}
// wx-only:end

function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Record numbers are below this; `save` starts again at 1 when the next would not be. */
const SEQ_LIMIT = 2 ** 31;

/** Parses one slot's record: `{ seq, bytes }`, or null when absent, torn or corrupt. */
function parse(text) {
  if (typeof text !== 'string') return null;
  const parts = text.split('.');
  if (parts.length !== 5 || parts[0] !== 'k1') return null;
  const seq = Number(parts[1]);
  const len = Number(parts[2]);
  // A sequence number no save reaches (below 2^31): an edited record at 2^53 − 1 would have made
  // every later save's `seq + 1` unreadable, keeping it for good (hostile-input review).
  if (!(seq >= 0 && seq < SEQ_LIMIT && Number.isInteger(seq)) || !Number.isSafeInteger(len)) return null;
  const bytes = fromBase64(parts[4]);
  if (!bytes || bytes.length !== len || fnv1a(bytes) !== parts[3]) return null;
  return { seq, bytes };
}

/** A key-value backend over browser `localStorage` (or any `Storage`). */
export function localStorageBackend(storage = globalThis.localStorage) {
  return {
    get: (key) => storage.getItem(key),
    set: (key, value) => storage.setItem(key, value),
    remove: (key) => storage.removeItem(key),
  };
}

// wx-only:start (`kairos.min.js`, the browser build, leaves this out)
/** A key-value backend over WeChat mini-program storage (about 1 MB a key). */
export function wxStorageBackend(api = typeof wx === 'object' ? wx : undefined) {
  return {
    get: (key) => {
      const v = api.getStorageSync(key);
      return typeof v === 'string' && v !== '' ? v : null;
    },
    set: (key, value) => api.setStorageSync(key, value),
    remove: (key) => api.removeStorageSync(key),
  };
}
// wx-only:end

/** Erases the value at `at`: removed, or blanked where the backend cannot remove (or failed to). Whether it is gone. */
function erase(backend, at) {
  try { backend.remove(at); } catch { try { backend.set(at, ''); } catch { /* read back below */ } }
  try { return !backend.get(at); } catch { return false; }
}

/**
 * Torn-write-safe storage of byte values in two slots per key. `legacy`: the prefix of an older
 * layout, read for a key while `prefix` holds no good copy of it.
 */
export class SafeStore {
  constructor(backend, prefix = 'kairos', legacy) {
    this.backend = backend;
    this.prefix = prefix;
    this.legacy = legacy;
  }

  /** Both slots' valid records, newest first (under `legacy` when `prefix` has none). */
  records(key, prefix = this.prefix) {
    const out = [];
    for (const slot of ['a', 'b']) {
      let text = null;
      try { text = this.backend.get(`${prefix}.${key}.${slot}`); } catch { text = null; }
      const r = parse(text);
      if (r) out.push({ ...r, slot, prefix });
    }
    if (!out.length && this.legacy && prefix === this.prefix) return this.records(key, this.legacy);
    return out.sort((x, y) => y.seq - x.seq);
  }

  /** The newest good bytes under `key` that `accept` (if given) does not throw on, else null. */
  load(key, accept) {
    for (const r of this.records(key)) {
      try {
        if (accept) accept(r.bytes);
        return r.bytes;
      } catch {
        // Try the older copy.
      }
    }
    return null;
  }

  /**
   * Writes `bytes` into the slot not holding the copy to keep: the newest good one, or the newest
   * that `keep` accepts (the copy the engine runs, which may be older than a stored copy that
   * failed verification). Returns whether the new copy reads back whole (false if the write threw
   * or was cut short), and with `alone` whether the copies it replaces are gone too.
   */
  save(key, bytes, keep, alone) {
    const records = this.records(key);
    const kept = (keep && records.find((r) => { try { return keep(r.bytes); } catch { return false; } })) || records[0];
    const slot = kept?.slot === 'a' ? 'b' : 'a';
    let seq = (records[0]?.seq ?? 0) + 1;
    // Past the numbers a record may hold (one planted at 2^31 − 1): start again at 1, alone, so
    // the copy read next is this one (diff review: the bound alone moved the lock-in one lower).
    if (seq >= SEQ_LIMIT) {
      seq = 1;
      alone = true;
    }
    const record = `k1.${seq}.${bytes.length}.${fnv1a(bytes)}.${toBase64(bytes)}`;
    const at = `${this.prefix}.${key}.${slot}`;
    try {
      this.backend.set(at, record);
    } catch {
      return false;
    }
    let whole = false;
    try { whole = parse(this.backend.get(at))?.seq === seq; } catch { /* unread: not whole */ }
    // Once the new copy reads back whole, the copies it replaces go: legacy ones, and with `alone`
    // the other slot too; then one that stays is reported (a profile copy must not live on unsaid).
    let left = false;
    for (const r of whole ? records : []) {
      if ((r.prefix !== this.prefix || (alone && r.slot !== slot)) && !erase(this.backend, `${r.prefix}.${key}.${r.slot}`) && alone) left = true;
    }
    return whole && !left;
  }

  /**
   * Saves exported profile state; `keep` as for `save` (the copy the engine restored). Once the new
   * copy reads back whole the older one is erased: a profile erased by `forget()` or a withdrawn
   * consent must not live on in the other slot. False if the new copy is not whole or the older stays.
   */
  saveState(bytes, keep) { return this.save('state', bytes, keep, true); }
  /** The newest good profile state, or null. */
  loadState(accept) { return this.load('state', accept); }
  /**
   * Erases every stored copy of the profile state (a legacy one too); whether none is left. For an
   * erasure whose new state could not be stored (storage full): the profile from before it must not
   * come back at the next start. Removing a key (or writing the empty value) frees room where a
   * write of more fails.
   */
  eraseState() {
    let gone = true;
    for (const prefix of [this.prefix, this.legacy]) {
      for (const slot of prefix ? ['a', 'b'] : []) gone = erase(this.backend, `${prefix}.state.${slot}`) && gone;
    }
    return gone;
  }
  /** Saves a snapshot the engine accepted (call after `new Engine` or `applySnapshot` succeeded); see `save`. */
  saveSnapshot(bytes, keep) { return this.save('snapshot', bytes, keep); }
  /** The newest good snapshot, or null; pass `Engine.snapshotVersion` to skip ones that do not load. */
  loadSnapshot(accept) { return this.load('snapshot', accept); }
}
