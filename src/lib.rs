#![doc = include_str!("../README.md")]
// Without `std` (the Wasm package): `alloc` only; see the feature in Cargo.toml.
#![cfg_attr(not(feature = "std"), no_std)]
extern crate alloc;

pub mod codec;
#[cfg(feature = "std")]
pub mod compile;
pub mod compiled;
mod float;
pub mod logic;
pub mod model;
pub mod profile;
pub mod sign;
mod suggest;
pub mod time;

#[cfg(feature = "std")]
pub use compile::{compile, compile_str, CompileError, CompileErrors, Compiled, Warning};
pub use compiled::Model;
pub mod engine;
#[cfg(feature = "std")]
pub mod journey;
pub mod outbox;
pub mod snapshot;
#[cfg(feature = "std")]
pub mod synth;
pub mod token;

pub use engine::{Decision, Engine, InputError, Item, Reason, Tracked};
pub use logic::Value;
pub use snapshot::SnapshotError;
