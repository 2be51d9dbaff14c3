//! Input from a host binding (Wasm, FFI) that has already taken the host's values apart: the same
//! checks as [`super::input`], without building JSON first. Bindings read an event's properties
//! or a context's fields by the model's names and hand each one over as a [`Raw`].

use super::input::{unknown, InputError, MAX_INPUT_LIST, MAX_INPUT_STRING};
use crate::compiled::Model;
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
    fn kind(&self) -> String {
        match self {
            Raw::Null => "null".into(),
            Raw::Bool(_) => "a boolean".into(),
            Raw::Number(n) if n.is_nan() => "NaN".into(),
            Raw::Number(n) if n.is_infinite() => if *n > 0.0 { "Infinity" } else { "-Infinity" }.into(),
            Raw::Number(_) => "a number".into(),
            Raw::String(_) | Raw::LongString => "a string".into(),
            Raw::List { .. } => "an array".into(),
            Raw::Other(what) => (*what).into(),
        }
    }
}

/// Converts one typed field (`field` names it in errors, like `event.price`), with the checks of
/// [`super::input::field`]: finite numbers, bounded strings and lists.
pub fn value(field: impl Fn() -> String, ty: ValueType, raw: Raw) -> Result<Value, InputError> {
    checked(&field, ty, raw)
}

// One copy of the checks for every caller's `field` closure.
fn checked(field: &dyn Fn() -> String, ty: ValueType, raw: Raw) -> Result<Value, InputError> {
    let wrong = |expected: &str, raw: &Raw| InputError::WrongType {
        field: field(),
        expected: expected.to_string(),
        got: raw.kind(),
    };
    let string = |s: String| {
        if s.len() > MAX_INPUT_STRING {
            Err(InputError::TooLong { field: field(), max: MAX_INPUT_STRING })
        } else {
            Ok(Value::String(s))
        }
    };
    Ok(match (ty, raw) {
        (_, Raw::Null) => Value::Null,
        (ValueType::String, Raw::String(s)) => string(s)?,
        (ValueType::String | ValueType::StringList, Raw::LongString) => {
            return Err(InputError::TooLong { field: field(), max: MAX_INPUT_STRING })
        }
        (ValueType::Number, Raw::Number(x)) if x.is_finite() => Value::Number(x),
        (ValueType::Number, r @ Raw::Number(_)) => return Err(wrong("a finite number", &r)),
        (ValueType::Bool, Raw::Bool(b)) => Value::Bool(b),
        (ValueType::StringList, Raw::List { len, items }) => {
            if len > MAX_INPUT_LIST || items.len() > MAX_INPUT_LIST {
                return Err(InputError::TooLong { field: field(), max: MAX_INPUT_LIST });
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Raw::String(s) if s.len() <= MAX_INPUT_STRING => out.push(Value::String(s)),
                    Raw::String(_) | Raw::LongString => {
                        return Err(InputError::TooLong {
                            field: format!("{}[{i}]", field()),
                            max: MAX_INPUT_STRING,
                        })
                    }
                    other => return Err(wrong("an array of strings", &other)),
                }
            }
            Value::Array(out)
        }
        (ValueType::String, r) => return Err(wrong("a string", &r)),
        (ValueType::Number, r) => return Err(wrong("a number", &r)),
        (ValueType::Bool, r) => return Err(wrong("a boolean", &r)),
        (ValueType::StringList, r) => return Err(wrong("an array of strings", &r)),
    })
}

/// Converts server-supplied traits, by name (`tier: "gold"`, `birthday: "1996-03-14"`), to the
/// model's trait slots. Unknown names are refused; anniversaries keep only month and day;
/// timestamps (ms or RFC 3339) become ms.
pub fn traits(model: &Model, entries: Vec<(String, Raw)>) -> Result<Vec<Value>, InputError> {
    slot_traits(model, entries, true)
}

/// Like [`traits`], for a token restored with stored state or kept across a new model: what the
/// model does not know, or types differently, is left out instead of refused.
pub fn known_traits(model: &Model, entries: Vec<(String, Raw)>) -> Vec<Value> {
    slot_traits(model, entries, false).unwrap_or_default()
}

fn slot_traits(model: &Model, entries: Vec<(String, Raw)>, strict: bool) -> Result<Vec<Value>, InputError> {
    let mut out = vec![Value::Null; model.traits.len()];
    for (name, raw) in entries {
        let Some(i) = model.traits.iter().position(|t| t.0 == name) else {
            if strict {
                return Err(unknown("trait", &name, &mut model.traits.iter().map(|t| t.0.as_str())));
            }
            continue;
        };
        let (Some((_, ty)), Some(slot)) = (model.traits.get(i), out.get_mut(i)) else { continue };
        *slot = match trait_value(&name, *ty, raw) {
            Ok(v) => v,
            Err(e) if strict => return Err(e),
            Err(_) => Value::Null,
        };
    }
    Ok(out)
}

fn trait_value(name: &str, ty: TraitType, raw: Raw) -> Result<Value, InputError> {
    let at = || format!("traits.{name}");
    let wrong = |expected: &str, raw: &Raw| InputError::WrongType {
        field: at(),
        expected: expected.to_string(),
        got: raw.kind(),
    };
    let date = |s: &str| time::parse_date(s);
    Ok(match (ty, raw) {
        (_, Raw::Null) => Value::Null,
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
            let v = checked(&at, ty, r)?;
            if !trait_value_ok(&v) {
                return Err(InputError::TooLong { field: at(), max: MAX_TRAIT_STRING });
            }
            v
        }
        (TraitType::Timestamp, Raw::Number(x)) if x.is_finite() => Value::Number(x.trunc()),
        (TraitType::Timestamp, Raw::String(s)) => match time::parse_rfc3339(&s) {
            Some(ms) => Value::Number(ms as f64),
            None => return Err(wrong("an RFC 3339 time", &Raw::String(s))),
        },
        (TraitType::Date, Raw::String(s)) if date(&s).is_some() => Value::String(s),
        (TraitType::Anniversary, Raw::String(s)) => {
            let md = if s.len() == 10 {
                date(&s).map(|d| {
                    let (_, m, dd) = time::civil_from_days(d);
                    (m, dd)
                })
            } else {
                time::parse_month_day(&s)
            };
            let Some((m, d)) = md else {
                return Err(wrong("a date `YYYY-MM-DD` or `MM-DD`", &Raw::String(s)));
            };
            Value::String(format!("{m:02}-{d:02}"))
        }
        (TraitType::Date, r) => return Err(wrong("a date `YYYY-MM-DD`", &r)),
        (TraitType::Timestamp, r) => return Err(wrong("a time", &r)),
        (TraitType::Anniversary, r) => return Err(wrong("a date `YYYY-MM-DD` or `MM-DD`", &r)),
    })
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
        // INVARIANT: |x| <= 8.64e15 < 2^53, so the cast is exact after trunc.
        Ok(x.trunc() as i64)
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
