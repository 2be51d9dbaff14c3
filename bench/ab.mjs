// A/B of the package's `decide` and `track` against another checkout's, in one Node process:
// rounds of calls timed whole, the two builds interleaved (and their order alternated), so a busy
// or slow machine slows both alike. Separate runs of `make bench-js` vary by more than a change
// usually does; this is how to tell whether it made them slower.
// Run: node bench/ab.mjs OTHER_CHECKOUT (both with `make pkg` and target/taste-of-su.kairos built).
import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const other = process.argv[2];
if (!other) {
  console.error('usage: node bench/ab.mjs OTHER_CHECKOUT');
  process.exit(2);
}
const ROUNDS = 30;
const N = 20000;
const T0 = Date.parse('2026-11-20T14:20:00+08:00');

/** An engine of the checkout at `root`, after the same 30 views as in bench/bench.mjs. */
async function engineOf(root) {
  const m = await import(pathToFileURL(join(root, 'pkg', 'index.js')).href);
  m.initSync({ module: readFileSync(join(root, 'pkg', 'kairos_wasm_bg.wasm')) });
  const e = new m.Engine(new Uint8Array(readFileSync(join(root, 'target', 'taste-of-su.kairos'))), '00000000000000c7');
  e.setConsent(true);
  for (let i = 0; i < 30; i++) e.track({ type: 'view', category: 'qipao', product: `p${i % 7}`, price: 100 }, T0 - i * 3_600_000);
  return e;
}

/** µs per call of `f(i)` over N calls. */
function timed(f) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f(i);
  return Number(process.hrtime.bigint() - t) / N / 1000;
}

const sides = [['this', await engineOf(here)], ['other', await engineOf(resolve(other))]];
const results = new Map(sides.map(([name]) => [name, { decide: [], track: [], view: [] }]));
const context = { page: 'home' };
const view = { type: 'view', category: 'qipao', product: 'p1', price: 100 };
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, e] of round % 2 ? [...sides].reverse() : sides) {
    const r = results.get(name);
    r.decide.push(timed((i) => e.decide('home_hero', context, T0 + i)));
    r.track.push(timed((i) => e.track(view, T0 + i)));
    // A page view: the event, then the decision (which evaluates the stage the event changed).
    r.view.push(timed((i) => { e.track(view, T0 + N + i); e.decide('home_hero', context, T0 + N + i); }));
    e.drainOutbox();
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`${ROUNDS} interleaved rounds of ${N.toLocaleString('en')} calls; median µs per call`);
console.log('| build | decide home_hero | track a view | a page view: track, then decide |\n|---|---:|---:|---:|');
for (const [name, r] of results) {
  console.log(`| ${name === 'this' ? here : resolve(other)} | ${median(r.decide).toFixed(2)} | ${median(r.track).toFixed(2)} | ${median(r.view).toFixed(2)} |`);
}
