use serde_json::json;

use super::*;
use crate::outbox::{ERASE_ALL, MAX_ERASURES, OUTBOX_CAPACITY};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2026-11-20T00:00:00+08:00.
const MIDNIGHT: i64 = 1_795_104_000_000;

fn model(offers: serde_json::Value, extra: serde_json::Value) -> Model {
    let mut m = json!({
        "meta": {"name": "t", "version": 1},
        "events": {"view": {"category": "string"}, "buy": {"amount": "number"}},
        "context": {"page": "string"},
        "features": {"views": {"event": "view", "agg": "count"}},
        "lifecycle": [{"stage": "buyer", "when": {">=": [{"days_since": "buy"}, 0]}}, {"stage": "visitor", "when": true}],
        "placements": {"hero": {"max_items": 1, "fallback": {"t": "fallback"}}, "grid": {"max_items": 3}},
        "offers": offers,
    });
    if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    crate::compile(&serde_json::from_value(m).unwrap()).unwrap_or_else(|e| panic!("{e}")).model
}

fn engine(m: Model, install: u64) -> Engine {
    let mut e = Engine::new(m, install);
    e.set_consent(true);
    e
}

fn at(e: &Engine, placement: &str) -> usize {
    input::placement_index(e.model(), placement).unwrap()
}

fn shown(e: &mut Engine, placement: &str, now: i64) -> Vec<String> {
    let p = at(e, placement);
    let d = e.decide(p, &[Value::String("home".into())], now);
    d.items.iter().map(|i| e.model().offers[i.offer].id.clone()).collect()
}

#[test]
fn priority_then_score_then_model_order() {
    let m = model(
        json!([
            {"id": "low", "placements": ["grid"], "priority": 1, "content": 1},
            {"id": "a", "placements": ["grid"], "priority": 5, "content": 1},
            {"id": "b", "placements": ["grid"], "priority": 5, "rank_by": "s", "content": 1},
            {"id": "c", "placements": ["grid"], "priority": 9, "content": 1}
        ]),
        json!({"scores": {"s": {"bias": 2, "weights": {"features.views": 1}}}}),
    );
    let mut e = engine(m, 1);
    // c first (priority 9); then b (ranked by score 2 beats unranked a); a; low does not fit.
    assert_eq!(shown(&mut e, "grid", MIDNIGHT + 12 * HOUR), ["c", "b", "a"]);
}

#[test]
fn ranked_offers_by_score_ties_in_model_order() {
    let m = model(
        json!([
            {"id": "a", "placements": ["grid"], "priority": 5, "content": 1},
            {"id": "b", "placements": ["grid"], "priority": 5, "rank_by": "lo", "content": 1},
            {"id": "c", "placements": ["grid"], "priority": 5, "rank_by": "hi", "content": 1},
            {"id": "d", "placements": ["grid"], "priority": 5, "rank_by": "lo", "content": 1}
        ]),
        json!({"scores": {"lo": {"bias": 1, "weights": {}}, "hi": {"bias": 3, "weights": {}}}}),
    );
    let mut e = engine(m, 1);
    // c scores 3; b and d tie at 1 and keep model order; unranked a comes last and does not fit.
    assert_eq!(shown(&mut e, "grid", MIDNIGHT + 12 * HOUR), ["c", "b", "d"]);
}

#[test]
fn caps_gaps_and_global_caps_hold_offers_back() {
    let m = model(
        json!([
            {"id": "capped", "placements": ["hero"], "priority": 3, "caps": [{"max": 2, "days": 2}], "content": 1},
            {"id": "gapped", "placements": ["hero"], "priority": 2, "min_gap_hours": 5, "global_caps": false, "content": 1},
            {"id": "free", "placements": ["hero"], "priority": 1, "global_caps": false, "content": 1}
        ]),
        json!({"caps": [{"max": 3, "days": 1}]}),
    );
    let mut e = engine(m, 1);
    let t = MIDNIGHT + 9 * HOUR;
    assert_eq!(shown(&mut e, "hero", t), ["capped"]);
    assert_eq!(shown(&mut e, "hero", t + 1), ["capped"]);
    assert_eq!(shown(&mut e, "hero", t + 2), ["gapped"], "capped reached 2 in 2 days");
    assert_eq!(shown(&mut e, "hero", t + 3), ["free"], "gapped needs 5 hours");
    assert_eq!(shown(&mut e, "hero", t + 5 * HOUR + 2), ["gapped"]);
    // Next day: `capped` still has 2 in the last 2 days; the day after, it is back.
    assert_eq!(shown(&mut e, "hero", t + DAY), ["gapped"]);
    assert_eq!(shown(&mut e, "hero", t + 2 * DAY), ["capped"]);
    let explained = e.explain(0, &[], t + 2 * DAY + 1).unwrap();
    let cap = explained.checks.iter().find(|c| c.name == "cap").unwrap();
    assert_eq!(cap.detail, "1 of 2 in 2 days");
}

#[test]
fn global_caps_count_across_offers() {
    let m = model(
        json!([
            {"id": "x", "placements": ["hero"], "priority": 2, "content": 1},
            {"id": "y", "placements": ["hero"], "priority": 1, "content": 1}
        ]),
        json!({"caps": [{"max": 2, "days": 1}]}),
    );
    let mut e = engine(m, 1);
    let t = MIDNIGHT + 10 * HOUR;
    assert_eq!(shown(&mut e, "hero", t), ["x"]);
    assert_eq!(shown(&mut e, "hero", t + 1), ["x"]);
    let d = e.decide(at(&e, "hero"), &[], t + 2);
    assert!(d.items.is_empty());
    assert_eq!(d.reason, Reason::Capped);
    assert_eq!(d.fallback, Some(0));
    assert_eq!(shown(&mut e, "hero", t + DAY), ["x"], "a new natural day in +08:00");
}

#[test]
fn quiet_hours_wrap_past_midnight() {
    let m = model(
        json!([{"id": "promo", "placements": ["hero"], "quiet_hours": {"from": "22:00", "to": "08:00"}, "content": 1}]),
        json!({}),
    );
    let mut e = engine(m, 1);
    for (hour, open) in [(7, false), (8, true), (21, true), (22, false), (23, false), (0, false)] {
        let d = e.decide(at(&e, "hero"), &[], MIDNIGHT + hour * HOUR + 60_000);
        assert_eq!(!d.items.is_empty(), open, "at {hour}:01");
        if !open {
            assert_eq!(d.reason, Reason::QuietHours);
        }
    }
}

#[test]
fn control_groups_and_variants_split_as_weighted_and_stick() {
    let m = model(
        json!([{"id": "test", "placements": ["hero"], "control": 0.2,
            "variants": [{"id": "a", "weight": 3, "content": 1}, {"id": "b", "weight": 1, "content": 2}]}]),
        json!({}),
    );
    let (mut control, mut a, mut b) = (0, 0, 0);
    for install in 0..4000u64 {
        let mut e = engine(m.clone(), install.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let first = e.decide(at(&e, "hero"), &[], MIDNIGHT);
        let again = e.decide(at(&e, "hero"), &[], MIDNIGHT + DAY);
        assert_eq!(first.items, again.items, "sticky");
        let item = first.items[0];
        match (item.control, item.variant) {
            (true, _) => {
                control += 1;
                assert_eq!(item.content, first.fallback);
                assert_eq!(first.reason, Reason::ControlGroup);
            }
            (false, Some(0)) => a += 1,
            (false, Some(1)) => b += 1,
            other => panic!("{other:?}"),
        }
    }
    // 20% control, then 3:1 of the rest: 800, 2400, 800 expected.
    assert!((700..900).contains(&control), "control {control}");
    assert!((2250..2550).contains(&a), "a {a}");
    assert!((700..900).contains(&b), "b {b}");
}

#[test]
fn assignments_survive_identify_and_export() {
    let m = model(
        json!([{"id": "t", "placements": ["hero"], "variants": [{"id": "a", "weight": 1, "content": 1}, {"id": "b", "weight": 1, "content": 2}]}]),
        json!({}),
    );
    for install in 0..50 {
        let mut e = engine(m.clone(), install);
        let before = e.decide(at(&e, "hero"), &[], MIDNIGHT).items[0].variant;
        e.identify(IdKind::Phone, "+86 139 1234 5678").unwrap();
        let bytes = e.export_state();
        let mut other = Engine::new(m.clone(), 999);
        other.import_state(&bytes).unwrap();
        assert_eq!(other.decide(at(&other, "hero"), &[], MIDNIGHT + DAY).items[0].variant, before);
    }
}

#[test]
fn the_outbox_is_bounded_and_counts_what_it_dropped() {
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let mut e = engine(m, 1);
    for k in 0..(OUTBOX_CAPACITY as i64 + 50) {
        e.decide(at(&e, "hero"), &[], MIDNIGHT + k);
    }
    assert_eq!(e.outbox().len(), OUTBOX_CAPACITY);
    assert_eq!(e.outbox_dropped(), 51, "50 exposures over, plus the stage change that was first");
    // Oldest first: the exposures of the last OUTBOX_CAPACITY decisions, in order.
    let times = |events: &[OutboxEvent]| {
        events
            .iter()
            .map(|x| if let OutboxEvent::Exposure { at, .. } = x { *at } else { -1 })
            .collect::<Vec<_>>()
    };
    let expected: Vec<i64> = (50..OUTBOX_CAPACITY as i64 + 50).map(|k| MIDNIGHT + k).collect();
    assert_eq!(times(&e.outbox()), expected);
    let mut seen = Vec::new();
    e.each_outbox_event(false, &mut |x| seen.push(x.clone()));
    assert_eq!(seen, e.outbox());
    let drained = e.drain_outbox();
    assert_eq!(times(&drained), expected);
    assert!(e.outbox().is_empty());
    assert_eq!(e.outbox_dropped(), 0);
    e.decide(at(&e, "hero"), &[], MIDNIGHT + 1000);
    assert_eq!(times(&e.outbox()), vec![MIDNIGHT + 1000]);
}

#[test]
fn decision_ids_are_unique_per_install() {
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let mut e = engine(m, 77);
    let mut ids: Vec<u64> = (0..1000).map(|k| e.decide(at(&e, "hero"), &[], MIDNIGHT + k).id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
}

#[test]
fn withdrawing_consent_erases_the_profile() {
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let mut e = engine(m, 5);
    e.track_json(&json!({"type": "buy", "amount": 10}), MIDNIGHT).unwrap();
    assert_eq!(e.stage(), Some("buyer"));
    // A native host may withdraw and consent again under the same install id: its decision ids
    // go on from where they were, never repeat (test audit: nothing held them).
    let before = e.decide(at(&e, "hero"), &[], MIDNIGHT).id;
    e.set_consent(false);
    e.set_consent(true);
    let after = e.decide(at(&e, "hero"), &[], MIDNIGHT + 1).id;
    assert_eq!(
        crate::engine::decision_counter(5, after),
        crate::engine::decision_counter(5, before) + 1,
        "decision ids go on"
    );
    e.track_json(&json!({"type": "buy", "amount": 10}), MIDNIGHT + 2).unwrap();
    e.set_consent(false);
    assert_eq!(e.stage(), None);
    assert_eq!(e.features(MIDNIGHT)[0].1, Some(0.0));
    assert_eq!(e.track_json(&json!({"type": "view"}), MIDNIGHT).unwrap(), Tracked::NoConsent);
    assert_eq!(e.features(MIDNIGHT)[0].1, Some(0.0));
}

#[test]
fn forget_leaves_only_a_forgotten_event() {
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let mut e = engine(m, 5);
    e.identify(IdKind::Email, "Nancy@Example.com ").unwrap();
    let pid = e.profile().pid().to_string();
    e.track_json(&json!({"type": "view", "category": "qipao"}), MIDNIGHT).unwrap();
    e.forget(6, MIDNIGHT + 1);
    // Nothing of her profile is left: not her identifiers, nor what was counted (test audit: a
    // forget that kept the feature aggregates passed every test).
    assert_eq!(e.profile(), &crate::profile::Profile::new(e.model(), 6));
    assert!(e.profile().ids.is_empty());
    assert!(!e.profile().consent);
    let install = "0000000000000005".to_string();
    assert_eq!(
        e.drain_outbox(),
        vec![OutboxEvent::Forgotten { pid, install, decisions: ERASE_ALL, at: MIDNIGHT + 1 }]
    );
}

/// A `forgotten` request names the install and the counters of its reports, so a backend finds
/// them by their decision ids (`decision_counter`), also after she identified (her pid is then
/// her identifier's hash, which no report carries): every one of a retired install (another
/// tab's copy of it too, which counted further), and those made until the erasure of one that
/// goes on (a native host keeping the id).
#[test]
fn a_forgotten_request_finds_the_installs_reports_by_their_decision_ids() {
    use crate::engine::decision_counter;
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let hero = at(&engine(m.clone(), 1), "hero");
    let page = [Value::String("home".into())];
    let ids = |e: &mut Engine| -> Vec<u64> {
        let reports = e.drain_outbox();
        reports
            .iter()
            .filter_map(|r| match r {
                OutboxEvent::Exposure { decision, .. } => u64::from_str_radix(decision, 16).ok(),
                _ => None,
            })
            .collect()
    };
    let request = |e: &mut Engine| {
        let requests: [OutboxEvent; 1] = e.drain_outbox().try_into().unwrap();
        let [OutboxEvent::Forgotten { pid, install, decisions, .. }] = requests else {
            panic!("one forgotten request")
        };
        (pid, u64::from_str_radix(&install, 16).unwrap(), decisions)
    };
    let mut e = engine(m.clone(), 0x5eed);
    let mut other = engine(m.clone(), 0x5eee);
    for k in 0..5 {
        e.decide(hero, &page, MIDNIGHT + k * HOUR);
        other.decide(hero, &page, MIDNIGHT + k * HOUR);
        if k == 2 {
            e.identify(IdKind::Phone, "13800138000").unwrap();
        }
    }
    // Another tab: a copy of her profile that decides on its own, past her counter.
    let mut mine = ids(&mut e);
    let mut tab = Engine::new(m.clone(), 0x5eed);
    tab.import_state(&e.export_state()).unwrap();
    for k in 0..8 {
        tab.decide(hero, &page, MIDNIGHT + (5 + k) * HOUR);
    }
    mine.extend(ids(&mut tab));
    let theirs = ids(&mut other);
    assert_eq!((mine.len(), theirs.len()), (13, 5));
    e.forget(0x5eef, MIDNIGHT + DAY);
    let (pid, install, decisions) = request(&mut e);
    assert_eq!((pid.len(), install, decisions), (32, 0x5eed, crate::outbox::ERASE_ALL), "retired");
    let erased = |id: u64| (1..=decisions).contains(&decision_counter(install, id));
    assert!(mine.iter().all(|&id| erased(id)), "her reports, the other tab's too");
    assert!(!theirs.iter().any(|&id| erased(id)), "not another install's");

    // The install goes on (the same id): the reports made until the erasure, not those after.
    let mut goes_on = engine(m, 0x7eed);
    for k in 0..3 {
        goes_on.decide(hero, &page, MIDNIGHT + k * HOUR);
    }
    let before = ids(&mut goes_on);
    goes_on.forget(0x7eed, MIDNIGHT + DAY);
    let (_, install, decisions) = request(&mut goes_on);
    assert_eq!((install, decisions), (0x7eed, 3));
    goes_on.set_consent(true);
    goes_on.decide(hero, &page, MIDNIGHT + 2 * DAY);
    let after = ids(&mut goes_on);
    let counters = |ids: &[u64]| ids.iter().map(|&id| decision_counter(install, id)).collect::<Vec<_>>();
    assert_eq!((counters(&before), counters(&after)), (vec![1, 2, 3], vec![4]));
}

/// An erasure holds while its request waits to be drained: a copy of the retired install's state
/// (another tab stored it back before it saw the erasure, or a host's backup) is refused and
/// changes nothing, and an import of any other state keeps the requests, each once.
#[test]
fn a_state_of_an_install_erased_here_is_refused_and_erasure_requests_outlive_imports() {
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let mut e = engine(m.clone(), 5);
    e.track_json(&json!({"type": "buy", "amount": 10}), MIDNIGHT).unwrap();
    let before = e.export_state();
    e.forget(6, MIDNIGHT + 1);
    let erased = e.export_state();
    let refused = e.import_state(&before).unwrap_err();
    assert_eq!(refused, StateError::Erased(5));
    assert_eq!(
        refused.to_string(),
        "state is of install 0000000000000005, which this engine erased: restoring it would undo the erasure"
    );
    assert_eq!(e.export_state(), erased, "nothing changed");
    assert_eq!(e.stage(), None);

    // A tab of the new install that took the erasure in and decided since: imported, with the
    // request once (both copies hold it).
    let mut tab = Engine::new(m.clone(), 1);
    tab.import_state(&erased).unwrap();
    tab.set_consent(true);
    tab.decide(0, &[], MIDNIGHT + 2);
    e.import_state(&tab.export_state()).unwrap();
    let reports = e.outbox();
    let forgotten = |r: &[OutboxEvent]| r.iter().filter(|r| r.is_erasure()).count();
    assert_eq!((reports.len(), forgotten(&reports)), (2, 1), "the request and the tab's exposure");
    assert!(e.import_state(&before).is_err(), "still refused");

    // A state without the request (another shopper's): imported, the request kept.
    let mut other = engine(m.clone(), 9);
    other.decide(0, &[], MIDNIGHT + 3);
    e.import_state(&other.export_state()).unwrap();
    let reports = e.outbox();
    assert_eq!((reports.len(), forgotten(&reports), e.profile().install_id), (2, 1, 9));

    // Once drained, the request is the backend's to carry out; the engine holds nothing to
    // refuse the copy by.
    e.drain_outbox();
    e.import_state(&before).unwrap();
    assert_eq!(e.stage(), Some("buyer"));

    // An erasure that keeps the install (a native host passing the current id) retires nothing.
    let mut goes_on = engine(m, 7);
    let before = goes_on.export_state();
    goes_on.forget(7, MIDNIGHT);
    goes_on.import_state(&before).unwrap();
    assert_eq!(forgotten(&goes_on.outbox()), 1);
}

/// Review: an engine never refuses its own install, and never takes (at a reset) the requests
/// that retired it; two erasures of one identified shopper in the same millisecond are two.
#[test]
fn erasure_requests_are_told_apart_by_every_field_and_never_retire_the_engines_own_install() {
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let mut e = engine(m.clone(), 1);
    e.identify(IdKind::Phone, "13800138000").unwrap();
    e.forget(2, MIDNIGHT);
    e.set_consent(true);
    e.identify(IdKind::Phone, "13800138000").unwrap(); // the same pid
    e.forget(3, MIDNIGHT);
    let installs = |e: &mut Engine| -> Vec<String> {
        e.outbox()
            .into_iter()
            .filter_map(|r| match r {
                OutboxEvent::Forgotten { install, .. } => Some(install),
                _ => None,
            })
            .collect()
    };
    assert_eq!(installs(&mut e), ["0000000000000001", "0000000000000002"]);
    assert!(e.erased(1) && e.erased(2) && !e.erased(3));

    // A reset onto an erased install is refused; onto a new one, the requests are taken once.
    let bytes = e.export_state();
    let mut onto_erased = Engine::new(m.clone(), 2);
    assert_eq!(onto_erased.take_erasures(&bytes), Err(StateError::Erased(2)));
    assert!(onto_erased.outbox().is_empty());
    let mut fresh = Engine::new(m.clone(), 9);
    fresh.take_erasures(&bytes).unwrap();
    fresh.take_erasures(&bytes).unwrap();
    assert_eq!(installs(&mut fresh), installs(&mut e));

    // An engine whose own install a waiting request retired (a native host gave the id back)
    // still imports its own state.
    e.forget(1, MIDNIGHT + 1);
    let own = e.export_state();
    e.import_state(&own).unwrap();
}

/// The installs named by the outbox's erasure requests, in order.
fn erased_installs(e: &mut Engine) -> Vec<u64> {
    let requests = e.outbox().into_iter().filter_map(|r| match r {
        OutboxEvent::Forgotten { install, .. } => u64::from_str_radix(&install, 16).ok(),
        _ => None,
    });
    requests.collect()
}

/// Review (hostile input): once the outbox held 256 erasure requests, the next `forget` dropped
/// the oldest, so the backend never heard of that shopper, and her stored copy imported again
/// (the `STATE_ERASED` refusal went with the request). Erasure requests are held apart from the
/// 256 reports now: 300 forgets without a drain keep all 300, through the state too, and the
/// reports are still capped.
#[test]
fn three_hundred_forgets_without_a_drain_keep_every_erasure_request_and_her_copy_refused() {
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let mut e = engine(m.clone(), 5);
    e.track_json(&json!({"type": "buy", "amount": 10}), MIDNIGHT).unwrap();
    let hers = e.export_state();
    // Each shopper after her consents, is shown the offer and is forgotten (a shared kiosk
    // offline), the last ones by a page calling `forget` in a loop.
    for k in 0..300 {
        if k < 100 {
            e.set_consent(true);
            e.decide(at(&e, "hero"), &[], MIDNIGHT + k);
        }
        e.forget(1000 + k as u64, MIDNIGHT + k);
    }
    let expected: Vec<u64> = core::iter::once(5).chain(1000..1299).collect();
    assert_eq!(erased_installs(&mut e), expected, "every request, oldest first");
    assert_eq!((e.outbox().len(), e.outbox_dropped()), (300, 0), "nothing else, nothing dropped");
    assert_eq!(e.import_state(&hers), Err(StateError::Erased(5)));

    // The reports are still capped at 256 beside them, and count what they dropped.
    e.set_consent(true);
    for k in 0..(OUTBOX_CAPACITY as i64 + 40) {
        e.decide(at(&e, "hero"), &[], MIDNIGHT + DAY + k);
    }
    let reports = e.outbox();
    let (erasures, others) = reports.split_at(300);
    assert!(erasures.iter().all(OutboxEvent::is_erasure), "the erasure requests come first");
    assert_eq!(others.len(), OUTBOX_CAPACITY);
    assert!(others.iter().all(|r| matches!(r, OutboxEvent::Exposure { .. })), "the newest reports");
    assert_eq!(e.outbox_dropped(), 41, "40 exposures over, plus the stage change that was first");
    assert_eq!(e.import_state(&hers), Err(StateError::Erased(5)));

    // The state keeps them all: it decodes, and another engine refuses her copy as well.
    let state = e.export_state();
    let stored = StoredState::decode(&state).unwrap();
    assert_eq!((stored.outbox.len(), stored.outbox_dropped), (300 + OUTBOX_CAPACITY, 41));
    let mut tab = Engine::new(m, 2);
    tab.import_state(&state).unwrap();
    assert_eq!(tab.outbox(), reports);
    assert_eq!(tab.export_state(), state, "the same bytes back");
    assert_eq!(tab.import_state(&hers), Err(StateError::Erased(5)));
}

/// Past `MAX_ERASURES` undrained requests, the newest is the one not kept, and counted: a page
/// calling `forget` in a loop cannot push out a real shopper's request. A state holding more
/// than either bound is refused.
#[test]
fn erasure_requests_past_their_bound_keep_the_oldest_and_are_counted() {
    let m = model(json!([]), json!({}));
    let mut e = engine(m.clone(), 5);
    let hers = e.export_state();
    for k in 0..(MAX_ERASURES as u64 + 3) {
        e.forget(1000 + k, MIDNIGHT);
    }
    let installs = erased_installs(&mut e);
    assert_eq!((installs.len(), installs.first(), e.outbox_dropped()), (MAX_ERASURES, Some(&5), 3));
    assert_eq!(e.import_state(&hers), Err(StateError::Erased(5)));
    let state = e.export_state();
    let mut copy = Engine::new(m, 1);
    copy.import_state(&state).unwrap();
    assert_eq!(erased_installs(&mut copy), installs);

    let mut stored = StoredState::decode(&state).unwrap();
    stored.outbox.push(OutboxEvent::Forgotten { pid: "x".into(), install: "y".into(), decisions: 1, at: 0 });
    let too_many = StoredState::decode(&stored.encode()).unwrap_err();
    assert_eq!(too_many.to_string(), "state is invalid: more entries than any model allows");
    stored.outbox.truncate(1);
    let report = |at| OutboxEvent::StageLeft { from: None, at };
    stored.outbox.extend((0..=OUTBOX_CAPACITY as i64).map(report));
    assert!(StoredState::decode(&stored.encode()).is_err(), "257 reports");
    stored.outbox.pop();
    assert!(StoredState::decode(&stored.encode()).is_ok(), "256 reports and a request");
}

#[test]
fn withdrawing_consent_erases_the_undrained_reports_and_asks_the_backend_to_erase_the_rest() {
    let m = model(json!([{"id": "o", "placements": ["hero"], "content": 1}]), json!({}));
    let mut e = engine(m, 5);
    e.identify(IdKind::Email, "nancy@example.com").unwrap();
    let pid = e.profile().pid().to_string();
    e.track_json(&json!({"type": "buy", "amount": 10}), MIDNIGHT).unwrap();
    let first = e.decide(0, &[], MIDNIGHT + 1).id;
    e.forget(6, MIDNIGHT + 2); // an earlier erasure request, not drained yet: kept
    e.set_consent(true);
    let second_pid = e.profile().pid().to_string();
    e.track_json(&json!({"type": "buy", "amount": 10}), MIDNIGHT + 3).unwrap();
    e.withdraw_consent(7, MIDNIGHT + 4);
    assert!(!e.profile().consent);
    assert_eq!(e.stage(), None);
    assert_eq!(
        e.drain_outbox(),
        vec![
            OutboxEvent::Forgotten {
                pid,
                install: "0000000000000005".into(),
                decisions: ERASE_ALL,
                at: MIDNIGHT + 2
            },
            OutboxEvent::Forgotten {
                pid: second_pid,
                install: "0000000000000006".into(),
                decisions: ERASE_ALL,
                at: MIDNIGHT + 4
            }
        ],
        "the exposure and stage changes went; both erasure requests stay"
    );
    // A new install: should she consent again, nothing links her new pid and decision ids to
    // the pid the backend was asked to erase.
    assert_eq!((e.profile().install_id, e.profile().seq), (7, 0));
    e.set_consent(true);
    assert_eq!(e.profile().pid(), "0000000000000007");
    assert_ne!(e.decide(0, &[], MIDNIGHT + 5).id, first);
    // Withdrawn again, then without consent: the second withdrawal does nothing.
    e.withdraw_consent(8, MIDNIGHT + 6);
    e.withdraw_consent(9, MIDNIGHT + 7);
    assert_eq!(e.profile().install_id, 8);
    assert_eq!(e.drain_outbox().iter().filter(|x| matches!(x, OutboxEvent::Forgotten { .. })).count(), 1);
}

#[test]
fn hostile_calls_do_not_panic() {
    let m = model(
        json!([{"id": "o", "placements": ["hero"], "audience": {"==": [{"var": "context.page"}, "x"]}, "content": 1}]),
        json!({}),
    );
    let mut e = engine(m, 5);
    // Out-of-range indices and short or long property slices.
    assert_eq!(e.decide(99, &[], MIDNIGHT).reason, Reason::NoOffers);
    e.track(99, &[], MIDNIGHT);
    e.track(0, &[], MIDNIGHT);
    e.track(0, &vec![Value::Null; 40], i64::MIN);
    e.track(1, &[Value::Number(f64::NAN)], i64::MAX);
    e.decide(at(&e, "hero"), &vec![Value::Array(vec![]); 9], i64::MIN);
    e.decide(at(&e, "hero"), &[], i64::MAX);
    assert!(e.explain(99, &[], 0).is_none());
    assert!(e.track_json(&json!("view"), 0).is_err());
    assert!(e.track_json(&json!({"type": 7}), 0).is_err());
    let err = e.track_json(&json!({"type": "buy", "amount": "a lot"}), 0).unwrap_err();
    assert_eq!(err.to_string(), "event.amount: expected a number, got a string");
    let err = e.set_traits_json(&json!({"tierr": "gold"}), None).unwrap_err();
    assert!(err.to_string().starts_with("unknown trait `tierr`"), "{err}");
}

#[test]
fn explain_names_the_failing_check() {
    let m = model(
        json!([{"id": "o", "placements": ["hero"], "stages": ["buyer"], "audience": {">": [{"var": "features.views"}, 2]}, "content": 1}]),
        json!({}),
    );
    let mut e = engine(m, 5);
    // Without consent no stage is evaluated: both checks fail.
    e.set_consent(false);
    let x = e.explain(0, &[], MIDNIGHT).unwrap();
    let failed: Vec<&str> = x.checks.iter().filter(|c| !c.passed).map(|c| c.name).collect();
    assert_eq!(failed, ["consent", "stage", "audience"]);
    e.set_consent(true);
    // With consent, the stage `decide` would record now: `buyer` (`days_since` of an event never
    // seen is null, and null >= 0 in JsonLogic).
    let x = e.explain(0, &[], MIDNIGHT).unwrap();
    assert!(!x.eligible);
    let failed: Vec<&str> = x.checks.iter().filter(|c| !c.passed).map(|c| c.name).collect();
    assert_eq!(failed, ["audience"]);
    let audience = x.checks.iter().find(|c| c.name == "audience").unwrap();
    assert_eq!(audience.detail, "`offers[0].audience` gave false");
    e.track_json(&json!({"type": "buy", "amount": 1}), MIDNIGHT).unwrap();
    for k in 0..3 {
        e.track_json(&json!({"type": "view"}), MIDNIGHT + k).unwrap();
    }
    let x = e.explain(0, &[], MIDNIGHT + 10).unwrap();
    assert!(x.eligible, "{x:?}");
}

#[test]
fn explain_points_at_the_condition_that_fails() {
    let m = model(
        json!([{"id": "o", "placements": ["hero"],
            "audience": {"and": [{"segment": "fan"}, {"==": [{"var": "context.page"}, "home"]}]}, "content": 1}]),
        json!({"segments": {"fan": {">=": [{"var": "features.views"}, 2]}}}),
    );
    let mut e = engine(m, 5);
    let home = [Value::String("home".into())];
    let x = e.explain(0, &home, MIDNIGHT).unwrap();
    let audience = x.checks.iter().find(|c| c.name == "audience").unwrap();
    assert_eq!(audience.detail, "fails on `offers[0].audience.and[0]` (segment `fan`)");
    assert_eq!(x.conditions.len(), 2);
    assert_eq!(x.conditions[0].segment.as_deref(), Some("fan"));
    assert!(x.conditions[1].passed);
    for k in 0..2 {
        e.track_json(&json!({"type": "view"}), MIDNIGHT + k).unwrap();
    }
    let x = e.explain(0, &home, MIDNIGHT + 5).unwrap();
    assert!(x.eligible);
    assert_eq!(x.checks.last().unwrap().detail, "all 2 conditions hold");
}

#[test]
fn explain_joins_stages_caps_and_conditions() {
    let m = model(
        json!([{"id": "o", "placements": ["hero"], "stages": ["buyer", "visitor"],
            "caps": [{"max": 2, "days": 1}, {"max": 5, "days": 7}],
            "audience": {"or": [{"==": [{"var": "context.page"}, "home"]}, {"segment": "all"}]}, "content": 1}]),
        json!({"segments": {"all": true}}),
    );
    let mut e = engine(m, 5);
    let x = e.explain(0, &[Value::String("home".into())], MIDNIGHT).unwrap();
    let detail = |name: &str| x.checks.iter().find(|c| c.name == name).unwrap().detail.clone();
    assert_eq!(detail("stage"), "stage is `buyer`; offer wants buyer or visitor");
    assert_eq!(detail("cap"), "0 of 2 in 1 days, 0 of 5 in 7 days");
    assert_eq!(
        detail("audience"),
        "holds by `offers[0].audience.or[0]`, `offers[0].audience.or[1]` (segment `all`)"
    );
}

#[test]
fn reason_index_is_its_place_in_all() {
    for (i, r) in Reason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i, "{}", r.as_str());
    }
}

#[test]
fn a_conversion_takes_its_latest_exposure_and_keeps_the_others_in_order() {
    let m = model(
        json!([
            {"id": "a", "placements": ["hero"], "content": 1, "conversion": {"event": "buy"}},
            {"id": "b", "placements": ["grid"], "content": 1, "conversion": {"event": "view"}}
        ]),
        json!({}),
    );
    let mut e = engine(m, 1);
    let t = MIDNIGHT + 12 * HOUR;
    shown(&mut e, "grid", t);
    shown(&mut e, "hero", t + 1);
    shown(&mut e, "grid", t + 2);
    shown(&mut e, "hero", t + 3);
    shown(&mut e, "grid", t + 4);
    let buy = e.model().event("buy").unwrap();
    e.track(buy, &[Value::Number(1.0)], t + 5);
    let left: Vec<(u32, i64)> = e.profile().recent.iter().map(|r| (r.offer, r.at_ms)).collect();
    assert_eq!(left, [(1, t), (0, t + 1), (1, t + 2), (1, t + 4)]);
}

/// Exposures of offers without a conversion take no place among the 32 held for linking, and
/// when the places are full the one whose window closes first goes (analyst review: 32 home
/// views pushed out a win-back exposure whose purchase, within its window, went unreported; a
/// review of the fix: so did 32 live exposures of an hour-long banner, and exposures stamped by
/// a clock that ran ahead).
#[test]
fn exposures_that_cannot_convert_do_not_push_out_one_that_can() {
    let m = model(
        json!([
            {"id": "a", "placements": ["hero"], "content": 1, "conversion": {"event": "buy", "within_hours": 168}},
            {"id": "b", "placements": ["grid"], "content": 1},
            {"id": "c", "placements": ["side"], "content": 1, "conversion": {"event": "buy", "within_hours": 1}}
        ]),
        json!({"placements": {"hero": {"max_items": 1}, "grid": {"max_items": 1}, "side": {"max_items": 1}}}),
    );
    let buy = |e: &mut Engine, t: i64| {
        let buy = e.model().event("buy").unwrap();
        e.track(buy, &[Value::Number(1.0)], t);
        e.drain_outbox().into_iter().filter(|r| matches!(r, OutboxEvent::Conversion { .. })).count()
    };
    let t = MIDNIGHT + 8 * HOUR;
    let mut e = engine(m, 1);
    shown(&mut e, "hero", t);
    for i in 0..40 {
        shown(&mut e, "grid", t + 1 + i);
    }
    assert_eq!(e.profile().recent.len(), 1, "only the convertible exposure is held");
    // 31 exposures of `c`, then more after their one-hour window: the full list gives up those
    // past their window, not `a`'s, the oldest.
    for i in 0..31 {
        shown(&mut e, "side", t + 10 + i);
    }
    assert_eq!(e.profile().recent.len(), RECENT_EXPOSURES);
    for i in 0..5 {
        shown(&mut e, "side", t + 2 * HOUR + i);
    }
    assert_eq!(e.profile().recent.first().map(|r| r.offer), Some(0), "a's exposure stays");
    assert_eq!(buy(&mut e, t + 3 * HOUR), 2, "a converts, and the latest live c");

    // 40 live exposures of `c` within its hour: the oldest of them go, never `a`'s (whose window
    // closes last). Exposures stamped a year ahead, by a clock corrected since, cannot convert
    // before then: they go first (they held their places over the live ones for a year, and only
    // the latest live one could be linked). Stamped a few hours ahead, they count as stamped now.
    let model = e.model().clone();
    let mut e = engine(model.clone(), 2);
    shown(&mut e, "hero", t);
    for i in 0..20 {
        shown(&mut e, "side", t + 365 * DAY + i);
    }
    for i in 0..5 {
        shown(&mut e, "side", t + 5 * HOUR + i);
    }
    for i in 0..40 {
        shown(&mut e, "side", t + 60_000 * (i + 1));
    }
    let held: Vec<(u32, i64)> = e.profile().recent.iter().map(|r| (r.offer, r.at_ms)).collect();
    assert_eq!(held.first(), Some(&(0, t)));
    assert!(held.iter().all(|&(_, at)| at < t + DAY), "the year-ahead ones went first: {held:?}");
    assert_eq!(held.get(1), Some(&(2, t + 5 * HOUR)), "a few hours ahead count as now: {held:?}");
    assert_eq!(held.get(6), Some(&(2, t + 60_000 * 15)), "then the oldest of c's live ones went: {held:?}");
    assert_eq!(held.len(), RECENT_EXPOSURES);
    assert_eq!(buy(&mut e, t + 40 * 60_000 + 30_000), 2, "a converts, and the latest c");

    // A win-back stamped 2 days ahead converts once the clock gets there: it outlives exposures
    // whose window closed (a review of ranking it with them).
    let mut e = engine(model.clone(), 4);
    shown(&mut e, "hero", t + 2 * DAY);
    for i in 0..31 {
        shown(&mut e, "side", t + 10 + i);
    }
    shown(&mut e, "side", t + 2 * HOUR);
    assert_eq!(e.profile().recent.first().map(|r| (r.offer, r.at_ms)), Some((0, t + 2 * DAY)));
    assert_eq!(buy(&mut e, t + 3 * DAY), 1, "a converts on day 3");

    // A clock stepped back a few ms: exposures whose window closed go before a live one stamped
    // after `now` (a review: the win-back went, the closed ones stayed).
    let mut e = engine(model, 3);
    for i in 0..31 {
        shown(&mut e, "side", t + i);
    }
    shown(&mut e, "hero", t + 2 * HOUR + 5);
    shown(&mut e, "side", t + 2 * HOUR);
    assert_eq!(buy(&mut e, t + 2 * HOUR + 60_000), 2, "a converts, and c's latest");
}

/// The Taste of Su model: stages that read days, features, traits and segments.
fn taste_of_su() -> Model {
    crate::compile_str(include_str!("../../examples/taste-of-su/model.json")).unwrap().model
}

#[test]
fn stages_by_day_only_when_no_rule_they_read_looks_at_the_hour() {
    assert!(stages_by_day(&taste_of_su()));
    let stages = |when: serde_json::Value, extra: serde_json::Value| {
        let mut extra = extra;
        extra["lifecycle"] = json!([{"stage": "s", "when": when}, {"stage": "rest", "when": true}]);
        stages_by_day(&model(json!([]), extra))
    };
    assert!(stages(json!({">=": [{"days_since": "view"}, 3]}), json!({})));
    assert!(stages(
        json!({"segment": "a"}),
        json!({"segments": {"a": {">": [{"var": "features.views"}, 1]}}})
    ));
    assert!(!stages(json!({"<": [{"hours_since": "view"}, 3]}), json!({})));
    assert!(!stages(json!({">": [{"var": "now"}, 0]}), json!({})));
    assert!(!stages(json!({"==": [{"var": "stage"}, "s"]}), json!({})));
    // Through a segment that reads a segment that reads the hour, and through a score.
    let chain = json!({"segments": {
        "a": {"segment": "b"},
        "b": {"<": [{"hours_since": "view"}, 3]}
    }});
    assert!(!stages(json!({"segment": "a"}), chain));
    let score = |b: serde_json::Value| json!({"segments": {"b": b}, "scores": {"s": {"bias": 0, "weights": {"segments.b": 1}}}});
    assert!(!stages(json!({">": [{"score": "s"}, 0]}), score(json!({"<": [{"hours_since": "view"}, 3]}))));
    assert!(stages(json!({">": [{"score": "s"}, 0]}), score(json!({"<": [{"days_since": "view"}, 3]}))));
    // A segment read twice is looked into once.
    let twice = json!({"segments": {"a": {"and": [{"segment": "b"}, {"segment": "b"}]}, "b": true}});
    assert!(stages(json!({"or": [{"segment": "a"}, {"segment": "b"}]}), twice));
}

/// One step of a shopper's life, for the stage memo's test.
#[derive(Debug, Clone)]
enum Step {
    Wait(i64),
    Track(usize),
    Decide(usize, bool),
    Traits(Option<&'static str>, i64),
    Identify(u8),
    Consent(bool),
    Forget,
    Reload,
    Stage,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => prop::sample::select(vec![-3 * DAY, -2 * HOUR, 60_000, HOUR, 3 * HOUR, DAY, 13 * DAY, 200 * DAY]).prop_map(Step::Wait),
        2 => (0..6usize).prop_map(Step::Track),
        3 => (0..4usize, any::<bool>()).prop_map(|(p, r)| Step::Decide(p, r)),
        2 => (prop::sample::select(vec![None, Some("gold"), Some("silver")]), prop::sample::select(vec![-HOUR, 30 * 60_000, 2 * HOUR, 2 * DAY]))
            .prop_map(|(t, ttl)| Step::Traits(t, ttl)),
        1 => (0..3u8).prop_map(Step::Identify),
        1 => any::<bool>().prop_map(Step::Consent),
        1 => Just(Step::Forget),
        1 => Just(Step::Reload),
        1 => Just(Step::Stage),
    ]
}

#[test]
fn the_stage_memo_holds_only_while_the_traits_it_read_are_live() {
    let mut e = engine(taste_of_su(), 3);
    let now = MIDNIGHT + 9 * HOUR;
    e.set_traits_json(&json!({"tier": "gold"}), Some(now + 30 * 60_000)).unwrap();
    let hero = at(&e, "home_hero");
    e.decide(hero, &[], now);
    assert_eq!(e.stage(), Some("loyal"));
    e.decide(hero, &[], now + HOUR);
    assert_eq!(e.stage(), Some("anonymous"), "the gold tier expired");
}

/// Scores whose inputs a snapshot may hold but the compiler never writes (review of the stage
/// memo): the memo must not hold for them.
mod score_inputs {
    use super::*;
    use crate::compiled::slot;

    /// The model after `edit`, which snapshots refuse (decoding validates) but an engine may be
    /// given natively, not classified as reading time by the day; the stage it reaches at 15:00
    /// after a view and a decision at 09:00, with the memo and without.
    fn stages(extra: serde_json::Value, edit: impl FnOnce(&mut Model)) -> (Option<String>, Option<String>) {
        let mut m = model(json!([]), extra);
        edit(&mut m);
        assert!(m.validate().is_err_and(|e| e.contains("score input")), "{:?}", m.validate());
        assert!(crate::snapshot::decode(&crate::snapshot::encode(&m)).is_err());
        assert!(!stages_by_day(&m));
        let (mut memo, mut fresh) = (engine(m.clone(), 3), engine(m, 3));
        fresh.stages_by_day = false;
        for e in [&mut memo, &mut fresh] {
            e.track_json(&json!({"type": "view", "category": "x"}), MIDNIGHT + 9 * HOUR).unwrap();
            e.decide(0, &[Value::Null], MIDNIGHT + 9 * HOUR);
            e.decide(0, &[Value::Null], MIDNIGHT + 15 * HOUR);
        }
        (memo.stage().map(str::to_string), fresh.stage().map(str::to_string))
    }

    /// A stage reads a score whose input is `now` or `hours_in_stage` (the compiler never writes
    /// one; snapshots with one were accepted until the review of the stage memo).
    #[test]
    fn a_score_reading_now_or_the_hours_in_stage() {
        let lifecycle = json!({
            "scores": {"s": {"bias": 0, "weights": {"features.views": 1}}},
            "lifecycle": [{"stage": "late", "when": {">": [{"score": "s"}, 3]}}, {"stage": "early", "when": true}],
        });
        // `now - (MIDNIGHT + 12h)`: positive in the afternoon.
        let now = stages(lifecycle.clone(), |m| {
            m.scores[0].bias = -((MIDNIGHT + 12 * HOUR) as f64);
            m.scores[0].terms = vec![(slot::pack(slot::SPECIAL, slot::NOW as usize), 1.0)];
        });
        assert_eq!(now, (Some("late".into()), Some("late".into())));
        let hours = stages(lifecycle, |m| {
            m.scores[0].terms = vec![(slot::pack(slot::SPECIAL, slot::HOURS_IN_STAGE as usize), 1.0)];
        });
        assert_eq!(hours, (Some("late".into()), Some("late".into())));
    }

    /// A score whose input is another score that reads a segment on the hour.
    #[test]
    fn a_score_reading_a_score_that_reads_the_hour() {
        let extra = json!({
            "segments": {"recent": {"<": [{"hours_since": "view"}, 3]}},
            "scores": {
                "outer": {"bias": 0, "weights": {"features.views": 1}},
                "inner": {"bias": 0, "weights": {"segments.recent": 1}}
            },
            "lifecycle": [{"stage": "hot", "when": {">": [{"score": "outer"}, 0]}}, {"stage": "cold", "when": true}],
        });
        let (memo, fresh) = stages(extra, |m| {
            let inner = m.scores.iter().position(|s| s.name == "inner").unwrap();
            let outer = m.scores.iter().position(|s| s.name == "outer").unwrap();
            m.scores[outer].terms = vec![(slot::pack(slot::SCORE, inner), 1.0)];
        });
        assert_eq!((memo, fresh), (Some("cold".into()), Some("cold".into())));
    }
}

/// The stage memo changes nothing: an engine that evaluates the stage every time makes the same
/// decisions, explanations and segments, and reports the same stage changes, whatever the steps
/// (events, decisions, refreshes, traits expiring, consent, forget, reload, model updates) and
/// the clock (back and forward) do. The outbox is drained only now and then, so a stage also
/// settles at an older event's time before a later decision.
mod memo {
    use super::*;

    #[derive(Debug, Clone)]
    enum X {
        Base(Step),
        Explain(usize),
        Refresh(usize),
        Apply,
        Drain,
        Segments,
    }

    fn xstep() -> impl proptest::strategy::Strategy<Value = X> {
        use proptest::prelude::*;
        prop_oneof![
            8 => step().prop_map(X::Base),
            1 => (0..8usize).prop_map(X::Explain),
            1 => (0..4usize).prop_map(X::Refresh),
            1 => Just(X::Apply),
            1 => Just(X::Drain),
            1 => Just(X::Segments),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        #[test]
        fn the_stage_memo_changes_nothing(steps in proptest::collection::vec(xstep(), 1..80)) {
            let m = taste_of_su();
            let (mut memo, mut fresh) = (engine(m.clone(), 3), engine(m, 3));
            fresh.stages_by_day = false;
            let events = [
                json!({"type": "view", "category": "qipao", "product": "p", "price": 399}),
                json!({"type": "cart", "product": "p", "price": 399}),
                json!({"type": "purchase", "order": "o", "amount": 6000}),
                json!({"type": "follow", "channel": "oa"}),
                json!({"type": "signup", "channel": "mp"}),
                json!({"type": "referral", "channel": "moments"}),
            ];
            let mut version = 100;
            let mut last: Vec<Option<Decision>> = vec![None; 8];
            let mut last2: Vec<Option<Decision>> = vec![None; 8];
            let mut now = MIDNIGHT + 9 * HOUR;
            for s in steps {
                let mut outs = Vec::new();
                for (k, e) in [&mut memo, &mut fresh].into_iter().enumerate() {
                    let lastv = if k == 0 { &mut last } else { &mut last2 };
                    let ctx = vec![Value::Null; e.model().context.len()];
                    let out: Option<String> = match &s {
                        X::Base(Step::Wait(_)) => None,
                        X::Base(Step::Stage) => Some(format!("{:?}", e.stage())),
                        X::Base(Step::Track(k)) => { let _ = e.track_json(&events[*k], now); None }
                        X::Base(Step::Decide(p, record)) => {
                            let mut out = Decision::empty();
                            if *record { e.decide_into(*p, &ctx, now, &mut out); } else { e.peek_into(*p, &ctx, now, &mut out); }
                            let r = format!("{out:?}");
                            lastv[*p] = Some(out);
                            Some(r)
                        }
                        X::Base(Step::Traits(tier, ttl)) => {
                            let traits = tier.map_or(json!({}), |t| json!({"tier": t}));
                            let _ = e.set_traits_json(&traits, Some(now + ttl)); None
                        }
                        X::Base(Step::Identify(n)) => { let _ = e.identify(IdKind::External, &format!("member-{n}")); None }
                        X::Base(Step::Consent(c)) => { e.set_consent(*c); None }
                        X::Base(Step::Forget) => { e.forget(9, now); None }
                        X::Base(Step::Reload) => { let b = e.export_state(); e.import_state(&b).unwrap(); None }
                        X::Explain(o) => Some(format!("{:?}", e.explain(*o, &ctx, now))),
                        X::Refresh(p) => {
                            let shown = lastv[*p].clone().unwrap_or_else(Decision::empty);
                            let mut out = Decision::empty();
                            e.refresh_into(&shown, &ctx, now, &mut out);
                            let r = format!("{out:?}");
                            lastv[*p] = Some(out);
                            Some(r)
                        }
                        X::Apply => {
                            let mut m = e.model().clone();
                            m.version = version;
                            e.apply_model(m).unwrap();
                            None
                        }
                        X::Drain => Some(format!("{:?}", e.drain_outbox())),
                        X::Segments => Some(format!("{:?}", e.segments(&ctx, now))),
                    };
                    outs.push(out);
                }
                if let X::Apply = s { version += 1; }
                proptest::prop_assert_eq!(&outs[0], &outs[1], "{:?}", s);
                if let X::Base(Step::Wait(dt)) = s { now += dt; }
            }
            proptest::prop_assert_eq!(memo.drain_outbox(), fresh.drain_outbox());
            proptest::prop_assert_eq!(memo.export_state(), fresh.export_state());
        }
    }
}

/// Text that is not a date is said to be one that is not, and is not copied into the message:
/// hosts log messages, and a birthday's year or another date of the shopper's would go with them
/// (privacy review; an earlier version showed texts of up to 32 bytes).
#[test]
fn a_trait_date_that_is_not_one_is_not_shown() {
    let m = crate::compile_str(include_str!("../../examples/taste-of-su/model.json")).unwrap().model;
    let mut e = Engine::new(m, 5);
    e.set_consent(true);
    // A birthday with its year (which the profile never keeps) stays out of the message.
    for text in ["1996-02-30", "02-30", "1996-13-45 Nancy Wang"] {
        let err = e.set_traits_json(&json!({"birthday": text}), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "traits.birthday: expected a date `YYYY-MM-DD` or `MM-DD`, got a string that is not one"
        );
    }
    let err = e.set_traits_json(&json!({"birthday": 7}), None).unwrap_err();
    assert!(err.to_string().ends_with("got a number"), "{err}");
}

/// Consent given again (a page that calls `setConsent(true)` on every start) keeps the stage
/// change the latest event calls for: it is still reported, stamped with the event's time.
#[test]
fn consent_given_again_keeps_the_pending_stage_change() {
    let lifecycle = json!([
        {"stage": "viewer", "when": {">=": [{"var": "features.views"}, 1]}},
        {"stage": "visitor", "when": true}
    ]);
    let mut e = engine(model(json!([]), json!({"lifecycle": lifecycle})), 1);
    let hero = at(&e, "hero");
    e.decide(hero, &[Value::Null], MIDNIGHT + 20 * HOUR);
    e.drain_outbox();
    let (view, props) = input::event(e.model(), &json!({"type": "view", "category": "qipao"})).unwrap();
    e.track(view, &props, MIDNIGHT + 20 * HOUR + 60_000);
    e.set_consent(true);
    assert_eq!(e.stage(), Some("viewer"));
    let changes: Vec<_> =
        e.drain_outbox().into_iter().filter(|x| matches!(x, OutboxEvent::StageChanged { .. })).collect();
    assert_eq!(
        changes,
        [OutboxEvent::StageChanged {
            from: Some("visitor".into()),
            to: "viewer".into(),
            at: MIDNIGHT + 20 * HOUR + 60_000
        }]
    );
}

/// Without consent the global caps neither count nor hold: a placement shows all the offers
/// that need no consent, up to its `max_items`, however many decisions came before.
#[test]
fn global_caps_do_not_hold_a_decision_without_consent() {
    let offer = |id: &str| json!({"id": id, "placements": ["grid"], "requires_consent": false, "content": 1});
    let m = model(json!([offer("a"), offer("b"), offer("c")]), json!({"caps": [{"max": 1, "days": 1}]}));
    let mut e = Engine::new(m, 1);
    for k in 0..3 {
        assert_eq!(shown(&mut e, "grid", MIDNIGHT + 12 * HOUR + k), ["a", "b", "c"]);
    }
    // With consent, the cap holds: one exposure a day across offers.
    e.set_consent(true);
    assert_eq!(shown(&mut e, "grid", MIDNIGHT + 13 * HOUR), ["a"]);
    assert!(shown(&mut e, "grid", MIDNIGHT + 14 * HOUR).is_empty());
}

/// Every feature's `where` sees the profile from before the event, whatever order the features
/// are declared in: a feature declared before, whose filter reads the same segment, changes
/// nothing (review: it did, as that filter's read of the segment was remembered for the others).
#[test]
fn a_where_sees_the_profile_before_the_event_in_any_feature_order() {
    let counted = |with_c_first: bool| {
        let mut features = serde_json::Map::new();
        let where_s = json!({"segment": "s"});
        if with_c_first {
            features.insert("c".into(), json!({"event": "view", "agg": "count", "where": where_s}));
        }
        features.insert("a".into(), json!({"event": "view", "agg": "count"}));
        features.insert("b".into(), json!({"event": "view", "agg": "count", "where": where_s}));
        let extra = json!({"features": features, "segments": {"s": {">=": [{"var": "features.a"}, 2]}}});
        let mut e = engine(model(json!([]), extra), 1);
        let (view, props) = input::event(e.model(), &json!({"type": "view", "category": "qipao"})).unwrap();
        let mut b = Vec::new();
        for k in 0..4 {
            e.track(view, &props, MIDNIGHT + 12 * HOUR + k);
            let now = MIDNIGHT + 13 * HOUR;
            b.push(e.features(now).into_iter().find(|(n, _)| *n == "b").and_then(|(_, v)| v));
        }
        b
    };
    // The third view is the first seen with two views before it.
    let want = [Some(0.0), Some(0.0), Some(1.0), Some(2.0)];
    assert_eq!(counted(false), want);
    assert_eq!(counted(true), want);

    // The event type's own times too: the first view ever is not a repeat view.
    let repeat = json!({"event": "view", "agg": "count", "where": {"!==": [{"hours_since": "view"}, null]}});
    let mut e = engine(model(json!([]), json!({"features": {"repeat": repeat}})), 1);
    let (view, props) = input::event(e.model(), &json!({"type": "view", "category": "qipao"})).unwrap();
    let mut counts = Vec::new();
    for k in 0..2 {
        e.track(view, &props, MIDNIGHT + 12 * HOUR + k);
        counts.push(
            e.features(MIDNIGHT + 13 * HOUR).into_iter().find_map(|(n, v)| (n == "repeat").then_some(v)),
        );
    }
    assert_eq!(counts, [Some(Some(0.0)), Some(Some(1.0))]);
}

/// Traits set after an event leave the stage change that event calls for to it, stamped with
/// its time; the change the traits cause comes at the next read (review: the event's change was
/// lost, and the traits' stamped before they came).
#[test]
fn traits_after_an_event_keep_its_stage_change() {
    let lifecycle = json!([
        {"stage": "vip", "when": {"==": [{"var": "traits.tier"}, "gold"]}},
        {"stage": "viewer", "when": {">=": [{"var": "features.views"}, 1]}},
        {"stage": "visitor", "when": true}
    ]);
    let extra = json!({"lifecycle": lifecycle, "traits": {"tier": "string"}});
    let mut e = engine(model(json!([]), extra), 1);
    let hero = at(&e, "hero");
    e.decide(hero, &[Value::Null], MIDNIGHT + 20 * HOUR);
    e.drain_outbox();
    let (view, props) = input::event(e.model(), &json!({"type": "view", "category": "qipao"})).unwrap();
    let t1 = MIDNIGHT + 20 * HOUR + 60_000;
    e.track(view, &props, t1);
    e.set_traits_json(&json!({"tier": "gold"}), None).unwrap();
    let t3 = MIDNIGHT + 21 * HOUR;
    e.decide(hero, &[Value::Null], t3);
    let changes: Vec<_> =
        e.drain_outbox().into_iter().filter(|x| matches!(x, OutboxEvent::StageChanged { .. })).collect();
    let change =
        |from: &str, to: &str, at| OutboxEvent::StageChanged { from: Some(from.into()), to: to.into(), at };
    assert_eq!(changes, [change("visitor", "viewer", t1), change("viewer", "vip", t3)]);
}

/// An event tracked late, with a time before the last decision (a host replaying a queue),
/// settles the stage as of that decision: no change stamped before the one already reported,
/// and none reverted at the next decision (core review).
#[test]
fn a_late_event_settles_the_stage_as_of_the_last_decision() {
    let lifecycle = json!([
        {"stage": "recent", "when": {"<": [{"hours_since": "view"}, 1]}},
        {"stage": "visitor", "when": true}
    ]);
    let mut e = engine(model(json!([]), json!({"lifecycle": lifecycle})), 1);
    let hero = at(&e, "hero");
    let (view, props) = input::event(e.model(), &json!({"type": "view", "category": "qipao"})).unwrap();
    e.track(view, &props, MIDNIGHT + 10 * HOUR);
    e.decide(hero, &[Value::Null], MIDNIGHT + 10 * HOUR + 60_000);
    e.decide(hero, &[Value::Null], MIDNIGHT + 12 * HOUR);
    // Late: half an hour after the first view, before the decision at noon.
    e.track(view, &props, MIDNIGHT + 10 * HOUR + 30 * 60_000);
    assert_eq!(e.stage(), Some("visitor"));
    e.decide(hero, &[Value::Null], MIDNIGHT + 12 * HOUR + 60_000);
    let changes: Vec<_> = e
        .drain_outbox()
        .into_iter()
        .filter_map(|x| match x {
            OutboxEvent::StageChanged { to, at, .. } => Some((to, at)),
            _ => None,
        })
        .collect();
    assert_eq!(changes, [("recent".into(), MIDNIGHT + 10 * HOUR), ("visitor".into(), MIDNIGHT + 12 * HOUR)]);
}

/// The same across a restart (final review: the time of the last evaluation is not stored, and
/// a late event after an import was stamped before a change already reported): an imported
/// profile's stage time stands in for it. And one decision at a wrong clock, a year ahead, holds
/// only until the next decision at the right one: later events settle at their own times.
#[test]
fn a_late_event_after_a_restart_and_a_clock_set_back() {
    let lifecycle = json!([
        {"stage": "recent", "when": {"<": [{"hours_since": "view"}, 1]}},
        {"stage": "visitor", "when": true}
    ]);
    let m = model(json!([]), json!({"lifecycle": lifecycle}));
    let mut e = engine(m.clone(), 1);
    let hero = at(&e, "hero");
    let (view, props) = input::event(e.model(), &json!({"type": "view", "category": "qipao"})).unwrap();
    let changes = |e: &mut Engine| -> Vec<(String, i64)> {
        e.drain_outbox()
            .into_iter()
            .filter_map(|x| match x {
                OutboxEvent::StageChanged { to, at, .. } => Some((to, at)),
                _ => None,
            })
            .collect()
    };
    e.track(view, &props, MIDNIGHT + 10 * HOUR);
    e.decide(hero, &[Value::Null], MIDNIGHT + 10 * HOUR + 60_000);
    e.decide(hero, &[Value::Null], MIDNIGHT + 12 * HOUR);
    e.drain_outbox();
    let mut restarted = engine(m, 1);
    restarted.import_state(&e.export_state()).unwrap();
    restarted.track(view, &props, MIDNIGHT + 10 * HOUR + 30 * 60_000);
    assert_eq!(restarted.stage(), Some("visitor"));
    restarted.decide(hero, &[Value::Null], MIDNIGHT + 12 * HOUR + 60_000);
    assert_eq!(changes(&mut restarted), []);

    // A decision a year ahead, then the clock set right.
    let year = 365 * 24 * HOUR;
    restarted.decide(hero, &[Value::Null], MIDNIGHT + 13 * HOUR + year);
    restarted.decide(hero, &[Value::Null], MIDNIGHT + 13 * HOUR);
    changes(&mut restarted);
    restarted.track(view, &props, MIDNIGHT + 14 * HOUR);
    assert_eq!(restarted.stage(), Some("recent"));
    assert_eq!(changes(&mut restarted), [("recent".to_string(), MIDNIGHT + 14 * HOUR)]);
}

/// A reset keeps the erasure requests waiting in the profile it drops, and only them: the
/// shopper who consented since is not asked about (final review).
#[test]
fn take_erasures_takes_only_the_forgotten_requests() {
    let m = model(json!([]), json!({}));
    let mut old = engine(m.clone(), 1);
    let anonymous = old.profile().pid().to_string();
    old.forget(2, MIDNIGHT);
    old.set_consent(true);
    old.identify(IdKind::Phone, "13800138000").unwrap();
    old.decide(at(&old, "hero"), &[Value::Null], MIDNIGHT + HOUR);
    let mut fresh = Engine::new(m, 3);
    fresh.take_erasures(&old.export_state()).unwrap();
    let install = anonymous.clone();
    assert_eq!(
        fresh.drain_outbox(),
        [OutboxEvent::Forgotten { pid: anonymous, install, decisions: ERASE_ALL, at: MIDNIGHT }]
    );
    assert!(!fresh.profile().consent);
    assert!(fresh.take_erasures(b"not state").is_err());
}
