//! Signed snapshots and signed trait tokens: tampering of every kind is rejected, the running
//! model keeps serving, and the error says why.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

use kairos::codec::{HEADER_LEN, SIGNATURE_LEN};
use kairos::profile::{StoredState, StoredTrait};
use kairos::sign::{SecretKey, Trust};
use kairos::snapshot::{self, SnapshotError};
use kairos::token::{self, Claims, TokenError};
use kairos::{Engine, Model};
use proptest::prelude::*;
use serde_json::json;

/// 2026-11-20T12:00:00+08:00.
const T0: i64 = 1_795_147_200_000;
const DAY: i64 = 86_400_000;

fn model(version: u32) -> Model {
    static BASE: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
    let mut m = BASE.get_or_init(|| compile(1)).clone();
    m.version = version;
    m
}

fn compile(version: u32) -> Model {
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../examples/taste-of-su/model.json")).unwrap();
    json["meta"]["version"] = json!(version);
    kairos::compile_str(&json.to_string()).unwrap().model
}

fn key() -> SecretKey {
    SecretKey::from_seed(&[42; 32])
}

fn engine_v2() -> Engine {
    let mut e = Engine::new(model(2), 1);
    e.set_trust(Trust::key(key().public()));
    e
}

/// Applies `bytes` to a v2 engine; the engine must keep v2 whatever happens.
fn apply(bytes: &[u8]) -> Result<(), SnapshotError> {
    let mut e = engine_v2();
    let r = e.apply_signed_snapshot(bytes);
    if r.is_err() {
        assert_eq!(e.model().version, 2, "a rejected snapshot replaced the model");
    }
    r
}

#[test]
fn a_signed_newer_snapshot_is_applied() {
    let bytes = snapshot::encode_signed(&compile(2), &key());
    let e = Engine::from_signed_snapshot(&bytes, Trust::key(key().public()), 1).unwrap();
    assert_eq!(e.model(), &model(2));
    let v3 = snapshot::encode_signed(&model(3), &key());
    let mut e = engine_v2();
    e.apply_signed_snapshot(&v3).unwrap();
    assert_eq!(e.model().version, 3);
    let v = snapshot::verify(&v3, &Trust::key(key().public())).unwrap();
    assert_eq!(v.key, Some(0));
    // Signed snapshots still decode for tools, and their parts are visible.
    assert_eq!(snapshot::decode(&v3).unwrap().version, 3);
    let parts = snapshot::parts(&v3).unwrap();
    assert!(parts.signed);
    assert_eq!(parts.body_len + HEADER_LEN + SIGNATURE_LEN, v3.len());
}

#[test]
fn every_bit_flip_in_header_body_and_signature_is_rejected() {
    let v3 = snapshot::encode_signed(&model(3), &key());
    let positions: Vec<usize> = (0..HEADER_LEN)
        .chain((HEADER_LEN..v3.len() - SIGNATURE_LEN).step_by(13))
        .chain(v3.len() - SIGNATURE_LEN..v3.len())
        .collect();
    for i in positions {
        for bit in [0, 7] {
            let mut bad = v3.clone();
            bad[i] ^= 1 << bit;
            assert!(apply(&bad).is_err(), "flip of bit {bit} at byte {i} accepted");
        }
    }
}

#[test]
fn a_resealed_body_change_fails_the_signature() {
    // An attacker who fixes up the checksum still cannot forge the signature.
    let v3 = snapshot::encode_signed(&model(3), &key());
    let mut bad = v3.clone();
    let body_end = v3.len() - SIGNATURE_LEN;
    bad[body_end - 3] ^= 0x01;
    let sum = kairos::codec::sha256(&bad[HEADER_LEN..body_end]);
    bad[16..48].copy_from_slice(&sum);
    assert_eq!(apply(&bad).unwrap_err(), SnapshotError::BadSignature { keys: 1 });
    // Changing the model version in the header is covered by the signature too.
    let mut bad = v3.clone();
    bad[8] = 9;
    assert_eq!(apply(&bad).unwrap_err(), SnapshotError::BadSignature { keys: 1 });
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    let v3 = snapshot::encode_signed(&model(3), &key());
    for n in (0..v3.len()).step_by(5).chain(v3.len() - SIGNATURE_LEN..v3.len()) {
        assert!(apply(&v3[..n]).is_err(), "truncation to {n} accepted");
    }
    let mut longer = v3.clone();
    longer.push(0);
    assert!(apply(&longer).is_err());
    // Stripping the signature and clearing the flag makes an unsigned snapshot: refused.
    let mut stripped = v3[..v3.len() - SIGNATURE_LEN].to_vec();
    stripped[6] = 0;
    assert_eq!(apply(&stripped).unwrap_err(), SnapshotError::Unsigned);
}

#[test]
fn rollback_wrong_key_and_unsigned_are_refused_with_reasons() {
    let old = snapshot::encode_signed(&model(1), &key());
    assert_eq!(
        apply(&old).unwrap_err().to_string(),
        "snapshot version 1 is not newer than the running version 2"
    );
    let same = snapshot::encode_signed(&model(2), &key());
    assert_eq!(apply(&same).unwrap_err(), SnapshotError::NotNewer { offered: 2, running: 2 });
    let mallory = SecretKey::from_seed(&[13; 32]);
    let forged = snapshot::encode_signed(&model(9), &mallory);
    assert_eq!(
        apply(&forged).unwrap_err().to_string(),
        "snapshot signature does not verify against the 1 trusted key(s): the bytes were changed or signed with another key"
    );
    let unsigned = snapshot::encode(&model(9));
    assert_eq!(
        apply(&unsigned).unwrap_err().to_string(),
        "snapshot is unsigned, and this engine accepts only signed snapshots"
    );
    let mut e = engine_v2();
    e.set_trust(Trust { allow_unsigned: true, ..Trust::key(key().public()) });
    e.apply_signed_snapshot(&unsigned).unwrap();
    assert_eq!(e.model().version, 9);
}

#[test]
fn key_rotation_trusts_either_key() {
    let next = SecretKey::from_seed(&[77; 32]);
    let mut trust = Trust::key(key().public());
    trust.snapshot_keys.push(next.public());
    let mut e = Engine::from_signed_snapshot(&snapshot::encode_signed(&model(1), &key()), trust, 3).unwrap();
    e.apply_signed_snapshot(&snapshot::encode_signed(&model(2), &next)).unwrap();
    assert_eq!(e.model().version, 2);
    assert!(Engine::from_signed_snapshot(&snapshot::encode(&model(1)), Trust::default(), 3).is_err());
    assert!(Engine::from_signed_snapshot(&snapshot::encode(&model(1)), Trust::development(), 3).is_ok());
    // A cold start cannot go below the newest version the device applied.
    let floor = Trust { min_version: 2, ..Trust::key(key().public()) };
    let old = snapshot::encode_signed(&model(1), &key());
    assert_eq!(
        Engine::from_signed_snapshot(&old, floor.clone(), 3).unwrap_err().to_string(),
        "snapshot version 1 is older than version 2, the newest this device has applied"
    );
    let same = snapshot::encode_signed(&model(2), &key());
    assert_eq!(Engine::from_signed_snapshot(&same, floor, 3).unwrap().model().version, 2);
}

fn claims(e: &Engine, traits: serde_json::Value) -> Claims {
    let traits = token::traits_from_json(&traits).unwrap();
    Claims { sub: e.profile().pid().to_string(), iat: T0, exp: T0 + 7 * DAY, traits }
}

#[test]
fn signed_traits_count_only_when_valid() {
    let mut e = engine_v2();
    e.set_consent(true);
    let good = token::sign(&claims(&e, json!({"hipo": true, "tier": "gold"})), &key());
    assert!(!e.segments(&[], T0).contains(&"hipo"));
    e.set_traits_token(&good, T0 + DAY).unwrap();
    assert!(e.segments(&[], T0 + DAY).contains(&"hipo"));
    assert_eq!(e.profile().traits_expire_ms, Some(T0 + 7 * DAY));

    // Refusals keep the current traits.
    let mut other = claims(&e, json!({"tier": "platinum"}));
    other.sub = "someone-else".into();
    let wrong_user = token::sign(&other, &key());
    let err = e.set_traits_token(&wrong_user, T0).unwrap_err();
    assert!(matches!(err, TokenError::WrongUser { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("trait token is for user `someone-else`, but this shopper is `{}`", e.profile().pid())
    );
    assert_eq!(
        e.set_traits_token(&good, T0 + 7 * DAY).unwrap_err(),
        TokenError::Expired { exp: T0 + 7 * DAY, now: T0 + 7 * DAY }
    );
    let forged = token::sign(&claims(&e, json!({"tier": "vip"})), &SecretKey::from_seed(&[5; 32]));
    assert_eq!(e.set_traits_token(&forged, T0).unwrap_err(), TokenError::BadSignature { keys: 1 });
    let unknown = token::sign(&claims(&e, json!({"no_such_trait": 1})), &key());
    assert!(matches!(e.set_traits_token(&unknown, T0), Err(TokenError::Traits(_))));
    // A shopper editing the payload breaks the signature.
    let (head, sig) = good.rsplit_once('.').unwrap();
    let payload = kairos::sign::b64_encode(&kairos::codec::to_bytes(&claims(&e, json!({"tier": "vip"}))));
    let edited = format!("kt1.{payload}.{sig}");
    assert_ne!(head, format!("kt1.{payload}"));
    assert!(matches!(e.set_traits_token(&edited, T0), Err(TokenError::BadSignature { .. })));
    assert!(e.segments(&[], T0 + DAY).contains(&"hipo"), "the good traits stayed");

    let mut no_consent = engine_v2();
    assert_eq!(no_consent.set_traits_token(&good, T0).unwrap_err(), TokenError::NoConsent);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_and_tokens_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        text in ".{0,200}",
    ) {
        let trust = Trust::key(key().public());
        let _ = snapshot::verify(&bytes, &trust);
        let _ = snapshot::parts(&bytes);
        let _ = token::verify(&text, &trust.token_keys, T0);
        let _ = token::verify(&format!("kt1.{text}"), &trust.token_keys, T0);
    }

    #[test]
    fn a_stored_token_grants_nothing_unless_it_verifies(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        text in ".{0,300}",
    ) {
        let (_, state) = state_with_signed_traits();
        let good = StoredState::decode(&state).unwrap().traits_token.unwrap();
        let mut bytes = good.clone().into_bytes();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let edited_token = String::from_utf8_lossy(&bytes).into_owned();
        for token in [edited_token, text.clone(), format!("kt1.{text}")] {
            if token.trim() == good {
                continue;
            }
            let forged = edited(&state, |s| s.traits_token = Some(token.clone()));
            let mut e = engine_v2();
            prop_assert!(e.import_state(&forged).is_ok());
            prop_assert!(!has_hipo(&mut e), "token {token:?} granted a trait");
            prop_assert!(e.profile().consent, "the rest of the state stays");
        }
    }

    #[test]
    fn mutated_signed_snapshots_are_rejected(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let good = signed_v3();
        let mut bytes = good.clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if bytes != good {
            prop_assert!(apply(&bytes).is_err());
        }
    }
}

fn signed_v3() -> Vec<u8> {
    static V3: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    V3.get_or_init(|| snapshot::encode_signed(&model(3), &key())).clone()
}

/// Exported state of a consenting v2 engine whose traits came from a good token.
fn state_with_signed_traits() -> (Engine, Vec<u8>) {
    let mut e = engine_v2();
    e.set_consent(true);
    e.track_json(&json!({"type": "view", "category": "qipao"}), T0).unwrap();
    let good = token::sign(&claims(&e, json!({"hipo": true, "tier": "gold"})), &key());
    e.set_traits_token(&good, T0).unwrap();
    let state = e.export_state();
    (e, state)
}

fn edited(state: &[u8], edit: impl FnOnce(&mut StoredState)) -> Vec<u8> {
    let mut s = StoredState::decode(state).unwrap();
    edit(&mut s);
    s.encode()
}

fn has_hipo(e: &mut Engine) -> bool {
    e.segments(&[], T0 + DAY).contains(&"hipo")
}

#[test]
fn stored_signed_traits_are_proved_again_on_import() {
    let (e, state) = state_with_signed_traits();
    let stored = StoredState::decode(&state).unwrap();
    assert!(stored.traits.is_empty(), "signed traits are stored as their token only");
    assert!(stored.traits_token.as_deref().is_some_and(|t| t.starts_with("kt1.")));

    let mut copy = engine_v2();
    copy.import_state(&state).unwrap();
    assert!(has_hipo(&mut copy));
    assert_eq!(copy.profile(), e.profile(), "a good token restores the traits as they were");
    assert_eq!(copy.export_state(), state);
}

#[test]
fn edited_stored_traits_grant_nothing() {
    let (_, state) = state_with_signed_traits();
    let vip = |s: &mut StoredState| {
        s.traits = vec![
            ("tier".into(), StoredTrait::String("vip".into())),
            ("hipo".into(), StoredTrait::Bool(true)),
        ];
    };
    let other_key = SecretKey::from_seed(&[5; 32]);
    let forgeries = [
        // Plain traits instead of the token, as an edit of the device's storage would write them.
        edited(&state, |s| {
            s.traits_token = None;
            vip(s);
        }),
        // A token signed by another key.
        edited(&state, |s| {
            let c = Claims {
                sub: engine_v2().profile().pid().into(),
                iat: T0,
                exp: T0 + 7 * DAY,
                traits: token::traits_from_json(&json!({"hipo": true})).unwrap(),
            };
            s.traits_token = Some(token::sign(&c, &other_key));
        }),
        // Another shopper's genuine token: her pid, not this install's.
        edited(&state, |s| s.install_id = 7),
        // The token cut short.
        edited(&state, |s| {
            let t = s.traits_token.take().unwrap();
            s.traits_token = Some(t[..t.len() - 4].to_string());
        }),
    ];
    for (i, bytes) in forgeries.iter().enumerate() {
        let mut e = engine_v2();
        e.import_state(bytes).unwrap_or_else(|err| panic!("forgery {i}: {err}"));
        assert!(!has_hipo(&mut e), "forgery {i} granted a signed trait");
        assert!(e.profile().traits.iter().all(|t| *t == kairos::logic::Value::Null), "forgery {i}");
        assert_eq!(e.profile().traits_token, None, "forgery {i}");
        assert!(
            e.profile().consent && e.profile().events.iter().any(Option::is_some),
            "forgery {i}: the rest stays"
        );
    }

    // A rotated token key: the old token no longer counts, the behavioural profile stays.
    let mut rotated = Engine::new(model(2), 1);
    rotated.set_trust(Trust::key(other_key.public()));
    rotated.import_state(&state).unwrap();
    assert!(!has_hipo(&mut rotated) && rotated.profile().consent);
}

#[test]
fn unsigned_traits_need_a_host_that_allows_them_once_tokens_are_trusted() {
    let traits = json!({"hipo": true});
    let mut signed = engine_v2();
    signed.set_consent(true);
    let err = signed.set_traits_json(&traits, None).unwrap_err();
    assert_eq!(err, kairos::engine::InputError::UnsignedTraits);
    assert!(err.to_string().contains("signed token"), "{err}");
    assert!(!has_hipo(&mut signed));

    // A brand that does not sign traits: the host supplies them.
    let mut plain = Engine::new(model(2), 1);
    plain.set_consent(true);
    plain.set_traits_json(&traits, None).unwrap();
    assert!(has_hipo(&mut plain));
    let plain_state = plain.export_state();
    // Stored unsigned traits count where unsigned traits are accepted, and nowhere else.
    let mut e = Engine::new(model(2), 1);
    e.import_state(&plain_state).unwrap();
    assert!(has_hipo(&mut e));
    let mut e = engine_v2();
    e.import_state(&plain_state).unwrap();
    assert!(!has_hipo(&mut e), "unsigned stored traits counted on an engine that trusts token keys");

    // Development: allowed explicitly.
    let mut dev = Engine::new(model(2), 1);
    dev.set_trust(Trust { allow_unsigned_traits: true, ..Trust::key(key().public()) });
    dev.set_consent(true);
    dev.set_traits_json(&traits, None).unwrap();
    assert!(has_hipo(&mut dev));
    dev.import_state(&plain_state).unwrap();
    assert!(has_hipo(&mut dev));
    // ... until the host withdraws it.
    dev.set_trust(Trust::key(key().public()));
    assert!(!has_hipo(&mut dev));
}

#[test]
fn signed_traits_follow_a_new_model_and_leave_with_the_pid() {
    let (mut e, _) = state_with_signed_traits();
    e.apply_signed_snapshot(&signed_v3()).unwrap();
    assert!(has_hipo(&mut e), "a new model keeps signed traits");
    assert!(e.profile().traits_token.is_some());

    // The first identifier becomes the pid: the token named the old one.
    e.identify(kairos::profile::identity::IdKind::Phone, "13800138000").unwrap();
    assert!(!has_hipo(&mut e));
    let fresh = token::sign(&claims(&e, json!({"hipo": true})), &key());
    e.set_traits_token(&fresh, T0).unwrap();
    assert!(has_hipo(&mut e));
    // A second identifier keeps the pid, and the traits.
    e.identify(kairos::profile::identity::IdKind::Email, "su@example.com").unwrap();
    assert!(has_hipo(&mut e));
}

#[test]
fn an_engine_that_trusts_keys_takes_no_unsigned_model_by_any_call() {
    let mut e = engine_v2();
    let unsigned = snapshot::encode(&model(99));
    assert_eq!(e.apply_snapshot(&unsigned).unwrap_err(), SnapshotError::Unsigned);
    let other = snapshot::encode_signed(&model(99), &SecretKey::from_seed(&[5; 32]));
    assert!(matches!(e.apply_snapshot(&other), Err(SnapshotError::BadSignature { .. })));
    assert_eq!(e.model().version, 2);
    e.apply_snapshot(&signed_v3()).unwrap();
    assert_eq!(e.model().version, 3);
    // Tools and hosts without keys apply what they are given.
    let mut tool = Engine::new(model(2), 1);
    tool.apply_snapshot(&unsigned).unwrap();
    assert_eq!(tool.model().version, 99);
}

#[test]
fn anniversaries_in_tokens_carry_no_year() {
    let mut e = engine_v2();
    e.set_consent(true);
    let with_year = token::sign(&claims(&e, json!({"hipo": true, "birthday": "1996-03-14"})), &key());
    let err = e.set_traits_token(&with_year, T0).unwrap_err();
    assert!(
        matches!(&err, TokenError::Traits(m) if m.starts_with("traits.birthday: ") && m.contains("`MM-DD`")),
        "{err}"
    );
    assert!(!has_hipo(&mut e), "a refused token sets nothing");
    let month_day = token::sign(&claims(&e, json!({"hipo": true, "birthday": "03-14"})), &key());
    e.set_traits_token(&month_day, T0).unwrap();
    assert!(has_hipo(&mut e));
}

#[test]
fn stored_signed_traits_keep_what_a_new_model_still_types_alike() {
    let (mut e, state) = state_with_signed_traits();
    // The token holds hipo: true and tier: "gold"; a newer model makes `tier` a number.
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../examples/taste-of-su/model.json")).unwrap();
    json["meta"]["version"] = json!(3);
    json["traits"]["tier"] = json!("number");
    let retyped = kairos::compile_str(&json.to_string()).unwrap().model;
    let tier = |e: &Engine| {
        let i = e.model().traits.iter().position(|(n, _)| n == "tier").unwrap();
        e.profile().traits[i].clone()
    };
    assert_eq!(tier(&e), kairos::logic::Value::String("gold".into()));
    e.apply_signed_snapshot(&snapshot::encode_signed(&retyped, &key())).unwrap();
    assert!(has_hipo(&mut e), "hipo still fits");
    assert_eq!(tier(&e), kairos::logic::Value::Null, "tier no longer fits");
    assert!(e.profile().traits_token.is_some(), "the token stays for the traits that fit");

    // The expiry is the token's: an edited one neither extends nor shortens it.
    for forged in [T0 + 365 * DAY, T0] {
        let mut copy = engine_v2();
        copy.import_state(&edited(&state, |s| s.traits_expire_ms = Some(forged))).unwrap();
        assert_eq!(copy.profile().traits_expire_ms, Some(T0 + 7 * DAY));
    }
}

#[test]
fn a_stored_token_beside_plain_traits_or_too_long_is_invalid_state() {
    let (_, state) = state_with_signed_traits();
    let both = edited(&state, |s| s.traits = vec![("tier".into(), StoredTrait::String("vip".into()))]);
    let err = engine_v2().import_state(&both).unwrap_err().to_string();
    assert!(err.contains("plain traits beside a trait token"), "{err}");
    let long = edited(&state, |s| s.traits_token = Some("k".repeat(token::MAX_TOKEN_LEN + 1)));
    let err = engine_v2().import_state(&long).unwrap_err().to_string();
    assert!(err.contains("trait token is 16385 bytes, at most 16384"), "{err}");
}

/// Hostile-input review: contents are JSON text the page parses and freezes at the first
/// decision; one nested 20,000 deep was accepted (even signed by a brand key that signs what it
/// is given) and then every decision failed with a stack overflow, the good model gone. A content
/// that is not JSON, or nested deeper than 128, is corrupt: the snapshot is refused, the old model
/// stays.
#[test]
fn a_content_that_is_not_json_or_too_deep_is_refused_and_the_model_stays() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for (content, ok) in [
        (deep(128), true),
        (deep(129), false),
        (deep(20_000), false),
        ("{\"a\":".into(), false),
        ("1 2".into(), false),
    ] {
        let mut m = model(3);
        m.contents[0] = content.clone();
        let r = apply(&snapshot::encode_signed(&m, &key()));
        assert_eq!(r.is_ok(), ok, "{}: {r:?}", content.len());
        if let Err(e) = r {
            assert!(e.to_string().contains("content that is not JSON nested at most 128 deep"), "{e}");
        }
    }
}
