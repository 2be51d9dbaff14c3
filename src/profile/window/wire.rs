//! The wire form of [`Aggregate`], documented in the module docs of `window`.
//!
//! Written and read directly; the same form as values ([`AggregateWire`]) exists in tests only,
//! where postcard's serde encoding of it is the reference the direct one is checked against.

use alloc::string::ToString;

#[cfg(test)]
use super::cells::day_from_i64;
#[cfg(test)]
use super::cells::Days;
use super::cells::{day_or_flag, gap, Cells};
use super::distinct::Seen;
#[cfg(test)]
use super::StateError;
use super::{Aggregate, Bits, Data, State, DAY_OVERFLOW};
use crate::codec::{Reader, Wire, Writer};

impl Wire for Aggregate {
    fn put(&self, w: &mut Writer) {
        let Some(st) = &self.state else { return w.u8(0) };
        w.u8(1);
        let h = st.horizon;
        h.put(w);
        match &st.data {
            Data::Empty => w.varint(0),
            Data::Count(c) | Data::Sum(c) | Data::First(c) | Data::Last(c) => {
                let (index, form) = match st.data {
                    Data::Count(_) => (1, Form::Count),
                    Data::Sum(_) => (2, Form::Sum),
                    Data::First(_) => (3, Form::Time),
                    _ => (4, Form::Time),
                };
                w.varint(index);
                c.put_wire(w, h, form);
            }
            Data::Distinct(seen) => {
                w.varint(5);
                w.varint(seen.len() as u64);
                for s in seen {
                    w.bytes(&s.key.to_le_bytes());
                    w.varint(u64::from(gap(h, s.day)));
                }
            }
        }
    }

    fn take(r: &mut Reader<'_>) -> Self {
        let at = r.position();
        if !r.option() {
            return Aggregate::default();
        }
        let h = r.i32();
        let mut overflow = false;
        let data = match r.variant("aggregate data", 6) {
            0 => Data::Empty,
            v @ 1..=4 => {
                let form = match v {
                    1 => Form::Count,
                    2 => Form::Sum,
                    _ => Form::Time,
                };
                let c = Cells::take_wire(r, h, &mut overflow, form);
                match v {
                    1 => Data::Count(c),
                    2 => Data::Sum(c),
                    3 => Data::First(c),
                    _ => Data::Last(c),
                }
            }
            _ => Data::Distinct(r.seq(|r| {
                let key = u64::from_le_bytes(Wire::take(r));
                Seen { key, day: day_or_flag(i64::from(h) - i64::from(r.u32()), &mut overflow) }
            })),
        };
        if reject_overflow(r, at, overflow) {
            return Aggregate::default();
        }
        Aggregate { state: Some(State { horizon: h, data }) }
    }
}

/// How cell values are written: counts as `u32`, sums as `f64`, times as `i64` differences from
/// the previous time written in the same list (the first from 0; times of consecutive days differ
/// by about a day: a 4-byte varint instead of 6).
#[derive(Debug, Clone, Copy)]
pub(super) enum Form {
    Count,
    Sum,
    Time,
}

/// Writes or reads the values of one list in a [`Form`], keeping the last time for the
/// differences. One non-generic coder for every form: one copy of the list code.
pub(super) struct Coder {
    form: Form,
    prev: i64,
}

impl Coder {
    pub(super) fn new(form: Form) -> Coder {
        Coder { form, prev: 0 }
    }

    pub(super) fn put(&mut self, v: Bits, w: &mut Writer) {
        match self.form {
            Form::Count => v.as_count().put(w),
            Form::Sum => v.as_num().put(w),
            Form::Time => {
                let t = v.as_time();
                t.wrapping_sub(self.prev).put(w);
                self.prev = t;
            }
        }
    }

    pub(super) fn take(&mut self, r: &mut Reader<'_>) -> Bits {
        match self.form {
            Form::Count => Bits::count(r.u32()),
            Form::Sum => Bits::num(r.f64()),
            Form::Time => {
                self.prev = self.prev.wrapping_add(r.i64());
                Bits::time(self.prev)
            }
        }
    }
}

/// Rejects the value read from `at` if a day in it overflowed; whether it did.
pub(super) fn reject_overflow(r: &mut Reader<'_>, at: usize, overflow: bool) -> bool {
    if overflow {
        r.reject(at, DAY_OVERFLOW.to_string());
    }
    overflow
}

/// `None` before anything was recorded; otherwise the horizon day and the data.
#[cfg(test)]
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct AggregateWire(Option<(i32, DataWire)>);

/// Variant order is the format: do not reorder.
#[cfg(test)]
#[derive(serde::Serialize, serde::Deserialize)]
enum DataWire {
    Empty,
    Count(Option<u32>, Vec<(u32, u32)>),
    Sum(Option<f64>, Vec<(u32, f64)>),
    /// Per-day times as differences from the previous one written (the first from 0).
    First(Option<i64>, Vec<(u32, i64)>),
    /// As `First`.
    Last(Option<i64>, Vec<(u32, i64)>),
    /// Key bytes (little endian), distance back from the horizon day.
    Distinct(Vec<([u8; 8], u32)>),
}

#[cfg(test)]
impl From<&Aggregate> for AggregateWire {
    fn from(a: &Aggregate) -> Self {
        AggregateWire(a.state.as_ref().map(|st| {
            let h = st.horizon;
            let data = match &st.data {
                Data::Empty => DataWire::Empty,
                Data::Count(c) => {
                    DataWire::Count(c.settled.map(Bits::as_count), c.days.to_wire(h, Bits::as_count))
                }
                Data::Sum(c) => DataWire::Sum(c.settled.map(Bits::as_num), c.days.to_wire(h, Bits::as_num)),
                Data::First(c) => {
                    DataWire::First(c.settled.map(Bits::as_time), c.days.to_wire(h, delta_encoder()))
                }
                Data::Last(c) => {
                    DataWire::Last(c.settled.map(Bits::as_time), c.days.to_wire(h, delta_encoder()))
                }
                Data::Distinct(seen) => {
                    DataWire::Distinct(seen.iter().map(|s| (s.key.to_le_bytes(), gap(h, s.day))).collect())
                }
            };
            (h, data)
        }))
    }
}

#[cfg(test)]
impl From<Aggregate> for AggregateWire {
    fn from(a: Aggregate) -> Self {
        AggregateWire::from(&a)
    }
}

#[cfg(test)]
impl TryFrom<AggregateWire> for Aggregate {
    type Error = StateError;

    fn try_from(w: AggregateWire) -> Result<Self, StateError> {
        let Some((h, data)) = w.0 else {
            return Ok(Aggregate::default());
        };
        let data = match data {
            DataWire::Empty => Data::Empty,
            DataWire::Count(settled, d) => Data::Count(Cells {
                settled: settled.map(Bits::count),
                days: Days::from_wire(h, d, Bits::count)?,
            }),
            DataWire::Sum(settled, d) => {
                Data::Sum(Cells { settled: settled.map(Bits::num), days: Days::from_wire(h, d, Bits::num)? })
            }
            DataWire::First(settled, d) => Data::First(Cells {
                settled: settled.map(Bits::time),
                days: Days::from_wire(h, d, delta_decoder())?,
            }),
            DataWire::Last(settled, d) => Data::Last(Cells {
                settled: settled.map(Bits::time),
                days: Days::from_wire(h, d, delta_decoder())?,
            }),
            DataWire::Distinct(seen) => Data::Distinct(
                seen.into_iter()
                    .map(|(k, g)| {
                        let day = day_from_i64(i64::from(h) - i64::from(g))?;
                        Ok(Seen { key: u64::from_le_bytes(k), day })
                    })
                    .collect::<Result<_, StateError>>()?,
            ),
        };
        Ok(Aggregate { state: Some(State { horizon: h, data }) })
    }
}

/// Times as differences (see [`Form::Time`]), for the reference form in tests.
#[cfg(test)]
fn delta_encoder() -> impl FnMut(Bits) -> i64 {
    let mut prev = 0i64;
    move |v| {
        let v = v.as_time();
        let d = v.wrapping_sub(prev);
        prev = v;
        d
    }
}

#[cfg(test)]
fn delta_decoder() -> impl FnMut(i64) -> Bits {
    let mut prev = 0i64;
    move |d| {
        prev = prev.wrapping_add(d);
        Bits::time(prev)
    }
}
