// The build step that shortens the names the module and its glue share (crates/wasm/short-names.mjs):
// what it makes of wasm-bindgen's output, and that it fails rather than leave glue and module apart;
// and that the built modules carry no custom sections.
// It runs on the mini-program build's module before the step (target/wasm-mp/opt.wasm, Wasm 1.0,
// written by `make pkg`) and its untouched glue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { brotliDecompressSync } from 'node:zlib';
import { join } from 'node:path';
import { root } from './paths.mjs';
import { shortNames } from '../../crates/wasm/short-names.mjs';
import './load.mjs'; // initializes the package, whose murmur3 the rewritten glue must agree with
import { murmur3 } from '../../pkg/index.js';

const wasmOpt = join(root, 'tests', 'js', 'node_modules', '.bin', 'wasm-opt');
const built = join(root, 'target', 'wasm-mp');
const glue = readFileSync(join(built, 'kairos_wasm.js'), 'utf8');
const dts = readFileSync(join(built, 'kairos_wasm.d.ts'), 'utf8');

function withTmp(f) {
  const dir = mkdtempSync(join(tmpdir(), 'kairos-short-'));
  try {
    return f(join(dir, 'out.wasm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const run = (wasmOut, g = glue, d = dts) =>
  shortNames({ wasmOpt, wasmIn: join(built, 'opt.wasm'), wasmOut, flags: ['--mvp-features'], glue: g, dts: d });

test('every import and export gets a short name, and the glue and typings follow', () => withTmp((out) => {
  const before = new WebAssembly.Module(readFileSync(join(built, 'opt.wasm')));
  const r = run(out);
  const after = new WebAssembly.Module(readFileSync(out));
  const [imports, exports] = [WebAssembly.Module.imports(after), WebAssembly.Module.exports(after)];
  assert.equal(imports.length, WebAssembly.Module.imports(before).length);
  assert.deepEqual(exports.map((e) => e.kind), WebAssembly.Module.exports(before).map((e) => e.kind));
  for (const { module, name } of imports) {
    assert.ok(module.length <= 2 && name.length <= 2, `${module}.${name}`);
    assert.match(r.glue, new RegExp(`(?<![\\w$])${name.replace('$', '\\$')}\\s*:`), `the glue provides ${name}`);
  }
  for (const { name, kind } of exports) assert.ok(kind === 'memory' ? name === 'memory' : name.length <= 2, name);
  assert.doesNotMatch(r.glue, /__wbg_\w+_[0-9a-f]{16}\b/, 'no hashed import name left');
  assert.doesNotMatch(r.glue, /\bwasm\.(engine_|__wbindgen_|__wbg_)/, 'no long export name read');
  assert.ok(r.glue.length < glue.length);
  // The glue reads only what the module exports, and the module's typings name the same exports.
  for (const [, name] of r.glue.matchAll(/(?<![\w$.])wasm\.([\w$]+)/g)) {
    assert.ok(exports.some((e) => e.name === name), `wasm.${name}`);
  }
  const typed = [...r.dts.matchAll(/^\s*readonly ([\w$]+):/gm)].map((m) => m[1]);
  assert.deepEqual(typed.sort(), exports.map((e) => e.name).sort());
  // Smaller by the names alone.
  assert.ok(readFileSync(out).length < readFileSync(join(built, 'opt.wasm')).length);
}));

test('the rewritten glue runs the rewritten module: an engine made, used, refused and freed', async () => {
  const { glue: rewritten, bytes } = withTmp((out) => ({ ...run(out), bytes: readFileSync(out) }));
  const m = await import(`data:text/javascript,${encodeURIComponent(rewritten)}`);
  m.initSync({ module: bytes });
  assert.equal(m.murmur3('kairos'), murmur3('kairos'));
  const snap = new Uint8Array(readFileSync(join(root, 'target', 'taste-of-su.kairos')));
  const e = new m.Engine(snap, '00000000000000b2', undefined, undefined);
  e.free();
  assert.throws(() => new m.Engine(new Uint8Array([1, 2, 3]), undefined, undefined, undefined),
    (err) => err instanceof Error && err.code === 'SNAPSHOT_CORRUPT');
});

test('a glue that lacks one of the module\'s imports fails the step', () => withTmp((out) => {
  const name = glue.match(/^\s*(__wbg_\w+_[0-9a-f]{16})\s*:/m)?.[1];
  assert.ok(name, 'the glue has hashed imports');
  assert.throws(() => run(out, glue.replace(new RegExp(`${name}\\s*:`), 'elsewhere:')), new RegExp(`the import ${name} found 0 times`));
}));

test('a glue whose imports sit under another module name fails the step', () => withTmp((out) => {
  assert.throws(() => run(out, glue.replace(/"\.\/kairos_wasm_bg\.js"(?=\s*:)/, '"./other.js"')), /the module \.\/kairos_wasm_bg\.js found 0 times/);
}));

test('a glue reading an export the module lacks fails the step', () => withTmp((out) => {
  assert.throws(() => run(out, `${glue}\nfunction extra() { return wasm.not_exported; }\n`), /reads wasm\.not_exported, which the module does not export/);
}));

test('the built modules carry no custom section a browser or WeChat would only download', () => {
  const web = new WebAssembly.Module(readFileSync(join(root, 'pkg', 'kairos_wasm_bg.wasm')));
  const mp = new WebAssembly.Module(brotliDecompressSync(readFileSync(join(root, 'pkg', 'miniprogram', 'kairos_wasm.wasm.br'))));
  for (const [which, m] of [['web', web], ['mini-program', mp]]) {
    for (const section of ['producers', 'target_features', 'name']) {
      assert.equal(WebAssembly.Module.customSections(m, section).length, 0, `${which}: ${section}`);
    }
  }
});

test('an old name left outside the import object, or a key found twice in it, fails the step', () => withTmp((out) => {
  const name = glue.match(/^\s*(__wbg_\w+_[0-9a-f]{16})\s*:/m)[1];
  // Read elsewhere in the glue: not rewritten, so the step must refuse it.
  assert.throws(() => run(out, `${glue}\nconst again = { ${name}: 1 };\n`), new RegExp(`${name} is still in the glue`));
  // A second `name:` inside __wbg_get_imports (a ternary, say) is not an import key to rewrite blindly.
  const twice = glue.replace(new RegExp(`(${name}\\s*:)`), `other: 1 ? ${name} : 2,\n        $1`);
  assert.throws(() => run(out, twice), new RegExp(`the import ${name} found 2 times`));
  // An export read other than as `wasm.<name>`.
  assert.throws(() => run(out, `${glue}\nfunction extra() { return wasm['engine_new']; }\n`), /engine_new is still in the glue/);
}));
