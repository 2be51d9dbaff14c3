//! Property tests of the rule engine: arbitrary rules and data never panic in `parse` or `eval`;
//! a rule survives a postcard round trip unchanged in behaviour; arbitrary bytes fail to decode
//! without a panic, and mutated encodings either fail to decode or decode into a rule that
//! validates and evaluates without panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]

use std::borrow::Cow;

use kairos::codec::{from_bytes, to_bytes};
use kairos::logic::{
    eval, eval_bool, parse, DynamicResolver, Env, EvalError, HostCall, JsonEnv, Resolver, Rule, Value,
};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

/// Every operator the parser knows, then a host operator of [`Slots`] and an unknown name.
fn ops() -> Vec<&'static str> {
    kairos::logic::OPERATORS.iter().copied().chain(["host", "nope"]).collect()
}

/// Keys for data objects and variable paths.
const KEYS: &[&str] = &["a", "b", "x", "a.b", "", "0", "1", "current", "accumulator", "index", "type", "é"];

fn leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-3_i64..12).prop_map(|n| json!(n)),
        prop_oneof![
            Just(0.5),
            Just(-0.0),
            Just(1e308),
            Just(-1e308),
            Just(5e-324),
            Just(9_007_199_254_740_993.0),
            any::<f64>().prop_filter("finite", |f| f.is_finite())
        ]
        .prop_map(|f| json!(f)),
        prop::sample::select(KEYS).prop_map(|k| json!(k)),
        prop_oneof![
            Just("1.2.3"),
            Just("v2.0.0-rc.1"),
            Just("Infinity"),
            Just(" 12 "),
            Just("0x1f"),
            Just(">="),
            Just("~"),
            Just("🙂é"),
            Just("a.b.c"),
        ]
        .prop_map(|s| json!(s)),
        "\\PC{0,6}".prop_map(Json::String),
    ]
}

/// Variable reads, so that rules do not all fold to constants.
fn read() -> impl Strategy<Value = Json> {
    (prop::sample::select(&["var", "val", "exists", "missing"][..]), prop::sample::select(KEYS))
        .prop_map(|(op, key)| json!({ op: key }))
}

/// JSON biased towards JsonLogic: arrays, one-key operator objects, and plain objects.
fn rule_json() -> impl Strategy<Value = Json> {
    prop_oneof![2 => leaf(), 1 => read()].prop_recursive(6, 64, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            (prop::sample::select(ops()), prop::collection::vec(inner.clone(), 0..5))
                .prop_map(|(op, args)| json!({ op: args })),
            (prop::sample::select(ops()), inner.clone()).prop_map(|(op, arg)| json!({ op: arg })),
            // Well-formed iterators over data, and two-argument operators.
            (
                prop::sample::select(&["map", "filter", "all", "some", "none", "reduce"][..]),
                read(),
                inner.clone()
            )
                .prop_map(|(op, list, body)| {
                    let args = if op == "reduce" { json!([list, body, 0]) } else { json!([list, body]) };
                    json!({ op: args })
                }),
            (
                prop::sample::select(&["==", "<", ">=", "!==", "in", "+", "cat", "and", "or", "??"][..]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| json!({ op: [a, b] })),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..3)
                .prop_map(|kv| Json::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn data_json() -> impl Strategy<Value = Json> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4)
                .prop_map(|kv| Json::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// A resolver with static slots for some names, host operator `host`, and no computed paths.
struct Static;

impl Resolver for Static {
    fn var(&self, path: &str) -> Result<Option<u32>, String> {
        match path {
            "a" => Ok(Some(0)),
            "x" => Ok(Some(1)),
            "b" => Ok(None),
            _ => Err(format!("unknown variable `{path}`")),
        }
    }
    fn dynamic_vars(&self) -> bool {
        false
    }
    fn host_op(&self, name: &str, args: &[Json]) -> Result<Option<HostCall>, String> {
        Ok((name == "host").then(|| HostCall {
            op: 9,
            imm: args.len() as u32,
            args: (0..args.len() as u8).collect(),
        }))
    }
}

/// Slots from a list (any index), lookups in JSON data, a host operator that echoes.
struct Slots {
    slots: Vec<Value>,
    data: JsonEnv,
}

impl Env for Slots {
    fn slot(&self, slot: u32) -> Cow<'_, Value> {
        match self.slots.len() {
            0 => Cow::Owned(Value::Null),
            n => Cow::Borrowed(&self.slots[slot as usize % n]),
        }
    }
    fn lookup(&self, path: &[Cow<'_, str>]) -> Option<Cow<'_, Value>> {
        self.data.lookup(path)
    }
    fn call(&self, op: u16, _imm: u32, args: &[Cow<'_, Value>]) -> Result<Value, EvalError> {
        match args.first() {
            Some(v) if op % 2 == 1 => Ok(v.clone().into_owned()),
            _ => Err(EvalError::new("host")),
        }
    }
}

fn slots_env(data: &Json) -> Slots {
    let slots = match Value::from_json(data) {
        Value::Array(items) => items,
        other => vec![other],
    };
    Slots { slots, data: JsonEnv::from_json(data) }
}

/// Evaluates both ways and checks `eval_bool` agrees with `eval`.
fn run<E: Env>(rule: &Rule, env: &E) -> Result<Value, Value> {
    let value = eval(rule, env).map(Cow::into_owned).map_err(|e| e.kind);
    let truthy = eval_bool(rule, env).map_err(|e| e.kind);
    assert_eq!(truthy, value.as_ref().map(Value::truthy).map_err(Clone::clone), "eval_bool vs eval");
    value
}

/// Same outcome, where NaN equals NaN (postcard keeps the bits).
fn same(a: &Result<Value, Value>, b: &Result<Value, Value>) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// One to three bytes of an encoding replaced, mostly by small values (tags, lengths and indices
/// are small varints: a random byte seldom leaves one that decodes).
fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), prop_oneof![3 => 0u8..8, 1 => any::<u8>()]), 1..4)
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    for &(at, byte) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
    }
    bytes
}

proptest! {
    // 512 cases by default; `PROPTEST_CASES=20000` for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_rules_never_panic(rule in rule_json(), data in data_json()) {
        if let Ok(r) = parse(&rule, &DynamicResolver) {
            prop_assert_eq!(r.validate(), Ok(()));
            let _ = run(&r, &JsonEnv::from_json(&data));
        }
        if let Ok(r) = parse(&rule, &Static) {
            prop_assert_eq!(r.validate(), Ok(()));
            let _ = run(&r, &slots_env(&data));
        }
    }

    #[test]
    fn postcard_round_trip_evaluates_identically(rule in rule_json(), data in data_json()) {
        for resolver in [&DynamicResolver as &dyn Resolver, &Static] {
            let Ok(r) = parse(&rule, resolver) else { continue };
            let bytes = to_bytes(&r);
            let back: Rule = from_bytes(&bytes).expect("decode what we encoded");
            let env = slots_env(&data);
            prop_assert!(same(&run(&r, &env), &run(&back, &env)), "{}", rule);
        }
    }

    /// Random bytes almost never form a rule (every byte must be used, and every index fit): this
    /// holds the decoder to failing without a panic; `mutated_encodings_fail_or_evaluate` reaches
    /// the validation and the evaluation of what decodes.
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..200), data in data_json()) {
        if let Ok(r) = from_bytes::<Rule>(&bytes) {
            prop_assert_eq!(r.validate(), Ok(()));
            let _ = run(&r, &slots_env(&data));
        }
    }

    #[test]
    fn mutated_encodings_fail_or_evaluate(
        rule in rule_json(),
        edits in edits(),
        data in data_json(),
    ) {
        let Ok(r) = parse(&rule, &Static).or_else(|_| parse(&rule, &DynamicResolver)) else { return Ok(()) };
        let bytes = mutate(to_bytes(&r), &edits);
        if let Ok(back) = from_bytes::<Rule>(&bytes) {
            prop_assert_eq!(back.validate(), Ok(()));
            let _ = run(&back, &slots_env(&data));
        }
    }
}

/// The mutated encodings reach the evaluator often enough to test it (test audit: with random
/// bytes, 3 % of cases decoded; random bytes alone never do).
#[test]
fn mutated_encodings_often_decode() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut parsed, mut decoded) = (0, 0);
    while parsed < 1000 {
        let rule = rule_json().new_tree(&mut runner).unwrap().current();
        let Ok(r) = parse(&rule, &Static).or_else(|_| parse(&rule, &DynamicResolver)) else { continue };
        parsed += 1;
        let edits = edits().new_tree(&mut runner).unwrap().current();
        decoded += usize::from(from_bytes::<Rule>(&mutate(to_bytes(&r), &edits)).is_ok());
    }
    assert!(decoded >= 100, "{decoded} of {parsed} mutated encodings decode");
}
