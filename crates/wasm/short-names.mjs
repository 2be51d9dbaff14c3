// Shortens the names a module and its wasm-bindgen glue share: the imports (`__wbg_length_` and a
// 16-digit hash, 31 of them, under the module name "./kairos_wasm_bg.js") and the exports but the
// memory (`engine___call`, `__wbindgen_malloc`, ...) become one or two letters. Each name is in the
// .wasm once and in the glue once or more, and the hashes do not compress: on 0c8677e this took
// 0.9 KB gzip off the .wasm and 0.6 KB off kairos.min.js.
//
// npm binaryen's `--minify-imports-and-exports-and-modules` renames them in the module and prints
// the mapping; the glue is rewritten by it here, name by name, and the step fails rather than
// leave a name the glue or the module still uses: every old name must be found in the glue where
// wasm-bindgen writes it (an import object's key, `wasm.<export>`), none may be left, and the
// module the glue then describes must be the module written.
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

/** Replaces every match of `pattern` (a global RegExp) by `to`; fails unless there was one at least. */
function replaceAll(text, pattern, to, what) {
  let n = 0;
  const out = text.replace(pattern, () => {
    n += 1;
    return to;
  });
  if (n === 0) throw new Error(`short names: ${what} not found in the glue (wasm-bindgen's layout changed?)`);
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

  // Import names: each is an object key in the glue's `__wbg_get_imports`.
  const modules = new Map();
  for (const [from, name, to] of map.imports) {
    const now = imports.find((i) => i.name === to);
    if (!now) throw new Error(`short names: the import ${name} became ${to}, which the module does not import`);
    if (modules.has(from) && modules.get(from) !== now.module) throw new Error(`short names: ${from} renamed twice`);
    modules.set(from, now.module);
    glue = replaceAll(glue, new RegExp(`(?<![\\w$])${escape(name)}(?=\\s*:)`, 'g'), to, `the import ${name}`);
  }
  // Module names: the key of the object `__wbg_get_imports` returns.
  for (const [from, to] of modules) {
    glue = replaceAll(glue, new RegExp(`(["'])${escape(from)}\\1(?=\\s*:)`, 'g'), JSON.stringify(to), `the module ${from}`);
  }
  // Exports: read as `wasm.<name>` (the glue's one handle on the instance's exports). Some are
  // read by nothing in the glue (wasm-bindgen's runtime globals), and keep no name worth keeping.
  for (const [name, to] of map.exports) {
    if (!exports.includes(to)) throw new Error(`short names: the export ${name} became ${to}, which the module does not export`);
    glue = glue.replace(new RegExp(`(?<![\\w$.])wasm\\.${escape(name)}(?![\\w$])`, 'g'), `wasm.${to}`);
    if (dts !== null) dts = dts.replace(new RegExp(`(readonly )${escape(name)}(?=:)`, 'g'), `$1${to}`);
  }
  // Nothing of the old names left where the glue reads them: no import key, no module key, no
  // export read through `wasm.`.
  for (const [, name] of map.imports) {
    if (new RegExp(`(?<![\\w$])${escape(name)}(?![\\w$])`).test(glue)) throw new Error(`short names: ${name} is still in the glue`);
  }
  for (const [name] of map.exports) {
    if (new RegExp(`(?<![\\w$.])wasm\\.${escape(name)}(?![\\w$])`).test(glue)) {
      throw new Error(`short names: wasm.${name} is still in the glue`);
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
