// The fast path of `Engine.prototype.decide`: the model's names are fetched once per model, the
// context is read here (plain property reads, no call into Wasm per field) and written as numbers
// straight into a buffer in the module's memory (strings once each, then by index); the decision
// comes back as numbers in another buffer there, and becomes the same object the checked path
// builds. No allocation or copy by the glue on the way. Anything unusual (an unknown placement, a value of the
// wrong type, a long string, NaN, a throwing getter) takes the checked path, which gives the
// error: both paths run the same engine and return the same decision. The checked path then gets
// the values already read, so each getter or proxy trap of the context runs once per call.

const MISSING = 0;
const BOOLEAN = 1;
const NUMBER = 2;
const STRING = 3;
/** Strings up to this many UTF-16 units (at most 768 UTF-8 bytes) go by index. */
const MAX_CHARS = 256;

/** Installs the fast `decide` on the generated `Engine` class (once). */
export function install(Engine) {
  const proto = Engine.prototype;
  if (proto.__fast) return;
  proto.__fast = true;
  const checked = proto.decide;
  proto.__decideChecked = checked; // for tests: the same decision without the fast path
  for (const name of ['applySnapshot', 'applySignedSnapshot']) {
    const apply = proto[name];
    proto[name] = function (bytes) {
      this.__model = undefined;
      return apply.call(this, bytes);
    };
  }
  proto.decide = function decide(placement, context, now) {
    const m = this.__model || (this.__model = model(this));
    const p = m.placement.get(placement);
    if (p === undefined || (now != null && typeof now !== 'number')) {
      return checked.call(this, placement, context, now);
    }
    if (!read(this, m, context)) return checked.call(this, placement, replay(m, context), now);
    heap(m).set(m.input, m.inAt);
    const n = this.__decide(p, now == null ? Date.now() : now);
    return n === 0 ? checked.call(this, placement, replay(m, context), now) : decision(m, heap(m), m.outAt, n);
  };
}

/** A view of the module's memory (made again after the memory grows, which detaches the old one). */
function heap(m) {
  if (m.heap.buffer !== m.memory.buffer) m.heap = new Float64Array(m.memory.buffer);
  return m.heap;
}

function model(engine) {
  const [placements, offers, variants, contents, reasons, context] = engine.__names();
  // The engine's input and output buffers, as byte offsets in its memory (8-byte aligned).
  const [inAt, outAt] = engine.__buffers();
  const memory = engine.constructor.__memory();
  return {
    placements, offers, variants, contents, reasons, context,
    placement: new Map(placements.map((name, i) => [name, i])),
    input: new Float64Array(2 * context.length),
    memory,
    heap: new Float64Array(memory.buffer),
    inAt: inAt / 8,
    outAt: outAt / 8,
    // What `read` got from the context: values[i] for fields before `stop`, then `last` (the
    // field it stopped at: `{ value }` or `{ error }`); `stop` is -1 when nothing was read.
    values: new Array(context.length),
    stop: -1,
    last: null,
  };
}

/**
 * The context for the checked path after `read`: the values already read (the same ones, so the
 * two paths cannot disagree and no getter runs twice), and the fields not reached yet read
 * from `context` when the checked path asks for them.
 */
function replay(m, context) {
  if (m.stop < 0) return context;
  const out = {};
  for (let i = 0; i < m.context.length; i++) {
    const name = m.context[i];
    let field;
    if (i < m.stop) {
      field = { value: m.values[i] };
    } else if (i === m.stop && 'error' in m.last) {
      const { error } = m.last;
      field = { get() { throw error; } };
    } else if (i === m.stop) {
      field = { value: m.last.value };
    } else {
      field = { get: () => context[name] };
    }
    Object.defineProperty(out, name, { ...field, enumerable: true });
  }
  return out;
}

/** Fills `m.input` from `context`; false when the checked path must read it. */
function read(engine, m, context) {
  const input = m.input;
  const values = m.values;
  m.stop = -1;
  if (context == null) {
    input.fill(0);
    return true;
  }
  if (typeof context !== 'object') return false;
  try {
    if (Array.isArray(context)) return false; // throws for a revoked proxy
  } catch {
    return false;
  }
  for (let i = 0; i < m.context.length; i++) {
    let v;
    try {
      v = context[m.context[i]];
    } catch (error) {
      return stopAt(m, i, { error });
    }
    let kind = MISSING;
    let x = 0;
    if (v == null) {
      // missing
    } else if (typeof v === 'string') {
      if (v.length > MAX_CHARS) return stopAt(m, i, { value: v });
      kind = STRING;
      x = intern(engine, v);
      // The table was full and starts over: the indices of the fields before are stale.
      if (x < 0) return stopAt(m, i, { value: v });
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return stopAt(m, i, { value: v });
      kind = NUMBER;
      x = v;
    } else if (typeof v === 'boolean') {
      kind = BOOLEAN;
      x = v ? 1 : 0;
    } else {
      return stopAt(m, i, { value: v });
    }
    values[i] = v;
    input[2 * i] = kind;
    input[2 * i + 1] = x;
  }
  m.stop = m.context.length;
  return true;
}

/** `read` stopped at field `i` with `last`; the checked path takes over. */
function stopAt(m, i, last) {
  m.stop = i;
  m.last = last;
  return false;
}

/**
 * The index of `s` in the engine's string table, adding it; -1 when the table was full, in which
 * case it is emptied (the call takes the checked path, the next ones fill it again).
 */
function intern(engine, s) {
  const ids = engine.__strings || (engine.__strings = new Map());
  let id = ids.get(s);
  if (id === undefined) {
    id = engine.__intern(s);
    if (id < 0) {
      engine.__internClear();
      ids.clear();
      return -1;
    }
    ids.set(s, id);
  }
  return id;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** Eight hex digits of a 32-bit unsigned integer (a table: `toString(16)` is slow on doubles). */
const hex8 = (x) => HEX[x >>> 24] + HEX[(x >>> 16) & 255] + HEX[(x >>> 8) & 255] + HEX[x & 255];

/** The decision object from `[reason, placement, id high, id low, fallback, items…]`: `len` numbers of `heap` from `at`. */
function decision(m, heap, at, len) {
  const o = heap.subarray(at, at + len);
  const n = (len - 5) / 6;
  const items = new Array(n);
  for (let i = 0, j = 5; i < n; i++, j += 6) {
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
    id: hex8(o[2]) + hex8(o[3]),
    placement: m.placements[o[1]],
    reason: m.reasons[o[0]],
    items,
    fallback: o[4] < 0 ? null : m.contents[o[4]],
  };
}
