//! Windowed aggregates over natural days. PLACEHOLDER until the profile branch merges.
use serde::{Deserialize, Serialize};
/// Aggregation spec.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// How.
    pub agg: Agg,
    /// Window.
    pub window_days: Option<u16>,
}
/// Aggregation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Agg {
    /// Count.
    Count,
    /// Sum.
    Sum,
    /// First.
    First,
    /// Last.
    Last,
    /// Distinct.
    Distinct {
        /// Max.
        max: u16,
    },
}
/// Placeholder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {}
impl Aggregate {
    /// Placeholder.
    pub fn record(&mut self, _spec: &FeatureSpec, _day: i32, _now_ms: i64, _amount: f64, _key: u64) {}
    /// Placeholder.
    pub fn read(&self, _spec: &FeatureSpec, _today: i32) -> Option<f64> {
        None
    }
    /// Placeholder.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
/// Placeholder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayCounts {}
impl DayCounts {
    /// Placeholder.
    pub fn record(&mut self, _day: i32, _now_ms: i64) {}
    /// Placeholder.
    pub fn count_in_last(&self, _today: i32, _days: u16) -> u32 {
        0
    }
    /// Placeholder.
    pub fn last_ms(&self) -> Option<i64> {
        None
    }
    /// Placeholder.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
/// Placeholder.
pub fn distinct_key(s: &str) -> u64 {
    s.len() as u64
}
