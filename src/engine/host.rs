//! Input from a host binding (Wasm, FFI) that has already taken the host's values apart: the same
//! checks as [`super::input`], without building JSON first. Bindings read an event's properties
//! or a context's fields by the model's names and hand each one over as a [`Raw`].

use super::input::{InputError, MAX_INPUT_LIST, MAX_INPUT_STRING};
use crate::logic::Value;
use crate::model::ValueType;
use crate::profile::identity::IdKind;

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
            Raw::Number(n) => format!("the number {n}"),
            Raw::String(_) | Raw::LongString => "a string".into(),
            Raw::List { .. } => "an array".into(),
            Raw::Other(what) => (*what).into(),
        }
    }
}

/// Converts one typed field (`field` names it in errors, like `event.price`), with the checks of
/// [`super::input::field`]: finite numbers, bounded strings and lists.
pub fn value(field: impl Fn() -> String, ty: ValueType, raw: Raw) -> Result<Value, InputError> {
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
    fn times_are_finite_and_bounded() {
        assert_eq!(time_ms(1.5), Ok(1));
        assert!(time_ms(f64::NAN).is_err());
        assert!(time_ms(f64::INFINITY).is_err());
        assert!(time_ms(1e300).is_err());
        assert_eq!(id_kind("email"), Some(IdKind::Email));
        assert_eq!(id_kind("fax"), None);
    }
}
