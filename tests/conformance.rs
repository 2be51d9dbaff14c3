//! Runs the JsonLogic conformance suites (json-logic/compat-tables, in
//! `../shared/conformance/jsonlogic`) through `parse` with a fully dynamic resolver and `eval`
//! over each case's data.
//!
//! A case with `result` passes when evaluation succeeds with an equal value (numbers compare by
//! value, so `1 == 1.0`). A case with `error` passes when parsing or evaluation fails; when the
//! error names a `type`, an evaluation error must carry that type, and a parse error counts only
//! for `Invalid Arguments` (the parser rejects malformed arguments before evaluation).
#![allow(clippy::panic, clippy::expect_used, clippy::indexing_slicing, reason = "a test fails by panicking")]

use std::path::{Path, PathBuf};

use kairos::logic::{eval, eval_bool, murmur3_x86_32, parse, DynamicResolver, JsonEnv};
use serde_json::Value as Json;

fn suites_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/jsonlogic")
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// JSON equality where numbers compare by value and objects by their keys.
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Runs one case; `Err` says why it failed.
fn run_case(case: &Json) -> Result<(), String> {
    let rule_json = &case["rule"];
    let data = case.get("data").unwrap_or(&Json::Null);
    let expected_type = case.get("error").map(|e| e.get("type").and_then(Json::as_str));
    let rule = match parse(rule_json, &DynamicResolver) {
        Ok(rule) => rule,
        Err(e) => {
            return match expected_type {
                Some(None | Some("Invalid Arguments")) => Ok(()),
                _ => Err(format!("parse error: {e}")),
            }
        }
    };
    rule.validate().map_err(|e| format!("parsed rule does not validate: {e}"))?;
    let env = JsonEnv::from_json(data);
    let truthy = eval(&rule, &env).map(|v| v.truthy()).map_err(|e| e.kind);
    if eval_bool(&rule, &env).map_err(|e| e.kind) != truthy {
        return Err(format!("eval_bool disagrees with eval: {truthy:?}"));
    }
    match (eval(&rule, &env), expected_type) {
        (Ok(got), None) => {
            let got = got.to_json();
            if same(&got, &case["result"]) {
                Ok(())
            } else {
                Err(format!("got {got}, want {}", case["result"]))
            }
        }
        (Ok(got), Some(_)) => Err(format!("got {}, want an error", got.to_json())),
        (Err(e), None) => Err(format!("error {:?}, want {}", e.kind.to_json(), case["result"])),
        (Err(_), Some(None)) => Ok(()),
        (Err(e), Some(Some(want))) if e.type_name() == Some(want) => Ok(()),
        (Err(e), Some(Some(want))) => Err(format!("error {}, want type {want}", e.kind.to_json())),
    }
}

#[test]
fn jsonlogic_conformance_suites() {
    let dir = suites_dir();
    let index = read_json(&dir.join("index.json"));
    let files: Vec<&str> =
        index.as_array().expect("index.json is an array").iter().filter_map(Json::as_str).collect();
    let (mut passed, mut total) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let suite = read_json(&dir.join(file));
        let cases = suite.as_array().expect("a suite is an array");
        let (mut file_passed, mut file_total) = (0, 0);
        for case in cases.iter().filter(|c| c.is_object()) {
            file_total += 1;
            match run_case(case) {
                Ok(()) => file_passed += 1,
                Err(why) => failures.push(format!(
                    "{file}: {} {}: {why}",
                    case["description"].as_str().unwrap_or("?"),
                    case["rule"]
                )),
            }
        }
        println!("{file}: {file_passed}/{file_total}");
        passed += file_passed;
        total += file_total;
    }
    println!("total: {passed}/{total} passed across {} suite files", files.len());
    for f in &failures {
        println!("FAILED {f}");
    }
    assert!(total > 0, "no conformance cases ran; are the suites at {}?", dir.display());
    assert!(failures.is_empty(), "{} of {total} conformance cases failed", failures.len());
}

/// The language-neutral vectors of `tests/vectors/fractional.json`: MurmurHash3 known answers
/// and whole `fractional` rules, which the JS package checks too.
#[test]
fn fractional_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/fractional.json");
    let doc = read_json(&path);
    let hashes = doc["murmur3"].as_array().expect("murmur3 vectors");
    for v in hashes {
        let key = v["key"].as_str().expect("key");
        let want = v["hash"].as_u64().expect("hash");
        assert_eq!(u64::from(murmur3_x86_32(key.as_bytes(), 0)), want, "murmur3 of {key:?}");
    }
    let cases = doc["fractional"].as_array().expect("fractional cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| run_case(case).err().map(|why| format!("{}: {why}", case["description"])))
        .collect();
    println!(
        "fractional vectors: {} hashes, {}/{} rules",
        hashes.len(),
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(hashes.len() + cases.len() > 0, "no vectors ran");
    assert!(failures.is_empty(), "fractional vectors failed:\n{}", failures.join("\n"));
}
