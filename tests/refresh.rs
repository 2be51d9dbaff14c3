//! `refresh`: what a view already shown shows now (docs/model.md, "Decisions"). A re-render, a
//! clock change or a new model paints the same view again: the offers on screen stay without a
//! second exposure, even when that view's own exposure filled their cap; a change is a new
//! decision exposing only what is new on screen; a decision that is not a view of the engine
//! (`peek`'s, made without consent, from before an erasure) is decided anew.

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

/// The exposures reported so far: decision id and offer.
fn exposed(e: &mut Engine) -> Vec<(u64, String)> {
    e.outbox()
        .into_iter()
        .filter_map(|x| match x {
            OutboxEvent::Exposure { decision, offer, .. } => {
                Some((u64::from_str_radix(&decision, 16).unwrap(), offer))
            }
            _ => None,
        })
        .collect()
}

fn exposures(e: &mut Engine) -> usize {
    exposed(e).len()
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
fn a_new_offer_is_a_new_decision_exposed_once_and_then_kept() {
    let mut e = engine(3);
    let d = decide(&mut e, "hero", NOON);
    e.track_json(&json!({"type": "buy", "amount": 5}), NOON + 1).unwrap();
    let r = refresh(&mut e, &d, NOON + 2);
    assert_ne!(r.id, d.id, "the view changed: a new decision");
    assert_eq!(offers(&e, &r), ["vip"], "a better offer now: shown, and exposed");
    assert_eq!(exposures(&mut e), 2);
    assert_eq!(refresh(&mut e, &r, NOON + 3).id, r.id, "and then kept");
    assert_eq!(exposures(&mut e), 2);
    // Quiet hours are no cap: the view changes to what may be shown then.
    let night = refresh(&mut e, &r, MIDNIGHT + 25 * HOUR);
    assert_ne!(night.id, r.id);
    assert_eq!(offers(&e, &night), ["backup"]);
    assert_eq!(exposures(&mut e), 3);
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
    e.withdraw_consent(0x5eed, NOON + 1);
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
    // Its indices are the old model's: not a view of the running one until mapped (by offer id,
    // as the package does; here the offers kept their places).
    let stale = refresh(&mut e, &d, NOON + 1);
    assert_ne!(stale.id, d.id);
    let mut e = engine(7);
    let d = decide(&mut e, "hero", NOON);
    e.apply_model(compile_str(&model(2, "once, reworded").to_string()).unwrap().model).unwrap();
    let mapped = Decision { model: 2, ..d.clone() };
    let r = refresh(&mut e, &mapped, NOON + 1);
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
    // An offer may show now: the view changes, a new decision.
    let morning = refresh(&mut e, &d, MIDNIGHT + 9 * HOUR);
    assert_ne!(morning.id, d.id);
    assert_eq!(offers(&e, &morning), ["late_offer"]);
    assert_eq!(exposures(&mut e), 1);
}

/// A model of one two-item placement: `a` (capped once a week), `x` (only on page "x"), `b` (no
/// global caps); at most two global-capped exposures a day.
fn pair_engine(install: u64) -> Engine {
    let m = json!({
        "meta": {"name": "t", "version": 1},
        "events": {"buy": {"amount": "number"}},
        "context": {"page": "string"},
        "placements": {"pair": {"max_items": 2}},
        "offers": [
            {"id": "a", "placements": ["pair"], "priority": 3, "caps": [{"max": 1, "days": 7}], "content": {"t": "a"},
             "conversion": {"event": "buy", "within_hours": 48}},
            {"id": "x", "placements": ["pair"], "priority": 2, "audience": {"==": [{"var": "context.page"}, "x"]},
             "content": {"t": "x"}},
            {"id": "b", "placements": ["pair"], "priority": 1, "global_caps": false, "content": {"t": "b"}}
        ],
        "caps": [{"max": 2, "days": 1}]
    });
    let mut e = Engine::new(compile_str(&m.to_string()).unwrap().model, install);
    e.set_consent(true);
    e
}

fn page(e: &Engine, name: &str) -> Vec<Value> {
    input::context(e.model(), &json!({ "page": name })).unwrap()
}

#[test]
fn a_change_keeps_the_offers_on_screen_and_exposes_only_the_new_one() {
    let mut e = pair_engine(21);
    let (p, home, x) = (place(&e, "pair"), page(&e, "home"), page(&e, "x"));
    let shown = e.decide(p, &home, NOON);
    assert_eq!(offers(&e, &shown), ["a", "b"]);
    // On page "x", `x` comes before `b`. A new view would lose `a` (its cap is full) and `x` could
    // take the day's last global-capped exposure; this view keeps `a`, which is on screen.
    let mut r = Decision::empty();
    e.refresh_into(&shown, &x, NOON + 1, &mut r);
    assert_eq!(offers(&e, &r), ["a", "x"]);
    assert_ne!(r.id, shown.id, "the view changed: a new decision");
    let x_index = e.model().offers.iter().position(|o| o.id == "x").unwrap();
    assert_eq!(r.items[1].offer, x_index);
    assert_eq!(
        exposed(&mut e),
        [(shown.id, "a".to_string()), (shown.id, "b".to_string()), (r.id, "x".to_string())],
        "`a` is not exposed twice for one view; `x` is exposed once"
    );
    // And that view again: nothing more.
    let mut again = Decision::empty();
    e.refresh_into(&r, &x, NOON + 2, &mut again);
    assert_eq!(again.id, r.id);
    assert_eq!(exposed(&mut e).len(), 3);
}

#[test]
fn the_global_budget_the_view_used_is_not_spent_again() {
    let mut e = pair_engine(22);
    let (p, home) = (place(&e, "pair"), page(&e, "home"));
    let shown = e.decide(p, &home, NOON);
    // The next day: the global budget is 2 again and `a`'s weekly cap is still full.
    let mut r = Decision::empty();
    e.refresh_into(&shown, &home, NOON + 24 * HOUR, &mut r);
    assert_eq!((r.id, offers(&e, &r)), (shown.id, vec!["a".to_string(), "b".to_string()]));
    assert_eq!(exposed(&mut e).len(), 2);
}

#[test]
fn a_view_whose_exposures_were_erased_is_decided_anew() {
    let mut e = pair_engine(23);
    let (p, home) = (place(&e, "pair"), page(&e, "home"));
    let shown = e.decide(p, &home, NOON);
    e.withdraw_consent(0x5eed, NOON + 1);
    e.drain_outbox();
    e.set_consent(true);
    let mut r = Decision::empty();
    e.refresh_into(&shown, &home, NOON + 2, &mut r);
    assert_ne!(r.id, shown.id);
    assert_eq!(offers(&e, &r), ["a", "b"]);
    assert_eq!(exposed(&mut e), [(r.id, "a".to_string()), (r.id, "b".to_string())], "the view counted again");
    // So a conversion on it is attributed, and the cap counts it.
    e.track_json(&json!({"type": "buy", "amount": 5}), NOON + 3).unwrap();
    assert!(e.outbox().iter().any(|x| matches!(x, OutboxEvent::Conversion { .. })));
    let next = e.decide(p, &home, NOON + 4);
    assert_eq!(offers(&e, &next), ["b"], "`a`'s cap holds the next view");
}

#[test]
fn natively_a_decision_from_before_a_model_update_that_moved_offers_is_decided_anew() {
    let model = |version: u32, swap: bool| {
        let first = json!({"id": "first", "placements": ["hero"], "priority": 5, "content": {"t": "first"}});
        let second = json!({"id": "second", "placements": ["hero"], "priority": 9, "caps": [{"max": 1, "days": 7}],
            "content": {"t": "second"}});
        let offers = if swap { vec![second, first] } else { vec![first, second] };
        let m = json!({"meta": {"name": "t", "version": version}, "events": {"buy": {"amount": "number"}},
            "context": {"page": "string"}, "placements": {"hero": {"max_items": 1}}, "offers": offers});
        compile_str(&m.to_string()).unwrap().model
    };
    let mut e = Engine::new(model(1, false), 24);
    e.set_consent(true);
    let ctx = context(&e);
    let shown = e.decide(0, &ctx, NOON);
    assert_eq!(offers(&e, &shown), ["second"]);
    e.apply_model(model(2, true)).unwrap();
    // Index 1 was "second" and is "first" now: not the view's offer, so not exempt from caps.
    let mut r = Decision::empty();
    e.refresh_into(&shown, &ctx, NOON + 1, &mut r);
    assert_ne!(r.id, shown.id);
    assert_eq!(offers(&e, &r), ["first"], "`second` is held by its cap");
}

#[test]
fn a_view_stays_its_own_after_a_conversion_or_many_other_exposures() {
    let mut e = pair_engine(25);
    let (p, home) = (place(&e, "pair"), page(&e, "home"));
    let shown = e.decide(p, &home, NOON);
    assert_eq!(offers(&e, &shown), ["a", "b"]);
    // `a` converts (its exposure leaves the recent ones); 40 other views come after it.
    e.track_json(&json!({"type": "buy", "amount": 5}), NOON + 1).unwrap();
    assert!(e.outbox().iter().any(|x| matches!(x, OutboxEvent::Conversion { .. })));
    // Other views of the placement (a second slot of it, say): `a` is capped, `b` shown, 40 times,
    // so the view's own exposures are no longer among the 32 recent ones.
    for k in 0..40 {
        let d = e.decide(p, &home, NOON + 2 + k);
        assert_eq!(offers(&e, &d), ["b"]);
    }
    let n = exposed(&mut e).len();
    let mut r = Decision::empty();
    e.refresh_into(&shown, &home, NOON + HOUR, &mut r);
    assert_eq!((r.id, offers(&e, &r)), (shown.id, vec!["a".to_string(), "b".to_string()]), "the same view");
    assert_eq!(exposed(&mut e).len(), n, "nothing exposed again");
}

#[test]
fn an_offer_that_leaves_a_view_and_comes_back_is_a_new_exposure_under_a_new_id() {
    let mut e = pair_engine(26);
    let (p, home, x) = (place(&e, "pair"), page(&e, "home"), page(&e, "x"));
    let first = e.decide(p, &home, NOON);
    let mut second = Decision::empty();
    e.refresh_into(&first, &x, NOON + 1, &mut second);
    assert_eq!(offers(&e, &second), ["a", "x"]);
    let mut third = Decision::empty();
    e.refresh_into(&second, &home, NOON + 2, &mut third);
    assert_eq!(offers(&e, &third), ["a", "b"]);
    let all = exposed(&mut e);
    assert_eq!(
        all,
        [
            (first.id, "a".to_string()),
            (first.id, "b".to_string()),
            (second.id, "x".to_string()),
            (third.id, "b".to_string())
        ]
    );
    let mut keys: Vec<_> = all.clone();
    keys.dedup();
    assert_eq!(keys.len(), all.len(), "each exposure its own decision and offer");
}

/// A hero with one offer whose control group and variants a model update can change.
fn experiment(version: u32, control: f64, variants: &[&str]) -> kairos::Model {
    let variants: Vec<_> =
        variants.iter().map(|v| json!({"id": v, "weight": 1, "content": {"t": v}})).collect();
    let m = json!({
        "meta": {"name": "t", "version": version},
        "events": {"buy": {"amount": "number"}},
        "context": {"page": "string"},
        "placements": {"hero": {"max_items": 1, "fallback": {"t": "fallback"}}},
        "offers": [{"id": "exp", "placements": ["hero"], "control": control, "variants": variants,
                    "conversion": {"event": "buy", "within_hours": 48}}]
    });
    compile_str(&m.to_string()).unwrap().model
}

#[test]
fn after_a_model_update_an_item_that_shows_otherwise_is_exposed_as_it_now_shows() {
    // Find installs in the control group and in variant `q` of a 50/50 split.
    let decided = |install: u64, control: f64| {
        let mut e = Engine::new(experiment(1, control, &["q", "r"]), install);
        e.set_consent(true);
        let ctx = context(&e);
        let d = e.decide(0, &ctx, NOON);
        (e, d)
    };
    let held_out = (1..200).map(|i| decided(i, 0.5)).find(|(_, d)| d.items[0].control).unwrap();
    let in_q = (1..200)
        .map(|i| decided(i, 0.0))
        .find(|(e, d)| e.model().offers[0].variants[d.items[0].variant.unwrap()].id == "q")
        .unwrap();
    for ((mut e, shown), (control, variants)) in [(held_out, (0.0, vec!["q", "r"])), (in_q, (0.0, vec!["r"]))]
    {
        e.drain_outbox();
        e.apply_model(experiment(2, control, &variants)).unwrap();
        let mapped = Decision {
            model: 2,
            items: vec![kairos::Item {
                variant: shown.items[0].variant.filter(|_| variants.len() == 2),
                ..shown.items[0]
            }],
            ..shown.clone()
        };
        let r = refresh(&mut e, &mapped, NOON + 1);
        assert_ne!(r.id, shown.id, "it shows otherwise now");
        assert!(!r.items[0].control);
        let reported: Vec<_> = e
            .outbox()
            .into_iter()
            .filter_map(|x| match x {
                OutboxEvent::Exposure { decision, variant, control, .. } => {
                    Some((decision, variant, control))
                }
                _ => None,
            })
            .collect();
        assert_eq!(reported.len(), 1, "the item as it now shows is exposed: {reported:?}");
        assert!(!reported[0].2, "not as held out");
    }
}

#[test]
fn decision_ids_never_repeat_when_an_older_copy_of_the_same_install_is_imported() {
    let mut e = engine(31);
    let older = e.export_state();
    let first = decide(&mut e, "hero", NOON);
    let second = decide(&mut e, "side", NOON);
    e.import_state(&older).unwrap();
    let third = decide(&mut e, "hero", NOON + 1);
    assert!(![first.id, second.id].contains(&third.id), "the counter did not go back");
    // And the engine's own state imported again (another tab's copy) keeps the views on screen.
    let copy = e.export_state();
    e.import_state(&copy).unwrap();
    let r = refresh(&mut e, &third, NOON + 2);
    assert_eq!(r.id, third.id);
}

#[test]
fn forget_with_the_same_install_id_does_not_restart_the_counter() {
    let mut e = engine(32);
    let before = decide(&mut e, "hero", NOON);
    e.forget(32, NOON + 1);
    e.set_consent(true);
    let after = decide(&mut e, "hero", NOON + 2);
    assert_ne!(after.id, before.id);
    assert_ne!(refresh(&mut e, &before, NOON + 3).id, before.id, "the erased view is not kept");
}

#[test]
fn a_refresh_that_keeps_its_view_records_a_stage_change_that_came_due() {
    let model = json!({
        "meta": {"name": "t", "version": 1},
        "events": {"buy": {"amount": "number"}},
        "features": {"buys_1d": {"event": "buy", "agg": "count", "window_days": 1}},
        "lifecycle": [
            {"stage": "buyer", "when": {">=": [{"var": "features.buys_1d"}, 1]}},
            {"stage": "browser", "when": true}
        ],
        "placements": {"hero": {"max_items": 1}},
        "offers": [{"id": "any", "placements": ["hero"], "content": {"t": "any"}}]
    });
    let model = compile_str(&model.to_string()).unwrap_or_else(|e| panic!("{e}")).model;
    let mut e = Engine::new(model, 7);
    e.set_consent(true);
    e.track_json(&json!({"type": "buy", "amount": 1}), NOON).unwrap();
    let shown = decide(&mut e, "hero", NOON);
    assert_eq!(e.stage(), Some("buyer"));
    e.drain_outbox();
    // The next day the one-day window has passed: the view is the same, the stage is not.
    let again = refresh(&mut e, &shown, NOON + 24 * HOUR);
    assert_eq!((again.id, offers(&e, &again)), (shown.id, vec!["any".to_string()]));
    let reported: Vec<Json> = e.drain_outbox().iter().map(OutboxEvent::to_json).collect();
    assert_eq!(
        reported,
        [json!({"type": "stage_changed", "from": "buyer", "to": "browser", "at": NOON + 24 * HOUR})]
    );
    assert_eq!(e.stage(), Some("browser"));
}
