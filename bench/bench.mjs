// Node benchmarks of the package in pkg/ (not tests): median and p99 in µs of `decide` and `track`
// including the JS-Wasm boundary, cold start, on the example model and the large generated model;
// then json-logic-engine (compiled), json-logic-js and GrowthBook on the same segment rules, per
// call and as throughput (batches of calls timed whole, so the timer's own cost does not count).
// Run: make bench-js (builds pkg/ and the snapshots first).
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initSync, Engine } from '../pkg/index.js';
import jsonLogic from 'json-logic-js';
import { LogicEngine } from 'json-logic-engine';
import { evalCondition } from '@growthbook/growthbook';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wasmBytes = readFileSync(join(root, 'pkg', 'kairos_wasm_bg.wasm'));
const N = Number(process.env.BENCH_N ?? 20000);
/** Throughput: calls per timed batch, and batches per benchmark. */
const BATCH = 1000;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 300);

function stats(samples) {
  const s = Float64Array.from(samples).sort();
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p99: at(0.99) };
}

/** Times `f` per call (ns resolution), after a warm-up; returns µs. */
function measure(f, n = N) {
  for (let i = 0; i < Math.min(n, 2000); i++) f(i);
  const samples = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    f(i);
    samples[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  return stats(samples);
}

/**
 * Throughput of each of `benches` (`[name, f]`, `f(i)` returning a number): `BATCHES` batches of
 * `BATCH` calls, each batch timed as a whole, after a warm-up; ns per call of the median batch.
 * The benchmarks take turns batch by batch, so a change of load on a shared machine hits all
 * alike. Each gets a loop of its own (compiled apart: one benchmark's call site does not slow
 * another's), and the results are summed so no call can be dropped as dead code.
 */
function throughput(benches) {
  const runs = benches.map(([name, f]) => ({
    name,
    f,
    loop: new Function('f', 'n', 'base', 'let s = 0; for (let i = 0; i < n; i++) s += f(base + i); return s;'),
    ns: [],
  }));
  let sink = 0;
  for (let k = 0; k < BATCHES + 20; k++) {
    for (const r of runs) {
      const t = process.hrtime.bigint();
      sink += r.loop(r.f, BATCH, k * BATCH);
      const ns = Number(process.hrtime.bigint() - t) / BATCH;
      if (k >= 20) r.ns.push(ns); // the first 20 batches warm up
    }
  }
  if (Number.isNaN(sink)) throw new Error('no result');
  return runs.map((r) => ({ name: r.name, ns: stats(r.ns).median }));
}

const rows = [];
const row = (name, s) => rows.push({ name, median: s.median.toFixed(2), p99: s.p99.toFixed(2) });

// Cold start: compile + instantiate the module (each time fresh), and an engine from a snapshot.
const compile = [];
for (let i = 0; i < 10; i++) {
  const t = performance.now();
  new WebAssembly.Module(wasmBytes);
  compile.push((performance.now() - t) * 1000);
}
const t0 = performance.now();
initSync({ module: wasmBytes });
const initUs = (performance.now() - t0) * 1000;

const now0 = Date.parse('2026-11-20T14:20:00+08:00');
for (const [label, file] of [['example', 'taste-of-su.kairos'], ['large', 'large.kairos']]) {
  const snap = new Uint8Array(readFileSync(join(root, 'target', file)));
  row(`${label}: new Engine(snapshot) (${snap.length} B)`, measure(() => new Engine(snap, '00000000000000b2').free(), 200));
  const model = label === 'example'
    ? JSON.parse(readFileSync(join(root, 'examples', 'taste-of-su', 'model.json'), 'utf8'))
    : JSON.parse(readFileSync(join(root, 'target', 'large-model.json'), 'utf8'));
  const placements = Object.keys(model.placements);
  const e = new Engine(snap, '00000000000000b2');
  e.setConsent(true);
  let now = now0;
  const view = { type: 'view', category: 'qipao', product: 'p1', price: 399 };
  for (let i = 0; i < 500; i++) e.track({ type: 'view', category: i % 3 ? 'qipao' : 'shoes', product: `p${i % 50}`, price: 100 + i }, now0 - i * 3600_000);
  row(`${label}: track a view`, measure((i) => e.track(view, now + i)));
  const ctx = { page: 'home' };
  row(`${label}: decide ${placements[0]}`, measure((i) => e.decide(placements[0], ctx, now + 1e6 + i * 60_000)));
  row(`${label}: decide, placements in turn`, measure((i) => e.decide(placements[i % placements.length], ctx, now + 2e9 + i * 60_000)));
  row(`${label}: segments()`, measure((i) => e.segments(ctx, now + 3e9 + i)));
  // A page view as a storefront makes it: the event, then the decision (the event changed the
  // profile, so the stage is evaluated again: the stage memo helps only the decisions after it).
  row(`${label}: a page view: track a view, then decide ${placements[0]}`, measure((i) => {
    e.track(view, now + 4e9 + i * 60_000);
    return e.decide(placements[0], ctx, now + 4e9 + i * 60_000);
  }));
  e.drainOutbox();
}

// Peers on the same segment rules (the plain-JsonLogic segments of the example model, with the
// data a peer would need precomputed: traits and feature counts).
const m = JSON.parse(readFileSync(join(root, 'examples', 'taste-of-su', 'model.json'), 'utf8'));
const rules = { hipo: m.segments.hipo, qipao_fan: m.segments.qipao_fan, referrer: m.segments.referrer };
const data = { traits: { hipo: false, crm_segments: ['vip', 'hipo'], tier: 'gold' }, features: { qipao_views_7d: 4, referrals: 0 } };
const gb = {
  hipo: { $or: [{ 'traits.hipo': true }, { 'traits.crm_segments': { $elemMatch: { $eq: 'hipo' } } }] },
  qipao_fan: { 'features.qipao_views_7d': { $gte: 3 } },
  referrer: { 'features.referrals': { $gte: 1 } },
};
const engine = new LogicEngine();
const compiled = Object.values(rules).map((r) => engine.build(r));
const names = Object.keys(rules);
const expect = names.map((n) => jsonLogic.apply(rules[n], data));
if (compiled.map((f) => Boolean(f(data))).join() !== expect.map(Boolean).join()) throw new Error('json-logic-engine disagrees');
if (names.map((n) => evalCondition(data, gb[n])).join() !== expect.map(Boolean).join()) throw new Error('growthbook disagrees');
row('json-logic-engine (compiled): 3 segment rules', measure(() => { for (const f of compiled) f(data); }));
row('json-logic-js: 3 segment rules', measure(() => { for (const n of names) jsonLogic.apply(rules[n], data); }));
row('@growthbook/growthbook evalCondition: 3 rules', measure(() => { for (const n of names) evalCondition(data, gb[n]); }));
// For throughput each peer gives what `segments()` gives: the names of the segments matched (a
// function of its own per peer, so no call site is shared between peers).
const jleMatch = () => {
  const out = [];
  for (let j = 0; j < names.length; j++) if (compiled[j](data)) out.push(names[j]);
  return out.length;
};
const jlMatch = () => {
  const out = [];
  for (let j = 0; j < names.length; j++) if (jsonLogic.truthy(jsonLogic.apply(rules[names[j]], data))) out.push(names[j]);
  return out.length;
};
const gbMatch = () => {
  const out = [];
  for (let j = 0; j < names.length; j++) if (evalCondition(data, gb[names[j]])) out.push(names[j]);
  return out.length;
};
const seg = new Engine(new Uint8Array(readFileSync(join(root, 'target', 'taste-of-su.kairos'))), '00000000000000b2');
seg.setConsent(true);
seg.setTraits({ hipo: false, crm_segments: ['vip', 'hipo'], tier: 'gold' });
row('kairos segments(): all 8 segment rules incl. time-relative', measure((i) => seg.segments(null, now0 + i)));
// The same 3 rules alone (bench/segments-model.json), over a profile holding the same data: the
// traits, and 4 qipao views in the last 7 days from which the engine computes the feature.
const three = new Engine(new Uint8Array(readFileSync(join(root, 'target', 'segments3.kairos'))), '00000000000000b2');
three.setConsent(true);
three.setTraits(data.traits);
for (let i = 0; i < data.features.qipao_views_7d; i++) three.track({ type: 'view', category: 'qipao' }, now0 - (i + 1) * 3600_000);
const want = names.filter((n, i) => expect[i]).join();
if (three.segments(null, now0).join() !== want) throw new Error(`kairos disagrees: ${three.segments(null, now0)} vs ${want}`);
row('kairos segments(): the same 3 segment rules', measure((i) => three.segments(null, now0 + i)));
// `now` moves on by 1 ms per call: every call evaluates the rules (features, time) afresh. All
// the calls fall inside the 7-day window of the 4 views, so kairos matches what the peers match
// (checked at both ends of the run): the same work.
const lastCall = (BATCHES + 20) * BATCH;
for (const t of [now0, now0 + lastCall]) {
  if (three.segments(null, t).join() !== want) throw new Error(`kairos disagrees at ${t}: ${three.segments(null, t)} vs ${want}`);
}
// Where a Kairos call's time goes: the same call on an engine without consent (the package's and
// the module's work per call, no rule evaluated), and an empty Wasm export taking what the fast
// path's export takes (two i32 and an f64): the JS-Wasm crossing alone. A module of 37 bytes,
// written out: type (i32, i32, f64) -> i32, one function returning its first argument, exported
// as `f`.
const idle = new Engine(new Uint8Array(readFileSync(join(root, 'target', 'segments3.kairos'))), '00000000000000b2');
if (idle.segments(null, now0).length !== 0) throw new Error('an engine without consent is in segments');
const empty = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 127, 127, 124, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0,
  10, 6, 1, 4, 0, 32, 0, 11,
]))).exports.f;
const tput = throughput([
  ['kairos `segments(null, now)`: the 3 rules, features computed from the profile', (i) => three.segments(null, now0 + i).length],
  ['json-logic-engine (compiled), features given', jleMatch],
  ['json-logic-js `apply`, features given', jlMatch],
  ['@growthbook/growthbook `evalCondition`, features given', gbMatch],
  ['kairos `segments(null, now)` without consent: the cost per call around the rules (none evaluated)', (i) => idle.segments(null, now0 + i).length],
  ['an empty Wasm export with the fast path\'s arguments: the JS-Wasm crossing alone', (i) => empty(i & 1, 2, now0 + i)],
]);
const floor = measure(() => {});

console.log(`node ${process.version}, N=${N}; µs per call including the JS-Wasm boundary`);
console.log(`cold start: WebAssembly.Module (V8 compiles lazily) ${stats(compile).median.toFixed(0)} µs (median of 10), initSync ${initUs.toFixed(0)} µs`);
console.log('| benchmark | median µs | p99 µs |\n|---|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.median} | ${r.p99} |`);
console.log(`\nTimer floor: the per-call rows time each call with two process.hrtime.bigint() reads, which alone take ${floor.median.toFixed(2)} µs (median; p99 ${floor.p99.toFixed(2)} µs) around an empty function; the rows include it.`);
const jle = tput[1].ns;
console.log(`\nSegment evaluation throughput: the same 3 rules over the same shopper, ${BATCHES} batches of ${BATCH.toLocaleString('en')} calls each timed whole (benchmarks in turn), median batch; each call returns the names of the segments matched.`);
console.log('| segment rules, throughput | ns per call | calls per second | time vs json-logic-engine |\n|---|---:|---:|---:|');
for (const r of tput) {
  const perSecond = Math.round(1e9 / r.ns).toLocaleString('en');
  console.log(`| ${r.name} | ${r.ns.toFixed(1)} | ${perSecond} | ${(r.ns / jle).toFixed(2)}× |`);
}
