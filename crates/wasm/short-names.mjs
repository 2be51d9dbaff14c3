// Shortens the names a module and its wasm-bindgen glue share: the imports (`__wbg_length_` and a
// 16-digit hash, 31 of them, under the module name "./kairos_wasm_bg.js") and the exports but the
// memory (`engine___call`, `__wbindgen_malloc`, ...) become one or two letters. Each name is in the
// .wasm once and in the glue once or more, and the hashes do not compress: on 0c8677e this took
// 0.9 KB gzip off the .wasm and 0.6 KB off kairos.min.js.
//
// npm binaryen's `--minify-imports-and-exports-and-modules` renames them in the module and prints
// the mapping; the glue is rewritten by it here, name by name. The step fails rather than leave
// glue and module apart: each import and module name must be found once as a key in the glue's
// `__wbg_get_imports`, no old name may be left anywhere in the glue (but a function the glue
// declares, `murmur3`), every export the glue reads as `wasm.<name>` must be in the module, and
// imports from more than one module are refused (binaryen puts them all under one name).
// tests/js/short-names.test.mjs instantiates the result.
//
// Usage: node crates/wasm/short-names.mjs <wasm-opt> <dir> <name> [wasm-opt flags]
//   rewrites <dir>/<name>_bg.wasm, <dir>/<name>.js and <dir>/<name>.d.ts in place.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withExportsRenamed } from './wasm-exports.mjs';

/** Exports that keep their names. */
const KEEP = ['memory'];

const escape = (s) => s.replace(/[$.*+?^()[\]{}|\\/]/g, '\\$&');

/** Replaces the one match of `pattern` (a global RegExp) by `to`; fails on none or more. */
function replaceOnce(text, pattern, to, what) {
  let n = 0;
  const out = text.replace(pattern, () => {
    n += 1;
    return to;
  });
  if (n !== 1) throw new Error(`short names: ${what} found ${n} times where the glue's imports are, not once (wasm-bindgen's layout changed?)`);
  return out;
}

/**
 * The module at `wasmIn` with short import and export names, written to `wasmOut` by `wasmOpt`
 * (with `flags`, e.g. `--mvp-features`), and `glue` (wasm-bindgen's JavaScript for it) and `dts`
 * (its typings, or null) rewritten to match. Returns `{ glue, dts }`.
 */
export function shortNames({ wasmOpt, wasmIn, wasmOut, glue, dts = null, flags = [] }) {
  const printed = execFileSync(wasmOpt, [wasmIn, ...flags, '--minify-imports-and-exports-and-modules', '-o', wasmOut],
    { encoding: 'utf8', maxBuffer: 1 << 24 });
  const json = printed.slice(printed.indexOf('{'), printed.lastIndexOf('}') + 1);
  const map = JSON.parse(json);
  if (!Array.isArray(map.imports) || !Array.isArray(map.exports)) {
    throw new Error('short names: wasm-opt printed no mapping of imports and exports');
  }
  // The memory keeps its name: `init()` and `initSync()` give the instance's exports, and
  // `.memory` of them is wasm-bindgen's documented way to the module's memory.
  const kept = new Map(map.exports.filter(([name]) => KEEP.includes(name)).map(([name, to]) => [to, name]));
  map.exports = map.exports.filter(([name]) => !KEEP.includes(name));
  writeFileSync(wasmOut, withExportsRenamed(readFileSync(wasmOut), kept));
  const module = new WebAssembly.Module(readFileSync(wasmOut));
  const imports = WebAssembly.Module.imports(module);
  const exports = WebAssembly.Module.exports(module).map((e) => e.name);

  // Import and module names: keys of the objects in the glue's `__wbg_get_imports` (its body
  // runs to the first line that closes a top-level block), rewritten there only, each key found
  // exactly once.
  const start = glue.indexOf('function __wbg_get_imports(');
  const end = start < 0 ? -1 : glue.indexOf('\n}\n', start);
  if (end < 0) throw new Error("short names: the glue has no function __wbg_get_imports (wasm-bindgen's layout changed?)");
  let body = glue.slice(start, end);
  const modules = new Map();
  for (const [from, name, to] of map.imports) {
    const now = imports.find((i) => i.name === to);
    if (!now) throw new Error(`short names: the import ${name} became ${to}, which the module does not import`);
    if (modules.has(from) && modules.get(from) !== now.module) throw new Error(`short names: ${from} renamed twice`);
    modules.set(from, now.module);
    body = replaceOnce(body, new RegExp(`(?<![\\w$])${escape(name)}(?=\\s*:)`, 'g'), to, `the import ${name}`);
  }
  // binaryen puts every import under one short module name: glue with imports from two modules
  // would need its objects merged, which this step does not do.
  if (new Set(modules.values()).size !== modules.size) {
    throw new Error(`short names: the imports of ${[...modules.keys()].join(', ')} went under one module`);
  }
  for (const [from, to] of modules) {
    body = replaceOnce(body, new RegExp(`(["'])${escape(from)}\\1(?=\\s*:)`, 'g'), JSON.stringify(to), `the module ${from}`);
  }
  glue = glue.slice(0, start) + body + glue.slice(end);
  // Exports: read as `wasm.<name>` (the glue's one handle on the instance's exports). Some are
  // read by nothing in the glue (wasm-bindgen's runtime globals).
  for (const [name, to] of map.exports) {
    if (!exports.includes(to)) throw new Error(`short names: the export ${name} became ${to}, which the module does not export`);
    glue = glue.replace(new RegExp(`(?<![\\w$.])wasm\\.${escape(name)}(?![\\w$])`, 'g'), `wasm.${to}`);
    if (dts !== null) dts = dts.replace(new RegExp(`(readonly )${escape(name)}(?=:)`, 'g'), `$1${to}`);
  }
  // None of the old names left anywhere in the glue, however it would read them (`wasm['x']`,
  // destructuring, `instance.exports.x`), but as the name of a function the glue declares itself
  // (`export function murmur3`, which calls the export `murmur3`).
  for (const name of [...map.imports.map(([, n]) => n), ...modules.keys(), ...map.exports.map(([n]) => n)]) {
    for (const m of glue.matchAll(new RegExp(`(?<![\\w$])${escape(name)}(?![\\w$])`, 'g'))) {
      if (!/\bfunction\s+$/.test(glue.slice(Math.max(0, m.index - 16), m.index))) {
        throw new Error(`short names: ${name} is still in the glue, at ${JSON.stringify(glue.slice(Math.max(0, m.index - 20), m.index + name.length + 20))}`);
      }
    }
  }
  // And every export the glue reads is one the module has.
  for (const [, name] of glue.matchAll(/(?<![\w$.])wasm\.([\w$]+)/g)) {
    if (!exports.includes(name)) throw new Error(`short names: the glue reads wasm.${name}, which the module does not export`);
  }
  return { glue, dts };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [wasmOpt, dir, name, ...flags] = process.argv.slice(2);
  if (!wasmOpt || !dir || !name) throw new Error('usage: node short-names.mjs <wasm-opt> <dir> <name> [wasm-opt flags]');
  const [wasm, js, ts] = [`${name}_bg.wasm`, `${name}.js`, `${name}.d.ts`].map((f) => join(dir, f));
  const before = readFileSync(wasm).length;
  const out = shortNames({
    wasmOpt, wasmIn: wasm, wasmOut: wasm, flags,
    glue: readFileSync(js, 'utf8'),
    dts: existsSync(ts) ? readFileSync(ts, 'utf8') : null,
  });
  writeFileSync(js, out.glue);
  if (out.dts !== null) writeFileSync(ts, out.dts);
  console.log(`short names: ${wasm} ${before} → ${readFileSync(wasm).length} B`);
}
