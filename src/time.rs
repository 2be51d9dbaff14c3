//! Calendar arithmetic in the brand's fixed UTC offset. No clock: every function takes the time.
//!
//! Days are counted as natural days in the model's offset: `day = floor((ms + offset) / 86_400_000)`,
//! day 0 being 1970-01-01 in that offset.

use alloc::string::String;

/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The natural day of `ms` in a zone `offset_ms` east of UTC.
pub fn day_of(ms: i64, offset_ms: i64) -> i32 {
    let d = ms.saturating_add(offset_ms).div_euclid(DAY_MS);
    d.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Minute of the day (0 to 1439) of `ms` in the zone.
pub fn minute_of_day(ms: i64, offset_ms: i64) -> u16 {
    (ms.saturating_add(offset_ms).rem_euclid(DAY_MS) / 60_000) as u16
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), clamped to
/// the `i32` range.
// Computed in i64: in i32 it overflowed for days near the ends of the range, which a broken clock
// reaches (tests/fuzz_crashers.rs `extreme_clock_does_not_overflow`).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { i64::from(y) - 1 } else { i64::from(y) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The date `(year, month, day)` of a day number.
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = i64::from(z) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    // |day| < 2^31 gives |year| < 2^23: the year fits an i32.
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD` into a day number.
// Fields read by byte position (as the other parsers here): ASCII digits and separators only.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let y = two_digits(b, 0)? * 100 + two_digits(b, 2)?;
    let (y, m, d) = (y as i32, two_digits(b, 5)?, two_digits(b, 8)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Two two-digit numbers separated by `sep` (`MM-DD`, `HH:MM`).
fn two_pairs(s: &str, sep: u8) -> Option<(u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 5 || b.get(2) != Some(&sep) {
        return None;
    }
    Some((two_digits(b, 0)?, two_digits(b, 3)?))
}

/// Parses `MM-DD` (an anniversary; `02-29` allowed).
pub fn parse_month_day(s: &str) -> Option<(u32, u32)> {
    let (m, d) = two_pairs(s, b'-')?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(2000, m) {
        return None;
    }
    Some((m, d))
}

/// `MM-DD` of a month and day (each below 100), as [`parse_month_day`] reads it.
pub fn month_day_text(m: u32, d: u32) -> String {
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    let mut out = String::with_capacity(5);
    out.push(digit(m / 10));
    out.push(digit(m));
    out.push('-');
    out.push(digit(d / 10));
    out.push(digit(d));
    out
}

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_hh_mm(s: &str) -> Option<u16> {
    let (h, m) = two_pairs(s, b':')?;
    if h > 23 || m > 59 {
        return None;
    }
    Some((h * 60 + m) as u16)
}

/// Parses a UTC offset `+08:00`, `-05:30`, `Z` into milliseconds east of UTC.
pub fn parse_offset(s: &str) -> Option<i64> {
    if s == "Z" {
        return Some(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let minutes = parse_hh_mm(s.get(1..)?)?;
    if minutes > 14 * 60 {
        return None;
    }
    Some(sign * i64::from(minutes) * 60_000)
}

/// Parses an RFC 3339 timestamp (`2026-11-11T00:00:00+08:00`, fractional seconds allowed) into ms.
// Read by byte position: the fixed-width fields are ASCII, so no char boundaries to check.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let date = parse_date(s.get(..10)?)?;
    let b = s.as_bytes();
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (h, m, sec) = (two_digits(b, 11)?, two_digits(b, 14)?, two_digits(b, 17)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut end = 19;
    let mut millis = 0i64;
    if b.get(end) == Some(&b'.') {
        end += 1;
        let start = end;
        while let Some(&d) = b.get(end).filter(|d| d.is_ascii_digit()) {
            // The first three digits, padded with zeros: `.5` is 500 ms; digits past ms are dropped.
            if end - start < 3 {
                millis = millis * 10 + i64::from(d - b'0');
            }
            end += 1;
        }
        if end == start {
            return None;
        }
        for _ in end - start..3 {
            millis *= 10;
        }
    }
    let tail = s.get(end..)?;
    let offset = if tail == "z" { 0 } else { parse_offset(tail)? };
    let secs = i64::from(date) * 86_400 + i64::from(h * 3600 + m * 60 + sec);
    Some(secs * 1000 + millis - offset)
}

/// The two ASCII digits at `at` as a number.
fn two_digits(b: &[u8], at: usize) -> Option<u32> {
    match (b.get(at), b.get(at + 1)) {
        (Some(&x), Some(&y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
            Some(u32::from(x - b'0') * 10 + u32::from(y - b'0'))
        }
        _ => None,
    }
}

/// `now - t` in ms as a float, exact before rounding: `now - t` overflows i64 for times at its
/// ends (a broken clock; found by tests/fuzz_crashers.rs `extreme_clock_does_not_overflow`), but
/// its magnitude always fits a u64. Rounds as the i128 difference would, without i128's software
/// conversion to f64.
pub fn elapsed_ms(now: i64, t: i64) -> f64 {
    match now.checked_sub(t) {
        Some(d) => d as f64,
        None if now > t => now.wrapping_sub(t) as u64 as f64,
        None => -(t.wrapping_sub(now) as u64 as f64),
    }
}

/// Start of day `day` in ms since the epoch, in the zone.
pub fn day_start_ms(day: i32, offset_ms: i64) -> i64 {
    i64::from(day) * DAY_MS - offset_ms
}

/// Days from `today` to the next occurrence of month/day (0 when it is today). A 29 February
/// anniversary falls on 28 February in years without one.
pub fn days_to_anniversary(today: i32, month: u32, day: u32) -> i32 {
    let (y, _, _) = civil_from_days(today);
    for year in [y, y.saturating_add(1)] {
        let d = if month == 2 && day == 29 && !is_leap(year) { 28 } else { day };
        let target = days_from_civil(year, month, d);
        if target >= today {
            return target - today;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-800_000, -1, 0, 1, 19_000, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-11"), Some(20_768));
        assert_eq!(parse_date("2026-02-29"), None);
        assert_eq!(parse_date("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        assert_eq!(parse_date("2026-1-01"), None);
        for bad in
            ["2026-11-1", "2026-11-011", "2026/11/11", "20261-1-11", "2026-11--1", "-026-11-11", "2026-é-11"]
        {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for (m, d) in [(1, 1), (2, 29), (9, 5), (12, 31)] {
            assert_eq!(month_day_text(m, d), format!("{m:02}-{d:02}"));
            assert_eq!(parse_month_day(&month_day_text(m, d)), Some((m, d)));
        }
        assert_eq!(parse_hh_mm("08:30"), Some(510));
        for bad in ["8:30", "08:3", "08-30", "0830", "08:30:00", "24:00"] {
            assert_eq!(parse_hh_mm(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.0429Z"), Some(1042));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.Z"), None);
        assert_eq!(parse_rfc3339("1970-01-01T00:0a:01Z"), None);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01+08:0x"), None);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00"), None);
        assert_eq!(parse_offset("+08:00"), Some(8 * HOUR_MS));
        assert_eq!(parse_offset("-05:30"), Some(-(5 * HOUR_MS + 30 * 60_000)));
        assert_eq!(parse_offset("+15:00"), None);
        // 2026-11-10T16:00:00Z is midnight of 11.11 in China.
        let ms = parse_rfc3339("2026-11-10T16:00:00Z").unwrap();
        assert_eq!(day_of(ms, 8 * HOUR_MS), parse_date("2026-11-11").unwrap());
        assert_eq!(day_of(ms - 1, 8 * HOUR_MS), parse_date("2026-11-10").unwrap());
        assert_eq!(minute_of_day(ms, 8 * HOUR_MS), 0);
        assert_eq!(day_of(-1, 0), -1);
    }

    #[test]
    fn elapsed_is_the_exact_difference_rounded_once() {
        let ends = [i64::MIN, i64::MIN + 1, -(1 << 53) - 1, -1, 0, 1, (1 << 53) + 1, i64::MAX - 1, i64::MAX];
        for &a in &ends {
            for &b in &ends {
                assert_eq!(elapsed_ms(a, b), (i128::from(a) - i128::from(b)) as f64, "{a} - {b}");
            }
        }
    }

    /// A non-empty run of ASCII digits as a number; `None` for anything else or on overflow.
    fn digits(s: &str) -> Option<u32> {
        if s.is_empty() {
            return None;
        }
        s.bytes().try_fold(0u32, |n, b| {
            if b.is_ascii_digit() {
                n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
            } else {
                None
            }
        })
    }

    /// As before, parses `YYYY-MM-DD` into a day number.
    fn reference_date(s: &str) -> Option<i32> {
        let mut it = s.splitn(3, '-');
        let (y, m, d) = (it.next()?, it.next()?, it.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let (y, m, d) = (digits(y)? as i32, digits(m)?, digits(d)?);
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(days_from_civil(y, m, d))
    }

    /// As before, parses `MM-DD` (an anniversary; `02-29` allowed).
    fn reference_month_day(s: &str) -> Option<(u32, u32)> {
        let (m, d) = s.split_once('-')?;
        if m.len() != 2 || d.len() != 2 {
            return None;
        }
        let (m, d) = (digits(m)?, digits(d)?);
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(2000, m) {
            return None;
        }
        Some((m, d))
    }

    /// As before, parses `HH:MM` into minutes after midnight.
    fn reference_hh_mm(s: &str) -> Option<u16> {
        let (h, m) = s.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m) = (digits(h)?, digits(m)?);
        if h > 23 || m > 59 {
            return None;
        }
        Some((h * 60 + m) as u16)
    }

    /// The parser as it was before it read by byte position, to hold the new one to.
    fn reference_rfc3339(s: &str) -> Option<i64> {
        let date = reference_date(s.get(..10)?)?;
        let rest = s.get(10..)?;
        let rest =
            rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')).or_else(|| rest.strip_prefix(' '))?;
        let hms = rest.get(..8)?;
        let (h, m, sec) = (digits(hms.get(0..2)?)?, digits(hms.get(3..5)?)?, digits(hms.get(6..8)?)?);
        if hms.get(2..3)? != ":" || hms.get(5..6)? != ":" || h > 23 || m > 59 || sec > 60 {
            return None;
        }
        let mut tail = rest.get(8..)?;
        let mut millis = 0i64;
        if let Some(frac) = tail.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            // The first three digits, padded with zeros: `.5` is 500 ms; digits past ms are dropped.
            let f = frac.as_bytes().get(..n)?;
            millis = f.iter().chain(b"000").take(3).fold(0, |ms, b| ms * 10 + i64::from(b - b'0'));
            tail = frac.get(n..)?;
        }
        let offset = if tail == "z" { 0 } else { parse_offset(tail)? };
        let secs = i64::from(date) * 86_400 + i64::from(h * 3600 + m * 60 + sec);
        Some(secs * 1000 + millis - offset)
    }

    proptest::proptest! {
        #[test]
        fn dates_and_times_parse_as_before(s in "[-0-9:/é]{0,11}") {
            proptest::prop_assert_eq!(parse_date(&s), reference_date(&s));
            proptest::prop_assert_eq!(parse_month_day(&s), reference_month_day(&s));
            proptest::prop_assert_eq!(parse_hh_mm(&s), reference_hh_mm(&s));
        }

        #[test]
        fn valid_dates_parse_as_before(y in 0u32..10_000, m in 0u32..14, d in 0u32..33) {
            let (date, md, hm) = (format!("{y:04}-{m:02}-{d:02}"), format!("{m:02}-{d:02}"), format!("{m:02}:{d:02}"));
            proptest::prop_assert_eq!(parse_date(&date), reference_date(&date));
            proptest::prop_assert_eq!(parse_month_day(&md), reference_month_day(&md));
            proptest::prop_assert_eq!(parse_hh_mm(&hm), reference_hh_mm(&hm));
        }

        #[test]
        fn rfc3339_parses_as_before(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]?[0-9:.]{0,14}[-+Zz]?[0-9:]{0,6}é?") {
            proptest::prop_assert_eq!(parse_rfc3339(&s), reference_rfc3339(&s));
        }

        #[test]
        fn rfc3339_parses_valid_times_as_before(
            y in 1000u32..3000, mo in 1u32..13, d in 1u32..29, h in 0u32..24, mi in 0u32..60, se in 0u32..61,
            frac in "(\\.[0-9]{0,5})?", off in "(Z|z|[-+]0[0-9]:[0-5][0-9])",
        ) {
            let s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{frac}{off}");
            proptest::prop_assert_eq!(parse_rfc3339(&s).is_some(), frac != ".");
            proptest::prop_assert_eq!(parse_rfc3339(&s), reference_rfc3339(&s));
        }

        #[test]
        fn elapsed_matches_i128(a in proptest::prelude::any::<i64>(), b in proptest::prelude::any::<i64>()) {
            proptest::prop_assert_eq!(elapsed_ms(a, b), (i128::from(a) - i128::from(b)) as f64);
        }
    }

    #[test]
    fn anniversaries() {
        let today = parse_date("2026-03-10").unwrap();
        assert_eq!(days_to_anniversary(today, 3, 10), 0);
        assert_eq!(days_to_anniversary(today, 3, 14), 4);
        assert_eq!(days_to_anniversary(today, 3, 9), 364);
        let feb = parse_date("2026-02-27").unwrap();
        assert_eq!(days_to_anniversary(feb, 2, 29), 1);
        assert_eq!(parse_month_day("02-29"), Some((2, 29)));
        assert_eq!(parse_month_day("13-01"), None);
        for bad in ["3-14", "03-4", "03/14", "03-140", "-3-14"] {
            assert_eq!(parse_month_day(bad), None, "{bad}");
        }
    }
}
