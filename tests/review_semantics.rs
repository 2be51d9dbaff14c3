//! Engine semantics found wrong by review (2026-11-23), each held to what docs/model.md and
//! docs/state-format.md promise: global caps within one decision, a feature given a window by a
//! new model, erasure requests in the outbox, `explain` against `decide` for time-based stages,
//! decisions made before consent, the control flag of a conversion after the experiment ended,
//! and leaving every stage.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

use kairos::engine::input;
use kairos::outbox::OutboxEvent;
use kairos::profile::identity::IdKind;
use kairos::profile::StoredState;
use kairos::{compile_str, Engine, Model, Reason, Value};
use serde_json::{json, Value as Json};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-11-20T00:00:00+08:00.
const MIDNIGHT: i64 = 1_795_104_000_000;

/// A small model; `extra`'s top-level keys replace the defaults.
fn model_json(extra: Json) -> Json {
    let mut m = json!({
        "meta": {"name": "t", "version": 1},
        "events": {"view": {"category": "string", "product": "string"}, "buy": {"amount": "number"}},
        "context": {"page": "string"},
        "features": {"views": {"event": "view", "agg": "count"}},
        "placements": {"hero": {"max_items": 1, "fallback": {"t": "fallback"}}, "grid": {"max_items": 2}},
        "offers": [],
    });
    for (k, v) in extra.as_object().unwrap() {
        m.as_object_mut().unwrap().insert(k.clone(), v.clone());
    }
    m
}

fn model(extra: Json) -> Model {
    compile_str(&model_json(extra).to_string()).unwrap_or_else(|e| panic!("{e}")).model
}

fn engine(m: Model) -> Engine {
    engine_with(m, 7)
}

/// The offer ids a placement shows at `now`, and the reason.
fn shown(e: &mut Engine, placement: &str, now: i64) -> (Vec<String>, Reason, u64) {
    let p = input::placement_index(e.model(), placement).unwrap();
    let ctx = vec![Value::Null; e.model().context.len()];
    let d = e.decide(p, &ctx, now);
    (d.items.iter().map(|i| e.model().offers[i.offer].id.clone()).collect(), d.reason, d.id)
}

fn track(e: &mut Engine, event: Json, now: i64) {
    e.track_json(&event, now).unwrap();
}

#[test]
fn one_decision_never_takes_more_than_the_global_caps_allow_even_with_offers_left_over() {
    // Three offers of one priority for two slots: the slots fill before the group ends.
    let offers = json!([
        {"id": "a", "placements": ["grid"], "content": 1},
        {"id": "b", "placements": ["grid"], "content": 1},
        {"id": "c", "placements": ["grid"], "content": 1}
    ]);
    let mut e = engine(model(json!({"caps": [{"max": 1, "days": 1}], "offers": offers})));
    let (items, reason, _) = shown(&mut e, "grid", MIDNIGHT + 12 * HOUR);
    assert_eq!((items, reason), (vec!["a".to_string()], Reason::Chosen), "one global exposure left today");
    let (items, reason, _) = shown(&mut e, "grid", MIDNIGHT + 13 * HOUR);
    assert_eq!((items.len(), reason), (0, Reason::Capped));
    // Exempt offers still fill the slot the budget leaves.
    let offers = json!([
        {"id": "a", "placements": ["grid"], "content": 1},
        {"id": "b", "placements": ["grid"], "content": 1},
        {"id": "free", "placements": ["grid"], "content": 1, "global_caps": false}
    ]);
    let mut e = engine(model(json!({"caps": [{"max": 1, "days": 1}], "offers": offers})));
    assert_eq!(shown(&mut e, "grid", MIDNIGHT + 12 * HOUR).0, ["a", "free"]);
}

#[test]
fn an_all_time_feature_given_a_window_keeps_its_recent_days() {
    let mut e = engine(model(json!({})));
    track(&mut e, json!({"type": "view"}), MIDNIGHT - 10 * DAY);
    for k in 0..5 {
        track(&mut e, json!({"type": "view"}), MIDNIGHT + k * HOUR);
    }
    let now = MIDNIGHT + 6 * HOUR;
    assert_eq!(e.features(now)[0].1, Some(6.0));
    let mut v2 =
        model_json(json!({"features": {"views": {"event": "view", "agg": "count", "window_days": 30}}}));
    v2["meta"]["version"] = json!(2);
    e.apply_model(compile_str(&v2.to_string()).unwrap().model).unwrap();
    // The view of 10 days ago was folded into the all-time total (older than the 7 days kept by
    // day), which cannot be split by day: it goes; today's five stay.
    assert_eq!(e.features(now)[0].1, Some(5.0));
    track(&mut e, json!({"type": "view"}), now + HOUR);
    assert_eq!(e.features(now + HOUR)[0].1, Some(6.0));
    let mut again = Engine::new(e.model().clone(), 1);
    again.import_state(&e.export_state()).unwrap();
    assert_eq!(again.features(now + HOUR)[0].1, Some(6.0), "the kept state imports");
}

fn erasures(e: &mut Engine) -> Vec<String> {
    e.outbox()
        .into_iter()
        .filter_map(|x| match x {
            OutboxEvent::Forgotten { pid, .. } => Some(pid),
            _ => None,
        })
        .collect()
}

#[test]
fn an_erasure_request_is_never_evicted_from_a_full_outbox() {
    let mut e = engine(model(json!({"offers": [{"id": "o", "placements": ["hero"], "content": 1}]})));
    let pid = e.profile().pid().to_string();
    e.forget(42, MIDNIGHT);
    e.set_consent(true);
    for k in 0..300 {
        shown(&mut e, "hero", MIDNIGHT + k * 60_000);
    }
    assert_eq!(erasures(&mut e), std::slice::from_ref(&pid));
    let out = e.outbox();
    // Not counted against the 256 reports (it was until the review of the 256-forget bug).
    assert_eq!(out.len(), kairos::outbox::OUTBOX_CAPACITY + 1);
    assert!(matches!(&out[0], OutboxEvent::Forgotten { .. }), "still the oldest, in order");
    assert_eq!(e.outbox_dropped(), 44, "exposures went instead");
    // The exposures kept are the newest, in order.
    let at: Vec<i64> = out[1..]
        .iter()
        .map(|x| match x {
            OutboxEvent::Exposure { at, .. } => *at,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]) && at.last() == Some(&(MIDNIGHT + 299 * 60_000)));
    let mut restored = Engine::new(e.model().clone(), 1);
    restored.import_state(&e.export_state()).unwrap();
    assert_eq!(erasures(&mut restored), [pid]);
}

#[test]
fn a_second_forget_keeps_the_first_erasure_request() {
    let mut e = engine(model(json!({})));
    e.identify(IdKind::Phone, "13812345678").unwrap();
    let first = e.profile().pid().to_string();
    e.forget(42, MIDNIGHT);
    e.set_consent(true);
    e.identify(IdKind::Email, "nancy@example.com").unwrap();
    let second = e.profile().pid().to_string();
    track(&mut e, json!({"type": "view"}), MIDNIGHT + HOUR);
    e.forget(43, MIDNIGHT + 2 * HOUR);
    assert_eq!(erasures(&mut e), [first, second]);
    assert_eq!(e.outbox().len(), 2, "nothing else of the wiped profiles");
}

#[test]
fn explain_sees_the_stage_decide_would_see_at_the_same_time() {
    let mut e = engine(model(json!({
        "features": {"buys": {"event": "buy", "agg": "count"}},
        "lifecycle": [
            {"stage": "lapsed", "when": {"and": [{">=": [{"var": "features.buys"}, 1]}, {">=": [{"days_since": "buy"}, 30]}]}},
            {"stage": "buyer", "when": {">=": [{"var": "features.buys"}, 1]}},
            {"stage": "anonymous", "when": true}
        ],
        "offers": [{"id": "winback", "placements": ["hero"], "stages": ["lapsed"], "content": 1}]
    })));
    track(&mut e, json!({"type": "buy", "amount": 10}), MIDNIGHT);
    assert_eq!(e.stage(), Some("buyer"));
    e.drain_outbox();
    let later = MIDNIGHT + 40 * DAY;
    let o = input::offer_index(e.model(), "winback").unwrap();
    let ctx = vec![Value::Null; e.model().context.len()];
    let ex = e.explain(o, &ctx, later).unwrap();
    let stage = ex.checks.iter().find(|c| c.name == "stage").unwrap();
    assert!(ex.eligible && stage.passed, "{:?}", ex.checks);
    assert!(stage.detail.starts_with("stage is `lapsed`"), "{}", stage.detail);
    // Explaining records nothing: the stage and the outbox are as before.
    assert_eq!(e.stage(), Some("buyer"));
    assert!(e.outbox().is_empty());
    assert_eq!(shown(&mut e, "hero", later).0, ["winback"]);
    assert_eq!(e.stage(), Some("lapsed"));
}

#[test]
fn decisions_before_consent_are_not_counted() {
    let m = model(
        json!({"offers": [{"id": "o", "placements": ["hero"], "content": 1, "requires_consent": false}]}),
    );
    let before = Engine::new(m.clone(), 5).export_state();
    let mut e = Engine::new(m.clone(), 5);
    for k in 0..23 {
        let (items, _, id) = shown(&mut e, "hero", MIDNIGHT + k * HOUR);
        assert_eq!((items.len(), id), (1, 0), "shown without consent, with no id");
    }
    assert_eq!(e.export_state(), before, "the stored state of a shopper who never consented is unchanged");
    // The first decision with consent is the install's first: its id is the same as on an
    // install that saw no page before.
    e.set_consent(true);
    let mut fresh = Engine::new(m, 5);
    fresh.set_consent(true);
    let (_, _, id) = shown(&mut e, "hero", MIDNIGHT + DAY);
    assert_ne!(id, 0);
    assert_eq!(id, shown(&mut fresh, "hero", MIDNIGHT + DAY).2);
}

#[test]
fn a_held_out_exposure_converts_as_control_after_a_model_update_ends_the_experiment() {
    let version = |v: u32, control: f64| {
        let mut m = model_json(
            json!({"offers": [{"id": "o", "placements": ["hero"], "content": 1, "control": control,
            "conversion": {"event": "buy", "within_hours": 72}}]}),
        );
        m["meta"]["version"] = json!(v);
        compile_str(&m.to_string()).unwrap().model
    };
    // An install in the control group of a 50 % hold-out.
    let held_out = (1..1000u64)
        .find(|&id| {
            let mut e = engine_with(version(1, 0.5), id);
            shown(&mut e, "hero", MIDNIGHT).1 == Reason::ControlGroup
        })
        .unwrap();
    let mut e = engine_with(version(1, 0.5), held_out);
    assert_eq!(shown(&mut e, "hero", MIDNIGHT + HOUR).1, Reason::ControlGroup);
    e.apply_model(version(2, 0.0)).unwrap();
    // Through stored state too.
    let mut restored = Engine::new(e.model().clone(), 1);
    restored.import_state(&e.export_state()).unwrap();
    for e in [&mut e, &mut restored] {
        track(e, json!({"type": "buy", "amount": 1}), MIDNIGHT + 2 * HOUR);
        let out = e.drain_outbox();
        let exposure = out.iter().find_map(|x| match x {
            OutboxEvent::Exposure { control, decision, .. } => Some((*control, decision.clone())),
            _ => None,
        });
        let conversion = out.iter().find_map(|x| match x {
            OutboxEvent::Conversion { control, decision, .. } => Some((*control, decision.clone())),
            _ => None,
        });
        assert_eq!(exposure.as_ref().map(|x| x.0), Some(true));
        assert_eq!(conversion, exposure, "the conversion of a held-out exposure is control's");
    }
}

fn engine_with(m: Model, install: u64) -> Engine {
    let mut e = Engine::new(m, install);
    e.set_consent(true);
    e
}

#[test]
fn leaving_every_stage_is_reported_as_a_change_to_null() {
    let mut e = engine(model(json!({
        "features": {"views_7d": {"event": "view", "agg": "count", "window_days": 7}},
        "lifecycle": [{"stage": "active", "when": {">=": [{"var": "features.views_7d"}, 1]}}],
    })));
    track(&mut e, json!({"type": "view"}), MIDNIGHT);
    assert_eq!(e.stage(), Some("active"));
    e.drain_outbox();
    shown(&mut e, "hero", MIDNIGHT + 10 * DAY);
    assert_eq!(e.stage(), None);
    let left: Vec<Json> = e.outbox().iter().map(OutboxEvent::to_json).collect();
    assert_eq!(
        left,
        [json!({"type": "stage_changed", "from": "active", "to": null, "at": MIDNIGHT + 10 * DAY})]
    );
    // Kept in stored state, and the way back is from null.
    let mut restored = Engine::new(e.model().clone(), 1);
    restored.import_state(&e.export_state()).unwrap();
    assert_eq!(restored.outbox().iter().map(OutboxEvent::to_json).collect::<Vec<_>>(), left);
    e.drain_outbox();
    track(&mut e, json!({"type": "view"}), MIDNIGHT + 11 * DAY);
    let back: Vec<Json> = e.drain_outbox().iter().map(OutboxEvent::to_json).collect();
    assert_eq!(
        back,
        [json!({"type": "stage_changed", "from": null, "to": "active", "at": MIDNIGHT + 11 * DAY})]
    );
}

/// The outbox as JSON, drained.
fn drained(e: &mut Engine) -> Vec<Json> {
    e.drain_outbox().iter().map(OutboxEvent::to_json).collect()
}

#[test]
fn a_model_update_that_removes_her_stage_reports_leaving_it() {
    let stages = |version: u32, lifecycle: Json| {
        model(json!({"meta": {"name": "t", "version": version}, "lifecycle": lifecycle}))
    };
    let viewer = json!({"stage": "viewer", "when": {">=": [{"var": "features.views"}, 1]}});
    let anyone = json!({"stage": "anyone", "when": true});
    let mut e = engine(stages(1, json!([viewer, anyone])));
    track(&mut e, json!({"type": "view"}), MIDNIGHT);
    assert_eq!(e.stage(), Some("viewer"));
    e.drain_outbox();

    // Version 2 has no `viewer`: she is in no stage until the next evaluation, which reports
    // leaving `viewer` (not a first stage, from null), at its own time.
    e.apply_model(stages(2, json!([anyone]))).unwrap();
    assert_eq!(e.stage(), None);
    assert_eq!(drained(&mut e), Vec::<Json>::new());
    // Stored meanwhile: a copy imported under version 2 reports it too.
    let mut copy = Engine::new(e.model().clone(), 1);
    copy.import_state(&e.export_state()).unwrap();
    for e in [&mut e, &mut copy] {
        shown(e, "hero", MIDNIGHT + HOUR);
        assert_eq!(e.stage(), Some("anyone"));
        assert_eq!(
            drained(e),
            [json!({"type": "stage_changed", "from": "viewer", "to": "anyone", "at": MIDNIGHT + HOUR})]
        );
        shown(e, "hero", MIDNIGHT + 2 * HOUR);
        assert_eq!(drained(e), Vec::<Json>::new(), "reported once");
    }

    // A model without stages at all: leaving is a change to null.
    e.apply_model(stages(3, json!([]))).unwrap();
    shown(&mut e, "hero", MIDNIGHT + 3 * HOUR);
    assert_eq!(
        drained(&mut e),
        [json!({"type": "stage_changed", "from": "anyone", "to": null, "at": MIDNIGHT + 3 * HOUR})]
    );

    // Removed, then brought back before any evaluation: she never left it.
    let mut e = engine(stages(1, json!([viewer, anyone])));
    track(&mut e, json!({"type": "view"}), MIDNIGHT);
    assert_eq!(e.stage(), Some("viewer"));
    e.drain_outbox();
    e.apply_model(stages(2, json!([anyone]))).unwrap();
    e.apply_model(stages(3, json!([viewer, anyone]))).unwrap();
    shown(&mut e, "hero", MIDNIGHT + HOUR);
    assert_eq!(e.stage(), Some("viewer"));
    assert_eq!(drained(&mut e), Vec::<Json>::new());
}

#[test]
fn stored_state_drops_days_past_their_window_at_the_first_decision_or_event_of_a_day() {
    let m = model(json!({
        "features": {
            "views_7d": {"event": "view", "agg": "count", "window_days": 7},
            "views": {"event": "view", "agg": "count"}
        },
    }));
    // A feature's index and spec, by name.
    let feature = |e: &Engine, name: &str| {
        let i = e.model().features.iter().position(|f| f.name == name).unwrap();
        (i, e.model().features[i].spec)
    };
    let day0 = kairos::time::day_of(MIDNIGHT, m.offset_ms);
    let mut e = engine(m);
    for i in 0..5 {
        track(&mut e, json!({"type": "view"}), MIDNIGHT + i * HOUR);
    }
    let before = e.export_state().len();
    // Thirty days later, nothing was tracked since: the first decision of the day prunes.
    shown(&mut e, "hero", MIDNIGHT + 30 * DAY);
    let after = e.export_state();
    assert!(after.len() < before, "{} bytes, {before} before", after.len());
    let mut copy = Engine::new(e.model().clone(), 1);
    copy.import_state(&after).unwrap();
    for e in [&e, &copy] {
        let ((week, week_spec), (all, all_spec)) = (feature(e, "views_7d"), feature(e, "views"));
        let features = &e.profile().features;
        // The windowed days are gone: not even a clock set back to day 0 reads them.
        assert_eq!(features[week].read(&week_spec, day0), Some(0.0));
        // The all-time count keeps every view.
        assert_eq!(features[all].read(&all_spec, day0 + 30), Some(5.0));
    }
    // The same from an event of another type on a later day: the first day past the window and
    // the margin for a clock ahead (`DROP_MARGIN_DAYS`), not before.
    let margin = i64::from(kairos::profile::window::DROP_MARGIN_DAYS);
    let mut e = engine(model(json!({
        "features": {"views_7d": {"event": "view", "agg": "count", "window_days": 7}},
    })));
    track(&mut e, json!({"type": "view"}), MIDNIGHT);
    let (week, week_spec) = feature(&e, "views_7d");
    track(&mut e, json!({"type": "buy", "amount": 1}), MIDNIGHT + (6 + margin) * DAY);
    assert_eq!(e.profile().features[week].read(&week_spec, day0), Some(1.0));
    track(&mut e, json!({"type": "buy", "amount": 1}), MIDNIGHT + (7 + margin) * DAY);
    assert_eq!(e.profile().features[week].read(&week_spec, day0), Some(0.0));
}

#[test]
fn a_stored_stage_name_is_reported_only_if_it_could_be_a_stage_name_and_only_with_consent() {
    let lifecycle = json!({"lifecycle": [{"stage": "anyone", "when": true}]});
    let state = |name: &str, consent: bool| {
        let mut e = engine(model(lifecycle.clone()));
        let mut s = StoredState::decode(&e.export_state()).unwrap();
        s.stage = Some((name.to_string(), MIDNIGHT));
        s.consent = consent;
        s.encode()
    };
    // What a device reports after importing `bytes`, at its next decision.
    let reported = |bytes: &[u8]| {
        let mut e = Engine::new(model(lifecycle.clone()), 7);
        e.import_state(bytes).unwrap();
        e.set_consent(true);
        shown(&mut e, "hero", MIDNIGHT + HOUR);
        drained(&mut e)
    };
    let to_anyone =
        |from: Json| json!({"type": "stage_changed", "from": from, "to": "anyone", "at": MIDNIGHT + HOUR});
    assert_eq!(reported(&state("gone_stage", true)), [to_anyone(json!("gone_stage"))]);
    assert_eq!(reported(&state("阶段-2", true)), [to_anyone(json!("阶段-2"))]);
    // Edited state: no name, a huge one, one no model could have, or one kept without consent.
    for (name, consent) in
        [("", true), (&"x".repeat(1 << 20)[..], true), ("a b\n{}", true), ("gone_stage", false)]
    {
        assert_eq!(reported(&state(name, consent)), [to_anyone(Json::Null)], "{:.20}", name);
    }
}

#[test]
fn imported_state_is_pruned_by_the_next_decision_even_on_a_day_already_pruned() {
    let m = model(json!({"features": {"views_7d": {"event": "view", "agg": "count", "window_days": 7}}}));
    let day0 = kairos::time::day_of(MIDNIGHT, m.offset_ms);
    let mut old = engine(m.clone());
    track(&mut old, json!({"type": "view"}), MIDNIGHT);
    let stored = old.export_state();
    // A device that decided today already, then imports a copy stored 30 days ago.
    let mut e = engine(m);
    shown(&mut e, "hero", MIDNIGHT + 30 * DAY);
    e.import_state(&stored).unwrap();
    shown(&mut e, "hero", MIDNIGHT + 30 * DAY + HOUR);
    let spec = e.model().features[0].spec;
    assert_eq!(e.profile().features[0].read(&spec, day0), Some(0.0));
}

#[test]
fn a_decision_dated_ahead_drops_only_old_days_and_later_events_still_count() {
    let m = model(json!({
        "features": {
            "views_7d": {"event": "view", "agg": "count", "window_days": 7},
            "views_1d": {"event": "view", "agg": "count", "window_days": 1}
        },
    }));
    let day0 = kairos::time::day_of(MIDNIGHT, m.offset_ms);
    let read = |e: &Engine, name: &str, day: i32| {
        let i = e.model().features.iter().position(|f| f.name == name).unwrap();
        e.profile().features[i].read(&e.model().features[i].spec, day)
    };
    let mut e = engine(m.clone());
    for i in 0..3 {
        track(&mut e, json!({"type": "view"}), MIDNIGHT + i * HOUR);
    }
    // One decision from a clock 30 days ahead, then the clock is right again.
    shown(&mut e, "hero", MIDNIGHT + 30 * DAY);
    for i in 0..2 {
        track(&mut e, json!({"type": "view"}), MIDNIGHT + DAY + i * HOUR);
    }
    assert_eq!(read(&e, "views_7d", day0 + 1), Some(2.0), "later events count");
    assert_eq!(read(&e, "views_1d", day0 + 1), Some(2.0));

    // A clock a few minutes ahead at midnight drops nothing the day before still counts.
    let mut e = engine(m);
    for i in 0..3 {
        track(&mut e, json!({"type": "view"}), MIDNIGHT + 23 * HOUR + i * 60_000);
    }
    shown(&mut e, "hero", MIDNIGHT + DAY + 5 * 60_000);
    assert_eq!(read(&e, "views_1d", day0), Some(3.0));
}

#[test]
fn exposure_days_are_kept_only_as_long_as_a_cap_reads_them() {
    use kairos::profile::window::{DROP_MARGIN_DAYS, KEEP_EXPOSURE_DAYS};
    let offers = json!([
        {"id": "capped", "placements": ["grid"], "content": 1, "caps": [{"max": 5, "days": 60}]},
        {"id": "free", "placements": ["grid"], "content": 1, "global_caps": false}
    ]);
    let m = model(json!({"caps": [{"max": 10, "days": 3}], "offers": offers}));
    let day0 = kairos::time::day_of(MIDNIGHT, m.offset_ms);
    // Exposures counted in the 400 days up to `day`, as stored: per offer, and the global ones.
    let kept = |e: &Engine, day: i32| {
        let p = e.profile();
        let count = |d: &kairos::profile::window::DayCounts| d.count_in_last(day, 400);
        (count(&p.offers[0].exposures), count(&p.offers[1].exposures), count(&p.global))
    };
    let mut e = engine(m);
    assert_eq!(shown(&mut e, "grid", MIDNIGHT + 12 * HOUR).0, ["capped", "free"]);
    // Each later day's first decision (on a placement without offers) drops what no cap reads:
    // the global caps and the uncapped offer keep 30 days (and the margin), the 60-day cap 60.
    let short = i64::from(KEEP_EXPOSURE_DAYS + DROP_MARGIN_DAYS);
    let long = 60 + i64::from(DROP_MARGIN_DAYS);
    for (day, want) in [(short - 1, (1, 1, 1)), (short, (1, 0, 0)), (long - 1, (1, 0, 0)), (long, (0, 0, 0))]
    {
        shown(&mut e, "hero", MIDNIGHT + day * DAY);
        assert_eq!(kept(&e, day0 + day as i32), want, "day {day}");
    }
    // The time of the last exposure stays for the minimum gap.
    assert_eq!(e.profile().offers[1].exposures.last_ms(), Some(MIDNIGHT + 12 * HOUR));
    // What is dropped leaves the stored state too.
    let mut copy = Engine::new(e.model().clone(), 1);
    copy.import_state(&e.export_state()).unwrap();
    assert_eq!(kept(&copy, day0 + long as i32), (0, 0, 0));
    assert_eq!(copy.profile().offers[1].exposures.last_ms(), Some(MIDNIGHT + 12 * HOUR));
}

/// A daily and a weekly cap, and one call from a clock days ahead, then the clock right again
/// the same real day (review of the pruning by caps): the caps still hold.
#[test]
fn a_clock_days_ahead_for_one_call_does_not_reset_caps() {
    let offers = json!([
        {"id": "daily", "placements": ["hero"], "content": 1, "caps": [{"max": 1, "days": 1}]},
        {"id": "weekly", "placements": ["grid"], "content": 1, "caps": [{"max": 2, "days": 7}]}
    ]);
    let mut e = engine(model(json!({"offers": offers})));
    let t = MIDNIGHT + 10 * HOUR;
    assert_eq!(shown(&mut e, "hero", t).0, ["daily"]);
    assert_eq!(shown(&mut e, "grid", t).0, ["weekly"]);
    assert_eq!(shown(&mut e, "grid", t + HOUR).0, ["weekly"]);
    // An event from a clock two days ahead, a decision from one 32 days ahead.
    track(&mut e, json!({"type": "view"}), t + 2 * DAY);
    shown(&mut e, "hero", t + 32 * DAY);
    assert!(shown(&mut e, "hero", t + 2 * HOUR).0.is_empty(), "the daily cap");
    assert!(shown(&mut e, "grid", t + 2 * HOUR).0.is_empty(), "the weekly cap");
}

/// The clock goes back two days: the exposures of the day it goes back to still count.
#[test]
fn a_clock_days_back_counts_that_days_exposures() {
    let offers =
        json!([{"id": "daily", "placements": ["hero"], "content": 1, "caps": [{"max": 1, "days": 1}]}]);
    let mut e = engine(model(json!({"offers": offers})));
    let t = MIDNIGHT + 10 * HOUR;
    assert_eq!(shown(&mut e, "hero", t).0, ["daily"]);
    assert_eq!(shown(&mut e, "hero", t + 2 * DAY).0, ["daily"]);
    assert!(shown(&mut e, "hero", t + HOUR).0.is_empty(), "day 0's exposure counts");
}

/// A model update that lengthens or adds a cap (of up to 30 days) counts the exposures made
/// under the earlier caps; the minimum gap's last time survives a reload and an update.
#[test]
fn a_model_update_that_lengthens_or_adds_a_cap_counts_the_earlier_exposures() {
    let versioned = |version: u32, offer: Json| {
        let mut m = model_json(json!({"offers": [offer]}));
        m["meta"]["version"] = json!(version);
        compile_str(&m.to_string()).unwrap().model
    };
    let offer = |caps: Json| json!({"id": "o", "placements": ["hero"], "content": 1, "caps": caps, "min_gap_hours": 20});
    let t = MIDNIGHT + 10 * HOUR;
    for (before, after) in [
        (json!([{"max": 1, "days": 1}]), json!([{"max": 3, "days": 7}])),
        (json!([]), json!([{"max": 3, "days": 30}])),
    ] {
        let mut e = engine(versioned(1, offer(before)));
        for d in 0..3 {
            assert_eq!(shown(&mut e, "hero", t + d * DAY).0, ["o"]);
        }
        // Days later (the first decisions of those days dropped what the first caps do not read).
        shown(&mut e, "grid", t + 6 * DAY);
        let mut copy = Engine::new(e.model().clone(), 1);
        copy.import_state(&e.export_state()).unwrap();
        copy.apply_model(versioned(2, offer(after.clone()))).unwrap();
        copy.set_consent(true);
        assert!(shown(&mut copy, "hero", t + 6 * DAY + HOUR).0.is_empty(), "3 exposures counted by {after}");
    }
}

/// An uncapped offer with a minimum gap: its day goes at the next day's first call, its last
/// time stays through export, import and a model update.
#[test]
fn the_minimum_gap_holds_after_its_days_were_dropped_and_a_reload() {
    let gap = json!({"offers": [{"id": "g", "placements": ["hero"], "content": 1, "min_gap_hours": 48}]});
    let mut e = engine(model(gap.clone()));
    let t = MIDNIGHT + 23 * HOUR;
    assert_eq!(shown(&mut e, "hero", t).0, ["g"]);
    track(&mut e, json!({"type": "view"}), t + 2 * HOUR);
    let mut copy = Engine::new(e.model().clone(), 1);
    copy.import_state(&e.export_state()).unwrap();
    copy.set_consent(true);
    assert!(shown(&mut copy, "hero", t + 3 * HOUR).0.is_empty(), "the gap after an import");
    let mut next = model_json(gap);
    next["meta"]["version"] = json!(2);
    copy.apply_model(compile_str(&next.to_string()).unwrap().model).unwrap();
    assert!(shown(&mut copy, "hero", t + 4 * HOUR).0.is_empty(), "the gap after a model update");
    assert_eq!(shown(&mut copy, "hero", t + 48 * HOUR).0, ["g"]);
}
