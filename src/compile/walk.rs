//! Every operator object of a rule written as JSON, for the checks that look at operators and
//! their operands as the author wrote them (stage names, typed comparisons).

use serde_json::Value as Json;

/// Calls `f(path, op, args)` for each operator object (`{"op": [args…]}`) in `rule`, outermost
/// first, where `path` is the place of the object; operands that are lists are visited too.
/// Only array operands count as argument lists (`{"!": x}` is visited inside `x`).
pub(crate) fn operators(path: &str, rule: &Json, f: &mut dyn FnMut(&str, &str, &[Json])) {
    visit(path, rule, f, 0);
}

fn visit(path: &str, e: &Json, f: &mut dyn FnMut(&str, &str, &[Json]), depth: usize) {
    if depth > crate::logic::MAX_DEPTH {
        return;
    }
    match e {
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                visit(&format!("{path}[{i}]"), item, f, depth + 1);
            }
        }
        Json::Object(map) if map.len() == 1 => {
            let Some((op, args)) = map.iter().next() else { return };
            let Json::Array(args) = args else {
                visit(&format!("{path}.{op}"), args, f, depth + 1);
                return;
            };
            f(path, op, args);
            for (i, a) in args.iter().enumerate() {
                visit(&format!("{path}.{op}[{i}]"), a, f, depth + 1);
            }
        }
        _ => {}
    }
}
