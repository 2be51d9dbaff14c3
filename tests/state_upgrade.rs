//! State written by the format-1 build (before signed traits were stored as tokens) still loads:
//! a device keeps its profile across the upgrade. The fixture `tests/fixtures/state/v1-taste-of-su.kst`
//! was exported by commit d06df5c from the Taste of Su model: install id `000000000000c0de`,
//! consent, a follow and five qipao views from 2026-11-20T12:00+08:00, unsigned traits
//! `{"hipo": true, "tier": "gold", "birthday": "03-14"}` valid 30 days, the phone 13800138000
//! identified, and three `home_hero` decisions a day apart, undrained.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code: a panic is a test failure")]

use kairos::outbox::OutboxEvent;
use kairos::profile::{StoredState, STATE_FORMAT};
use kairos::sign::{SecretKey, Trust};
use kairos::{Engine, Model};

const V1: &[u8] = include_bytes!("fixtures/state/v1-taste-of-su.kst");
/// 2026-11-20T12:00:00+08:00, the fixture's first event.
const T0: i64 = 1_795_147_200_000;

fn model() -> Model {
    kairos::compile_str(include_str!("../examples/taste-of-su/model.json")).unwrap().model
}

#[test]
fn format_1_state_loads_with_its_whole_profile() {
    assert_eq!(&V1[..6], b"KST8\x01\x00", "the fixture is format 1");
    let mut e = Engine::new(model(), 1);
    e.import_state(V1).unwrap();
    let p = e.profile();
    assert!(p.consent);
    assert_eq!(p.install_id, 0xc0de);
    assert_eq!(p.ids.len(), 1, "the phone's hash");
    assert_ne!(p.pid(), "000000000000c0de", "the pid is the phone's, not the install's");
    assert_eq!(p.seq, 3, "three decisions");
    let outbox = e.outbox();
    assert_eq!(outbox.len(), 4, "{outbox:?}");
    assert!(matches!(&outbox[0], OutboxEvent::StageChanged { from: None, to, .. } if to == "loyal"));
    assert!(outbox[1..]
        .iter()
        .all(|x| matches!(x, OutboxEvent::Exposure { offer, .. } if offer == "brand_story")));
    assert_eq!(e.stage(), Some("loyal"));
    let views = e.features(T0 + 86_400_000).into_iter().find(|(n, _)| *n == "qipao_views_7d").unwrap().1;
    assert_eq!(views, Some(5.0));
    // No token keys: its unsigned traits count, as they did.
    assert!(e.segments(&[], T0 + 86_400_000).contains(&"hipo"));

    // Written back in the current format, and read again to the same profile.
    let v2 = e.export_state();
    assert_eq!(u16::from_le_bytes([v2[4], v2[5]]), STATE_FORMAT);
    let mut again = Engine::new(model(), 2);
    again.import_state(&v2).unwrap();
    assert_eq!(again.profile(), e.profile());
    assert_eq!(StoredState::decode(&v2).unwrap().traits_token, None);
}

/// Format 2 (before recent exposures kept whether they were held out):
/// `tests/fixtures/state/v2-winback-control.kst`, exported by commit 235b9c6 from the Taste of Su
/// model: install id `000000000000c0e9`, consent, a purchase at T0, then 200 days later a
/// `home_hero` decision that held the shopper out of `winback` (its control group, 10 %).
const V2: &[u8] = include_bytes!("fixtures/state/v2-winback-control.kst");

#[test]
fn format_2_state_loads_and_its_held_out_exposure_converts_as_control() {
    assert_eq!(&V2[..6], b"KST8\x02\x00", "the fixture is format 2");
    let later = T0 + 200 * 86_400_000;
    let convert = |model: Model| {
        let mut e = Engine::new(model, 1);
        e.import_state(V2).unwrap();
        assert_eq!((e.profile().install_id, e.profile().seq, e.stage()), (0xc0e9, 1, Some("lapsed")));
        e.drain_outbox();
        e.track_json(&serde_json::json!({"type": "purchase", "order": "o2", "amount": 1}), later + 3_600_000)
            .unwrap();
        let out = e.drain_outbox();
        let controls: Vec<bool> = out
            .iter()
            .filter_map(|x| match x {
                OutboxEvent::Conversion { offer, control, .. } if offer == "winback" => Some(*control),
                _ => None,
            })
            .collect();
        (controls, e)
    };
    // Format 2 did not keep the flag: the offer's stored assignment gives it.
    let (controls, mut e) = convert(model());
    assert_eq!(controls, [true]);
    // Written back in format 3, which keeps it.
    let v3 = e.export_state();
    assert_eq!(u16::from_le_bytes([v3[4], v3[5]]), STATE_FORMAT);
    assert_eq!(StoredState::decode(&v3).unwrap().recent_control, Some(0), "the recent exposure converted");
    let mut fresh = Engine::new(model(), 1);
    fresh.import_state(V2).unwrap();
    let v3 = fresh.export_state();
    assert_eq!(StoredState::decode(&v3).unwrap().recent_control, Some(1));
    let mut again = Engine::new(model(), 2);
    again.import_state(&v3).unwrap();
    assert_eq!(again.profile(), fresh.profile());
}

#[test]
fn format_1_unsigned_traits_do_not_count_on_an_engine_that_trusts_token_keys() {
    let mut e = Engine::new(model(), 1);
    e.set_trust(Trust::key(SecretKey::from_seed(&[42; 32]).public()));
    e.import_state(V1).unwrap();
    assert!(e.profile().consent && e.profile().seq == 3, "the rest of the profile is restored");
    assert!(!e.segments(&[], T0 + 86_400_000).contains(&"hipo"));
    assert!(e.profile().traits.iter().all(|t| *t == kairos::logic::Value::Null));
}

#[test]
fn other_format_versions_are_refused_by_name() {
    for version in [0u16, STATE_FORMAT + 1] {
        let mut bytes = V1.to_vec();
        bytes[4..6].copy_from_slice(&version.to_le_bytes());
        let err = StoredState::decode(&bytes).unwrap_err().to_string();
        assert!(err.contains(&format!("format version {version} is not supported")), "{err}");
    }
}
