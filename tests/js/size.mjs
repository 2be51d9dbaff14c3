// The size gate: the package as a browser loads it (the .wasm plus the JS glue and entry), raw,
// gzip -9 and brotli -11. Fails when the gzip total is over the budget (64 KB; the goal is 40 KB).
import { readFileSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { join } from 'node:path';
import { root } from './paths.mjs';

const BUDGET = 64 * 1024;
const GOAL = 40 * 1024;
// The .wasm plus every module a browser fetches for `import ... from 'kairos'`: index.js and
// what it imports, followed through relative imports.
const files = ['kairos_wasm_bg.wasm'];
const pending = ['index.js'];
while (pending.length) {
  const f = pending.shift();
  if (files.includes(f)) continue;
  files.push(f);
  const text = readFileSync(join(root, 'pkg', f), 'utf8');
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'\.\/([\w.-]+\.js)'/g)) pending.push(m[1]);
}
let total = { raw: 0, gzip: 0, brotli: 0 };
const rows = files.map((f) => {
  const b = readFileSync(join(root, 'pkg', f));
  const r = {
    file: f,
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
  for (const k of ['raw', 'gzip', 'brotli']) total[k] += r[k];
  return r;
});
rows.push({ file: 'total', ...total });
const pad = (s, n) => String(s).padStart(n);
console.log(`${'file'.padEnd(22)}${pad('raw', 10)}${pad('gzip', 10)}${pad('brotli', 10)}`);
for (const r of rows) console.log(`${r.file.padEnd(22)}${pad(r.raw, 10)}${pad(r.gzip, 10)}${pad(r.brotli, 10)}`);
console.log(`budget: ${BUDGET} B gzip (goal ${GOAL}); measured ${total.gzip} B gzip`);
if (total.gzip > BUDGET) {
  console.error(`size: over budget by ${total.gzip - BUDGET} B gzip`);
  process.exit(1);
}
