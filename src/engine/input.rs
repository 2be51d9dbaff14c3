//! Untrusted input from the page: events, contexts and traits, checked against the model.

use alloc::{borrow::ToOwned, string::String};

#[cfg(feature = "std")]
use serde_json::Value as Json;

#[cfg(feature = "std")]
use super::host::Raw;
use crate::codec::{push_uint, Message};
use crate::compiled::Model;
use crate::logic::head;
#[cfg(feature = "std")]
use crate::logic::Value;
#[cfg(feature = "std")]
use crate::model::ValueType;
use crate::suggest;

/// Longest string accepted in an event or context, in bytes.
pub const MAX_INPUT_STRING: usize = 1024;
/// Most elements in a string list.
pub const MAX_INPUT_LIST: usize = 64;

/// Why an event, context or trait set was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputError {
    /// The input is not a JSON object.
    NotAnObject {
        /// Event, context or traits.
        what: &'static str,
        /// A valid example.
        example: &'static str,
    },
    /// An event has no `type`.
    MissingType,
    /// A name the model does not define.
    Unknown {
        /// Event type, placement, offer or trait.
        kind: &'static str,
        /// The name given.
        name: String,
        /// Suggestion or list.
        hint: String,
    },
    /// A field of the wrong type.
    WrongType {
        /// Which field (`event.price`, `context.page`, `traits.birthday`).
        field: String,
        /// What the model declares.
        expected: &'static str,
        /// What came.
        got: String,
    },
    /// A string or list longer than allowed.
    TooLong {
        /// Which field.
        field: String,
        /// The limit.
        max: usize,
    },
    /// The operation needs the shopper's consent.
    NoConsent(&'static str),
    /// An identifier that does not normalize.
    Identity(String),
    /// A time that is not a finite number of ms.
    BadTime,
    /// Traits without a token while the engine trusts token keys (see
    /// [`crate::sign::Trust::allow_unsigned_traits`]).
    UnsignedTraits,
    /// An anniversary with its year in a trait token: stored state keeps a token as signed, so
    /// the year would be kept, where `set_traits` keeps only month and day.
    YearInToken {
        /// Which trait (`traits.birthday`).
        field: String,
    },
}

impl Message for InputError {
    fn write_message(&self, out: &mut String) {
        match self {
            InputError::NotAnObject { what, example } => {
                out.push_str(what);
                out.push_str(" must be an object, like ");
                out.push_str(example);
            }
            InputError::MissingType => out.push_str(
                "event has no `type`; it names an event type of the model, like {\"type\": \"view\"}",
            ),
            InputError::Unknown { kind, name, hint } => {
                out.push_str("unknown ");
                out.push_str(kind);
                out.push_str(" `");
                out.push_str(name);
                out.push('`');
                out.push_str(hint);
            }
            InputError::WrongType { field, expected, got } => {
                out.push_str(field);
                out.push_str(": expected ");
                out.push_str(expected);
                out.push_str(", got ");
                out.push_str(got);
            }
            InputError::TooLong { field, max } => {
                out.push_str(field);
                out.push_str(": too long (at most ");
                push_uint(out, *max as u64);
                out.push(')');
            }
            InputError::NoConsent(what) => {
                out.push_str(what);
                out.push_str(" needs the shopper's consent first: setConsent(true)");
            }
            InputError::Identity(e) => {
                out.push_str("identifier: ");
                out.push_str(e);
            }
            InputError::BadTime => out.push_str(
                "a time (`now`, `expiresMs`) must be a finite number of milliseconds since the epoch",
            ),
            InputError::UnsignedTraits => out.push_str(
                "traits must come as a signed token (setTraitsToken): this engine trusts token keys, \
                 so unsigned traits are refused unless it allows them (allowUnsignedTraits, \
                 development only)",
            ),
            InputError::YearInToken { field } => {
                out.push_str(field);
                out.push_str(
                    ": an anniversary in a token must be `MM-DD`, without the year (stored state keeps \
                     the token as signed, and the year is personal data Kairos does not keep)",
                );
            }
        }
    }
}

crate::codec::display_by_message!(InputError);

impl core::error::Error for InputError {}

#[cfg(feature = "std")]
fn kind_of(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(_) => "a boolean".into(),
        Json::Number(n) => format!("the number {n}"),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

#[cfg(feature = "std")]
fn string(field: &str, s: &str, max: usize) -> Result<Value, InputError> {
    if s.len() > max {
        return Err(InputError::TooLong { field: field.to_string(), max });
    }
    Ok(Value::String(s.to_string()))
}

/// Converts one typed field. `null` is accepted as missing.
#[cfg(feature = "std")]
pub fn field(field: &str, ty: ValueType, v: &Json) -> Result<Value, InputError> {
    let wrong = |expected| InputError::WrongType { field: field.to_string(), expected, got: kind_of(v) };
    Ok(match (ty, v) {
        (_, Json::Null) => Value::Null,
        (ValueType::String, Json::String(s)) => string(field, s, MAX_INPUT_STRING)?,
        (ValueType::Number, Json::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => Value::Number(x),
            _ => return Err(wrong("a finite number")),
        },
        (ValueType::Bool, Json::Bool(b)) => Value::Bool(*b),
        (ValueType::StringList, Json::Array(items)) => {
            if items.len() > MAX_INPUT_LIST {
                return Err(InputError::TooLong { field: field.to_string(), max: MAX_INPUT_LIST });
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::String(s) => out.push(string(&format!("{field}[{i}]"), s, MAX_INPUT_STRING)?),
                    _ => return Err(wrong("an array of strings")),
                }
            }
            Value::Array(out)
        }
        (ValueType::String, _) => return Err(wrong("a string")),
        (ValueType::Number, _) => return Err(wrong("a number")),
        (ValueType::Bool, _) => return Err(wrong("a boolean")),
        (ValueType::StringList, _) => return Err(wrong("an array of strings")),
    })
}

/// Builds the context slot values for `model` from a JSON object. Fields the model does not
/// declare are ignored (pages may send more than a model reads).
#[cfg(feature = "std")]
pub fn context(model: &Model, json: &Json) -> Result<Vec<Value>, InputError> {
    let mut out = vec![Value::Null; model.context.len()];
    fill_context(model, json, &mut out)?;
    Ok(out)
}

/// Like [`context`], into a reused buffer.
#[cfg(feature = "std")]
pub fn fill_context(model: &Model, json: &Json, out: &mut Vec<Value>) -> Result<(), InputError> {
    out.clear();
    out.resize(model.context.len(), Value::Null);
    let obj = match json {
        Json::Null => return Ok(()),
        Json::Object(o) => o,
        _ => return Err(InputError::NotAnObject { what: "context", example: r#"{"page": "home"}"# }),
    };
    for ((name, ty), slot) in model.context.iter().zip(out.iter_mut()) {
        if let Some(v) = obj.get(name) {
            *slot = field(&format!("context.{name}"), *ty, v)?;
        }
    }
    Ok(())
}

/// Resolves an event JSON object `{"type": "view", "category": "qipao"}` to its type index and
/// property values.
#[cfg(feature = "std")]
pub fn event(model: &Model, json: &Json) -> Result<(usize, Vec<Value>), InputError> {
    let Json::Object(obj) = json else {
        return Err(InputError::NotAnObject { what: "event", example: r#"{"type": "view"}"# });
    };
    let name = match obj.get("type") {
        Some(Json::String(s)) => s,
        Some(other) => {
            return Err(InputError::WrongType {
                field: "event.type".into(),
                expected: "a string",
                got: kind_of(other),
            })
        }
        None => return Err(InputError::MissingType),
    };
    let index = event_index(model, name)?;
    let def = model.events.get(index).ok_or(InputError::MissingType)?;
    let mut props = vec![Value::Null; def.props.len()];
    for ((prop, ty), slot) in def.props.iter().zip(props.iter_mut()) {
        if let Some(v) = obj.get(prop) {
            *slot = field(&format!("event.{prop}"), *ty, v)?;
        }
    }
    Ok((index, props))
}

/// The index of an event type by name.
pub fn event_index(model: &Model, name: &str) -> Result<usize, InputError> {
    model.event(name).ok_or_else(|| unknown("event type", name, model, |m, i| Some(&m.events.get(i)?.name)))
}

/// The index of a placement by name.
pub fn placement_index(model: &Model, name: &str) -> Result<usize, InputError> {
    model
        .placement(name)
        .ok_or_else(|| unknown("placement", name, model, |m, i| Some(&m.placements.get(i)?.name)))
}

/// The index of an offer by id.
pub fn offer_index(model: &Model, id: &str) -> Result<usize, InputError> {
    model.offer(id).ok_or_else(|| unknown("offer", id, model, |m, i| Some(&m.offers.get(i)?.id)))
}

/// An unknown name, with a suggestion from the model's names of its kind, `nth` the `i`th (one
/// copy for every kind of name: a function pointer, not an iterator per kind, each of whose
/// `dyn Iterator` vtables was code of its own).
pub(crate) fn unknown(
    kind: &'static str,
    name: &str,
    model: &Model,
    nth: fn(&Model, usize) -> Option<&str>,
) -> InputError {
    let mut known = (0..).map_while(|i| nth(model, i));
    InputError::Unknown { kind, name: head(name, 64).to_owned(), hint: suggest::hint(name, &mut known) }
}

/// A JSON value as a host value: objects and nested arrays are named, not converted.
#[cfg(feature = "std")]
pub fn raw(v: &Json) -> Raw {
    match v {
        Json::Null => Raw::Null,
        Json::Bool(b) => Raw::Bool(*b),
        Json::Number(n) => Raw::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Raw::String(s.clone()),
        Json::Array(items) => Raw::List {
            len: items.len(),
            items: items
                .iter()
                .take(MAX_INPUT_LIST)
                .map(|x| if x.is_array() { Raw::Other("an array") } else { raw(x) })
                .collect(),
        },
        Json::Object(_) => Raw::Other("an object"),
    }
}
