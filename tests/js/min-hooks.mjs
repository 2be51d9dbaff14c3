// Module hooks that give the test suites pkg/kairos.min.js wherever they import the package's
// entries (pkg/index.js, storage.js, sync.js), so that `make js` runs them against the minified
// single file too (what the size gate measures, esbuild then terser). Registered by
// min-register.mjs (`node --import ./tests/js/min-register.mjs --test ...`).
const entries = /\/pkg\/(index|storage|sync)\.js$/;
const min = new URL('../../pkg/kairos.min.js', import.meta.url).href;

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  return entries.test(new URL(r.url).pathname) ? { ...r, url: min, shortCircuit: true } : r;
}
