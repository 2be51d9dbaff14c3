//! State written straight from a profile ([`Profile::export`], [`Profile::remodel`]) against the
//! reference path through [`StoredState`].

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use serde_json::json;

use super::*;
use crate::profile::identity::IdKind;

const EXAMPLE: &str = include_str!("../../examples/taste-of-su/model.json");
/// 2026-11-20T12:00:00+08:00.
const T0: i64 = 1_795_147_200_000;
const DAY: i64 = 86_400_000;

fn example() -> Model {
    crate::compile_str(EXAMPLE).unwrap().model
}

/// A busy session's profile and outbox on `model`, as state import rebuilds them.
fn session(model: &Model, seed: u64) -> (Profile, Outbox) {
    let mut e = crate::Engine::new(model.clone(), 0xfeed ^ seed);
    e.set_consent(true);
    e.identify(IdKind::Phone, "+8613800138000").unwrap();
    e.identify(IdKind::Email, "A@B.cn").unwrap();
    e.set_traits_json(&json!({"tier": "silver", "hipo": true, "crm_segments": ["a", "b"]}), Some(T0))
        .unwrap();
    let ctx = crate::engine::input::context(model, &json!({"page": "home"})).unwrap();
    for (ev, t) in crate::synth::shopper_events(seed, 40, 12, T0 - 40 * DAY) {
        let _ = e.track_json(&ev, t);
        if t % 5 == 0 {
            (0..model.placements.len()).for_each(|p| drop(e.decide(p, &ctx, t)));
        }
    }
    Profile::from_stored(StoredState::decode(&e.export_state()).unwrap(), model)
}

/// `export` writes the reference bytes, and `remodel` rebuilds what the reference path does.
fn same_as_reference(p: &Profile, outbox: &Outbox, model: &Model, new: &Model) {
    let reference = p.to_stored(model, outbox);
    assert_eq!(p.export(model, outbox), reference.encode());
    assert_eq!(p.remodel(model, outbox, new), Profile::from_stored(reference, new));
}

#[test]
fn export_and_remodel_match_the_stored_state_path() {
    let model = example();
    let mut newer = model.clone();
    newer.features.reverse();
    newer.offers.truncate(newer.offers.len() / 2);
    newer.traits.retain(|(name, _)| name != "hipo");
    for seed in 0..4 {
        let (p, outbox) = session(&model, seed);
        assert!(p.offers.iter().any(|o| o.assignment.is_some()), "the session assigns offers");
        same_as_reference(&p, &outbox, &model, &model);
        same_as_reference(&p, &outbox, &model, &newer);
    }
}

#[test]
fn export_matches_on_edge_values() {
    let model = example();
    let (mut p, outbox) = session(&model, 7);
    let empty = Profile::new(&model, 3);
    same_as_reference(&empty, &Outbox::default(), &model, &model);
    // Every trait value kind, lists with non-strings (left out), and values never stored.
    let values = [
        Value::Bool(false),
        Value::Number(-0.0),
        Value::Number(f64::NAN),
        Value::String("金牌".into()),
        Value::Array(vec![Value::String("a".into()), Value::Number(1.0), Value::String(String::new())]),
        Value::Array(vec![]),
        Value::Null,
        Value::Object(Default::default()),
    ];
    for (slot, v) in p.traits.iter_mut().zip(values.iter().cycle()) {
        *slot = v.clone();
    }
    // A stage, a variant and a recent offer that the model does not have.
    p.stage = Some((999, T0));
    if let Some(o) = p.offers.iter_mut().find(|o| o.assignment.is_some()) {
        o.assignment = Some(Assignment::Treatment(Some(999)));
    }
    p.recent.push(Recent { decision: u64::MAX, offer: 999, at_ms: i64::MIN, control: true });
    let reference = p.to_stored(&model, &outbox);
    assert_eq!(p.export(&model, &outbox), reference.encode());
    // A stage a model update removed is written where the stage goes.
    p.stage_gone = Some(("removed".into(), T0));
    assert_eq!(p.export(&model, &outbox), p.to_stored(&model, &outbox).encode());
    assert_eq!(p.to_stored(&model, &outbox).stage, Some(("removed".into(), T0)));
    // Signed traits: only the token is written.
    p.traits_token = Some("kt1.payload.signature".into());
    assert_eq!(p.export(&model, &outbox), p.to_stored(&model, &outbox).encode());
}

proptest::proptest! {
    /// `insert_at` (pushed, then the tail moved up by `copy_within`) leaves what `Vec::insert` would, and
    /// appends for an index past the end.
    #[test]
    fn insert_at_is_vec_insert(v in proptest::collection::vec(0u8..255, 0..12), i in 0usize..16, x in 0u8..255) {
        let mut got = v.clone();
        insert_at(&mut got, i, x);
        let mut want = v;
        want.insert(i.min(want.len()), x);
        proptest::prop_assert_eq!(got, want);
    }
}
