// Differential testing of the rule engine, as built to Wasm, against json-logic-engine (npm, 5.0.7):
// random rules over random data, seeded. The Kairos side is `evaluate` from the bindings built with
// the cargo feature `evaluate` (`make pkg-evaluate`, target/wasm-evaluate/; never in pkg/), which
// needs the core's rule parser and so its `std` feature: the evaluator and JavaScript's number
// conversions are the package's, the float methods std's rather than the package's libm (held
// bit-equal for `trunc` and `fract` by src/float.rs's tests). The reference runs compiled
// (`engine.build`) and interpreted (`engine.run`).
//
// The seed is printed (a fixed one by default); KAIROS_DIFF_SEED=<n> replays a run,
// KAIROS_DIFF_SEED=random draws one, KAIROS_DIFF_CASES=<n> sets the count. Every disagreement
// fails unless `intended` names it: the differences written down, with their reasons, in
// docs/robustness.md (most are those of tests/differential.rs against datalogic-rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogicEngine } from 'json-logic-engine';
import { root } from './paths.mjs';

const require = createRequire(import.meta.url);
const { evaluate } = require(join(root, 'target', 'wasm-evaluate', 'kairos_wasm.js'));

const DEFAULT_SEED = 20261122;

/** splitmix32-style generator: small, seedable, good enough to pick shapes. */
function rng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const below = (n) => next() % Math.max(n, 1);
  return { below, pick: (items) => items[below(items.length)], chance: (percent) => below(100) < percent };
}

// The operators of tests/differential.rs: core JsonLogic both engines define. Left out: `preserve`
// (Kairos reads it, but the reference inlines it), the flagd operators and Kairos' extensions.
const OPS = ['var', 'val', 'exists', 'missing', 'missing_some', 'if', '?:', '??', '==', '===', '!=', '!==',
  '!', '!!', 'or', 'and', '>', '>=', '<', '<=', 'max', 'min', '+', '-', '*', '/', '%', 'map', 'filter',
  'reduce', 'all', 'none', 'some', 'merge', 'in', 'cat', 'substr', 'throw', 'try'];
const ITERATORS = ['map', 'filter', 'reduce', 'all', 'some', 'none'];

/** The argument counts Kairos accepts (docs/rules.md), kept 97 % of the time. */
function arity(op) {
  switch (op) {
    case 'var': return [0, 2];
    case '!': case '!!': return [0, 1];
    case 'throw': return [1, 1];
    case 'missing_some': case 'in': case 'map': case 'filter': case 'all': case 'some': case 'none': return [2, 2];
    case 'reduce': case 'substr': return [2, 3];
    case '==': case '===': case '!=': case '!==': case '<': case '<=': case '>': case '>=': case '%': return [2, 3];
    case '-': case '/': case 'try': return [1, 3];
    default: return [0, 3];
  }
}

const STRINGS = ['', '0', '1', '2', 'a', 'ab', 'abc', ' 7 ', '1e2', '-1', '1.5', 'true', 'x', 'b', 'type'];
const NUMBERS = [0, 1, -1, 2, 3, 0.5, -2.5, 10, 100, 1e21, 1e-7];
const KEYS = ['a', 'b', 'x', 'y'];
const PATHS = ['a', 'b', 'x', 'a.b', 'x.y', '', '1', 'a.0', 'y.a', 'type', 'current', 'accumulator'];

function scalar(r) {
  switch (r.below(6)) {
    case 0: return null;
    case 1: return r.chance(50);
    case 2: return r.below(5) - 1;
    case 3: return r.pick(NUMBERS);
    default: return r.pick(STRINGS);
  }
}

function data(r, depth) {
  if (depth >= 3) return scalar(r);
  switch (r.below(6)) {
    case 0: case 1: return Array.from({ length: r.below(4) }, () => data(r, depth + 1));
    case 2: case 3: {
      const m = {};
      for (let i = r.below(4); i > 0; i--) m[r.pick(KEYS)] = data(r, depth + 1);
      return m;
    }
    default: return scalar(r);
  }
}

function rule(r, depth) {
  if (depth >= 4) return scalar(r);
  const kind = r.below(12);
  if (kind < 2) return scalar(r);
  if (kind === 2) {
    const path = r.pick(PATHS);
    switch (r.below(3)) {
      case 0: return { var: path };
      case 1: return { var: [path, scalar(r)] };
      default: return { val: path };
    }
  }
  if (kind === 3 && depth > 0) return Array.from({ length: r.below(3) }, () => rule(r, depth + 1));
  const op = r.pick(OPS);
  const [lo, hi] = arity(op);
  const n = r.chance(97) ? lo + r.below(hi - lo + 1) : r.below(4);
  const iterator = ITERATORS.includes(op);
  const args = [];
  for (let i = 0; i < n; i++) {
    if (i === 0 && iterator && r.chance(90)) {
      const shape = r.below(3);
      args.push(shape === 0 ? Array.from({ length: r.below(4) }, () => scalar(r))
        : shape === 1 ? { var: r.pick(PATHS) } : data(r, 1));
    } else {
      args.push(rule(r, depth + 1));
    }
  }
  return { [op]: args };
}

// ---- Outcomes ---------------------------------------------------------------------------------

/** A JSON value as JSON text would carry it (NaN, infinities and undefined are null). */
const normal = (v) => (v === undefined ? null : JSON.parse(JSON.stringify(v)));

function kairos(ruleJson, dataJson) {
  try {
    return { value: normal(evaluate(ruleJson, dataJson)) };
  } catch (e) {
    assert.ok(e instanceof Error && e.name === 'KairosError', `evaluate threw a non-Kairos error: ${e}`);
    assert.ok(['RULE_INVALID', 'RULE_ERROR'].includes(e.code), `unexpected code ${e.code}: ${e.message}`);
    return { error: e.code === 'RULE_INVALID' ? 'parse' : JSON.stringify(e.value) };
  }
}

// A fresh engine for every evaluation: a shared one carried state from case to case (seed 20261122,
// case 15857 gave `false` after the earlier cases and `true` on its own, as Kairos does).
const engine = () => new LogicEngine();

function compiled(ruleJson, dataJson) {
  try {
    const f = engine().build(structuredClone(ruleJson));
    return { value: normal(f(structuredClone(dataJson))) };
  } catch (e) {
    return { error: String(e?.type ?? e) };
  }
}

function interpreted(ruleJson, dataJson) {
  try {
    return { value: normal(engine().run(structuredClone(ruleJson), structuredClone(dataJson))) };
  } catch (e) {
    return { error: String(e?.type ?? e) };
  }
}

/** JSON equality, numbers by value. */
function same(a, b) {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
  }
  return a === b;
}

const agree = (k, r) => ('error' in k && 'error' in r) || ('value' in k && 'value' in r && same(k.value, r.value));

// ---- Intended differences ---------------------------------------------------------------------

/** Whether some operation `{op: args}` in `rule` satisfies `f`. */
function has(rule, f) {
  if (Array.isArray(rule)) return rule.some((x) => has(x, f));
  if (rule && typeof rule === 'object') {
    const keys = Object.keys(rule);
    return keys.length === 1 && (f(keys[0], rule[keys[0]]) || has(rule[keys[0]], f));
  }
  return false;
}

/**
 * Names the intended difference a disagreement is, or returns null (the test then fails). The
 * names and reasons are in docs/robustness.md.
 */
function intended(rule, data, k, r, ref) {
  const isArgs = (args) => (Array.isArray(args) ? args : [args]);
  if (k.error === 'parse') return 'shape-checked-at-compile-time';
  // The reference's compiler and its interpreter disagree, and Kairos agrees with the other one.
  const other = (ref === compiled ? interpreted : compiled)(rule, data);
  if (agree(k, other) && !agree(r, other)) return 'reference-modes-disagree';
  // The reference folds constant parts while building (evaluating even parts never reached, and
  // reading a folded array as an argument list): without folding it agrees with Kairos.
  if (agree(k, unfolded(rule, data))) return 'reference-constant-folding';
  if (has(rule, (op, args) => {
    const x = Array.isArray(args) && args.length === 1 ? args[0] : args;
    if ((op !== '!' && op !== '!!') || operations(x)[0] !== x || 'var' in x || 'val' in x) return false;
    return Array.isArray(kairos(x, data).value);
  })) {
    return 'reference-constant-folding';
  }
  if ('value' in k && /^TypeError/.test(r.error ?? '')) return 'reference-throws-type-error';
  if ('value' in k && r.error === 'Exceeded Allowed Depth') return 'reference-depth-limit';
  // `try` turns an error into a value: a listed difference inside it shows as another one.
  if (has(rule, (op) => op === 'try')) {
    for (const part of operations(rule)) {
      if (part === rule) continue;
      const [kp, rp] = [kairos(part, data), ref(part, data)];
      const name = agree(kp, rp) ? null : intended(part, data, kp, rp, ref);
      if (name) return name;
    }
  }
  if (has(rule, (op, args) => (op === 'and' || op === 'or') && Array.isArray(args) && args.length === 0)) {
    return 'empty-and-or-is-false';
  }
  if (has(rule, (op, args) => (op === 'max' || op === 'min') && isArgs(args).length === 0)) {
    return 'max-min-of-none-is-null';
  }
  if (has(rule, (op, args) => ITERATORS.includes(op) && !Array.isArray(isArgs(args)[0]))) {
    return 'iterators-need-arrays';
  }
  if (has(rule, (op, args) => op === 'reduce' && isArgs(args).length === 2)) return 'reduce-initial-is-null';
  const strings = (v) => Array.isArray(v) && v.every((a) => typeof a === 'string');
  const plainNames = (args) => typeof args === 'string' || strings(args);
  if (has(rule, (op, args) => (op === 'missing' || op === 'exists') && !plainNames(args))) return 'names-as-javascript';
  if (has(rule, (op, args) => op === 'missing_some' && !(Array.isArray(args) && typeof args[0] === 'number' && strings(args[1])))) {
    return 'names-as-javascript';
  }
  if (k.error === '{"type":"NaN"}' && 'value' in r) return 'nan-is-an-error';
  const arithmetic = (op) => ['+', '-', '*', '/', '%', 'max', 'min'].includes(op);
  if (has(rule, arithmetic) && (('value' in k && 'error' in r) || has(rule, (op) => op === 'try'))) {
    return 'non-numbers-read-as-numbers';
  }
  const index = (v) => typeof v === 'string' || (Number.isInteger(v) && v >= 0);
  if (has(rule, (op, args) => op === 'var' && !index(args) && !(Array.isArray(args) && (args.length === 0 || index(args[0]))))) {
    return 'var-computed-path';
  }
  if (has(rule, (op, args) => ['==', '!=', '===', '!==', '>', '>='].includes(op) && isArgs(args).length > 2)) {
    return 'comparisons-chain';
  }
  if (has(rule, (op) => op === 'cat') && agree(k, ref(catNullAsEmpty(rule), data))) return 'cat-skips-null';
  if (has(rule, (op, args) => op === 'val' && isArgs(args).some((a) => a === '' || (a !== null && typeof a === 'object')))) {
    return 'val-computed-path';
  }
  if (has(rule, (op) => op === '===' || op === '!==') && 'value' in k && 'value' in r
    && (has(rule, (op) => op === 'merge' || op === 'map' || op === 'filter') || deepIn(rule) || deepIn(data))) {
    return 'strict-equality-by-content';
  }
  if (has(rule, (op) => op === '==' || op === '!=') && 'value' in k) return 'null-is-0-in-equality';
  const truthTest = (op) => ['and', 'or', 'if', '?:', '!', '!!', 'filter', 'all', 'some', 'none'].includes(op);
  if ((emptyObject(rule) || emptyObject(data)) && (('value' in k && 'value' in r) || has(rule, truthTest))) {
    return 'empty-object-is-truthy';
  }
  if (has(rule, (op, args) => (op === 'var' || op === 'val') && numericSegment(op, args)) && (hasString(data) || hasString(rule))) {
    return 'no-string-indexing';
  }
  // The reference reads a path in falsy data (`0`, `false`, `""`; also an iterator's item) as the data.
  const falsy = (v) => v === 0 || v === false || v === '';
  if (has(rule, (op, args) => op === 'var' && isArgs(args)[0] !== '' && isArgs(args)[0] !== null)
    && (falsy(data) || has(rule, (op, args) => ITERATORS.includes(op) && Array.isArray(args?.[0]) && args[0].some(falsy)))) {
    return 'reference-path-in-falsy-data';
  }
  if (has(rule, (op, args) => op === 'in' && typeof isArgs(args)[0] !== 'string') && 'value' in k) {
    return 'strings-convert-as-javascript';
  }
  // Last: Kairos applies a `var` default to a present `null` (and to null data), the reference only
  // to a missing value. The case is this difference when Kairos agrees once those defaults are
  // dropped, or differs only by another listed name.
  if (has(rule, (op, args) => op === 'var' && Array.isArray(args) && args.length === 2)) {
    const plain = dropVarDefaults(rule, data, false);
    const k2 = kairos(plain, data);
    if (JSON.stringify(plain) !== JSON.stringify(rule) && (agree(k2, r) || intended(plain, data, k2, r, ref))) {
      return 'var-default-for-null';
    }
  }
  return null;
}

/** The rule with every argument `x` of `cat` read as `{"??": [x, ""]}`. */
function catNullAsEmpty(rule) {
  if (Array.isArray(rule)) return rule.map(catNullAsEmpty);
  if (rule === null || typeof rule !== 'object' || Object.keys(rule).length !== 1) return rule;
  const [op, args] = Object.entries(rule)[0];
  const inner = catNullAsEmpty(args);
  if (op !== 'cat') return { [op]: inner };
  return { cat: (Array.isArray(inner) ? inner : [inner]).map((x) => ({ '??': [x, ''] })) };
}

/** Every operation `{op: args}` in `rule`, the rule first. */
function operations(rule) {
  if (Array.isArray(rule)) return rule.flatMap(operations);
  if (rule === null || typeof rule !== 'object' || Object.keys(rule).length !== 1) return [];
  return [rule, ...operations(Object.values(rule)[0])];
}

/** The reference, compiled without inlining constant parts. */
function unfolded(rule, data) {
  try {
    return { value: normal(new LogicEngine(undefined, { disableInline: true }).build(structuredClone(rule))(structuredClone(data))) };
  } catch (e) {
    return { error: String(e?.type ?? e) };
  }
}

/** Whether a `var`/`val` path has a segment that is a whole number (an index into a string too). */
function numericSegment(op, args) {
  const first = Array.isArray(args) ? args[0] : args;
  const segments = op === 'var' ? String(first ?? '').split('.') : (Array.isArray(args) ? args : [args]).map(String);
  return segments.some((x) => /^\d+$/.test(x));
}

/** Whether `v` holds a non-empty string. */
function hasString(v) {
  if (typeof v === 'string') return v !== '';
  if (Array.isArray(v)) return v.some(hasString);
  return v !== null && typeof v === 'object' && Object.values(v).some(hasString);
}

/** Whether `v` holds `{}`. */
function emptyObject(v) {
  if (Array.isArray(v)) return v.some(emptyObject);
  return v !== null && typeof v === 'object' && (Object.keys(v).length === 0 || Object.values(v).some(emptyObject));
}

/** The rule without the `var` defaults of paths present and `null` in `data` (all inside iterators). */
function dropVarDefaults(rule, data, inIterator) {
  if (Array.isArray(rule)) return rule.map((x) => dropVarDefaults(x, data, inIterator));
  if (rule === null || typeof rule !== 'object' || Object.keys(rule).length !== 1) return rule;
  const [op, args] = Object.entries(rule)[0];
  if (op === 'var' && Array.isArray(args) && args.length === 2 && (inIterator || presentNull(data, args[0]))) {
    return { var: [args[0]] };
  }
  return { [op]: dropVarDefaults(args, data, inIterator || ITERATORS.includes(op)) };
}

/** Whether the dotted `path` is present and `null` in `data` (or is `""` on null data). */
function presentNull(data, path) {
  if (typeof path !== 'string' && typeof path !== 'number') return true;
  if (path === '') return data === null;
  let at = data;
  for (const key of String(path).split('.')) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, key)) return false;
    at = at[key];
  }
  return at === null;
}

/** Whether `v` holds an array or object (a value `===` compares by content in Kairos). */
function deepIn(v) {
  return Array.isArray(v) ? true : v !== null && typeof v === 'object' && Object.values(v).some(deepIn);
}

// ---- The run ----------------------------------------------------------------------------------

function seedFromEnv() {
  const s = process.env.KAIROS_DIFF_SEED;
  if (s === undefined || s === '') return DEFAULT_SEED;
  if (s === 'random') return Math.floor(Math.random() * 2 ** 32);
  const n = Number(s);
  assert.ok(Number.isInteger(n) && n >= 0, `KAIROS_DIFF_SEED must be a number or \`random\`, found \`${s}\``);
  return n >>> 0;
}

function run(seed, cases, modes) {
  const r = rng(seed);
  const failures = [];
  const skipped = new Map();
  let agreed = 0;
  let valued = 0;
  for (let c = 0; c < cases; c++) {
    const ruleJson = rule(r, 0);
    const dataJson = data(r, 0);
    const k = kairos(ruleJson, dataJson);
    for (const [mode, ref] of modes) {
      const o = ref(ruleJson, dataJson);
      if (agree(k, o)) {
        agreed++;
        if ('value' in k) valued++;
        continue;
      }
      const name = intended(ruleJson, dataJson, k, o, ref);
      if (name) {
        skipped.set(name, (skipped.get(name) ?? 0) + 1);
        continue;
      }
      failures.push(`case ${c} (${mode}): rule ${JSON.stringify(ruleJson)}\n  DATA ${JSON.stringify(dataJson)}\n`
        + `  kairos ${JSON.stringify(k)}\n  json-logic-engine ${JSON.stringify(o)}`);
    }
  }
  return { agreed, valued, failures, skipped };
}

test('kairos (Wasm) agrees with json-logic-engine on random rules', () => {
  const seed = seedFromEnv();
  const cases = Number(process.env.KAIROS_DIFF_CASES ?? 3000);
  console.log(`differential (js): seed ${seed} (replay with KAIROS_DIFF_SEED=${seed}), ${cases} cases, compiled and interpreted`);
  const { agreed, valued, failures, skipped } = run(seed, cases, [['compiled', compiled], ['interpreted', interpreted]]);
  console.log(`  ${agreed} of ${2 * cases} comparisons agree (${valued} on a value, the rest on an error)`);
  // Errors agree without their kinds compared: most agreements must be on values, or a generator
  // that drifted into errors would pass without comparing anything (test audit). About 46 % today.
  assert.ok(valued >= 0.3 * 2 * cases, `only ${valued} of ${2 * cases} comparisons agree on a value`);
  for (const [name, count] of [...skipped].sort()) console.log(`  intended difference \`${name}\`: ${count}`);
  failures.sort((a, b) => a.length - b.length);
  assert.equal(failures.length, 0,
    `${failures.length} comparisons disagree (seed ${seed}):\n${failures.slice(0, 30).join('\n')}`);
});

/** A failure's `[code, value]`, or null when `f` does not throw. */
function codeOf(f) {
  try {
    f();
  } catch (e) {
    assert.equal(e.name, 'KairosError');
    return [e.code, e.value];
  }
  return null;
}

test('evaluate reports failures as KairosError with a code', () => {
  assert.equal(evaluate({ '+': [1, 2] }, null), 3);
  assert.deepEqual(evaluate({ var: 'a.b' }, { a: { b: [1, 'x'] } }), [1, 'x']);
  assert.equal(evaluate({ var: 'a' }), null, 'data undefined reads as null');
  assert.deepEqual(codeOf(() => evaluate({ '/': [1, 0] }, null)), ['RULE_ERROR', { type: 'NaN' }]);
  assert.deepEqual(codeOf(() => evaluate({ throw: 'boom' }, null)), ['RULE_ERROR', { type: 'boom' }]);
  assert.deepEqual(codeOf(() => evaluate({ nope: [1] }, null)), ['RULE_INVALID', undefined]);
  assert.deepEqual(codeOf(() => evaluate({ '+': [1n] }, null)), ['ARGUMENT_INVALID', undefined]);
  const cycle = {};
  cycle.self = cycle;
  assert.deepEqual(codeOf(() => evaluate({ var: 'a' }, cycle)), ['ARGUMENT_INVALID', undefined]);
  let deep = 1;
  for (let i = 0; i < 200; i++) deep = { '+': [deep] };
  assert.equal(codeOf(() => evaluate(deep, null))[0], 'ARGUMENT_INVALID', 'nesting beyond serde_json\'s limit');
  assert.equal(evaluate({ '+': [1, 2] }, null), 3, 'still usable');
});

test('decimal text reads as JavaScript reads it, exact or not', () => {
  // The package's core has no float parser of its own: it computes short decimals exactly and
  // asks JavaScript's Number for the rest (more than 15 digits, large exponents).
  const texts = [
    '42', '-0.5', '.5', '5.', '1e21', '2.5e-3', '9007199254740993', '12345678901234567890.5',
    '0.30000000000000004', '1e23', '1e-400', '1e400', '-1e400', '4.9e-324', '0e99999',
    '123456789012345678901234567890e-30', ' 7 ', '1e', '1-2', '1.2.3', '--1', '.',
  ];
  for (const t of texts) {
    const expected = Number(t);
    const name = JSON.stringify(t);
    if (Number.isNaN(expected)) {
      assert.deepEqual(codeOf(() => evaluate({ '+': [t] }, null)), ['RULE_ERROR', { type: 'NaN' }], `${name} is not a number`);
    } else if (Number.isFinite(expected)) {
      assert.equal(evaluate({ '+': [t] }, null), expected, name);
    } else {
      // Infinity crosses as JSON null, so compare instead.
      assert.equal(evaluate({ '>': [t, 1e308] }, null), expected > 0, `${name} overflows`);
    }
  }
});

test('numbers become text as JavaScript writes them', () => {
  // Whole numbers below 2^53 are written by the core; the rest by JavaScript's String.
  const numbers = [0, -0, 7, -42, 0.1, 0.5, -2.5, 1 / 3, 1e21, 1e-7, 1.5e-7, 123456789.125, 2 ** 53, 2 ** 53 + 2, 1e300, -1e-300, 5e-324];
  for (const n of numbers) assert.equal(evaluate({ cat: [n] }, null), String(n), `String(${n})`);
  assert.equal(evaluate({ cat: [{ var: 'x' }, '|'] }, { x: [0.25, 3, 1e22] }), '0.25,3,1e+22|');
});

// The shared bucketing vectors (tests/vectors/fractional.json, checked in Rust by
// tests/conformance.rs) through the module's own `fractional` (the no_std build's: the package's
// JavaScript has no evaluator of rules; tests/js/vectors.test.mjs checks the vectors against a
// JavaScript reference of the bucketing over the package's murmur3).
test('the fractional vectors give the same buckets in the Wasm build', () => {
  const { fractional } = JSON.parse(readFileSync(join(root, 'tests', 'vectors', 'fractional.json'), 'utf8'));
  assert.ok(fractional.length > 0);
  for (const c of fractional) {
    assert.equal(evaluate(c.rule, c.data), c.result === 'None' ? null : c.result, c.description ?? JSON.stringify(c.rule));
  }
});
