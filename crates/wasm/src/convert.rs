//! Conversions between JavaScript values and the core's inputs and outputs. No JSON text: values
//! are read field by field with cached keys.
//!
//! INVARIANT: every call into JavaScript on a value from the caller either cannot throw (typeof
//! checks, `instanceof` which the glue wraps in try/catch) or goes through `Reflect` or an import
//! marked `catch` (whose errors come back as `Err`). A JavaScript exception thrown through a
//! `&mut self` method would leave the engine borrowed for good ("recursive use of an object"); thrown
//! through any export, static ones too, it skips the glue's release of the borrowed argument
//! slots, and after 256 such calls the module traps ("table index is out of bounds") for every
//! engine of the page. A revoked or hostile `Proxy` must not be able to do that.

use alloc::{string::String, vec::Vec};
use js_sys::{Array, Object, Reflect, Uint8Array};
use kairos::engine::host::Raw;
use kairos::engine::input::{MAX_INPUT_LIST, MAX_INPUT_STRING};
use kairos::outbox::{Field, OutboxEvent};
use kairos::sign::PublicKey;
use wasm_bindgen::prelude::*;

use crate::error;

/// Most keys read from one traits object.
const MAX_TRAITS: u32 = 256;

/// What a JavaScript value is, for error messages. (By `typeof`: one import for every kind.)
pub fn kind(v: &JsValue) -> &'static str {
    match v.js_typeof().as_string().as_deref() {
        Some("undefined") => "undefined",
        Some("string") => "a string",
        Some("number") => "a number",
        Some("boolean") => "a boolean",
        Some("bigint") => "a big integer",
        Some("symbol") => "a symbol",
        Some("function") => "a function",
        _ if v.is_null() => "null",
        _ if is_array(v) => "an array",
        _ => "an object",
    }
}

/// An array, of this realm or another (an iframe's, a `vm` context's), as fast.js decides:
/// `Array.isArray` (not `instanceof`, which an object with `Array.prototype` passes and a foreign
/// array fails). A revoked proxy, on which it throws, is no array (reading it fails then).
pub fn is_array(v: &JsValue) -> bool {
    array_or_err(v).unwrap_or(false)
}

/// A plain object (not null, not an array).
pub fn is_record(v: &JsValue) -> bool {
    v.is_object() && !is_array(v)
}

/// An array's length, read through `Reflect` (a proxy's trap may throw).
fn checked_length(v: &JsValue) -> Result<u32, ()> {
    let n = Reflect::get(v, &JsValue::from_str("length")).map_err(|_| ())?.as_f64().ok_or(())?;
    if n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX) {
        Ok(n as u32)
    } else {
        Err(())
    }
}

#[wasm_bindgen]
extern "C" {
    /// `Array.isArray(v)`; its exception on a revoked proxy is an `Err` (`catch`).
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn array_or_err(v: &JsValue) -> Result<bool, JsValue>;
    /// `Object.prototype.toString.call(v)`: `[object Uint8Array]` for a `Uint8Array` of any realm;
    /// a throwing proxy trap is an `Err`.
    #[wasm_bindgen(catch, js_namespace = ["Object", "prototype", "toString"], js_name = call)]
    fn tag(v: &JsValue) -> Result<String, JsValue>;
    /// `Object.keys(v)`; a throwing proxy trap is an `Err` (`catch`), not an exception.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn keys(v: &JsValue) -> Result<Array, JsValue>;
    /// A string or an array.
    type HasLength;
    /// Its `length`: one import for both (js-sys has one per type).
    #[wasm_bindgen(method, getter)]
    fn length(this: &HasLength) -> u32;
    /// `Uint8Array.prototype.slice.call(v)`: a copy of the bytes, which the glue moves into the
    /// module. (js-sys's `to_vec` reads the length twice and asserts that both agree, which
    /// brings `assert_eq!`'s formatting into the module.)
    #[wasm_bindgen(catch, js_namespace = Uint8Array, js_name = "prototype.slice.call")]
    fn copy_bytes(v: &Uint8Array) -> Result<Vec<u8>, JsValue>;
}

/// The `length` of a string or an array, read as js-sys reads it (unchecked: only for a string
/// or an array made here, never a caller's array, which may be a proxy whose trap throws; see
/// the INVARIANT above and [`checked_length`]).
fn len(v: &JsValue) -> u32 {
    v.unchecked_ref::<HasLength>().length()
}

/// Element `i`, read through `Reflect`.
fn element(v: &JsValue, i: u32) -> JsValue {
    // `Reflect::get` with a number key: `get_u32` would be one more import.
    Reflect::get(v, &JsValue::from(i)).unwrap_or(JsValue::UNDEFINED)
}

/// A string, or `None` when `v` is not one. Strings longer than `max` UTF-16 units are refused
/// without being copied.
pub fn string(v: &JsValue, max: u32) -> Option<Result<String, ()>> {
    if !v.is_string() {
        return None;
    }
    if len(v) > max {
        return Some(Err(()));
    }
    // Lone surrogates become U+FFFD in the copy (the glue's UTF-8 encoding).
    Some(v.as_string().ok_or(()))
}

/// One scalar value (strings bounded).
fn scalar(v: &JsValue) -> Raw {
    if v.is_undefined() || v.is_null() {
        Raw::Null
    } else if let Some(b) = v.as_bool() {
        Raw::Bool(b)
    } else if let Some(n) = v.as_f64() {
        Raw::Number(n)
    } else if let Some(s) = string(v, MAX_INPUT_STRING as u32) {
        s.map_or(Raw::LongString, Raw::String)
    } else {
        Raw::Other(kind(v))
    }
}

/// One event property or context field. Lists are read one level deep, at most
/// [`MAX_INPUT_LIST`] elements (the host length is reported so longer ones are refused).
pub fn raw(v: &JsValue) -> Raw {
    if is_array(v) {
        let Ok(len) = checked_length(v) else { return Raw::Other("an array that could not be read") };
        let len = len as usize;
        if len > MAX_INPUT_LIST {
            return Raw::List { len, items: Vec::new() };
        }
        let mut items = Vec::with_capacity(len);
        for i in 0..len as u32 {
            items.push(scalar(&element(v, i)));
        }
        return Raw::List { len, items };
    }
    scalar(v)
}

/// Reads `obj[key]`; a throwing getter or proxy trap becomes `Err`.
pub fn get(obj: &JsValue, key: &JsValue) -> Result<JsValue, JsValue> {
    Reflect::get(obj, key)
}

/// Traits `{tier: "gold", birthday: "1996-03-14"}` by name for the core (not the hot path): at
/// most [`MAX_TRAITS`] keys, values read like event properties.
pub fn traits(v: &JsValue) -> Result<Vec<(String, Raw)>, JsValue> {
    let bad = |m: &[&str]| error::joined(error::code::TRAITS_INVALID, m);
    if !is_record(v) {
        return Err(bad(&["traits must be an object, like {tier: \"gold\"}, got ", kind(v)]));
    }
    let keys = keys(v).map_err(|_| bad(&["traits: could not be read"]))?;
    let n = len(&keys);
    if n > MAX_TRAITS {
        const _: () = assert!(MAX_TRAITS == 256, "the message names MAX_TRAITS");
        return Err(bad(&["traits: too many keys (at most 256)"]));
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let key = element(&keys, i); // a real array, no proxy
        let Some(Ok(name)) = string(&key, 256) else { return Err(bad(&["traits: a key is too long"])) };
        let value = get(v, &key).map_err(|_| bad(&["traits.", &name, ": could not be read"]))?;
        out.push((name, raw(&value)));
    }
    Ok(out)
}

/// A JavaScript array of `values` (a plain loop: `collect` into an `Array` is a copy of js-sys's
/// generic code per iterator type).
pub fn array(values: &[JsValue]) -> Array {
    let out = Array::new();
    for v in values {
        out.push(v);
    }
    out
}

/// An outbox event as a plain object, `type` first.
#[inline(never)]
pub fn outbox_event(e: &OutboxEvent) -> JsValue {
    let o = Object::new();
    for &(k, v) in &e.fields() {
        let v = match v {
            Field::Null => JsValue::NULL,
            Field::Str(s) => JsValue::from_str(s),
            Field::Bool(b) => JsValue::from_bool(b),
            Field::Time(t) => JsValue::from_f64(t as f64),
        };
        set_str(&o, k, &v);
    }
    o.into()
}

/// `obj[key] = value` on an object this module created (which cannot fail).
pub fn set(obj: &Object, key: &JsValue, value: &JsValue) {
    let _ = Reflect::set(obj, key, value);
}

/// [`set`] with a key made here (one call per field instead of three at each).
#[inline(never)]
pub fn set_str(obj: &Object, key: &str, value: &JsValue) {
    set(obj, &JsValue::from_str(key), value);
}

/// The bytes of a genuine `Uint8Array` of this realm or another, else `None`. (A proxy of one
/// passes `instanceof`, an object can claim the tag, but `slice` refuses both, as anything
/// without a typed array inside: the copy's error is caught.)
pub fn bytes(v: &JsValue) -> Option<Vec<u8>> {
    if !v.is_instance_of::<Uint8Array>() && tag(v).ok()? != "[object Uint8Array]" {
        return None;
    }
    copy_bytes(v.unchecked_ref()).ok()
}

/// An `ArrayBuffer` (what `fetch`'s `arrayBuffer()` and `wx.request` with `responseType:
/// 'arraybuffer'` give), of any realm: the usual mistake where bytes are asked for.
pub fn is_array_buffer(v: &JsValue) -> bool {
    v.is_object() && tag(v).ok().as_deref() == Some("[object ArrayBuffer]")
}

/// Public keys from one key text or an array of them. (Plain loops: collecting into a
/// `Result<Vec<_>, _>` is a copy of std's generic shunting code.)
pub fn public_keys(v: &JsValue) -> Result<Vec<PublicKey>, JsValue> {
    let bad = |m: &str| error::error(error::code::KEY_INVALID, m);
    let mut texts = Vec::new();
    // An array from another realm is a list of keys too. Its length is read once, through
    // `Reflect` (a proxy's `length` may throw, or change between reads; see the INVARIANT above:
    // an exception through this module leaks its externref stack, and 256 of them trap it).
    if !is_array(v) {
        texts.push(v.clone());
    } else {
        let n = checked_length(v).map_err(|()| bad("publicKeys: an array whose length could not be read"))?;
        if n > 16 {
            return Err(bad("at most 16 public keys"));
        }
        for i in 0..n {
            texts.push(element(v, i));
        }
    }
    if texts.is_empty() {
        return Err(bad("give at least one public key"));
    }
    let mut keys = Vec::with_capacity(texts.len());
    for t in &texts {
        let Some(Ok(text)) = string(t, 256) else {
            return Err(bad("a public key is a string like `kairos-ed25519-public:...`"));
        };
        keys.push(PublicKey::parse(&text).map_err(|e| error::described(error::code::KEY_INVALID, &e))?);
    }
    Ok(keys)
}
