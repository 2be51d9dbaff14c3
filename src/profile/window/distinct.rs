//! Distinct values: each kept with the latest day it was seen, at most `max` of them.

use alloc::vec::Vec;

use super::cells::{check_day, Rule};
use super::{Span, StateError};

/// A distinct value and the latest day it was seen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Seen {
    pub(super) key: u64,
    pub(super) day: i32,
}

// INVARIANT (checked by `check`): keys are unique, at most `max`, ordered least recently recorded
// first, and within the days `span` keeps.

/// Records `key` seen on `day`; `horizon` already includes `day`.
pub(super) fn record(
    seen: &mut Vec<Seen>,
    span: Span,
    horizon: i32,
    day: i32,
    key: u64,
    max: u16,
    moved: bool,
) {
    // Rolling only drops something when the horizon moved or the list is over `max`.
    if moved || seen.len() > usize::from(max) {
        roll(seen, span, horizon, max);
    }
    if let Span::Window(_) = span {
        if i64::from(day) < span.keep_from(horizon) {
            return;
        }
    }
    // Most recent last: a value seen again is most often the one seen just before.
    if let Some(last) = seen.last_mut().filter(|s| s.key == key) {
        last.day = last.day.max(day);
    } else if let Some(pos) = seen.iter().rposition(|s| s.key == key) {
        let old = crate::profile::remove_at(seen, pos).map_or(day, |s| s.day);
        seen.push(Seen { key, day: old.max(day) });
    } else if max > 0 {
        evict_to(seen, usize::from(max) - 1);
        seen.push(Seen { key, day });
    }
}

/// Drops what a windowed feature no longer keeps, and evicts down to `max`.
pub(super) fn roll(seen: &mut Vec<Seen>, span: Span, horizon: i32, max: u16) {
    if let Span::Window(_) = span {
        let lower = span.keep_from(horizon);
        seen.retain(|s| i64::from(s.day) >= lower);
    }
    evict_to(seen, usize::from(max));
}

/// Evicts the values with the oldest latest day (ties: least recently recorded) down to `len`.
fn evict_to(seen: &mut Vec<Seen>, len: usize) {
    while seen.len() > len {
        let Some(first) = seen.first() else { return };
        // A plain loop instead of `min_by_key`; strictly older only, so the first of equal days
        // (the least recently recorded) is evicted.
        let (mut pos, mut day) = (0, first.day);
        for (i, s) in seen.iter().enumerate() {
            if s.day < day {
                (pos, day) = (i, s.day);
            }
        }
        crate::profile::remove_at(seen, pos);
    }
}

/// How many values `rule` counts.
pub(super) fn count(seen: &[Seen], rule: &Rule) -> usize {
    seen.iter().filter(|s| rule.counts(s.day)).count()
}

/// Checks the invariants for `span` at `horizon`.
pub(super) fn check(seen: &[Seen], span: Span, horizon: i32, max: u16) -> Result<(), StateError> {
    if seen.len() > usize::from(max) {
        return Err(StateError::TooManyValues { len: seen.len(), max });
    }
    let lo = match span {
        Span::Window(_) => span.keep_from(horizon),
        Span::AllTime => i64::from(i32::MIN),
    };
    for s in seen {
        check_day(s.day, lo, i64::from(horizon))?;
    }
    // Quadratic, without a sort (nor its code): `max` is at most `limits::DISTINCT` (256) in any
    // snapshot that loads (checked by the compiler and again when a snapshot is decoded).
    let mut before = seen.iter();
    while let Some(s) = before.next_back() {
        if before.as_slice().iter().any(|t| t.key == s.key) {
            return Err(StateError::DuplicateValue);
        }
    }
    Ok(())
}
