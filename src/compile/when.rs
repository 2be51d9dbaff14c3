//! Why a date or time in a model is not one, in words: the day the month does not have, the
//! time zone a time lacks (marketer review B3).

use crate::time;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// What is wrong with `s`, which neither `time::parse_rfc3339` nor `time::parse_date` took; empty
/// when nothing more specific than "not a date or time" can be said.
pub(crate) fn problem(s: &str) -> String {
    let num = |r: std::ops::Range<usize>| {
        s.get(r).filter(|t| t.bytes().all(|b| b.is_ascii_digit()))?.parse::<u32>().ok()
    };
    let dashes = s.as_bytes().get(4) == Some(&b'-') && s.as_bytes().get(7) == Some(&b'-');
    if let (true, Some(y), Some(m), Some(d)) = (dashes, num(0..4), num(5..7), num(8..10)) {
        let Some(month) = m.checked_sub(1).and_then(|i| MONTHS.get(i as usize)) else {
            return format!(": there is no month {m}");
        };
        // The last day of the month: the first day of the next one, less one.
        let first = |y: u32, m: u32| time::parse_date(&format!("{y:04}-{m:02}-01"));
        let last = match (first(y, m), if m == 12 { first(y + 1, 1) } else { first(y, m + 1) }) {
            (Some(a), Some(b)) => b - a,
            _ => 31,
        };
        if d == 0 || d as i32 > last {
            let leap = if m == 2 && d == 29 { format!(" ({y} is not a leap year)") } else { String::new() };
            return format!(": {month} {y} has {last} days{leap}");
        }
        if s.len() > 10 && s.len() < 19 {
            return ": a time is written in full, with seconds and time zone, like `2026-11-11T20:00:00+08:00`"
                .to_string();
        }
        if s.len() > 10 {
            let tail = s.get(10..).unwrap_or_default();
            if tail.contains('\u{ff1a}') {
                return ": it has a full-width colon `：`; write the time zone with an ASCII one, like `+08:00`"
                    .to_string();
            }
            let zone = tail.get(9..).unwrap_or_default();
            if zone.len() == 5
                && zone.starts_with(['+', '-'])
                && zone.bytes().skip(1).all(|b| b.is_ascii_digit())
            {
                return format!(
                    ": write the time zone with a colon, like `{}:{}`",
                    zone.get(..3).unwrap_or(zone),
                    zone.get(3..).unwrap_or_default()
                );
            }
            let zoned = tail.ends_with('Z')
                || tail.ends_with('z')
                || tail.get(tail.len().saturating_sub(6)..).is_some_and(|z| {
                    let z = z.as_bytes();
                    matches!(z.first(), Some(b'+' | b'-')) && z.get(3) == Some(&b':')
                });
            if !zoned {
                return ": a time needs its time zone, like `2026-11-11T20:00:00+08:00`".to_string();
            }
        }
    }
    String::new()
}
