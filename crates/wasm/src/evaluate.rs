//! Raw JsonLogic evaluation, for the differential tests in Node (`tests/js/differential.test.mjs`,
//! built by `make pkg-evaluate`). Behind the cargo feature `evaluate`, off by default: the browser
//! package does not ship it.
//!
//! Values cross as JSON text (`JSON.stringify` here, `JSON.parse` back): this is a test hook, so
//! simplicity wins over speed, and it needs no converter of its own.
#![cfg(feature = "evaluate")]

use js_sys::{Reflect, JSON};
use kairos::logic::{eval, parse, DynamicResolver, JsonEnv};
use serde_json::Value as Json;
use wasm_bindgen::prelude::*;

use crate::error::{self, code};

/// A rule that does not parse (unknown operator, wrong argument count, nesting too deep).
const RULE_INVALID: &str = "RULE_INVALID";
/// A rule whose evaluation failed (`throw`, `NaN`, ...): the JsonLogic error value is the
/// error's `value` property, e.g. `{type: "NaN"}`.
const RULE_ERROR: &str = "RULE_ERROR";

/// Evaluates the JsonLogic `rule` over `data` with the core's parser (names resolved at run time,
/// no host operators) and evaluator. Throws a `KairosError` with code `RULE_INVALID`,
/// `RULE_ERROR` (and `value`), or `ARGUMENT_INVALID` for values that are not JSON.
#[wasm_bindgen]
pub fn evaluate(rule: JsValue, data: JsValue) -> Result<JsValue, JsValue> {
    crate::use_javascript_numbers();
    let rule = json(&rule, "rule")?;
    let data = if data.is_undefined() { Json::Null } else { json(&data, "data")? };
    let parsed = parse(&rule, &DynamicResolver).map_err(|e| error::error(RULE_INVALID, &e.to_string()))?;
    let env = JsonEnv::from_json(&data);
    match eval(&parsed, &env) {
        Ok(value) => from_json(&value.to_json()),
        Err(e) => {
            let kind = e.kind.to_json();
            let err = error::error(RULE_ERROR, &format!("rule error: {kind}"));
            // Setting a property on a fresh Error cannot fail; ignore the Result.
            let _ = Reflect::set(&err, &JsValue::from_str("value"), &from_json(&kind)?);
            Err(err)
        }
    }
}

/// A JavaScript value as JSON, through `JSON.stringify` (which throws on cycles and big integers).
fn json(v: &JsValue, what: &str) -> Result<Json, JsValue> {
    let text = JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| error::error(code::ARGUMENT_INVALID, &format!("{what} is not JSON")))?;
    serde_json::from_str(&text)
        .map_err(|e| error::error(code::ARGUMENT_INVALID, &format!("{what} does not read as JSON: {e}")))
}

fn from_json(v: &Json) -> Result<JsValue, JsValue> {
    JSON::parse(&v.to_string()).map_err(|_| error::error(code::ARGUMENT_INVALID, "result is not JSON"))
}
