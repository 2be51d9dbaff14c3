//! [`Value`] helpers: JSON conversion, paths, and the JsonLogic coercions (numbers, strings,
//! equality, ordering) shared by the parser and the evaluator.

use alloc::{string::String, vec};
use core::cmp::Ordering;

use super::{EvalError, Value};
#[cfg(not(feature = "std"))]
use crate::float::F64Ext as _;

/// The first `n` characters of `s` (all of it when shorter), cut at a char boundary without
/// collecting chars (`String: Extend<char>` would be one more loop in the Wasm module).
pub(crate) fn head(s: &str, n: usize) -> &str {
    s.get(..char_offset(s, n)).unwrap_or(s)
}

/// The byte offset of character `c` of `s` (its length past the end), by a byte scan: UTF-8
/// continuation bytes are `0b10xx_xxxx`. (`char_indices().nth()` brings a chunked fast path of
/// its own into the Wasm module.)
pub(crate) fn char_offset(s: &str, c: usize) -> usize {
    let mut left = c;
    for (i, b) in s.bytes().enumerate() {
        if b & 0xc0 != 0x80 {
            if left == 0 {
                return i;
            }
            left -= 1;
        }
    }
    s.len()
}

/// Deepest nesting that [`Value::from_json`] and [`Value::to_json`] convert; anything deeper
/// becomes `null`. serde_json itself refuses text nested deeper than 128.
pub const MAX_DATA_DEPTH: usize = 128;

/// A `null` to borrow from.
pub(crate) static NULL: Value = Value::Null;

impl Value {
    /// Converts a JSON value. Parts nested deeper than [`MAX_DATA_DEPTH`] become `null`.
    #[cfg(feature = "std")]
    pub fn from_json(json: &serde_json::Value) -> Value {
        from_json_at(json, 1)
    }

    /// Converts to JSON. Whole numbers become JSON integers; NaN and infinities become `null`
    /// (JSON has no such numbers).
    #[cfg(feature = "std")]
    pub fn to_json(&self) -> serde_json::Value {
        to_json_at(self, 1)
    }

    /// A short description for messages: `null`, `true`, `2.5`, `"text"` (40 characters at
    /// most), `an array of 3`, `an object`; an error object shows its type.
    pub fn brief(&self) -> String {
        // Pushed piece by piece rather than through `format!`: this is the only message text
        // the evaluator writes in the Wasm module.
        let quoted = |open: &str, s: &str, close: &str| {
            let mut out = String::from(open);
            out.push_str(head(s, 40));
            out.push_str(close);
            out
        };
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => (if *b { "true" } else { "false" }).into(),
            Value::Number(n) => {
                let mut s = String::new();
                write_js_number(*n, &mut s);
                s
            }
            Value::String(s) => quoted("\"", s, "\""),
            Value::Array(a) => {
                let mut s = String::from("an array of ");
                write_uint(a.len() as u64, &mut s);
                s
            }
            Value::Object(_) => match self.get("type") {
                Some(Value::String(t)) => quoted("{\"type\": \"", t, "\"}"),
                _ => "an object".into(),
            },
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number inside, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// One step of a path: an object's key, or an array's index written in decimal.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Value::Array(items) => parse_index(key).and_then(|i| items.get(i)),
            _ => None,
        }
    }

    /// Follows a path of keys and indices; `None` when a step is missing.
    pub fn get_path<S: AsRef<str>>(&self, path: &[S]) -> Option<&Value> {
        path.iter().try_fold(self, |v, seg| v.get(seg.as_ref()))
    }
}

#[cfg(feature = "std")]
fn from_json_at(json: &serde_json::Value, depth: usize) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => Value::String(s.clone()),
        _ if depth >= MAX_DATA_DEPTH => Value::Null,
        J::Array(items) => Value::Array(items.iter().map(|v| from_json_at(v, depth + 1)).collect()),
        J::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), from_json_at(v, depth + 1))).collect())
        }
    }
}

#[cfg(feature = "std")]
fn to_json_at(value: &Value, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => number_to_json(*n),
        Value::String(s) => J::String(s.clone()),
        _ if depth >= MAX_DATA_DEPTH => J::Null,
        Value::Array(items) => J::Array(items.iter().map(|v| to_json_at(v, depth + 1)).collect()),
        Value::Object(fields) => {
            J::Object(fields.iter().map(|(k, v)| (k.clone(), to_json_at(v, depth + 1))).collect())
        }
    }
}

#[cfg(feature = "std")]
fn number_to_json(n: f64) -> serde_json::Value {
    // 2^53: every whole number below it is exact as both i64 and f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// An array index written the canonical way (`0`, `17`; not `01`, `+1`).
fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.bytes().try_fold(0_usize, |n, b| {
        let digit = char::from(b).to_digit(10)?;
        n.checked_mul(10)?.checked_add(digit as usize)
    })
}

/// How many levels a value nests (a scalar is 1). Stops counting past `limit`.
pub(crate) fn depth_within(value: &Value, limit: usize) -> bool {
    if limit == 0 {
        return false;
    }
    match value {
        Value::Array(items) => items.iter().all(|v| depth_within(v, limit - 1)),
        Value::Object(fields) => fields.iter().all(|(_, v)| depth_within(v, limit - 1)),
        _ => true,
    }
}

/// Whether a value is within `budget` units of size (one per node, one per string byte) and
/// `depth` levels. Used to stop a `reduce` accumulator from growing without bound.
pub(crate) fn size_within(value: &Value, budget: &mut usize, depth: usize) -> bool {
    let cost = match value {
        Value::String(s) => s.len(),
        _ => 0,
    } + 1;
    if depth == 0 || *budget < cost {
        return false;
    }
    *budget -= cost;
    match value {
        Value::Array(items) => items.iter().all(|v| size_within(v, budget, depth - 1)),
        Value::Object(fields) => fields.iter().all(|(k, v)| {
            if *budget < k.len() {
                return false;
            }
            *budget -= k.len();
            size_within(v, budget, depth - 1)
        }),
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Coercions.

impl EvalError {
    /// An error whose kind is `{"type": type_name}`, the JsonLogic convention.
    pub fn new(type_name: &str) -> EvalError {
        EvalError { kind: Value::Object(vec![("type".into(), Value::String(type_name.into()))]) }
    }

    /// The `type` of the error kind, when the kind is an object with a string `type`.
    pub fn type_name(&self) -> Option<&str> {
        self.kind.get("type").and_then(Value::as_str)
    }

    /// A non-numeric value where a number was needed, or a division by zero.
    pub(crate) fn nan() -> EvalError {
        EvalError::new("NaN")
    }
}

/// JavaScript's `Number(string)`: trimmed, empty is 0, decimal or `0x`/`0o`/`0b`, `Infinity`.
pub(crate) fn parse_js_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    match t {
        "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if let [b'0', prefix, digits @ ..] = t.as_bytes() {
        let radix = match prefix.to_ascii_lowercase() {
            b'x' => 16,
            b'o' => 8,
            b'b' => 2,
            _ => 0,
        };
        if radix != 0 {
            return parse_radix(digits, radix);
        }
    }
    parse_decimal(t)
}

/// Decimal text (`-12.5e3`) to the nearest `f64`, with the standard library's parser.
#[cfg(feature = "std-float")]
fn parse_decimal(t: &str) -> Option<f64> {
    // Rust also accepts `inf` and `nan`; JavaScript does not.
    let decimal = t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if decimal {
        t.parse().ok()
    } else {
        None
    }
}

/// Decimal text to the nearest `f64` without the standard library's parser and its 10 KB of
/// tables (the Wasm package): exact cases here, the rest by the host's parser. [`exact_decimal`]
/// refuses anything but decimal syntax, so the host only ever sees decimal text.
#[cfg(not(feature = "std-float"))]
fn parse_decimal(t: &str) -> Option<f64> {
    match exact_decimal(t) {
        Decimal::Exact(n) => Some(n),
        Decimal::Invalid => None,
        Decimal::Inexact => host_numbers().map(|host| (host.parse)(t)).filter(|n| !n.is_nan()),
    }
}

/// The host's number text conversions, for builds without the `std-float` feature.
#[derive(Debug, Clone, Copy)]
pub struct HostNumbers {
    /// Reads decimal text that [`exact_decimal`] cannot read exactly (more than 15 significant
    /// digits, or large exponents). It gets text already known to be decimal syntax and returns
    /// NaN for text it refuses. JavaScript's `Number(text)`.
    pub parse: fn(&str) -> f64,
    /// Writes a finite number that is not a whole number below 2^53 (those the engine writes
    /// itself). JavaScript's `String(number)`.
    pub format: fn(f64) -> String,
}

#[cfg(not(feature = "std-float"))]
// Set once and read without a lock: no `Mutex` or `OnceLock` (their panic paths, and `std`) in the
// module. The first conversions set stay: `OnceBox::set` keeps the first value.
static HOST_NUMBERS: once_cell::race::OnceBox<HostNumbers> = once_cell::race::OnceBox::new();

/// The conversions set, if any.
#[cfg(not(feature = "std-float"))]
fn host_numbers() -> Option<HostNumbers> {
    HOST_NUMBERS.get().copied()
}

/// Gives the engine the host's number text conversions. Builds with the `std-float` feature (the
/// default) convert in Rust, with the standard library's parser and ryu's shortest digits, and
/// ignore this. Builds without it (the Wasm package, which saves 17 KB of gzipped code and tables
/// so) need it: until it is set, such decimal text reads as not a number and such numbers write
/// as `NaN`. The first conversions set stay.
pub fn set_host_numbers(host: HostNumbers) {
    // Every engine calls this: no allocation once they are set.
    #[cfg(not(feature = "std-float"))]
    if HOST_NUMBERS.get().is_none() {
        let _ = HOST_NUMBERS.set(alloc::boxed::Box::new(host));
    }
    #[cfg(feature = "std-float")]
    let _ = host;
}

/// What [`exact_decimal`] made of some text.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std-float", allow(dead_code))]
enum Decimal {
    /// The text's exact nearest `f64`.
    Exact(f64),
    /// Not decimal syntax.
    Invalid,
    /// Decimal syntax, but not exactly computable here.
    Inexact,
}

/// Reads `[+-]digits[.digits][(e|E)[+-]digits]` (at least one digit before the exponent). The
/// result is exact when the significant digits fit 2^53 and the power of ten is at most 22, as
/// then both the digits and the power are exact `f64`s and one multiplication or division rounds
/// correctly (Clinger's fast path); otherwise it says [`Decimal::Inexact`].
#[cfg_attr(feature = "std-float", allow(dead_code))]
fn exact_decimal(t: &str) -> Decimal {
    const LIMIT: u64 = 1 << 53;
    let mut bytes = t.as_bytes();
    let negative = bytes.first() == Some(&b'-');
    if matches!(bytes.first(), Some(b'-' | b'+')) {
        bytes = bytes.get(1..).unwrap_or_default();
    }
    let (mut mantissa, mut exponent, mut digits, mut seen_point, mut inexact) =
        (0u64, 0i64, 0usize, false, false);
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'0'..=b'9' => {
                digits += 1;
                // INVARIANT: mantissa <= LIMIT = 2^53, so this cannot overflow (and needs no
                // 128-bit multiplication to check).
                match Some(mantissa * 10 + u64::from(b - b'0')).filter(|&m| m <= LIMIT) {
                    Some(m) => {
                        mantissa = m;
                        exponent -= i64::from(seen_point);
                    }
                    // A digit past the precision: exact only if it and all later ones are zero.
                    None => {
                        inexact |= b != b'0';
                        exponent += i64::from(!seen_point);
                    }
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        rest = tail;
    }
    if digits == 0 {
        return Decimal::Invalid;
    }
    if let Some((&(b'e' | b'E'), tail)) = rest.split_first() {
        let (sign, tail) = match tail.split_first() {
            Some((b'-', t)) => (-1, t),
            Some((b'+', t)) => (1, t),
            _ => (1, tail),
        };
        if tail.is_empty() || !tail.iter().all(u8::is_ascii_digit) {
            return Decimal::Invalid;
        }
        let written = tail.iter().try_fold(0i64, |e, &d| e.checked_mul(10).map(|e| e + i64::from(d - b'0')));
        match written {
            Some(e) if e <= 400 => exponent += sign * e,
            _ => return Decimal::Inexact,
        }
        rest = &[];
    }
    if !rest.is_empty() {
        return Decimal::Invalid;
    }
    if inexact || exponent.abs() > 22 {
        return if mantissa == 0 && !inexact {
            Decimal::Exact(signed(0.0, negative))
        } else {
            Decimal::Inexact
        };
    }
    // 10^k for k <= 22 is exact: every step multiplies an exact integer below 2^53 * 2^22 by 10.
    let power = (0..exponent.abs()).fold(1.0_f64, |p, _| p * 10.0);
    // The mantissa is at most 2^53, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let m = mantissa as f64;
    Decimal::Exact(signed(if exponent < 0 { m / power } else { m * power }, negative))
}

#[cfg_attr(feature = "std-float", allow(dead_code))]
fn signed(n: f64, negative: bool) -> f64 {
    if negative {
        -n
    } else {
        n
    }
}

fn parse_radix(digits: &[u8], radix: u32) -> Option<f64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0.0_f64, |acc, &b| {
        // By hand: `char::to_digit` with a radix not known at compile time brings its
        // invalid-radix panic into the module.
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'z' => b - b'a' + 10,
            b'A'..=b'Z' => b - b'A' + 10,
            _ => return None,
        };
        (u32::from(d) < radix).then(|| acc * f64::from(radix) + f64::from(d))
    })
}

/// JsonLogic's numeric reading of a value: null is 0, booleans 0 and 1, strings as JavaScript
/// reads them; arrays and objects are not numbers.
pub(crate) fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(0.0),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => Some(*n),
        Value::String(s) => parse_js_number(s),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// [`to_number`], failing with a `NaN` error.
pub(crate) fn num(v: &Value) -> Result<f64, EvalError> {
    match to_number(v) {
        Some(n) if !n.is_nan() => Ok(n),
        _ => Err(EvalError::nan()),
    }
}

/// `x % y` as IEEE `fmod` and JavaScript's `%` compute it: exact, with the sign of `x`.
///
/// Written out because std's `%` on `f64` brings a software `fmod` with 128-bit division (2 KB)
/// into the Wasm module. Every step is exact: `t` is `|y|` times a power of two, and `r - t` with
/// `t <= r < 2t` is exact (Sterbenz's lemma). At most about 2,100 doublings and as many halvings.
pub(crate) fn rem(x: f64, y: f64) -> f64 {
    let y = y.abs();
    if !x.is_finite() || y.is_nan() || y == 0.0 {
        return f64::NAN;
    }
    let mut r = x.abs();
    if r < y {
        return x;
    }
    let mut t = y;
    // Doubling is exact; an overflow to infinity ends the loop.
    while t * 2.0 <= r {
        t *= 2.0;
    }
    // INVARIANT: r < 2t, and t is y times a power of two, so halving t is exact down to y.
    loop {
        if r >= t {
            r -= t;
        }
        if t == y {
            return r.copysign(x);
        }
        t /= 2.0;
    }
}

/// Writes a number the way JavaScript's `String(number)` does (`1`, `0.5`, `1e+21`).
pub(crate) fn write_js_number(n: f64, out: &mut String) {
    if n.is_nan() {
        out.push_str("NaN");
    } else if n.is_infinite() {
        out.push_str(if n > 0.0 { "Infinity" } else { "-Infinity" });
    } else if n == 0.0 {
        out.push('0');
    } else if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        // Below 2^53 a whole number prints exactly; above, JavaScript prints the shortest
        // digits padded with zeros, which `write_js_float` does.
        if n < 0.0 {
            out.push('-');
        }
        // INVARIANT: |n| < 2^53 and whole, so the cast is exact.
        write_uint(n.abs() as u64, out);
    } else {
        write_js_float(n, out);
    }
}

/// Writes a finite number as JavaScript's `String(number)` does, with the host's conversion.
#[cfg(not(feature = "std-float"))]
fn write_js_float(n: f64, out: &mut String) {
    match host_numbers() {
        Some(host) => out.push_str(&(host.format)(n)),
        None => out.push_str("NaN"),
    }
}

#[cfg(feature = "std-float")]
fn write_js_float(n: f64, out: &mut String) {
    let (digits, point) = shortest_digits(n.abs());
    let k = digits.len() as i64;
    if n < 0.0 {
        out.push('-');
    }
    if k <= point && point <= 21 {
        out.push_str(&digits);
        out.extend(core::iter::repeat_n('0', (point - k) as usize));
    } else if 0 < point && point <= 21 {
        let (int, frac) = digits.split_at(point as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        out.extend(core::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = point - 1;
        out.push_str(if e < 0 { "e-" } else { "e+" });
        write_uint(e.unsigned_abs(), out);
    }
}

/// The shortest round-trip decimal digits of a positive finite `x` (from ryu, whose small tables
/// keep the Wasm module small), without leading or trailing zeros, and the decimal point's place:
/// `x = 0.digits * 10^point`.
#[cfg(feature = "std-float")]
fn shortest_digits(x: f64) -> (String, i64) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(x);
    let (mantissa, exp) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
    let exp = exp.parse::<i64>().unwrap_or(0);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = String::from(all.trim_matches('0'));
    (digits, int.len() as i64 - lead as i64 + exp)
}

/// Writes an unsigned integer in decimal.
pub(crate) fn write_uint(mut n: u64, out: &mut String) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.push_str(core::str::from_utf8(buf.get(i..).unwrap_or_default()).unwrap_or_default());
}

/// Writes a value as JsonLogic's `cat` sees it: null is empty, arrays join with `,`.
pub(crate) fn write_js_string(v: &Value, out: &mut String) {
    write_js_string_at(v, out, MAX_DATA_DEPTH);
}

fn write_js_string_at(v: &Value, out: &mut String, depth: usize) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_js_number(*n, out),
        Value::String(s) => out.push_str(s),
        Value::Array(items) if depth > 0 => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_js_string_at(item, out, depth - 1);
            }
        }
        Value::Array(_) => {}
        Value::Object(_) => out.push_str("[object Object]"),
    }
}

/// A value as a string, borrowing when it already is one.
pub(crate) fn js_string(v: &Value) -> alloc::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => alloc::borrow::Cow::Borrowed(s),
        other => {
            let mut out = String::new();
            write_js_string(other, &mut out);
            alloc::borrow::Cow::Owned(out)
        }
    }
}

/// `===`: same type and equal; arrays and objects compare by content.
pub(crate) fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| strict_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| b.get(k).is_some_and(|w| strict_eq(v, w)))
        }
        _ => false,
    }
}

/// `==`: strings compare as strings; otherwise both sides are read as numbers (null is 0).
/// Arrays and objects, and non-numeric strings against numbers, are a `NaN` error. A null
/// against a non-numeric string is simply unequal (a missing value is not an error). That is
/// exactly "neither less nor greater" under [`compare`].
pub(crate) fn loose_eq(a: &Value, b: &Value) -> Result<bool, EvalError> {
    Ok(compare(a, b)? == Some(Ordering::Equal))
}

/// Ordering for `<`, `<=`, `>`, `>=`: strings by their bytes, everything else as numbers.
/// `None` when a side is NaN, and for null against a non-numeric string.
pub(crate) fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, EvalError> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(x.partial_cmp(y)),
        (Value::String(x), Value::String(y)) => Ok(Some(x.as_bytes().cmp(y.as_bytes()))),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Err(EvalError::nan())
        }
        // Like `==`: a missing value against a non-numeric string is no error, just not ordered
        // (found by differential testing against datalogic-rs; JavaScript also gives `false`).
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) if parse_js_number(s).is_none() => {
            Ok(None)
        }
        _ => Ok(num(a)?.partial_cmp(&num(b)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "std-float")]
    fn js(n: f64) -> String {
        let mut s = String::new();
        write_js_number(n, &mut s);
        s
    }

    // Without `std-float` the host converts such numbers (JavaScript's `String` in the Wasm
    // build): the wasm-bindgen tests and tests/js/differential.test.mjs check them there.
    #[cfg(feature = "std-float")]
    #[test]
    fn numbers_print_like_javascript() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-3.0, "-3"),
            (0.5, "0.5"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (1e21, "1e+21"),
            (9007199254740993.0, "9007199254740992"),
            (-1e20, "-100000000000000000000"),
            (1.2345e22, "1.2345e+22"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "Infinity"),
            (f64::NAN, "NaN"),
            (-1.25, "-1.25"),
            (5e-324, "5e-324"),
        ];
        for (n, want) in cases {
            assert_eq!(js(n), want, "{n:e}");
        }
    }

    #[test]
    fn strings_read_as_numbers_like_javascript() {
        let cases = [
            ("", Some(0.0)),
            ("  12 ", Some(12.0)),
            ("1e2", Some(100.0)),
            ("-1.5", Some(-1.5)),
            (".5", Some(0.5)),
            ("0x10", Some(16.0)),
            ("Infinity", Some(f64::INFINITY)),
            ("inf", None),
            ("nan", None),
            ("abc", None),
            ("1a", None),
            ("0x", None),
            ("0XfF", Some(255.0)),
            ("0O17", Some(15.0)),
            ("0b101", Some(5.0)),
            ("0b102", None),
            ("0xé", None),
            ("0", Some(0.0)),
            ("--1", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_js_number(s), want, "{s:?}");
        }
    }

    /// `==` as it was written before it became "equal under `compare`", case by case.
    fn loose_eq_by_cases(a: &Value, b: &Value) -> Result<bool, EvalError> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => Ok(x == y),
            (Value::String(x), Value::String(y)) => Ok(x == y),
            (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
                Err(EvalError::nan())
            }
            (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => {
                Ok(parse_js_number(s) == Some(0.0))
            }
            _ => Ok(num(a)? == num(b)?),
        }
    }

    #[test]
    fn loose_eq_agrees_with_its_case_by_case_definition() {
        let values = [
            Value::Null,
            Value::Bool(false),
            Value::Bool(true),
            Value::Number(0.0),
            Value::Number(-0.0),
            Value::Number(1.0),
            Value::Number(f64::NAN),
            Value::Number(f64::INFINITY),
            Value::String(String::new()),
            Value::String(" 0 ".into()),
            Value::String("-0".into()),
            Value::String("1".into()),
            Value::String("0x1".into()),
            Value::String("Infinity".into()),
            Value::String("abc".into()),
            Value::Array(Vec::new()),
            Value::Object(Vec::new()),
        ];
        for a in &values {
            for b in &values {
                assert_eq!(loose_eq(a, b), loose_eq_by_cases(a, b), "{a:?} == {b:?}");
            }
        }
    }

    #[test]
    fn head_cuts_at_characters() {
        assert_eq!(head("héllo", 2), "hé");
        assert_eq!(head("héllo", 5), "héllo");
        assert_eq!(head("hé", 9), "hé");
        assert_eq!(head("", 3), "");
    }

    #[test]
    fn array_indices_are_canonical_decimals() {
        let v = Value::Array(vec![Value::Bool(false), Value::Bool(true)]);
        assert_eq!(v.get("1"), Some(&Value::Bool(true)));
        assert_eq!(v.get("0"), Some(&Value::Bool(false)));
        for bad in ["", "01", "+1", "-0", "1.0", " 1", "2", "18446744073709551617", "١"] {
            assert_eq!(v.get(bad), None, "{bad}");
        }
    }

    fn same_rem(x: f64, y: f64) {
        let (got, want) = (rem(x, y), x % y);
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "{x:e} % {y:e}: {got:e}, not {want:e}"
        );
    }

    #[test]
    fn rem_is_exactly_fmod() {
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            3.0,
            -7.5,
            5e-324,
            -5e-324,
            2.2250738585072014e-308,
            1e-300,
            1e300,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
            9007199254740993.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for x in special {
            for y in special {
                same_rem(x, y);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn rem_agrees_with_std_on_any_bits(x in proptest::num::u64::ANY, y in proptest::num::u64::ANY) {
            same_rem(f64::from_bits(x), f64::from_bits(y));
        }

        #[test]
        fn rem_agrees_with_std_on_ordinary_numbers(x in -1e6_f64..1e6, y in -1e3_f64..1e3) {
            same_rem(x, y);
            same_rem(x.trunc(), y.trunc());
        }
    }

    #[test]
    fn size_budget_counts_nodes_and_bytes() {
        let v = Value::Array(vec![Value::String("abcd".into()), Value::Null]);
        let mut budget = 7;
        assert!(size_within(&v, &mut budget, 8));
        let mut budget = 6;
        assert!(!size_within(&v, &mut budget, 8));
        assert!(!size_within(&v, &mut 100, 1));
    }

    fn agrees_with_std(t: &str) {
        let std: Option<f64> = t.parse().ok();
        match exact_decimal(t) {
            Decimal::Exact(n) => {
                let std = std.unwrap_or_else(|| panic!("{t}: exact {n} but std refuses"));
                assert_eq!(n.to_bits(), std.to_bits(), "{t}");
            }
            Decimal::Invalid => assert_eq!(std, None, "{t}: refused but std reads it"),
            Decimal::Inexact => assert!(std.is_some(), "{t}: inexact but std refuses"),
        }
    }

    #[test]
    fn exact_decimals_match_the_standard_parser() {
        for t in [
            "0",
            "-0",
            "+0",
            "1",
            "-1",
            "+1",
            ".5",
            "+.5",
            "-.5",
            "5.",
            "0.1",
            "1e5",
            "1E5",
            "1e+5",
            "1e-5",
            "2.5e-3",
            "123456789012345",
            "9007199254740992",
            "9007199254740993",
            "90071992547409920",
            "9007199254740992000e-3",
            "1e22",
            "1e23",
            "1e-22",
            "1e-23",
            "0.000000000000000000000000",
            "0.0000000000000000000000001",
            "0e999999",
            "1e999999",
            "1e400",
            "1e-400",
            "179769313486231570e291",
            "",
            ".",
            "-",
            "+",
            "e5",
            ".e5",
            "1e",
            "1e+",
            "1-2",
            "1.2.3",
            "--1",
            "+-1",
            "1e5.5",
            "1ee5",
            "00012",
            "0.30000000000000004",
            "4.35",
            "0.1e1",
            "100000000000000000000000000000e-10",
        ] {
            agrees_with_std(t);
        }
    }

    proptest::proptest! {
        #[test]
        fn decimal_syntax_agrees_with_the_standard_parser(t in "[-+]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{0,4})?") {
            agrees_with_std(&t);
        }

        #[test]
        fn short_decimals_are_exact(int in 0u64..1_000_000_000, frac in 0u32..1_000_000, e in -15i32..15) {
            let t = format!("{int}.{frac:06}e{e}");
            proptest::prop_assert!(matches!(exact_decimal(&t), Decimal::Exact(_)), "{}", t);
            agrees_with_std(&t);
        }
    }
}
