//! Values that are legal JsonLogic but are not rules where the model expects one.
//!
//! In JsonLogic a literal is a rule that returns itself, so `"audience": "qipao_fan"`,
//! `"when": "false"` or `"audience": [{"segment": "a"}]` parse, and as a condition each is
//! true for every shopper (any text but `""`, any number but 0, any list but `[]` is truthy).
//! Such a value is never what the author meant, so where a condition is expected only `true`,
//! `false` and operator objects are accepted: at the top of the rule and as the operands of
//! `and`, `or`, `!` and `!!`, whose values are read as conditions too.

use serde_json::Value as Json;

use crate::suggest;

/// What the names in a hint may refer to.
pub(crate) struct Hints<'a> {
    /// Segment names, for `"vip"` → `{"segment": "vip"}`.
    pub segments: &'a [String],
    /// Stage names, for `"loyal"` → `{"==": [{"var": "stage"}, "loyal"]}`.
    pub stages: &'a [String],
    /// Who the rule is about, for "true for every ...": `shopper` or `event`.
    pub subject: &'a str,
}

/// The first place in `rule` where a condition is a literal other than `true`/`false`: its path
/// inside the rule (in the parser's form, e.g. `and[1]`, empty for the top) and the message.
pub(crate) fn not_a_rule(rule: &Json, hints: &Hints<'_>) -> Option<(String, String)> {
    check(rule, hints, String::new(), 0)
}

fn check(json: &Json, hints: &Hints<'_>, path: String, depth: usize) -> Option<(String, String)> {
    if depth > crate::logic::MAX_DEPTH {
        return None;
    }
    match json {
        Json::Bool(_) => None,
        Json::Object(map) if map.len() == 1 => {
            let (op, args) = map.iter().next()?;
            if !matches!(op.as_str(), "and" | "or" | "!" | "!!") {
                return None;
            }
            let at = if path.is_empty() { op.clone() } else { format!("{path}.{op}") };
            match args {
                Json::Array(items) => items
                    .iter()
                    .enumerate()
                    .find_map(|(i, item)| check(item, hints, format!("{at}[{i}]"), depth + 1)),
                other => check(other, hints, at, depth + 1),
            }
        }
        Json::Object(map) if map.is_empty() => Some((
            path,
            format!(
                "`{{}}` is an empty object, not a rule, so it counts as true for every {}; \
                 write a rule such as {{\"segment\": \"vip\"}}, or true or false",
                hints.subject
            ),
        )),
        Json::Object(_) => None,
        other => Some((path, literal(other, hints))),
    }
}

/// The message for a literal (text, number, null, list) in a condition.
fn literal<'a>(json: &Json, h: &Hints<'a>) -> String {
    let every = h.subject;
    match json {
        Json::String(s) if s.is_empty() => {
            format!("`\"\"` is empty text, not a rule, so it counts as false for every {every}; write false")
        }
        Json::String(s) => {
            let shown = Json::String(s.clone());
            let head = format!("`{shown}` is text, not a rule, so it counts as true for every {every}");
            let lower = s.trim().to_lowercase();
            if lower == "true" || lower == "false" {
                return format!("{head}; write {lower} without quotes");
            }
            let exact = |list: &'a [String]| list.iter().find(|n| *n == s).map(String::as_str);
            let close = |list: &'a [String]| suggest::closest(s, list.iter().map(String::as_str));
            let fix = if let Some(name) = exact(h.segments) {
                serde_json::json!({ "segment": name })
            } else if let Some(name) = exact(h.stages) {
                serde_json::json!({ "==": [{ "var": "stage" }, name] })
            } else if let Some(name) = close(h.segments) {
                serde_json::json!({ "segment": name })
            } else if let Some(name) = close(h.stages) {
                serde_json::json!({ "==": [{ "var": "stage" }, name] })
            } else {
                Json::Null
            };
            if !fix.is_null() {
                return format!("{head}; did you mean `{fix}`?");
            }
            format!("{head}; a rule is true, false, or an object such as {{\"segment\": \"vip\"}}")
        }
        Json::Number(n) => {
            let truth = if n.as_f64() == Some(0.0) { "false" } else { "true" };
            format!(
                "`{n}` is a number, not a rule, so it counts as {truth} for every {every}; write true or \
                 false, or a comparison such as {{\">=\": [{{\"var\": \"features.views_7d\"}}, {n}]}}"
            )
        }
        Json::Null => format!(
            "`null` is not a rule; write false to match no {every}, or true (or leave an optional rule out) \
             to match every {every}"
        ),
        Json::Array(items) if items.is_empty() => {
            format!("`[]` is an empty list, not a rule, so it counts as false for every {every}; write false")
        }
        Json::Array(items) if items.len() == 1 => format!(
            "a rule inside `[ ]` is a list, not a rule, and a list counts as true for every {every}; \
             remove the `[ ]` around it"
        ),
        Json::Array(_) => format!(
            "a list in `[ ]` is not a rule, so it counts as true for every {every}; to require all of \
             these write {{\"and\": [...]}}, for any one of them {{\"or\": [...]}}"
        ),
        other => format!("`{other}` is not a rule"),
    }
}
