// Storage adapters: a torn or failed write never loses the previous good copy; localStorage and
// wx backends; the engine restores from what was stored; storage faults at start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafeStore, localStorageBackend, wxStorageBackend } from '../../pkg/storage.js';
import { Engine, snapshot } from './load.mjs';
import { sync } from '../../pkg/sync.js';
import { makeBrand } from './brand.mjs';

const NOW = Date.parse('2026-11-20T14:20:00+08:00');

/** An in-memory backend; `fault` can make the next write throw or be cut short. */
function memory() {
  const map = new Map();
  const b = {
    map,
    fault: null,
    get: (k) => map.get(k) ?? null,
    set: (k, v) => {
      const f = b.fault;
      b.fault = null;
      if (f === 'throw') throw new Error('quota exceeded');
      if (f === 'torn') { map.set(k, v.slice(0, Math.floor(v.length / 2))); throw new Error('killed mid-write'); }
      if (f === 'silent-torn') { map.set(k, v.slice(0, v.length - 5)); return; }
      map.set(k, v);
    },
  };
  return b;
}

const bytes = (...xs) => Uint8Array.from(xs);

test('round trip of every length (base64 padding)', () => {
  const s = new SafeStore(memory());
  for (let n = 0; n < 40; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    assert.equal(s.save('x', b), true);
    assert.deepEqual(s.load('x'), b);
  }
});

test('a failed or torn write keeps the previous good copy', () => {
  const m = memory();
  const s = new SafeStore(m);
  assert.equal(s.load('state'), null);
  s.saveState(bytes(1));
  s.saveState(bytes(2));
  for (const fault of ['throw', 'torn', 'silent-torn']) {
    m.fault = fault;
    const ok = s.saveState(bytes(9, 9, 9));
    assert.equal(ok, false, fault);
    assert.deepEqual(s.loadState(), bytes(2), `after a ${fault} write`);
  }
  s.saveState(bytes(3));
  assert.deepEqual(s.loadState(), bytes(3));
  // Profile state: once the new copy reads back, the older profile is erased (forget must work).
  assert.ok(m.map.get('kairos.state.a').startsWith('k1.3.'), 'the write after the faults went to slot a');
  assert.equal(m.map.get('kairos.state.b'), '');
  // Other keys keep both copies: corrupting the newest slot falls back to the older one.
  s.save('x', bytes(1));
  s.save('x', bytes(2));
  const newest = m.map.get('kairos.x.b');
  assert.ok(newest.startsWith('k1.2.'));
  m.map.set('kairos.x.b', newest.replace(/\.[0-9a-f]{8}\./, '.00000000.'));
  assert.deepEqual(s.load('x'), bytes(1));
});

test('after forget() and a save, no copy of the old profile is left in storage', () => {
  const m = memory();
  const store = new SafeStore(m);
  const e = new Engine(snapshot(), '00000000000000d1');
  e.setConsent(true);
  for (let i = 0; i < 5; i++) e.track({ type: 'view', category: 'qipao', product: `p${i}`, price: 100 }, NOW + i);
  assert.equal(store.saveState(e.exportState()), true);
  e.track({ type: 'cart', product: 'p1', price: 100 }, NOW + 10);
  assert.equal(store.saveState(e.exportState()), true);
  const before = [...m.map.values()].join();
  e.forget(undefined, NOW + 20);
  const wiped = e.exportState();
  assert.equal(store.saveState(wiped), true);
  const left = [...m.map.entries()].filter(([, v]) => v !== '');
  assert.equal(left.length, 1, 'one profile copy at rest');
  assert.deepEqual(store.loadState(), wiped);
  assert.notEqual(before, '');
  // A failed write after that leaves the wiped copy, still the only one.
  m.fault = 'torn';
  assert.equal(store.saveState(bytes(1, 2, 3)), false);
  assert.deepEqual(store.loadState(), wiped);
});

test('a snapshot that does not load falls back to the previous good one', () => {
  const s = new SafeStore(memory());
  const good = snapshot();
  s.saveSnapshot(good);
  s.saveSnapshot(bytes(1, 2, 3)); // checksummed but not a snapshot
  assert.deepEqual(s.loadSnapshot(Engine.snapshotVersion), good);
  assert.deepEqual(s.loadSnapshot(), bytes(1, 2, 3), 'without a check, the newest');
});

test('a legacy prefix is read while the store has no copy of its own, and cleared once one reads back', () => {
  const m = memory();
  new SafeStore(m).save('state', bytes(1)); // an earlier release's `kairos.state.a`
  const s = new SafeStore(m, 'kairos:/model', 'kairos');
  assert.deepEqual(s.load('state'), bytes(1));
  assert.equal(s.load('snapshot'), null);
  m.fault = 'silent-torn';
  assert.equal(s.save('state', bytes(2)), false, 'a torn write does not read back');
  assert.deepEqual(s.load('state'), bytes(1), 'the first write was torn: the legacy copy still counts');
  assert.equal(s.save('state', bytes(3)), true);
  assert.deepEqual(s.load('state'), bytes(3));
  assert.equal(m.map.get('kairos.state.a'), '', 'the legacy copy is cleared');
  assert.equal(new SafeStore(m).load('state'), null);
  assert.ok(!m.map.has('kairos.snapshot.a'), 'nothing is written under the legacy prefix');
});

test('privacy review #8: copies are erased by removing their keys where the backend can; a copy that stays is reported', () => {
  const ls = new Map();
  const storage = { getItem: (k) => ls.get(k) ?? null, setItem: (k, v) => ls.set(k, String(v)), removeItem: (k) => ls.delete(k) };
  const wxs = new Map();
  const wx = { getStorageSync: (k) => wxs.get(k) ?? '', setStorageSync: (k, v) => wxs.set(k, v), removeStorageSync: (k) => wxs.delete(k) };
  for (const [map, backend] of [[ls, localStorageBackend(storage)], [wxs, wxStorageBackend(wx)]]) {
    new SafeStore(backend).saveState(bytes(1)); // an earlier release's `kairos.state.a`
    const s = new SafeStore(backend, 'kairos:/model', 'kairos');
    assert.equal(s.saveState(bytes(2)), true);
    assert.deepEqual([...map.keys()], ['kairos:/model.state.b'], 'the legacy key is removed, not blanked');
    assert.equal(s.saveState(bytes(3)), true);
    assert.deepEqual([...map.keys()], ['kairos:/model.state.a'], 'so is the older slot');
    assert.equal(s.eraseState(), true);
    assert.equal(map.size, 0);
  }
  // A backend without `remove` (a host's own) has them blanked, as before (see above). One whose
  // erasures fail says so: the new copy is written, but not reported as stored alone, and
  // eraseState finds a copy left.
  const stuck = new Map();
  const s = new SafeStore({
    get: (k) => stuck.get(k) ?? null,
    set: (k, v) => { if (v === '') throw new Error('denied'); stuck.set(k, v); },
    remove: () => { throw new Error('denied'); },
  });
  assert.equal(s.saveState(bytes(1)), true, 'nothing to erase yet');
  assert.equal(s.saveState(bytes(2)), false, 'the older copy stays');
  assert.deepEqual(s.loadState(), bytes(2), 'the new copy is written');
  assert.equal(s.eraseState(), false);
  assert.equal(s.save('x', bytes(1)) && s.save('x', bytes(2)), true, 'snapshots keep both copies: nothing to erase');
});

test('localStorage and wx backends, and an engine restored from storage', () => {
  const ls = new Map();
  const localStorage = { getItem: (k) => ls.get(k) ?? null, setItem: (k, v) => ls.set(k, String(v)) };
  const wxs = new Map();
  const wx = { getStorageSync: (k) => wxs.get(k) ?? '', setStorageSync: (k, v) => wxs.set(k, v) };
  for (const backend of [localStorageBackend(localStorage), wxStorageBackend(wx)]) {
    const store = new SafeStore(backend);
    const e = new Engine(snapshot(), '00000000000000b2');
    e.setConsent(true);
    e.track({ type: 'follow', channel: 'wechat_oa' }, NOW);
    assert.equal(store.saveSnapshot(snapshot()), true);
    assert.equal(store.saveState(e.exportState()), true);
    const again = new Engine(store.loadSnapshot(Engine.snapshotVersion), '0000000000000001');
    again.importState(store.loadState());
    assert.equal(again.stage(), 'window');
    assert.deepEqual(again.segments(null, NOW), e.segments(null, NOW));
  }
  assert.ok(ls.size === 2 && wxs.size === 2);
});

// Issue #6 §4, storage faults at start-up through `sync`, in both adapters: the engine starts from
// the newest stored snapshot that verifies, else the bundled one, restores the newest profile
// that imports, else starts fresh, and says which in `status`.
const brand = makeBrand();
const [v1, v2, v3] = [1, 2, 3].map((v) => brand.snapshot(v));
const forged = brand.snapshot(9, 'other');
const offline = { get: () => Promise.reject(new Error('offline')) };
const idle = { setTimeout: () => 0, clearTimeout: () => {} }; // start-up only: no check runs
const start = (store) => sync({ url: '', publicKey: brand.publicKey, bundled: v1, store, transport: offline, push: 'none', timers: idle });

/** A SafeStore over the browser or the wx adapter, on a shim whose writes can fail like `memory()`'s. */
function adapter(kind) {
  const m = memory();
  const backend = kind === 'localStorage'
    ? localStorageBackend({ getItem: m.get, setItem: m.set })
    : wxStorageBackend({ getStorageSync: (k) => m.get(k) ?? '', setStorageSync: m.set });
  return { m, store: new SafeStore(backend, 'shop') };
}

function profile() {
  const e = Engine.fromSignedSnapshot(v1, brand.publicKey, '00000000000000b2');
  e.setConsent(true);
  e.track({ type: 'follow', channel: 'wechat_oa' }, NOW);
  return e.exportState();
}

for (const kind of ['localStorage', 'wx']) {
  test(`${kind}: a stored snapshot signed by another brand's key is refused; the bundled one starts`, () => {
    const { store } = adapter(kind);
    store.saveSnapshot(forged);
    store.saveState(profile());
    const s = start(store);
    assert.equal(s.engine.modelVersion, 1);
    assert.deepEqual(s.status.rejected.map((r) => [r.from, r.code]), [['stored', 'SNAPSHOT_SIGNATURE']]);
    assert.deepEqual([s.status.source, s.status.state], ['bundled', 'restored']);
    assert.equal(s.engine.stage(), 'window');
    const next = start(store);
    assert.deepEqual([next.status.source, next.status.rejected], ['stored', []], 'the bundled copy replaced the foreign one');
  });

  test(`${kind}: behind a foreign snapshot, the previous good one starts and is kept by the next write`, () => {
    const { store } = adapter(kind);
    store.saveSnapshot(v2);
    store.saveSnapshot(forged);
    const s = start(store);
    assert.deepEqual([s.engine.modelVersion, s.status.source], [2, 'stored']);
    assert.deepEqual(s.status.rejected.map((r) => r.code), ['SNAPSHOT_SIGNATURE']);
    s.apply(v3);
    const kept = store.records('snapshot').map((r) => Engine.snapshotVersion(r.bytes));
    assert.deepEqual(kept, [3, 2], 'the write replaced the foreign copy, not the good one');
  });

  test(`${kind}: a torn or failed snapshot write keeps the previous good snapshot`, () => {
    for (const fault of ['torn', 'throw', 'silent-torn']) {
      const { m, store } = adapter(kind);
      store.saveSnapshot(v2);
      const s = start(store);
      m.fault = fault;
      s.apply(v3);
      assert.equal(s.engine.modelVersion, 3, 'the engine runs the new model whatever the write did');
      const again = start(store);
      assert.deepEqual([again.engine.modelVersion, again.status.source], [2, 'stored'], `after a ${fault} write`);
    }
  });

  test(`${kind}: a torn or corrupted stored profile falls back to the older copy, else starts fresh`, () => {
    const { m, store } = adapter(kind);
    store.saveState(profile());
    m.fault = 'torn';
    store.saveState(profile());
    // Checksummed, but not profile state, beside the good copy (as releases that kept both
    // profile copies could leave a store; saveState now erases the older one).
    store.save('state', bytes(7, 7, 7));
    const s = start(store);
    assert.deepEqual([s.status.state, s.engine.stage(), s.engine.consent], ['restored', 'window', true]);
    const { store: broken } = adapter(kind);
    broken.saveState(bytes(7, 7, 7));
    broken.saveState(bytes(8));
    const fresh = start(broken);
    assert.deepEqual([fresh.status.state, fresh.engine.consent], ['rejected', false]);
  });

  test(`${kind}: saveState never writes over the only stored profile that imports (review r9)`, () => {
    for (const fault of ['torn', 'silent-torn', 'throw']) {
      const { m, store } = adapter(kind);
      store.saveState(profile());
      store.save('state', bytes(7, 7, 7)); // newer and checksummed, but it does not import (say, from another build)
      const s = start(store);
      assert.deepEqual([s.status.state, s.engine.stage()], ['restored', 'window']);
      m.fault = fault;
      s.saveState();
      const again = start(store);
      assert.deepEqual([again.status.state, again.engine.stage()], ['restored', 'window'], `after a ${fault} write`);
      again.engine.track({ type: 'signup', channel: 'web' }, NOW);
      m.fault = fault;
      again.reset();
      assert.equal(start(store).engine.stage(), 'window', `reset(): after a ${fault} write the last good profile stays`);
    }
  });

  test(`${kind}: a bundled snapshot whose header claims a newer version but whose body is damaged is refused and reported; the stored one runs`, () => {
    const { store } = adapter(kind);
    store.saveSnapshot(v2);
    const damaged = Uint8Array.from(v3);
    damaged[60] ^= 1; // a body byte: the header still says version 3
    const s = sync({ url: '', publicKey: brand.publicKey, bundled: damaged, store, transport: offline, push: 'none', timers: idle });
    assert.deepEqual([s.engine.modelVersion, s.status.source], [2, 'stored']);
    assert.deepEqual(s.status.rejected.map((r) => [r.from, r.code]), [['bundled', 'SNAPSHOT_CORRUPT']]);
    assert.deepEqual(store.records('snapshot').map((r) => Engine.snapshotVersion(r.bytes)), [2], 'the damaged copy was not stored');
  });

  test(`${kind}: a stored snapshot that fails verification is replaced at start, never the one that verified`, () => {
    const { store } = adapter(kind);
    store.saveSnapshot(v2);
    store.saveSnapshot(forged);
    const s = start(store);
    assert.deepEqual([s.engine.modelVersion, s.status.source, s.status.rejected.map((r) => r.code)], [2, 'stored', ['SNAPSHOT_SIGNATURE']]);
    assert.deepEqual(start(store).status.rejected, [], 'the next start verifies no foreign copy');
    const versions = () => store.records('snapshot').map((r) => Engine.snapshotVersion(r.bytes));
    assert.deepEqual(versions(), [2, 2]);
    store.saveSnapshot(forged);
    const newer = sync({ url: '', publicKey: brand.publicKey, bundled: v3, store, transport: offline, push: 'none', timers: idle });
    assert.deepEqual([newer.engine.modelVersion, newer.status.source], [3, 'bundled']);
    assert.deepEqual(versions(), [3, 2], 'the bundled copy went over the foreign one');
  });
}

test('records are the same through btoa/atob and through the fallback coder of runtimes without them', async () => {
  // The readable module (under the minified run too): the browser build has no fallback.
  const { SafeStore: Store } = await import('../../pkg/storage.js?readable');
  const { atob, btoa } = globalThis;
  const withoutPlatform = (f) => {
    delete globalThis.atob;
    delete globalThis.btoa;
    try {
      return f();
    } finally {
      Object.assign(globalThis, { atob, btoa });
    }
  };
  for (let n = 0; n < 40; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 151 + n * 7) & 255);
    const platform = memory();
    const own = memory();
    new Store(platform).save('x', b);
    withoutPlatform(() => new Store(own).save('x', b));
    assert.deepEqual([...own.map], [...platform.map]);
    assert.deepEqual(withoutPlatform(() => new Store(platform).load('x')), b);
    assert.deepEqual(new Store(own).load('x'), b);
  }
  // Malformed base64 in an otherwise valid record (checksum and length of what it decodes to):
  // both coders read it alike (`=` as a zero digit anywhere; no whitespace, no missing padding).
  const fnv = (bytes) => {
    let h = 0x811c9dc5;
    for (const x of bytes) h = Math.imul(h ^ x, 0x01000193) >>> 0;
    return h.toString(16).padStart(8, '0');
  };
  // `AB=C`: digits 0, 1, 0, 2, so the bytes 0, 16, 2.
  const cases = [['AB=C', [0, 16, 2]], ['AB=C', [0, 16]], ['QR==', [65]], ['QUJD', [65, 66, 67]], ['QU=D', [65, 64, 3]],
    ['====', [0]], ['QUJ D', [65, 66, 67]], ['QUJ', [65, 66]], ['Q_JD', [65, 66, 67]], ['QUJD\n', [65, 66, 67]]];
  let read = 0;
  for (const [text, bytes] of cases) {
    const backend = memory();
    backend.map.set('kairos.x.a', `k1.1.${bytes.length}.${fnv(bytes)}.${text}`);
    const own = withoutPlatform(() => new Store(backend).load('x'));
    assert.deepEqual(new Store(backend).load('x'), own, text);
    if (own) read++;
  }
  assert.equal(read, 5); // the first five; whitespace, missing padding and `_` are refused
});

// Hostile-input review: a stored record numbered 2^53 − 1 (edited storage) made every later save's
// number unreadable, so no save ever read back and the planted copy stayed the one restored. A
// number no save reaches is no record: the next save starts over and is the one read.
test('a record with a sequence number no save reaches is ignored, the last one it reads starts numbering again, and saving goes on', () => {
  for (const [n, reads] of [[Number.MAX_SAFE_INTEGER, false], [2 ** 31, false], [2 ** 31 - 1, true]]) {
    for (const save of ['saveState', 'saveSnapshot']) {
      const b = memory();
      const store = new SafeStore(b);
      const load = save === 'saveState' ? () => store.loadState() : () => store.load('snapshot');
      assert.equal(store[save](new Uint8Array([1, 2, 3])), true);
      const key = `kairos.${save === 'saveState' ? 'state' : 'snapshot'}.a`;
      b.map.set(key, b.map.get(key).replace(/^k1\.1\./, `k1.${n}.`));
      assert.equal(load() !== null, reads, `${n}: the planted copy reads: ${reads}`);
      for (const bytes of [[4, 5], [6], [7]]) {
        assert.equal(store[save](new Uint8Array(bytes)), true, `${n} ${save} ${bytes}`);
        assert.deepEqual([...load()], bytes, `${n} ${save}`);
      }
    }
  }
});
