//! Comparisons of a typed variable with a constant of another type, which JsonLogic makes
//! without complaint and which never hold: `{"==": [{"var": "traits.hipo"}, "true"]}` (a true or
//! false trait against the text "true" is a NaN error, so false), `{">=": [{"var":
//! "features.spend_365d"}, "5000 RMB"]}`, `{"===": [{"var": "traits.tier"}, 3]}`.

use serde_json::Value as Json;

use super::error::Warning;
use crate::model::{TraitType, ValueType};

/// The declared types of the variables a comparison may read.
pub(crate) struct Types<'a> {
    pub traits: Vec<(&'a str, TraitType)>,
    pub context: Vec<(&'a str, ValueType)>,
    pub features: Vec<&'a str>,
}

/// What a variable holds, as far as a comparison with a constant is concerned.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Number,
    Text,
    /// A list of strings: compared with a constant, always a rule error (marketer review of
    /// 2026-11-25: `{"==": [{"var": "traits.crm_segments"}, "hipo"]}` for "is in the segment").
    List,
}

impl Kind {
    fn said(self) -> &'static str {
        match self {
            Kind::Bool => "true or false",
            Kind::Number => "a number",
            Kind::Text => "text",
            Kind::List => "a list",
        }
    }
}

/// The warnings for `rule` at `path`.
pub(crate) fn check(path: &str, rule: &Json, types: &Types) -> Vec<Warning> {
    let mut out = Vec::new();
    super::walk::operators(path, rule, &mut |path, op, args| {
        let compared = matches!(op, "==" | "!=" | "===" | "!==" | "<" | "<=" | ">" | ">=");
        let (true, [a, b]) = (compared, args) else { return };
        for (var, constant) in [(a, b), (b, a)] {
            let Some((name, kind)) = kind_of(var, types) else { continue };
            if matches!(constant, Json::Object(_) | Json::Array(_) | Json::Null) {
                continue;
            }
            let listed = (kind == Kind::List).then(|| {
                format!("to ask whether it holds {constant}, write {{\"in\": [{constant}, {{\"var\": \"{name}\"}}]}}")
            });
            if let Some(fix) = listed.or_else(|| mismatch(op, kind, constant)) {
                let always = if kind == Kind::List {
                    "it is a rule error for every shopper, which counts as false"
                } else if matches!(op, "!=" | "!==") {
                    "it is true for every shopper"
                } else {
                    "it is false for every shopper, or a rule error that counts as false"
                };
                out.push(Warning {
                    path: format!("{path}.{op}"),
                    message: format!(
                        "`{name}` is {}, compared with {constant}: this `{op}` cannot work as meant \
                         ({always}); {fix}",
                        kind.said()
                    ),
                });
            }
        }
    });
    out
}

fn kind_of(var: &Json, types: &Types) -> Option<(String, Kind)> {
    let Json::Object(map) = var else { return None };
    let Some(Json::String(path)) = map.get("var") else { return None };
    if map.len() != 1 {
        return None;
    }
    let (root, name) = path.split_once('.')?;
    let kind = match root {
        "features" => types.features.contains(&name).then_some(Kind::Number)?,
        "traits" => match types.traits.iter().find(|(n, _)| *n == name)?.1 {
            TraitType::Bool => Kind::Bool,
            TraitType::Number => Kind::Number,
            TraitType::String => Kind::Text,
            TraitType::StringList => Kind::List,
            _ => return None,
        },
        "context" => match types.context.iter().find(|(n, _)| *n == name)?.1 {
            ValueType::Bool => Kind::Bool,
            ValueType::Number => Kind::Number,
            ValueType::String => Kind::Text,
            ValueType::StringList => Kind::List,
        },
        _ => return None,
    };
    Some((path.clone(), kind))
}

/// Why `op` between a `kind` variable and `constant` never holds (or always does), if it does not.
fn mismatch(op: &str, kind: Kind, constant: &Json) -> Option<String> {
    let numeric_text = |s: &str| !s.trim().is_empty() && s.trim().parse::<f64>().is_ok();
    let strict = matches!(op, "===" | "!==");
    match (kind, constant) {
        (Kind::Bool, Json::String(s)) if !strict && !numeric_text(s) => {
            Some(format!("write {} without quotes", if s.trim() == "false" { "false" } else { "true" }))
        }
        (Kind::Number, Json::String(s)) if !numeric_text(s) => {
            Some("write the number alone, e.g. 5000".to_string())
        }
        (Kind::Bool, Json::String(_) | Json::Number(_)) if strict => Some("write true or false".to_string()),
        (Kind::Number, Json::String(_) | Json::Bool(_)) if strict => Some("write a number".to_string()),
        (Kind::Text, Json::Number(_) | Json::Bool(_)) if strict => {
            Some("write the text in quotes".to_string())
        }
        _ => None,
    }
}
