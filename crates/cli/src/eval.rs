//! `kairos eval`: evaluate a JsonLogic rule against JSON data, once or as JSON lines.

use std::io::{BufRead, Write};

use kairos::logic::{eval, parse, DynamicResolver, JsonEnv};
use serde_json::{json, Value as Json};

use crate::Fail;

/// Evaluates one rule; the result as compact JSON, or why it failed.
fn eval_one(rule: &Json, data: &Json) -> Result<Json, Json> {
    let rule = parse(rule, &DynamicResolver).map_err(|e| json!(format!("rule does not parse: {e}")))?;
    let env = JsonEnv::from_json(data);
    eval(&rule, &env).map(|v| v.to_json()).map_err(|e| e.kind.to_json())
}

/// `kairos eval RULE [DATA]`.
pub fn single(rule: &str, data: Option<&str>) -> Result<(), Fail> {
    let rule: Json = serde_json::from_str(rule).map_err(|e| Fail::usage(format!("RULE is not JSON: {e}")))?;
    let data: Json = match data {
        Some(d) => serde_json::from_str(d).map_err(|e| Fail::usage(format!("DATA is not JSON: {e}")))?,
        None => Json::Null,
    };
    match eval_one(&rule, &data) {
        Ok(v) => {
            println!("{v}");
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
    let io = |e: std::io::Error| Fail::usage(format!("stdout: {e}"));
    let mut raw = Vec::new();
    for n in 1.. {
        raw.clear();
        let read =
            input.read_until(b'\n', &mut raw).map_err(|e| Fail::usage(format!("stdin line {n}: {e}")))?;
        if read == 0 {
            break;
        }
        let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
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
    match serde_json::from_str::<Json>(line) {
        Err(e) => json!({"error": format!("line {n}: not JSON: {e}")}),
        Ok(Json::Object(o)) if o.contains_key("rule") && o.keys().all(|k| k == "rule" || k == "data") => {
            match eval_one(o.get("rule").unwrap_or(&Json::Null), o.get("data").unwrap_or(&Json::Null)) {
                Ok(v) => json!({"result": v}),
                Err(e) => json!({"error": e}),
            }
        }
        Ok(_) => json!({"error": format!("line {n}: expected an object {{\"rule\": ..., \"data\": ...}}")}),
    }
}
