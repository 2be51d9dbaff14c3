#![doc = include_str!("../README.md")]
pub mod codec;
pub mod compile;
pub mod compiled;
pub mod logic;
pub mod model;
pub mod profile;
pub mod sign;
mod suggest;
pub mod time;

pub use compile::{compile, compile_str, CompileError, CompileErrors, Compiled, Warning};
pub use compiled::Model;
pub mod engine;
pub mod journey;
pub mod outbox;
pub mod snapshot;
pub mod synth;
pub mod token;

pub use engine::{Decision, Engine, InputError, Item, Reason, Tracked};
pub use logic::Value;
pub use snapshot::SnapshotError;
