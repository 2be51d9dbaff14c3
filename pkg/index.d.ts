// Typings of the Kairos package, written by hand: the generated kairos_wasm.d.ts leaves every
// argument untyped. The names mirror the Rust core in camelCase.

/** A JSON value, as content payloads and outbox fields are. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A JSON value the engine shares: content payloads are made once per model and handed to every
 * decision, frozen (a change would show in every later decision).
 */
export type ReadonlyJson = null | boolean | number | string | ReadonlyJson[] | { readonly [key: string]: ReadonlyJson };

/** A value of an event property or context field, as the model declares it (`null`/absent: missing). */
export type FieldValue = string | number | boolean | readonly string[] | null | undefined;

/**
 * The fields of `T` as the engine reads them: every object type (a type alias, an interface, a
 * class) whose fields are all field values.
 */
export type Fields<T> = { readonly [K in keyof T]: FieldValue };

/** An event: `type` names an event type of the model; the other fields are its properties. */
export interface KairosEvent {
  readonly type: string;
  readonly [property: string]: FieldValue;
}

/** The page context of a decision: fields the model declares (others are ignored). */
export interface Context {
  readonly [field: string]: FieldValue;
}

/** A trait value as the server supplies it (dates as `YYYY-MM-DD`, times as ms or RFC 3339). */
export type TraitValue = string | number | boolean | readonly string[] | null;

/** Server-computed traits, already verified by the caller. */
export interface Traits {
  readonly [trait: string]: TraitValue;
}

/** Why a placement shows what it shows. */
export type Reason = 'chosen' | 'no_consent' | 'no_offers' | 'not_eligible' | 'capped' | 'quiet_hours' | 'control_group';

/** One chosen item. `content` is the model's payload object, shared between decisions and frozen. */
export interface DecisionItem {
  readonly offer: string;
  readonly variant: string | null;
  /** In the offer's control group: show `Decision.fallback` instead. */
  readonly control: boolean;
  readonly content: ReadonlyJson;
  readonly priority: number;
  readonly score: number | null;
}

/** What a placement shows. */
export interface Decision {
  /**
   * 16 hex digits, unique per install; exposures and conversions carry it. All zeros without
   * consent (nothing is reported, and no decision is counted).
   */
  readonly id: string;
  readonly placement: string;
  readonly reason: Reason;
  /** Best first; empty when nothing is chosen (show `fallback`). */
  readonly items: readonly DecisionItem[];
  readonly fallback: ReadonlyJson;
}

/** One eligibility check in `explain`. */
export interface Check {
  readonly name: 'consent' | 'schedule' | 'stage' | 'quiet_hours' | 'cap' | 'min_gap' | 'global_cap' | 'audience' | (string & {});
  readonly passed: boolean;
  readonly detail: string;
}

/** Why an offer is or is not eligible now. */
export interface Explanation {
  readonly offer: string;
  readonly eligible: boolean;
  readonly checks: readonly Check[];
}

/** Events for the brand's backend, drained from the outbox. */
export type OutboxEvent =
  /** `to` is null when the shopper left every stage (a model without a catch-all stage). */
  | { readonly type: 'stage_changed'; readonly from: string | null; readonly to: string | null; readonly at: number }
  | {
      readonly type: 'exposure';
      readonly decision: string;
      readonly placement: string;
      readonly offer: string;
      readonly variant: string | null;
      readonly control: boolean;
      /** The model's `meta.version` it was decided on; null when an older package (before the version was reported) stored it. */
      readonly model: number | null;
      readonly at: number;
    }
  | {
      readonly type: 'conversion';
      readonly decision: string;
      readonly offer: string;
      readonly event: string;
      readonly control: boolean;
      /** The model's `meta.version` that judged it (its event and window); null as for an exposure. */
      readonly model: number | null;
      readonly at: number;
    }
  /**
   * An erasure request (`forget`, a withdrawn consent): the backend erases what it holds under
   * `pid` and the reports of `install` whose decision ids invert to counters 1 to `decisions`
   * (`kairos erase`, docs/cli.md): 2^24, every report, since the package always retires the
   * install. For a shopper who identified, `pid` is her identifier's hash, which no report
   * carries. `install` and `decisions` are null in a request stored by a package from before
   * 2026-11-25 (then a 16-digit `pid` is the install id).
   */
  | {
      readonly type: 'forgotten';
      readonly pid: string;
      readonly install: string | null;
      readonly decisions: number | null;
      readonly at: number;
    };

/** The stable codes of `KairosError`. */
export type ErrorCode =
  | 'SNAPSHOT_CORRUPT'
  | 'SNAPSHOT_NOT_NEWER'
  | 'STATE_INVALID'
  /** `importState` of the shopper this engine erased, while its `forgotten` request waits in the outbox. */
  | 'STATE_ERASED'
  | 'EVENT_INVALID'
  | 'CONTEXT_INVALID'
  | 'PLACEMENT_UNKNOWN'
  | 'OFFER_UNKNOWN'
  | 'TRAITS_INVALID'
  | 'TRAITS_UNSIGNED'
  | 'IDENTITY_INVALID'
  | 'NO_CONSENT'
  | 'TIME_INVALID'
  | 'ARGUMENT_INVALID'
  | 'SNAPSHOT_SIGNATURE'
  | 'TOKEN_INVALID'
  | 'KEY_INVALID'
  /** A call on an engine after its `free()` (or after `sync().reset()` replaced it). */
  | 'ENGINE_FREED'
  /** A call on an engine from inside one of its calls (a getter of the context or event calling it). */
  | 'ENGINE_BUSY'
  /** A call on an engine that an earlier call left held in the module (a stack overflow inside it): make a new one. */
  | 'ENGINE_BROKEN'
  /** `sync().ready` when `stop()` came before a snapshot verified. */
  | 'SYNC_STOPPED'
  /** `new Engine`, `murmur3` or `sync` before `init` (or `initSync`) has loaded the module. */
  | 'NOT_LOADED';

/** Every failure: a real `Error` named `KairosError` with a stable `code`. The engine stays usable (unless freed). */
export interface KairosError extends Error {
  readonly name: 'KairosError';
  readonly code: ErrorCode;
}

/** Whether `e` is a Kairos failure (narrows `unknown` in a `catch`). */
export declare function isKairosError(e: unknown): e is KairosError;

/** Milliseconds since the epoch; defaults to `Date.now()` when omitted. */
export type Millis = number;

/** What an engine made by `fromSignedSnapshot` accepts beyond signed input: development only. */
export interface TrustOptions {
  /** Accept snapshots without a signature. */
  readonly allowUnsigned?: boolean;
  /** Accept `setTraits` (traits without a token), and unsigned traits in imported state. */
  readonly allowUnsignedTraits?: boolean;
}

/** Identifier kinds for `identify`. */
export type IdKind = 'phone' | 'email' | 'external';

/** One shopper's engine on this device. Load the module first with `init` (or `initSync` in Node): before that, `new Engine` throws `NOT_LOADED`. */
declare global {
  /**
   * TypeScript's `Disposable` where the program's lib has it (`esnext.disposable`, ES2024 and
   * later), so `using engine = new Engine(…)` frees it at the end of the block; empty, and harmless,
   * where the lib does not.
   */
  interface Disposable {}
}

/** `engine[Symbol.dispose]()` is `free()`. */
export interface Engine extends Disposable {}

export declare class Engine {
  /**
   * A fresh engine (no consent yet) from snapshot bytes. `installId` (16 hex digits) is drawn
   * once per install and kept, and drawn anew at each erasure (`forget`, a withdrawn consent);
   * without it one is drawn. It travels in `exportState()`: a host that keeps its own copy takes
   * the new one after an erasure (or passes one to `forget` and `setConsent`). `forget`,
   * `setConsent` and `fromSignedSnapshot` draw from `crypto.getRandomValues` where there is one,
   * and in mini-programs from ids the mini-program build draws ahead with `wx.getRandomValues`
   * (base library 2.15.0); this constructor, and the others where neither is there (or before
   * `wx.getRandomValues` has answered), from `Math.random`, whose outputs a few others give
   * away: pass one drawn from a cryptographic source where you can.
   * @throws KairosError `SNAPSHOT_CORRUPT` (also bytes longer than a snapshot can be), `ARGUMENT_INVALID`,
   * `NOT_LOADED` (before `init`)
   */
  constructor(snapshot: Uint8Array, installId?: string);
  /** Tracks an event. @throws KairosError `EVENT_INVALID`, `TIME_INVALID` */
  track<E extends { readonly type: string }>(event: E & Fields<E>, now?: Millis): 'recorded' | 'no_consent';
  /** Decides what a placement shows; records the exposure. @throws KairosError `PLACEMENT_UNKNOWN`, `CONTEXT_INVALID`, `TIME_INVALID` */
  decide<C extends object & Fields<C> = Context>(placement: string, context?: C | null, now?: Millis): Decision;
  /**
   * What `decide` would show now, recording nothing: no exposure reported, no cap used, no stage
   * change, and `id` all zeros. For prefetching, server-side rendering and renders that may run
   * twice (React's StrictMode); call `decide` once when the content is shown, and `refresh` to
   * paint that view again.
   * @throws KairosError `PLACEMENT_UNKNOWN`, `CONTEXT_INVALID`, `TIME_INVALID`
   */
  peek<C extends object & Fields<C> = Context>(placement: string, context?: C | null, now?: Millis): Decision;
  /**
   * What a view shown already shows now: for a re-render, a clock change, a consent given, a new
   * model. The offers `shown` put on screen stay without another exposure, even where that view's
   * own exposure filled their cap or gap. When the view still shows what `shown` shows, `shown`
   * itself is returned (a memoized component need not repaint) and no exposure is recorded (a
   * stage change that came due is, as `decide` would record it); after a
   * model update, the same id with the new model's content. When the offers change, a new
   * decision in which only the items not on screen already (offer, variant, control) are exposed. A `shown` that is not a
   * view of this engine (from `peek`, made before consent, or before consent was withdrawn, the
   * profile forgotten or imported) is decided anew.
   * @throws KairosError `ARGUMENT_INVALID`, `PLACEMENT_UNKNOWN`, `CONTEXT_INVALID`, `TIME_INVALID`,
   * `ENGINE_BUSY` (a getter of `shown` or the context called the engine)
   */
  refresh<C extends object & Fields<C> = Context>(shown: Decision, context?: C | null, now?: Millis): Decision;
  /** The current lifecycle stage. */
  stage(): string | undefined;
  /** The segments the shopper is in now, in model order. @throws KairosError `CONTEXT_INVALID`, `TIME_INVALID` */
  segments<C extends object & Fields<C> = Context>(context?: C | null, now?: Millis): string[];
  /** Every score by name. @throws KairosError `CONTEXT_INVALID`, `TIME_INVALID` */
  scores<C extends object & Fields<C> = Context>(context?: C | null, now?: Millis): Record<string, number>;
  /** Why an offer is or is not eligible now (records nothing). @throws KairosError `OFFER_UNKNOWN`, `CONTEXT_INVALID`, `TIME_INVALID` */
  explain<C extends object & Fields<C> = Context>(offerId: string, context?: C | null, now?: Millis): Explanation;
  /**
   * Grants or withdraws consent. Withdrawing consent she gave erases the behavioural profile and
   * the reports not yet drained, queues a `forgotten` request for her pid and the install (at
   * `now`) so the backend erases what it holds and the reports sent, and, as `forget` does, starts a new install id (drawn unless
   * given; the current one is refused, and one an erasure waiting in the outbox retired): should she consent again, her new pid and decision ids
   * are not linked to the one erased. `sync` stores the new id with the profile; a host that
   * keeps its own copy of the id (to pass to `sync` at start) stores the one it passes here.
   * `installId` is read only then, but checked whenever given.
   * @throws KairosError `ARGUMENT_INVALID`, `TIME_INVALID`
   */
  setConsent(consent: boolean, now?: Millis, installId?: string): void;
  /** Adds an identifier; only a salted hash is kept. @throws KairosError `NO_CONSENT`, `IDENTITY_INVALID` */
  identify(kind: IdKind, value: string): void;
  /**
   * Sets traits the host supplies unsigned, valid until `expiresMs`. An engine that trusts keys
   * for trait tokens (`fromSignedSnapshot`, `sync`) refuses them unless `allowUnsignedTraits`:
   * traits then come through `setTraitsToken`.
   * @throws KairosError `NO_CONSENT`, `TRAITS_INVALID`, `TRAITS_UNSIGNED`, `TIME_INVALID`
   */
  setTraits(traits: Traits, expiresMs?: Millis): void;
  /**
   * Wipes the profile (consent included: nothing is recorded until `setConsent(true)` again) and
   * starts a new install id, drawn unless given; the outbox keeps a `forgotten` event naming the
   * old pseudonymous id and install id, so the backend erases what it holds and the reports sent
   * (`kairos erase`). A given `installId` must be a new one: the current one is refused, as
   * the forgotten shopper's id would carry on, and so is one an erasure waiting in the outbox
   * retired (its reports are to be erased).
   * @throws KairosError `ARGUMENT_INVALID` (installId), `TIME_INVALID`
   */
  forget(installId?: string, now?: Millis): void;
  /** Removes and returns the outbox events: the erasure requests (`forgotten`), then the reports, each oldest first. */
  drainOutbox(): OutboxEvent[];
  /** The outbox events without removing them: the erasure requests (`forgotten`), then the reports, each oldest first. */
  outbox(): OutboxEvent[];
  /** Feature values by name (`null`: a `first`/`last` time that never happened). @throws KairosError `TIME_INVALID` */
  features(now?: Millis): Record<string, number | null>;
  /** The model's lifecycle stages, in order. */
  readonly stageNames: string[];
  /** Whether the shopper consented to profiling. */
  readonly consent: boolean;
  /** The profile and outbox as versioned bytes. */
  exportState(): Uint8Array;
  /**
   * Restores exported state; rejected state leaves the current one. Signed traits are stored as
   * their token and count again only if it still verifies for this shopper (an edited copy, a
   * rotated key or another shopper's token drops them, and nothing else); unsigned traits only
   * where `setTraits` would accept them. The erasure requests (`forgotten`) in the outbox stay
   * (so one another copy already sent may be sent again: backends treat requests as idempotent),
   * and a state of another install that an erasure retired is refused while its request waits
   * there: restoring it would undo the erasure. (An erasure that kept the install, a native
   * host's, or an old release's request without an install retires none.)
   * @throws KairosError `STATE_INVALID`, `STATE_ERASED`
   */
  importState(state: Uint8Array): void;
  /**
   * Replaces the model with a newer snapshot; a rejected one leaves the old model. An engine that
   * trusts keys (`fromSignedSnapshot`) checks the signature as `applySignedSnapshot` does.
   * @throws KairosError `SNAPSHOT_CORRUPT`, `SNAPSHOT_NOT_NEWER`, `SNAPSHOT_SIGNATURE`
   */
  applySnapshot(snapshot: Uint8Array): void;
  /** The running model's version. */
  readonly modelVersion: number;
  /**
   * A fresh engine from a snapshot signed with one of `publicKeys` (`kairos-ed25519-public:…`; also
   * trusted for trait tokens). Unsigned snapshots and traits are refused unless `options` allow
   * them (development).
   * `allowUnsigned` and `allowUnsignedTraits` count only where the options object or its class sets
   * them, not a (polluted) `Object.prototype`.
   * @throws KairosError `SNAPSHOT_SIGNATURE`, `SNAPSHOT_CORRUPT`, `KEY_INVALID`, `ARGUMENT_INVALID`, `NOT_LOADED`
   */
  static fromSignedSnapshot(snapshot: Uint8Array, publicKeys: string | readonly string[], installId?: string, options?: TrustOptions): Engine;
  /** Replaces the model with a newer signed snapshot; a rejected one leaves the old model. @throws KairosError `SNAPSHOT_SIGNATURE`, `SNAPSHOT_NOT_NEWER`, `SNAPSHOT_CORRUPT` */
  applySignedSnapshot(snapshot: Uint8Array): void;
  /**
   * Sets the server's traits from a signed token; signature, expiry and user are checked first.
   * Exported state keeps the token. The traits leave when the pid changes (the first `identify`).
   * @throws KairosError `TOKEN_INVALID`, `NO_CONSENT`, `TIME_INVALID`
   */
  setTraitsToken(token: string, now?: Millis): void;
  /** The shopper's pseudonymous id: trait tokens are issued for it. */
  readonly pid: string;
  /**
   * When the traits set by a token expire (ms), or `null` when no token's traits are held: none set
   * yet, or dropped (a stored token that no longer verifies, a rotated key, a new pid after the first
   * `identify`). Fetch a fresh token then, or before this time.
   */
  readonly traitsTokenExpiresMs: Millis | null;
  /** A snapshot's model version, checked as loading checks it (an engine made and freed at once). @throws KairosError `SNAPSHOT_CORRUPT` */
  static snapshotVersion(snapshot: Uint8Array): number;
  /** Frees the Wasm memory held by this engine; every later call on it but `free()` throws `ENGINE_FREED`. */
  free(): void;
}

/**
 * MurmurHash3 (x86, 32-bit, seed 0) of a string's UTF-8 bytes, as `fractional` buckets by.
 * @throws KairosError `ARGUMENT_INVALID` when `key` is not a string or is longer than 65,536
 * characters, `NOT_LOADED` before `init`
 */
export declare function murmur3(key: string): number;

// web-only:start (the mini-program build's typings leave this out: its index.d.ts declares `init(path)`)
/** What `init` and `initSync` accept: the module's bytes or a compiled module. */
export type ModuleSource = BufferSource | WebAssembly.Module;

/** Loads the module in a browser (fetches `kairos_wasm_bg.wasm` beside this file unless given). */
export default function init(
  moduleOrPath?: { module_or_path: ModuleSource | string | URL | Response | Promise<Response> },
): Promise<unknown>;
export { init };
/** Loads the module synchronously from its bytes (Node, tests, server-side rendering). */
export declare function initSync(module: { module: ModuleSource }): unknown;
export { sync, fetchTransport, wxTransport, backoffDelay } from './sync.js';
export type * from './sync.js';
// web-only:end
