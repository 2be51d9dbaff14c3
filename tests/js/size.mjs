// The size gate: the package as a browser loads it, raw, gzip -9 and brotli -11. That is the
// .wasm plus the JavaScript: `kairos.min.js` (the browser build: every module of the package but
// the WeChat adapters, bundled by esbuild and minified by esbuild and terser in `make pkg`), about
// what a bundler makes of `import ... from 'kairos-engine'` for a browser.
//
// The issue's budget is 64 KB gzip (goal 40 KB). The package is still over it, so the gate
// enforces a ceiling instead: today's size plus a little slack, lowered as the package shrinks,
// so nothing grows unnoticed. The run prints how far the package is from the budget.
import { readFileSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { join } from 'node:path';
import { root } from './paths.mjs';

const BUDGET = 64 * 1024;
const GOAL = 40 * 1024;
// A ratchet just above the package as it is (docs/size.md), not the budget: lowered as it shrinks.
const CEILING = 87.75 * 1024;

function measure(file) {
  const b = readFileSync(join(root, 'pkg', file));
  return {
    file,
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}

function table(title, rows) {
  const total = { file: 'total', raw: 0, gzip: 0, brotli: 0 };
  for (const r of rows) for (const k of ['raw', 'gzip', 'brotli']) total[k] += r[k];
  const pad = (s, n) => String(s).padStart(n);
  console.log(title);
  console.log(`  ${'file'.padEnd(22)}${pad('raw', 10)}${pad('gzip', 10)}${pad('brotli', 10)}`);
  for (const r of [...rows, total]) {
    console.log(`  ${r.file.padEnd(22)}${pad(r.raw, 10)}${pad(r.gzip, 10)}${pad(r.brotli, 10)}`);
  }
  return total;
}

// For reference: the readable modules as shipped, followed from index.js through relative imports.
const modules = [];
const pending = ['index.js'];
while (pending.length) {
  const f = pending.shift();
  if (modules.includes(f)) continue;
  modules.push(f);
  const text = readFileSync(join(root, 'pkg', f), 'utf8');
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'\.\/([\w.-]+\.js)'/g)) pending.push(m[1]);
}
table('unminified modules (for reference; not gated):', modules.map(measure));

const total = table('as a browser loads it (gated):', ['kairos_wasm_bg.wasm', 'kairos.min.js'].map(measure));
const over = total.gzip - BUDGET;
console.log(
  `budget ${BUDGET} B gzip (goal ${GOAL}): ${over > 0 ? `over by ${over} B` : `met, ${-over} B to spare`}; ` +
    `ceiling ${CEILING} B`,
);
if (total.gzip > CEILING) {
  console.error(`size: ${total.gzip} B gzip is over the ceiling of ${CEILING} B`);
  process.exit(1);
}
