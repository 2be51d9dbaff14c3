//! Replays every journey fixture in tests/fixtures/journeys against the core. The same files run
//! against the JavaScript package.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

use std::path::Path;

#[test]
fn every_journey_meets_its_expectations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/fixtures/journeys");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut steps = 0;
    let mut failures = Vec::new();
    for path in &files {
        let journey: kairos::journey::Journey = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let model = kairos::compile_str(
            &std::fs::read_to_string(
                root.join(journey.model.as_deref().expect("every fixture names its model")),
            )
            .unwrap(),
        )
        .unwrap()
        .model;
        let results = kairos::journey::run(&journey, model).unwrap();
        let checked = journey.steps.iter().filter(|s| s.expect.is_some()).count();
        assert!(checked > 0, "{}: no step checks anything", journey.name);
        steps += results.len();
        for r in results {
            for m in &r.mismatches {
                failures.push(format!("{} step {} ({} at {}): {m}", journey.name, r.step, r.action, r.at));
            }
        }
    }
    assert!(files.len() >= 6, "expected the six journeys, found {}", files.len());
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    println!("{} journeys, {steps} steps replayed", files.len());
}
