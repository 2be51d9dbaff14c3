// The browser build's sources: the package's modules with their `// wx-only:start` …
// `// wx-only:end` sections left out (the WeChat adapters and their detection: browsers have no
// `wx`, and the mini-program build, pkg/miniprogram, carries them), written to target/browser/
// with the entry that `make pkg` bundles and minifies into pkg/kairos.min.js.
//
//   node crates/wasm/browser-min.mjs
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = join(root, 'target', 'browser');
mkdirSync(out, { recursive: true });
for (const file of ['index.js', 'fast.js', 'sync.js', 'storage.js', 'kairos_wasm.js']) {
  const src = readFileSync(join(root, 'pkg', file), 'utf8')
    .replace(/^[ \t]*\/\/ wx-only:start[^]*?^[ \t]*\/\/ wx-only:end\n/gm, '');
  const left = src.match(/typeof wx\b|function wx|wxStorageBackend|wx-only/);
  if (left) throw new Error(`browser build: pkg/${file} still has WeChat code: ${left[0]}`);
  writeFileSync(join(out, file), src);
}
writeFileSync(join(out, 'entry.js'),
  "export * from './index.js'; export { default } from './index.js'; export * from './storage.js';\n");
