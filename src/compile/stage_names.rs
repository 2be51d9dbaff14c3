//! Stage names written as text inside rules: `{"==": [{"var": "stage"}, "loyal"]}` and
//! `{"in": [{"var": "stage"}, ["loyal", "repeat"]]}`. A name that is not a stage of the model can
//! never match, so it is an error with a suggestion, as in an offer's `stages`.

use serde_json::Value as Json;

use super::error::CompileError;
use super::resolve::unknown_hint;

/// The errors for stage names in `rule` (at `path`) that `stages` does not define.
pub(crate) fn check(path: &str, rule: &Json, stages: &[String]) -> Vec<CompileError> {
    let mut out = Vec::new();
    walk(path, rule, stages, &mut out, 0);
    out
}

fn is_stage(e: &Json) -> bool {
    let Json::Object(map) = e else { return false };
    match map.get("var") {
        Some(Json::String(s)) => map.len() == 1 && s == "stage",
        Some(Json::Array(a)) => map.len() == 1 && a.len() == 1 && a.first().is_some_and(|s| s == "stage"),
        _ => false,
    }
}

fn walk(path: &str, e: &Json, stages: &[String], out: &mut Vec<CompileError>, depth: usize) {
    if depth > crate::logic::MAX_DEPTH {
        return;
    }
    match e {
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(&format!("{path}[{i}]"), item, stages, out, depth + 1);
            }
        }
        Json::Object(map) if map.len() == 1 => {
            let Some((op, args)) = map.iter().next() else { return };
            let Json::Array(args) = args else {
                walk(&format!("{path}.{op}"), args, stages, out, depth + 1);
                return;
            };
            let compared = matches!(op.as_str(), "==" | "===" | "!=" | "!==") && args.len() == 2;
            for (i, a) in args.iter().enumerate() {
                let here = format!("{path}.{op}[{i}]");
                let other = if i == 0 { args.get(1) } else { args.first() };
                let other_is_stage = other.is_some_and(is_stage);
                match a {
                    Json::String(name) if compared && other_is_stage => {
                        name_check(&here, name, stages, matches!(op.as_str(), "!=" | "!=="), out);
                    }
                    Json::Array(names) if op == "in" && i == 1 && args.first().is_some_and(is_stage) => {
                        for (k, n) in names.iter().enumerate() {
                            if let Json::String(name) = n {
                                name_check(&format!("{here}[{k}]"), name, stages, false, out);
                            }
                        }
                    }
                    _ => walk(&here, a, stages, out, depth + 1),
                }
            }
        }
        _ => {}
    }
}

/// `negated`: the comparison is `!=` or `!==`, which an unknown name makes always true.
fn name_check(path: &str, name: &str, stages: &[String], negated: bool, out: &mut Vec<CompileError>) {
    if !stages.iter().any(|s| s == name) {
        let hint = unknown_hint(name, stages.iter().map(String::as_str));
        let holds = if negated { "holds for every shopper" } else { "never holds" };
        out.push(CompileError::Rule {
            path: path.to_string(),
            message: format!("`{name}` is not a lifecycle stage, so this comparison {holds}{hint}"),
        });
    }
}
