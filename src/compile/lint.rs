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
/// no key, or a key that reads the root's `targetingKey` and nothing else (see [`root_key`]).
pub(crate) fn unsalted_fractional(path: &str, rule: &Json, out: &mut Vec<String>) {
    fractional_walk(path, rule, out, 0, 0);
}

/// `scopes`: how many scopes `e` is inside (iterators' per-item expressions, `try` handlers).
fn fractional_walk(path: &str, e: &Json, out: &mut Vec<String>, scopes: u32, depth: usize) {
    if depth > crate::logic::MAX_DEPTH {
        return;
    }
    let Some((op, args)) = op_args(e) else {
        if let Json::Array(items) = e {
            for (i, item) in items.iter().enumerate() {
                fractional_walk(&format!("{path}[{i}]"), item, out, scopes, depth + 1);
            }
        }
        return;
    };
    if op == "fractional" && args.first().is_none_or(|k| k.is_array() || root_key(k, scopes)) {
        out.push(path.to_string());
    }
    // An iterator's second argument is read per item; its list (and `reduce`'s start) outside.
    // A `try`'s handlers (its arguments after the first) read the error, a scope below too.
    let iterates = matches!(op, "map" | "filter" | "reduce" | "all" | "some" | "none");
    for (i, a) in args.iter().enumerate() {
        let inner = scopes.saturating_add(u32::from((iterates && i == 1) || (op == "try" && i > 0)));
        fractional_walk(&format!("{path}.{op}[{i}]"), a, out, inner, depth + 1);
    }
}

/// Whether `key`, `scopes` scopes deep (iterators' per-item expressions and `try` handlers), is
/// the root's `targetingKey` as it is: `{"var": "targetingKey"}` (a default or not, the path as
/// text or as a list of one) outside scopes, `{"val": "targetingKey"}` there or anywhere with a
/// scope jump `[n]` that climbs to the root (each scope is two levels, as the parser counts them),
/// or a `cat` of one such key and what adds nothing (empty strings, `null`, `[]`). The name may be
/// computed from constant text (`{"var": {"cat": ["targeting", "Key"]}}`, which the parser folds).
fn root_key(key: &Json, scopes: u32) -> bool {
    let Some((op, args)) = op_args(key) else { return false };
    let is_name = |e: &Json| const_text(e).as_deref() == Some("targetingKey");
    let named = |a: &[&Json]| matches!(a, [one] if is_name(one));
    match (op, args.as_slice()) {
        ("var", [Json::Array(path), ..]) => scopes == 0 && matches!(path.as_slice(), [one] if is_name(one)),
        ("var", [name, ..]) => scopes == 0 && is_name(name),
        ("val", [Json::Array(jump), rest @ ..]) => {
            let climbs = match jump.as_slice() {
                [n] => n.as_f64().map_or(0.0, f64::abs),
                _ => return false,
            };
            climbs >= f64::from(scopes) * 2.0 && named(rest)
        }
        ("val", path) => scopes == 0 && named(path),
        ("cat", parts) => {
            let empty = |p: &&Json| const_text(p).is_some_and(|t| t.is_empty());
            let mut keys = parts.iter().filter(|p| !empty(p));
            keys.next().is_some_and(|k| root_key(k, scopes)) && keys.next().is_none()
        }
        _ => false,
    }
}

/// The text `e` always gives inside a `cat` when it is made of constants that `cat` joins as text
/// alone (a string; `null` and `[]`, which add nothing; a `cat` of such), else `None`.
fn const_text(e: &Json) -> Option<String> {
    match e {
        Json::String(s) => Some(s.clone()),
        Json::Null => Some(String::new()),
        Json::Array(items) if items.is_empty() => Some(String::new()),
        _ => match op_args(e)? {
            ("cat", parts) => parts.iter().map(|p| const_text(p)).collect(),
            _ => None,
        },
    }
}

/// A warning at each `fractional` of `paths` (from [`unsalted_fractional`]) after the first. They
/// bucket by the same hash, so they are not independent: with the same buckets they are one split,
/// with others her bucket in one fixes her bucket in the other. Two experiments written alike were
/// the analyst review's case; the two arms of one split are better written once (a review of the
/// first warning, which told their author to salt one arm, breaking the split).
pub(crate) fn same_splits(paths: &[String]) -> Vec<Warning> {
    let Some((first, rest)) = paths.split_first() else { return Vec::new() };
    rest.iter()
        .map(|path| Warning {
            path: path.clone(),
            message: format!(
                "this `fractional` buckets by `targetingKey` alone, as `{first}` does, so the two are \
                 not independent (her bucket in one fixes her bucket in the other; with the same \
                 buckets it is the same one). For two experiments, \
                 salt each key, e.g. {{\"fractional\": [{{\"cat\": [\"spring-\", {{\"var\": \
                 \"targetingKey\"}}]}}, [\"on\", 50], [\"off\", 50]]}}; to use one split in several \
                 rules, write it once as a segment and refer to it (`{{\"segment\": \"...\"}}`, \
                 `{{\"!\": {{\"segment\": \"...\"}}}}` for the other arm)"
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

    /// Analyst review: two `fractional` splits by the bare `targetingKey` are one split, and
    /// `kairos check` said nothing. Reviews of the fix: the warning may not tell the author of two
    /// arms to salt one; inside an iterator `{"var": "targetingKey"}` is the item's, but not in
    /// `reduce`'s start; a default does not salt it.
    #[test]
    fn a_second_split_by_the_bare_targeting_key_warns() {
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
        let var = json!({"fractional": [{"var": "targetingKey"}, ["on", 10], ["off", 90]]});
        let default = json!({"fractional": [{"var": ["targetingKey", "anon"]}, ["on", 50], ["off", 50]]});
        let val = json!({"fractional": [{"val": ["targetingKey"]}, ["on", 10], ["off", 90]]});
        let start = json!({"reduce": [[], {"var": "accumulator"}, {"fractional": [{"var": "targetingKey"}, ["on", 1]]}]});
        let salted =
            json!({"fractional": [{"cat": ["b-", {"var": "targetingKey"}]}, ["on", 50], ["off", 50]]});
        assert!(with(std::slice::from_ref(&bare)).is_empty(), "one split alone");
        assert!(with(&[bare.clone(), salted]).is_empty(), "the other salted");
        for other in [&bare, &var, &default, &val, &start] {
            let w = with(&[bare.clone(), other.clone()]);
            assert_eq!(w.len(), 1, "{other}: {w:?}");
            assert!(
                w[0].starts_with("warning: segments.split1.==[0]")
                    && w[0].contains(": this `fractional` buckets by `targetingKey` alone, as `segments.split0.==[0]` does")
                    && w[0].contains("write it once as a segment"),
                "{w:?}"
            );
        }
        // In a `map`, the key reads each item's `targetingKey`, or its index with a jump of 1.
        let per_item = |key: serde_json::Value| json!({"map": [{"var": "traits.crm_segments"}, {"fractional": [key, ["on", 1]]}]});
        for key in [
            json!({"var": "targetingKey"}),
            json!({"val": "targetingKey"}),
            json!({"val": [[1], "targetingKey"]}),
        ] {
            assert!(with(&[bare.clone(), per_item(key.clone())]).is_empty(), "{key}");
        }
        // A jump to the root from inside the iterator, a jump at the root, one-element `cat`s: the
        // root's key as it is (a review found these unwarned).
        let nested = json!({"map": [[1], {"map": [[2], {"fractional": [{"val": [[4], "targetingKey"]}, ["on", 1]]}]}]});
        let in_handler = |key: serde_json::Value| json!({"try": [{"throw": "x"}, {"map": [[1], {"fractional": [key, ["on", 1]]}]}]});
        let in_cat = json!({"fractional": [{"cat": [{"cat": {"var": "targetingKey"}}]}, ["on", 1]]});
        for other in [
            per_item(json!({"val": [[2], "targetingKey"]})),
            json!({"fractional": [{"val": [[1], "targetingKey"]}, ["on", 1]]}),
            nested,
            in_cat,
            json!({"fractional": [{"var": [["targetingKey"]]}, ["on", 1]]}),
            in_handler(json!({"val": [[4], "targetingKey"]})),
            // Padded with empty strings, or the name computed from constant text (noticed in the
            // session of 2026-11-25 from 11:38 UTC).
            json!({"fractional": [{"cat": ["", {"var": "targetingKey"}, {"cat": [""]}]}, ["on", 1]]}),
            json!({"fractional": [{"val": {"cat": ["targeting", {"cat": ["Key"]}]}}, ["on", 1]]}),
            // Padded with what `cat` joins as nothing; a `var` name the parser folds (review).
            json!({"fractional": [{"cat": [null, {"var": "targetingKey"}, []]}, ["on", 1]]}),
            json!({"fractional": [{"val": {"cat": ["targetingKey", null]}}, ["on", 1]]}),
            json!({"fractional": [{"var": {"cat": ["targeting", "Key"]}}, ["on", 1]]}),
            json!({"fractional": [{"var": [{"cat": ["targeting", "Key"]}, "anon"]}, ["on", 1]]}),
        ] {
            assert_eq!(with(&[bare.clone(), other.clone()]).len(), 1, "{other}");
        }
        let shallow = json!({"map": [[1], {"map": [[2], {"fractional": [{"val": [[3], "targetingKey"]}, ["on", 1]]}]}]});
        let two = json!({"fractional": [{"cat": [{"var": "targetingKey"}, "-b"]}, ["on", 1]]});
        let computed_salt =
            json!({"fractional": [{"cat": [{"cat": ["", "b"]}, {"var": "targetingKey"}]}, ["on", 1]]});
        // A `try` handler reads the error (a review: these were warned).
        let handler =
            |key: serde_json::Value| json!({"try": [{"throw": "x"}, {"fractional": [key, ["on", 1]]}]});
        for other in [
            shallow,
            two,
            computed_salt,
            handler(json!({"var": "targetingKey"})),
            handler(json!({"val": [[1], "targetingKey"]})),
            in_handler(json!({"val": [[3], "targetingKey"]})),
        ] {
            assert!(with(&[bare.clone(), other.clone()]).is_empty(), "{other}");
        }
        assert_eq!(with(&[bare.clone(), var, bare]).len(), 2, "each split after the first");
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
