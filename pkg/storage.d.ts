// Typings of the storage adapters (storage.js).

/** A string key-value store. */
export interface Backend {
  get(key: string): string | null;
  set(key: string, value: string): void;
  /** Removes a key. Without it (or when it throws), an erased copy is overwritten with `''`. */
  remove?(key: string): void;
}

/** The part of the browser `Storage` interface the adapter uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem?(key: string): void;
}

/** The part of the WeChat `wx` API the adapter uses (matches miniprogram-api-typings). */
export interface WxStorageLike {
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, data: string): void;
  removeStorageSync?(key: string): void;
}

/** A backend over `localStorage` (the global one by default). */
export declare function localStorageBackend(storage?: StorageLike): Backend;
/** A backend over WeChat storage (the global `wx` by default). */
export declare function wxStorageBackend(api?: WxStorageLike): Backend;

/**
 * The bytes of padded base64 text (`A-Z a-z 0-9 + /`, a length of 4n), or `null` when it is not
 * that: for a snapshot bundled as text (WeChat uploads no `.kairos` file).
 */
export declare function fromBase64(text: string): Uint8Array | null;

/** Torn-write-safe storage: two slots per key, sequence numbers and checksums. */
export declare class SafeStore {
  /**
   * Keys are `<prefix>.<key>.a|b` (`prefix`: `kairos` by default). `legacy`: the prefix of an older
   * layout, read for a key while `prefix` holds no good copy of it, and cleared once a copy written
   * under `prefix` reads back whole.
   */
  constructor(backend: Backend, prefix?: string, legacy?: string);
  /** The newest good bytes under `key` that `accept` does not throw on, else null. */
  load(key: string, accept?: (bytes: Uint8Array) => unknown): Uint8Array | null;
  /**
   * Writes into the slot not holding the copy to keep: the newest good one, or the newest that
   * `keep` accepts. With `alone`, the other copies are erased once the new one reads back whole.
   * False when the write failed or the new copy does not read back whole, and with `alone` when
   * another copy could not be erased.
   */
  save(key: string, bytes: Uint8Array, keep?: (stored: Uint8Array) => boolean, alone?: boolean): boolean;
  /**
   * `keep`: as for `save` (the copy the engine restored, when a newer one did not import). Once the
   * new copy reads back whole, the older one is erased (a profile erased by `forget()` or withdrawn
   * consent does not live on in the other slot); a failed or torn write leaves it. False if the new
   * copy is not whole or the older one stays. A host without `sync` calls it right after `forget()`
   * or `setConsent(false)`.
   */
  saveState(bytes: Uint8Array, keep?: (stored: Uint8Array) => boolean): boolean;
  loadState(accept?: (bytes: Uint8Array) => unknown): Uint8Array | null;
  /**
   * Erases every stored copy of the profile state (a legacy one too), removing the keys where the
   * backend can; whether none is left. `sync` calls it when an erasure (`forget`, a withdrawn
   * consent) cannot be stored, so the profile from before it does not come back.
   */
  eraseState(): boolean;
  saveSnapshot(bytes: Uint8Array, keep?: (stored: Uint8Array) => boolean): boolean;
  loadSnapshot(accept?: (bytes: Uint8Array) => unknown): Uint8Array | null;
}
