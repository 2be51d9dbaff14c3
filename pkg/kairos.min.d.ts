// `kairos-engine/min`: the package's modules (index, glue, fast decide, sync, storage) as one
// minified file built by `make pkg`, for pages that load it without a bundler. The browser build:
// the API of the main entry and of `kairos-engine/storage` but the WeChat adapters (`wxTransport`,
// `wxStorageBackend`), which the mini-program build (`pkg/miniprogram`) carries.
export { default, init, initSync, Engine, murmur3, isKairosError, sync, fetchTransport, backoffDelay } from './index.js';
export type * from './index.js';
export { SafeStore, localStorageBackend, fromBase64 } from './storage.js';
export type { Backend, StorageLike } from './storage.js';
