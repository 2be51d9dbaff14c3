// `kairos-engine/min`: the package's modules (index, glue, fast decide, sync, storage) as one
// minified file built by `make pkg`, for pages that load it without a bundler. The API of the
// main entry and of `kairos-engine/storage`.
export * from './index.js';
export { default } from './index.js';
export * from './storage.js';
