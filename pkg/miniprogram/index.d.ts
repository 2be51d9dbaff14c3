// Typings of the mini-program build: the same Engine as the web package, loaded with `init(path)`.
export { Engine, murmur3, isKairosError } from '../index.js';
export type * from '../index.js';
export { SafeStore, wxStorageBackend } from '../storage.js';
/** Loads the module from a `.wasm` or `.wasm.br` path inside the code package, with WXWebAssembly. */
export declare function init(path: string): Promise<unknown>;
export { sync, wxTransport } from '../sync.js';
export type * from '../sync.js';
