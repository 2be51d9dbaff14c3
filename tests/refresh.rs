//! `refresh`: what a view already shown shows now (docs/model.md, "Decisions"). A re-render, a
//! clock change or a new model paints the same view again: the offers on screen stay without a
//! second exposure, even when that view's own exposure filled their cap, and only a change of
//! offer is a new, recorded decision.

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
use serde_json::{json, Value as Json};

const HOUR: i64 = 3_600_000;
/// 2026-11-20T00:00:00+08:00.
const MIDNIGHT: i64 = 1_795_104_000_000;
/// 14:00 that day, outside the quiet hours.
const NOON: i64 = MIDNIGHT + 14 * HOUR;

fn model(version: u32, once_title: &str) -> Json {
    json!({
        "meta": {"name": "t", "version": version},
        "events": {"buy": {"amount": "number"}},
        "context": {"page": "string"},
        "features": {"buys": {"event": "buy", "agg": "count"}},
        "placements": {
            "hero": {"max_items": 1, "fallback": {"t": "fallback"}},
            "side": {"max_items": 1},
            "pair": {"max_items": 2},
            "late": {"max_items": 1}
        },
        "offers": [
            {"id": "vip", "placements": ["hero"], "priority": 10, "audience": {">=": [{"var": "features.buys"}, 1]},
             "content": {"t": "vip"}},
            {"id": "once", "placements": ["hero"], "priority": 5, "caps": [{"max": 1, "days": 7}],
             "content": {"t": once_title}},
            {"id": "gapped", "placements": ["side"], "priority": 5, "min_gap_hours": 24, "content": {"t": "gapped"}},
            {"id": "left", "placements": ["pair"], "priority": 5, "content": {"t": "left"}},
            {"id": "right", "placements": ["pair"], "priority": 4, "content": {"t": "right"}},
            {"id": "backup", "placements": ["hero", "side", "pair"], "global_caps": false, "content": {"t": "backup"}},
            {"id": "late_offer", "placements": ["late"], "content": {"t": "late"}}
        ],
        "caps": [{"max": 3, "days": 1}],
        "quiet_hours": {"from": "23:00", "to": "08:00"}
    })
}

fn engine(install: u64) -> Engine {
    let model = compile_str(&model(1, "once").to_string()).unwrap_or_else(|e| panic!("{e}")).model;
    let mut e = Engine::new(model, install);
    e.set_consent(true);
    e
}

fn place(e: &Engine, name: &str) -> usize {
    input::placement_index(e.model(), name).unwrap()
}

fn context(e: &Engine) -> Vec<Value> {
    vec![Value::Null; e.model().context.len()]
}

fn decide(e: &mut Engine, placement: &str, now: i64) -> Decision {
    let (p, ctx) = (place(e, placement), context(e));
    e.decide(p, &ctx, now)
}

fn peek(e: &mut Engine, placement: &str, now: i64) -> Decision {
    let (p, ctx) = (place(e, placement), context(e));
    let mut d = Decision::empty();
    e.peek_into(p, &ctx, now, &mut d);
    d
}

fn refresh(e: &mut Engine, shown: &Decision, now: i64) -> Decision {
    let ctx = context(e);
    let mut d = Decision::empty();
    e.refresh_into(shown, &ctx, now, &mut d);
    d
}

fn offers(e: &Engine, d: &Decision) -> Vec<String> {
    d.items.iter().map(|i| e.model().offers[i.offer].id.clone()).collect()
}

fn exposures(e: &mut Engine) -> usize {
    e.outbox().iter().filter(|x| matches!(x, OutboxEvent::Exposure { .. })).count()
}

#[test]
fn a_view_that_filled_a_cap_keeps_its_offer_on_a_refresh() {
    let mut e = engine(1);
    let d = decide(&mut e, "hero", NOON);
    assert_eq!(offers(&e, &d), ["once"], "the last exposure its cap allows");
    let state = e.export_state();
    let reported = exposures(&mut e);
    // What a new view would show: the cap is full now.
    assert_eq!(
        {
            let d = peek(&mut e, "hero", NOON + 1);
            offers(&e, &d)
        },
        ["backup"]
    );
    for k in 1..=3 {
        let r = refresh(&mut e, &d, NOON + k * HOUR);
        assert_eq!(
            (r.id, offers(&e, &r), r.reason),
            (d.id, vec!["once".to_string()], Reason::Chosen),
            "refresh {k}"
        );
        assert_eq!(r.items, d.items);
    }
    assert_eq!(exposures(&mut e), reported, "nothing reported");
    assert_eq!(e.export_state(), state, "nothing recorded: no exposure, no decision counted");
    // A new view is a decision, and the cap holds it.
    assert_eq!(
        {
            let d = decide(&mut e, "hero", NOON + 4 * HOUR);
            offers(&e, &d)
        },
        ["backup"]
    );
}

#[test]
fn a_gap_or_the_global_caps_filled_by_the_view_do_not_take_its_offers_away() {
    let mut e = engine(2);
    let side = decide(&mut e, "side", NOON);
    assert_eq!(offers(&e, &side), ["gapped"]);
    assert_eq!(
        {
            let d = peek(&mut e, "side", NOON + HOUR);
            offers(&e, &d)
        },
        ["backup"],
        "within its gap"
    );
    assert_eq!(refresh(&mut e, &side, NOON + HOUR).id, side.id);
    // Two more global-capped exposures make three today: the global caps are full.
    let pair = decide(&mut e, "pair", NOON);
    assert_eq!(offers(&e, &pair), ["left", "right"]);
    assert_eq!(
        {
            let d = peek(&mut e, "pair", NOON + HOUR);
            offers(&e, &d)
        },
        ["backup"]
    );
    let again = refresh(&mut e, &pair, NOON + HOUR);
    assert_eq!((again.id, offers(&e, &again)), (pair.id, vec!["left".to_string(), "right".to_string()]));
    assert_eq!(exposures(&mut e), 3, "no more than the three views");
}

#[test]
fn a_new_offer_is_a_new_decision_and_then_the_view_it_shows() {
    let mut e = engine(3);
    let d = decide(&mut e, "hero", NOON);
    e.track_json(&json!({"type": "buy", "amount": 5}), NOON + 1).unwrap();
    let r = refresh(&mut e, &d, NOON + 2);
    assert_ne!(r.id, d.id);
    assert_eq!(offers(&e, &r), ["vip"], "a better offer now: decided, recorded");
    assert_eq!(exposures(&mut e), 2);
    assert_eq!(refresh(&mut e, &r, NOON + 3).id, r.id, "and then kept");
    assert_eq!(exposures(&mut e), 2);
    // Quiet hours are no cap: the view changes to what may be shown then.
    let night = refresh(&mut e, &r, MIDNIGHT + 25 * HOUR);
    assert_eq!(offers(&e, &night), ["backup"]);
    assert_ne!(night.id, r.id);
}

#[test]
fn a_decision_made_without_consent_is_recorded_by_the_first_refresh_with_it() {
    let model = compile_str(&model(1, "once").to_string()).unwrap().model;
    let mut e = Engine::new(model, 4);
    let d = decide(&mut e, "hero", NOON);
    assert_eq!((d.id, d.reason), (0, Reason::NoConsent));
    e.set_consent(true);
    let r = refresh(&mut e, &d, NOON + 1);
    assert_ne!(r.id, 0);
    assert_eq!(offers(&e, &r), ["once"]);
    assert_eq!(exposures(&mut e), 1);
}

#[test]
fn without_consent_now_a_refresh_is_a_decision_that_records_nothing() {
    let mut e = engine(5);
    let d = decide(&mut e, "hero", NOON);
    e.withdraw_consent(NOON + 1);
    e.drain_outbox();
    let r = refresh(&mut e, &d, NOON + 2);
    assert_eq!((r.id, r.reason), (0, Reason::NoConsent));
    assert_eq!(exposures(&mut e), 0);
}

#[test]
fn a_new_model_keeps_the_view_of_the_same_offer_with_its_new_content() {
    let mut e = engine(7);
    let d = decide(&mut e, "hero", NOON);
    let before = e.model().contents[d.items[0].content.unwrap() as usize].clone();
    let v2 = compile_str(&model(2, "once, reworded").to_string()).unwrap().model;
    e.apply_model(v2).unwrap();
    let r = refresh(&mut e, &d, NOON + 1);
    assert_eq!((r.id, offers(&e, &r)), (d.id, vec!["once".to_string()]));
    let after = &e.model().contents[r.items[0].content.unwrap() as usize];
    assert_ne!(after, &before);
    assert!(after.contains("once, reworded"), "{after}");
    assert_eq!(exposures(&mut e), 1, "the same view");
}

#[test]
fn an_empty_view_stays_empty_without_a_new_decision_until_an_offer_may_show() {
    let mut e = engine(8);
    let d = decide(&mut e, "late", MIDNIGHT + HOUR);
    assert_eq!((d.reason, d.items.len()), (Reason::QuietHours, 0));
    assert_ne!(d.id, 0);
    assert_eq!(refresh(&mut e, &d, MIDNIGHT + 2 * HOUR).id, d.id);
    let morning = refresh(&mut e, &d, MIDNIGHT + 9 * HOUR);
    assert_ne!(morning.id, d.id);
    assert_eq!(offers(&e, &morning), ["late_offer"]);
    assert_eq!(exposures(&mut e), 1);
}
