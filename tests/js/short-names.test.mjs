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

test('a glue that lacks one of the module\'s imports fails the step', () => withTmp((out) => {
  const name = glue.match(/^\s*(__wbg_\w+_[0-9a-f]{16})\s*:/m)?.[1];
  assert.ok(name, 'the glue has hashed imports');
  assert.throws(() => run(out, glue.replace(new RegExp(`${name}\\s*:`), 'elsewhere:')), new RegExp(`the import ${name} not found`));
}));

test('a glue whose imports sit under another module name fails the step', () => withTmp((out) => {
  assert.throws(() => run(out, glue.replace(/"\.\/kairos_wasm_bg\.js"(?=\s*:)/, '"./other.js"')), /the module \.\/kairos_wasm_bg\.js not found/);
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
