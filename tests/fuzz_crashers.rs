//! Replays every committed fuzz crasher (`fuzz/crashers/<target>/*`) through the same target code
//! the fuzzer ran (`fuzz/src/lib.rs`, included here), so a fixed crash stays fixed. The folder
//! must exist and hold files for every target: a missing folder fails rather than passing empty.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    dead_code,
    reason = "test code: a panic is a test failure; the fuzz library is shared with the fuzzer"
)]

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("snapshot_decode", targets::snapshot_decode),
    ("state_import", targets::state_import),
    ("compile_bytes", targets::compile_bytes),
    ("compile_json", targets::compile_json),
    ("rule_eval", targets::rule_eval),
    ("model_rule", targets::model_rule),
    ("token", targets::token),
];

fn crashers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/crashers")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')))
        .collect();
    out.sort();
    out
}

#[test]
fn every_committed_crasher_replays_without_panicking() {
    let root = crashers_dir();
    assert!(root.is_dir(), "{} is missing: crashers must be committed", root.display());
    let mut replayed = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let Some((_, target)) = TARGETS.iter().find(|(n, _)| *n == name) else {
            panic!("{}: no fuzz target named `{name}`", dir.display());
        };
        for file in files(&dir) {
            let bytes = std::fs::read(&file).unwrap();
            println!("replay {name}/{}", file.file_name().unwrap().to_string_lossy());
            target(&bytes);
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no crasher under {}", root.display());
    println!("{replayed} crashers replayed");
}

/// Every target has a folder with at least one input (a crasher, or a seed that reaches deep).
#[test]
fn every_target_has_committed_inputs() {
    for (name, _) in TARGETS {
        let dir = crashers_dir().join(name);
        assert!(dir.is_dir() && !files(&dir).is_empty(), "{} has no committed input", dir.display());
    }
}

/// The committed `seed-valid-*` token inputs get past the signature and set the traits (one per
/// mode: generated claims, a payload text, a whole token text), so the fuzzer starts beyond the
/// signature check rather than at it.
#[test]
fn token_seeds_reach_the_engine() {
    let dir = crashers_dir().join("token");
    let seeds: Vec<PathBuf> = files(&dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-valid")))
        .collect();
    assert!(seeds.len() >= 3, "expected seed-valid-* inputs in {}", dir.display());
    for seed in seeds {
        let reach = targets::token_case(&std::fs::read(&seed).unwrap());
        assert_eq!(reach, targets::TokenReach::TraitsSet, "{}", seed.display());
    }
}

/// The example model's engine, with consent.
fn example_engine() -> kairos::Engine {
    let mut engine = kairos::Engine::new(targets::example_model().unwrap(), 1);
    engine.set_consent(true);
    engine
}

/// Regression: times at the ends of `i64` (a broken device clock) must not overflow `now - then`
/// in `hours_since` or in an offer's minimum gap.
#[test]
fn extreme_clock_does_not_overflow() {
    let mut engine = example_engine();
    let traits = serde_json::json!({"tier": "gold", "hipo": true, "birthday": "02-29"});
    engine.set_traits_json(&traits, None).unwrap();
    let model = engine.model().clone();
    let ctx = kairos::engine::input::context(&model, &serde_json::json!({"page": "home"})).unwrap();
    for (then, now) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MIN)] {
        for kind in 0..model.events.len() {
            let props = vec![kairos::Value::String("qipao".into()); model.events[kind].props.len()];
            engine.track(kind, &props, then);
        }
        for p in 0..model.placements.len() {
            engine.decide(p, &ctx, then);
            engine.decide(p, &ctx, now);
        }
        let _ = engine.segments(&ctx, now);
        let _ = engine.segments(&ctx, then);
        let _ = engine.scores(&ctx, now);
        for o in 0..model.offers.len() {
            let _ = engine.explain(o, &ctx, now);
        }
        let _ = engine.stage();
        for kind in 0..model.events.len() {
            let props = vec![kairos::Value::String("qipao".into()); model.events[kind].props.len()];
            engine.track(kind, &props, now);
        }
        let _ = engine.stage();
    }
}

/// Regression: the calendar helpers take any day number.
#[test]
fn calendar_helpers_take_any_day() {
    for day in [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX] {
        let (y, m, d) = kairos::time::civil_from_days(day);
        assert!((1..=12).contains(&m) && (1..=31).contains(&d), "{day}: {y}-{m}-{d}");
        let _ = kairos::time::days_from_civil(y, m, d);
        let n = kairos::time::days_to_anniversary(day, 2, 29);
        assert!((0..=366 * 4).contains(&n), "{day}: {n} days to 29 February");
    }
    assert_eq!(kairos::time::civil_from_days(0), (1970, 1, 1));
}

/// Found by tests/js/hostile.test.mjs: `set_traits` accepted string traits of up to 1,024 bytes
/// while stored state allows 256, so the engine's own export was refused by `import_state` and
/// the stored profile lost. Trait strings over 256 bytes are now refused when set.
#[test]
fn accepted_traits_survive_state_import() {
    for len in [256, 257, 1024] {
        let mut engine = example_engine();
        let tier = "g".repeat(len);
        if engine.set_traits_json(&serde_json::json!({ "tier": tier }), None).is_err() {
            assert!(len > 256, "a {len}-byte trait was refused");
            continue;
        }
        let mut other = example_engine();
        let back = other.import_state(&engine.export_state());
        assert!(back.is_ok(), "a {len}-byte trait was accepted, then its state refused: {back:?}");
        // The trait came back with the rest (test audit: an import that dropped it passed).
        assert_eq!(other.export_state(), engine.export_state(), "a {len}-byte trait");
    }
}
