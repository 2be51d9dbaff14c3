// Builds pkg/miniprogram/ for WeChat mini-programs:
//   - kairos_wasm.wasm.br: a build of its own for the Wasm 1.0 ("MVP") feature set, brotli -11.
//     WeChat's docs say iOS cannot export a Global, and modules with multi-value results or
//     reference types are reported to fail there ("invalid wasm file"), while rustc's default
//     wasm32 target and wasm-bindgen's output use both. So: rustc with `-Ctarget-cpu=mvp` (in
//     target/mp, apart from the web build), the operations of precompiled code that Wasm 1.0
//     lacks (memory.copy/fill, sign extension, saturating float-to-int) lowered by npm binaryen
//     and the target-features section dropped (so wasm-bindgen keeps objects in a JS heap rather
//     than an externref table and returns no multiple values), then wasm-bindgen, the exports
//     other than functions, memory and tables dropped (wasm-bindgen's two runtime statics, which
//     the glue never reads), wasm-opt -Oz --converge with every feature past 1.0 disabled, and
//     the formatting functions core's panic paths leave in the table emptied (dead-fmt.mjs), and
//     with the names the module and the glue share shortened (short-names.mjs) one more -Oz (the
//     module read afresh gives more) and the producers and name sections dropped.
//     The result is checked as tests/js/wechat-module.test.mjs checks it (no target_features
//     section, which would make binaryen enable what it declares; exports of functions and
//     memory only), and the build fails otherwise. Saturating float-to-int is not lowered: rustc
//     emits none for Wasm 1.0, and binaryen's lowering of it does not saturate, so one showing up
//     fails the validation instead of changing results;
//   - kairos_wasm.js: the glue (wasm-bindgen --omit-default-module-path: no import.meta) turned
//     into CommonJS, with UTF-8 TextEncoder/TextDecoder fallbacks used only when the globals are
//     missing, the loaders that use fetch and the WebAssembly global removed, and `initWx(path)`
//     that loads through WXWebAssembly.instantiate;
//   - fast.js, storage.js, sync.js: pkg's as CommonJS lowered to ES2017 (sync without its fetch
//     transport: mini-programs use wx.request).
// Usage: node crates/wasm/miniprogram.mjs <wasm-bindgen> <wasm-opt>
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { brotliCompressSync, constants } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { exportsOf, withoutExports } from './wasm-exports.mjs';
import { shortNames } from './short-names.mjs';
import { deadFormatting } from './dead-fmt.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const esbuild = createRequire(join(root, 'tests', 'js', 'package.json'))('esbuild');
const { default: binaryen } = await import(pathToFileURL(join(root, 'tests', 'js', 'node_modules', 'binaryen', 'index.js')).href);
const [wasmBindgen = 'wasm-bindgen', wasmOpt = 'wasm-opt'] = process.argv.slice(2);
const tmp = join(root, 'target', 'wasm-mp');
const out = join(root, 'pkg', 'miniprogram');
mkdirSync(tmp, { recursive: true });
mkdirSync(out, { recursive: true });

// The release profile of the web build, for Wasm 1.0 (the `--config` flags add to
// .cargo/config.toml's). RUSTFLAGS in the environment would replace both, so it is not passed on.
const env = { ...process.env };
delete env.RUSTFLAGS;
delete env.CARGO_ENCODED_RUSTFLAGS;
execFileSync(process.env.CARGO || 'cargo', ['build', '-q', '-p', 'kairos-wasm', '--target', 'wasm32-unknown-unknown',
  '--profile', 'wasm-release', '--target-dir', join(root, 'target', 'mp'),
  '--config', 'target.wasm32-unknown-unknown.rustflags=["-Ctarget-cpu=mvp"]'], { stdio: 'inherit', env });
const built = join(root, 'target', 'mp', 'wasm32-unknown-unknown', 'wasm-release', 'kairos_wasm.wasm');
// What the precompiled parts of the build (compiler_builtins, core) may still use: bulk memory and
// sign extension lowered to 1.0; the rest must be absent, which the last wasm-opt checks.
const FEATURES = ['bulk-memory', 'bulk-memory-opt', 'sign-ext', 'nontrapping-float-to-int', 'mutable-globals', 'multivalue',
  'reference-types', 'call-indirect-overlong'];
execFileSync(wasmOpt, [built, ...FEATURES.map((f) => `--enable-${f}`), '--llvm-memory-copy-fill-lowering', '--signext-lowering',
  '--strip-target-features', '-g', '-o', join(tmp, 'lowered.wasm')], { stdio: 'inherit' });
execFileSync(wasmBindgen, ['--target', 'web', '--omit-default-module-path', '--out-dir', tmp, '--out-name', 'kairos_wasm',
  join(tmp, 'lowered.wasm')], { stdio: 'inherit' });
writeFileSync(join(tmp, 'bound.wasm'), withoutExports(readFileSync(join(tmp, 'kairos_wasm_bg.wasm')), ['global']));
execFileSync(wasmOpt, ['--mvp-features', '-Oz', '--converge', '-g', join(tmp, 'bound.wasm'), '-o', join(tmp, 'opt.wasm')],
  { stdio: 'inherit' });
// The formatting functions core's panic paths leave in the table emptied, as in the web build
// (the names kept by `-g` until here say which they are).
const dead = deadFormatting({ binaryen, wasmOpt, wasm: join(tmp, 'opt.wasm') });
console.log(`pkg/miniprogram: dead formatting: ${dead.length} functions emptied (${dead.join(', ') || 'none'})`);
// Short names for what the module and the glue share, as in the web build.
const short = shortNames({ wasmOpt, wasmIn: join(tmp, 'opt.wasm'), wasmOut: join(tmp, 'short.wasm'), flags: ['--mvp-features', '-Oz', '--strip-producers', '--strip-debug'],
  glue: readFileSync(join(tmp, 'kairos_wasm.js'), 'utf8') });
const wasm = readFileSync(join(tmp, 'short.wasm'));
const declared = WebAssembly.Module.customSections(new WebAssembly.Module(wasm), 'target_features').length;
const kinds = [...new Set(exportsOf(wasm).map((e) => e.kind))].sort().join();
if (declared !== 0 || kinds !== 'function,memory') {
  throw new Error(`the mini-program module is not plain Wasm 1.0: ${declared} target_features section(s), exports of ${kinds}`);
}
writeFileSync(join(out, 'kairos_wasm.wasm.br'),
  brotliCompressSync(wasm, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: wasm.length } }));

const POLYFILL = `// UTF-8 fallbacks, used only where TextEncoder/TextDecoder are missing (some mini-program runtimes).
var TextEncoder = typeof globalThis !== 'undefined' && globalThis.TextEncoder ? globalThis.TextEncoder : function () {};
if (!TextEncoder.prototype.encode) {
  TextEncoder.prototype.encode = function (s) {
    s = s === undefined ? '' : String(s);
    var out = [];
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        var d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; } else { c = 0xfffd; }
      } else if (c >= 0xd800 && c < 0xe000) { c = 0xfffd; }
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  };
}
var TextDecoder = typeof globalThis !== 'undefined' && globalThis.TextDecoder ? globalThis.TextDecoder : function () {};
if (!TextDecoder.prototype.decode) {
  TextDecoder.prototype.decode = function (b) {
    if (!b) return '';
    var s = '';
    for (var i = 0; i < b.length;) {
      var c = b[i++], n = 0;
      if (c >= 0xf0) { c &= 7; n = 3; } else if (c >= 0xe0) { c &= 15; n = 2; } else if (c >= 0xc0) { c &= 31; n = 1; }
      while (n-- > 0) c = (c << 6) | (b[i++] & 63);
      if (c >= 0x10000) { c -= 0x10000; s += String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 1023)); }
      else s += String.fromCharCode(c);
    }
    return s;
  };
}
`;

let glue = short.glue;
const cut = glue.indexOf('async function __wbg_load(');
if (cut < 0) throw new Error('glue layout changed: __wbg_load not found (wasm-bindgen version?)');
glue = glue.slice(0, cut);
glue = glue.replace(/^export (class|function) /gm, '$1 ');
for (const needed of ['function __wbg_get_imports(', 'function __wbg_finalize_init(', 'class Engine', 'function murmur3(']) {
  if (!glue.includes(needed)) throw new Error(`glue layout changed: ${needed} not found`);
}
glue = `${POLYFILL}\n${glue}
/**
 * Loads the module from a path inside the code package (.wasm or .wasm.br) with WXWebAssembly,
 * once: calls before it is done (App.onLaunch and a page's onLoad) share the one loading, since a
 * second instance would replace the first under the engines made with it. A failed load may be
 * tried again.
 */
let wxLoading;
function initWx(path) {
  if (wasm !== undefined) return Promise.resolve(wasm);
  if (wxLoading === undefined) {
    wxLoading = WXWebAssembly.instantiate(path, __wbg_get_imports()).then(function (r) {
      return __wbg_finalize_init(r && r.instance ? r.instance : r, r && r.module);
    });
    wxLoading.catch(function () { wxLoading = undefined; });
  }
  return wxLoading;
}

module.exports = { Engine: Engine, murmur3: murmur3, initWx: initWx };
`;
for (const banned of [/import\.meta/, /\bfetch\b/, /WebAssembly\./, /^\s*(import|export)\b/m]) {
  const m = glue.replace(/WXWebAssembly\./g, '').match(banned);
  if (m) throw new Error(`mini-program glue still contains ${banned}: ${m[0]}`);
}
writeFileSync(join(out, 'kairos_wasm.js'), glue);

/** The sections the mini-program build leaves out, in the JavaScript and in the typings. */
const WEB_ONLY = /^\/\/ web-only:start[^]*?^\/\/ web-only:end\n/gm;

/**
 * A hand-written ES module of pkg/ as CommonJS: `import { a, b } from './x.js'` becomes a require,
 * `export` declarations are listed in `module.exports`, and `// web-only:start` … `// web-only:end`
 * sections (fetch) are left out. Fails on anything the mini-program runtime lacks.
 */
function commonJs(file) {
  let src = readFileSync(join(root, 'pkg', file), 'utf8');
  src = src.replace(WEB_ONLY, '');
  src = src.replace(/^import \{([^}]+)\} from '(\.\/[\w.]+)';$/gm, (_, names, from) => {
    const mod = `__${from.slice(2).replace(/\W/g, '_')}`;
    return `var ${mod} = require('${from}');\n${names.split(',').map((n) => `var ${n.trim()} = ${mod}.${n.trim()};`).join('\n')}`;
  });
  const exported = [...src.matchAll(/^export (?:class|function|const) (\w+)/gm)].map((m) => m[1]);
  src = src.replace(/^export (class|function|const) /gm, '$1 ');
  src += `\nmodule.exports = { ${exported.map((n) => `${n}: ${n}`).join(', ')} };\n`;
  for (const banned of [/import\.meta/, /\bfetch\s*\(/, /globalThis\.fetch/, /\bText(En|De)coder\b/, /\bWebAssembly\./, /^\s*(import|export)\b/m]) {
    const m = src.match(banned);
    if (m) throw new Error(`mini-program ${file} still contains ${banned}: ${m[0]}`);
  }
  // Lowered to ES2017 (`??`, `?.`, numeric separators and the like rewritten): WeChat runs a file as
  // written unless the project turns on "ES6 to ES5" and enhanced compile (mini-program review).
  // esbuild keeps no comments: the readable source is pkg/<file>.
  const lowered = esbuild.transformSync(src, { target: 'es2017', loader: 'js' }).code;
  writeFileSync(join(out, file), `// Generated by make pkg from pkg/${file} (CommonJS, ES2017); comments are in that file.\n${lowered}`);
}
commonJs('fast.js');
commonJs('storage.js');
commonJs('sync.js');
// The typings beside the build, so that the directory type-checks by itself once copied into a
// code package (miniprogram/index.d.ts imports these; the web entry's are `engine.d.ts` here).
for (const [from, to] of [['index.d.ts', 'engine.d.ts'], ['storage.d.ts', 'storage.d.ts'], ['sync.d.ts', 'sync.d.ts']]) {
  // Without the web build's loaders and fetch transport (mini-program review: a project without
  // the DOM library failed to compile them, and with skipLibCheck they compiled but were undefined).
  const typings = readFileSync(join(root, 'pkg', from), 'utf8')
    .replace(WEB_ONLY, '')
    .replace(/from '\.\/index\.js'/g, "from './engine.js'");
  writeFileSync(join(out, to), typings);
}
console.log(`pkg/miniprogram: kairos_wasm.wasm.br ${readFileSync(join(out, 'kairos_wasm.wasm.br')).length} B, glue ${glue.length} B`);
