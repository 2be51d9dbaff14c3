//! Input from a host binding (Wasm, FFI) that has already taken the host's values apart: the same
//! checks as [`super::input`], without building JSON first. Bindings read an event's properties
//! or a context's fields by the model's names and hand each one over as a [`Raw`].

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::input::{unknown, InputError, MAX_INPUT_LIST, MAX_INPUT_STRING};
use crate::compiled::Model;
#[cfg(not(feature = "std"))]
use crate::float::F64Ext as _;
use crate::logic::Value;
use crate::model::{TraitType, ValueType};
use crate::profile::identity::IdKind;
use crate::profile::{trait_value_ok, StoredTrait, MAX_TRAIT_STRING};
use crate::time;

/// Largest magnitude accepted for `now`, in ms: the range of a JavaScript `Date`.
pub const MAX_TIME_MS: f64 = 8.64e15;

/// One value as the host holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// Absent, `null` or `undefined`: missing.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (possibly NaN or infinite: rejected where a number is expected).
    Number(f64),
    /// A string.
    String(String),
    /// A string the host already knows is longer than [`MAX_INPUT_STRING`] bytes (it was not
    /// copied).
    LongString,
    /// A list, elements converted; `len` is the host's length, which may exceed what was copied.
    List {
        /// The host's length.
        len: usize,
        /// The first elements (at most [`MAX_INPUT_LIST`]).
        items: Vec<Raw>,
    },
    /// Anything else (object, function, symbol, big integer): named for the error message.
    Other(&'static str),
}

impl Raw {
    fn kind(&self) -> &'static str {
        match self {
            Raw::Null => "null",
            Raw::Bool(_) => "a boolean",
            Raw::Number(n) if n.is_nan() => "NaN",
            Raw::Number(n) if n.is_infinite() => {
                if *n > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                }
            }
            Raw::Number(_) => "a number",
            Raw::String(_) | Raw::LongString => "a string",
            Raw::List { .. } => "an array",
            Raw::Other(what) => what,
        }
    }
}

/// A field of the wrong type: `field` names it, `expected` what the model declares, `got` what
/// came (one construction for every mismatch).
fn wrong_type(field: String, expected: &'static str, got: &str) -> InputError {
    InputError::WrongType { field, expected, got: got.to_string() }
}

/// Converts one typed field (`field` names it in errors, like `event.price`), with the checks of
/// [`super::input::field`]: finite numbers, bounded strings and lists.
pub fn value(field: impl Fn() -> String, ty: ValueType, raw: Raw) -> Result<Value, InputError> {
    checked(&field, ty, raw)
}

// One copy of the checks for every caller's `field` closure. Matched by reference, strings
// taken out in place: every mismatch leaves the match with what was expected, and `raw` is
// described once at the end.
fn checked(field: &dyn Fn() -> String, ty: ValueType, mut raw: Raw) -> Result<Value, InputError> {
    let too_long = |max| Err(InputError::TooLong { field: field(), max });
    let expected = match (ty, &mut raw) {
        (_, Raw::Null) => return Ok(Value::Null),
        (ValueType::String, Raw::String(s)) if s.len() <= MAX_INPUT_STRING => {
            return Ok(Value::String(core::mem::take(s)))
        }
        (ValueType::String, Raw::String(_))
        | (ValueType::String | ValueType::StringList, Raw::LongString) => return too_long(MAX_INPUT_STRING),
        (ValueType::Number, Raw::Number(x)) if x.is_finite() => return Ok(Value::Number(*x)),
        (ValueType::Number, Raw::Number(_)) => "a finite number",
        (ValueType::Bool, Raw::Bool(b)) => return Ok(Value::Bool(*b)),
        (ValueType::StringList, Raw::List { len, items }) => {
            if *len > MAX_INPUT_LIST || items.len() > MAX_INPUT_LIST {
                return too_long(MAX_INPUT_LIST);
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter_mut().enumerate() {
                match item {
                    Raw::String(s) if s.len() <= MAX_INPUT_STRING => {
                        out.push(Value::String(core::mem::take(s)))
                    }
                    Raw::String(_) | Raw::LongString => {
                        let mut at = field();
                        at.push('[');
                        crate::codec::push_uint(&mut at, i as u64);
                        at.push(']');
                        return Err(InputError::TooLong { field: at, max: MAX_INPUT_STRING });
                    }
                    other => return Err(wrong_type(field(), "an array of strings", other.kind())),
                }
            }
            return Ok(Value::Array(out));
        }
        (ValueType::String, _) => "a string",
        (ValueType::Number, _) => "a number",
        (ValueType::Bool, _) => "a boolean",
        (ValueType::StringList, _) => "an array of strings",
    };
    Err(wrong_type(field(), expected, raw.kind()))
}

/// `n` missing values. (Pushed: `vec![Value::Null; n]` brings std's fill-by-cloning for
/// [`Value`], a larger function than this loop.)
pub fn nulls(n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Value::Null);
    }
    out
}

/// Converts server-supplied traits, by name (`tier: "gold"`, `birthday: "1996-03-14"`), to the
/// model's trait slots. Unknown names are refused; anniversaries keep only month and day;
/// timestamps (ms or RFC 3339) become ms.
pub fn traits(model: &Model, mut entries: Vec<(String, Raw)>) -> Result<Vec<Value>, InputError> {
    let mut out = nulls(model.traits.len());
    // Values taken out in place, as in `checked`.
    for (name, raw) in &mut entries {
        slot_trait(model, &mut out, name, core::mem::replace(raw, Raw::Null), true)?;
    }
    Ok(out)
}

/// A token's traits: like [`traits`] when `strict`; else (a token restored with stored state or
/// kept across a new model) what the model does not know, or types differently, is left out
/// instead of refused. Each value is converted as it is read, without a vector of [`Raw`]s in
/// between.
pub(crate) fn token_traits(
    model: &Model,
    mut traits: Vec<(String, StoredTrait)>,
    strict: bool,
) -> Result<Vec<Value>, InputError> {
    let mut out = nulls(model.traits.len());
    // Values taken out in place, as in `checked` (a boolean left behind).
    for (name, t) in &mut traits {
        let t = core::mem::replace(t, StoredTrait::Bool(false));
        let year = matches!(&t, StoredTrait::String(s) if s.len() != 5)
            && model.traits.iter().any(|(n, ty)| n == name && *ty == TraitType::Anniversary);
        if strict && year {
            return Err(InputError::YearInToken { field: trait_field(name) });
        }
        slot_trait(model, &mut out, name, Raw::from(t), strict)?;
    }
    Ok(out)
}

/// Sets trait `name`'s slot in `out`. Unknown names and bad values are refused when `strict`,
/// else left out.
fn slot_trait(
    model: &Model,
    out: &mut [Value],
    name: &str,
    raw: Raw,
    strict: bool,
) -> Result<(), InputError> {
    let Some(i) = model.traits.iter().position(|t| t.0 == name) else {
        if strict {
            return Err(unknown("trait", name, model, |m, i| Some(&m.traits.get(i)?.0)));
        }
        return Ok(());
    };
    let (Some((_, ty)), Some(slot)) = (model.traits.get(i), out.get_mut(i)) else { return Ok(()) };
    *slot = match trait_value(name, *ty, raw) {
        Ok(v) => v,
        Err(e) if strict => return Err(e),
        Err(_) => Value::Null,
    };
    Ok(())
}

/// `traits.name`: a trait as errors name it.
fn trait_field(name: &str) -> String {
    let mut at = String::from("traits.");
    at.push_str(name);
    at
}

// Matched by reference, as `checked` is.
fn trait_value(name: &str, ty: TraitType, mut raw: Raw) -> Result<Value, InputError> {
    let at = || trait_field(name);
    let date = |s: &str| time::parse_date(s);
    let expected = match (ty, &mut raw) {
        (_, Raw::Null) => return Ok(Value::Null),
        (TraitType::Number | TraitType::Bool | TraitType::String | TraitType::StringList, r) => {
            let ty = match ty {
                TraitType::Number => ValueType::Number,
                TraitType::Bool => ValueType::Bool,
                TraitType::String => ValueType::String,
                _ => ValueType::StringList,
            };
            // Stored state holds trait strings of at most MAX_TRAIT_STRING bytes: longer ones
            // are refused here, not accepted and then lost at the next import. (Checked numbers
            // and booleans always pass.)
            let v = checked(&at, ty, core::mem::replace(r, Raw::Null))?;
            if !trait_value_ok(&v) {
                return Err(InputError::TooLong { field: at(), max: MAX_TRAIT_STRING });
            }
            return Ok(v);
        }
        (TraitType::Timestamp, Raw::Number(x)) if x.is_finite() => return Ok(Value::Number(x.trunc())),
        (TraitType::Timestamp, Raw::String(s)) => match time::parse_rfc3339(s) {
            Some(ms) => return Ok(Value::Number(ms as f64)),
            None => "an RFC 3339 time",
        },
        (TraitType::Date, Raw::String(s)) if date(s).is_some() => {
            return Ok(Value::String(core::mem::take(s)))
        }
        (TraitType::Anniversary, Raw::String(s)) => {
            let md = if s.len() == 10 {
                date(s).map(|d| {
                    let (_, m, dd) = time::civil_from_days(d);
                    (m, dd)
                })
            } else {
                time::parse_month_day(s)
            };
            match md {
                Some((m, d)) => return Ok(Value::String(time::month_day_text(m, d))),
                None => "a date `YYYY-MM-DD` or `MM-DD`",
            }
        }
        (TraitType::Date, _) => "a date `YYYY-MM-DD`",
        (TraitType::Timestamp, _) => "a time",
        (TraitType::Anniversary, _) => "a date `YYYY-MM-DD` or `MM-DD`",
    };
    // Text that is not a date says so, but not what it is: a birthday with its year, or another
    // date of the shopper's, would reach the host's logs (privacy review).
    let got = if matches!(raw, Raw::String(_)) { "a string that is not one" } else { raw.kind() };
    Err(wrong_type(at(), expected, got))
}

impl From<StoredTrait> for Raw {
    fn from(t: StoredTrait) -> Raw {
        match t {
            StoredTrait::Bool(b) => Raw::Bool(b),
            StoredTrait::Number(n) => Raw::Number(n),
            StoredTrait::String(s) => Raw::String(s),
            StoredTrait::List(items) => {
                let len = items.len();
                let mut raw = Vec::with_capacity(len);
                for s in items {
                    raw.push(Raw::String(s));
                }
                Raw::List { len, items: raw }
            }
        }
    }
}

/// A host time (ms since the epoch, as a float) as the engine's `now`: finite and within the range
/// of a JavaScript `Date`; fractions of a ms are dropped.
pub fn time_ms(x: f64) -> Result<i64, InputError> {
    if x.is_finite() && x.abs() <= MAX_TIME_MS {
        // `as` truncates toward zero (exact here: |x| <= 8.64e15 < 2^53), as `trunc` would.
        Ok(x as i64)
    } else {
        Err(InputError::BadTime)
    }
}

/// An identifier kind by its name: `phone`, `email` or `external`.
pub fn id_kind(name: &str) -> Option<IdKind> {
    match name {
        "phone" => Some(IdKind::Phone),
        "email" => Some(IdKind::Email),
        "external" => Some(IdKind::External),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> String {
        "event.x".into()
    }

    #[test]
    fn values_are_checked_like_json_input() {
        assert_eq!(value(f, ValueType::Number, Raw::Number(2.5)), Ok(Value::Number(2.5)));
        assert!(value(f, ValueType::Number, Raw::Number(f64::NAN)).is_err());
        assert!(value(f, ValueType::Number, Raw::Number(f64::INFINITY)).is_err());
        assert!(value(f, ValueType::Number, Raw::String("1".into())).is_err());
        assert_eq!(value(f, ValueType::Bool, Raw::Null), Ok(Value::Null));
        assert!(value(f, ValueType::String, Raw::LongString).is_err());
        assert!(value(f, ValueType::String, Raw::String("x".repeat(MAX_INPUT_STRING + 1))).is_err());
        let list = Raw::List { len: 2, items: vec![Raw::String("a".into()), Raw::String("b".into())] };
        assert!(value(f, ValueType::StringList, list).is_ok());
        let long = Raw::List { len: MAX_INPUT_LIST + 1, items: vec![] };
        assert!(value(f, ValueType::StringList, long).is_err());
        let mixed = Raw::List { len: 1, items: vec![Raw::Number(1.0)] };
        assert!(value(f, ValueType::StringList, mixed).is_err());
        assert!(value(f, ValueType::String, Raw::Other("an object")).is_err());
    }

    /// Mutation audit of the bindings (session of 2026-11-25 from 13:53 UTC): the bounds were
    /// tested only beyond them, the messages not at all, and a timestamp trait's fraction and a
    /// date trait's check survived removal.
    #[test]
    fn bounds_are_exact_and_messages_name_the_place() {
        let s = |n: usize| Raw::String("x".repeat(n));
        let too_long = |field: &str, max| Err(InputError::TooLong { field: field.into(), max });
        assert_eq!(
            value(f, ValueType::String, s(MAX_INPUT_STRING)),
            Ok(Value::String("x".repeat(MAX_INPUT_STRING)))
        );
        assert_eq!(
            value(f, ValueType::String, s(MAX_INPUT_STRING + 1)),
            too_long("event.x", MAX_INPUT_STRING)
        );
        let list = |items: Vec<Raw>| Raw::List { len: items.len(), items };
        let full = value(f, ValueType::StringList, list((0..MAX_INPUT_LIST).map(|_| s(1)).collect()));
        assert!(matches!(full, Ok(Value::Array(ref a)) if a.len() == MAX_INPUT_LIST), "{full:?}");
        let over = list((0..=MAX_INPUT_LIST).map(|_| s(1)).collect());
        assert_eq!(value(f, ValueType::StringList, over), too_long("event.x", MAX_INPUT_LIST));
        // Each item bounded by bytes, named by its index.
        assert!(value(f, ValueType::StringList, list(vec![s(1), s(MAX_INPUT_STRING)])).is_ok());
        let long_item = list(vec![s(1), s(1), s(MAX_INPUT_STRING + 1)]);
        assert_eq!(value(f, ValueType::StringList, long_item), too_long("event.x[2]", MAX_INPUT_STRING));
        let known_long = list(vec![s(1), Raw::LongString]);
        assert_eq!(value(f, ValueType::StringList, known_long), too_long("event.x[1]", MAX_INPUT_STRING));
        // A string the host knew was too long, where a list is expected: too long, not mistyped.
        assert_eq!(value(f, ValueType::StringList, Raw::LongString), too_long("event.x", MAX_INPUT_STRING));
        let wrong = |expected, got: &str| {
            Err(InputError::WrongType { field: "event.x".into(), expected, got: got.into() })
        };
        assert_eq!(value(f, ValueType::Number, Raw::Number(f64::NAN)), wrong("a finite number", "NaN"));
        assert_eq!(value(f, ValueType::Number, Raw::String("1".into())), wrong("a number", "a string"));
        assert_eq!(
            value(f, ValueType::StringList, list(vec![s(1), Raw::Number(1.0)])),
            wrong("an array of strings", "a number")
        );
    }

    #[test]
    fn timestamp_traits_are_whole_ms_and_dates_are_checked() {
        let ts = |x| trait_value("t", TraitType::Timestamp, Raw::Number(x));
        assert_eq!(ts(1_764_000_000_123.9), Ok(Value::Number(1_764_000_000_123.0)));
        assert_eq!(ts(-1.5), Ok(Value::Number(-1.0)));
        let date = |t: &str| trait_value("d", TraitType::Date, Raw::String(t.into()));
        assert_eq!(date("2026-02-28"), Ok(Value::String("2026-02-28".into())));
        for bad in ["2026-02-30", "02-28", "tomorrow", "2026-2-28"] {
            assert!(matches!(date(bad), Err(InputError::WrongType { .. })), "{bad}: {:?}", date(bad));
        }
    }

    #[test]
    fn anniversaries_keep_month_and_day() {
        for (given, kept) in [("1996-03-04", "03-04"), ("2000-12-31", "12-31"), ("02-29", "02-29")] {
            let v = trait_value("b", TraitType::Anniversary, Raw::String(given.into()));
            assert_eq!(v, Ok(Value::String(kept.into())), "{given}");
        }
        assert!(trait_value("b", TraitType::Anniversary, Raw::String("13-01".into())).is_err());
    }

    #[test]
    fn times_are_finite_and_bounded() {
        assert_eq!(time_ms(1.5), Ok(1));
        assert!(time_ms(f64::NAN).is_err());
        assert!(time_ms(f64::INFINITY).is_err());
        assert!(time_ms(1e300).is_err());
        assert_eq!(id_kind("email"), Some(IdKind::Email));
        assert_eq!(id_kind("fax"), None);
    }
}
