//! Warnings for rules that are legal but likely wrong.
//!
//! The main trap: in JsonLogic a missing value (null) compares as 0, so
//! `{"<": [{"days_since": "purchase"}, 7]}` ("bought within 7 days") is also true for a shopper
//! who never bought. A comparison with an operand that can be missing, that would hold if the
//! operand were 0, and with no guard in an enclosing `and`, gets a warning showing the safe form.

use serde_json::Value as Json;

use super::error::Warning;
use super::resolve::Names;
use crate::model::AggKind;

/// A model without a brand salt (`meta.id_salt` missing, empty or blank): identifiers are then
/// hashed with the salt every such brand shares, so a phone number gets the same pid at each of
/// them, and their reports can be linked.
pub(crate) fn missing_id_salt(id_salt: &str) -> Option<Warning> {
    id_salt.trim().is_empty().then(|| Warning {
        path: "meta.id_salt".to_string(),
        message: "identifiers are hashed without a brand salt: every brand without one gives a phone \
                  number the same pid, so their shoppers can be linked across brands; set `meta.id_salt` \
                  to a value of the brand's own"
            .to_string(),
    })
}

/// Adds to `out` where `rule` (at `path`) has a `fractional` that buckets by `targetingKey` alone:
/// no key, or the bare variable. Two such splits put every shopper in the same bucket of both.
pub(crate) fn unsalted_fractional(path: &str, rule: &Json, out: &mut Vec<String>) {
    fractional_walk(path, rule, out, 0);
}

fn fractional_walk(path: &str, e: &Json, out: &mut Vec<String>, depth: usize) {
    if depth > crate::logic::MAX_DEPTH {
        return;
    }
    let Some((op, args)) = op_args(e) else {
        if let Json::Array(items) = e {
            for (i, item) in items.iter().enumerate() {
                fractional_walk(&format!("{path}[{i}]"), item, out, depth + 1);
            }
        }
        return;
    };
    if op == "fractional" {
        let bare = serde_json::json!("targetingKey");
        let unsalted = match args.first() {
            None | Some(Json::Array(_)) => true,
            Some(key) => op_args(key).is_some_and(|(op, a)| {
                op == "var"
                    && a.first().is_some_and(|v| **v == bare || **v == Json::Array(vec![bare.clone()]))
            }),
        };
        if unsalted {
            out.push(path.to_string());
        }
    }
    for (i, a) in args.iter().enumerate() {
        fractional_walk(&format!("{path}.{op}[{i}]"), a, out, depth + 1);
    }
}

/// A warning at each `fractional` after the first of `paths` (from [`unsalted_fractional`]).
pub(crate) fn same_splits(paths: &[String]) -> Vec<Warning> {
    let Some((first, rest)) = paths.split_first() else { return Vec::new() };
    rest.iter()
        .map(|path| Warning {
            path: path.clone(),
            message: format!(
                "this `fractional` buckets by `targetingKey` alone, as `{first}` does, so every \
                 shopper falls in the same bucket of both (the two splits are one split); salt its \
                 key, e.g. {{\"fractional\": [{{\"cat\": [\"spring-\", {{\"var\": \"targetingKey\"}}]}}, \
                 [\"on\", 50], [\"off\", 50]]}}"
            ),
        })
        .collect()
}

/// Walks a rule and returns its warnings.
pub(crate) fn missing_comparisons(path: &str, rule: &Json, names: &Names) -> Vec<Warning> {
    let mut out = Vec::new();
    walk(path, rule, names, &[], &mut out, 0);
    out
}

/// What can be missing, described for the warning; `None` when it is always present.
fn maybe_missing(e: &Json, names: &Names) -> Option<String> {
    let Json::Object(map) = e else { return None };
    let (op, args) = map.iter().next()?;
    let first = match args {
        Json::Array(a) => a.first(),
        other => Some(other),
    };
    match op.as_str() {
        "var" => {
            // A default makes the value present.
            if matches!(args, Json::Array(a) if a.len() > 1) {
                return None;
            }
            let Json::String(path) = first? else { return None };
            if path == "hours_in_stage" {
                return Some("`hours_in_stage` is missing before the shopper has a stage".to_string());
            }
            let (root, name) = path.split_once('.')?;
            match root {
                "traits" => Some(format!("trait `{name}` is missing until the server supplies it")),
                "context" => Some(format!("context field `{name}` is missing when a page does not pass it")),
                "features" => {
                    let agg = names.features.iter().find(|f| f.0 == name)?.1;
                    matches!(agg, AggKind::First | AggKind::Last)
                        .then(|| format!("feature `{name}` is missing until its event happens"))
                }
                _ => None,
            }
        }
        // Of a date or a time written in the rule, never missing (marketer review of 2026-11-25:
        // `{"days_since": "2026-11-11"}` was warned about).
        "hours_since" | "days_since" => {
            let literal = match first {
                Some(Json::Number(_)) => true,
                Some(Json::String(s)) => {
                    crate::time::parse_date(s).is_some() || crate::time::parse_rfc3339(s).is_some()
                }
                _ => false,
            };
            (!literal).then(|| format!("`{op}` is missing when it never happened"))
        }
        "days_to_anniversary" => {
            Some("`days_to_anniversary` is missing when the date is unknown".to_string())
        }
        _ => None,
    }
}

/// Whether comparison `op` over `args` holds when operand `missing` reads as 0. An operand that
/// is not a number constant could be anything, so it counts as holding.
fn passes_when_zero(op: &str, args: &[&Json], missing: usize) -> bool {
    let values: Vec<Option<f64>> =
        args.iter().enumerate().map(|(i, a)| if i == missing { Some(0.0) } else { a.as_f64() }).collect();
    if values.iter().any(Option::is_none) {
        return true;
    }
    let v: Vec<f64> = values.into_iter().flatten().collect();
    v.windows(2).all(|w| match (w.first(), w.get(1)) {
        (Some(a), Some(b)) => match op {
            "<" => a < b,
            "<=" => a <= b,
            ">" => a > b,
            _ => a >= b,
        },
        _ => true,
    })
}

fn op_args(e: &Json) -> Option<(&str, Vec<&Json>)> {
    let Json::Object(map) = e else { return None };
    if map.len() != 1 {
        return None;
    }
    let (op, args) = map.iter().next()?;
    let args = match args {
        Json::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    Some((op.as_str(), args))
}

/// Whether `guard` proves `operand` present: `{"!==": [x, null]}`, or `{"!=": [x, null]}` and
/// `{"!!": x}` (which also exclude 0, so they guard too, if more than asked).
fn guards(guard: &Json, operand: &Json) -> bool {
    let Some((op, args)) = op_args(guard) else { return false };
    match op {
        "!=" | "!==" => args.len() == 2 && args.contains(&operand) && args.contains(&&Json::Null),
        "!!" => args.first() == Some(&operand),
        _ => false,
    }
}

fn walk(
    path: &str,
    e: &Json,
    names: &Names,
    guards_in_scope: &[&Json],
    out: &mut Vec<Warning>,
    depth: usize,
) {
    if depth > crate::logic::MAX_DEPTH {
        return;
    }
    let Some((op, args)) = op_args(e) else {
        if let Json::Array(items) = e {
            for (i, item) in items.iter().enumerate() {
                walk(&format!("{path}[{i}]"), item, names, guards_in_scope, out, depth + 1);
            }
        }
        return;
    };
    // `==` against 0: a missing value equals 0 too (`{"==": [{"days_since": "purchase"}, 0]}`,
    // "bought today", holds for a shopper who never bought).
    let equals_zero = op == "==" && args.len() == 2 && args.iter().any(|a| a.as_f64() == Some(0.0));
    if equals_zero
        || matches!(op, "<" | "<=" | ">" | ">=")
            && (args.len() == 2 || (args.len() == 3 && matches!(op, "<" | "<=")))
    {
        for (i, operand) in args.iter().enumerate() {
            let Some(why) = maybe_missing(operand, names) else { continue };
            let passes = if equals_zero {
                args.iter().enumerate().any(|(k, a)| k != i && a.as_f64() == Some(0.0))
            } else {
                passes_when_zero(op, &args, i)
            };
            if guards_in_scope.iter().any(|g| guards(g, operand)) || !passes {
                continue;
            }
            let safe = serde_json::json!({"and": [{"!==": [operand, null]}, e]});
            out.push(Warning {
                path: path.to_string(),
                message: format!(
                    "{why}, and a missing value compares as 0, so this `{op}` is also true for such \
                     shoppers; if that is not meant, guard it: {safe}"
                ),
            });
        }
    }
    let mut scope: Vec<&Json> = guards_in_scope.to_vec();
    if op == "and" {
        scope.extend(args.iter().copied());
    }
    for (i, a) in args.iter().enumerate() {
        walk(&format!("{path}.{op}[{i}]"), a, names, &scope, out, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn warnings(salt: Option<serde_json::Value>) -> Vec<String> {
        let text = include_str!("../../examples/taste-of-su/model.json");
        let mut m: serde_json::Value = serde_json::from_str(text).unwrap();
        let meta = m["meta"].as_object_mut().unwrap();
        match salt {
            Some(s) => meta.insert("id_salt".to_string(), s),
            None => meta.remove("id_salt"),
        };
        let c = crate::compile_str(&m.to_string()).unwrap_or_else(|e| panic!("{e}"));
        c.warnings.iter().map(ToString::to_string).collect()
    }

    /// Analyst review: two `fractional` splits without a key split alike (on/on and off/off,
    /// never on/off), and `kairos check` said nothing.
    #[test]
    fn two_fractional_splits_by_the_bare_targeting_key_warn() {
        let text = include_str!("../../examples/taste-of-su/model.json");
        let with = |rules: &[serde_json::Value]| {
            let mut m: serde_json::Value = serde_json::from_str(text).unwrap();
            for (i, r) in rules.iter().enumerate() {
                m["segments"][format!("split{i}")] = json!({"==": [r, "on"]});
            }
            let c = crate::compile_str(&m.to_string()).unwrap_or_else(|e| panic!("{e}"));
            c.warnings
                .iter()
                .map(ToString::to_string)
                .filter(|w| w.contains("fractional"))
                .collect::<Vec<_>>()
        };
        let bare = json!({"fractional": [["on", 50], ["off", 50]]});
        let var = json!({"fractional": [{"var": "targetingKey"}, ["on", 50], ["off", 50]]});
        let salted =
            json!({"fractional": [{"cat": ["b-", {"var": "targetingKey"}]}, ["on", 50], ["off", 50]]});
        assert!(with(std::slice::from_ref(&bare)).is_empty(), "one split alone");
        assert!(with(&[bare.clone(), salted.clone()]).is_empty(), "the other salted");
        let w = with(&[bare.clone(), var.clone()]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("warning: segments.split1.==[0]: this `fractional` buckets by `targetingKey` alone, as `segments.split0.==[0]` does"),
            "{w:?}"
        );
        assert_eq!(with(&[bare.clone(), bare.clone(), bare]).len(), 2);
    }

    /// Privacy review finding 1: a model without `id_salt` compiled with no warning, and every
    /// brand on the default salt had the same pid for a phone number.
    #[test]
    fn a_missing_or_empty_id_salt_warns() {
        for salt in [None, Some(json!("")), Some(json!("  "))] {
            let w = warnings(salt.clone());
            assert_eq!(w.len(), 1, "{salt:?}: {w:?}");
            assert!(
                w[0].starts_with("warning: meta.id_salt: identifiers are hashed without a brand salt")
                    && w[0].contains("set `meta.id_salt`"),
                "{w:?}"
            );
        }
        assert!(warnings(Some(json!("taste-of-su-2026"))).is_empty());
    }
}
