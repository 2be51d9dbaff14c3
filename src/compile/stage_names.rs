//! Stage names written as text inside rules: `{"==": [{"var": "stage"}, "loyal"]}` and
//! `{"in": [{"var": "stage"}, ["loyal", "repeat"]]}`. A name that is not a stage of the model can
//! never match, so it is an error with a suggestion, as in an offer's `stages`.

use serde_json::Value as Json;

use super::error::CompileError;
use super::resolve::unknown_hint;

/// The errors for stage names in `rule` (at `path`) that `stages` does not define.
pub(crate) fn check(path: &str, rule: &Json, stages: &[String]) -> Vec<CompileError> {
    let mut out = Vec::new();
    super::walk::operators(path, rule, &mut |path, op, args| {
        let compared = matches!(op, "==" | "===" | "!=" | "!==") && args.len() == 2;
        for (i, a) in args.iter().enumerate() {
            let here = format!("{path}.{op}[{i}]");
            let other = if i == 0 { args.get(1) } else { args.first() };
            match a {
                Json::String(name) if compared && other.is_some_and(is_stage) => {
                    name_check(&here, name, stages, matches!(op, "!=" | "!=="), &mut out);
                }
                // A number or a boolean is no stage name either (marketer review of 2026-11-25:
                // `{"==": [{"var": "stage"}, 3]}` compiled).
                Json::Number(_) | Json::Bool(_) if compared && other.is_some_and(is_stage) => {
                    name_check(&here, &a.to_string(), stages, matches!(op, "!=" | "!=="), &mut out);
                }
                Json::Array(names) if op == "in" && i == 1 && args.first().is_some_and(is_stage) => {
                    for (k, n) in names.iter().enumerate() {
                        if let Json::String(name) = n {
                            name_check(&format!("{here}[{k}]"), name, stages, false, &mut out);
                        }
                    }
                }
                _ => {}
            }
        }
    });
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
