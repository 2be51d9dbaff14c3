//! Kairos: on-device personalization. Pure Rust core: no JavaScript, no clock, no randomness.
pub mod codec;
pub mod logic;
pub mod profile;
