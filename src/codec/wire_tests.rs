//! The hand-written wire format against postcard, the reference it replaces: the same bytes out,
//! each decoding the other's output, and the same verdict (and value) on edited or arbitrary
//! bytes. The wire types derive serde only in tests, for this comparison.

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use super::*;
use crate::compiled::Model;
use crate::logic::{parse, DynamicResolver, Rule};
use crate::model::{ScoreKind, TraitType, ValueType};
use crate::outbox::OutboxEvent;
use crate::profile::identity::IdKind;
use crate::profile::window::{Agg, Aggregate, DayCounts, FeatureSpec};
use crate::profile::{Seen, StoredAssignment, StoredOffer, StoredState, StoredTrait};
use crate::token::Claims;

const EXAMPLE: &str = include_str!("../../examples/taste-of-su/model.json");
/// 2026-11-20T12:00:00+08:00.
const T0: i64 = 1_795_147_200_000;
const DAY: i64 = 86_400_000;

/// Encodes as postcard does, and each decodes the other's bytes to the same value.
fn same<T: Wire + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> Vec<u8> {
    let mine = to_bytes(value);
    let theirs = postcard::to_allocvec(value).unwrap();
    assert_eq!(mine, theirs, "encodings differ for {value:?}");
    assert_eq!(&from_bytes::<T>(&theirs).unwrap(), value);
    assert_eq!(&postcard::from_bytes::<T>(&mine).unwrap(), value);
    mine
}

/// Both decoders accept `bytes` (using every byte), or both refuse them; accepted values
/// re-encode to the same bytes (compared as bytes, so NaN equals NaN).
fn agree<T: Wire + DeserializeOwned>(bytes: &[u8]) -> bool {
    let mine = from_bytes::<T>(bytes).map(|v| to_bytes(&v));
    let theirs = match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(to_bytes(&v)),
        Ok(_) => Err(()),
        Err(_) => Err(()),
    };
    assert_eq!(mine.as_ref().ok(), theirs.as_ref().ok(), "verdicts differ on {bytes:?}: {mine:?}");
    mine.is_ok()
}

fn example() -> Model {
    crate::compile_str(EXAMPLE).unwrap().model
}

fn large() -> Model {
    crate::compile_str(&crate::synth::large_model().to_string()).unwrap().model
}

/// The state of a busy session on the example model.
fn session_state() -> StoredState {
    let mut e = crate::Engine::new(example(), 0xfeed);
    e.set_consent(true);
    e.identify(IdKind::Phone, "+8613800138000").unwrap();
    e.identify(IdKind::Email, "A@B.cn").unwrap();
    e.set_traits_json(&json!({"tier": "silver", "hipo": true, "crm_segments": ["a", "b"]}), Some(T0))
        .unwrap();
    let model = e.model().clone();
    let ctx = crate::engine::input::context(&model, &json!({"page": "home"})).unwrap();
    for (ev, t) in crate::synth::shopper_events(3, 40, 12, T0 - 40 * DAY) {
        let _ = e.track_json(&ev, t);
        if t % 5 == 0 {
            (0..model.placements.len()).for_each(|p| drop(e.decide(p, &ctx, t)));
        }
    }
    let mut state = StoredState::decode(&e.export_state()).unwrap();
    // Reports name the model's version, which postcard's reference leaves out (one layout per
    // variant: the wire writes them as variants 6 and 7, tested in `model_versions_on_the_wire`).
    let mut versions = 0;
    for ev in &mut state.outbox {
        if let OutboxEvent::Exposure { model, .. } | OutboxEvent::Conversion { model, .. } = ev {
            versions += usize::from(model.take() == Some(1));
        }
    }
    assert!(versions > 0, "the session has reports");
    state
}

/// A state with every variant of every enum it holds.
fn every_variant_state() -> StoredState {
    let spec = |agg, window_days| FeatureSpec { agg, window_days };
    let aggs = [Agg::Count, Agg::Sum, Agg::First, Agg::Last, Agg::Distinct { max: 300 }];
    let mut features = Vec::new();
    for (i, agg) in aggs.into_iter().enumerate() {
        for window in [Some(30), None] {
            let s = spec(agg, window);
            let mut a = Aggregate::default();
            for d in 0..60 {
                let day = 20_000 + d * 3;
                let t = i64::from(day) * DAY + i64::from(d) * 1_000;
                a.record(&s, day, t, f64::from(d) * 1.5 - 20.0, u64::from(d.unsigned_abs()) * 0x9e37);
            }
            features.push((format!("f{i}"), s, a));
        }
    }
    let mut pruned = Aggregate::default();
    pruned.prune(&spec(Agg::Count, Some(7)), 20_000);
    features.push(("pruned".into(), spec(Agg::Count, Some(7)), pruned));
    features.push(("empty".into(), spec(Agg::Sum, None), Aggregate::default()));
    let mut shown = DayCounts::default();
    (0..500).for_each(|d| shown.record(19_000 + d, T0 + i64::from(d)));
    let offer = |id: &str, assignment| StoredOffer { id: id.into(), exposures: shown.clone(), assignment };
    let s = |x: &str| x.to_string();
    StoredState {
        consent: true,
        install_id: u64::MAX,
        ids: vec![(IdKind::Phone, [1; 32]), (IdKind::Email, [2; 32]), (IdKind::External, [255; 32])],
        seq: 1 << 40,
        stage: Some((s("loyal"), -T0)),
        events: vec![(s("view"), Seen { first_ms: i64::MIN, last_ms: i64::MAX })],
        features,
        traits: vec![
            (s("b"), StoredTrait::Bool(true)),
            (s("n"), StoredTrait::Number(-0.0)),
            (s("s"), StoredTrait::String(s("金牌"))),
            (s("l"), StoredTrait::List(vec![s("a"), String::new()])),
        ],
        traits_expire_ms: Some(T0),
        traits_token: Some(s("kt1.payload.signature")),
        recent_control: Some(1),
        offers: vec![
            offer("o1", None),
            offer("o2", Some(StoredAssignment::Control)),
            offer("o3", Some(StoredAssignment::Treatment(None))),
            offer("o4", Some(StoredAssignment::Treatment(Some(s("b"))))),
        ],
        global: DayCounts::default(),
        recent: vec![(7, s("o1"), T0), (u64::MAX, s("o4"), -1)],
        outbox: vec![
            OutboxEvent::StageChanged { from: None, to: s("new"), at: T0 },
            OutboxEvent::StageChanged { from: Some(s("new")), to: s("loyal"), at: T0 + 1 },
            OutboxEvent::StageLeft { from: Some(s("loyal")), at: T0 + 2 },
            OutboxEvent::Exposure {
                decision: s("00ff"),
                placement: s("home_hero"),
                offer: s("o4"),
                variant: Some(s("b")),
                control: false,
                model: None,
                at: T0,
            },
            OutboxEvent::Conversion {
                decision: s("00ff"),
                offer: s("o4"),
                event: s("purchase"),
                control: true,
                model: None,
                at: 0,
            },
            OutboxEvent::Forgotten { pid: s("abc"), install: s("00000000000000ab"), decisions: 7, at: -5 },
            OutboxEvent::LegacyForgotten { pid: s("abd"), at: 9 },
        ],
        outbox_dropped: 3,
    }
}

fn claims() -> Claims {
    let traits = crate::token::traits_from_json(
        &json!({"tier": "gold", "hipo": false, "segs": ["a", "bé"], "n": -2.5, "big": 1e300}),
    )
    .unwrap();
    Claims { sub: "abc".into(), iat: -1_000, exp: T0, traits }
}

fn rules() -> Vec<Rule> {
    [
        json!({"and": [{">=": [{"var": "features.views_7d"}, 3]}, {"==": [{"var": "traits.tier"}, "gold"]}]}),
        json!({"map": [{"var": "xs"}, {"cat": [{"var": "a.b"}, [1, {"preserve": {"x": [null, true]}}]]}]}),
        json!({"missing_some": [1, ["a", "b.c"]]}),
        json!({"preserve": {"deep": [[[[{"k": "v"}]]]]}}),
        json!({"reduce": [
            {"filter": [{"var": "xs"}, {">": [{"var": ""}, 1]}]},
            {"+": [{"var": "current"}, {"var": "accumulator"}]},
            0,
        ]}),
        json!({"try": [{"throw": "x"}, {"var": "type"}]}),
    ]
    .iter()
    .map(|j| parse(j, &DynamicResolver).unwrap())
    .collect()
}

#[test]
fn primitives_encode_as_postcard() {
    for v in [0u16, 1, 127, 128, 16_383, 16_384, u16::MAX] {
        same(&v);
    }
    for v in [0u32, 127, 128, 1 << 21, (1 << 28) - 1, 1 << 28, u32::MAX] {
        same(&v);
    }
    for v in [0u64, 1 << 35, 1 << 56, (1 << 63) - 1, 1 << 63, u64::MAX] {
        same(&v);
    }
    for v in [0i32, -1, 1, -64, 64, i32::MIN, i32::MAX] {
        same(&v);
    }
    for v in [0i64, -1, 1, i64::MIN, i64::MAX, T0, -T0] {
        same(&v);
    }
    for v in [0.0, -0.0, 1.5, f64::MIN_POSITIVE, f64::INFINITY, f64::NEG_INFINITY, f64::MAX] {
        same(&v);
    }
    assert_eq!(to_bytes(&f64::NAN), postcard::to_allocvec(&f64::NAN).unwrap());
    for v in ["", "a", "金牌会员", &"x".repeat(300)] {
        same(&v.to_string());
    }
    same(&((true, false, 7u8), (Some(3u16), None::<u64>), ([9u8; 8], [1u8; 32])));
    same(&vec![(1u32, -2i64), (u32::MAX, i64::MIN)]);
    same(&vec![vec!["a".to_string()], vec![]]);
    for kind in [IdKind::Phone, IdKind::Email, IdKind::External] {
        same(&kind);
    }
    for t in [ValueType::String, ValueType::Number, ValueType::Bool, ValueType::StringList] {
        same(&t);
    }
    for t in [
        TraitType::String,
        TraitType::Number,
        TraitType::Bool,
        TraitType::StringList,
        TraitType::Timestamp,
        TraitType::Date,
        TraitType::Anniversary,
    ] {
        same(&t);
    }
    for k in [ScoreKind::Linear, ScoreKind::Logistic] {
        same(&k);
    }
}

#[test]
fn models_rules_state_and_claims_encode_as_postcard() {
    same(&example());
    same(&large());
    for rule in rules() {
        same(&rule);
    }
    same(&session_state());
    same(&every_variant_state());
    same(&claims());
}

/// Exposures and conversions with the model's version are variants 6 and 7, the fields of 1 and 2
/// with the version before `at`; 1 and 2 (older packages' states) still read, without one.
#[test]
fn model_versions_on_the_wire() {
    let exposure = |model| OutboxEvent::Exposure {
        decision: "00ff".into(),
        placement: "home_hero".into(),
        offer: "o4".into(),
        variant: None,
        control: true,
        model,
        at: T0,
    };
    let conversion = |model| OutboxEvent::Conversion {
        decision: "00ff".into(),
        offer: "o4".into(),
        event: "purchase".into(),
        control: false,
        model,
        at: 5,
    };
    for (old, new, tags) in [
        (exposure(None), exposure(Some(u32::MAX)), (1, 6)),
        (conversion(None), conversion(Some(300)), (2, 7)),
    ] {
        let (a, b) = (to_bytes(&old), to_bytes(&new));
        assert_eq!((a.first(), b.first()), (Some(&tags.0), Some(&tags.1)));
        // The same fields, and the version as a varint before `at` (i64, zigzag varint, 6 bytes).
        let version = if tags.1 == 6 { vec![0xff, 0xff, 0xff, 0xff, 0x0f] } else { vec![0xac, 0x02] };
        let cut = a.len()
            - to_bytes(&match &old {
                OutboxEvent::Exposure { at, .. } | OutboxEvent::Conversion { at, .. } => *at,
                _ => unreachable!(),
            })
            .len();
        assert_eq!(b, [&[tags.1][..], &a[1..cut], &version, &a[cut..]].concat());
        assert_eq!(from_bytes::<OutboxEvent>(&a).unwrap(), old);
        assert_eq!(from_bytes::<OutboxEvent>(&b).unwrap(), new);
    }
}

/// Varints: redundant `80` groups are accepted, a byte more than the type needs or an
/// overflowing last byte are not, as postcard decides.
#[test]
fn varint_edges_decode_as_postcard() {
    let cases: [&[u8]; 14] = [
        &[0x80, 0x00],
        &[0x80, 0x80, 0x00],
        &[0x80, 0x80, 0x80, 0x00],
        &[0xff, 0xff, 0x03],
        &[0xff, 0xff, 0x04],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0xff, 0xff, 0xff, 0xff, 0x10],
        &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
        &[0x80],
        &[],
        &[0x02],
    ];
    for bytes in cases {
        agree::<u16>(bytes);
        agree::<u32>(bytes);
        agree::<u64>(bytes);
        agree::<i32>(bytes);
        agree::<i64>(bytes);
        agree::<bool>(bytes);
        agree::<Option<u8>>(bytes);
        agree::<String>(bytes);
        agree::<Vec<u8>>(bytes);
    }
}

#[test]
fn errors_say_what_and_where() {
    let err = |r: Result<(), WireError>| r.unwrap_err().to_string();
    let de = |bytes: &[u8]| -> Result<(), WireError> {
        from_bytes::<((u32, String), (bool, Option<u8>))>(bytes).map(drop)
    };
    assert_eq!(err(de(&[1])), "byte 1: expected a varint, but the input ends");
    assert_eq!(err(de(&[1, 2, b'a'])), "byte 1: a string of length 2 is longer than the rest of the input");
    assert_eq!(err(de(&[1, 1, 0xff])), "byte 2: a string is not valid UTF-8");
    assert_eq!(err(de(&[1, 0, 2])), "byte 2: expected a bool (0 or 1), found 2");
    assert_eq!(err(de(&[1, 0, 1, 5])), "byte 3: expected an option tag (0 or 1), found 5");
    assert_eq!(err(de(&[1, 0, 1, 1])), "byte 4: expected a byte, but the input ends");
    assert_eq!(err(de(&[1, 0, 1, 0, 0, 0])), "byte 4: 2 trailing bytes after the value");
    assert_eq!(
        err(de(&[0xff, 0xff, 0xff, 0xff, 0x1f])),
        "byte 0: a varint is too long or too large for a `u32`"
    );
    assert_eq!(err(from_bytes::<IdKind>(&[3]).map(drop)), "byte 0: `IdKind` has no variant 3");
    assert_eq!(
        err(from_bytes::<f64>(&[0; 7]).map(drop)),
        "byte 0: expected an 8-byte float, but the input ends"
    );
    let mut long = vec![0x80, 0xa8, 0xd6, 0xb9, 0x07]; // 2,000,000,000 items
    long.extend([0; 1_234]);
    assert_eq!(
        err(from_bytes::<Vec<u64>>(&long).map(drop)),
        "byte 0: a sequence of length 2000000000 is longer than the rest of the input"
    );
    let mut state = to_bytes(&every_variant_state());
    state.truncate(3_000);
    let at = from_bytes::<StoredState>(&state).err().map(|e| e.at);
    // Somewhere in the last third; at its very end when the cut falls between two values.
    assert!(at.is_some_and(|at| (2_000..=3_000).contains(&at)), "{at:?}");
}

/// The 109-byte example of docs/snapshot-format.md, byte for byte.
#[test]
fn the_documented_example_snapshot() {
    let model = crate::compile_str(
        r#"{"meta":{"name":"t","version":1},"placements":{"home_hero":{}},
            "offers":[{"id":"a","placements":["home_hero"],"content":{"t":1}}]}"#,
    )
    .unwrap()
    .model;
    let documented: [u8; 109] = [
        0x4b, 0x53, 0x4e, 0x50, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3d, 0x00, 0x00, 0x00, 0xd7,
        0x81, 0x62, 0xd9, 0x3f, 0x36, 0xec, 0xff, 0xa6, 0x9b, 0x3a, 0x48, 0xb4, 0x74, 0x68, 0x93, 0x84, 0xdc,
        0x44, 0xc9, 0xd0, 0x81, 0x33, 0x99, 0x23, 0xbb, 0x4a, 0x39, 0x79, 0x0c, 0x62, 0x9f, 0x01, 0x74, 0x01,
        0x80, 0xd0, 0xbb, 0x1b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x09, 0x68, 0x6f,
        0x6d, 0x65, 0x5f, 0x68, 0x65, 0x72, 0x6f, 0x01, 0x00, 0x01, 0x00, 0x01, 0x01, 0x61, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x07, 0x7b, 0x22,
        0x74, 0x22, 0x3a, 0x31, 0x7d, 0x00, 0x00,
    ];
    assert_eq!(crate::snapshot::encode(&model), documented);
    assert_eq!(crate::snapshot::decode(&documented).unwrap(), model);
}

#[test]
fn a_frame_names_the_body_error() {
    let bytes = encode(*b"TEST", 1, 0, &(7u8, 2u8));
    let body_len = bytes.len() - HEADER_LEN;
    assert_eq!(body_len, 2);
    assert_eq!(
        decode::<(u8, bool)>(&bytes, *b"TEST", 1, "test frame").unwrap_err().to_string(),
        "body does not decode: byte 1: expected a bool (0 or 1), found 2"
    );
    assert_eq!(
        decode::<u8>(&bytes, *b"TEST", 1, "test frame").unwrap_err().to_string(),
        "body does not decode: byte 1: 1 trailing bytes after the value"
    );
}

/// Byte edits (`(position, value)`, positions wrapping), and one time in four a truncation.
fn edited(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let n = bytes.len();
    for &(i, b) in edits {
        bytes[i % n] = b;
    }
    if cut % 4 == 0 {
        bytes.truncate(n - 1 - cut / 4 % 3);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn values_encode_as_postcard(
        a in any::<((u16, u32, u64), (i32, i64), (u8, bool))>(),
        f in any::<f64>(),
        s in ".{0,40}",
        o in any::<Option<u64>>(),
        v in proptest::collection::vec(any::<(u32, i64, [u8; 8])>(), 0..20),
    ) {
        prop_assert_eq!(to_bytes(&a), postcard::to_allocvec(&a).unwrap());
        prop_assert_eq!(to_bytes(&f), postcard::to_allocvec(&f).unwrap());
        same(&((a, s), (o, v)));
    }

    #[test]
    fn arbitrary_bytes_get_the_same_verdict(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        agree::<((u16, i32), (Option<i64>, bool, u8))>(&bytes);
        agree::<Vec<(String, u64)>>(&bytes);
        agree::<Model>(&bytes);
        agree::<StoredState>(&bytes);
        agree::<Rule>(&bytes);
        agree::<Aggregate>(&bytes);
        agree::<DayCounts>(&bytes);
        agree::<OutboxEvent>(&bytes);
        agree::<Claims>(&bytes);
    }

    #[test]
    fn edited_bytes_get_the_same_verdict(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        agree::<Model>(&edited(to_bytes(&example()), &edits, cut));
        agree::<StoredState>(&edited(to_bytes(&every_variant_state()), &edits, cut));
        agree::<Claims>(&edited(to_bytes(&claims()), &edits, cut));
        for rule in rules() {
            agree::<Rule>(&edited(to_bytes(&rule), &edits, cut));
        }
    }
}
