// Where the bytes of the .wasm go: code size per function from the module's name section, grouped
// by part of the engine (the table in docs/size.md). `make size-report` builds a module that keeps
// its function names (wasm-bindgen --keep-debug, wasm-opt -Oz -g) and runs this on it.
//   node bench/wasm-breakdown.mjs MODULE.wasm [--top N]
import { readFileSync } from 'node:fs';

const [file, flag, n] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/wasm-breakdown.mjs MODULE.wasm [--top N]');
  process.exit(2);
}
const bytes = readFileSync(file);

/** Reads an unsigned LEB128 at `pos`: [value, next position]. */
function leb(pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, pos];
  }
}

const names = new Map();
const sizes = []; // [function index, body bytes]
let imported = 0;
let data = 0;
for (let pos = 8; pos < bytes.length;) {
  const id = bytes[pos];
  const [size, start] = leb(pos + 1);
  const end = start + size;
  if (id === 2) {
    let [count, p] = leb(start);
    for (let i = 0; i < count; i++) {
      let len;
      [len, p] = leb(p);
      p += len;
      [len, p] = leb(p);
      p += len;
      const kind = bytes[p++];
      if (kind === 0) {
        imported++;
        [, p] = leb(p);
      } else if (kind === 1) {
        p++;
        const limits = bytes[p++];
        [, p] = leb(p);
        if (limits & 1) [, p] = leb(p);
      } else if (kind === 2) {
        const limits = bytes[p++];
        [, p] = leb(p);
        if (limits & 1) [, p] = leb(p);
      } else {
        p += 2;
      }
    }
  } else if (id === 10) {
    let [count, p] = leb(start);
    for (let i = 0; i < count; i++) {
      let body;
      [body, p] = leb(p);
      sizes.push([imported + i, body]);
      p += body;
    }
  } else if (id === 11) {
    data = size;
  } else if (id === 0) {
    let [len, p] = leb(start);
    const section = bytes.subarray(p, p + len).toString('utf8');
    p += len;
    while (section === 'name' && p < end) {
      const sub = bytes[p];
      let subSize;
      [subSize, p] = leb(p + 1);
      const subEnd = p + subSize;
      if (sub === 1) {
        let count;
        [count, p] = leb(p);
        for (let i = 0; i < count; i++) {
          let index;
          [index, p] = leb(p);
          [len, p] = leb(p);
          names.set(index, bytes.subarray(p, p + len).toString('utf8'));
          p += len;
        }
      }
      p = subEnd;
    }
  }
  pos = end;
}
if (names.size === 0) {
  console.error(`${file} has no function names: build it with wasm-bindgen --keep-debug and wasm-opt -g`);
  process.exit(1);
}

/**
 * A readable name: wasm-bindgen writes most names demangled but with hashes
 * (`core[c5930c85a12de822]::fmt::write::h0123456789abcdef`); some keep Rust's legacy mangling
 * (`_ZN4core3fmt5write17h…E`).
 */
function demangle(s) {
  const m = /^_?_ZN(.*)E$/.exec(s);
  if (!m) return s.replace(/::h[0-9a-f]{16}$/, '').replace(/\[[0-9a-f]{16}\]/g, '');
  const parts = [];
  let rest = m[1];
  while (rest.length) {
    const len = /^\d+/.exec(rest);
    if (!len) break;
    const n = Number(len[0]);
    parts.push(rest.slice(len[0].length, len[0].length + n));
    rest = rest.slice(len[0].length + n);
  }
  if (/^h[0-9a-f]{16}$/.test(parts.at(-1) ?? '')) parts.pop();
  const escapes = { SP: '@', BP: '*', RF: '&', LT: '<', GT: '>', LP: '(', RP: ')', C: ',' };
  return parts
    .join('::')
    .replace(/\$([A-Z]{1,2})\$/g, (all, e) => escapes[e] ?? all)
    .replace(/\$u([0-9a-f]+)\$/g, (_, hex) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/\.\./g, '::')
    .replace(/^_\$/, '$');
}

// First match wins; the patterns read the demangled name.
const PARTS = [
  ['JsonLogic evaluator (kairos::logic)', /kairos::logic/],
  ['profile, state import and export', /kairos::profile|importState|exportState/],
  ['engine (decide, track, explain) and its bindings', /kairos::engine|engine_(track|decide|__decide|explain|scores|segments|features|identify|setTraits|forget|setConsent)\b/],
  ['snapshot codec and validation', /kairos::(snapshot|codec|compiled)|engine_(new|fromSigned|apply|snapshotVersion)/],
  ['signatures: Ed25519, SHA-2, base64, tokens', /curve25519|ed25519|sha2|digest|kairos::(sign|token)|block_buffer|base64|setTraitsToken/],
  ['other bindings (wasm-bindgen, js-sys, names)', /kairos_wasm|wasm_bindgen|js_sys|engine_|__wbindgen|externref/],
  ['core::fmt (messages)', /core::fmt|Display|Debug|pad_integral|do_count_chars/],
  ['allocator', /rlsf|__rdl|__rust_alloc|__rust_dealloc|__rust_realloc/],
  ['std generics (Vec, iterators, sort, str, ...)', /core::|alloc::|compiler_builtins|std::/],
  ['other core (time, outbox, suggest)', /kairos::/],
];
const groups = new Map(PARTS.map(([label]) => [label, 0]));
groups.set('other', 0);
const rows = [];
let code = 0;
for (const [index, size] of sizes) {
  const name = demangle(names.get(index) ?? `function ${index}`);
  rows.push([size, name]);
  code += size;
  const part = PARTS.find(([, re]) => re.test(name));
  const label = part ? part[0] : 'other';
  groups.set(label, groups.get(label) + size);
}

console.log(`${file}: ${bytes.length} bytes; code ${code}, data ${data}`);
console.log('| part | bytes | share |');
console.log('|---|---:|---:|');
for (const [label, size] of [...groups].sort((a, b) => b[1] - a[1])) {
  console.log(`| ${label} | ${size.toLocaleString('en-US')} | ${Math.round((100 * size) / code)} % |`);
}
if (flag === '--top') {
  console.log(`\nlargest ${n ?? 40} functions:`);
  for (const [size, name] of rows.sort((a, b) => b[0] - a[0]).slice(0, Number(n ?? 40))) console.log(size, name);
}
