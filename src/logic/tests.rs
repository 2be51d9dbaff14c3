//! Table-driven tests of parsing (places, messages, resolution), evaluation edge cases and the
//! invariants of the compiled form. The JsonLogic semantics themselves are pinned by
//! `tests/conformance.rs`.

use std::borrow::Cow;
use std::cell::RefCell;

use serde_json::{json, Value as Json};

use super::rule::{Node, Op};
use super::*;
use crate::codec::{from_bytes, to_bytes};

/// A resolver with static slots for a few names, host operators `segment` and `score`.
struct Static {
    dynamic: bool,
}

const NAMES: [&str; 5] = ["features.views_7d", "traits.tier", "targetingKey", "xs", "x"];

impl Resolver for Static {
    fn var(&self, path: &str) -> Result<Option<u32>, String> {
        match NAMES.iter().position(|n| *n == path) {
            Some(i) => Ok(Some(i as u32)),
            None => Err(format!("unknown variable `{path}`")),
        }
    }
    fn dynamic_vars(&self) -> bool {
        self.dynamic
    }
    fn host_op(&self, name: &str, args: &[Json]) -> Result<Option<HostCall>, String> {
        match (name, args) {
            ("segment", [Json::String(s)]) if s == "vip" => {
                Ok(Some(HostCall { op: 1, imm: 7, args: vec![] }))
            }
            ("segment", _) => Err("`segment` takes one known segment name, like `\"vip\"`".into()),
            ("score", [_, _]) => Ok(Some(HostCall { op: 2, imm: 0, args: vec![1, 0] })),
            ("bad", _) => Ok(Some(HostCall { op: 3, imm: 0, args: vec![5] })),
            _ => Ok(None),
        }
    }
    fn host_op_names(&self) -> &[&str] {
        &["segment", "score"]
    }
}

/// Slots by index; no dynamic data; host calls are recorded.
struct Slots {
    values: Vec<Value>,
    calls: RefCell<Vec<(u16, u32, Vec<Value>)>>,
}

impl Slots {
    fn new(values: Vec<Value>) -> Slots {
        Slots { values, calls: RefCell::new(Vec::new()) }
    }
}

impl Env for Slots {
    fn slot(&self, slot: u32) -> Cow<'_, Value> {
        Cow::Borrowed(self.values.get(slot as usize).unwrap_or(&Value::Null))
    }
    fn lookup(&self, _path: &[Cow<'_, str>]) -> Option<Cow<'_, Value>> {
        None
    }
    fn call(&self, op: u16, imm: u32, args: &[Cow<'_, Value>]) -> Result<Value, EvalError> {
        self.calls.borrow_mut().push((op, imm, args.iter().map(|a| a.clone().into_owned()).collect()));
        Ok(Value::Bool(true))
    }
}

fn dyn_eval(rule: Json, data: Json) -> Result<Json, EvalError> {
    let rule = parse(&rule, &DynamicResolver).unwrap_or_else(|e| panic!("parse: {e}"));
    eval(&rule, &JsonEnv::from_json(&data)).map(|v| v.to_json())
}

fn parse_err(rule: Json) -> ParseError {
    match parse(&rule, &Static { dynamic: false }) {
        Ok(r) => panic!("parsed {rule}: {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn parse_errors_name_the_place_and_what_is_valid() {
    let cases = [
        (json!({"and": [true, {">": [1]}]}), "and[1].>", "`>` takes at least 2 arguments, found 1"),
        (json!({"segmnet": "vip"}), "segmnet", "unknown operator `segmnet`; did you mean `segment`?"),
        (json!({"or": [{"mpa": [[1], 1]}]}), "or[0].mpa", "unknown operator `mpa`; did you mean `map`?"),
        (
            json!({"and": [{"segment": "nope"}]}),
            "and[0].segment",
            "`segment` takes one known segment name, like `\"vip\"`",
        ),
        (json!({"==": [{"var": "traits.tierr"}, 1]}), "==[0].var", "unknown variable `traits.tierr`"),
        (json!({"in": [1, 2, 3]}), "in", "`in` takes 2 arguments, found 3"),
        (json!({"substr": ["a"]}), "substr", "`substr` takes 2 or 3 arguments, found 1"),
        (json!({"!": [1, 2]}), "!", "`!` takes 0 or 1 arguments, found 2"),
        (
            json!({"and": true}),
            "and",
            "`and` takes an array of arguments, like `{\"and\": [a, b]}`; found `true`",
        ),
        (
            json!({"a": 1, "b": 2}),
            "",
            "a rule object has exactly one key, the operator; found 2 keys: `a`, `b`",
        ),
        (json!({"sem_ver": [{"var": "x"}, "=>", "1.0.0"]}), "sem_ver[1]", "unknown `sem_ver` operator `=>`"),
        (json!({"sem_ver": [{"var": "x"}, ">", "1.x"]}), "sem_ver[2]", "`1.x` is not a semantic version"),
        (
            json!({"fractional": [{"var": "x"}, ["a", -1]]}),
            "fractional[1]",
            "a `fractional` weight is a whole number",
        ),
        (json!({"fractional": [{"var": "x"}]}), "fractional", "`fractional` needs at least one bucket"),
        (json!({"map": [null, 1]}), "map[0]", "the first argument of `map` is the array to go through"),
        (json!({"bad": [1]}), "bad", "host operator `bad` wants argument 5, but 1 was given"),
        (json!({"var": {"cat": ["a", {"var": "x"}]}}), "var", "variable names must be constant here"),
        (json!({"missing": [{"var": "x"}]}), "missing", "the names given to `missing` must be constant here"),
        (
            json!({"nothing_like_it": 1}),
            "nothing_like_it",
            "unknown operator `nothing_like_it`; expected a JsonLogic operator",
        ),
    ];
    for (rule, path, message) in cases {
        let e = parse_err(rule.clone());
        assert_eq!(e.path, path, "{rule}: {e}");
        assert!(e.message.starts_with(message), "{rule}: got {:?}, want {message:?}", e.message);
        let first = e.message.chars().next().unwrap_or('a');
        assert!(!first.is_uppercase(), "messages are lowercase: {}", e.message);
    }
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_crash() {
    // Built values skip serde_json's own limit of 128 (300 levels: dropping much deeper JSON
    // would overflow the test's own stack).
    let mut deep = json!(true);
    let mut literal = json!(1);
    for _ in 0..300 {
        deep = json!({"!": [deep]});
        literal = json!([literal]);
    }
    for rule in [deep, literal, json!({"preserve": literal_of(200)})] {
        let e = parse(&rule, &DynamicResolver).err().unwrap_or_else(|| panic!("parsed a deep rule"));
        assert!(e.message.contains("deeper than 64"), "{e}");
    }
    // 64 levels are fine, 65 are not.
    let chain = |levels: usize| (1..levels).fold(json!({"var": "x"}), |v, _| json!({"!": [v]}));
    let rule = parse(&chain(MAX_DEPTH), &DynamicResolver).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rule.validate(), Ok(()));
    assert!(parse(&chain(MAX_DEPTH + 1), &DynamicResolver).is_err());
}

fn literal_of(depth: usize) -> Json {
    (0..depth).fold(json!(0), |v, _| json!([v]))
}

#[test]
fn root_variables_resolve_to_slots_and_scoped_ones_do_not() {
    let res = Static { dynamic: false };
    let rule = parse(
        &json!({"and": [{">=": [{"var": "features.views_7d"}, 3]}, {"==": [{"var": "traits.tier"}, "gold"]}]}),
        &res,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(rule.nodes.iter().any(|n| matches!(n, Node::Slot(0))));
    assert!(rule.paths.is_empty(), "no run-time lookups: {rule:?}");
    let env = Slots::new(vec![Value::Number(5.0), Value::String("gold".into())]);
    assert_eq!(eval_bool(&rule, &env), Ok(true));
    assert_eq!(*eval(&rule, &env).unwrap_or_else(|e| panic!("{e}")), Value::Bool(true));

    // Inside `map` the names are the item's, never the resolver's; `[[2], "x"]` jumps to root.
    let rule = parse(&json!({"map": [{"var": "xs"}, {"+": [{"var": "qty"}, {"val": [[2], "x"]}]}]}), &res)
        .unwrap_or_else(|e| panic!("{e}"));
    let xs = Value::Array(vec![json_value(json!({"qty": 1})), json_value(json!({"qty": 2}))]);
    let env = Slots::new(vec![Value::Null, Value::Null, Value::Null, xs, Value::Number(10.0)]);
    assert_eq!(eval(&rule, &env).map(|v| v.to_json()), Ok(json!([11, 12])));
}

#[test]
fn comparisons_of_two_numbers_answer_as_test_pair() {
    // The evaluator compares two numbers in place; `test_pair` is the general comparison.
    let ops = ["==", "!=", "===", "!==", "<", "<=", ">", ">="];
    let numbers = [f64::NAN, f64::NEG_INFINITY, -1.5, -0.0, 0.0, 1.0, 1.5, f64::INFINITY];
    for name in ops {
        let rule = parse(&json!({ name: [{"var": "x"}, {"var": "xs"}] }), &Static { dynamic: false })
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(&Node::Op { op, .. }) = rule.nodes.last() else { panic!("{rule:?}") };
        for a in numbers {
            for b in numbers {
                let (a, b) = (Value::Number(a), Value::Number(b));
                let env = Slots::new(vec![Value::Null, Value::Null, Value::Null, b.clone(), a.clone()]);
                let want = super::eval::test_pair(op, &a, &b).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(eval_bool(&rule, &env), Ok(want), "{a:?} {name} {b:?}");
            }
        }
    }
}

fn json_value(j: Json) -> Value {
    Value::from_json(&j)
}

#[test]
fn computed_names_that_fold_become_constant() {
    let rule = parse(&json!({"var": {"cat": ["traits", ".tier"]}}), &Static { dynamic: false })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rule.nodes, vec![Node::Slot(1)]);
}

#[test]
fn missing_reads_slots_and_counts_null_as_missing() {
    let res = Static { dynamic: false };
    let rule = parse(&json!({"missing": ["traits.tier", "x"]}), &res).unwrap_or_else(|e| panic!("{e}"));
    let env = Slots::new(vec![Value::Null, Value::Null, Value::Null, Value::Null, Value::Number(0.0)]);
    assert_eq!(eval(&rule, &env).map(|v| v.to_json()), Ok(json!(["traits.tier"])));
    let rule =
        parse(&json!({"missing_some": [1, ["traits.tier", "x"]]}), &res).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eval(&rule, &env).map(|v| v.to_json()), Ok(json!([])));
}

#[test]
fn host_operators_get_their_runtime_arguments_in_order() {
    let res = Static { dynamic: false };
    let rule = parse(&json!({"and": [{"segment": "vip"}, {"score": [{"var": "x"}, {"+": [1, 2]}]}]}), &res)
        .unwrap_or_else(|e| panic!("{e}"));
    let env = Slots::new(vec![Value::Null, Value::Null, Value::Null, Value::Null, Value::Number(4.0)]);
    assert_eq!(eval_bool(&rule, &env), Ok(true));
    let calls = env.calls.borrow();
    assert_eq!(
        *calls,
        vec![(1, 7, vec![]), (2, 0, vec![Value::Number(3.0), Value::Number(4.0)])],
        "args are the raw args at the listed positions, evaluated"
    );
}

#[test]
fn fractional_defaults_to_the_targeting_key_through_the_resolver() {
    let res = Static { dynamic: false };
    let rule = parse(&json!({"map": [{"var": "xs"}, {"fractional": [["a", 1], ["b", 1]]}]}), &res)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(rule.nodes.iter().any(|n| matches!(n, Node::Slot(2))), "{rule:?}");
    let env = Slots::new(vec![
        Value::Null,
        Value::Null,
        Value::String("user-1".into()),
        Value::Array(vec![Value::Null, Value::Null]),
    ]);
    let got = eval(&rule, &env).map(|v| v.to_json()).unwrap_or_else(|e| panic!("{e}"));
    let want = if fractional::bucket_of("user-1") < 50.0 { "a" } else { "b" };
    assert_eq!(got, json!([want, want]));
}

#[test]
fn constant_subtrees_fold() {
    let folded = [
        (json!({"+": [1, 2]}), json!(3)),
        (json!({"if": [{">": [2, 1]}, "yes", "no"]}), json!("yes")),
        (json!({"map": [[1, 2], {"*": [2, 3]}]}), json!([6, 6])),
        (json!({"try": [{"throw": "e"}, 5]}), json!(5)),
        (json!({"fractional": ["user-1", ["a", 1]]}), json!("a")),
        (json!({"cat": {"preserve": ["a", "b"]}}), json!("ab")),
    ];
    for (rule, want) in folded {
        let r = parse(&rule, &DynamicResolver).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.as_const().map(Value::to_json), Some(want), "{rule}");
        assert_eq!(r.node_count(), 1);
    }
    for rule in
        [json!({"/": [1, 0]}), json!({"throw": "x"}), json!({"var": "x"}), json!({"map": [[1], {"var": ""}]})]
    {
        let r = parse(&rule, &DynamicResolver).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.as_const().is_none(), "{rule} must not fold");
    }
}

// Needs Rust's own number text (`std-float`); without it the host's conversions are checked
// in Wasm builds without `std-float` (wasm-bindgen tests, tests/js/differential.test.mjs, both
// built with the core's `std` for its parser; the package's own JS tests run the no_std build).
#[cfg(feature = "std-float")]
#[test]
fn awkward_numbers_and_strings() {
    let cases = [
        (json!({"*": [1e308, 10]}), json!(null)), // infinity has no JSON form
        (json!({"substr": ["héllo wörld", 1, 4]}), json!("éllo")),
        (json!({"substr": ["héllo", -2]}), json!("lo")),
        (json!({"substr": ["abc", 1e300, -1e300]}), json!("")),
        (json!({"substr": ["abc", -1e300, 1e300]}), json!("abc")),
        (json!({"substr": ["🙂🙃", 1, 1]}), json!("🙃")),
        (json!({"cat": [0.1, 1e21, -0.0, 1e-7, [1, [2, null]]]}), json!("0.11e+2101e-71,2,")),
        (json!({"+": [" 12 ", "0x10", "1e2"]}), json!(128)),
        (json!({"%": [-7, 3]}), json!(-1)),
        (json!({"in": ["ö", "föo"]}), json!(true)),
        (json!({"in": ["", "abc"]}), json!(true)),
        (json!({"in": ["abcd", "abc"]}), json!(false)),
        (json!({"in": ["bcb", "abcbcbd"]}), json!(true)),
        (json!({"in": ["🙃", "🙂🙃"]}), json!(true)),
        (json!({"==": [null, "abc"]}), json!(false)),
        (json!({"max": []}), json!(null)),
    ];
    for (rule, want) in cases {
        assert_eq!(dyn_eval(rule.clone(), json!(null)).map_err(|e| e.kind), Ok(want), "{rule}");
    }
    let errors = [
        json!({"/": [1, {"var": "zero"}]}),
        json!({"%": [1, 0]}),
        json!({"substr": ["abc", "x"]}),
        json!({"+": ["Infinity", "-Infinity"]}),
        json!({"-": [{"var": "big"}, "x"]}),
    ];
    for rule in errors {
        let got = dyn_eval(rule.clone(), json!({"zero": 0, "big": 1e308}));
        assert_eq!(got.map_err(|e| e.type_name().map(str::to_owned)), Err(Some("NaN".into())), "{rule}");
    }
}

#[test]
fn reduce_cannot_grow_without_bound() {
    let numbers: Vec<u32> = (0..64).collect();
    for body in [
        json!({"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}),
        json!([{"var": "accumulator"}, {"var": "accumulator"}]),
        json!({"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}),
    ] {
        let rule = json!({"reduce": [{"var": "n"}, body, ["ab"]]});
        let got = dyn_eval(rule, json!({"n": numbers}));
        assert_eq!(got.map_err(|e| e.type_name().map(str::to_owned)), Err(Some("Too Large".into())));
    }
}

#[test]
fn the_missing_value_trap_and_its_safe_forms() {
    let trap = json!({"<": [{"var": "x"}, 7]});
    assert_eq!(dyn_eval(trap, json!({})).map_err(|e| e.kind), Ok(json!(true)));
    let safe = json!({"and": [{"!==": [{"var": "x"}, null]}, {"<": [{"var": "x"}, 7]}]});
    assert_eq!(dyn_eval(safe.clone(), json!({})).map_err(|e| e.kind), Ok(json!(false)));
    assert_eq!(dyn_eval(safe, json!({"x": 0})).map_err(|e| e.kind), Ok(json!(true)));
    // `!=` against null is not safe: null == 0 in JsonLogic.
    let loose = json!({"!=": [{"var": "x"}, null]});
    assert_eq!(dyn_eval(loose, json!({"x": 0})).map_err(|e| e.kind), Ok(json!(false)));
}

#[test]
fn domain_operators() {
    let cases = [
        (json!({"starts_with": [{"var": "email"}, "ann@"]}), json!(true)),
        (json!({"ends_with": [{"var": "email"}, "@example.com"]}), json!(true)),
        (json!({"ends_with": [{"var": "missing"}, "x"]}), json!(false)),
        (json!({"sem_ver": [{"var": "app"}, ">=", "1.2"]}), json!(true)),
        (json!({"sem_ver": [{"var": "app"}, "~", "v1.2.0"]}), json!(true)),
        (json!({"sem_ver": [{"var": "app"}, "^", "2.0.0"]}), json!(false)),
        (json!({"sem_ver": [{"var": "email"}, "=", "1.0.0"]}), json!(false)),
    ];
    let data = json!({"email": "ann@example.com", "app": "v1.2.3-beta.1"});
    for (rule, want) in cases {
        assert_eq!(dyn_eval(rule.clone(), data.clone()).map_err(|e| e.kind), Ok(want), "{rule}");
    }
}

fn rule_with(nodes: Vec<Node>, kids: Vec<u32>) -> Rule {
    Rule { nodes, kids, consts: vec![Value::Bool(true)], paths: Vec::new() }
}

#[test]
fn validate_rejects_broken_arenas() {
    let and = |start, len| Node::Op { op: Op::And, spread: false, start, len };
    let missing = |names, len| Node::Missing { some: false, names, start: 0, len };
    let broken = [
        (rule_with(vec![], vec![]), "rule has no nodes"),
        (rule_with(vec![and(0, 1)], vec![0]), "node 0 refers to a node that is not before it"),
        (
            rule_with(vec![Node::Const(0), and(0, 1)], vec![5]),
            "node 1 refers to a node that is not before it",
        ),
        (rule_with(vec![Node::Const(0), and(0, 2)], vec![0]), "node 1 has kids out of range"),
        (rule_with(vec![Node::Const(0), and(0, 2)], vec![0, 0]), "node 0 has more than one parent"),
        (rule_with(vec![Node::Const(0), and(u32::MAX, 2)], vec![0]), "node 1 has kids out of range"),
        (rule_with(vec![Node::Const(3)], vec![]), "node 0 refers to a constant out of range"),
        (rule_with(vec![Node::Lookup(0)], vec![]), "node 0 refers to a path out of range"),
        (rule_with(vec![missing(0, 0)], vec![]), "node 0 has `missing` names that are not an array constant"),
        (rule_with(vec![missing(7, 0)], vec![]), "node 0 has `missing` names that are not an array constant"),
    ];
    for (rule, message) in broken {
        assert_eq!(rule.validate().err().as_deref(), Some(message), "{rule:?}");
    }
    let mut names = rule_with(vec![missing(0, 1)], vec![]);
    names.consts = vec![Value::Array(vec![])];
    assert_eq!(names.validate().err().as_deref(), Some("node 0 does not have one `missing` kid per name"));
    // A chain deeper than MAX_DEPTH.
    let mut nodes = vec![Node::Const(0)];
    let mut kids = Vec::new();
    for i in 0..MAX_DEPTH as u32 {
        kids.push(i);
        nodes.push(and(i, 1));
    }
    let deep = rule_with(nodes, kids);
    assert_eq!(deep.validate().err().as_deref(), Some("node 64 is nested deeper than 64 levels"));
}

#[test]
fn rules_round_trip_through_their_encoding() {
    let rules = [
        json!({"and": [{">=": [{"var": "features.views_7d"}, 3]}, {"==": [{"var": "traits.tier"}, "gold"]}]}),
        json!({"map": [{"var": "xs"}, {"cat": [{"var": "a.b"}, [1, {"preserve": {"x": [null, true, 2.5]}}]]}]}),
        json!({"missing_some": [1, ["a", "b.c"]]}),
        json!({"preserve": {"deep": [[[[{"k": "v"}]]]]}}),
    ];
    for json in rules {
        let rule = parse(&json, &DynamicResolver).unwrap_or_else(|e| panic!("{e}"));
        let bytes = to_bytes(&rule);
        let back: Rule = from_bytes(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, rule);
    }
}

#[test]
fn a_tampered_encoding_fails_to_decode() {
    let rule = parse(&json!({"and": [{"var": "a"}, {"var": "b"}]}), &DynamicResolver)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut shared = rule.clone();
    shared.kids = vec![0, 0];
    let err = from_bytes::<Rule>(&to_bytes(&shared)).err().map(|e| e.to_string());
    assert_eq!(err.as_deref(), Some("byte 0: invalid rule: node 0 has more than one parent"));
}
