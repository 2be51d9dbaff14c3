//! `peek`: what `decide` would show, recording nothing (docs/model.md, "Decisions"). For
//! prefetching, server-side rendering and renders that run twice, so that a decision nobody saw uses no cap
//! and reports no exposure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

use kairos::engine::input;
use kairos::outbox::OutboxEvent;
use kairos::{compile_str, Decision, Engine, Reason, Value};
use serde_json::json;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-11-20T00:00:00+08:00.
const MIDNIGHT: i64 = 1_795_104_000_000;

fn engine(install: u64) -> Engine {
    let m = json!({
        "meta": {"name": "t", "version": 1},
        "events": {"view": {"category": "string"}, "buy": {"amount": "number"}},
        "context": {"page": "string"},
        "features": {"buys": {"event": "buy", "agg": "count"}},
        "lifecycle": [
            {"stage": "lapsed", "when": {"and": [{">=": [{"var": "features.buys"}, 1]}, {">=": [{"days_since": "buy"}, 30]}]}},
            {"stage": "buyer", "when": {">=": [{"var": "features.buys"}, 1]}},
            {"stage": "anonymous", "when": true}
        ],
        "placements": {"hero": {"max_items": 1, "fallback": {"t": "fallback"}}},
        "offers": [
            {"id": "winback", "placements": ["hero"], "stages": ["lapsed"], "content": 1},
            {"id": "capped", "placements": ["hero"], "caps": [{"max": 3, "days": 7}], "content": 2,
             "variants": [{"id": "a", "weight": 50, "content": 3}, {"id": "b", "weight": 50, "content": 4}]}
        ]
    });
    let model = compile_str(&m.to_string()).unwrap_or_else(|e| panic!("{e}")).model;
    let mut e = Engine::new(model, install);
    e.set_consent(true);
    e
}

fn kind(e: &OutboxEvent) -> &'static str {
    match e {
        OutboxEvent::Exposure { .. } => "exposure",
        OutboxEvent::StageChanged { .. } => "stage_changed",
        _ => "other",
    }
}

fn hero(e: &Engine) -> usize {
    input::placement_index(e.model(), "hero").unwrap()
}

fn peek(e: &mut Engine, now: i64) -> Decision {
    let (p, ctx) = (hero(e), vec![Value::Null; e.model().context.len()]);
    let mut d = Decision::empty();
    e.peek_into(p, &ctx, now, &mut d);
    d
}

fn decide(e: &mut Engine, now: i64) -> Decision {
    let (p, ctx) = (hero(e), vec![Value::Null; e.model().context.len()]);
    e.decide(p, &ctx, now)
}

#[test]
fn peeking_shows_what_decide_would_and_records_nothing() {
    let mut e = engine(7);
    e.drain_outbox();
    let before = e.export_state();
    for k in 0..20 {
        let d = peek(&mut e, MIDNIGHT + k * HOUR);
        assert_eq!((d.reason, d.id, d.items.len()), (Reason::Chosen, 0, 1), "peek {k}: the offer, no id");
    }
    assert_eq!(e.export_state(), before, "no exposure, no cap used, no assignment kept, no decision counted");
    assert!(e.outbox().is_empty(), "nothing reported");
    // The same decision as decide's at the same moment, which then records it.
    let p = peek(&mut e, MIDNIGHT + DAY);
    let d = decide(&mut e, MIDNIGHT + DAY);
    assert_ne!(d.id, 0);
    assert_eq!((p.items, p.reason, p.fallback), (d.items.clone(), d.reason, d.fallback));
    let kinds: Vec<&str> = e.outbox().iter().map(kind).collect();
    assert_eq!(kinds, ["stage_changed", "exposure"], "decide recorded the first stage and its exposure");
}

#[test]
fn peeks_use_no_cap_where_decisions_do() {
    let mut e = engine(8);
    // Three exposures in 7 days use the cap; any number of peeks around them do not.
    for k in 0..3 {
        for j in 0..5 {
            assert_eq!(peek(&mut e, MIDNIGHT + k * HOUR + j).reason, Reason::Chosen);
        }
        assert_eq!(decide(&mut e, MIDNIGHT + k * HOUR + 10).reason, Reason::Chosen);
    }
    assert_eq!(peek(&mut e, MIDNIGHT + 4 * HOUR).reason, Reason::Capped);
    assert_eq!(decide(&mut e, MIDNIGHT + 4 * HOUR).reason, Reason::Capped);
}

#[test]
fn a_peek_sees_the_stage_decide_would_record_without_recording_it() {
    let mut e = engine(9);
    e.track_json(&json!({"type": "buy", "amount": 10}), MIDNIGHT).unwrap();
    assert_eq!(e.stage(), Some("buyer"));
    e.drain_outbox();
    let later = MIDNIGHT + 40 * DAY;
    let d = peek(&mut e, later);
    assert_eq!(e.model().offers[d.items[0].offer].id, "winback", "lapsed at `later`");
    assert_eq!(e.stage(), Some("buyer"), "not recorded");
    assert!(e.outbox().is_empty());
    // An unknown placement leaves the stage as it was too.
    let mut out = Decision::empty();
    e.peek_into(99, &[], later, &mut out);
    assert_eq!((out.reason, e.stage()), (Reason::NoOffers, Some("buyer")));
    let d = decide(&mut e, later);
    assert_eq!(e.model().offers[d.items[0].offer].id, "winback");
    assert_eq!(e.stage(), Some("lapsed"), "decide records it");
}
