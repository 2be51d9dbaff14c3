//! `kairos eval`: evaluate a JsonLogic rule against JSON data, once or as JSON lines.

use std::io::{BufRead, Write};

use kairos::compile::{json_unique, MODEL_OPERATORS};
use kairos::logic::{eval, parse, DynamicResolver, HostCall, JsonEnv, Resolver};
use serde_json::{json, Value as Json};

use crate::Fail;

/// Plain JsonLogic, as [`DynamicResolver`] parses it, except that a model's own operators
/// (`segment`, `days_since`, ...) are named as such rather than unknown: they need a model and a
/// shopper's profile, which `eval` has not.
struct Plain;

impl Resolver for Plain {
    fn var(&self, path: &str) -> Result<Option<u32>, String> {
        DynamicResolver.var(path)
    }

    fn dynamic_vars(&self) -> bool {
        DynamicResolver.dynamic_vars()
    }

    fn host_op(&self, name: &str, _args: &[Json]) -> Result<Option<HostCall>, String> {
        if MODEL_OPERATORS.contains(&name) {
            return Err(format!(
                "`{name}` is an operator of models: it reads a shopper's profile or the model, which \
                 `kairos eval` has not (it evaluates plain JsonLogic); try the rule in a journey with \
                 `kairos simulate`, or give the value it stands for as data"
            ));
        }
        Ok(None)
    }

    fn host_op_names(&self) -> &[&str] {
        &MODEL_OPERATORS
    }
}

/// Evaluates one rule; the result as compact JSON, or why it failed.
fn eval_one(rule: &Json, data: &Json) -> Result<Json, Json> {
    let rule = parse(rule, &Plain).map_err(|e| json!(format!("rule does not parse: {e}")))?;
    let env = JsonEnv::from_json(data);
    eval(&rule, &env).map(|v| v.to_json()).map_err(|e| e.kind.to_json())
}

/// `kairos eval RULE [DATA]`.
pub fn single(rule: &str, data: Option<&str>) -> Result<(), Fail> {
    let rule = json_unique(rule).map_err(|e| Fail::usage(format!("RULE is not JSON: {e}")))?;
    let data: Json = match data {
        Some(d) => json_unique(d).map_err(|e| Fail::usage(format!("DATA is not JSON: {e}")))?,
        None => Json::Null,
    };
    match eval_one(&rule, &data) {
        Ok(v) => {
            say!("{v}");
            Ok(())
        }
        Err(Json::String(s)) => Err(Fail::usage(s)),
        Err(e) => Err(Fail { message: format!("rule error: {e}"), code: 1 }),
    }
}

/// `kairos eval --batch`: one `{"rule": ..., "data": ...}` per input line, one
/// `{"result": ...}` or `{"error": ...}` per output line. Blank lines are skipped; a line that
/// is not UTF-8 gets an error line, like any other bad line, and the batch goes on.
pub fn batch(mut input: impl BufRead, mut out: impl Write) -> Result<(), Fail> {
    let io = |e: std::io::Error| Fail::stdout(&e);
    let mut raw = Vec::new();
    for n in 1.. {
        raw.clear();
        let read =
            input.read_until(b'\n', &mut raw).map_err(|e| Fail::usage(format!("stdin line {n}: {e}")))?;
        if read == 0 {
            break;
        }
        let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
        // A byte order mark before the first line (a file saved by Windows Notepad) is no error.
        let line = if n == 1 { line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line) } else { line };
        let answer = match std::str::from_utf8(line.strip_suffix(b"\r").unwrap_or(line)) {
            Err(_) => json!({"error": format!("line {n}: not UTF-8")}),
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => answer(line, n),
        };
        writeln!(out, "{answer}").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// The answer to input line `n`.
fn answer(line: &str, n: usize) -> Json {
    match json_unique(line) {
        Err(e) => json!({"error": format!("line {n}: not JSON: {e}")}),
        Ok(Json::Object(o)) => {
            if let Some(k) = o.keys().find(|k| *k != "rule" && *k != "data") {
                return json!({"error": format!("line {n}: unknown field `{k}`; a line has `rule` and `data`")});
            }
            let Some(rule) = o.get("rule") else {
                return json!({"error": format!("line {n}: missing `rule`")});
            };
            match eval_one(rule, o.get("data").unwrap_or(&Json::Null)) {
                Ok(v) => json!({"result": v}),
                // A rule that does not parse, like every error of the batch itself, names its
                // line; what the rule threw is its value, as JsonLogic gives it.
                Err(Json::String(s)) => json!({"error": format!("line {n}: {s}")}),
                Err(e) => json!({"error": e}),
            }
        }
        Ok(_) => json!({"error": format!("line {n}: expected an object {{\"rule\": ..., \"data\": ...}}")}),
    }
}
