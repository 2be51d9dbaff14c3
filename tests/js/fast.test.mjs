// The fast `decide` (pkg/fast.js: context read in JavaScript, strings by index, the decision as
// numbers) against the checked path it falls back to: two engines with the same install id and
// the same history must give identical decisions, or identical errors, call after call, for
// contexts of every shape, across a full string table and a model update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { snapshot, Engine, initSync } from './load.mjs';
import { KAIROS, modelAt } from './brand.mjs';

const T0 = Date.parse('2026-11-20T14:20:00+08:00');
const PLACEMENTS = ['home_hero', 'home_offers', 'pdp_offer', 'cart_banner'];

function pair() {
  const make = () => {
    const e = new Engine(snapshot(), '00000000000000c7');
    e.setConsent(true);
    for (let i = 0; i < 40; i++) {
      e.track({ type: 'view', category: i % 3 ? 'qipao' : 'shoes', product: `p${i % 7}`, price: 100 + i }, T0 - i * 3_600_000);
    }
    e.track({ type: 'cart', product: 'p1', price: 399 }, T0 - 1000);
    return e;
  };
  return [make(), make()];
}

/** Runs the fast and the checked call: both give the same result, or throw the same code and message. */
function agree(fastCall, checkedCall) {
  let a, b, ea, eb;
  try { a = fastCall(); } catch (e) { ea = e; }
  try { b = checkedCall(); } catch (e) { eb = e; }
  if (ea || eb) {
    assert.ok(ea && eb, `one path threw: ${ea?.message ?? eb?.message}`);
    assert.equal(ea.code, eb.code);
    assert.equal(ea.message, eb.message);
    return undefined;
  }
  assert.deepEqual(a, b);
  return a;
}

/** An object whose fields are getters counting their reads in `counts`; a value `'throws'` throws. */
function counting(fields, counts) {
  const obj = {};
  for (const [name, value] of fields) {
    Object.defineProperty(obj, name, {
      enumerable: true,
      get() {
        counts[name] = (counts[name] ?? 0) + 1;
        if (value === 'throws') throw new Error('getter');
        return value;
      },
    });
  }
  return obj;
}

/** `decide` on both paths (see `agree`). */
function same(fast, checked, placement, context, now) {
  return agree(() => fast.decide(placement, context, now), () => checked.__decideChecked(placement, context, now));
}

/** `track` on both paths (see `agree`). */
function sameTrack(fast, checked, event, now) {
  return agree(() => fast.track(event, now), () => checked.__trackChecked(event, now));
}

test('fast and checked decide agree on every kind of context', () => {
  const [fast, checked] = pair();
  const long = 'x'.repeat(300); // over the fast path's string limit, within the engine's
  const contexts = [
    undefined, null, {}, { page: 'home' }, { page: 'pdp', product: 'p1', category: 'qipao' },
    { page: 'home', channel: 'wechat', extra: [1, 2] }, { page: '首页' }, { page: long },
    { page: 'x'.repeat(2000) }, { page: 42 }, { page: true }, { page: ['a'] }, { page: NaN },
    { page: 'home', category: null }, { page: '\ud800' }, 'home', [1], 42,
    { get page() { throw new Error('getter'); } },
    new Proxy({}, { get: () => 'home' }), revoked(),
  ];
  let t = T0;
  for (let round = 0; round < 3; round++) {
    for (const context of contexts) {
      for (const placement of PLACEMENTS) {
        t += 61_000;
        same(fast, checked, placement, context, t);
      }
    }
  }
  // Unknown placements and bad times fail the same way.
  same(fast, checked, 'nowhere', {}, t + 1);
  same(fast, checked, 42, {}, t + 2);
  same(fast, checked, 'home_hero', {}, NaN);
  same(fast, checked, 'home_hero', {}, '2026');
  same(fast, checked, 'home_hero', {}, 9e15);
  // Decisions were really made on both (caps, exposures): the outboxes match too.
  assert.deepEqual(fast.drainOutbox(), checked.drainOutbox());
});

test('each getter of the context runs once, also when decide falls back to the checked path', () => {
  const [fast, checked] = pair();
  const long = 'x'.repeat(300);
  let t = T0;
  // Fields of the example model's context: page, then the others; the odd value stops the fast path.
  for (const odd of [long, NaN, ['a'], { nested: 1 }, 'throws', undefined]) {
    const counts = {};
    const make = () => counting([['page', 'home'], ['category', odd], ['product', 'p1'], ['channel', 'wechat']], counts);
    t += 61_000;
    same(fast, checked, 'home_hero', make(), t);
    // `same` read one context per path; reset and count the fast engine's reads alone.
    for (const k of Object.keys(counts)) delete counts[k];
    try { fast.decide('home_hero', make(), t + 1); } catch { /* the same error as the checked path */ }
    for (const [name, n] of Object.entries(counts)) assert.equal(n, 1, `${name} read ${n} times with ${String(odd)}`);
    assert.equal(counts.page, 1);
    // Keep the two engines' histories equal for the next round.
    try { checked.__decideChecked('home_hero', make(), t + 1); } catch { /* as above */ }
  }
});

test('the string table starts over when full, and decisions stay the same', () => {
  const [fast, checked] = pair();
  let t = T0;
  for (let i = 0; i < 5000; i++) {
    t += 60_000;
    const context = { page: i % 10 === 0 ? 'home' : `page-${i}`, product: `p${i % 7}` };
    const d = same(fast, checked, PLACEMENTS[i % 4], context, t);
    assert.ok(d, 'a decision');
  }
});

test('a string table that fills up in the middle of a context keeps the fields read before', () => {
  // `page` is interned first and keeps its index; the table fills up on a later `category`.
  // Starting over there must not leave `page` pointing at an index of the old table.
  const [fast, checked] = pair();
  let t = T0;
  for (let i = 0; i < 4200; i++) {
    t += 60_000;
    const d = same(fast, checked, 'home_hero', { page: 'home', category: `c${i}` }, t);
    assert.equal(d.items[0]?.offer, 'brand_story', `call ${i}: page is still 'home'`);
  }
});

test('decisions stay right when the module memory grows between and during calls', () => {
  // The fast path writes its input into the module's memory and reads the decision from it; a
  // grown memory detaches the old views, which must be made again.
  const [fast, checked] = pair();
  const { memory } = initSync(); // the module's exports, as it was started
  const start = memory.buffer.byteLength;
  let t = T0;
  for (let i = 0; i < 3000; i++) {
    t += 60_000;
    const long = `${i}-`.padEnd(250, 'x'); // new strings of 250 characters: the table grows the memory
    same(fast, checked, PLACEMENTS[i % 4], { page: i % 2 ? 'home' : long, category: long }, t);
  }
  assert.ok(memory.buffer.byteLength > start, `memory grew (${start} -> ${memory.buffer.byteLength} bytes)`);
});

test('fast and checked track agree on every kind of event, and so do the profiles they build', () => {
  const [fast, checked] = pair();
  const long = 'x'.repeat(300);
  const events = [
    { type: 'view', category: 'qipao', product: 'p1', price: 399 }, { type: 'view' }, { type: 'cart', product: 'p2', price: 0 },
    { type: 'purchase', order: 'o-1', amount: 1299.5 }, { type: 'follow', channel: 'wechat_oa' },
    { type: 'view', category: long }, { type: 'view', category: 'x'.repeat(2000) }, { type: 'view', price: NaN },
    { type: 'view', price: '399' }, { type: 'view', category: ['a'] }, { type: 'view', category: null, price: undefined },
    { type: 'view', extra: { deep: 1 } }, { type: '未知事件' }, { type: 42 }, {}, { type: 'view', category: '\ud800' },
    { get type() { throw new Error('getter'); } }, { type: 'view', get price() { throw new Error('getter'); } },
    new Proxy({}, { get: (_, k) => (k === 'type' ? 'view' : 'qipao') }), revoked(), 'view', [1], 42, null, undefined,
    Object.create({ type: 'view', category: 'inherited' }),
  ];
  let t = T0;
  for (let round = 0; round < 3; round++) {
    for (const event of events) {
      t += 61_000;
      sameTrack(fast, checked, event, t);
    }
  }
  sameTrack(fast, checked, { type: 'view' }, NaN);
  sameTrack(fast, checked, { type: 'view' }, '2026');
  // Same history on both: same features, stage, decisions and exported state.
  assert.deepEqual(fast.features(t), checked.features(t));
  assert.equal(fast.stage(), checked.stage());
  same(fast, checked, 'home_hero', { page: 'home' }, t + 1);
  assert.deepEqual(fast.exportState(), checked.exportState());
  // Without consent both keep nothing.
  fast.setConsent(false);
  checked.setConsent(false);
  assert.equal(sameTrack(fast, checked, { type: 'view', category: 'qipao' }, t + 2), 'no_consent');
});

test('each getter of an event runs once, also when track falls back to the checked path', () => {
  const [fast] = pair();
  for (const odd of ['x'.repeat(300), NaN, ['a'], 'throws', undefined, 'qipao']) {
    const counts = {};
    const event = counting([['type', 'view'], ['category', odd], ['product', 'p1'], ['price', 399]], counts);
    try { fast.track(event, T0 + 1); } catch { /* the checked path's error */ }
    for (const [name, n] of Object.entries(counts)) assert.equal(n, 1, `${name} read ${n} times with ${String(odd)}`);
    assert.equal(counts.type, 1);
  }
});

test('the fast path reads the new model after applySnapshot', () => {
  const [fast, checked] = pair();
  same(fast, checked, 'home_hero', { page: 'home' }, T0 + 60_000);
  // A rejected snapshot (not newer) keeps the model; both paths still agree.
  assert.throws(() => fast.applySnapshot(snapshot()), (e) => e.code === 'SNAPSHOT_NOT_NEWER');
  assert.throws(() => checked.applySnapshot(snapshot()), (e) => e.code === 'SNAPSHOT_NOT_NEWER');
  same(fast, checked, 'home_hero', { page: 'home' }, T0 + 120_000);
  // Version 2 adds a placement first and a context field first: indices and names all move.
  const v2 = compiled(modelAt(2, (m) => ({
    ...m,
    context: { tier: 'string', ...m.context },
    placements: { splash: { max_items: 1, fallback: { title: 'Splash' } }, ...m.placements },
    offers: m.offers.map((o) => (o.id === 'brand_story' ? { ...o, placements: ['splash', 'home_hero'] } : o)),
  })));
  fast.applySnapshot(v2);
  checked.applySnapshot(v2);
  for (const placement of ['splash', ...PLACEMENTS]) {
    const d = same(fast, checked, placement, { page: 'home', tier: 'gold' }, T0 + 180_000);
    assert.equal(d.placement, placement);
  }
  assert.equal(fast.decide('splash', { page: 'home' }, T0 + 240_000).items[0].offer, 'brand_story');
});

/** `segments` on both paths (see `agree`). */
function sameSegments(fast, checked, context, now) {
  return agree(() => fast.segments(context, now), () => checked.__segmentsChecked(context, now));
}

test('fast and checked segments agree on every kind of context, after each track, and after a model change', () => {
  const [fast, checked] = pair();
  const contexts = [
    undefined, null, {}, { page: 'home' }, { page: 'pdp', product: 'p1', category: 'qipao' }, { page: 42 },
    { page: NaN }, { page: 'x'.repeat(300) }, { page: ['a'] }, 'home', { get page() { throw new Error('getter'); } },
    revoked(),
  ];
  for (const context of contexts) sameSegments(fast, checked, context, T0 + 1000);
  for (const now of [NaN, '2026', 9e15]) sameSegments(fast, checked, {}, now);
  // Each call evaluates the rules on the profile and time of that call: segments come and go.
  const seen = new Set();
  const events = [{ type: 'follow', channel: 'wechat' }, { type: 'referral', channel: 'wechat' },
    { type: 'purchase', order: 'o1', amount: 99 }];
  let t = T0;
  for (const event of events) {
    t += 60_000;
    sameTrack(fast, checked, event, t);
    seen.add(sameSegments(fast, checked, { page: 'home' }, t + 1).join());
  }
  // A day later `new_follower` is gone; the no-consent engine is in none.
  seen.add(sameSegments(fast, checked, null, t + 86_400_000).join());
  assert.ok(seen.size >= 3, [...seen].join(' | '));
  fast.setConsent(false);
  checked.setConsent(false);
  assert.deepEqual(sameSegments(fast, checked, null, t + 2), []);
  fast.setConsent(true);
  checked.setConsent(true);
  fast.setTraits({ hipo: true, tier: 'gold' });
  checked.setTraits({ hipo: true, tier: 'gold' });
  assert.deepEqual(sameSegments(fast, checked, {}, t + 3), ['member', 'hipo']);
  // Version 2 adds a segment first and a context field it reads: indices and names all move.
  const v2 = compiled(modelAt(2, (m) => ({
    ...m,
    context: { tier: 'string', ...m.context },
    segments: { gold_page: { '==': [{ var: 'context.tier' }, 'gold'] }, ...m.segments },
  })));
  fast.applySnapshot(v2);
  checked.applySnapshot(v2);
  assert.deepEqual(sameSegments(fast, checked, { tier: 'gold' }, t + 4), ['gold_page', 'member', 'hipo']);
  assert.deepEqual(sameSegments(fast, checked, { tier: 'silver' }, t + 5), ['member', 'hipo']);
});

/** A model compiled by the kairos command (unsigned). */
function compiled(model) {
  const dir = mkdtempSync(join(tmpdir(), 'kairos-fast-'));
  writeFileSync(join(dir, 'model.json'), JSON.stringify(model));
  execFileSync(KAIROS, ['compile', join(dir, 'model.json'), '-o', join(dir, 'model.kairos')]);
  return new Uint8Array(readFileSync(join(dir, 'model.kairos')));
}

function revoked() {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}
