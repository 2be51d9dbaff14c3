//! The bindings in Node (wasm-bindgen-test-runner).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs, reason = "tests")]

mod common;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn follower_sees_the_brand_story() {
    common::follower_sees_the_brand_story();
}

#[wasm_bindgen_test]
fn failures_are_errors_with_codes() {
    common::failures_are_errors_with_codes();
}

#[wasm_bindgen_test]
fn state_round_trips() {
    common::state_round_trips();
}

#[wasm_bindgen_test]
fn numbers_read_and_write_as_javascript() {
    common::numbers_read_and_write_as_javascript();
}
