//! The same checks for Node and the browser: the real bindings called from Rust, through JS values.

use js_sys::{Object, Reflect, Uint8Array};
use kairos_wasm::Engine;
use wasm_bindgen::{JsCast, JsValue};

const MODEL: &str = include_str!("../../../../examples/taste-of-su/model.json");
/// 2026-11-20T14:20:00+08:00.
const NOW: f64 = 1_795_155_600_000.0;

fn snapshot() -> JsValue {
    let model = kairos::compile_str(MODEL).map(|c| c.model);
    assert!(model.is_ok(), "the example model compiles");
    let bytes = model.map(|m| kairos::snapshot::encode(&m)).unwrap_or_default();
    Uint8Array::from(bytes.as_slice()).into()
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

fn field(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn code(e: JsValue) -> Option<String> {
    assert!(e.is_instance_of::<js_sys::Error>(), "a real Error");
    field(&e, "code").as_string()
}

fn engine() -> Engine {
    let e = Engine::new(
        &snapshot(),
        &JsValue::from_str("00000000000000b2"),
        &JsValue::UNDEFINED,
        &JsValue::UNDEFINED,
    );
    assert!(e.is_ok(), "the snapshot loads");
    let Ok(mut e) = e else { unreachable!() };
    assert!(e.set_consent(&JsValue::TRUE).is_ok());
    e
}

pub fn follower_sees_the_brand_story() {
    let mut e = engine();
    let follow = obj(&[("type", "follow".into()), ("channel", "wechat_oa".into())]);
    let tracked = e.track(&follow, &NOW.into());
    assert_eq!(tracked.ok().and_then(|s| s.as_string()).as_deref(), Some("recorded"));
    assert_eq!(e.stage().as_deref(), Some("window"));
    let d = e.decide(&"home_hero".into(), &obj(&[("page", "home".into())]), &(NOW + 30_000.0).into());
    assert!(d.is_ok(), "decides");
    // The decision object is made by the package's JavaScript; what was shown is in the outbox.
    let out = e.drain_outbox();
    assert_eq!(out.length(), 2, "stage_changed and exposure");
    let exposure = out.get(1);
    assert_eq!(field(&exposure, "type").as_string().as_deref(), Some("exposure"));
    assert_eq!(field(&exposure, "offer").as_string().as_deref(), Some("brand_story"));
}

pub fn failures_are_errors_with_codes() {
    let mut e = engine();
    let bad = e.track(&JsValue::from_str("view"), &NOW.into()).err().and_then(code);
    assert_eq!(bad.as_deref(), Some("EVENT_INVALID"));
    let nan = obj(&[("type", "view".into()), ("price", f64::NAN.into())]);
    assert_eq!(e.track(&nan, &NOW.into()).err().and_then(code).as_deref(), Some("EVENT_INVALID"));
    let t = e.track(&obj(&[("type", "view".into())]), &f64::INFINITY.into()).err().and_then(code);
    assert_eq!(t.as_deref(), Some("TIME_INVALID"));
    let p = e.decide(&"nope".into(), &JsValue::NULL, &NOW.into()).err().and_then(code);
    assert_eq!(p.as_deref(), Some("PLACEMENT_UNKNOWN"));
    let s = e.apply_snapshot(&Uint8Array::new_with_length(7).into()).err().and_then(code);
    assert_eq!(s.as_deref(), Some("SNAPSHOT_CORRUPT"));
    let st = e.import_state(&Uint8Array::new_with_length(7).into()).err().and_then(code);
    assert_eq!(st.as_deref(), Some("STATE_INVALID"));
    let lone = JsValue::from(js_sys::JsString::from_char_code1(0xD800));
    let l = e.track(&obj(&[("type", lone)]), &NOW.into()).err().and_then(code);
    assert_eq!(l.as_deref(), Some("EVENT_INVALID"));
    // Still usable.
    assert!(e.decide(&"home_hero".into(), &JsValue::NULL, &NOW.into()).is_ok());
}

pub fn state_round_trips() {
    let mut e = engine();
    let _ = e.track(&obj(&[("type", "follow".into())]), &NOW.into());
    let state: JsValue = Uint8Array::from(e.export_state().as_slice()).into();
    let mut other = Engine::new(
        &snapshot(),
        &JsValue::from_str("0000000000000001"),
        &JsValue::UNDEFINED,
        &JsValue::UNDEFINED,
    )
    .ok();
    assert!(other.as_mut().is_some_and(|o| o.import_state(&state).is_ok()));
    assert_eq!(other.and_then(|mut o| o.stage()).as_deref(), Some("window"));
}

/// The core has no number text conversions of its own in this build: short decimals it reads
/// exactly, the rest JavaScript's `Number` reads, and numbers that are not whole JavaScript's
/// `String` writes. The package installs them when the module starts; linked as a library, as
/// here, the first engine does.
pub fn numbers_read_and_write_as_javascript() {
    use kairos::logic::{self, DynamicResolver, JsonEnv, Value};
    let _ = engine();
    let eval = |rule: &str| {
        let rule = serde_json::from_str(rule).map_err(|e| e.to_string());
        let rule = rule.and_then(|r| logic::parse(&r, &DynamicResolver).map_err(|e| e.to_string()));
        let env = JsonEnv::new(Value::Null);
        rule.and_then(|r| logic::eval(&r, &env).map(|v| v.into_owned()).map_err(|e| e.to_string()))
    };
    for text in ["42", "2.5e-3", "12345678901234567890.5", "1e23", "0.30000000000000004", "4.9e-324"] {
        // For these well-formed decimals parseFloat and Number agree.
        let js = js_sys::parse_float(text);
        let got = eval(&format!(r#"{{"+": ["{text}"]}}"#));
        assert_eq!(got, Ok(Value::Number(js)), "{text}");
    }
    let cat = eval(r#"{"cat": [0.1, "|", 1e21, "|", 1.5e-7, "|", 7, "|", -0.5]}"#);
    assert_eq!(cat, Ok(Value::String("0.1|1e+21|1.5e-7|7|-0.5".into())));
}
