//! Behavioural aggregates over natural days: "views of qipao in the last 7 days", "sum of purchase
//! amounts, all time", "last purchase time", "distinct products viewed in 30 days".
//!
//! A model declares each feature as a [`FeatureSpec`]; the profile keeps one [`Aggregate`] per
//! feature. [`DayCounts`] is the per-day counter behind exposure caps.
//!
//! # Time
//!
//! Nothing here reads a clock. Callers pass `now_ms` (milliseconds since the Unix epoch) and `day`,
//! the natural-day index in the brand's UTC offset: `floor((now_ms + offset_ms) / 86_400_000)`.
//!
//! # Which events count
//!
//! - A feature with a window of `N` days (1 to [`MAX_WINDOW_DAYS`]; other values are clamped), read
//!   on `today`, covers the days `today - N + 1 ..= today`.
//! - The *horizon* is the latest day ever seen: the largest `day` recorded and `today` pruned
//!   ([`Aggregate::read`] does not move it). A windowed feature keeps only the days
//!   `horizon - N + 1 - M ..= horizon`, where `M` is [`DROP_MARGIN_DAYS`]: older days are dropped
//!   when recording or pruning, and an event dated before them is ignored. So an event counts when
//!   its day is in the window **and** no older than `horizon - N + 1 - M`.
//! - Consequences. If the device clock goes back, events dated after `today` are kept but do not
//!   count until their day comes. A clock up to `M` days ahead, right again, loses nothing the
//!   window counts (an event a few minutes past midnight by a fast clock moves the horizon to
//!   tomorrow). A clock that goes back never brings dropped days back. A clock that jumps further
//!   ahead (a wrong device date) drops the window's data, as if that time had passed.
//! - An all-time feature (`window_days: None`) drops nothing. Events of the last [`SETTLE_DAYS`] days
//!   up to the horizon are kept per day, so that after a clock jump back they do not count before
//!   their day; older events are folded into one total that always counts. So an all-time event
//!   counts when its day is `<= today` or `<= horizon - SETTLE_DAYS`.
//!
//! # Aggregations
//!
//! - [`Agg::Count`]: the number of events counted; `Some(0.0)` when none.
//! - [`Agg::Sum`]: the sum of their `amount`s; `Some(0.0)` when none. A non-finite amount makes
//!   `record` a no-op. Sums saturate at `±f64::MAX` instead of becoming infinite.
//! - [`Agg::First`] / [`Agg::Last`]: the smallest / largest `now_ms` among the events counted, or
//!   `None`. After a clock jump back "last" is the latest time, not the time of the last call.
//! - [`Agg::Distinct`]: how many distinct `distinct_key`s (see [`distinct_key`]) were seen, each
//!   counted by the latest day it was seen under the rules above; `Some(0.0)` when none. At most
//!   `max` values are kept: a new value arriving when `max` are kept evicts the one with the oldest
//!   latest day (ties: the least recently recorded). Approximation: a value seen both on a counted
//!   day and on a later day that does not count yet (the clock went back) counts only from that
//!   later day.
//!
//! # Memory
//!
//! Bounded whatever the input: a windowed feature keeps at most `N` day cells, an all-time feature
//! at most [`SETTLE_DAYS`] cells and one total, a distinct feature at most `max` values, and
//! [`DayCounts`] at most [`MAX_WINDOW_DAYS`] cells.
//!
//! # State format (postcard's wire format, [`crate::codec::Wire`]; part of the profile state format)
//!
//! An [`Aggregate`] is `Option<(horizon: i32, data)>`, where `data` is an enum, in this order:
//! `Empty`; `Count(settled: Option<u32>, cells: Vec<(gap: u32, count: u32)>)`;
//! `Sum(Option<f64>, Vec<(u32, f64)>)`; `First(Option<i64>, Vec<(u32, i64)>)`; `Last` as `First`;
//! `Distinct(Vec<(key: [u8; 8] little endian, back: u32)>)`. Cells are written newest first, and
//! `gap` is the distance in days back from the previous cell (the first from the horizon), so a day
//! costs one byte. First/Last times are written as the difference from the previous cell's time
//! (the first from 0). Distinct values are written least recently recorded first, `back` being the
//! distance from the horizon to the latest day the value was seen. [`DayCounts`] is
//! `Option<(horizon: i32, last_ms: Option<i64>, cells: Vec<(gap: u32, count: u32)>)>`.
//!
//! # Untrusted state and model changes
//!
//! State read back from storage is untrusted: after decoding, call [`Aggregate::validate`] (or
//! [`DayCounts::validate`]) and start afresh on error. No method panics on any decoded state, but
//! results are meaningful only for a state that validates. If a new model changes a feature's
//! aggregation, `record` and `prune` restart it, `read` treats it as empty and `validate` reports
//! [`StateError::KindMismatch`]. If it shortens the window (or lowers `max`), call
//! [`Aggregate::prune`] with the new spec before `validate` to keep what still fits.
//!
//! ```
//! use kairos::profile::window::{distinct_key, Agg, Aggregate, FeatureSpec};
//! let views_7d = FeatureSpec { agg: Agg::Count, window_days: Some(7) };
//! let mut a = Aggregate::default();
//! a.record(&views_7d, 20_000, 1_728_000_000_000, 0.0, distinct_key("qipao-red"));
//! a.record(&views_7d, 20_003, 1_728_259_200_000, 0.0, distinct_key("qipao-blue"));
//! assert_eq!(a.read(&views_7d, 20_006), Some(2.0));
//! assert_eq!(a.read(&views_7d, 20_007), Some(1.0)); // day 20_000 left the window
//! ```

use alloc::{string::String, vec::Vec};

use crate::codec::{self, push_int, push_uint, wire_struct, Message, Reader, Wire, Writer};

mod cells;
mod counts;
mod distinct;
mod wire;

pub use counts::{DayCounts, KEEP_EXPOSURE_DAYS};

use cells::{Cells, Rule};
use distinct::Seen;

/// Longest window a feature may declare, in days.
pub const MAX_WINDOW_DAYS: u16 = 400;

/// Days before the horizon for which an all-time feature keeps per-day cells, so that events
/// dated after `today` by a clock jump back do not count before their day.
pub const SETTLE_DAYS: u16 = 7;

/// Days kept past what a window or cap can count when the first call of a day drops old days
/// (`drop_past`): the day is the device clock's, so a clock that runs up to a week ahead for a
/// call, then is right again, loses nothing that still counts.
pub const DROP_MARGIN_DAYS: u16 = 7;

/// How a feature aggregates the events it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub enum Agg {
    /// Number of events.
    Count,
    /// Sum of event amounts.
    Sum,
    /// Earliest event time, in ms since the epoch.
    First,
    /// Latest event time, in ms since the epoch.
    Last,
    /// Number of distinct values, keeping at most `max` (least recently seen evicted first).
    Distinct {
        /// Most values kept.
        max: u16,
    },
}

/// One behavioural feature: an aggregation over a window of natural days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct FeatureSpec {
    /// The aggregation.
    pub agg: Agg,
    /// Window length in days, `1..=MAX_WINDOW_DAYS`; `None` for all time.
    pub window_days: Option<u16>,
}

wire_struct!(FeatureSpec[agg, window_days]);

impl Wire for Agg {
    fn put(&self, w: &mut Writer) {
        match self {
            Agg::Count => w.varint(0),
            Agg::Sum => w.varint(1),
            Agg::First => w.varint(2),
            Agg::Last => w.varint(3),
            Agg::Distinct { max } => {
                w.varint(4);
                w.varint(u64::from(*max));
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        match r.variant("Agg", 5) {
            0 => Agg::Count,
            1 => Agg::Sum,
            2 => Agg::First,
            3 => Agg::Last,
            _ => Agg::Distinct { max: r.u16() },
        }
    }
}

impl Agg {
    /// The name of its data, as [`StateError::KindMismatch`] gives it.
    fn name(self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::Sum => "sum",
            Agg::First => "first",
            Agg::Last => "last",
            Agg::Distinct { .. } => "distinct",
        }
    }
}

impl FeatureSpec {
    /// Whether the window is `None` or within `1..=MAX_WINDOW_DAYS` (others are clamped).
    pub fn is_valid(&self) -> bool {
        self.window_days.is_none_or(|n| (1..=MAX_WINDOW_DAYS).contains(&n))
    }

    fn span(&self) -> Span {
        match self.window_days {
            Some(n) => Span::Window(i64::from(n.clamp(1, MAX_WINDOW_DAYS))),
            None => Span::AllTime,
        }
    }
}

/// The days a feature covers: a window of `n` days, or all time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Window(i64),
    AllTime,
}

impl Span {
    /// First day kept per day when the latest day seen is `horizon`: a window keeps
    /// [`DROP_MARGIN_DAYS`] more, as the horizon may be a day from a clock ahead (an event from a
    /// clock a few minutes ahead at midnight moves it to tomorrow), and the window read once the
    /// clock is right again still ends today.
    fn keep_from(self, horizon: i32) -> i64 {
        let kept = match self {
            Span::Window(n) => n + i64::from(DROP_MARGIN_DAYS),
            Span::AllTime => i64::from(SETTLE_DAYS),
        };
        i64::from(horizon) - kept + 1
    }
}

/// The message of [`StateError::DayOverflow`], also given while decoding.
const DAY_OVERFLOW: &str = "a day decoded from the state is out of the `i32` range";

/// Why a decoded state was rejected by `validate` (or failed to decode).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The state holds a different aggregation than the feature spec asks for.
    KindMismatch {
        /// Aggregation stored.
        found: &'static str,
        /// Aggregation of the spec.
        expected: &'static str,
    },
    /// Day cells are not in strictly increasing day order.
    Unordered,
    /// A cell or value is dated outside the days the feature keeps.
    OutOfRange {
        /// The day found.
        day: i32,
        /// First day kept.
        lo: i64,
        /// Last day kept (the horizon).
        hi: i64,
    },
    /// A day cell counts zero events.
    EmptyBucket,
    /// A stored sum is infinite or NaN.
    NotFinite,
    /// More distinct values than the feature keeps.
    TooManyValues {
        /// Values stored.
        len: usize,
        /// Most values kept.
        max: u16,
    },
    /// The same distinct value is stored twice.
    DuplicateValue,
    /// A windowed feature holds an all-time total.
    UnexpectedSettled,
    /// A day decoded from its distance to the horizon does not fit a day index.
    DayOverflow,
}

impl Message for StateError {
    fn write_message(&self, out: &mut String) {
        match self {
            StateError::KindMismatch { found, expected } => {
                out.push_str("state holds a `");
                out.push_str(found);
                out.push_str("` aggregate but the feature asks for `");
                out.push_str(expected);
                out.push('`');
            }
            StateError::Unordered => out.push_str("day cells are not in strictly increasing day order"),
            StateError::OutOfRange { day, lo, hi } => {
                out.push_str("day ");
                push_int(out, i64::from(*day));
                out.push_str(" is outside the kept days ");
                push_int(out, *lo);
                out.push_str("..=");
                push_int(out, *hi);
            }
            StateError::EmptyBucket => out.push_str("a day cell counts zero events"),
            StateError::NotFinite => out.push_str("a stored sum is not finite"),
            StateError::TooManyValues { len, max } => {
                push_uint(out, *len as u64);
                out.push_str(" distinct values stored, the feature keeps at most ");
                push_uint(out, u64::from(*max));
            }
            StateError::DuplicateValue => out.push_str("a distinct value is stored twice"),
            StateError::UnexpectedSettled => out.push_str("a windowed feature holds an all-time total"),
            StateError::DayOverflow => out.push_str(DAY_OVERFLOW),
        }
    }
}

codec::display_by_message!(StateError);

impl core::error::Error for StateError {}

/// One feature's data for one shopper. Start from `Aggregate::default()`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(test, serde(into = "wire::AggregateWire", try_from = "wire::AggregateWire"))]
pub struct Aggregate {
    state: Option<State>,
}

#[derive(Debug, Clone, PartialEq)]
struct State {
    /// Latest day ever seen (recorded or pruned).
    horizon: i32,
    data: Data,
}

#[derive(Debug, Clone, PartialEq)]
enum Data {
    /// Nothing recorded (only pruned, or reset by a change of aggregation).
    Empty,
    /// Counts as `f64` (whole numbers up to `u32::MAX`, exact); `u32` on the wire.
    Count(Cells<Bits>),
    /// Sums as `f64`.
    Sum(Cells<Bits>),
    /// Times as `i64`.
    First(Cells<Bits>),
    /// As `First`.
    Last(Cells<Bits>),
    Distinct(Vec<Seen>),
}

impl Data {
    fn new(agg: Agg) -> Data {
        match agg {
            Agg::Count => Data::Count(Cells::default()),
            Agg::Sum => Data::Sum(Cells::default()),
            Agg::First => Data::First(Cells::default()),
            Agg::Last => Data::Last(Cells::default()),
            Agg::Distinct { .. } => Data::Distinct(Vec::new()),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Data::Empty => "empty",
            Data::Count(_) => "count",
            Data::Sum(_) => "sum",
            Data::First(_) => "first",
            Data::Last(_) => "last",
            Data::Distinct(_) => "distinct",
        }
    }

    /// Whether this data is for `agg` (empty data is for any).
    fn fits(&self, agg: Agg) -> bool {
        matches!(
            (self, agg),
            (Data::Empty, _)
                | (Data::Count(_), Agg::Count)
                | (Data::Sum(_), Agg::Sum)
                | (Data::First(_), Agg::First)
                | (Data::Last(_), Agg::Last)
                | (Data::Distinct(_), Agg::Distinct { .. })
        )
    }
}

/// A cell's value: the 64 bits of an `f64` (counts and sums) or of an `i64` (times), exactly.
/// One type for every aggregation and for [`DayCounts`], so that the cell code exists once in the
/// Wasm module instead of once per value type. Equality is of the bits (a sum of `-0.0` is not
/// one of `0.0`): only tests compare aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bits(u64);

impl Bits {
    pub(super) fn num(n: f64) -> Bits {
        Bits(n.to_bits())
    }

    pub(super) fn time(t: i64) -> Bits {
        Bits(t as u64)
    }

    pub(super) fn as_num(self) -> f64 {
        f64::from_bits(self.0)
    }

    pub(super) fn as_time(self) -> i64 {
        self.0 as i64
    }

    /// A count from the wire.
    pub(super) fn count(n: u32) -> Bits {
        Bits::num(f64::from(n))
    }

    /// A count as the `u32` it is: counts start at 0 or 1 or are read as `u32`, and only
    /// [`add_count`] adds to them, so they are whole numbers in `0..=u32::MAX`.
    pub(super) fn as_count(self) -> u32 {
        self.as_num() as u32
    }
}

/// `u32`'s saturating addition, on counts held as `f64` (exact: both are at most `u32::MAX`).
fn add_count(a: Bits, b: Bits) -> Bits {
    Bits::num((a.as_num() + b.as_num()).min(f64::from(u32::MAX)))
}

fn add_sum(a: Bits, b: Bits) -> Bits {
    Bits::num((a.as_num() + b.as_num()).clamp(-f64::MAX, f64::MAX))
}

fn first(a: Bits, b: Bits) -> Bits {
    Bits::time(a.as_time().min(b.as_time()))
}

fn last(a: Bits, b: Bits) -> Bits {
    Bits::time(a.as_time().max(b.as_time()))
}

impl Aggregate {
    /// Records one event on natural day `day` at `now_ms`.
    ///
    /// `amount` is used by [`Agg::Sum`] (a non-finite amount makes this a no-op), `distinct_key` by
    /// [`Agg::Distinct`]; the others ignore them.
    pub fn record(&mut self, spec: &FeatureSpec, day: i32, now_ms: i64, amount: f64, distinct_key: u64) {
        if spec.agg == Agg::Sum && !amount.is_finite() {
            return;
        }
        let before = self.horizon();
        let st = self.advance(spec.agg, day);
        if matches!(st.data, Data::Empty) {
            st.data = Data::new(spec.agg);
        }
        let (span, h) = (spec.span(), st.horizon);
        let moved = before != Some(h);
        match (&mut st.data, spec.agg) {
            (Data::Count(c), _) => c.record(span, h, day, Bits::count(1), add_count),
            (Data::Sum(c), _) => c.record(span, h, day, Bits::num(amount), add_sum),
            (Data::First(c), _) => c.record(span, h, day, Bits::time(now_ms), first),
            (Data::Last(c), _) => c.record(span, h, day, Bits::time(now_ms), last),
            (Data::Distinct(seen), Agg::Distinct { max }) => {
                distinct::record(seen, span, h, day, distinct_key, max, moved);
            }
            // Unreachable: `advance` and the line above made the data fit the spec.
            _ => {}
        }
    }

    /// The feature's value on natural day `today` (see the module docs for what counts).
    ///
    /// Count, Sum and Distinct give `Some(0.0)` when nothing counts; First and Last give `None`.
    pub fn read(&self, spec: &FeatureSpec, today: i32) -> Option<f64> {
        let nothing = match spec.agg {
            Agg::Count | Agg::Sum | Agg::Distinct { .. } => Some(0.0),
            Agg::First | Agg::Last => None,
        };
        let Some(st) = &self.state else { return nothing };
        let rule = Rule::new(spec.span(), st.horizon, today);
        // Times in ms since the epoch are far below 2^53: exact as f64.
        match (&st.data, spec.agg) {
            (Data::Count(c), Agg::Count) => Some(c.fold(&rule, add_count).map_or(0.0, Bits::as_num)),
            (Data::Sum(c), Agg::Sum) => Some(c.fold(&rule, add_sum).map_or(0.0, Bits::as_num)),
            (Data::First(c), Agg::First) => c.fold(&rule, first).map(|t| t.as_time() as f64),
            (Data::Last(c), Agg::Last) => c.fold(&rule, last).map(|t| t.as_time() as f64),
            (Data::Distinct(seen), Agg::Distinct { .. }) => Some(distinct::count(seen, &rule) as f64),
            _ => nothing,
        }
    }

    /// The latest day ever seen, if anything was recorded.
    pub fn horizon(&self) -> Option<i32> {
        self.state.as_ref().map(|st| st.horizon)
    }

    /// Drops what can never count again, counting `today` as seen (it moves the horizon).
    pub fn prune(&mut self, spec: &FeatureSpec, today: i32) {
        let st = self.advance(spec.agg, today);
        let (span, h) = (spec.span(), st.horizon);
        match (&mut st.data, spec.agg) {
            (Data::Count(c), _) => c.roll(span, h, add_count),
            (Data::Sum(c), _) => c.roll(span, h, add_sum),
            (Data::First(c), _) => c.roll(span, h, first),
            (Data::Last(c), _) => c.roll(span, h, last),
            (Data::Distinct(seen), Agg::Distinct { max }) => distinct::roll(seen, span, h, max),
            _ => {}
        }
    }

    /// Drops the days of a windowed feature that cannot count on `today` or later, nor within
    /// [`DROP_MARGIN_DAYS`] before it (for a clock ahead), without moving the horizon: unlike
    /// [`Aggregate::prune`], a time from a clock far ahead does not keep later events out of the
    /// window. All-time features keep everything (their old days are already one total).
    pub fn drop_past(&mut self, spec: &FeatureSpec, today: i32) {
        let span = spec.span();
        let Span::Window(_) = span else { return };
        let Some(st) = &mut self.state else { return };
        // What a horizon of `today` keeps: the window and the margin.
        let lower = span.keep_from(today);
        match &mut st.data {
            Data::Count(c) | Data::Sum(c) | Data::First(c) | Data::Last(c) => {
                let _ = c.days.take_before(lower, |kept, _| kept);
            }
            Data::Distinct(seen) => seen.retain(|s| i64::from(s.day) >= lower),
            Data::Empty => {}
        }
    }

    /// Checks a decoded state against the feature it is read with; on error, start afresh.
    ///
    /// Accepts every state that `record` and `prune` produce with this spec.
    pub fn validate(&self, spec: &FeatureSpec) -> Result<(), StateError> {
        let Some(st) = &self.state else { return Ok(()) };
        let (span, h) = (spec.span(), st.horizon);
        match (&st.data, spec.agg) {
            (Data::Empty, _) => Ok(()),
            (Data::Count(c), Agg::Count) => {
                c.check(span, h, |n| if n.as_num() == 0.0 { Err(StateError::EmptyBucket) } else { Ok(()) })
            }
            (Data::Sum(c), Agg::Sum) => {
                c.check(span, h, |s| if s.as_num().is_finite() { Ok(()) } else { Err(StateError::NotFinite) })
            }
            (Data::First(c), Agg::First) | (Data::Last(c), Agg::Last) => c.check(span, h, |_| Ok(())),
            (Data::Distinct(seen), Agg::Distinct { max }) => distinct::check(seen, span, h, max),
            (data, agg) => Err(StateError::KindMismatch { found: data.name(), expected: agg.name() }),
        }
    }

    /// The state with its horizon moved up to `day`, and data of another aggregation dropped.
    fn advance(&mut self, agg: Agg, day: i32) -> &mut State {
        #[allow(
            clippy::unnecessary_lazy_evaluations,
            reason = "measured: an eager `State` is dropped (a call to `Data`'s drop) on every record"
        )]
        let st = self.state.get_or_insert_with(|| State { horizon: day, data: Data::Empty });
        st.horizon = st.horizon.max(day);
        if !st.data.fits(agg) {
            st.data = Data::Empty;
        }
        st
    }
}

/// A stable 64-bit hash (FNV-1a) of a distinct value, e.g. a product id.
///
/// Part of the state format: stored keys are these hashes, so this function must never change.
///
/// ```
/// assert_eq!(kairos::profile::window::distinct_key(""), 0xcbf2_9ce4_8422_2325);
/// ```
pub fn distinct_key(s: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    s.bytes().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests;
