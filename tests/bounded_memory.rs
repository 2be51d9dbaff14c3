//! Memory stays bounded after a long hostile run: thousands of events and decisions with huge
//! strings, NaN and infinities, a clock that goes backwards and jumps centuries ahead, and far more
//! distinct values than any set keeps. Afterwards the outbox, the distinct sets, the day buckets and
//! the exported state are all within their limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

use kairos::codec::to_bytes;
use kairos::engine::input;
use kairos::outbox::OUTBOX_CAPACITY;
use kairos::profile::identity::IdKind;
use kairos::profile::window::{Agg, DROP_MARGIN_DAYS, MAX_WINDOW_DAYS, SETTLE_DAYS};
use kairos::profile::{StoredState, RECENT_EXPOSURES};
use kairos::{Engine, Value};
use serde_json::json;

const DAY: i64 = 86_400_000;
/// 2026-11-20T12:00:00+08:00.
const T0: i64 = 1_795_147_200_000;
/// Largest exported state accepted for the example model after any history. A year of heavy
/// normal use is about 10 KB (tests/bytes.rs); the bound leaves room for every cap filled.
const MAX_STATE_BYTES: usize = 96 * 1024;
/// Bytes one day cell may take in the state (postcard varints: gap + count, or an f64/i64).
const CELL_BYTES: usize = 15;

/// xorshift64*: the run is the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn hostile_value(rng: &mut Rng, i: u64) -> Value {
    match rng.below(10) {
        0 => Value::Number(f64::NAN),
        1 => Value::Number(f64::INFINITY),
        2 => Value::Number(f64::NEG_INFINITY),
        3 => Value::Number(f64::MAX),
        4 => Value::String("x".repeat(64 * 1024)),
        5 => Value::Null,
        6 => Value::Number(-0.0),
        // Many distinct values: far more than any distinct feature keeps.
        _ => Value::String(format!("product-{i}")),
    }
}

/// The clock: mostly forward, sometimes back by days, sometimes centuries ahead or at the extremes.
fn hostile_time(rng: &mut Rng, clock: &mut i64) -> i64 {
    match rng.below(40) {
        0 => i64::MAX,
        1 => i64::MIN,
        2 => T0 + 300 * 365 * DAY,
        3 => -T0,
        4..=7 => {
            *clock -= (rng.below(30) as i64) * DAY;
            *clock
        }
        _ => {
            *clock += rng.below(6 * 3_600_000) as i64;
            *clock
        }
    }
}

fn check_bounds(engine: &mut Engine, when: &str) {
    let outbox = engine.outbox();
    assert!(outbox.len() <= OUTBOX_CAPACITY, "{when}: outbox holds {} events", outbox.len());
    assert!(
        engine.profile().recent.len() <= RECENT_EXPOSURES,
        "{when}: {} recent exposures",
        engine.profile().recent.len()
    );
    assert!(engine.profile().ids.len() <= 8, "{when}: {} identifiers", engine.profile().ids.len());
    let bytes = engine.export_state();
    assert!(bytes.len() <= MAX_STATE_BYTES, "{when}: state is {} bytes", bytes.len());
    // The state decodes with every invariant checked (day cells within their window, ...).
    let state = StoredState::decode(&bytes).unwrap_or_else(|e| panic!("{when}: own state rejected: {e}"));
    for (name, spec, agg) in &state.features {
        let cells = match (spec.agg, spec.window_days) {
            (Agg::Distinct { max }, _) => usize::from(max),
            // The window and the week of margin kept for a clock ahead.
            (_, Some(days)) => usize::from(days.min(MAX_WINDOW_DAYS) + DROP_MARGIN_DAYS),
            (_, None) => usize::from(SETTLE_DAYS) + 1,
        };
        let size = to_bytes(agg).len();
        assert!(
            size <= 16 + cells * CELL_BYTES,
            "{when}: feature `{name}` takes {size} bytes for {cells} cells"
        );
    }
    let day_counts = std::iter::once(&state.global).chain(state.offers.iter().map(|o| &o.exposures));
    for counts in day_counts {
        let size = to_bytes(counts).len();
        assert!(
            size <= 32 + usize::from(MAX_WINDOW_DAYS) * CELL_BYTES,
            "{when}: day counts take {size} bytes"
        );
    }
    let model = engine.model().clone();
    for (name, spec, value) in
        model.features.iter().zip(engine.features(T0)).map(|(f, (n, v))| (n, f.spec, v))
    {
        if let (Agg::Distinct { max }, Some(v)) = (spec.agg, value) {
            assert!(v <= f64::from(max), "{when}: distinct feature `{name}` counts {v} > {max}");
        }
    }
}

#[test]
fn memory_stays_bounded_after_a_long_hostile_run() {
    let model = kairos::compile_str(include_str!("../examples/taste-of-su/model.json")).unwrap().model;
    let mut engine = Engine::new(model.clone(), 0x5eed);
    engine.set_consent(true);
    let placements: Vec<usize> = (0..model.placements.len()).collect();
    let context = input::context(&model, &json!({"page": "home"})).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut clock = T0;
    let (mut tracked, mut decided) = (0u64, 0u64);
    for i in 0..20_000u64 {
        let now = hostile_time(&mut rng, &mut clock);
        let kind = rng.below(model.events.len() as u64) as usize;
        let props: Vec<Value> =
            (0..model.events[kind].props.len()).map(|_| hostile_value(&mut rng, i)).collect();
        engine.track(kind, &props, now);
        tracked += 1;
        if i % 3 == 0 {
            for &p in &placements {
                let hostile_context: Vec<Value> =
                    context.iter().map(|_| hostile_value(&mut rng, i)).collect();
                let ctx = if rng.below(2) == 0 { &context } else { &hostile_context };
                let _ = engine.decide(p, ctx, now);
                decided += 1;
            }
        }
        if i % 97 == 0 {
            let _ = engine.identify(IdKind::Email, &format!("shopper{i}@example.com"));
            let _ = engine.identify(IdKind::External, &"y".repeat(100_000));
            let huge = json!({"tier": "z".repeat(1 << 20), "crm_segments": vec!["s"; 10_000]});
            assert!(engine.set_traits_json(&huge, Some(now)).is_err(), "huge traits must be refused");
            engine.set_traits_json(&json!({"tier": "gold", "hipo": true}), Some(now)).unwrap();
        }
        if i % 2_000 == 1_999 {
            check_bounds(&mut engine, &format!("after {tracked} events and {decided} decisions"));
        }
    }
    assert!(engine.outbox_dropped() > 0, "the run should overflow the outbox at least once");
    check_bounds(&mut engine, "at the end");
    println!("{tracked} events, {decided} decisions, state {} bytes", engine.export_state().len());
}
