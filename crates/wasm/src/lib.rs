//! Kairos for JavaScript: the class `Engine`, a thin binding over [`kairos::Engine`]. It only
//! converts values and maps errors to `Error`s with a stable `code`; the logic is in the core.
//!
//! Per model, the names JavaScript reads and receives (event property keys, context keys, offer
//! and variant ids) are made JavaScript strings once, and each content payload is parsed once
//! with `JSON.parse`; decisions then hand out those same objects by reference.

// The package: no std (see the feature `std` in Cargo.toml); tests and `evaluate` keep it.
#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

mod convert;
mod error;
mod evaluate; // built only with the cargo feature `evaluate` (see its `#![cfg]`)
mod methods;

use alloc::{string::String, vec, vec::Vec};

use methods::method;

use js_sys::Array;
use kairos::engine::host::{self, Raw};
use kairos::engine::input::{self, InputError};
use kairos::engine::{Decision, Engine as Core, Item, Reason, Tracked};
use kairos::logic::Value;
use kairos::model::ValueType;
use kairos::sign::Trust;
use kairos::Model;
use wasm_bindgen::prelude::*;

use convert::{array, get, is_record, raw};
use error::code;

/// The keys the checked paths read, as JavaScript strings made once per model.
#[derive(Default)]
struct Names {
    /// Property keys of each event type.
    props: Vec<Vec<JsValue>>,
    /// Context field keys.
    context: Vec<JsValue>,
}

impl Names {
    // Plain loops: a `map(..).collect()` per list is a copy of the collecting code per closure.
    fn new(m: &Model) -> Self {
        let mut n = Names::default();
        for e in &m.events {
            let mut props = Vec::new();
            for (name, _) in &e.props {
                props.push(JsValue::from_str(name));
            }
            n.props.push(props);
        }
        for (name, _) in &m.context {
            n.context.push(JsValue::from_str(name));
        }
        n
    }
}

/// One shopper's engine on this device.
#[wasm_bindgen]
pub struct Engine {
    core: Core,
    names: Names,
    /// The key `type`, of events.
    type_key: JsValue,
    context: Vec<Value>,
    props: Vec<Value>,
    decision: Decision,
    /// The decision `refresh` is asked about (see [`Engine::read_shown`]).
    shown: Decision,
    /// Strings the package's JavaScript sent once and now names by index (see `intern`).
    interned: Vec<String>,
    /// Per context slot, the interned string it holds from the last fast decide, if any.
    context_ids: Vec<Option<u32>>,
    /// The fast decide's input, written by the package's JavaScript straight into this memory.
    fast_in: Vec<f64>,
    /// The fast track's input: `(kind, value)` per property of the event type, as for contexts.
    fast_props: Vec<f64>,
    /// The fast decide's and segments' output, read by the package's JavaScript straight from
    /// this memory; its capacity is fixed when [`Engine::prepare`] makes it, so it never moves.
    fast_out: Vec<f64>,
}

#[wasm_bindgen]
extern "C" {
    /// JavaScript's `Number(text)`.
    #[wasm_bindgen(js_name = Number)]
    fn js_number(text: &str) -> f64;
    /// JavaScript's `String(number)`.
    #[wasm_bindgen(js_name = String)]
    fn js_string(n: f64) -> String;
}

/// Gives the core JavaScript's number text conversions: it is built without its own here (they
/// are 17 KB gzip), and JavaScript's are the semantics it follows anyway. Every engine calls it
/// when it is made (rules are evaluated only by an engine); the first call counts, later ones do
/// nothing.
pub(crate) fn use_javascript_numbers() {
    kairos::logic::set_host_numbers(kairos::logic::HostNumbers { parse: js_number, format: js_string });
}

/// The module's allocator: rlsf's TLSF (constant-time allocation and free, no locking on
/// single-threaded Wasm) in its small-code configuration, 7 KB smaller than the default dlmalloc.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: rlsf::SmallGlobalTlsf = rlsf::SmallGlobalTlsf::new();

/// A panic traps. None is expected (the lints deny the calls that panic), but code from core and
/// the dependencies keeps its panic paths; without std they end here, with no message formatted.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Numbers at the head of a fast decision, and per item (see [`Engine::decide_fast`]).
const DECISION_HEAD: usize = 5;
const DECISION_ITEM: usize = 6;

/// Most strings kept by `intern`; the JavaScript side starts over when full.
const MAX_INTERNED: usize = 4096;

/// `now` from an optional JavaScript number; `undefined` means `Date.now()`.
fn now(v: &JsValue) -> Result<i64, JsValue> {
    let ms = if v.is_undefined() || v.is_null() {
        js_sys::Date::now()
    } else {
        // Not a number: NaN, which `time_ms` refuses like any other bad time.
        v.as_f64().unwrap_or(f64::NAN)
    };
    host::time_ms(ms).map_err(|e| error::input(&e, code::TIME_INVALID))
}

/// An install id: 16 hex digits, or a fresh random one for `undefined`.
fn install_id(v: &JsValue) -> Result<u64, JsValue> {
    if v.is_undefined() || v.is_null() {
        let half = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
        return Ok((half() << 32) | half());
    }
    // Digit by digit: `u64::from_str_radix` would be one more parser in the module (and would take
    // a leading `+` as one of the sixteen).
    let digits = v.as_string().filter(|s| s.len() == 16);
    digits
        .and_then(|s| s.bytes().try_fold(0, |id, b| Some(id << 4 | u64::from(char::from(b).to_digit(16)?))))
        .ok_or_else(|| error::error(code::ARGUMENT_INVALID, "installId must be a string of 16 hex digits"))
}

fn name_arg(v: &JsValue, what: &str, code: &str) -> Result<String, JsValue> {
    match convert::string(v, 256) {
        Some(Ok(s)) => Ok(s),
        Some(Err(())) => Err(error::joined(code, &[what, ": too long"])),
        None => Err(error::joined(code, &[what, " must be a string, got ", convert::kind(v)])),
    }
}

/// The bytes of `v`, a `Uint8Array` named `what` in the error with `code` otherwise.
fn bytes_arg(v: &JsValue, what: &str, code: &str) -> Result<Vec<u8>, JsValue> {
    convert::bytes(v).ok_or_else(|| {
        let got = if convert::is_array_buffer(v) {
            "an ArrayBuffer: pass new Uint8Array(buffer)"
        } else {
            convert::kind(v)
        };
        error::joined(code, &[what, " must be a Uint8Array, got ", got])
    })
}

/// `options[name]`: `true`, or `false` when absent; anything else is refused (a typo'd value
/// must not switch a check off, or on, silently).
fn option_flag(options: &JsValue, name: &str) -> Result<bool, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(false);
    }
    let bad = || {
        error::joined(
            code::ARGUMENT_INVALID,
            &["options must be an object like { ", name, ": true }, got ", convert::kind(options)],
        )
    };
    if !options.is_object() {
        return Err(bad());
    }
    let v = convert::get(options, &JsValue::from_str(name)).map_err(|_| bad())?;
    match v.as_bool() {
        Some(b) => Ok(b),
        None if v.is_undefined() => Ok(false),
        None => Err(error::joined(
            code::ARGUMENT_INVALID,
            &["options.", name, " must be a boolean, got ", convert::kind(&v)],
        )),
    }
}

fn snapshot_bytes(v: &JsValue) -> Result<Vec<u8>, JsValue> {
    bytes_arg(v, "snapshot", code::SNAPSHOT_CORRUPT)
}

impl Engine {
    /// For the fast paths in pkg/fast.js, once per model: `[placements, offers,
    /// variants, contents, reasons, context, events, props, input, output, propsAt, memory,
    /// segments, most items]`.
    /// First the model's names and parsed content payloads (`props`: per event type, its
    /// property names). Then the fast paths' buffers, made here in this module's memory for the
    /// running model, as byte offsets: the input holds `(kind, value)` per context slot (kind 0
    /// missing, 1 boolean, 2 finite number, 3 interned string), then room for the decision
    /// `refresh` is asked about (see [`Engine::read_shown`]); the output room for the longest
    /// decision or every segment's index; props the same pairs for the fast track, room for the
    /// event type with the most properties. None moves until the next call. Then the module's
    /// memory, where they are; the segment names; last the most items a placement shows.
    fn prepare(&mut self) -> Array {
        let model = self.core.model();
        let s = JsValue::from_str;
        let (placements, offers, variants, contents) =
            (Array::new(), Array::new(), Array::new(), Array::new());
        for p in &model.placements {
            placements.push(&s(&p.name));
        }
        for o in &model.offers {
            offers.push(&s(&o.id));
            let ids = Array::new();
            for v in &o.variants {
                ids.push(&s(&v.id));
            }
            variants.push(&ids);
        }
        // Parsed once per model (a payload that is not JSON stays a string): decisions hand out
        // these same objects.
        for c in &model.contents {
            contents.push(&js_sys::JSON::parse(c).unwrap_or_else(|_| s(c)));
        }
        let reasons = Array::new();
        for r in Reason::ALL {
            reasons.push(&s(r.as_str()));
        }
        let events = Array::new();
        for e in &model.events {
            events.push(&s(&e.name));
        }
        let props = Array::new();
        for p in &self.names.props {
            props.push(&array(p));
        }
        let out = Array::new();
        for part in
            [placements, offers, variants, contents, reasons, array(&self.names.context), events, props]
        {
            out.push(&part);
        }
        let (items, mut props) = (most_items(model), 0);
        for e in &model.events {
            props = props.max(e.props.len());
        }
        // The context's pairs, then the decision `refresh` is asked about (see `read_shown`).
        self.fast_in = vec![0.0; input_len(model)];
        self.fast_props = vec![0.0; 2 * props];
        // Room for the longest decision, or for every segment's index.
        self.fast_out = Vec::with_capacity((DECISION_HEAD + DECISION_ITEM * items).max(model.segments.len()));
        for at in [self.fast_in.as_ptr(), self.fast_out.as_ptr(), self.fast_props.as_ptr()] {
            out.push(&JsValue::from(at as u32));
        }
        out.push(&wasm_bindgen::memory());
        let segments = Array::new();
        for g in &model.segments {
            segments.push(&s(&g.name));
        }
        out.push(&segments);
        out.push(&JsValue::from(items as u32));
        out
    }

    /// For the fast paths in pkg/fast.js: keeps `s` (at most [`MAX_INPUT_STRING`] bytes) and returns
    /// its index for [`Engine::decide_fast`], or -1 when the table is full or `s` too long: the
    /// table is then emptied (the caller forgets its indices and takes the checked path).
    fn intern(&mut self, s: String) -> i32 {
        if self.interned.len() >= MAX_INTERNED || s.len() > input::MAX_INPUT_STRING {
            self.interned.clear();
            self.context_ids.clear();
            return -1;
        }
        self.interned.push(s);
        self.interned.len() as i32 - 1
    }

    /// Writes the decision to the output buffer, as [`Engine::decide_fast`] describes it; how
    /// many numbers.
    fn write_decision(&mut self) -> u32 {
        let d = &self.decision;
        let out = &mut self.fast_out;
        out.clear();
        if out.capacity() < DECISION_HEAD + DECISION_ITEM * d.items.len() {
            return 0; // never here: `prepare` made room for the longest decision
        }
        let none = |x: Option<u32>| x.map_or(-1.0, f64::from);
        out.extend_from_slice(&[
            d.reason.index() as f64,
            d.placement as f64,
            (d.id >> 32) as f64,
            (d.id & 0xffff_ffff) as f64,
            none(d.fallback),
        ]);
        for it in &d.items {
            out.extend_from_slice(&[
                it.offer as f64,
                it.variant.map_or(-1.0, |v| v as f64),
                f64::from(u8::from(it.control)),
                none(it.content),
                f64::from(it.priority),
                it.score.unwrap_or(f64::NAN),
            ]);
        }
        out.len() as u32
    }

    /// Drops the strings kept for the fast paths (events' and pages' values) and the last event's
    /// and context's values: on consent given or withdrawn, `forget`, and an event tracked without
    /// consent, so no value of the shopper's is kept past them. pkg/fast.js forgets its indices
    /// into the table at the same calls. (Their memory is freed, not overwritten: overwriting
    /// them cost 0.2 KB gzip, and scripts of the page that could read the module's memory can
    /// read the values as they are passed in anyway.)
    pub(crate) fn forget_strings(&mut self) {
        self.interned.clear();
        self.context_ids.clear();
        self.props.clear();
        self.context.clear();
    }

    /// After a new model: its names, and no context slot holding an interned string of the old
    /// one. (The package's JavaScript fetches new fast buffers for it, see `prepare`.)
    fn model_changed(&mut self) {
        self.names = Names::new(self.core.model());
        self.context_ids.clear();
    }

    fn wrap(core: Core) -> Engine {
        use_javascript_numbers();
        let names = Names::new(core.model());
        Engine {
            core,
            names,
            type_key: JsValue::from_str("type"),
            context: Vec::new(),
            props: Vec::new(),
            decision: Decision::empty(),
            shown: Decision::empty(),
            interned: Vec::new(),
            context_ids: Vec::new(),
            fast_in: Vec::new(),
            fast_props: Vec::new(),
            fast_out: Vec::new(),
        }
    }
}

#[wasm_bindgen]
impl Engine {
    /// A fresh engine (no consent yet) from snapshot bytes. `installId` is 16 hex digits the
    /// host keeps per install; without it one is drawn (and kept in exported state).
    ///
    /// With `publicKeys` (pkg/fast.js's `Engine.fromSignedSnapshot` passes them; `null` when its
    /// caller gave none, which fails), the snapshot must be signed with one of them (the brand's
    /// keys in the `kairos-ed25519-public:` text form, also trusted for trait tokens). Development
    /// only, in `options`: `allowUnsigned` accepts unsigned snapshots, `allowUnsignedTraits`
    /// traits without a token (`setTraits`). One export for both: each export costs the module a
    /// shim of its own.
    #[wasm_bindgen(constructor)]
    pub fn new(
        snapshot: &JsValue,
        install: &JsValue,
        public_keys: &JsValue,
        options: &JsValue,
    ) -> Result<Engine, JsValue> {
        let bytes = snapshot_bytes(snapshot)?;
        let trust = if public_keys.is_undefined() {
            None
        } else {
            let keys = convert::public_keys(public_keys)?;
            Some(Trust {
                snapshot_keys: keys.clone(),
                token_keys: keys,
                allow_unsigned: option_flag(options, "allowUnsigned")?,
                allow_unsigned_traits: option_flag(options, "allowUnsignedTraits")?,
                min_version: 0,
            })
        };
        let install = install_id(install)?;
        Ok(Engine::wrap(Core::from_snapshot_with(&bytes, trust, install).map_err(|e| error::snapshot(&e))?))
    }

    /// For the package's JavaScript (pkg/fast.js): the fast `decide` (`which` 0, see
    /// [`Engine::decide_fast`]), `peek` (3: the same, recording nothing), `refresh` (4: the same
    /// for a view already shown, see [`Engine::read_shown`]) or `track` (1, see
    /// [`Engine::track_fast`]) of `index`, or the fast `segments` (2): with the context in the input buffer (see [`Engine::prepare`]), the
    /// segments' indices to the output buffer as [`Engine::write_segments`] writes them, and how
    /// many plus one. 0: the input needs the checked path (which gives the error).
    #[wasm_bindgen(js_name = __fast)]
    pub fn fast(&mut self, which: u32, index: u32, now: f64) -> u32 {
        if which == 1 {
            return self.track_fast(index, now);
        }
        let Ok(now) = host::time_ms(now) else { return 0 };
        if !self.fast_context() {
            0
        } else if which == 2 {
            self.write_segments(now) + 1
        } else {
            self.decide_fast(index, now, which)
        }
    }
}

impl Engine {
    /// `track` of event type `kind` (by index) with its properties in the props buffer (see
    /// [`Engine::prepare`]). 1: recorded, 2: no consent (nothing kept), 0: the input needs the
    /// checked path (which gives the error).
    fn track_fast(&mut self, kind: u32, now: f64) -> u32 {
        let Ok(now) = host::time_ms(now) else { return 0 };
        let model = self.core.model();
        let Some(def) = model.events.get(kind as usize) else { return 0 };
        let Some(pairs) = self.fast_props.get(..2 * def.props.len()) else { return 0 };
        // The values of the last event kept: a string slot reuses its allocation (the same event
        // type, the usual case, gives every string its slot of last time).
        if self.props.len() != def.props.len() {
            self.props.clear();
            for _ in &def.props {
                self.props.push(Value::Null);
            }
        }
        for (((_, ty), pair), slot) in def.props.iter().zip(pairs.chunks_exact(2)).zip(&mut self.props) {
            let [kind, x] = *pair_of(pair);
            if !fast_slot(slot, kind, x, *ty, &self.interned) {
                return 0;
            }
        }
        match self.core.track(kind as usize, &self.props, now) {
            Tracked::Recorded => 1,
            Tracked::NoConsent => {
                // Nothing of an event without consent stays (pkg/fast.js forgets its indices too).
                self.forget_strings();
                2
            }
        }
    }

    /// `decide` with the placement by index and the context in the input buffer (see
    /// [`Engine::prepare`]). Writes the decision to the output buffer as numbers, `[reason,
    /// placement, id high, id low, fallback, items…]` with six numbers per item (`offer, variant,
    /// control, content, priority, score`; -1 or NaN for none), and returns how many; 0 when the
    /// input needs the checked path (which gives the error).
    fn decide_fast(&mut self, placement: u32, now: i64, which: u32) -> u32 {
        let p = placement as usize;
        if p >= self.core.model().placements.len() {
            return 0;
        }
        let which = match which {
            0 => method::DECIDE,
            3 => method::PEEK,
            4 => method::REFRESH,
            _ => return 0,
        };
        self.decide_with(p, now, which)
    }

    /// `decide`, `peek` or `refresh` (by their method numbers) of placement `p` with the context
    /// set; writes the decision to the output buffer; how many numbers.
    fn decide_with(&mut self, p: usize, now: i64, which: u32) -> u32 {
        if which == method::REFRESH {
            self.read_shown(p);
        }
        let (ctx, out) = (&self.context, &mut self.decision);
        match which {
            method::PEEK => self.core.peek_into(p, ctx, now, out),
            method::REFRESH => self.core.refresh_into(&self.shown, ctx, now, out),
            _ => self.core.decide_into(p, ctx, now, out),
        }
        self.write_decision()
    }

    /// Reads the decision `refresh` is asked about, of placement `p`, from the input buffer after
    /// the context, where fast.js writes it: `[id high, id low, items, (offer, variant, control)
    /// per item]` (-1: no variant, also for a variant this model lacks). What this model cannot
    /// have shown (an offer it lacks, more items than room) reads as id 0: `refresh` decides anew.
    fn read_shown(&mut self, p: usize) {
        let d = &mut self.shown;
        d.placement = p;
        // fast.js found its offers and variants by name in the running model.
        d.model = self.core.model().version;
        d.id = 0;
        d.items.clear();
        // Whole by a round trip through u64 (exact in this range): `fract` is not in core.
        let whole =
            |x: &f64| (*x >= 0.0 && *x <= f64::from(u32::MAX) && *x as u64 as f64 == *x).then_some(*x as u64);
        let area = self.fast_in.get(2 * self.core.model().context.len()..).unwrap_or_default();
        let [hi, lo, n, items @ ..] = area else { return };
        let (Some(hi), Some(lo), Some(n)) = (whole(hi), whole(lo), whole(n)) else { return };
        let Some(items) = usize::try_from(n).ok().and_then(|n| n.checked_mul(3)).and_then(|n| items.get(..n))
        else {
            return;
        };
        for item in items.chunks_exact(3) {
            let &[offer, variant, control] = item else { return };
            let Some(offer) = whole(&offer) else { return };
            d.items.push(Item {
                offer: offer as usize,
                variant: whole(&variant).map(|v| v as usize),
                control: control == 1.0,
                content: None,
                priority: 0,
                score: None,
            });
        }
        d.id = hi << 32 | lo;
    }

    /// Writes the index of each segment the shopper is in now, in model order, to the output
    /// buffer (which `prepare` made room for every segment in); how many.
    fn write_segments(&mut self, now: i64) -> u32 {
        let out = &mut self.fast_out;
        out.clear();
        self.core.segments_each(&self.context, now, |i| {
            if out.len() < out.capacity() {
                out.push(i as f64);
            }
        });
        out.len() as u32
    }

    /// Sets the context from the input buffer (see [`Engine::prepare`]); false when it needs the
    /// checked path.
    fn fast_context(&mut self) -> bool {
        let model = self.core.model();
        if self.fast_in.len() != input_len(model) {
            return false;
        }
        if self.context.len() != model.context.len() {
            // Rare (a new model, or after the checked path): a new vector.
            self.context = host::nulls(model.context.len());
        }
        self.context_ids.resize(model.context.len(), None);
        let slots = model.context.iter().zip(self.context.iter_mut()).zip(self.context_ids.iter_mut());
        for ((((_, ty), slot), id), pair) in slots.zip(self.fast_in.chunks_exact(2)) {
            let [kind, x] = *pair_of(pair);
            // The slot may already hold this interned string from the last call.
            let string = (kind as u8 == STRING).then_some(x as u32);
            if string.is_some() && *id == string {
                continue;
            }
            if !fast_slot(slot, kind, x, *ty, &self.interned) {
                return false;
            }
            *id = string;
        }
        true
    }
}

/// The pair in a two-element chunk.
/// Kind of a fast buffer's `(kind, value)` pair whose value is an interned string's index (the
/// others: 0 missing, 1 boolean, 2 finite number).
const STRING: u8 = 3;

/// Sets `slot`, of type `ty`, from a fast buffer's `(kind, x)` pair; false when the pair does not
/// fit the type (the checked path then reads the input and gives the error).
fn fast_slot(slot: &mut Value, kind: f64, x: f64, ty: ValueType, interned: &[String]) -> bool {
    match (kind as u8, ty) {
        (0, _) => *slot = Value::Null,
        (1, ValueType::Bool) => *slot = Value::Bool(x != 0.0),
        (2, ValueType::Number) if x.is_finite() => *slot = Value::Number(x),
        // A string slot reuses its allocation (and `Value`'s whole clone is not needed here).
        (STRING, ValueType::String) => match (interned.get(x as usize), slot) {
            (Some(s), Value::String(held)) => held.clone_from(s),
            (Some(s), slot) => *slot = Value::String(s.clone()),
            (None, _) => return false,
        },
        _ => return false,
    }
    true
}

/// Most items any placement of `model` shows.
fn most_items(model: &Model) -> usize {
    model.placements.iter().map(|p| usize::from(p.max_items)).max().unwrap_or(0)
}

/// The fast input buffer's length for `model`: a `(kind, value)` pair per context slot, then room
/// for the decision `refresh` is asked about (see [`Engine::read_shown`]).
fn input_len(model: &Model) -> usize {
    2 * model.context.len() + 3 + 3 * most_items(model)
}

fn pair_of(c: &[f64]) -> &[f64; 2] {
    c.try_into().unwrap_or(&[f64::NAN, f64::NAN])
}

/// MurmurHash3 (x86, 32-bit, seed 0) of a string's UTF-8 bytes: the hash `fractional` buckets
/// by, for hosts and tests that must agree with the engine's bucketing.
#[wasm_bindgen]
pub fn murmur3(key: &str) -> u32 {
    kairos::logic::murmur3_x86_32(key.as_bytes(), 0)
}

/// Field `key` of `obj` as a value of type `ty`, named `what.name` in errors. (One function for
/// events and contexts: `host::value` is generic over the closure that names the field.)
fn field(obj: &JsValue, key: &JsValue, what: &str, name: &str, ty: ValueType) -> Result<Value, InputError> {
    let v = get(obj, key).map_or(Raw::Other("a value that could not be read"), |v| raw(&v));
    host::value(
        || {
            let mut at = String::from(what);
            at.push('.');
            at.push_str(name);
            at
        },
        ty,
        v,
    )
}

impl Engine {
    fn event(&mut self, event: &JsValue) -> Result<usize, InputError> {
        if !is_record(event) {
            return Err(InputError::NotAnObject { what: "event", example: r#"{"type": "view"}"# });
        }
        let ty = get(event, &self.type_key).map_err(|_| InputError::MissingType)?;
        let name = match convert::string(&ty, 256) {
            _ if ty.is_undefined() => return Err(InputError::MissingType),
            Some(Ok(s)) => s,
            Some(Err(())) => return Err(InputError::TooLong { field: "event.type".into(), max: 256 }),
            None => {
                return Err(InputError::WrongType {
                    field: "event.type".into(),
                    expected: "a string",
                    got: convert::kind(&ty).into(),
                })
            }
        };
        let kind = input::event_index(self.core.model(), &name)?;
        let defs = self.core.model().events.get(kind).map(|d| d.props.as_slice()).unwrap_or_default();
        let keys = self.names.props.get(kind).map(Vec::as_slice).unwrap_or_default();
        self.props.clear();
        // By index, not `zip`: its constructor is one more generic instance in the module.
        for (i, (prop, ty)) in defs.iter().enumerate() {
            let Some(key) = keys.get(i) else { break };
            self.props.push(field(event, key, "event", prop, *ty)?);
        }
        Ok(kind)
    }

    fn fill_context(&mut self, context: &JsValue) -> Result<(), JsValue> {
        let model = self.core.model();
        self.context.clear();
        self.context_ids.clear();
        if context.is_undefined() || context.is_null() {
            self.context = host::nulls(model.context.len());
            return Ok(());
        }
        if !is_record(context) {
            let e = InputError::NotAnObject { what: "context", example: r#"{"page": "home"}"# };
            return Err(error::input(&e, code::CONTEXT_INVALID));
        }
        for (i, (name, ty)) in model.context.iter().enumerate() {
            let Some(key) = self.names.context.get(i) else { break };
            match field(context, key, "context", name, *ty) {
                Ok(v) => self.context.push(v),
                Err(e) => {
                    self.context.clear();
                    return Err(error::input(&e, code::CONTEXT_INVALID));
                }
            }
        }
        Ok(())
    }
}
