//! Unit tests of `window`: scenarios, validation and state size. Random streams against a naive
//! reference live in `tests/window_props.rs`.

use super::*;
use crate::codec::{from_bytes, to_bytes, Wire};

const DAY_MS: i64 = 86_400_000;
/// 2024-09-04 00:00 UTC+8, as day index 19_970 in UTC+8.
const T0: i64 = 19_970 * DAY_MS - 8 * 3_600_000;

fn spec(agg: Agg, window_days: Option<u16>) -> FeatureSpec {
    FeatureSpec { agg, window_days }
}

fn at(day: i32) -> (i32, i64) {
    (day, T0 + i64::from(day - 19_970) * DAY_MS + 3_600_000)
}

fn size<T: Wire>(v: &T) -> usize {
    to_bytes(v).len()
}

#[test]
fn distinct_key_is_fnv1a_64() {
    // Published FNV-1a 64 test vectors.
    assert_eq!(distinct_key(""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(distinct_key("a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(distinct_key("foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn window_covers_today_and_the_n_minus_1_days_before() {
    let s = spec(Agg::Count, Some(7));
    let mut a = Aggregate::default();
    for d in [100, 103, 106] {
        let (day, t) = at(d);
        a.record(&s, day, t, 0.0, 0);
    }
    assert_eq!(a.read(&s, 106), Some(3.0));
    assert_eq!(a.read(&s, 107), Some(2.0));
    assert_eq!(a.read(&s, 112), Some(1.0));
    assert_eq!(a.read(&s, 113), Some(0.0));
}

#[test]
fn events_after_today_count_only_from_their_day() {
    let s = spec(Agg::Last, Some(30));
    let mut a = Aggregate::default();
    let (d1, t1) = at(200);
    let (d2, t2) = at(205);
    a.record(&s, d2, t2, 0.0, 0);
    a.record(&s, d1, t1, 0.0, 0); // the clock went back five days
    assert_eq!(a.read(&s, 200), Some(t1 as f64));
    assert_eq!(a.read(&s, 204), Some(t1 as f64));
    assert_eq!(a.read(&s, 205), Some(t2 as f64));
    assert_eq!(a.read(&s, 199), None);
}

#[test]
fn pruned_days_never_come_back_when_the_clock_goes_back() {
    let s = spec(Agg::Count, Some(7));
    let mut a = Aggregate::default();
    a.record(&s, 100, at(100).1, 0.0, 0);
    // Kept: the window, and a week of margin for a clock ahead (days 104 to 110, and 97 to 103).
    a.prune(&s, 110);
    assert_eq!(a.read(&s, 100), Some(1.0));
    // Past the margin (days 107 to 120 kept): dropped, and never counted again.
    a.prune(&s, 120);
    assert_eq!(a.read(&s, 100), Some(0.0));
    // An event dated before the kept days is ignored too.
    a.record(&s, 101, at(101).1, 0.0, 0);
    assert_eq!(a.read(&s, 101), Some(0.0));
    a.record(&s, 108, at(108).1, 0.0, 0);
    assert_eq!(a.read(&s, 108), Some(1.0));
    a.validate(&s).unwrap();
}

/// An event from a clock ahead (a few minutes past midnight, or days) moves the latest day seen;
/// once the clock is right again, every day the window counts still counts, and the day's later
/// events count too, for a clock up to `DROP_MARGIN_DAYS` ahead (review of 2026-11-24: a 1-day
/// window lost the rest of the day, a 7-day one its oldest days).
#[test]
fn an_event_from_a_clock_ahead_loses_nothing_the_window_counts() {
    for agg in [Agg::Count, Agg::Sum, Agg::Distinct { max: 10 }] {
        let day = spec(agg, Some(1));
        let mut a = Aggregate::default();
        a.record(&day, 100, at(100).1, 1.0, 1);
        a.record(&day, 101, at(101).1, 1.0, 2); // 4 hours ahead, past midnight
        a.record(&day, 100, at(100).1 + 60_000, 1.0, 3); // right again
        assert_eq!(a.read(&day, 100), Some(2.0), "{agg:?}");
        assert_eq!(a.read(&day, 101), Some(1.0), "{agg:?}");
        a.validate(&day).unwrap();

        let week = spec(agg, Some(7));
        let mut a = Aggregate::default();
        a.record(&week, 94, at(94).1, 1.0, 1);
        a.record(&week, 101 + i32::from(DROP_MARGIN_DAYS) - 1, at(101).1, 1.0, 2); // a week ahead
        assert_eq!(a.read(&week, 100), Some(1.0), "{agg:?}: day 94 is in the 7 days to day 100");
        a.validate(&week).unwrap();
    }
}

#[test]
fn all_time_settles_after_settle_days() {
    let s = spec(Agg::Sum, None);
    let mut a = Aggregate::default();
    a.record(&s, 100, at(100).1, 10.0, 0);
    a.record(&s, 120, at(120).1, 5.0, 0);
    a.record(&s, 118, at(118).1, f64::NAN, 0); // ignored
                                               // Day 100 is settled: counts even when the clock reads day 50.
    assert_eq!(a.read(&s, 50), Some(10.0));
    assert_eq!(a.read(&s, 119), Some(10.0));
    assert_eq!(a.read(&s, 120), Some(15.0));
    assert_eq!(a.read(&s, 9_999), Some(15.0));
    a.validate(&s).unwrap();
}

#[test]
fn sums_saturate_instead_of_overflowing() {
    let s = spec(Agg::Sum, Some(1));
    let mut a = Aggregate::default();
    a.record(&s, 1, 0, f64::MAX, 0);
    a.record(&s, 1, 0, f64::MAX, 0);
    assert_eq!(a.read(&s, 1), Some(f64::MAX));
    a.validate(&s).unwrap();
}

#[test]
fn distinct_evicts_the_least_recently_seen() {
    let s = spec(Agg::Distinct { max: 2 }, Some(30));
    let mut a = Aggregate::default();
    a.record(&s, 10, 0, 0.0, 1);
    a.record(&s, 11, 0, 0.0, 2);
    a.record(&s, 12, 0, 0.0, 1); // 1 is now the most recently seen
    a.record(&s, 13, 0, 0.0, 3); // evicts 2
    assert_eq!(a.read(&s, 13), Some(2.0));
    assert_eq!(a.read(&s, 12), Some(1.0)); // only 1 was last seen by day 12
    a.record(&s, 13, 0, 0.0, 2);
    assert_eq!(a.read(&s, 13), Some(2.0));
    a.validate(&s).unwrap();
    let zero = spec(Agg::Distinct { max: 0 }, None);
    let mut z = Aggregate::default();
    z.record(&zero, 1, 0, 0.0, 1);
    assert_eq!(z.read(&zero, 1), Some(0.0));
}

#[test]
fn a_change_of_aggregation_restarts_the_feature() {
    let count = spec(Agg::Count, Some(7));
    let first = spec(Agg::First, Some(7));
    let mut a = Aggregate::default();
    a.record(&count, 5, 500, 0.0, 0);
    assert_eq!(a.read(&first, 5), None);
    assert!(matches!(
        a.validate(&first),
        Err(StateError::KindMismatch { found: "count", expected: "first" })
    ));
    a.record(&first, 5, 600, 0.0, 0);
    assert_eq!(a.read(&first, 5), Some(600.0));
    assert_eq!(a.read(&count, 5), Some(0.0));
}

#[test]
fn a_shorter_window_validates_after_prune() {
    let long = spec(Agg::Count, Some(30));
    let short = spec(Agg::Count, Some(7));
    let mut a = Aggregate::default();
    a.record(&long, 1, 0, 0.0, 0);
    a.record(&long, 20, 0, 0.0, 0);
    assert!(matches!(a.validate(&short), Err(StateError::OutOfRange { day: 1, .. })));
    a.prune(&short, 20);
    a.validate(&short).unwrap();
    assert_eq!(a.read(&short, 20), Some(1.0));
}

#[test]
fn validate_rejects_broken_states() {
    let s = spec(Agg::Count, Some(7));
    let broken = [
        (
            Data::Count(Cells {
                settled: None,
                days: cells::Days { cells: vec![(9, Bits::count(1)), (8, Bits::count(1))] },
            }),
            "unordered",
        ),
        (
            Data::Count(Cells { settled: None, days: cells::Days { cells: vec![(9, Bits::count(0))] } }),
            "empty",
        ),
        (
            // Before the 7 days to the horizon and the week of margin (days -3 to 10).
            Data::Count(Cells { settled: None, days: cells::Days { cells: vec![(-4, Bits::count(1))] } }),
            "out of range",
        ),
        (Data::Count(Cells { settled: Some(Bits::count(3)), days: cells::Days::default() }), "settled"),
    ];
    for (data, why) in broken {
        let a = Aggregate { state: Some(State { horizon: 10, data }) };
        assert!(a.validate(&s).is_err(), "{why}");
        let _ = a.read(&s, 10);
    }
    let d = spec(Agg::Distinct { max: 2 }, None);
    let dup = Data::Distinct(vec![Seen { key: 1, day: 3 }, Seen { key: 1, day: 4 }]);
    let a = Aggregate { state: Some(State { horizon: 10, data: dup }) };
    assert_eq!(a.validate(&d), Err(StateError::DuplicateValue));
    let sum = spec(Agg::Sum, None);
    let inf = Data::Sum(Cells { settled: Some(Bits::num(f64::INFINITY)), days: cells::Days::default() });
    let a = Aggregate { state: Some(State { horizon: 10, data: inf }) };
    assert_eq!(a.validate(&sum), Err(StateError::NotFinite));
}

#[test]
fn day_counts_for_caps() {
    let mut c = DayCounts::default();
    assert_eq!(c.last_ms(), None);
    for (day, t) in [(10, 1_000), (10, 2_000), (12, 5_000), (14, 9_000)] {
        c.record(day, t);
    }
    c.record(13, 7_000); // the clock went back a day
    assert_eq!(c.count_in_last(14, 1), 1);
    assert_eq!(c.count_in_last(14, 5), 5);
    assert_eq!(c.count_in_last(13, 5), 4);
    assert_eq!(c.count_in_last(14, 0), 0);
    assert_eq!(c.last_ms(), Some(9_000));
    c.prune(14, 3);
    assert_eq!(c.count_in_last(14, 5), 3);
    c.validate().unwrap();
    let back: DayCounts = from_bytes(&to_bytes(&c)).unwrap();
    assert_eq!(back, c);
}

#[test]
fn take_before_takes_exactly_the_older_days() {
    let add = |a: u32, b: u32| a + b;
    let mut d = cells::Days { cells: vec![(3, 1), (5, 2), (8, 4)] };
    // The first day is kept, so every day is: nothing taken.
    assert_eq!(d.take_before(3, add), None);
    assert_eq!(d.cells, [(3, 1), (5, 2), (8, 4)]);
    assert_eq!(d.take_before(6, add), Some(3));
    assert_eq!(d.cells, [(8, 4)]);
    assert_eq!(d.take_before(9, add), Some(4));
    assert!(d.cells.is_empty());
    assert_eq!(d.take_before(i64::MAX, add), None);
}

#[test]
fn day_counts_stay_bounded() {
    let mut c = DayCounts::default();
    for day in 0..5_000 {
        c.record(day, i64::from(day) * DAY_MS);
    }
    assert_eq!(c.count_in_last(4_999, u16::MAX), u32::from(MAX_WINDOW_DAYS));
    c.validate().unwrap();
    let n = size(&c);
    println!("DayCounts, {MAX_WINDOW_DAYS} days of one exposure a day: {n} bytes");
    assert!(n <= 820, "{n} bytes");
}

/// A year of heavy daily use (200 events a day over 1_000 products) on one 90-day feature.
fn year_of_heavy_use(s: &FeatureSpec) -> Aggregate {
    let mut a = Aggregate::default();
    let mut product = 7u64;
    for d in 0..365 {
        let (day, t) = at(19_970 + d);
        for i in 0..200 {
            product = (product * 31 + 17) % 1_000;
            a.record(s, day, t + i * 60_000, 99.5 + i as f64, distinct_key(&product.to_string()));
        }
    }
    a
}

#[test]
fn state_size_of_a_90_day_feature_after_a_year_of_heavy_use() {
    let cases = [
        // Windows keep a week of margin past their days (`DROP_MARGIN_DAYS`).
        (Agg::Count, Some(90), 310),
        (Agg::Sum, Some(90), 900),
        (Agg::First, Some(90), 510),
        (Agg::Last, Some(90), 510),
        (Agg::Distinct { max: 100 }, Some(90), 1_000),
        (Agg::Count, None, 40),
        (Agg::Sum, None, 90),
    ];
    for (agg, window_days, budget) in cases {
        let s = spec(agg, window_days);
        let a = year_of_heavy_use(&s);
        a.validate(&s).unwrap();
        let bytes = to_bytes(&a);
        println!("{agg:?} over {window_days:?} days: {} bytes", bytes.len());
        assert!(bytes.len() <= budget, "{agg:?}: {} bytes > {budget}", bytes.len());
        let back: Aggregate = from_bytes(&bytes).unwrap();
        assert_eq!(back, a);
    }
}

#[test]
fn a_day_before_i32_min_is_refused_where_its_value_starts() {
    // Some, horizon i32::MIN (zigzag), Count, no total, one cell one day further back, count 1.
    let count = [1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 1, 1, 1];
    let err = from_bytes::<Aggregate>(&count).unwrap_err();
    assert_eq!(err.to_string(), "byte 0: a day decoded from the state is out of the `i32` range");
    // A decoding error later in the same value comes first.
    let err = from_bytes::<Aggregate>(&count[..10]).unwrap_err();
    assert_eq!(err.to_string(), "byte 10: expected a varint, but the input ends");
    // Distinct: key bytes, then the distance back.
    let mut distinct = vec![0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 5, 1];
    distinct.extend([7; 8]);
    distinct.push(1);
    let err = from_bytes::<(u8, Aggregate)>(&distinct).unwrap_err();
    assert_eq!(err.to_string(), "byte 1: a day decoded from the state is out of the `i32` range");
    // Exposure counts: horizon, no last time, one cell.
    let counts = [1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 1, 1, 1];
    let err = from_bytes::<DayCounts>(&counts).unwrap_err();
    assert_eq!(err.to_string(), "byte 0: a day decoded from the state is out of the `i32` range");
    assert_eq!(StateError::DayOverflow.to_string(), "a day decoded from the state is out of the `i32` range");
}

#[test]
fn counts_saturate_at_u32_max_and_keep_their_wire_form() {
    let all_time = spec(Agg::Count, None);
    // Some, horizon 0, Count, a total of u32::MAX - 1, one cell on the horizon day counting
    // u32::MAX.
    let bytes = [1, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
    let mut a = from_bytes::<Aggregate>(&bytes).unwrap();
    a.validate(&all_time).unwrap();
    assert_eq!(a.read(&all_time, 0), Some(f64::from(u32::MAX)));
    a.record(&all_time, 0, 0, 0.0, 0);
    assert_eq!(a.read(&all_time, 0), Some(f64::from(u32::MAX)));
    assert_eq!(to_bytes(&a), bytes);
    // Exposures: horizon 0, no last time, u32::MAX on day 0 and 5 on day -1.
    let bytes = [1, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 5];
    let mut c = from_bytes::<DayCounts>(&bytes).unwrap();
    c.validate().unwrap();
    assert_eq!(c.count_in_last(0, 1), u32::MAX);
    assert_eq!(c.count_in_last(0, 2), u32::MAX);
    assert_eq!(c.count_in_last(-1, 1), 5);
    assert_eq!(to_bytes(&c), bytes);
    c.record(0, 7);
    assert_eq!(c.count_in_last(0, 1), u32::MAX);
    assert_eq!(c.last_ms(), Some(7));
}

#[test]
fn times_are_held_exactly_whatever_their_size() {
    for agg in [Agg::First, Agg::Last] {
        let s = spec(agg, None);
        let mut a = Aggregate::default();
        // Times f64 cannot hold exactly, and the i64 bounds, over more days than are settled.
        for (day, t) in [(0, i64::MIN + 1), (0, (1 << 53) + 1), (20, i64::MAX), (20, -1), (30, i64::MIN)] {
            a.record(&s, day, t, 0.0, 0);
        }
        let bytes = to_bytes(&a);
        let back: Aggregate = from_bytes(&bytes).unwrap();
        assert_eq!(back, a);
        assert_eq!(to_bytes(&back), bytes);
        let want = if agg == Agg::First { i64::MIN } else { i64::MAX };
        assert_eq!(a.read(&s, 30), Some(want as f64));
    }
}
