// Behaviours a mutation audit of the package (2026-11-25) found no test guarding: each test here
// fails with the mutation named above it (in pkg/fast.js, pkg/sync.js or crates/wasm) and passes
// without. The decision object is made by one function for the fast and the checked paths, so
// the many tests that hold the two paths to each other cannot see a fault in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshot, Engine } from './load.mjs';
import { sync } from '../../pkg/index.js';
import { SafeStore } from '../../pkg/storage.js';
import { makeBrand, MODEL } from './brand.mjs';

const T0 = Date.parse('2026-11-20T14:20:00+08:00');

// Mutation: pkg/fast.js's `decision` reads `control` as always false (the module's `write_decision`
// dropping it does the same).
test('a decision item in the control group says control: true, as its exposure does', () => {
  let controls = 0;
  for (let n = 0; n < 120; n++) {
    for (const path of ['decide', '__decideChecked']) {
      const e = new Engine(snapshot(), n.toString(16).padStart(16, '0'));
      e.setConsent(true, Date.parse('2025-12-01T12:00:00+08:00'));
      e.track({ type: 'purchase', order: 'SU-1', amount: 899 }, Date.parse('2025-12-01T12:05:00+08:00'));
      e.track({ type: 'purchase', order: 'SU-2', amount: 1299 }, Date.parse('2026-01-10T12:00:00+08:00'));
      e.drainOutbox();
      const d = e[path]('home_hero', { page: 'home' }, Date.parse('2026-07-15T12:00:00+08:00')); // lapsed: the win-back
      const shown = e.drainOutbox().filter((x) => x.type === 'exposure');
      assert.deepEqual(d.items.map((x) => [x.offer, x.variant, x.control]), shown.map((x) => [x.offer, x.variant, x.control]), `${path} ${n}`);
      controls += d.items.filter((x) => x.control).length;
      e.free();
    }
  }
  assert.ok(controls > 0, 'some shopper fell in the 10% control group');
});

// Mutation: pkg/fast.js's `decision` loses a fallback that is the model's content 0.
test("a decision carries its placement's fallback content (the model's first content)", () => {
  const e = new Engine(snapshot(), '00000000000000c7');
  for (const d of [e.decide('home_hero', { page: 'home' }, T0), e.__decideChecked('home_hero', { page: 'home' }, T0)]) {
    assert.deepEqual(d.fallback, MODEL.placements.home_hero.fallback); // content 0 of the model
  }
});

// Mutation: pkg/fast.js's `readFields` ignores a full string table (-1). The table fills on the
// first string field; a later field's string is then index 0 of the new table, and the fast path
// decided on a page it was not given.
test('a string table that fills up on the first string of a context does not give that field a later one', () => {
  const fast = new Engine(snapshot(), '00000000000000c7');
  const checked = new Engine(snapshot(), '00000000000000c7');
  let t = T0;
  for (const e of [fast, checked]) e.setConsent(true, t);
  for (let i = 0; i < 4200; i++) {
    t += 60_000;
    const context = { page: `u${i}`, category: 'home' };
    // `page` (not home: no brand story) is the field at which the table fills, `category` the next string.
    assert.deepEqual(fast.decide('home_hero', context, t), checked.__decideChecked('home_hero', context, t), `call ${i}`);
  }
});

// Mutation: `free()` keeps the model's names and the last context's and event's values.
test('a freed engine keeps none of the values it was given', () => {
  const e = new Engine(snapshot(), '00000000000000c7');
  e.setConsent(true, T0);
  e.decide('home_hero', { page: 'secret-page' }, T0);
  e.free();
  assert.equal(e.__model, undefined);
  assert.equal(e.__strings, undefined);
});

// Mutation: pkg/sync.js sends a stored ETag whatever version it was stored for; a 304 to it would
// keep an older model running as if it were current.
test('the stored ETag of a version that does not run is not sent at the first check', async () => {
  const brand = makeBrand();
  const map = new Map();
  const store = new SafeStore({ get: (k) => map.get(k) ?? null, set: (k, v) => map.set(k, v) });
  store.saveSnapshot(brand.snapshot(1));
  // The ETag of version 2 was stored, but its snapshot write failed: version 1 runs.
  store.save('etag', Uint8Array.from('2 "v2tag"', (c) => c.charCodeAt(0)));
  const headers = [];
  const transport = { get: (req) => { headers.push(req.headers); return Promise.resolve({ status: 304, headers: {}, body: '' }); } };
  const timers = { setTimeout: () => 0, clearTimeout: () => {} };
  const s = sync({ url: 'https://kairos.test', publicKey: brand.publicKey, store, transport, push: 'none', timers });
  assert.equal(s.engine.modelVersion, 1);
  await s.check();
  s.stop();
  assert.equal(headers.length, 1);
  assert.equal(headers[0]['If-None-Match'], undefined, 'a 304 to this would keep version 1 running as if current');
});

// Mutation: crates/wasm does not empty the module's own string table at `forget`, a consent change
// or an event without consent (fast.test.mjs looks at the package's indices, `__strings`, alone).
test("the module's string table is empty after forget, a consent change and an event without consent", () => {
  for (const [what, step] of [['forget', (e) => e.forget('00000000000000d2')], ['consent withdrawn', (e) => e.setConsent(false)],
    ['consent given', (e) => e.setConsent(true)],
    ['an event without consent', (e) => assert.equal(e.track({ type: 'follow', channel: 'weibo' }, T0 + 1500), 'no_consent')]]) {
    const e = new Engine(snapshot(), '00000000000000d1');
    e.setConsent(what === 'forget' || what === 'consent withdrawn');
    e.track({ type: 'purchase', order: `ORDER-${what}`, amount: 399 }, T0);
    e.decide('home_hero', { page: `page-secret-of-${what}` }, T0 + 1000);
    step(e);
    assert.equal(e.__intern('the first string after'), 0, `${what}: the table starts over`);
    e.free();
  }
});

// Mutation: crates/wasm's checked `track` reports a `type` that is not a string as a missing one
// (errors.test.mjs checks only the code of `{ type: 5 }`).
test('an event whose type is not a string is refused for that, not as one without a type', () => {
  const e = new Engine(snapshot(), '00000000000000c7');
  for (const type of [5, true, { name: 'view' }]) {
    assert.throws(() => e.track({ type }, T0), (err) => err.code === 'EVENT_INVALID'
      && /event\.type/.test(err.message) && /a string/.test(err.message) && !/has no `type`/.test(err.message), String(type));
  }
});

// Mutation: pkg/sync.js's `adopt` saves a new snapshot without keeping the copy the engine runs. It
// must be written beside that copy, never over it, even when a newer record in the other slot is
// one this engine cannot verify (another tab's, another key's).
test('an update whose write is torn keeps the stored copy the engine ran, behind a newer foreign record', async () => {
  const brand = makeBrand();
  const other = makeBrand();
  const map = new Map();
  let torn = false;
  const backend = { get: (k) => map.get(k) ?? null, set: (k, v) => map.set(k, torn ? v.slice(0, 40) : v) };
  const store = new SafeStore(backend);
  store.saveSnapshot(brand.snapshot(1));
  const never = { get: () => new Promise(() => {}) };
  const timers = { setTimeout: () => 0, clearTimeout: () => {} };
  const start = () => sync({ url: 'https://kairos.test', publicKey: brand.publicKey, store, transport: never, push: 'none', timers });
  const s = start();
  assert.equal(s.engine.modelVersion, 1);
  new SafeStore(backend).saveSnapshot(other.snapshot(5)); // newer record, not verifiable with this brand's key
  torn = true;
  s.apply(brand.snapshot(2)); // the write is torn
  torn = false;
  s.stop();
  const again = start();
  assert.ok(again.engine, 'a stored snapshot still starts the engine');
  assert.equal(again.engine.modelVersion, 1);
  again.stop();
});
