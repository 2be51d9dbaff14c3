// Typings of client sync (sync.js).
import type { Engine, ErrorCode, Millis } from './index.js';
import type { SafeStore } from './storage.js';

/** Set by sync on every request: `onabort` (set by the transport) is called when sync gives up on it. */
export interface CancelSignal {
  readonly aborted: boolean;
  onabort: (() => void) | null;
}

/** One GET that sync asks of a transport. */
export interface TransportRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** `arraybuffer` for snapshots, `text` for the push channel's JSON. */
  readonly responseType: 'arraybuffer' | 'text';
  /** Sync enforces it itself too: a transport that never settles is a timeout. */
  readonly timeoutMs: number;
  readonly signal: CancelSignal;
}

/**
 * What a transport resolves with, whatever the HTTP status (anything else, such as `undefined`, is
 * a failed request: `reason: 'network'`, retried after the backoff). A snapshot answer larger than
 * a snapshot can be (48 + 16 MiB + 64 bytes, by its length or its `content-length` header) is
 * refused as `SNAPSHOT_CORRUPT` before it reaches the engine; a push answer longer than 64 KiB is
 * a push failure (`reason: 'http'`).
 */
export interface TransportResponse {
  readonly status: number;
  /** Header names, in whatever case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | ArrayBuffer | string;
}

/** How sync talks HTTP: resolves with every response, rejects when the server cannot be reached. */
export interface Transport {
  get(request: TransportRequest): Promise<TransportResponse>;
}

// web-only:start (the mini-program build's typings leave this out: it has no fetch)
/** The part of a `fetch` response the transport reads (the global `Response` fits). */
export interface FetchResponseLike {
  readonly status: number;
  readonly headers: { forEach(callback: (value: string, key: string) => void): void };
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}

/** The part of `fetch` the transport uses (the global `fetch` fits; an AbortSignal is passed too). */
export type FetchLike = (url: string, init: { headers: Record<string, string>; cache: 'no-store' }) => Promise<FetchResponseLike>;
// web-only:end

/** The part of WeChat's `wx` that the transport uses (matches miniprogram-api-typings). */
export interface WxRequestLike {
  request(options: {
    url: string;
    method: 'GET';
    header: Record<string, string>;
    timeout: number;
    responseType: 'arraybuffer' | 'text';
    dataType: 'other';
    success: (result: { statusCode: number; header: Record<string, string>; data: string | ArrayBuffer }) => void;
    fail: (error: { errMsg: string }) => void;
  }): {
    abort(): void;
    /** Base library 2.1.0+: used to abort a download whose Content-Length is over the largest snapshot (64 KiB for a push answer). */
    onHeadersReceived?(listener: (result: { header: Record<string, string>; statusCode?: number }) => void): void;
  };
}

// web-only:start
/** A transport over `fetch` (browsers, Node 18+); the global one by default. */
export declare function fetchTransport(fetchFn?: FetchLike): Transport;
// web-only:end
/** A transport over `wx.request` (mini-programs); the global `wx` by default. */
export declare function wxTransport(api?: WxRequestLike): Transport;

/** An `event: snapshot` message of the server's event stream. */
export interface MessageEventLike {
  readonly data: string;
}

/** The part of `EventSource` sync uses (the browser's fits). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: 'snapshot' | 'error', listener: (event: MessageEventLike) => void): void;
  close(): void;
}

/** Timers, injectable for tests (the global `setTimeout`/`clearTimeout` by default). */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface SyncOptions {
  /** The base URL of `kairos serve` (`''`: this origin). */
  readonly url: string;
  /**
   * The brand's public key(s), `kairos-ed25519-public:…` (a `.pub` file's text as `kairos keygen`
   * writes it will do): only snapshots signed by one run. A key that does not parse throws
   * `KEY_INVALID` from `sync()` itself.
   */
  readonly publicKey: string | readonly string[];
  /** The channel, `model` by default (`kairos serve` serves `CHANNEL.json` as `CHANNEL`). */
  readonly channel?: string | undefined;
  /** A snapshot shipped with the app: the start when nothing newer is stored. */
  readonly bundled?: Uint8Array | null | undefined;
  /**
   * Where the last good snapshot and the profile live; `null` for none. By default localStorage or
   * wx storage under keys `kairos:<url without its scheme>/<channel>.*`, one set per server and
   * channel; the default channel also reads what earlier releases stored under `kairos.*` (until
   * its own copy is written, which clears that one), and an erasure on whichever channel erases the
   * profile stored under `kairos.state`. A store passed here is used as it is: give each channel its
   * own prefix.
   */
  readonly store?: SafeStore | null | undefined;
  /** `wx.request` in mini-programs, `fetch` elsewhere, by default. */
  readonly transport?: Transport | undefined;
  /** `auto` (default): `sse` where there is an EventSource, else `poll`; `none`: interval checks only. */
  readonly push?: 'auto' | 'sse' | 'poll' | 'none' | undefined;
  /** The EventSource to use (the global one by default). */
  readonly EventSource?: (new (url: string) => EventSourceLike) | undefined;
  /**
   * 16 hex digits, for an engine that starts without stored state. An app that keeps this id
   * itself stores a new one at each erasure and passes it (`forget(id)`, `setConsent(false, now,
   * id)`): a start that finds no stored profile (storage was full) would otherwise run under the
   * erased shopper's id again.
   */
  readonly installId?: string | undefined;
  /** Accept unsigned snapshots (development only). */
  readonly allowUnsigned?: boolean | undefined;
  /**
   * Accept `setTraits` (traits without a token) although `publicKey` is trusted for trait tokens
   * (development only: otherwise a shopper could grant herself whatever trait she likes).
   */
  readonly allowUnsignedTraits?: boolean | undefined;
  /** Between checks when all is well; 5 minutes by default, at least 1 s. */
  readonly intervalMs?: Millis | undefined;
  /** A request with no answer by then fails; 15 s by default, at least 1 s (long-polls get `pollWaitMs` more). */
  readonly timeoutMs?: Millis | undefined;
  /**
   * How long a long-poll waits on the server; 25 s by default, at least 1 s. An answer with nothing
   * new before half of it is followed by the next poll only after a backoff delay, which grows with
   * each such answer in a row (retry `n` of `backoff`).
   */
  readonly pollWaitMs?: Millis | undefined;
  /** Retry `n` waits uniformly between `baseMs` (1 s, at least 1 s) and min(`maxMs` (5 min), `baseMs`·2^n). */
  readonly backoff?: { readonly baseMs?: Millis | undefined; readonly maxMs?: Millis | undefined } | undefined;
  readonly timers?: Timers | undefined;
  /** Uniform in [0, 1); `Math.random` by default. */
  readonly random?: (() => number) | undefined;
  /** The clock for `status` times; `Date.now` by default. */
  readonly now?: (() => Millis) | undefined;
  /** Receives every event (same as `on`). */
  readonly onEvent?: ((event: SyncEvent) => void) | undefined;
}

/** Where the running model came from. */
export type SnapshotSource = 'stored' | 'bundled' | 'server' | 'host';

/** A snapshot refused at start, with why. */
export interface StartRejection {
  readonly from: 'stored' | 'bundled';
  readonly code: ErrorCode;
  readonly message: string;
}

/** What a failed request was. */
export interface Failure {
  readonly reason: 'network' | 'timeout' | 'http' | 'rejected';
  readonly status?: number | null;
  readonly code?: ErrorCode;
  readonly message: string;
  /** A refused snapshot's version, when its header could be read. */
  readonly version?: number | null;
}

export interface SyncStatus {
  /** `none` until a first snapshot verified (nothing on hand and the server not reached yet). */
  readonly source: SnapshotSource | 'none';
  readonly version: number | null;
  /** Snapshots refused at start (e.g. a stored one signed by another key: `SNAPSHOT_SIGNATURE`). */
  readonly rejected: readonly StartRejection[];
  /** The stored profile: restored, none stored, or rejected (the engine started fresh). */
  readonly state: 'restored' | 'none' | 'rejected';
  /** Consecutive failed checks. */
  readonly failures: number;
  readonly lastError: Failure | null;
  readonly checkedAt: Millis | null;
  readonly updatedAt: Millis | null;
  /** Whether the last request reached the server (`null`: none yet). */
  readonly reachable: boolean | null;
  readonly push: 'sse' | 'poll' | 'none';
  readonly nextCheckInMs: Millis | null;
}

/** What sync reports. */
export type SyncEvent =
  /**
   * A new version runs. `stored`: whether its copy reads back whole from the store (false without
   * a store, or when the write failed, say over the storage quota: the next start then runs the
   * previous stored copy until a check brings this one again).
   */
  | { readonly type: 'update'; readonly version: number; readonly previous: number | null; readonly source: SnapshotSource; readonly stored: boolean }
  /**
   * The server has nothing newer. While that is below a version push announced (the instance or
   * CDN edge that answered is behind), the next check comes after a backoff delay, not `intervalMs`.
   */
  | { readonly type: 'current'; readonly version: number | null }
  /**
   * A snapshot was refused; the running model stays. `from`: a stored or bundled copy refused at
   * start (reported once, just after `sync()` returns; `status.rejected` lists them too), one the
   * server sent, or one given to `apply`. `retryInMs` is null but for the server's.
   */
  | {
      readonly type: 'rejected';
      readonly from: 'stored' | 'bundled' | 'server' | 'host';
      readonly code: ErrorCode;
      readonly message: string;
      readonly version: number | null;
      readonly retryInMs: Millis | null;
    }
  /** The server could not be reached, stalled or answered an error status (or a push answer over 64 KiB). */
  | {
      readonly type: 'failure';
      readonly during: 'check' | 'push';
      readonly reason: 'network' | 'timeout' | 'http';
      readonly status: number | null;
      readonly message: string;
      readonly attempt: number;
      readonly retryInMs: Millis;
    };

/** What one check came to. */
export type CheckOutcome =
  | Extract<SyncEvent, { type: 'update' | 'current' | 'rejected' | 'failure' }>
  | { readonly type: 'stopped' };

export interface Sync {
  /**
   * The engine: there at once when a stored or bundled snapshot verified, else after `ready`.
   * Updates apply to it in place; only `reset()` replaces it, so read it here rather than keep it.
   */
  readonly engine: Engine | null;
  /**
   * Resolves with the first engine: at once when a stored or bundled snapshot verified, else
   * when the first one from the server does, however long that takes (offline, it waits; a page
   * that must not wait renders without personalization meanwhile). Rejects with `SYNC_STOPPED`
   * when `stop()` comes first, and stays so (an `apply()` after that still starts an engine:
   * read `engine`). `reset()` frees that engine: after a reset use the one `reset()`
   * returned (or `engine`); calls on the freed one throw a KairosError.
   */
  readonly ready: Promise<Engine>;
  /** The bytes of the running snapshot. */
  readonly snapshot: Uint8Array | null;
  readonly status: SyncStatus;
  /** Revalidates now. */
  check(): Promise<CheckOutcome>;
  /** Verifies, applies and stores a snapshot from elsewhere. @throws KairosError and keeps the model */
  apply(snapshot: Uint8Array): void;
  /**
   * Stores the engine's profile state, first taking a copy another instance (a second tab) stored
   * since this one last read or wrote it when that copy erased the profile or changed consent (its
   * install id or consent differ): it replaces this engine's profile; a copy of the same consented
   * profile is written over (the last writer wins), and so is a copy of a shopper this engine
   * erased (`STATE_ERASED`: a tab stored her profile back before it saw the erasure; when it cannot
   * be written over, storage being full, every copy is erased). False when it
   * was not written whole, when an older copy could not be erased, when that other copy does not
   * import for another reason (it stays), or when every copy was erased meanwhile while this engine
   * holds a consented profile (it is not written back).
   */
  saveState(): boolean;
  /**
   * A fresh engine (empty profile) on the running snapshot, stored as the profile. Erasure requests
   * (`forgotten`) the old engine holds undrained pass to the fresh one, and nothing else of its
   * profile. The old engine,
   * the one `ready` resolved with or an earlier `reset()` returned, is freed: calls on it throw a
   * KairosError. Use the engine returned here, or `engine`, from then on. Without `installId`
   * one is drawn. An id used before (the old engine's) starts its decision counter again: later
   * decision ids repeat earlier ones, a decision of the old engine can pass to `refresh` as a
   * view of the new one, and an id erased before (`forget`, a withdrawn consent) has the new
   * profile's reports erased with the old ones by the backend: refused (`ARGUMENT_INVALID`) while
   * that erasure's request waits in the outbox. Pass a new id, or drop the old engine's decisions.
   * @throws KairosError `ARGUMENT_INVALID`: that id, or no snapshot yet (await `ready`)
   */
  reset(installId?: string): Engine;
  /** Adds a listener; returns its removal. */
  on(listener: (event: SyncEvent) => void): () => void;
  /**
   * Stops checking and pushing and abandons requests in flight; the engine stays usable. Before
   * a snapshot verified, `ready` rejects (`SYNC_STOPPED`).
   */
  stop(): void;
  /** `stop()`. */
  close(): void;
}

/**
 * Starts an engine from what is on hand and keeps it on the channel's latest signed snapshot.
 * Options count only where the object or its class sets them, not a (polluted) `Object.prototype`.
 * @throws KairosError `ARGUMENT_INVALID` (an option of the wrong kind, no `fetch` nor
 * `transport`), `KEY_INVALID` (a `publicKey` that is not a key), `NOT_LOADED` (before `init`)
 */
export declare function sync(options: SyncOptions): Sync;

/** The delay before retry `attempt`, as sync computes it. */
export declare function backoffDelay(attempt: number, random: () => number, baseMs: Millis, maxMs: Millis): Millis;
