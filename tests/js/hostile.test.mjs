// Hostile time and a long hostile run through the package's public API (issue #6 §3): a clock that
// goes backwards, events far in the future and the past, `now` that is not a usable time, then
// thousands of events with hostile fields. Every call either gives a KairosError with a stable code
// or is accepted under the rules written in docs/robustness.md, and the engine keeps deciding with
// bounded state and outbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, snapshot } from './load.mjs';

const NOW = Date.parse('2026-11-20T14:20:00+08:00');
const DAY = 86_400_000;
/** The range of a JavaScript `Date`, which the engine takes `now` from (src/engine/host.rs). */
const MAX_TIME = 8.64e15;
const REASONS = ['chosen', 'no_consent', 'no_offers', 'not_eligible', 'capped', 'quiet_hours', 'control_group'];
/** OUTBOX_CAPACITY in src/outbox.rs. */
const OUTBOX_CAPACITY = 256;
/** The bound tests/bounded_memory.rs holds exported state to. */
const MAX_STATE_BYTES = 96 * 1024;

function fresh(id = '00000000000000c1') {
  const e = new Engine(snapshot(), id);
  e.setConsent(true);
  e.track({ type: 'follow', channel: 'wechat_oa' }, NOW);
  return e;
}

/** A decision that is well formed. */
function decides(e, now, placement = 'home_hero') {
  const d = e.decide(placement, { page: 'home' }, now);
  assert.equal(d.placement, placement);
  assert.ok(REASONS.includes(d.reason), `reason ${d.reason}`);
  assert.ok(Array.isArray(d.items));
  return d;
}

/** `f` throws a KairosError with `code`. */
function throwsCode(code, f) {
  assert.throws(f, (e) => e instanceof Error && e.name === 'KairosError' && e.code === code, `expected ${code}`);
}

test('`now` that is not a time in the range of a Date is TIME_INVALID for every method, and changes nothing', () => {
  const e = fresh();
  const before = e.exportState();
  const token = 'kt1.e30.AAAA';
  for (const now of [NaN, Infinity, -Infinity, MAX_TIME + 1, -MAX_TIME - 1, 1e300, -1e300, Number.MAX_VALUE, 'soon', '123', {}, [], true, 10n]) {
    throwsCode('TIME_INVALID', () => e.track({ type: 'view', category: 'qipao' }, now));
    throwsCode('TIME_INVALID', () => e.decide('home_hero', { page: 'home' }, now));
    throwsCode('TIME_INVALID', () => e.segments(null, now));
    throwsCode('TIME_INVALID', () => e.scores(null, now));
    throwsCode('TIME_INVALID', () => e.explain('welcome_story', null, now));
    throwsCode('TIME_INVALID', () => e.features(now));
    throwsCode('TIME_INVALID', () => e.setTraits({ hipo: true }, now));
    throwsCode('TIME_INVALID', () => e.setTraitsToken(token, now));
    throwsCode('TIME_INVALID', () => e.forget('00000000000000c2', now));
  }
  assert.deepEqual(e.exportState(), before, 'refused calls left the state as it was');
  assert.equal(e.consent, true, 'forget with a bad time did not wipe the profile');
  assert.equal(decides(e, NOW + 1000).reason, 'chosen');
});

test('`now` at the ends of the range, negative, and fractional is accepted (fractions dropped)', () => {
  const e = fresh();
  for (const now of [MAX_TIME, -MAX_TIME, -1, 0, -0, 0.5, NOW + 0.999]) {
    assert.equal(e.track({ type: 'view', category: 'qipao', product: 'p1' }, now), 'recorded');
    decides(e, now);
    assert.equal(typeof e.features(now).views_7d, 'number');
    assert.ok(Array.isArray(e.segments(null, now)));
  }
  const other = fresh();
  other.track({ type: 'view', category: 'qipao' }, NOW + 0.9);
  const again = fresh();
  again.track({ type: 'view', category: 'qipao' }, NOW);
  assert.deepEqual(other.exportState(), again.exportState(), 'NOW + 0.9 is NOW');
});

test('a clock that goes backwards: accepted; an event dated after `now` counts from its day', () => {
  const e = fresh();
  e.track({ type: 'view', category: 'qipao', product: 'a' }, NOW);
  // The device clock jumps two days ahead, then back.
  e.track({ type: 'view', category: 'qipao', product: 'b' }, NOW + 2 * DAY);
  decides(e, NOW + 2 * DAY);
  for (let back = 1; back <= 30; back++) {
    assert.equal(e.track({ type: 'view', category: 'dress', product: `c${back}` }, NOW + 2 * DAY - back * 3_600_000), 'recorded');
    decides(e, NOW + 2 * DAY - back * 3_600_000, back % 2 ? 'home_offers' : 'home_hero');
  }
  // Read at NOW: the view dated NOW + 2 days does not count yet; read two days later it does.
  const atNow = e.features(NOW).views_7d;
  const later = e.features(NOW + 2 * DAY).views_7d;
  assert.ok(later > atNow, `views_7d at NOW ${atNow}, two days later ${later}`);
  // Decisions while the clock runs backwards, then normally again.
  let t = NOW + 2 * DAY;
  for (let i = 0; i < 50; i++) {
    t -= 7 * 60_000;
    decides(e, t, i % 2 ? 'home_offers' : 'home_hero');
  }
  assert.equal(e.outbox().length <= OUTBOX_CAPACITY, true);
  const exported = e.exportState();
  const copy = new Engine(snapshot(), '00000000000000c1');
  copy.importState(exported);
  assert.deepEqual(copy.features(NOW), e.features(NOW), 'state after the jumps imports');
  decides(e, NOW + 3 * DAY);
});

test('events far in the future and far in the past: accepted, the engine keeps deciding', () => {
  for (const far of [MAX_TIME, NOW + 300 * 365 * DAY, -MAX_TIME, 0, NOW - 100 * 365 * DAY]) {
    const e = fresh();
    e.track({ type: 'view', category: 'qipao', product: 'x' }, NOW);
    e.track({ type: 'purchase', order: 'o1', amount: 10 }, NOW);
    assert.equal(e.track({ type: 'view', category: 'qipao', product: 'far' }, far), 'recorded');
    assert.equal(e.track({ type: 'purchase', order: 'o2', amount: 5 }, far), 'recorded');
    decides(e, far);
    decides(e, NOW + 1000);
    const f = e.features(NOW);
    assert.ok(f.purchases >= 1, `all-time purchases at NOW after an event at ${far}: ${f.purchases}`);
    if (far > NOW + 7 * DAY) {
      // As documented (src/profile/window.rs): a clock far ahead drops a window's data, as if
      // that time had passed; the all-time count keeps what was folded.
      assert.equal(f.views_7d, 0, 'the 7-day window was dropped by the far-future event');
    } else {
      assert.ok(f.views_7d >= 1, `an event in the past does not drop the window (${far})`);
    }
    assert.ok(e.exportState().length < MAX_STATE_BYTES);
    const copy = new Engine(snapshot(), '00000000000000c1');
    copy.importState(e.exportState());
    decides(copy, NOW + 2000);
  }
});

test('a long hostile run keeps state and outbox bounded, and the engine deciding', () => {
  let seed = 0x5eed;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const huge = 'h'.repeat(900);
  const hostileString = () => pick([
    `p${Math.floor(rnd() * 1e6)}`, `p${Math.floor(rnd() * 1e6)}`, '', ' ', huge + Math.floor(rnd() * 1e6),
    '\uD800', '😀'.repeat(200), 'x'.repeat(5000), null, undefined, 'qipao', 'dress',
  ]);
  const hostileNumber = () => pick([0, -0, -1, 1e308, -1e308, 5e-324, rnd() * 1000, NaN, Infinity, '12', null, 2 ** 53 + 1]);
  const e = fresh();
  let t = NOW;
  let refused = 0;
  let decisions = 0;
  let last = null;
  const EVENTS = 12000;
  for (let i = 1; i <= EVENTS; i++) {
    // Mostly forward, sometimes back up to 30 days, sometimes far ahead or behind (then back).
    const r = rnd();
    t = r < 0.7 ? t + Math.floor(rnd() * 3_600_000) : r < 0.9 ? t - Math.floor(rnd() * 30 * DAY) : r < 0.95 ? NOW : t;
    const now = rnd() < 0.002 ? pick([MAX_TIME, -MAX_TIME, NOW + 1000 * 365 * DAY]) : t;
    const type = pick(['view', 'view', 'view', 'cart', 'purchase', 'follow', 'signup', 'referral', 'nope', 5]);
    const event = { type, category: hostileString(), product: hostileString(), price: hostileNumber(),
      order: hostileString(), amount: hostileNumber(), channel: hostileString(), [`k${i % 97}`]: huge };
    try {
      assert.equal(e.track(event, now), 'recorded');
    } catch (err) {
      assert.equal(err.code, 'EVENT_INVALID', err.message);
      refused++;
    }
    if (i % 3 === 0) {
      last = decides(e, now, pick(['home_hero', 'home_offers', 'pdp_offer', 'cart_banner']));
      decisions++;
    }
    if (i % 7 === 0 && last) {
      // `refresh` of a decision changed in every way a page could get wrong.
      const item = () => pick([last.items[0], { offer: hostileString(), variant: hostileString(), control: pick([true, 1, 'yes']) },
        { ...last.items[0], offer: 'join_discount', variant: 7 }, null, 5]);
      const shown = pick([last, { ...last, items: Array.from({ length: pick([0, 1, 2, 3, 9, 10000]) }, item) },
        { ...last, id: pick(['ffffffffffffffff', '0000000000000000', 'FFFF', 12, null]) },
        { ...last, placement: hostileString() }, { ...last, items: hostileString() }, null, 'home_hero']);
      try {
        const d = e.refresh(shown, { page: hostileString(), product: hostileString() }, now);
        assert.equal(typeof d.id, 'string');
      } catch (err) {
        assert.ok(['ARGUMENT_INVALID', 'PLACEMENT_UNKNOWN', 'CONTEXT_INVALID', 'TIME_INVALID'].includes(err.code), `${err.code}: ${err.message}`);
      }
    }
    if (i % 97 === 0) {
      try { e.identify(pick(['email', 'external', 'phone']), `${hostileString()}@x.cn`); } catch (err) { assert.equal(err.code, 'IDENTITY_INVALID'); }
      const traits = { tier: hostileString(), crm_segments: [hostileString()] };
      try { e.setTraits(traits, now + DAY); } catch (err) { assert.equal(err.code, 'TRAITS_INVALID'); }
    }
    if (i % 2000 === 0 || i === EVENTS) {
      const out = e.outbox();
      assert.ok(out.length <= OUTBOX_CAPACITY, `outbox ${out.length}`);
      const state = e.exportState();
      assert.ok(state.length <= MAX_STATE_BYTES, `state ${state.length} bytes after ${i} events`);
      const copy = new Engine(snapshot(), '00000000000000c1');
      copy.importState(state);
    }
    if (i % 5000 === 0) assert.ok(e.drainOutbox().length <= OUTBOX_CAPACITY);
  }
  const products = e.features(t).products_viewed_30d;
  assert.ok(products <= 64, `distinct products ${products} (max 64)`);
  assert.ok(refused > 0 && refused < EVENTS, `${refused} events refused`);
  const d = decides(e, NOW + 1000);
  assert.ok(decisions > 3000 && d.id.length === 16);
  console.log(`hostile run: ${EVENTS} events (${refused} refused), ${decisions} decisions, state ${e.exportState().length} bytes`);
});

// Found by the hostile run: string traits of 257 to 1,024 bytes were accepted, then the exported
// state was refused by `importState` (stored state holds trait strings of at most 256 bytes), and a
// host that stores and reloads it lost the whole profile. They are now refused when set.
test('a trait accepted by setTraits survives exportState/importState', () => {
  for (const tier of ['g'.repeat(256), 'g'.repeat(257), 'g'.repeat(1024), '😀'.repeat(64), '😀'.repeat(65)]) {
    const e = fresh();
    let accepted = true;
    try { e.setTraits({ tier }, NOW + DAY); } catch (err) { assert.equal(err.code, 'TRAITS_INVALID'); accepted = false; }
    assert.equal(accepted, new TextEncoder().encode(tier).length <= 256, `${tier.length} UTF-16 units`);
    if (!accepted) continue;
    const copy = new Engine(snapshot(), '00000000000000c1');
    copy.importState(e.exportState());
    // The trait came back with the rest (test audit: an import that dropped it passed).
    assert.deepEqual(copy.exportState(), e.exportState(), `${tier.length} UTF-16 units`);
  }
});

// Found by fuzzing the package: `fromSignedSnapshot` read the `length` of a public-key array
// unchecked, so an array proxy whose `length` throws sent the caller's own error through the
// module, past the glue's release of the call's argument slots; the 256th such call trapped the
// module ("table index is out of bounds") for every engine on the page. A `length` that changed
// between its two reads (16, then 2^32 - 1) looped four billion times. It is now read once,
// through `Reflect`, and an unreadable one is KEY_INVALID.
test('public keys in an array whose length throws or changes: KEY_INVALID, the module keeps working', () => {
  const e = fresh();
  const key = 'kairos-ed25519-public:ZcwN7QabReQJcC93hsSwn37nDxegjk9D_BFAVAvoPEA';
  const throwing = new Proxy([key], {
    get(t, k, r) {
      if (k === 'length') throw new Error('length trap');
      return Reflect.get(t, k, r);
    },
  });
  for (let i = 0; i < 2000; i++) {
    throwsCode('KEY_INVALID', () => Engine.fromSignedSnapshot(snapshot(), throwing));
  }
  let reads = 0;
  const growing = new Proxy([key], {
    get(t, k, r) {
      if (k === 'length') return reads++ === 0 ? 1 : 2 ** 32 - 1;
      return Reflect.get(t, k, r);
    },
  });
  // One read: the list has one key, which does not sign the (unsigned) snapshot.
  throwsCode('SNAPSHOT_SIGNATURE', () => Engine.fromSignedSnapshot(snapshot(), growing));
  assert.equal(reads, 1);
  decides(e, NOW + 1000);
  decides(fresh('00000000000000c2'), NOW + 1000);
});

// Found by fuzzing the package: the fast `track` read the event's `type` before marking the engine
// busy, so a `type` getter could free the engine (the call then reached the module with a null
// pointer: an Error without a code, after writing the event to the freed engine's buffer) or
// apply another model (the event was then read with the old model's layout). `type` is now read
// while busy, like every other field: such a getter gets ENGINE_BUSY, and the event is refused
// with it (the getter rethrew it: the caller sees why, not a made-up "event has no type").
test('a `type` getter that calls the same engine gets ENGINE_BUSY; the event is refused with it', () => {
  const e = fresh();
  for (const call of [() => e.free(), () => e.track({ type: 'view' }, NOW), () => e.setConsent(false)]) {
    let inner;
    const event = { get type() { try { call(); } catch (err) { inner = err; throw err; } return 'view'; }, category: 'qipao' };
    throwsCode('ENGINE_BUSY', () => e.track(event, NOW));
    assert.equal(inner?.code, 'ENGINE_BUSY');
  }
  assert.equal(e.consent, true);
  decides(e, NOW + 1000);
});
