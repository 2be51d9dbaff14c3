// The rest of the `Engine` class over the generated glue. Its methods reach the module through one
// export, `__call`, by number (see crates/wasm/src/methods.rs): one export instead of 25 makes a
// smaller module and glue. The getters too. Then the fast paths of `decide`, `track` and
// `segments`: the model's names are fetched once per model. The context (or the event's
// properties) is read here, with plain property reads and no call into Wasm per field, and written
// as numbers straight into a buffer in the module's memory (strings once each, then by index). The
// decision comes back as numbers in another buffer there and becomes an object here (the checked
// path writes its decision there too); segments come back there as indices and become the names
// held here, so no string crosses per call; no allocation or copy by the glue on the way. Anything
// unusual (an unknown placement or event type, a value of the wrong type, a long string, a list,
// NaN, a throwing getter) takes the checked path, which gives the error: both paths run the same
// engine and give the same result. The checked path then gets the values already read, so each
// getter or proxy trap runs once per call. A getter (or `toString`) that calls the same engine
// again during a call gets `ENGINE_BUSY`, on both paths: the buffers are the outer call's, and the
// Rust engine is borrowed by it. Calls on a freed engine throw `ENGINE_FREED`: the buffers' memory
// may belong to another engine by then.

const MISSING = 0;
const BOOLEAN = 1;
const NUMBER = 2;
const STRING = 3;
/** Strings up to this many UTF-16 units (at most 768 UTF-8 bytes) go by index. */
const MAX_CHARS = 256;
const TRACKED = ['', 'recorded', 'no_consent'];
/** The methods `__call` runs, in the order of their numbers in crates/wasm/src/methods.rs (`__prepare` and `__intern` for fast.js). */
const METHODS = ['track', 'decide', 'segments', 'scores', 'features', 'explain', 'stage', 'setConsent', 'identify',
  'forget', 'setTraits', 'setTraitsToken', 'applySnapshot', 'applySignedSnapshot', 'outbox', 'drainOutbox',
  'exportState', 'importState', '__prepare', '__intern', 'peek', 'refresh', '__takeErasures'];
const INTERN = METHODS.indexOf('__intern');
/** The getters `__call` runs, numbered after the methods. */
const GETTERS = ['consent', 'modelVersion', 'pid', 'traitsTokenExpiresMs', 'stageNames'];

/** A failure as the engine reports one: an `Error` named `KairosError` with a stable `code`. */
export function kairosError(code, message) {
  const e = new Error(message);
  e.name = 'KairosError';
  e.code = code;
  return e;
}

let loaded = false;
/** Marks the module loaded (the package's `init` and `initSync` call it); returns `v`. */
export function markLoaded(v) {
  loaded = true;
  return v;
}
/**
 * Refuses `what` until the module is loaded: the glue's calls failed with a TypeError that named a
 * minified export, and sync reported good snapshots as corrupt (mini-program review).
 */
export function needModule(what) {
  if (!loaded) throw kairosError('NOT_LOADED', `${what}: await init() first (initSync in Node)`);
}
/**
 * The options `names` of object `o` that the host set, on `o` or its class, in a plain object: not
 * those a polluted `Object.prototype` (of any realm: the root of the chain) gives, which switched
 * the signature checks off (hostile-input review). Each read once, with `o` as the receiver (a
 * class's getters and private fields work). What is not an object goes on as it is, for the engine
 * to refuse in its words.
 */
export function own(o, names = ['allowUnsigned', 'allowUnsignedTraits']) {
  if (o === null || typeof o !== 'object') return o;
  const out = Object.create(null); // nothing inherited: not the polluted prototype's either
  try {
    for (const k of names) {
      // The nearest object of the chain that holds `k`, at most 64 steps up (a chain of proxies
      // may be endless); the root holds the prototype's, unless `o` is that root itself.
      let p = o;
      for (let n = 0; n < 64 && p !== null && !Object.hasOwn(p, k); n++) p = Object.getPrototypeOf(p);
      if (p !== null && (p === o || Object.getPrototypeOf(p) !== null) && Object.hasOwn(p, k)) out[k] = o[k];
    }
  } catch (cause) {
    // Not the object as it is: a polluted prototype would count again (review).
    const e = kairosError('ARGUMENT_INVALID', `options could not be read: ${cause}`);
    e.cause = cause;
    throw e;
  }
  return out;
}

/** The most bytes a snapshot or stored state can be: a 48-byte header, a body of 16 MiB, a signature. */
export const MAX_FRAME = 48 + 16 * 1024 * 1024 + 64;
const typed = Object.getPrototypeOf(Uint8Array.prototype);
const [kindOf, lengthOf] = [Symbol.toStringTag, 'byteLength'].map((k) => Object.getOwnPropertyDescriptor(typed, k).get);

/**
 * Bytes for the engine: a `Uint8Array` (any realm, any subclass) copied into a plain one after its
 * length is checked, read by the built-in getters. The module copied what it was given whole before
 * looking at its size, through `slice`, which a subclass's species could make return gigabytes, and
 * its memory never shrinks (hostile-input review). Anything else goes on as it is, for the engine to
 * refuse in its words.
 */
function plainBytes(v, code, what) {
  if (kindOf.call(v) !== 'Uint8Array') return v;
  const n = lengthOf.call(v);
  if (n > MAX_FRAME) throw kairosError(code, `${what} of ${n} bytes: more than one can be (${MAX_FRAME})`);
  return n ? new Uint8Array(v) : new Uint8Array(0); // a detached one has no bytes
}

/**
 * The constructor's arguments `[snapshot, installId, publicKeys, options]` as every way to make an
 * engine checks them (`what`: the caller, for the message): the module loaded, the bytes, the options.
 */
function engineArgs(what, args) {
  needModule(what);
  args[0] = plainBytes(args[0], 'SNAPSHOT_CORRUPT', 'a snapshot');
  args[3] = own(args[3]);
  return args;
}

/** `Engine` as the package exports it: `new` checks its arguments (`engineArgs`). */
export function guarded(Engine) {
  const proxy = new Proxy(Engine, {
    construct: (target, args, newTarget) => Reflect.construct(target, engineArgs('new Engine', args), newTarget),
  });
  // `engine.constructor` is the class as exported, checks and all (diff review).
  Object.defineProperty(Engine.prototype, 'constructor', { value: proxy, writable: true, configurable: true });
  return proxy;
}

/** The glue's `hash` (`murmur3`) with its key checked: a non-string trapped the module. */
export function checkedHash(hash) {
  return (key) => {
    needModule('murmur3');
    if (typeof key !== 'string') throw kairosError('ARGUMENT_INVALID', `murmur3: \`key\` must be a string, got ${typeof key}`);
    if (key.length > 65536) throw kairosError('ARGUMENT_INVALID', `murmur3: \`key\` of ${key.length} characters: 65,536 at most`);
    return hash(key);
  };
}

/** Whether `e` is a Kairos failure. */
export function isKairosError(e) {
  return e instanceof Error && e.name === 'KairosError' && typeof e.code === 'string';
}

/**
 * `engine` after checking that it is live (the generated glue zeroes `__wbg_ptr` in `free`; when
 * `freeing`, a freed one is `null`) and not in a call already (`__busy`: a getter of that call's
 * input is calling it).
 */
function live(engine, freeing) {
  if (!engine.__wbg_ptr) {
    if (freeing) return null;
    throw kairosError('ENGINE_FREED', 'this engine was freed (free(), or replaced by sync().reset()); use a live one');
  }
  if (isBroken(engine)) {
    const e = kairosError('ENGINE_BROKEN', `a call of this engine failed inside the module (${engine.__broken}): it takes no more calls; make a new engine and import the stored state`);
    e.cause = engine.__broken;
    throw e;
  }
  if (engine.__busy) {
    throw kairosError('ENGINE_BUSY',
      "this engine is in a call already (a getter of that call's context or event called it): call it after that call returns");
  }
  return engine;
}

/** The glue's own `__call`, to probe an engine without the wrapper (see `install`). */
let rawCall;

/**
 * After a foreign error came out of its last call: the engine is broken only if the module still
 * holds it borrowed (the error struck inside it), which one plain call tells. Most such errors
 * strike before the module (a stack overflow in the layers above it, a value the boundary cannot
 * convert), and the engine is whole (diff review: 29 of 30).
 */
function probe(engine) {
  const cause = engine.__suspect;
  engine.__suspect = undefined;
  try {
    rawCall.call(engine, METHODS.length); // the `consent` getter
  } catch (e) {
    if (isKairosError(e)) return;
    // wasm-bindgen's words for an engine the module holds. Anything else (the probe itself hit
    // the stack's edge, as the call before it did) tells nothing: still suspect (review: 40 of 58
    // engines marked broken at the stack's edge were whole).
    if (e instanceof Error && String(e.message).startsWith('recursive use of an object')) {
      engine.__broken = cause;
      return;
    }
    engine.__suspect = cause;
    throw e;
  }
}

/** Whether `engine` is broken (ENGINE_BROKEN): sync's reset lets such an engine go without a call. */
export function isBroken(engine) {
  if (engine.__suspect && !engine.__busy) probe(engine);
  return Boolean(engine.__broken);
}

/** Runs `this.__call(i, a, b, c)` with the engine busy: the call may run the caller's getters. */
function busy(engine, i, a, b, c) {
  live(engine).__busy = true;
  try {
    return engine.__call(i, a, b, c);
  } finally {
    engine.__busy = false;
  }
}

// wx-only:start (`kairos.min.js`, the browser build, leaves these sections out)
/**
 * Install ids drawn ahead from random bytes that a platform gives only asynchronously (WeChat's
 * `wx.getRandomValues`, base library 2.15.0): what `drawId` hands out where there is no
 * `crypto.getRandomValues`. The mini-program build's index.js keeps them coming.
 */
const ahead = [];
let refill = null;
/** Keeps `draw` (asks for random bytes and hands them to `aheadFrom`) and calls it at once. */
export function drawAhead(draw) {
  refill = draw;
  draw();
}
/** Random bytes drawn ahead: an id of each 8, at most 8 ids kept. */
export function aheadFrom(bytes) {
  for (let i = 0; i + 8 <= bytes.length && ahead.length < 8; i += 8) ahead.push(hex(bytes.subarray(i, i + 8)));
}
// wx-only:end

/**
 * A new install id, 16 hex digits, from the platform's cryptographic random numbers (browsers,
 * Node; in mini-programs those drawn ahead), or `undefined` where there are none: the module then
 * draws one with `Math.random`, whose generator a few of its outputs give away, so an id it drew
 * at an erasure could be told from the erased one.
 */
function drawId() {
  const c = typeof crypto === 'object' && crypto !== null && typeof crypto.getRandomValues === 'function' ? crypto : null;
  if (c) return hex(c.getRandomValues(new Uint8Array(8)));
  // wx-only:start
  if (refill && ahead.length < 3) refill(); // also when none is left: a draw that failed is tried again
  if (ahead.length) return ahead.shift();
  // wx-only:end
  return undefined;
}

/** Bytes as lowercase hex. */
function hex(bytes) {
  let id = '';
  for (const b of bytes) id += (b | 256).toString(16).slice(1);
  return id;
}

/** Completes the generated `Engine` class (once): its methods, getters and fast paths. */
export function install(Engine) {
  const proto = Engine.prototype;
  if (proto.__installed) return;
  proto.__installed = true;
  // The constructor checks the signature when given keys (one export for both).
  Engine.fromSignedSnapshot = function fromSignedSnapshot(snapshot, publicKeys, installId, options) {
    return new Engine(...engineArgs('Engine.fromSignedSnapshot', [snapshot, installId ?? drawId(), publicKeys === undefined ? null : publicKeys, options]));
  };
  // A snapshot's version, checked as loading checks it (off the hot path: storage and sync call it
  // on the copies they hold or refuse), by the constructor rather than an export of its own.
  Engine.snapshotVersion = function snapshotVersion(snapshot) {
    const engine = new Engine(...engineArgs('Engine.snapshotVersion', [snapshot, '0000000000000000']));
    try {
      return engine.modelVersion;
    } finally {
      engine.free();
    }
  };
  // The methods, by their numbers in crates/wasm/src/methods.rs, each with its arguments.
  METHODS.forEach((name, i) => {
    proto[name] = function (a, b, c) {
      return busy(this, i, a, b, c);
    };
  });
  // An error other than the engine's own out of the module (a stack overflow in the host's deep
  // recursion, out of memory) may have skipped the module's own cleanup: the engine stays borrowed,
  // and each further call would leak a slot of the module's tables until every engine traps
  // (hostile-input review). The next call probes it first (`probe`); a broken one takes no more
  // calls (ENGINE_BROKEN), and is let go without one.
  rawCall = proto.__call;
  for (const name of ['__call', '__fast']) {
    const f = proto[name];
    proto[name] = function (a, b, c, d) {
      try {
        return f.call(this, a, b, c, d);
      } catch (e) {
        if (!isKairosError(e)) this.__suspect = e;
        throw e;
      }
    };
  }
  // `free` forgets the model's names and strings too, so a later call cannot use the buffers; not
  // during a call (from a getter of its input); again, it does nothing.
  const free = proto.free;
  proto.free = function () {
    if (!this.__wbg_ptr) return;
    let broken = true; // a probe that fails at the stack's edge: let it go without a call
    try {
      broken = isBroken(this);
    } catch {
      // broken stays true
    }
    if (broken) return void this.__destroy_into_raw();
    if (!live(this, true)) return;
    this.__model = undefined;
    this.__strings = undefined;
    free.call(this);
  };
  if (Symbol.dispose) proto[Symbol.dispose] = proto.free;
  // The engine drops its strings (the values of events and pages) when consent changes or the
  // shopper is forgotten: so do its indices here.
  // Both start a new install id at an erasure: drawn here unless given.
  for (const name of ['setConsent', 'forget']) {
    const f = proto[name];
    proto[name] = function (a, b, c) {
      // Its indices, and the last event's and page's values the field lists hold (review).
      this.__strings = this.__model = undefined;
      if (name === 'forget') a = a ?? drawId();
      else if (a === false) c = c ?? drawId();
      return f.call(this, a, b, c);
    };
  }
  const checkedTrack = proto.track;
  // The checked `decide` and `peek` write their decision where the fast ones do.
  const slowly = (numbers) => function (placement, context, now) {
    const m = current(this);
    const n = numbers.call(this, placement, context, now); // before `heap`: the call may grow memory
    return decision(m, heap(m), m.outAt, n);
  };
  const checked = slowly(proto.decide);
  const checkedPeek = slowly(proto.peek);
  const checkedRefresh = slowly(proto.refresh);
  // The checked `segments` (method 2) writes the segments' indices where the fast one does.
  const checkedSegments = function segments(context, now) {
    return named(current(this), busy(this, 2, context, now));
  };
  // `scores` and `explain` read the context as the fast paths do, so a getter that throws fails
  // them as it fails `decide`: its engine error as it is, any other as the cause of a
  // CONTEXT_INVALID that names the field (front-end review of 2026-11-25: "expected a string").
  for (const [name, at] of [['scores', 0], ['explain', 1]]) {
    const f = proto[name];
    proto[name] = function (a, b, c) {
      const args = [a, b, c];
      const x = current(this).context;
      read(this, x, args[at]);
      args[at] = replay(x, args[at], undefined, 'CONTEXT_INVALID', 'context');
      return f.apply(this, args);
    };
  }
  // For tests: the same results without the fast paths.
  proto.__decideChecked = checked;
  proto.__peekChecked = checkedPeek;
  proto.__trackChecked = checkedTrack;
  proto.__segmentsChecked = checkedSegments;
  GETTERS.forEach((name, i) => {
    Object.defineProperty(proto, name, { get() { return live(this).__call(METHODS.length + i); }, configurable: true });
  });
  for (const name of ['applySnapshot', 'applySignedSnapshot']) {
    const apply = proto[name];
    proto[name] = function (bytes) {
      bytes = plainBytes(bytes, 'SNAPSHOT_CORRUPT', 'a snapshot');
      this.__model = undefined;
      return apply.call(this, bytes);
    };
  }
  for (const name of ['importState', '__takeErasures']) {
    const f = proto[name];
    proto[name] = function (bytes, b, c) {
      return f.call(this, plainBytes(bytes, 'STATE_INVALID', 'state'), b, c);
    };
  }
  // `decide` records the exposure; `peek` (fast path 3, checked method `peek`) records nothing;
  // `refresh` (4) decides again only what changed in a view shown already.
  for (const [name, which, slow] of [['decide', 0, checked], ['peek', 3, checkedPeek], ['__refresh', 4, checkedRefresh]]) {
    proto[name] = function (placement, context, now) {
      const m = current(this);
      const p = m.placement.get(placement);
      if (p === undefined || (now != null && typeof now !== 'number')) {
        return slow.call(this, placement, context, now);
      }
      const f = m.context;
      if (!read(this, f, context)) return slow.call(this, placement, replay(f, context, undefined, 'CONTEXT_INVALID', 'context'), now);
      put(m, f.input, m.inAt);
      const n = this.__fast(which, p, now == null ? Date.now() : now);
      return n === 0 ? slow.call(this, placement, replay(f, context), now) : decision(m, heap(m), m.outAt, n);
    };
  }
  // The decision shown is read first, with the engine busy (its getters run once, and may not
  // call the engine), into plain values; then written as numbers after the context in the input
  // buffer, where both paths read it. It comes back as it is when the view still shows what it
  // showed.
  const refresher = (decider) => function refresh(shown, context, now) {
    const v = view(this, shown);
    const m = current(this);
    // More items than any placement shows: not this model's; id 0 (the engine decides anew).
    const fits = v.items.length <= m.mostItems;
    const numbers = [fits ? v.hi : 0, fits ? v.lo : 0, fits ? v.items.length : 0];
    for (const [offer, variant, control] of fits ? v.items : []) {
      const o = m.offer.get(offer);
      numbers.push(o ?? -1, o === undefined ? -1 : m.variants[o].indexOf(variant), control === true ? 1 : 0);
    }
    put(m, numbers, m.inAt + m.context.input.length);
    const d = decider.call(this, v.placement, context, now);
    const same = d.id === v.id && d.reason === v.reason && d.fallback === v.fallback && d.items.length === v.items.length
      && d.items.every((x, i) => [x.offer, x.variant, x.control, x.content, x.score].every((y, k) => y === v.items[i][k]));
    return same ? shown : d;
  };
  proto.refresh = refresher(proto.__refresh);
  proto.__refreshChecked = refresher(checkedRefresh);
  proto.track = function track(event, now) {
    const m = current(this);
    if ((now != null && typeof now !== 'number') || event === null || typeof event !== 'object') {
      return checkedTrack.call(this, event, now);
    }
    try {
      if (Array.isArray(event)) return checkedTrack.call(this, event, now);
    } catch {
      return checkedTrack.call(this, event, now); // a revoked proxy
    }
    // Read while busy, like the other fields: a `type` getter that freed the engine, or gave it
    // another model, would send this call to a freed engine with the old model's buffers.
    let type;
    let failed = null;
    this.__busy = true;
    try {
      type = event.type;
    } catch (error) {
      failed = { error };
    } finally {
      this.__busy = false;
    }
    if (failed) throw unreadable('EVENT_INVALID', 'event.type', failed.error);
    const k = typeof type === 'string' ? m.event.get(type) : undefined;
    if (k === undefined) return checkedTrack.call(this, withType(type, event), now);
    const f = m.props[k];
    if (!read(this, f, event)) return checkedTrack.call(this, replay(f, event, type, 'EVENT_INVALID', 'event'), now);
    put(m, f.input, m.propsAt);
    const r = this.__fast(1, k, now == null ? Date.now() : now);
    if (r === 2) this.__strings = undefined; // the engine dropped its strings: no consent
    return r === 0 ? checkedTrack.call(this, replay(f, event, type), now) : TRACKED[r];
  };
  // Every call evaluates the rules on the profile and `now` of that call; only the names are kept.
  proto.segments = function segments(context, now) {
    const m = current(this);
    if (now != null && typeof now !== 'number') return checkedSegments.call(this, context, now);
    const f = m.context;
    if (!read(this, f, context)) return checkedSegments.call(this, replay(f, context, undefined, 'CONTEXT_INVALID', 'context'), now);
    put(m, f.input, m.inAt);
    const n = this.__fast(2, 0, now == null ? Date.now() : now);
    return n === 0 ? checkedSegments.call(this, replay(f, context), now) : named(m, n - 1);
  };
}

/** A decision `refresh` is asked about, read once with the engine busy, as plain values. */
function view(engine, shown) {
  const fail = (cause) => {
    const e = kairosError('ARGUMENT_INVALID', 'refresh: `shown` must be a decision this engine returned (decide, peek or refresh)');
    if (cause !== undefined) e.cause = cause;
    return e;
  };
  if (shown === null || typeof shown !== 'object') throw fail();
  live(engine).__busy = true;
  let v;
  try {
    const { id, placement, reason, fallback, items } = shown;
    if (typeof id !== 'string' || !/^[0-9a-f]{16}$/.test(id) || typeof placement !== 'string' || !Array.isArray(items)) throw fail();
    // The length read once, and at most one item more than any placement shows (255): a getter
    // that grows the list changes nothing here.
    const n = Math.min(items.length, 256);
    const list = [];
    for (let i = 0; i < n; i++) {
      const x = items[i];
      list.push(x !== null && typeof x === 'object' ? [x.offer, x.variant, x.control, x.content, x.score] : []);
    }
    v = { id, placement, reason, fallback, items: list, hi: parseInt(id.slice(0, 8), 16), lo: parseInt(id.slice(8), 16) };
  } catch (e) {
    throw isKairosError(e) ? e : fail(e);
  } finally {
    engine.__busy = false;
  }
  return v;
}

function freeze(v) {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k in v) freeze(v[k]);
  }
}

/** The engine's running model as the fast paths see it, fetched once per model. */
function current(engine) {
  return live(engine).__model || (engine.__model = model(engine));
}

function model(engine) {
  // The model's names; the engine's buffers, as byte offsets in its memory (8-byte aligned).
  const [placements, offers, variants, contents, reasons, context, events, props, inAt, outAt, propsAt, memory,
    segments, mostItems] = engine.__prepare();
  // Content payloads are handed to every decision: frozen, so a page that changes one by mistake
  // fails there (in strict code) instead of changing what every later decision shows.
  contents.forEach(freeze);
  return {
    placements, offers, variants, contents, reasons, segments,
    placement: new Map(placements.map((name, i) => [name, i])),
    offer: new Map(offers.map((name, i) => [name, i])),
    mostItems,
    context: fields(context),
    // Event types by name; one with a property named `type` always takes the checked path.
    event: new Map(events.map((name, i) => [name, i]).filter(([, i]) => !props[i].includes('type'))),
    props: props.map(fields),
    memory,
    heap: new Float64Array(memory.buffer),
    inAt: inAt / 8,
    outAt: outAt / 8,
    propsAt: propsAt / 8,
  };
}

/**
 * What `read` fills for one list of field names: `(kind, value)` pairs in `input`, and what it
 * got: `values[i]` for fields before `stop`, then `last` (the field it stopped at: `{ value }`
 * or `{ error }`); `stop` is -1 when nothing was read.
 */
function fields(names) {
  return { names, input: new Float64Array(2 * names.length), values: new Array(names.length), stop: -1, last: null };
}

/**
 * A view of the module's memory, made again after the memory grows, which detaches the old one
 * (a view of a detached buffer has length 0; reading `memory.buffer` each call is slower).
 */
function heap(m) {
  if (m.heap.length === 0) m.heap = new Float64Array(m.memory.buffer);
  return m.heap;
}

/**
 * Copies `input` into the module's memory at `at` (in f64s): by a loop, as these are a few numbers
 * (`TypedArray.prototype.set` is a call into the runtime, slower for so few).
 */
function put(m, input, at) {
  const h = heap(m);
  for (let i = 0; i < input.length; i++) h[at + i] = input[i];
}

/**
 * The object for the checked path after `read`: the values already read (the same ones, so the
 * two paths cannot disagree and no getter runs twice), and the fields not reached yet read from
 * `obj` when the checked path asks for them; an event's `type` as read.
 */
function replay(f, obj, type, code, what) {
  // A getter that threw: its error, as it is when the engine's (ENGINE_BUSY: the getter called
  // the engine), else wrapped with it as the cause, rather than a type error that loses it.
  if (f.stop >= 0 && f.stop < f.names.length && 'error' in f.last) throw unreadable(code, `${what}.${f.names[f.stop]}`, f.last.error);
  if (f.stop < 0 && type === undefined) return obj;
  const out = type === undefined ? {} : withType(type, null);
  for (let i = 0; i < f.names.length; i++) {
    const name = f.names[i];
    let field;
    if (i < f.stop) {
      field = { value: f.values[i] };
    } else if (i === f.stop) {
      field = { value: f.last.value };
    } else {
      field = { get: () => obj[name] };
    }
    Object.defineProperty(out, name, { ...field, enumerable: true });
  }
  return out;
}

/** The error for a field whose getter threw `error`; see `replay`. */
function unreadable(code, what, error) {
  if (isKairosError(error)) return error;
  let text;
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    text = 'a value that cannot be shown';
  }
  const e = kairosError(code, `${what} could not be read: its getter threw ${text}`);
  e.cause = error;
  return e;
}

/** An event for the checked path with `type` as already read; with `event`, its other fields as they are. */
function withType(type, event) {
  const out = event === null ? {} : Object.create(event);
  Object.defineProperty(out, 'type', { value: type, enumerable: true });
  return out;
}

/**
 * Fills `f.input` from `obj`; false when the checked path must read it. While it reads, the
 * engine is busy: a getter's own call on the engine throws `ENGINE_BUSY`.
 */
function read(engine, f, obj) {
  f.stop = -1;
  if (obj == null) {
    const { input } = f;
    for (let i = 0; i < input.length; i++) input[i] = 0; // not `fill`: a call into the runtime
    return true;
  }
  if (typeof obj !== 'object') return false;
  try {
    if (Array.isArray(obj)) return false; // throws for a revoked proxy
  } catch {
    return false;
  }
  engine.__busy = true;
  try {
    return readFields(engine, f, obj);
  } finally {
    engine.__busy = false;
  }
}

function readFields(engine, f, obj) {
  const { input, values, names } = f;
  for (let i = 0; i < names.length; i++) {
    let v;
    try {
      v = obj[names[i]];
    } catch (error) {
      return stopAt(f, i, { error });
    }
    let kind = MISSING;
    let x = 0;
    if (v == null) {
      // missing
    } else if (typeof v === 'string') {
      if (v.length > MAX_CHARS) return stopAt(f, i, { value: v });
      kind = STRING;
      x = intern(engine, v);
      // The table was full and starts over: the indices of the fields before are stale.
      if (x < 0) return stopAt(f, i, { value: v });
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return stopAt(f, i, { value: v });
      kind = NUMBER;
      x = v;
    } else if (typeof v === 'boolean') {
      kind = BOOLEAN;
      x = v ? 1 : 0;
    } else {
      return stopAt(f, i, { value: v });
    }
    values[i] = v;
    input[2 * i] = kind;
    input[2 * i + 1] = x;
  }
  f.stop = names.length;
  return true;
}

/** `read` stopped at field `i` with `last`; the checked path takes over. */
function stopAt(f, i, last) {
  f.stop = i;
  f.last = last;
  return false;
}

/**
 * The index of `s` in the engine's string table, adding it; -1 when the table was full, in which
 * case the engine emptied it (the call takes the checked path, the next ones fill it again).
 */
function intern(engine, s) {
  const ids = engine.__strings || (engine.__strings = new Map());
  let id = ids.get(s);
  if (id === undefined) {
    id = engine.__call(INTERN, s); // not `__intern`: the engine is busy reading
    if (id < 0) ids.clear();
    else ids.set(s, id);
  }
  return id;
}

/** The names of the `len` segments whose indices are in the output buffer. */
function named(m, len) {
  const h = heap(m);
  const out = [];
  for (let i = 0; i < len; i++) out.push(m.segments[h[m.outAt + i]]);
  return out;
}

const DIGITS = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const digit = (x, shift) => DIGITS[(x >>> shift) & 15];
/**
 * The 16 hex digits of the 32-bit halves `hi` and `lo`, made as one flat string (concatenating
 * pieces made a rope, twice as slow to make and to read).
 */
const hex16 = (hi, lo) => String.fromCharCode(
  digit(hi, 28), digit(hi, 24), digit(hi, 20), digit(hi, 16), digit(hi, 12), digit(hi, 8), digit(hi, 4), digit(hi, 0),
  digit(lo, 28), digit(lo, 24), digit(lo, 20), digit(lo, 16), digit(lo, 12), digit(lo, 8), digit(lo, 4), digit(lo, 0),
);

/** The decision object from `[reason, placement, id high, id low, fallback, items…]`: `len` numbers of `heap` from `at`. */
function decision(m, o, at, len) {
  // Read in place (no view made per call): `at` is where the decision starts.
  const n = (len - 5) / 6;
  const items = new Array(n);
  for (let i = 0, j = at + 5; i < n; i++, j += 6) {
    const offer = o[j];
    const variant = o[j + 1];
    const content = o[j + 3];
    const score = o[j + 5];
    items[i] = {
      offer: m.offers[offer],
      variant: variant < 0 ? null : m.variants[offer][variant],
      control: o[j + 2] === 1,
      content: content < 0 ? null : m.contents[content],
      priority: o[j + 4],
      score: Number.isNaN(score) ? null : score,
    };
  }
  return {
    id: hex16(o[at + 2], o[at + 3]),
    placement: m.placements[o[at + 1]],
    reason: m.reasons[o[at]],
    items,
    fallback: o[at + 4] < 0 ? null : m.contents[o[at + 4]],
  };
}
