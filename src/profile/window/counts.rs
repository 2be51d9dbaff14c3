//! [`DayCounts`]: a sparse per-day counter for exposure caps.

use super::cells::Days;
use super::wire::{reject_overflow, Form};
use super::{add_count, Bits, StateError, DROP_MARGIN_DAYS, MAX_WINDOW_DAYS};
use crate::codec::{Reader, Wire, Writer};

/// Days of exposures kept whatever the caps: a model update that lengthens or adds a cap of up to
/// this many days counts the exposures made before it.
pub const KEEP_EXPOSURE_DAYS: u16 = 30;

/// Counts events per natural day, for caps such as "at most 4 in 5 days and 2 per day" and
/// "at least 6 hours between exposures".
///
/// Keeps at most the [`MAX_WINDOW_DAYS`] days up to the latest day ever seen (the largest `day`
/// recorded or `today` pruned), so a clock that jumps back never brings dropped days back. Counts
/// per day saturate at `u32::MAX`.
///
/// ```
/// use kairos::profile::window::DayCounts;
/// let mut shown = DayCounts::default();
/// shown.record(20_000, 1_728_000_000_000);
/// shown.record(20_002, 1_728_172_800_000);
/// assert_eq!(shown.count_in_last(20_002, 1), 1);
/// assert_eq!(shown.count_in_last(20_002, 3), 2);
/// assert_eq!(shown.last_ms(), Some(1_728_172_800_000));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(test, serde(into = "CountsWire", try_from = "CountsWire"))]
pub struct DayCounts {
    state: Option<CountsState>,
}

#[derive(Clone, Debug, PartialEq)]
struct CountsState {
    /// Latest day ever seen.
    horizon: i32,
    /// Largest time recorded; `None` if only `prune` was called.
    last_ms: Option<i64>,
    /// Counts as count features hold them (see [`Bits`]): one copy of the cell code.
    days: Days<Bits>,
}

impl DayCounts {
    /// Counts one event on natural day `day` at `now_ms`.
    pub fn record(&mut self, day: i32, now_ms: i64) {
        let st = self.advance(day);
        st.last_ms = Some(st.last_ms.map_or(now_ms, |t| t.max(now_ms)));
        let lower = keep_from(st.horizon, MAX_WINDOW_DAYS);
        // Dropped days are not needed: counts have no all-time total.
        let _ = st.days.take_before(lower, add_count);
        if i64::from(day) >= lower {
            st.days.add(day, Bits::count(1), add_count);
        }
    }

    /// Events on the natural days `today - days + 1 ..= today` (today included; 0 if `days` is 0).
    /// Events dated after `today` (the clock went back) do not count.
    pub fn count_in_last(&self, today: i32, days: u16) -> u32 {
        let Some(st) = &self.state else { return 0 };
        let (hi, lo) = (i64::from(today), i64::from(today) - i64::from(days) + 1);
        let n = st
            .days
            .cells
            .iter()
            .filter(|&&(d, _)| (lo..=hi).contains(&i64::from(d)))
            .fold(Bits::count(0), |acc, &(_, n)| add_count(acc, n));
        n.as_count()
    }

    /// The largest `now_ms` ever recorded (kept when its day is pruned).
    ///
    /// If the device clock went back, `now_ms - last_ms` can be negative: a minimum-gap rule should
    /// treat that as too soon.
    pub fn last_ms(&self) -> Option<i64> {
        self.state.as_ref().and_then(|st| st.last_ms)
    }

    /// Drops the days before the `keep_days` days (clamped to `1..=MAX_WINDOW_DAYS`) that end on the
    /// latest day ever seen, counting `today` as seen.
    pub fn prune(&mut self, today: i32, keep_days: u16) {
        let st = self.advance(today);
        let _ = st.days.take_before(keep_from(st.horizon, keep_days), add_count);
    }

    /// Drops the days no cap of `days` natural days (at least [`KEEP_EXPOSURE_DAYS`]) can count
    /// on `today` or later, nor within [`DROP_MARGIN_DAYS`] before it (for a clock ahead), without
    /// moving the horizon. `last_ms` stays.
    pub fn drop_past(&mut self, today: i32, days: u16) {
        if let Some(st) = &mut self.state {
            let keep = days.max(KEEP_EXPOSURE_DAYS) + DROP_MARGIN_DAYS;
            let _ = st.days.take_before(i64::from(today) - i64::from(keep) + 1, add_count);
        }
    }

    /// Checks a decoded state: days strictly ascending, within the kept days, counts non-zero.
    pub fn validate(&self) -> Result<(), StateError> {
        let Some(st) = &self.state else { return Ok(()) };
        st.days.check(keep_from(st.horizon, MAX_WINDOW_DAYS), i64::from(st.horizon), |n| {
            if n.as_num() == 0.0 {
                Err(StateError::EmptyBucket)
            } else {
                Ok(())
            }
        })
    }

    /// The state with its horizon moved up to `day`.
    fn advance(&mut self, day: i32) -> &mut CountsState {
        let st = self.state.get_or_insert_with(|| CountsState {
            horizon: day,
            last_ms: None,
            days: Days::default(),
        });
        st.horizon = st.horizon.max(day);
        st
    }
}

/// First day kept when keeping `keep` days (clamped to `1..=MAX_WINDOW_DAYS`) ending on `horizon`.
fn keep_from(horizon: i32, keep: u16) -> i64 {
    i64::from(horizon) - i64::from(keep.clamp(1, MAX_WINDOW_DAYS)) + 1
}

/// Wire form: `None`, or the horizon day, the latest time, and the days newest first as distances
/// back (the first from the horizon) with their counts.
impl Wire for DayCounts {
    fn put(&self, w: &mut Writer) {
        let Some(st) = &self.state else { return w.u8(0) };
        w.u8(1);
        st.horizon.put(w);
        st.last_ms.put(w);
        st.days.put_wire(w, st.horizon, Form::Count);
    }

    fn take(r: &mut Reader<'_>) -> Self {
        let at = r.position();
        if !r.option() {
            return DayCounts::default();
        }
        let horizon = r.i32();
        let last_ms = Wire::take(r);
        let mut overflow = false;
        let days = Days::take_wire(r, horizon, &mut overflow, Form::Count);
        if reject_overflow(r, at, overflow) {
            return DayCounts::default();
        }
        DayCounts { state: Some(CountsState { horizon, last_ms, days }) }
    }
}

/// The wire form as values, for postcard's serde encoding in tests (the reference).
#[cfg(test)]
#[derive(serde::Serialize, serde::Deserialize)]
struct CountsWire(Option<CountsBody>);

#[cfg(test)]
#[derive(serde::Serialize, serde::Deserialize)]
struct CountsBody {
    horizon: i32,
    last_ms: Option<i64>,
    cells: Vec<(u32, u32)>,
}

#[cfg(test)]
impl From<&DayCounts> for CountsWire {
    fn from(c: &DayCounts) -> Self {
        CountsWire(c.state.as_ref().map(|st| CountsBody {
            horizon: st.horizon,
            last_ms: st.last_ms,
            cells: st.days.to_wire(st.horizon, Bits::as_count),
        }))
    }
}

#[cfg(test)]
impl From<DayCounts> for CountsWire {
    fn from(c: DayCounts) -> Self {
        CountsWire::from(&c)
    }
}

#[cfg(test)]
impl TryFrom<CountsWire> for DayCounts {
    type Error = StateError;

    fn try_from(w: CountsWire) -> Result<Self, StateError> {
        let Some(CountsBody { horizon, last_ms, cells }) = w.0 else {
            return Ok(DayCounts::default());
        };
        let days = Days::from_wire(horizon, cells, Bits::count)?;
        Ok(DayCounts { state: Some(CountsState { horizon, last_ms, days }) })
    }
}
