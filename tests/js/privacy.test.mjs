// Privacy promises of the package, from a privacy review: withdrawing consent erases the reports
// not yet drained and asks the backend to erase the rest; forget() never keeps the install id; an
// erasure under sync holds in storage (a second tab, reset(), legacy copies, failed erasures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshot, Engine } from './load.mjs';
import { sync } from '../../pkg/sync.js';
import { SafeStore, localStorageBackend } from '../../pkg/storage.js';
import { makeBrand } from './brand.mjs';

const NOW = Date.parse('2026-11-20T14:20:00+08:00');
const code = (f) => { try { f(); } catch (e) { return e.code; } return 'no error'; };

function shopper(id = '00000000000000d1') {
  const e = new Engine(snapshot(), id);
  e.setConsent(true);
  e.identify('phone', '13800138000');
  e.track({ type: 'signup' }, NOW);
  e.decide('home_hero', { page: 'home' }, NOW + 1);
  return e;
}

test('withdrawing consent drops the reports not sent yet and queues a forgotten request for her pid', () => {
  const e = shopper();
  const pid = e.pid;
  assert.ok(e.outbox().some((ev) => ev.type === 'exposure'));
  e.setConsent(false, NOW + 2);
  // She identified, so her pid is her phone's hash, which no report carries: the request names
  // the install and its decision counter too, by which the backend finds her reports
  // (`kairos erase`: their decision ids invert to counters 1 to `decisions`).
  assert.match(pid, /^[0-9a-f]{32}$/);
  assert.deepEqual(e.drainOutbox(), [{ type: 'forgotten', pid, install: '00000000000000d1', decisions: 2 ** 24, at: NOW + 2 }]);
  assert.equal(e.consent, false);
  // Declining again, or before ever consenting, asks nothing more.
  e.setConsent(false, NOW + 3);
  assert.deepEqual(e.outbox(), []);
  const fresh = new Engine(snapshot(), '00000000000000d2');
  fresh.setConsent(false);
  assert.deepEqual(fresh.outbox(), []);
  assert.equal(code(() => fresh.setConsent(false, 'now')), 'TIME_INVALID');
  assert.equal(code(() => fresh.setConsent(true, 'now')), 'TIME_INVALID', 'now is checked whatever is asked');
  assert.equal(fresh.consent, false);
});

test('a withdrawal starts a new install id, drawn unless given: a new consent is not linked to the pid erased', () => {
  const e = shopper('00000000000000d4');
  const pid = e.pid;
  assert.equal(code(() => e.setConsent(false, NOW + 2, '00000000000000d4')), 'ARGUMENT_INVALID', 'the current id');
  assert.equal(code(() => e.setConsent(false, NOW + 2, 'xyz')), 'ARGUMENT_INVALID');
  assert.equal(e.consent, true, 'nothing was withdrawn by the refused calls');
  e.decide('home_hero', { page: 'home' }, NOW + 2);
  e.setConsent(false, NOW + 2, '00000000000000e5');
  assert.deepEqual(e.drainOutbox(), [{ type: 'forgotten', pid, install: '00000000000000d4', decisions: 2 ** 24, at: NOW + 2 }]);
  e.setConsent(true);
  assert.equal(e.pid, '00000000000000e5');
  const d = e.decide('home_hero', { page: 'home' }, NOW + 3);
  // Her new decision ids are the new install's: the first of its counter.
  const again = new Engine(snapshot(), '00000000000000e5');
  again.setConsent(true);
  assert.equal(d.id, again.decide('home_hero', { page: 'home' }, NOW + 3).id);
  // Drawn when not given, and the engine's state carries it (sync stores it with the profile).
  e.setConsent(false, NOW + 4);
  e.setConsent(true);
  assert.match(e.pid, /^[0-9a-f]{16}$/);
  assert.notEqual(e.pid, '00000000000000e5');
  const restored = new Engine(snapshot(), '00000000000000d4');
  restored.importState(e.exportState());
  assert.equal(restored.pid, e.pid);
  // Declined before consenting: nothing to erase, the install stays.
  const fresh = new Engine(snapshot(), '00000000000000d6');
  fresh.setConsent(false, NOW, '00000000000000d7');
  fresh.setConsent(true);
  assert.equal(fresh.pid, '00000000000000d6');
});

test('forget() refuses the current install id (her pid and decision ids would carry on) and draws a new one by default', () => {
  const e = shopper('00000000000000d3');
  const before = e.pid;
  assert.equal(code(() => e.forget('00000000000000d3', NOW + 2)), 'ARGUMENT_INVALID');
  assert.equal(e.pid, before, 'nothing was forgotten by the refused call');
  e.forget(undefined, NOW + 3);
  assert.notEqual(e.pid, before);
  assert.deepEqual(e.drainOutbox().map((ev) => ev.type), ['forgotten']);
});

// ---- Erasures through sync and the stored copies (privacy review of the PIPL promises) ----

const brand = makeBrand();
const [v1, v2] = [1, 2].map((v) => brand.snapshot(v));
const offline = { get: () => Promise.reject(new Error('offline')) };
const idle = { setTimeout: () => 0, clearTimeout: () => {} }; // no check runs
const erasures = [['forget', (e) => e.forget(undefined, NOW + 10)], ['a withdrawal', (e) => e.setConsent(false, NOW + 10)]];

/** One origin's localStorage, as its tabs share it; `fail(key, value)` can make a write throw. */
function origin() {
  const map = new Map();
  const ls = {
    map,
    fail: null,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => { if (ls.fail && ls.fail(k, v)) throw new Error('QuotaExceededError'); map.set(k, String(v)); },
    removeItem: (k) => map.delete(k),
  };
  return ls;
}
/** A tab of the storefront: sync over `ls` (offline; nothing is fetched). */
const tab = (ls, more) => sync({ url: 'https://shop.example', publicKey: brand.publicKey, bundled: v1, transport: offline,
  push: 'none', timers: idle, store: new SafeStore(localStorageBackend(ls), 'shop'), ...more });
/** A first visit stores a consenting, identified buyer; her pid. */
function visit(ls) {
  const k = tab(ls);
  k.engine.setConsent(true);
  k.engine.identify('phone', '13800138000');
  k.engine.track({ type: 'purchase', order: 'o1', amount: 999 }, NOW);
  k.engine.drainOutbox();
  assert.equal(k.saveState(), true);
  const { pid } = k.engine;
  k.stop();
  return pid;
}
/**
 * Two tabs of the shopper `visit` stored in `ls`: tab B read her profile before tab A erased it and
 * stores it after (no tab sees the other's write in between: two processes). Her pid, the tabs.
 */
function storedBack(ls) {
  const pid = visit(ls);
  const a = tab(ls);
  const b = tab(ls);
  view(b.engine, NOW + 20);
  const stale = b.engine.exportState();
  a.engine.forget(undefined, NOW + 30);
  new SafeStore(localStorageBackend(ls), 'shop').saveState(stale);
  return { pid, a, b };
}
/** A browser's `window` for the test: sync listens on it; returns what sends it a `storage` event. */
function browser(t) {
  const win = new EventTarget();
  globalThis.window = win;
  t.after(() => { delete globalThis.window; });
  return () => win.dispatchEvent(Object.assign(new Event('storage'), { key: 'shop.state.a' }));
}
/** What the next start restores from `ls`. */
function nextStart(ls, more) {
  const k = tab(ls, more);
  const e = k.engine;
  const out = { state: k.status.state, consent: e.consent, pid: e.pid, stage: e.stage(), forgotten: e.outbox().filter((x) => x.type === 'forgotten').map((x) => x.pid) };
  k.stop();
  return out;
}
const view = (e, at) => e.track({ type: 'view', category: 'qipao', product: 'su-001', price: 399 }, at);

test('privacy review #1: a second tab does not write its older profile over a forget() or a withdrawal in the first', () => {
  for (const [what, erase] of erasures) {
    for (const [how, write] of [['its saveState()', (b) => assert.equal(b.saveState(), true)], ['a model update', (b) => b.apply(v2)]]) {
      const at = `${what}, then ${how} in tab B`;
      const ls = origin();
      const pid = visit(ls);
      const a = tab(ls);
      const b = tab(ls);
      erase(a.engine);
      view(b.engine, NOW + 20); // tab B still holds her profile
      write(b);
      assert.equal(b.engine.consent, false, `${at}: tab B took the erased copy before writing`);
      a.stop();
      b.stop();
      const next = nextStart(ls);
      assert.deepEqual([next.state, next.consent, next.stage], ['restored', false, undefined], `${at}: the erasure holds`);
      assert.notEqual(next.pid, pid, at);
      assert.deepEqual(next.forgotten, [pid], `${at}: the forgotten request is kept`);
    }
  }
});

test('privacy review #1: a copy another tab stored that this one cannot import, or none left, is not written over', () => {
  // Another build's copy (it does not import here): not overwritten by a profile; an erasure here
  // erases it with the rest and is stored.
  const ls = origin();
  const pid = visit(ls);
  const b = tab(ls);
  const other = new SafeStore(localStorageBackend(ls), 'shop');
  other.saveState(Uint8Array.of(7, 7, 7));
  view(b.engine, NOW + 20);
  assert.equal(b.saveState(), false, 'not stored');
  assert.deepEqual(other.loadState(), Uint8Array.of(7, 7, 7), 'the other copy stays');
  b.engine.forget(undefined, NOW + 30);
  b.stop();
  const next = nextStart(ls);
  assert.deepEqual([next.state, next.consent, next.forgotten], ['restored', false, [pid]]);
  assert.equal(other.records('state').length, 1, 'one copy: the erased profile');

  // Every copy gone (another tab's erasure that could not be stored erases them all): the profile
  // this tab holds is not written back; a profile without consent may be stored.
  const ls2 = origin();
  visit(ls2);
  const c = tab(ls2);
  new SafeStore(localStorageBackend(ls2), 'shop').eraseState();
  view(c.engine, NOW + 20);
  assert.equal(c.saveState(), false);
  c.stop();
  assert.equal(nextStart(ls2).state, 'none', 'no profile comes back');
  const fresh = tab(ls2);
  new SafeStore(localStorageBackend(ls2), 'shop').eraseState();
  assert.equal(fresh.saveState(), true);
  fresh.stop();
});

test('privacy review #1: in a browser, another tab\'s erasure reaches this engine at the storage event; stop() removes the listener', (t) => {
  const storageEvent = browser(t);
  const ls = origin();
  const pid = visit(ls);
  const a = tab(ls);
  const b = tab(ls);
  a.engine.forget(undefined, NOW + 10);
  storageEvent(); // (a browser sends it to the other tabs only; tab A finds its own copy and does nothing)
  assert.deepEqual([b.engine.consent, b.engine.stage()], [false, undefined], 'tab B dropped the profile at once');
  assert.notEqual(b.engine.pid, pid);
  // What tab B records from then on builds on that copy, and is stored with its erasure request.
  b.engine.setConsent(true);
  view(b.engine, NOW + 20);
  assert.equal(b.saveState(), true);
  a.stop();
  b.stop();
  const next = nextStart(ls);
  assert.deepEqual([next.consent, next.forgotten], [true, [pid]]);
  // Stopped: another tab's change no longer reaches it.
  const c = tab(ls);
  c.engine.forget(undefined, NOW + 30);
  storageEvent();
  assert.equal(b.engine.consent, true);
  c.stop();
});

test('importState refuses the shopper this engine erased while her request waits, and keeps the requests', () => {
  const e = shopper();
  const before = e.exportState();
  const { pid } = e;
  e.forget(undefined, NOW + 10);
  const erased = e.exportState();
  assert.equal(code(() => e.importState(before)), 'STATE_ERASED');
  assert.deepEqual(e.exportState(), erased, 'nothing changed');
  // Another shopper's state imports, and the request stays with it.
  const other = shopper('00000000000000d2');
  other.drainOutbox();
  e.importState(other.exportState());
  assert.deepEqual(e.outbox().map((x) => [x.type, x.pid]), [['forgotten', pid]]);
  // Drained, it is the backend's to carry out: the engine has nothing left to refuse the copy by.
  e.drainOutbox();
  e.importState(before);
  assert.equal(e.pid, pid);
});

test('review: 300 forget() calls without a drain keep every erasure request, and her copy stays refused (it imported past 256)', () => {
  const e = shopper();
  const before = e.exportState();
  const { pid } = e;
  for (let i = 0; i < 300; i++) e.forget(undefined, NOW + 10 + i);
  const requests = e.outbox();
  assert.equal(requests.length, 300);
  assert.ok(requests.every((x) => x.type === 'forgotten'));
  assert.equal(requests[0].pid, pid, 'the first, hers, is still held');
  assert.equal(code(() => e.importState(before)), 'STATE_ERASED');
  // Through the stored state too: another tab that took it refuses her copy as well.
  const tab = new Engine(snapshot(), '00000000000000d3');
  tab.importState(e.exportState());
  assert.deepEqual(tab.outbox(), requests);
  assert.equal(code(() => tab.importState(before)), 'STATE_ERASED');
});

test('a tab that stored her profile back after another tab erased it: the erasure is written over it and holds', (t) => {
  const storageEvent = browser(t);
  for (const [at, event] of [['at the storage event', true], ['at the next saveState()', false]]) {
    const ls = origin();
    const { pid, a, b } = storedBack(ls);
    if (event) storageEvent();
    else assert.equal(a.saveState(), true, at);
    const store = new SafeStore(localStorageBackend(ls), 'shop');
    assert.equal(store.records('state').length, 1, `${at}: one copy, the erased one`);
    assert.deepEqual([a.engine.consent, a.engine.outbox().map((x) => x.pid)], [false, [pid]], at);
    a.stop();
    b.stop();
    const next = nextStart(ls);
    assert.deepEqual([next.state, next.consent, next.forgotten], ['restored', false, [pid]], `${at}: the erasure holds`);
    assert.notEqual(next.pid, pid, at);
  }
});

test('review: two erasures of one identified shopper in the same millisecond are two requests, kept through every path', () => {
  const e = new Engine(snapshot(), '00000000000000a1');
  e.setConsent(true);
  e.identify('phone', '13800138000');
  e.forget('00000000000000a2', NOW);
  e.setConsent(true);
  e.identify('phone', '13800138000'); // the same pid: her phone's hash
  e.forget('00000000000000a3', NOW);
  const installs = (x) => x.outbox().map((r) => r.install);
  assert.deepEqual(installs(e), ['00000000000000a1', '00000000000000a2']);
  e.setConsent(true);
  e.forget('00000000000000a4', NOW); // a third (Outbox::erasures)
  assert.deepEqual(installs(e), ['00000000000000a1', '00000000000000a2', '00000000000000a3']);
  const fresh = new Engine(snapshot(), '00000000000000b1');
  fresh.__takeErasures(e.exportState()); // sync's reset()
  assert.deepEqual(installs(fresh), installs(e));
  fresh.__takeErasures(e.exportState()); // the same requests again: once each
  assert.deepEqual(installs(fresh), installs(e));
});

test('review: an install id an erasure waiting here retired is refused as a new one (forget, withdrawal, reset)', () => {
  const e = new Engine(snapshot(), '00000000000000c1');
  e.setConsent(true);
  e.forget('00000000000000c2', NOW);
  e.setConsent(true);
  assert.equal(code(() => e.forget('00000000000000c1', NOW + 1)), 'ARGUMENT_INVALID');
  assert.equal(code(() => e.setConsent(false, NOW + 1, '00000000000000c1')), 'ARGUMENT_INVALID');
  assert.deepEqual([e.consent, e.pid], [true, '00000000000000c2'], 'nothing changed');
  // Its own state imports (an id given back is never the engine's own to refuse).
  e.importState(e.exportState());
  const ls = origin();
  visit(ls);
  const k = tab(ls);
  k.engine.forget('00000000000000d9', NOW + 2);
  const [{ install: erased }] = k.engine.outbox();
  assert.throws(() => k.reset(erased), (x) => x.code === 'ARGUMENT_INVALID' && /erased here/.test(x.message));
  assert.equal(k.engine.pid, '00000000000000d9', 'the engine stays');
  const fresh = k.reset('00000000000000da');
  assert.deepEqual(fresh.outbox().map((r) => r.type), ['forgotten']);
  k.stop();
});

test('review: storage too full to write the erased profile over her copy stored back: every copy goes', (t) => {
  const storageEvent = browser(t);
  for (const at of ['the storage event', 'saveState()']) {
    const ls = origin();
    const { pid, a, b } = storedBack(ls);
    ls.fail = (key) => key.startsWith('shop.state'); // her copy took the room
    if (at === 'the storage event') storageEvent();
    else assert.equal(a.saveState(), false, at);
    assert.equal(new SafeStore(localStorageBackend(ls), 'shop').records('state').length, 0, `${at}: her copy is gone`);
    a.stop();
    b.stop();
    ls.fail = null;
    const next = nextStart(ls);
    assert.deepEqual([next.state, next.consent], ['none', false], at);
    assert.notEqual(next.pid, pid, at);
  }
});

test('review: a host store that throws does not make the storage listener throw', (t) => {
  const storageEvent = browser(t);
  const ls = origin();
  visit(ls);
  const store = new SafeStore(localStorageBackend(ls), 'shop');
  const k = tab(ls, { store });
  store.loadState = () => { throw new Error('broken store'); };
  let thrown = null;
  const onError = (e) => { thrown = e; };
  process.on('uncaughtException', onError);
  try {
    storageEvent();
  } finally {
    process.off('uncaughtException', onError);
  }
  assert.equal(thrown, null);
  k.stop();
});

test('privacy review #3: reset() after forget() or a withdrawal keeps the erasure request not yet drained', () => {
  for (const [what, erase] of erasures) {
    const ls = origin();
    const pid = visit(ls);
    const k = tab(ls);
    erase(k.engine);
    const fresh = k.reset('00000000000000e1');
    assert.deepEqual([fresh.pid, fresh.consent, fresh.stage()], ['00000000000000e1', false, undefined], what);
    assert.equal(fresh.outbox()[0].pid, pid, `${what}: the request survives the reset`);
    assert.ok(fresh.outbox().every((x) => x.type === 'forgotten'), what);
    k.stop();
    assert.equal(nextStart(ls).forgotten[0], pid, `${what}: and is stored`);
    // A reset onto the install id the engine has (a fixture's, as the storefront's journeys do).
    const again = tab(ls);
    const same = again.reset('00000000000000e1');
    assert.deepEqual([same.pid, same.outbox()[0].pid], ['00000000000000e1', pid], `${what}: onto the same id`);
    // Drained (sent to the backend), nothing is carried: a reset starts an empty outbox.
    same.drainOutbox();
    assert.deepEqual(again.reset('00000000000000e1').outbox(), [], what);
    again.stop();
  }
});

test('privacy review #4: an erasure on the default channel erases the profile earlier releases stored under kairos.state; another channel leaves it', (t) => {
  t.after(() => { delete globalThis.localStorage; });
  for (const channel of ['model', 'web']) {
    const ls = origin();
    globalThis.localStorage = ls;
    const start = (ch) => sync({ url: 'https://shop.example', channel: ch, publicKey: brand.publicKey, bundled: v1, transport: offline, push: 'none', timers: idle });
    const k = start(channel);
    k.saveState(); // a copy of its own: the default channel no longer reads the legacy one
    const old = Engine.fromSignedSnapshot(v1, brand.publicKey, '00000000000000c1');
    old.setConsent(true);
    old.identify('phone', '13800138000');
    old.track({ type: 'purchase', order: 'o1', amount: 999 }, NOW);
    new SafeStore(localStorageBackend(ls)).saveState(old.exportState()); // what a release before wrote
    k.engine.setConsent(true);
    assert.ok(ls.map.has('kairos.state.a'), `${channel}: a consent given erases nothing`);
    k.engine.forget(undefined, NOW + 10);
    k.stop();
    const legacy = [...ls.map].filter(([key, v]) => key.startsWith('kairos.state') && v).length;
    // Another channel never read it, and a host's own `new SafeStore(localStorageBackend())` has
    // those very keys (final review: a forget on one channel erased another's live profile).
    assert.equal(legacy, channel === 'model' ? 0 : 1, `${channel}: the legacy copy`);
  }
});

test('final review: another tab\'s write of the same consented profile does not drop this tab\'s events and unsent reports', (t) => {
  const storageEvent = browser(t);
  const ls = origin();
  visit(ls);
  const a = tab(ls);
  const b = tab(ls);
  view(a.engine, NOW + 20);
  a.engine.decide('home_hero', { page: 'home' }, NOW + 30);
  const pending = a.engine.outbox().map((x) => x.type);
  assert.ok(pending.includes('exposure'), pending.join());
  // The background tab records and stores (as at a model update), and the browser tells tab A.
  view(b.engine, NOW + 40);
  assert.equal(b.saveState(), true);
  storageEvent();
  assert.deepEqual(a.engine.outbox().map((x) => x.type), pending, 'tab A keeps its unsent reports');
  assert.equal(a.engine.features(NOW + 50).views_7d, 1, 'and what it recorded');
  assert.equal(a.saveState(), true, 'and stores it: the last writer wins, as between tabs of one profile');
  a.stop();
  b.stop();
});

test('final review: reset() carries the erasure requests waiting, and asks nothing about a shopper who consented since', () => {
  const ls = origin();
  const k = tab(ls);
  k.engine.setConsent(true);
  const anonymous = k.engine.pid;
  k.engine.forget(undefined, NOW);
  k.engine.setConsent(true);
  k.engine.identify('phone', '13800138000');
  const member = k.engine.pid;
  view(k.engine, NOW + 10);
  const fresh = k.reset('00000000000000e2');
  assert.deepEqual(fresh.outbox().map((x) => [x.type, x.pid]), [['forgotten', anonymous]], 'only the request that waited');
  assert.notEqual(anonymous, member);
  assert.deepEqual([fresh.pid, fresh.consent], ['00000000000000e2', false]);
  k.stop();
  assert.deepEqual(nextStart(ls).forgotten, [anonymous], 'and it is stored');
});

test('privacy review #8: an erasure whose older copy cannot be blanked leaves no copy from before; with removal, even when nothing can be written', () => {
  // Writing the empty value fails (and this storage cannot remove keys): the erased profile is
  // written over the older copy instead.
  const ls = origin();
  delete ls.removeItem;
  const pid = visit(ls);
  const k = tab(ls);
  ls.fail = (key, v) => v === '';
  k.engine.forget(undefined, NOW + 10);
  const store = new SafeStore(localStorageBackend(ls), 'shop');
  assert.equal(store.records('state').length, 2, 'both slots are written');
  for (const r of store.records('state')) {
    const e = Engine.fromSignedSnapshot(v1, brand.publicKey);
    e.importState(r.bytes);
    assert.deepEqual([e.consent, e.outbox()[0].pid], [false, pid], `slot ${r.slot} holds the erased profile`);
    e.free();
  }
  assert.equal(k.saveState(), false, 'reported: a copy could not be erased');
  k.stop();
  ls.fail = null;
  // Every write fails from the erasure on, but keys can be removed: the next start has no profile,
  // never the one from before.
  const full = origin();
  visit(full);
  const f = tab(full);
  full.fail = () => true;
  f.engine.forget(undefined, NOW + 10);
  f.stop();
  full.fail = null;
  assert.deepEqual([nextStart(full).state, nextStart(full).consent], ['none', false]);
});

test('the new install id of an erasure is drawn from crypto.getRandomValues, not Math.random', () => {
  const real = crypto.getRandomValues;
  let n = 0;
  crypto.getRandomValues = (bytes) => { n += 1; bytes.set([0xf0, 1, 2, 3, 4, 5, 6, n]); return bytes; };
  try {
    const e = shopper('00000000000000d8');
    e.setConsent(false, NOW + 2);
    e.setConsent(true);
    assert.equal(e.pid, 'f001020304050601', 'a withdrawal');
    e.forget(undefined, NOW + 3);
    e.setConsent(true);
    assert.equal(e.pid, 'f001020304050602', 'a forget');
    const signed = Engine.fromSignedSnapshot(v1, brand.publicKey);
    signed.setConsent(true);
    assert.equal(signed.pid, 'f001020304050603', 'an engine made without one');
    // A given id is taken as it is.
    e.forget('00000000000000d9', NOW + 4);
    e.setConsent(true);
    assert.equal(e.pid, '00000000000000d9');
    assert.equal(n, 3);
  } finally {
    crypto.getRandomValues = real;
  }
});
