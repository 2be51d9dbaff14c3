// Module hooks that give the test suites pkg/kairos.min.js wherever they import the package's
// entries (pkg/index.js, storage.js, sync.js), so that `make js` runs them against the minified
// single file too (what the size gate measures, esbuild then terser). Registered by
// min-register.mjs (`node --import ./tests/js/min-register.mjs --test ...`).
//
// kairos.min.js is the browser build, without the WeChat adapters: a suite that imports those
// (with a WeChat shim) gets them from the readable module, and everything else from the minified
// file. Each entry becomes a small module that re-exports both.
const entries = /\/pkg\/(index|storage|sync)\.js$/;
const min = new URL('../../pkg/kairos.min.js', import.meta.url).href;
const readable = new URL('../../pkg/', import.meta.url).href;
const WECHAT = { index: ['wxTransport'], sync: ['wxTransport'], storage: ['wxStorageBackend'] };

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  const url = new URL(r.url);
  if (url.search === '?readable' || !entries.test(url.pathname)) return r;
  url.search = '?min';
  return { ...r, url: url.href, shortCircuit: true };
}

export async function load(url, context, next) {
  const u = new URL(url);
  if (u.search !== '?min') return next(url, context);
  const entry = u.pathname.match(entries)[1];
  const from = entry === 'storage' ? 'storage' : 'sync';
  const source = [
    `export * from '${min}';`,
    `export { default } from '${min}';`,
    `export { ${WECHAT[entry].join(', ')} } from '${readable}${from}.js?readable';`,
  ].join('\n');
  return { format: 'module', source, shortCircuit: true };
}
