//! Bodies of the fuzz targets. Plain Rust over `kairos` and `serde_json` only, so that
//! `tests/fuzz_crashers.rs` includes this same file (`#[path]`) and replays committed crashers
//! through exactly the code the fuzzer ran. A target fails by panicking: a panic inside the core,
//! or a broken invariant checked here (`assert!`).
//!
//! Inputs are byte-driven: a small reader ([`Bytes`]) turns the fuzzer's bytes into choices, so
//! the same generator reaches deep into rules, models and engine sessions without `arbitrary`.

use kairos::codec::{sha256, HEADER_LEN};
use kairos::logic::{eval, eval_bool, parse, DynamicResolver, JsonEnv};
use kairos::profile::identity::IdKind;
use kairos::{snapshot, Engine, Model, Value};
use serde_json::{json, Map, Value as Json};

/// 2026-11-20T12:00:00+08:00, the base time of generated sessions.
pub const T0: i64 = 1_795_147_200_000;
const DAY: i64 = 86_400_000;

/// The example model's source, the starting point of structured inputs.
pub const EXAMPLE_MODEL: &str = include_str!("../../examples/taste-of-su/model.json");

/// Reads choices from the fuzzer's bytes; reads past the end give zeros, so every input is valid.
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        let v = usize::from(self.byte()) << 8 | usize::from(self.byte());
        v % n.max(1)
    }

    /// One of `items`.
    pub fn pick<'s, T>(&mut self, items: &'s [T]) -> Option<&'s T> {
        let i = self.below(items.len());
        items.get(i)
    }

    /// Eight bytes as an `i64`.
    pub fn i64(&mut self) -> i64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        i64::from_le_bytes(b)
    }

    /// The rest of the bytes.
    pub fn rest(&mut self) -> &'a [u8] {
        let r = self.data.get(self.pos..).unwrap_or(&[]);
        self.pos = self.data.len();
        r
    }
}

const NUMBERS: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    2.0,
    3.0,
    7.0,
    0.5,
    -2.5,
    100.0,
    1e300,
    -1e300,
    f64::MAX,
    f64::MIN_POSITIVE,
    5e-324,
    9_007_199_254_740_993.0,
    4_294_967_296.0,
    1_795_147_200_000.0,
];

const STRINGS: &[&str] = &[
    "",
    "0",
    "1",
    "a",
    "abc",
    " 7 ",
    "1e2",
    "-0",
    "NaN",
    "Infinity",
    "true",
    "null",
    "x",
    "x.y",
    "a.b",
    "qipao",
    "current",
    "accumulator",
    "index",
    "type",
    "1.0.0",
    "v2.4",
    "1.2.3-rc.1",
    ">=",
    "^",
    "~",
    "=",
    "😀é",
    "2026-01-01",
    "0x10",
    "  ",
    ".",
    "..",
    "gold",
    "home",
];

/// Names a rule inside the example model can use: host operators and their arguments, and
/// variables of the model's namespaces.
const HOST_OPS: &[&str] =
    &["segment", "score", "hours_since", "days_since", "days_to_anniversary", "in_calendar"];
const MODEL_NAMES: &[&str] = &[
    "new_follower",
    "hipo",
    "member",
    "propensity",
    "engagement",
    "view",
    "purchase",
    "follow",
    "birthday",
    "traits.birthday",
    "festivals",
    "qipao_fan",
];
const MODEL_VARS: &[&str] = &[
    "features.views_7d",
    "features.products_viewed_30d",
    "features.spend_365d",
    "features.first_purchase",
    "traits.tier",
    "traits.hipo",
    "traits.crm_segments",
    "traits.birthday",
    "context.page",
    "context.product",
    "scores.propensity",
    "segments.hipo",
    "stage",
    "now",
];

/// Which vocabulary a generated rule uses.
#[derive(Clone, Copy)]
pub enum Vocab {
    /// Core JsonLogic over free data.
    Core,
    /// Core JsonLogic plus the example model's host operators and variables.
    Model,
}

/// A scalar JSON value.
pub fn gen_scalar(r: &mut Bytes) -> Json {
    match r.byte() % 6 {
        0 => Json::Null,
        1 => Json::Bool(r.byte() & 1 == 1),
        2 => json!(i64::from(r.byte() as i8)),
        3 => r.pick(NUMBERS).and_then(|n| serde_json::Number::from_f64(*n)).map_or(Json::Null, Json::Number),
        4 => Json::String((*r.pick(STRINGS).unwrap_or(&"")).to_string()),
        _ => {
            let n = r.below(12);
            let s: String = (0..n).map(|_| char::from(b'a' + r.byte() % 26)).collect();
            Json::String(s)
        }
    }
}

/// A data document: scalars, arrays and objects keyed by short names.
pub fn gen_data(r: &mut Bytes, depth: usize) -> Json {
    if depth >= 4 || r.done() {
        return gen_scalar(r);
    }
    match r.byte() % 5 {
        0 => Json::Array((0..r.below(4)).map(|_| gen_data(r, depth + 1)).collect()),
        1 | 2 => {
            let mut m = Map::new();
            for _ in 0..r.below(4) {
                let k = (*r.pick(&["a", "b", "x", "y", "", "1", "type"]).unwrap_or(&"a")).to_string();
                m.insert(k, gen_data(r, depth + 1));
            }
            Json::Object(m)
        }
        _ => gen_scalar(r),
    }
}

/// A JsonLogic rule (or a part of one).
pub fn gen_rule(r: &mut Bytes, depth: usize, vocab: Vocab) -> Json {
    if depth >= 6 || r.done() {
        return gen_scalar(r);
    }
    match r.byte() % 10 {
        0 | 1 => gen_scalar(r),
        2 => Json::Array((0..r.below(3)).map(|_| gen_rule(r, depth + 1, vocab)).collect()),
        3 => {
            let path = match vocab {
                Vocab::Model => (*r.pick(MODEL_VARS).unwrap_or(&"stage")).to_string(),
                Vocab::Core => {
                    (*r.pick(&["a", "b", "x", "a.b", "x.y", "", "1", "a.1", "type"]).unwrap_or(&"a"))
                        .to_string()
                }
            };
            let op = *r.pick(&["var", "val", "exists", "missing"]).unwrap_or(&"var");
            if r.byte() & 1 == 0 {
                json!({ op: path })
            } else {
                json!({ op: [path, gen_scalar(r)] })
            }
        }
        4 if matches!(vocab, Vocab::Model) => {
            let op = *r.pick(HOST_OPS).unwrap_or(&"segment");
            let mut args = vec![Json::String((*r.pick(MODEL_NAMES).unwrap_or(&"hipo")).to_string())];
            for _ in 0..r.below(2) {
                args.push(gen_rule(r, depth + 1, vocab));
            }
            json!({ op: args })
        }
        _ => {
            let op = *r.pick(kairos::logic::OPERATORS).unwrap_or(&"==");
            let args: Vec<Json> = (0..r.below(4)).map(|_| gen_rule(r, depth + 1, vocab)).collect();
            if args.len() == 1 && r.byte() & 1 == 0 {
                json!({ op: args.into_iter().next() })
            } else {
                json!({ op: args })
            }
        }
    }
}

/// Rule evaluation on arbitrary data: parse with the dynamic resolver; a parsed rule validates,
/// survives an encoding round trip, and `eval_bool` agrees with the truthiness of `eval`.
/// Input: first byte even = generated rule and data; odd = `rule JSON \0 data JSON` as text.
pub fn rule_eval(data: &[u8]) {
    let mut r = Bytes::new(data);
    let (rule_json, data_json) = if r.byte() & 1 == 0 {
        (gen_rule(&mut r, 0, Vocab::Core), gen_data(&mut r, 0))
    } else {
        let rest = r.rest();
        let mut parts = rest.splitn(2, |b| *b == 0);
        let rule = parts.next().and_then(|b| serde_json::from_slice(b).ok());
        let data = parts.next().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Json::Null);
        match rule {
            Some(rule) => (rule, data),
            None => return,
        }
    };
    check_rule(&rule_json, &data_json);
}

/// The invariants of [`rule_eval`] for one rule and one document.
pub fn check_rule(rule_json: &Json, data_json: &Json) {
    let Ok(rule) = parse(rule_json, &DynamicResolver) else { return };
    assert!(rule.validate().is_ok(), "parsed rule does not validate: {rule_json}");
    let bytes = kairos::codec::to_bytes(&rule);
    let back = kairos::codec::from_bytes::<kairos::logic::Rule>(&bytes);
    assert!(back.as_ref().ok() == Some(&rule), "encoding round trip changed {rule_json}");
    let env = JsonEnv::from_json(data_json);
    let full = eval(&rule, &env).map(|v| v.truthy()).map_err(|e| e.kind);
    let fast = eval_bool(&rule, &env).map_err(|e| e.kind);
    assert!(full == fast, "eval_bool {fast:?} != eval {full:?} for {rule_json} on {data_json}");
    if let Ok(v) = eval(&rule, &env) {
        let _ = v.to_json();
    }
}

/// A rule with host operators, compiled into the example model as a segment, a stage and an
/// offer's audience, then evaluated by the engine through a generated session.
pub fn model_rule(data: &[u8]) {
    let mut r = Bytes::new(data);
    let rule = gen_rule(&mut r, 0, Vocab::Model);
    let Ok(mut model) = serde_json::from_str::<Json>(EXAMPLE_MODEL) else { return };
    if let Some(segs) = model.get_mut("segments").and_then(Json::as_object_mut) {
        segs.insert("fuzzed".into(), rule.clone());
    }
    if let Some(stages) = model.get_mut("lifecycle").and_then(Json::as_array_mut) {
        stages.insert(0, json!({"stage": "fuzzed", "when": rule.clone()}));
    }
    if let Some(offer) = model.get_mut("offers").and_then(|o| o.get_mut(0)) {
        offer["audience"] = json!({"or": [{"segment": "fuzzed"}, rule]});
    }
    let Ok(compiled) = kairos::compile_str(&model.to_string()) else { return };
    let mut engine = Engine::new(compiled.model, 7);
    drive(&mut engine, &mut r, 24);
}

/// Snapshot decoding. First byte: 0 = the rest is a whole snapshot; 1 = the rest is a body, framed
/// and checksummed here so mutations reach the decoder; else = the example snapshot with byte
/// edits from the input, resealed. A snapshot that decodes must re-encode to itself and run.
pub fn snapshot_decode(data: &[u8]) {
    let mut r = Bytes::new(data);
    let bytes = match r.byte() % 3 {
        0 => r.rest().to_vec(),
        1 => {
            let version = u32::from(r.byte());
            frame(snapshot::SNAPSHOT_MAGIC, snapshot::SNAPSHOT_FORMAT, version, r.rest())
        }
        _ => {
            let Some(model) = example_model() else { return };
            let bytes = snapshot::encode(&model);
            let mut body = bytes.get(HEADER_LEN..).unwrap_or_default().to_vec();
            mutate(&mut body, &mut r);
            frame(snapshot::SNAPSHOT_MAGIC, snapshot::SNAPSHOT_FORMAT, model.version, &body)
        }
    };
    let Ok(model) = snapshot::decode(&bytes) else { return };
    let again = snapshot::encode(&model);
    assert!(snapshot::decode(&again).as_ref() == Ok(&model), "a decoded snapshot does not round-trip");
    let mut engine = Engine::new(model, 1);
    drive(&mut engine, &mut Bytes::new(data), 16);
}

/// State import into an engine running the example model. First byte as in
/// [`snapshot_decode`], the third mode editing the state of a generated session, the fourth the
/// same with signed traits into an engine that trusts token keys (traits count only with a token
/// that verifies for the shopper). Accepted state must run, and re-export to state that imports
/// again.
pub fn state_import(data: &[u8]) {
    use kairos::sign::{SecretKey, Trust};
    let Some(model) = example_model() else { return };
    let mut r = Bytes::new(data);
    let sk = SecretKey::from_seed(&TOKEN_KEY_SEED);
    let keyed = Trust::key(sk.public());
    let mode = r.byte() % 4;
    let bytes = match mode {
        0 => r.rest().to_vec(),
        1 => frame(kairos::profile::STATE_MAGIC, kairos::profile::STATE_FORMAT, 0, r.rest()),
        _ => {
            let mut source = Engine::new(model.clone(), 3);
            if mode == 3 {
                // Signed traits in the state: the token's bytes, the traits and the pid are all
                // open to the mutations.
                source.set_trust(keyed.clone());
                source.set_consent(true);
                let traits = kairos::token::traits_from_json(&json!({"hipo": true, "tier": "gold"}))
                    .unwrap_or_default();
                let sub = source.profile().pid().to_string();
                let claims = kairos::token::Claims { sub, iat: T0, exp: i64::MAX, traits };
                let _ = source.set_traits_token(&kairos::token::sign(&claims, &sk), T0);
            }
            drive(&mut source, &mut r, 12);
            let state = source.export_state();
            let mut body = state.get(HEADER_LEN..).unwrap_or_default().to_vec();
            mutate(&mut body, &mut r);
            frame(kairos::profile::STATE_MAGIC, kairos::profile::STATE_FORMAT, 0, &body)
        }
    };
    let mut engine = Engine::new(model, 2);
    if mode == 3 {
        engine.set_trust(keyed.clone());
    }
    if engine.import_state(&bytes).is_err() {
        return;
    }
    if mode == 3 {
        // On an engine that trusts token keys, traits count only with a token that verifies
        // for this shopper.
        let p = engine.profile();
        if p.traits.iter().any(|t| *t != kairos::logic::Value::Null) {
            let claims = p.traits_token.as_deref().map(|t| kairos::token::open(t, &keyed.token_keys));
            assert!(
                matches!(&claims, Some(Ok(c)) if c.sub == p.pid()),
                "traits count without a token that verifies for this shopper: {claims:?}"
            );
        }
    }
    drive(&mut engine, &mut Bytes::new(data), 12);
    let again = engine.export_state();
    let mut other = Engine::new(engine.model().clone(), 2);
    let back = other.import_state(&again);
    assert!(back.is_ok(), "exported state is rejected: {back:?}");
}

/// Model compiling from arbitrary bytes: whatever compiles encodes to a snapshot that decodes to
/// the same model, and runs.
pub fn compile_bytes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(compiled) = kairos::compile_str(&text) {
        check_model(compiled.model, data);
    }
}

/// Model compiling from arbitrary JSON: the example model with generated edits (values replaced
/// by generated rules or data, keys removed or added) anywhere in its tree.
pub fn compile_json(data: &[u8]) {
    let Ok(mut model) = serde_json::from_str::<Json>(EXAMPLE_MODEL) else { return };
    let mut r = Bytes::new(data);
    for _ in 0..1 + r.below(4) {
        edit(&mut model, &mut r, 0);
    }
    if let Ok(compiled) = kairos::compile_str(&model.to_string()) {
        check_model(compiled.model, data);
    }
}

fn check_model(model: Model, data: &[u8]) {
    let bytes = snapshot::encode(&model);
    let back = snapshot::decode(&bytes);
    assert!(back.as_ref() == Ok(&model), "a compiled model does not survive its snapshot: {:?}", back.err());
    let mut engine = Engine::new(model, 5);
    drive(&mut engine, &mut Bytes::new(data), 16);
}

/// Replaces, removes or adds one node somewhere in `doc`.
fn edit(doc: &mut Json, r: &mut Bytes, depth: usize) {
    let descend = depth < 8 && r.byte() % 4 != 0;
    match doc {
        Json::Object(m) if descend && !m.is_empty() => {
            let i = r.below(m.len());
            if let Some(v) = m.values_mut().nth(i) {
                edit(v, r, depth + 1);
            }
        }
        Json::Array(a) if descend && !a.is_empty() => {
            let i = r.below(a.len());
            if let Some(v) = a.get_mut(i) {
                edit(v, r, depth + 1);
            }
        }
        Json::Object(m) if r.byte() % 3 == 0 => {
            let i = r.below(m.len().max(1));
            if let Some(k) = m.keys().nth(i).cloned() {
                m.remove(&k);
            }
        }
        _ => {
            *doc = match r.byte() % 3 {
                0 => gen_data(r, 1),
                1 => gen_rule(r, 0, Vocab::Model),
                _ => gen_scalar(r),
            }
        }
    }
}

/// XORs a few bytes of `body`, or truncates or extends it.
fn mutate(body: &mut Vec<u8>, r: &mut Bytes) {
    for _ in 0..1 + r.below(4) {
        match r.byte() % 4 {
            0 => body.truncate(r.below(body.len().max(1) * 2)),
            1 => body.extend((0..r.below(8)).map(|_| r.byte())),
            _ => {
                let i = r.below(body.len().max(1));
                let x = r.byte();
                if let Some(b) = body.get_mut(i) {
                    *b ^= x;
                }
            }
        }
    }
}

/// A frame around `body` with a correct length and checksum.
pub fn frame(magic: [u8; 4], format: u16, version: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&magic);
    out.extend_from_slice(&format.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&sha256(body));
    out.extend_from_slice(body);
    out
}

/// The example model, compiled (once per process: compiling it on every input would slow the
/// fuzzer tenfold).
pub fn example_model() -> Option<Model> {
    static MODEL: std::sync::OnceLock<Option<Model>> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| kairos::compile_str(EXAMPLE_MODEL).ok().map(|c| c.model)).clone()
}

/// A hostile time: near the base, going backwards, far past or future, or the extremes.
pub fn gen_time(r: &mut Bytes) -> i64 {
    match r.byte() % 8 {
        0 => i64::MAX,
        1 => i64::MIN,
        2 => r.i64(),
        3 => T0 - i64::from(r.byte()) * DAY,
        4 => T0 + i64::from(r.byte()) * 365 * DAY,
        _ => T0 + i64::from(r.byte()) * DAY / 8 + i64::from(r.byte()) * 1000,
    }
}

/// A hostile property value.
pub fn gen_prop(r: &mut Bytes) -> Value {
    match r.byte() % 7 {
        0 => Value::Number(f64::NAN),
        1 => Value::Number(if r.byte() & 1 == 0 { f64::INFINITY } else { f64::NEG_INFINITY }),
        2 => Value::Number(*r.pick(NUMBERS).unwrap_or(&0.0)),
        3 => Value::String("x".repeat(r.below(4096))),
        4 => Value::String(format!("p{}", r.below(1 << 16))),
        5 => Value::Null,
        _ => Value::Bool(r.byte() & 1 == 1),
    }
}

/// Drives an engine through up to `steps` generated calls. Nothing may panic.
pub fn drive(engine: &mut Engine, r: &mut Bytes, steps: usize) {
    engine.set_consent(true);
    let events = engine.model().events.iter().map(|e| e.props.len()).collect::<Vec<_>>();
    let contexts = engine.model().context.len();
    let placements = engine.model().placements.len();
    let offers = engine.model().offers.len();
    for _ in 0..steps {
        if r.done() {
            break;
        }
        let now = gen_time(r);
        match r.byte() % 12 {
            0..=4 => {
                let kind = r.below(events.len() + 1);
                let n = events.get(kind).copied().unwrap_or(0);
                let props: Vec<Value> = (0..n).map(|_| gen_prop(r)).collect();
                engine.track(kind, &props, now);
            }
            5 | 6 => {
                let ctx: Vec<Value> = (0..contexts).map(|_| gen_prop(r)).collect();
                let p = r.below(placements + 1);
                let d = engine.decide(p, &ctx, now);
                assert!(d.items.len() <= 64, "a decision with {} items", d.items.len());
            }
            7 => {
                let ctx: Vec<Value> = (0..contexts).map(|_| gen_prop(r)).collect();
                let _ = engine.explain(r.below(offers + 1), &ctx, now);
                let _ = engine.segments(&ctx, now);
                let _ = engine.scores(&ctx, now);
                let _ = engine.features(now);
                let _ = engine.stage();
            }
            8 => {
                let traits = gen_data(r, 0);
                let _ = engine.set_traits_json(&traits, Some(now));
                let tier = json!({"tier": "gold", "hipo": r.byte() & 1 == 1, "crm_segments": ["hipo"], "birthday": "11-21"});
                let _ = engine.set_traits_json(&tier, None);
            }
            9 => {
                let kind =
                    *r.pick(&[IdKind::Phone, IdKind::Email, IdKind::External]).unwrap_or(&IdKind::External);
                let raw = match gen_scalar(r) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                let _ = engine.identify(kind, &raw);
            }
            10 => {
                let _ = engine.drain_outbox();
                if r.byte() % 8 == 0 {
                    engine.set_consent(false);
                    engine.set_consent(true);
                }
                if r.byte() % 16 == 0 {
                    engine.forget(r.i64() as u64, now);
                    engine.set_consent(true);
                }
            }
            _ => {
                let state = engine.export_state();
                let back = engine.import_state(&state);
                assert!(back.is_ok(), "the engine rejects its own state: {back:?}");
            }
        }
    }
}

/// Seed of the fixed test key that signs the tokens of [`token`]: the fuzzer cannot forge a
/// signature, so it signs what it generates with this key to reach the payload parser and the
/// engine behind it.
pub const TOKEN_KEY_SEED: [u8; 32] = [0x4b; 32];

/// How far a [`token`] input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenReach {
    /// Refused before the signature was checked, or for its signature.
    Refused,
    /// Signature checked, then refused (payload, expiry).
    PastSignature,
    /// Verified, then refused by the engine (user, traits).
    Verified,
    /// Accepted: the engine's traits were set.
    TraitsSet,
}

/// The signed traits token ([`kairos::token`]). First byte: 0 = generated claims signed with the
/// test key, the token then optionally edited as text; 1 = generated claims JSON with edits
/// (fields removed, replaced, added), signed; 2 = the rest of the input as the payload bytes,
/// signed; else = the rest as the whole token text. Each token goes to `token::verify` and to an
/// engine trusting the test key. Invariants: the engine's verdict is `verify`'s (consent, then
/// the same error, then the user and traits); a refused token leaves the traits as they were; an
/// accepted one has not expired and sets the traits to expire with it; a token signed here and
/// not edited verifies unless it expired, is too long, or its traits are not an object or nest
/// past serde_json's limit; an edited token verifies only if it is the original up to
/// surrounding whitespace (no malleability).
pub fn token(data: &[u8]) {
    let _ = token_case(data);
}

/// [`token`], saying how far the input got (the committed seeds are checked to get past the
/// signature).
pub fn token_case(data: &[u8]) -> TokenReach {
    use kairos::sign::{b64_encode, SecretKey, Trust};
    use kairos::token::{self, TokenError};
    let Some(model) = example_model() else { return TokenReach::Refused };
    let sk = SecretKey::from_seed(&TOKEN_KEY_SEED);
    let keys = [sk.public()];
    let mut r = Bytes::new(data);
    let mode = r.byte();
    let mut engine = Engine::new(model, 0x00c0_ffee);
    // Unsigned traits allowed, so the engine starts with some for a refused token to keep.
    let trust = Trust { allow_unsigned_traits: true, ..Trust::key(sk.public()) };
    engine.set_trust(trust.clone());
    let consent = r.byte() % 8 != 7;
    engine.set_consent(consent);
    let _ = engine.set_traits_json(&json!({"tier": "silver"}), None);
    let pid = engine.profile().pid().to_string();
    let now = token_time(&mut r, T0);
    let sign_payload = |payload: &[u8]| {
        let signed = format!("{}.{}", token::TOKEN_PREFIX, b64_encode(payload));
        format!("{signed}.{}", b64_encode(&sk.sign(signed.as_bytes())))
    };
    // The token, and the one signed here before any text edit.
    let (text, original): (String, Option<String>) = match mode % 4 {
        0 => {
            let claims = gen_claims(&mut r, &pid, now);
            let original = token::sign(&claims, &sk);
            let mut text = original.clone();
            if r.byte() % 4 == 3 {
                let mut bytes = text.into_bytes();
                mutate(&mut bytes, &mut r);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            let verified = token::verify(&original, &keys, now);
            let too_long = original.len() > token::MAX_TOKEN_LEN;
            match &verified {
                // Compared as bytes: a NaN trait is not `==` to itself.
                Ok(back) => assert!(
                    kairos::codec::to_bytes(back) == kairos::codec::to_bytes(&claims),
                    "a token does not round-trip: {claims:?} -> {back:?}"
                ),
                Err(TokenError::Expired { .. }) => assert!(now >= claims.exp),
                Err(TokenError::Malformed(_))
                    if too_long || claims.traits.len() > token::MAX_TOKEN_TRAITS => {}
                Err(e) => panic!("a token signed with a trusted key is refused: {e}: {claims:?}"),
            }
            (text, Some(original))
        }
        1 => {
            // The binary claims of a valid token, edited, then signed.
            let claims = gen_claims(&mut r, &pid, now);
            let signed = token::sign(&claims, &sk);
            let payload = signed.split('.').nth(1).unwrap_or_default();
            let mut bytes = kairos::sign::b64_decode(payload).unwrap_or_default();
            mutate(&mut bytes, &mut r);
            (sign_payload(&bytes), None)
        }
        2 => (sign_payload(r.rest()), None),
        _ => (String::from_utf8_lossy(r.rest()).into_owned(), None),
    };
    let verified = token::verify(&text, &keys, now);
    if let Some(original) = &original {
        if verified.is_ok() {
            assert!(text.trim() == original, "an edited token verifies: {original} -> {text}");
        }
    }
    let before = (engine.profile().traits.clone(), engine.profile().traits_expire_ms);
    let result = engine.set_traits_token(&text, now);
    let after = (engine.profile().traits.clone(), engine.profile().traits_expire_ms);
    match (&verified, &result) {
        _ if !consent => assert!(result == Err(TokenError::NoConsent), "no consent, yet {result:?}"),
        (Err(e), Err(f)) => assert!(e == f, "verify says {e:?}, the engine {f:?}"),
        (Ok(claims), Err(TokenError::WrongUser { found, .. })) => {
            assert!(claims.sub != pid && *found == claims.sub)
        }
        (Ok(claims), Err(TokenError::Traits(_))) => assert!(claims.sub == pid),
        (Ok(claims), Ok(())) => {
            assert!(claims.sub == pid && now < claims.exp);
            assert!(
                after.1 == Some(claims.exp),
                "traits expire at {:?}, the token at {}",
                after.1,
                claims.exp
            );
            let mut other = Engine::new(engine.model().clone(), 0x00c0_ffee);
            other.set_trust(trust.clone());
            let back = other.import_state(&engine.export_state());
            assert!(back.is_ok(), "state with the token's traits is refused: {back:?}");
            assert!(
                other.profile().traits == engine.profile().traits,
                "the stored token did not restore the traits"
            );
        }
        _ => panic!("verify gives {verified:?}, the engine {result:?}"),
    }
    if result.is_err() {
        assert!(before == after, "a refused token changed the traits: {result:?}");
    }
    // The engine goes on working with or without the traits.
    drive(&mut engine, &mut r, 4);
    match (&verified, &result) {
        (_, Ok(())) => TokenReach::TraitsSet,
        (Ok(_), _) => TokenReach::Verified,
        (Err(TokenError::BadSignature { .. }), _) => TokenReach::Refused,
        (Err(TokenError::Malformed(m)), _) if !m.starts_with("the payload") && !m.starts_with("`traits`") => {
            TokenReach::Refused
        }
        _ => TokenReach::PastSignature,
    }
}

/// A time for tokens: with zero bytes `base`; else near it, or hostile ([`gen_time`]).
fn token_time(r: &mut Bytes, base: i64) -> i64 {
    match r.byte() % 4 {
        0 => base,
        1 => base.saturating_add(i64::from(r.byte() as i8) * DAY),
        2 => base.saturating_add(i64::from(r.byte() as i8) * 1000),
        _ => gen_time(r),
    }
}

/// Claims for `pid` at `now`; with zero bytes, valid traits for the example model, expiring a day
/// after `now`.
fn gen_claims(r: &mut Bytes, pid: &str, now: i64) -> kairos::token::Claims {
    let sub = match r.byte() % 8 {
        0..=4 => pid.to_string(),
        5 => String::new(),
        6 => format!("{pid} "),
        _ => match gen_scalar(r) {
            Json::String(s) => s,
            other => other.to_string(),
        },
    };
    let iat = token_time(r, now.saturating_sub(DAY));
    let exp = match r.byte() % 4 {
        0 => now.saturating_add(DAY),
        1 => now,
        2 => now.saturating_add(1),
        _ => token_time(r, now),
    };
    let json = match r.byte() % 4 {
        0 | 1 => {
            let mut m = Map::new();
            let tier = json!(*r.pick(&["gold", "silver", ""]).unwrap_or(&"gold"));
            let hipo = json!(r.byte() & 1 == 0);
            let segments = json!(["hipo", "vip"].get(..r.below(3)).unwrap_or_default());
            let birthday = json!(*r.pick(&["03-14", "1996-03-14", "02-29", "13-01"]).unwrap_or(&"03-14"));
            for (name, value) in
                [("tier", tier), ("hipo", hipo), ("crm_segments", segments), ("birthday", birthday)]
            {
                if r.byte() % 4 != 3 {
                    m.insert(name.to_string(), value);
                }
            }
            Json::Object(m)
        }
        2 => gen_data(r, 0),
        _ => json!({}),
    };
    let traits = kairos::token::traits_from_json(&json).unwrap_or_else(|_| gen_hostile_traits(r));
    kairos::token::Claims { sub, iat, exp, traits }
}

/// Flat traits no model accepts: unknown names, NaN and huge numbers, long strings and lists,
/// more traits than a token may hold.
fn gen_hostile_traits(r: &mut Bytes) -> Vec<(String, kairos::profile::StoredTrait)> {
    use kairos::profile::StoredTrait as T;
    let n = match r.byte() % 4 {
        0 => kairos::token::MAX_TOKEN_TRAITS + 1,
        _ => r.below(6),
    };
    (0..n)
        .map(|i| {
            let name = (*r.pick(&["tier", "hipo", "birthday", "crm_segments", "no_such"]).unwrap_or(&"tier"))
                .to_string();
            let value = match r.byte() % 6 {
                0 => T::Number(f64::NAN),
                1 => T::Number(-1e300),
                2 => T::String("t".repeat(r.below(20_000))),
                3 => T::List(vec!["s".repeat(r.below(400)); r.below(100)]),
                4 => T::Bool(i % 2 == 0),
                _ => T::String(String::new()),
            };
            (name, value)
        })
        .collect()
}
