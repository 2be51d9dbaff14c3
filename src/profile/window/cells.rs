//! Sparse day cells, the all-time fold, and the counting rule shared by the aggregations.

use alloc::vec::Vec;

use super::wire::{Coder, Form};
use super::{Bits, Span, StateError, SETTLE_DAYS};
use crate::codec::{Reader, Writer};

/// One value per day with activity.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Days<T> {
    // INVARIANT (checked by `check`): strictly ascending by day.
    pub(super) cells: Vec<(i32, T)>,
}

impl<T> Default for Days<T> {
    fn default() -> Self {
        Days { cells: Vec::new() }
    }
}

impl<T: Copy> Days<T> {
    /// Merges `value` into the cell of `day`, creating the cell if needed.
    pub(super) fn add(&mut self, day: i32, value: T, merge: fn(T, T) -> T) {
        // From the end, not a binary search (less code per value type): days ascend, and most
        // events fall on the latest.
        let at = self.cells.iter().rposition(|&(d, _)| d <= day);
        if let Some(cell) = at.and_then(|i| self.cells.get_mut(i)).filter(|c| c.0 == day) {
            cell.1 = merge(cell.1, value);
        } else {
            crate::profile::insert_at(&mut self.cells, at.map_or(0, |i| i + 1), (day, value));
        }
    }

    /// Removes the cells dated before `lower` and returns their merged value.
    pub(super) fn take_before(&mut self, lower: i64, merge: fn(T, T) -> T) -> Option<T> {
        // Days ascend, so when the first is kept every one is: the common case (called on every
        // record) costs one comparison. On an unsorted state (never after `check`) a stale later
        // cell may stay until the first one goes, which keeps data but stays safe.
        if self.cells.first().is_none_or(|&(d, _)| i64::from(d) >= lower) {
            return None;
        }
        let mut taken: Option<T> = None;
        // `retain`, not a drain of a prefix: whatever the order, every older cell goes.
        self.cells.retain(|&(d, v)| {
            let keep = i64::from(d) >= lower;
            if !keep {
                taken = Some(taken.map_or(v, |t| merge(t, v)));
            }
            keep
        });
        taken
    }

    /// Checks the invariant, that every day is in `lo..=hi`, and every value with `value_ok`.
    pub(super) fn check(
        &self,
        lo: i64,
        hi: i64,
        value_ok: fn(T) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let mut prev: Option<i32> = None;
        for &(d, v) in &self.cells {
            if prev.is_some_and(|p| p >= d) {
                return Err(StateError::Unordered);
            }
            check_day(d, lo, hi)?;
            value_ok(v)?;
            prev = Some(d);
        }
        Ok(())
    }

    /// The wire form as values (the reference encoding in tests): as [`Days::put_wire`] writes it.
    #[cfg(test)]
    pub(super) fn to_wire<W>(&self, horizon: i32, mut enc: impl FnMut(T) -> W) -> Vec<(u32, W)> {
        let mut prev = horizon;
        self.cells
            .iter()
            .rev()
            .map(|&(d, v)| {
                let g = gap(prev, d);
                prev = d;
                (g, enc(v))
            })
            .collect()
    }

    /// Reverses [`Days::to_wire`]; fails only if a day falls outside `i32`.
    #[cfg(test)]
    pub(super) fn from_wire<W>(
        horizon: i32,
        wire: Vec<(u32, W)>,
        mut dec: impl FnMut(W) -> T,
    ) -> Result<Self, StateError> {
        let mut prev = i64::from(horizon);
        let mut cells = Vec::with_capacity(wire.len());
        for (g, w) in wire {
            prev = prev.saturating_sub(i64::from(g));
            cells.push((day_from_i64(prev)?, dec(w)));
        }
        cells.reverse();
        Ok(Days { cells })
    }
}

impl Days<Bits> {
    /// Writes the wire form: the number of cells, then newest first each day as its distance back
    /// from the previous one (the first from `horizon`) and its value in `form`.
    pub(super) fn put_wire(&self, w: &mut Writer, horizon: i32, form: Form) {
        w.varint(self.cells.len() as u64);
        let (mut prev, mut coder) = (horizon, Coder::new(form));
        for &(d, v) in self.cells.iter().rev() {
            w.varint(u64::from(gap(prev, d)));
            coder.put(v, w);
            prev = d;
        }
    }

    /// Reads what [`Days::put_wire`] writes. A day that falls outside `i32` sets `overflow` (the
    /// caller rejects the value once it is read whole, as a decoding error would come first).
    pub(super) fn take_wire(r: &mut Reader<'_>, horizon: i32, overflow: &mut bool, form: Form) -> Self {
        let (mut prev, mut coder) = (i64::from(horizon), Coder::new(form));
        let mut cells = r.seq(|r| {
            prev = prev.saturating_sub(i64::from(r.u32()));
            (day_or_flag(prev, overflow), coder.take(r))
        });
        // Swapped in pairs from both ends: `reverse` brings `split_at_mut` and its panics.
        let mut rest = cells.as_mut_slice();
        while let [first, mid @ .., last] = rest {
            core::mem::swap(first, last);
            rest = mid;
        }
        Days { cells }
    }
}

/// Distance from `from` back to `to` on the wire. Days after `from` occur only in states that
/// `validate` rejects; they are written as 0 rather than failing the encoder.
pub(super) fn gap(from: i32, to: i32) -> u32 {
    u32::try_from(i64::from(from) - i64::from(to)).unwrap_or(0)
}

/// A day decoded from the wire, if it fits the `i32` day index.
#[cfg(test)]
pub(super) fn day_from_i64(day: i64) -> Result<i32, StateError> {
    i32::try_from(day).map_err(|_| StateError::DayOverflow)
}

/// A day decoded from the wire; 0 with `overflow` set if it does not fit the `i32` day index.
pub(super) fn day_or_flag(day: i64, overflow: &mut bool) -> i32 {
    i32::try_from(day).unwrap_or_else(|_| {
        *overflow = true;
        0
    })
}

/// Fails unless `lo <= day <= hi`.
pub(super) fn check_day(day: i32, lo: i64, hi: i64) -> Result<(), StateError> {
    if (lo..=hi).contains(&i64::from(day)) {
        Ok(())
    } else {
        Err(StateError::OutOfRange { day, lo, hi })
    }
}

/// Per-day values plus, for all-time features, the fold of the days older than the settle period.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Cells<T> {
    // INVARIANT: `None` for windowed features.
    pub(super) settled: Option<T>,
    pub(super) days: Days<T>,
}

impl<T> Default for Cells<T> {
    fn default() -> Self {
        Cells { settled: None, days: Days::default() }
    }
}

impl<T: Copy> Cells<T> {
    /// Drops (windowed) or folds into `settled` (all time) the days before what `span` keeps.
    ///
    /// A windowed span also drops an all-time total: an all-time feature given a window by a new
    /// model keeps its days, while the total of its older days cannot be split by day.
    pub(super) fn roll(&mut self, span: Span, horizon: i32, merge: fn(T, T) -> T) {
        let taken = self.days.take_before(span.keep_from(horizon), merge);
        match (span, taken) {
            (Span::AllTime, Some(t)) => self.settle(t, merge),
            (Span::AllTime, None) => {}
            (Span::Window(_), _) => self.settled = None,
        }
    }

    /// Records `value` on `day`; `horizon` already includes `day`.
    pub(super) fn record(&mut self, span: Span, horizon: i32, day: i32, value: T, merge: fn(T, T) -> T) {
        self.roll(span, horizon, merge);
        if i64::from(day) >= span.keep_from(horizon) {
            self.days.add(day, value, merge);
        } else if span == Span::AllTime {
            self.settle(value, merge);
        }
        // A windowed event older than what is kept can never count: dropped.
    }

    fn settle(&mut self, value: T, merge: fn(T, T) -> T) {
        self.settled = Some(self.settled.map_or(value, |s| merge(s, value)));
    }

    /// Merge of everything `rule` counts, or `None` when nothing counts.
    pub(super) fn fold(&self, rule: &Rule, merge: fn(T, T) -> T) -> Option<T> {
        // A plain loop: the filter-map-chain-reduce was a larger copy per value type. The order
        // is the days', then the settled total: sums are not associative.
        let mut out = None;
        for &(d, v) in &self.days.cells {
            if rule.counts(d) {
                out = Some(out.map_or(v, |o| merge(o, v)));
            }
        }
        match (out, self.settled) {
            (Some(o), Some(s)) => Some(merge(o, s)),
            (o, s) => o.or(s),
        }
    }

    /// Checks the invariants for `span` at `horizon`.
    pub(super) fn check(
        &self,
        span: Span,
        horizon: i32,
        value_ok: fn(T) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        match (span, self.settled) {
            (Span::Window(_), Some(_)) => return Err(StateError::UnexpectedSettled),
            (_, Some(s)) => value_ok(s)?,
            (_, None) => {}
        }
        self.days.check(span.keep_from(horizon), i64::from(horizon), value_ok)
    }
}

impl Cells<Bits> {
    /// Writes the wire form: the all-time total (an option of a value in `form`), then the days.
    pub(super) fn put_wire(&self, w: &mut Writer, horizon: i32, form: Form) {
        match self.settled {
            None => w.u8(0),
            Some(v) => {
                w.u8(1);
                Coder::new(form).put(v, w);
            }
        }
        self.days.put_wire(w, horizon, form);
    }

    /// Reads what [`Cells::put_wire`] writes (see [`Days::take_wire`] for `overflow`).
    pub(super) fn take_wire(r: &mut Reader<'_>, horizon: i32, overflow: &mut bool, form: Form) -> Self {
        let settled = if r.option() { Some(Coder::new(form).take(r)) } else { None };
        Cells { settled, days: Days::take_wire(r, horizon, overflow, form) }
    }
}

/// Which days count when reading at `today` (see the module docs).
pub(super) struct Rule {
    lo: i64,
    hi: i64,
    settled_below: i64,
}

impl Rule {
    /// The rule for a feature of `span` whose latest day seen is `horizon`, read at `today`.
    pub(super) fn new(span: Span, horizon: i32, today: i32) -> Rule {
        let (h, today) = (i64::from(horizon), i64::from(today));
        match span {
            // Days before what is kept may have been dropped: none of them counts.
            Span::Window(n) => {
                Rule { lo: (today - n + 1).max(span.keep_from(horizon)), hi: today, settled_below: i64::MIN }
            }
            Span::AllTime => Rule { lo: i64::MIN, hi: today, settled_below: h - i64::from(SETTLE_DAYS) + 1 },
        }
    }

    /// Whether an event (or a distinct value last seen) on `day` counts.
    pub(super) fn counts(&self, day: i32) -> bool {
        let d = i64::from(day);
        (self.lo..=self.hi).contains(&d) || d < self.settled_below
    }
}
