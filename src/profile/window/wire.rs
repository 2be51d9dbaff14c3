//! The wire form of [`Aggregate`], documented in the module docs of `window`.

use super::cells::{day_from_i64, gap, Cells, Days};
use super::distinct::Seen;
use super::{Aggregate, Data, State, StateError};
use crate::codec::{wire_via, Reader, Wire, Writer};

/// `None` before anything was recorded; otherwise the horizon day and the data.
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub(super) struct AggregateWire(Option<(i32, DataWire)>);

/// Variant order is the format: do not reorder.
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
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

impl From<&Aggregate> for AggregateWire {
    fn from(a: &Aggregate) -> Self {
        AggregateWire(a.state.as_ref().map(|st| {
            let h = st.horizon;
            let data = match &st.data {
                Data::Empty => DataWire::Empty,
                Data::Count(c) => DataWire::Count(c.settled, c.days.to_wire(h, |v| v)),
                Data::Sum(c) => DataWire::Sum(c.settled, c.days.to_wire(h, |v| v)),
                Data::First(c) => DataWire::First(c.settled, c.days.to_wire(h, delta_encoder())),
                Data::Last(c) => DataWire::Last(c.settled, c.days.to_wire(h, delta_encoder())),
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

impl TryFrom<AggregateWire> for Aggregate {
    type Error = StateError;

    fn try_from(w: AggregateWire) -> Result<Self, StateError> {
        let Some((h, data)) = w.0 else {
            return Ok(Aggregate::default());
        };
        let data = match data {
            DataWire::Empty => Data::Empty,
            DataWire::Count(settled, d) => {
                Data::Count(Cells { settled, days: Days::from_wire(h, d, |v| v)? })
            }
            DataWire::Sum(settled, d) => Data::Sum(Cells { settled, days: Days::from_wire(h, d, |v| v)? }),
            DataWire::First(settled, d) => {
                Data::First(Cells { settled, days: Days::from_wire(h, d, delta_decoder())? })
            }
            DataWire::Last(settled, d) => {
                Data::Last(Cells { settled, days: Days::from_wire(h, d, delta_decoder())? })
            }
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

impl Wire for DataWire {
    fn put(&self, w: &mut Writer) {
        match self {
            DataWire::Empty => w.varint(0),
            DataWire::Count(settled, days) => {
                w.varint(1);
                settled.put(w);
                days.put(w);
            }
            DataWire::Sum(settled, days) => {
                w.varint(2);
                settled.put(w);
                days.put(w);
            }
            DataWire::First(settled, days) | DataWire::Last(settled, days) => {
                w.varint(if matches!(self, DataWire::First(..)) { 3 } else { 4 });
                settled.put(w);
                days.put(w);
            }
            DataWire::Distinct(seen) => {
                w.varint(5);
                seen.put(w);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Self {
        match r.variant("aggregate data", 6) {
            0 => DataWire::Empty,
            1 => DataWire::Count(Wire::take(r), Wire::take(r)),
            2 => DataWire::Sum(Wire::take(r), Wire::take(r)),
            3 => DataWire::First(Wire::take(r), Wire::take(r)),
            4 => DataWire::Last(Wire::take(r), Wire::take(r)),
            _ => DataWire::Distinct(Wire::take(r)),
        }
    }
}

wire_via!(Aggregate, AggregateWire);

/// Times of consecutive days differ by about a day: a 4-byte varint instead of 6.
fn delta_encoder() -> impl FnMut(i64) -> i64 {
    let mut prev = 0i64;
    move |v| {
        let d = v.wrapping_sub(prev);
        prev = v;
        d
    }
}

fn delta_decoder() -> impl FnMut(i64) -> i64 {
    let mut prev = 0i64;
    move |d| {
        prev = prev.wrapping_add(d);
        prev
    }
}
