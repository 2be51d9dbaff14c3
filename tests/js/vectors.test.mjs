// The shared bucketing vectors (tests/vectors/fractional.json, also checked in Rust by
// tests/conformance.rs): MurmurHash3 from the Wasm module, and the buckets by a JavaScript
// reference of flagd v1's bucketing over it (the module's own `fractional` on the same vectors:
// tests/js/differential.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './load.mjs';
import { murmur3, isKairosError } from '../../pkg/index.js';

const vectors = JSON.parse(readFileSync(join(root, 'tests', 'vectors', 'fractional.json'), 'utf8'));

test('murmur3 known answers', () => {
  assert.ok(vectors.murmur3.length > 0);
  for (const { key, hash } of vectors.murmur3) assert.equal(murmur3(key), hash, JSON.stringify(key));
});

test('murmur3 of a non-string is a KairosError, not a trap of the module', () => {
  // A review found `murmur3(5)` trapped the module (memory access out of bounds).
  for (const key of [5, null, undefined, {}, ['a']]) {
    assert.throws(() => murmur3(key), (e) => isKairosError(e) && e.code === 'ARGUMENT_INVALID', String(key));
  }
});

/** flagd v1: |int32 hash| / (2^31-1) * 100 against cumulative 100 * weight / total. */
function pick(key, buckets) {
  const parsed = buckets.map((b) => [b[0], b.length === 1 || typeof b[1] !== 'number' ? 1 : Math.trunc(b[1])]);
  const total = parsed.reduce((s, [, w]) => s + w, 0);
  if (key === undefined || total <= 0) return null;
  const point = (Math.abs(murmur3(key) | 0) / 2147483647) * 100;
  let end = 0;
  for (const [name, w] of parsed) {
    end += (100 * w) / total;
    if (point < end) return name;
  }
  return null;
}

const get = (data, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), data);

test('fractional cases', () => {
  assert.ok(vectors.fractional.length > 0);
  for (const c of vectors.fractional) {
    const [first, ...rest] = c.rule.fractional;
    let key, buckets;
    if (typeof first === 'string') [key, buckets] = [first, rest];
    else if (first && first.cat) [key, buckets] = [first.cat.map((p) => (typeof p === 'string' ? p : get(c.data, p.var))).join(''), rest];
    else [key, buckets] = [c.data?.targetingKey, c.rule.fractional];
    const want = c.result === 'None' ? null : c.result;
    assert.equal(pick(key, buckets), want, c.description ?? JSON.stringify(c.rule));
  }
});
