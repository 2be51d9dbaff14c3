// The mini-program's module (pkg/miniprogram/kairos_wasm.wasm.br) is Wasm 1.0: WeChat's docs say iOS
// cannot export a Global, and modules with multi-value results or reference types are reported to
// fail there. Node accepts all of these, so the mini-program test's WXWebAssembly shim cannot tell;
// these checks can: binaryen's validator with every feature past 1.0 disabled, and the exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { brotliDecompressSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './paths.mjs';
import { exportsOf, withoutExports } from '../../crates/wasm/wasm-exports.mjs';

const wasmOpt = join(root, 'tests', 'js', 'node_modules', '.bin', 'wasm-opt');
const mp = brotliDecompressSync(readFileSync(join(root, 'pkg', 'miniprogram', 'kairos_wasm.wasm.br')));
const web = readFileSync(join(root, 'pkg', 'kairos_wasm_bg.wasm'));

/** binaryen's validator on `bytes` with only Wasm 1.0 enabled; its exit status and messages. */
function validateMvp(bytes) {
  const dir = mkdtempSync(join(tmpdir(), 'kairos-mvp-'));
  try {
    const file = join(dir, 'm.wasm');
    writeFileSync(file, bytes);
    // --strip-target-features is a pass and runs after reading: a module that declares its features
    // in a target_features section would have them enabled by it, so such a section fails the
    // check by itself below.
    const r = spawnSync(wasmOpt, ['--mvp-features', file, '-o', join(dir, 'out.wasm')], { encoding: 'utf8' });
    return { status: r.status, messages: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the mini-program module declares no features past Wasm 1.0 and validates with only 1.0 enabled', () => {
  const m = new WebAssembly.Module(mp);
  assert.equal(WebAssembly.Module.customSections(m, 'target_features').length, 0, 'no target_features section');
  const r = validateMvp(mp);
  assert.equal(r.status, 0, r.messages);
  assert.doesNotMatch(r.messages, /validator error/);
  // The web build uses reference types and multi-value (browsers have both): the same check must
  // refuse it once its section is gone, or the check above proves nothing.
  const dir = mkdtempSync(join(tmpdir(), 'kairos-web-'));
  let bytes;
  try {
    const [from, to] = [join(dir, 'web.wasm'), join(dir, 'stripped.wasm')];
    writeFileSync(from, web);
    const r = spawnSync(wasmOpt, ['--strip-target-features', '--enable-reference-types', '--enable-multivalue',
      '--enable-bulk-memory', '--enable-bulk-memory-opt', '--enable-sign-ext', '--enable-nontrapping-float-to-int',
      '--enable-mutable-globals', '--enable-call-indirect-overlong', from, '-o', to], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    bytes = readFileSync(to);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(WebAssembly.Module.customSections(new WebAssembly.Module(bytes), 'target_features').length, 0);
  const refused = validateMvp(bytes);
  assert.notEqual(refused.status, 0, 'the web module, which uses features past 1.0, is refused');
  assert.match(refused.messages, /validator error/);
});

test('the mini-program module exports only functions and its memory (iOS cannot export a Global)', () => {
  const kinds = new Set(exportsOf(mp).map((e) => e.kind));
  assert.deepEqual([...kinds].sort(), ['function', 'memory']);
  // What wasm-bindgen's glue for it reads is still there (the names are short: short-names.mjs).
  const names = exportsOf(mp).map((e) => e.name);
  const read = [...readFileSync(join(root, 'pkg', 'miniprogram', 'kairos_wasm.js'), 'utf8').matchAll(/(?<![\w$.])wasm\.([\w$]+)/g)];
  assert.ok(read.length > 10, 'the glue reads the exports through `wasm.`');
  for (const [, name] of read) assert.ok(names.includes(name), `exports ${name}`);
  assert.ok(exportsOf(mp).some((e) => e.kind === 'memory'));
});

test('exports are read and filtered by kind as WebAssembly reads them', () => {
  const m = new WebAssembly.Module(web);
  assert.deepEqual(exportsOf(web), WebAssembly.Module.exports(m));
  assert.ok(exportsOf(web).some((e) => e.kind === 'global'), 'the web build exports globals (the case filtered)');
  const filtered = withoutExports(web, ['global']);
  const want = WebAssembly.Module.exports(m).filter((e) => e.kind !== 'global');
  assert.deepEqual(WebAssembly.Module.exports(new WebAssembly.Module(filtered)), want);
  assert.deepEqual(exportsOf(filtered), want);
  // Every other section is kept byte for byte: the same imports and the same code.
  assert.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(filtered)), WebAssembly.Module.imports(m));
  assert.ok(filtered.length < web.length && WebAssembly.validate(filtered));
  assert.throws(() => withoutExports(Buffer.from('not wasm'), ['global']), /not a Wasm module/);
  assert.throws(() => exportsOf(web.subarray(0, web.length - 10)), /runs past the end/);
});

// Mini-program review: WeChat runs a file as written unless the project turns on "ES6 to ES5" and
// enhanced compile, and `??`, `?.` and `300_000` are newer than some clients parse. The build's
// JavaScript is ES2017, in scripts (CommonJS).
test('the mini-program build parses as ES2017 scripts', async () => {
  const { parse } = await import('acorn');
  const dir = join(root, 'pkg', 'miniprogram');
  const files = ['index.js', 'kairos_wasm.js', 'fast.js', 'storage.js', 'sync.js'];
  for (const f of files) {
    assert.doesNotThrow(() => parse(readFileSync(join(dir, f), 'utf8'), { ecmaVersion: 2017, sourceType: 'script' }), f);
  }
  // The check can fail: the web build's sync.js is newer.
  assert.throws(() => parse(readFileSync(join(root, 'pkg', 'sync.js'), 'utf8'), { ecmaVersion: 2017, sourceType: 'module' }));
});
