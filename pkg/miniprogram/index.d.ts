// Typings of the mini-program build: the same Engine as the web package, loaded with `init(path)`.
// Self-contained: the typings it imports are built beside it (make pkg), so the directory
// type-checks wherever it is copied.
export { Engine, murmur3, isKairosError } from './engine.js';
export type * from './engine.js';
export { SafeStore, wxStorageBackend, fromBase64 } from './storage.js';
/** Loads the module from a `.wasm` or `.wasm.br` path inside the code package, with WXWebAssembly. */
export declare function init(path: string): Promise<unknown>;
export { sync, wxTransport } from './sync.js';
export type * from './sync.js';
