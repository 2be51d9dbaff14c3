//! `sem_ver`: semantic version comparison with flagd's semantics (Go's `golang.org/x/mod/semver`
//! rules, a leading `v` optional): `1`, `1.2` and `1.2.3` are valid (the short forms mean
//! `.0`), pre-release and build parts only after a full `1.2.3`, no leading zeros; build
//! metadata is ignored when comparing.

use core::cmp::Ordering;

/// The comparison operators `sem_ver` accepts.
#[cfg(feature = "std")]
pub(crate) const OPERATORS: [&str; 8] = ["=", "!=", "<", "<=", ">", ">=", "^", "~"];

/// A parsed version; the numbers stay decimal digits so any size compares correctly. Bytes
/// rather than `str`: the splits below are on ASCII bytes, and std's char searcher would come
/// along with `str::split`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version<'a> {
    major: &'a [u8],
    minor: &'a [u8],
    patch: &'a [u8],
    pre: &'a [u8],
}

/// Parses a version, with or without a leading `v`.
pub(crate) fn parse(text: &str) -> Option<Version<'_>> {
    let v = text.as_bytes();
    let v = v.strip_prefix(b"v").unwrap_or(v);
    let (major, rest) = number(v)?;
    let (minor, rest) = match rest.split_first() {
        None => return Some(Version { major, minor: b"0", patch: b"0", pre: b"" }),
        Some((b'.', r)) => number(r)?,
        Some(_) => return None,
    };
    let (patch, rest) = match rest.split_first() {
        None => return Some(Version { major, minor, patch: b"0", pre: b"" }),
        Some((b'.', r)) => number(r)?,
        Some(_) => return None,
    };
    let (main, build) = match rest.iter().position(|&b| b == b'+') {
        Some(i) => (rest.get(..i)?, rest.get(i + 1..)),
        None => (rest, None),
    };
    let pre = match main.split_first() {
        Some((b'-', pre)) if identifiers(pre, true) => pre,
        None => b"",
        _ => return None,
    };
    if build.is_some_and(|b| !identifiers(b, false)) {
        return None;
    }
    Some(Version { major, minor, patch, pre })
}

/// A decimal number without leading zeros, and what follows it.
fn number(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let (digits, rest) = s.split_at_checked(s.iter().take_while(|b| b.is_ascii_digit()).count())?;
    match digits {
        [] | [b'0', _, ..] => None,
        _ => Some((digits, rest)),
    }
}

/// The dot-separated parts of `s`.
fn parts(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b'.')
}

/// Dot-separated, non-empty `[0-9A-Za-z-]` identifiers; numeric ones without leading zeros
/// when `strict` (pre-release).
fn identifiers(s: &[u8], strict: bool) -> bool {
    parts(s).all(|id| {
        let charset = !id.is_empty() && id.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
        let numeric = id.iter().all(u8::is_ascii_digit);
        charset && !(strict && numeric && id.len() > 1 && id.first() == Some(&b'0'))
    })
}

fn cmp_num(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn cmp_pre(a: &[u8], b: &[u8]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut xs = parts(a);
    let mut ys = parts(b);
    loop {
        let ord = match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let nx = x.iter().all(u8::is_ascii_digit);
                let ny = y.iter().all(u8::is_ascii_digit);
                match (nx, ny) {
                    (true, true) => cmp_num(x, y),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                }
            }
        };
        if ord.is_ne() {
            return ord;
        }
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_num(self.major, other.major)
            .then_with(|| cmp_num(self.minor, other.minor))
            .then_with(|| cmp_num(self.patch, other.patch))
            .then_with(|| cmp_pre(self.pre, other.pre))
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `a op b`; `None` when a version or the operator is invalid.
pub(crate) fn matches(a: &str, op: &str, b: &str) -> Option<bool> {
    let (x, y) = (parse(a)?, parse(b)?);
    let ord = x.cmp(&y);
    Some(match op {
        "=" => ord.is_eq(),
        "!=" => ord.is_ne(),
        "<" => ord.is_lt(),
        "<=" => ord.is_le(),
        ">" => ord.is_gt(),
        ">=" => ord.is_ge(),
        "^" => cmp_num(x.major, y.major).is_eq(),
        "~" => cmp_num(x.major, y.major).is_eq() && cmp_num(x.minor, y.minor).is_eq(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_follows_go_semver() {
        for ok in [
            "1.0.0",
            "v1.0.0",
            "1",
            "1.2",
            "0.0.0",
            "1.0.0-alpha.1",
            "1.0.0+build.7",
            "1.0.0-rc.1+b",
            "10.20.30",
        ] {
            assert!(parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "v",
            "V1.0.0",
            "1.0.0.0",
            "01.0.0",
            "1.02.0",
            "1.0-alpha",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0-a..b",
            "x",
            "1.0.0 ",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ordering_follows_semver() {
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "10.0.0",
        ];
        for pair in order.windows(2) {
            if let [a, b] = pair {
                assert_eq!(matches(a, "<", b), Some(true), "{a} < {b}");
            }
        }
        assert_eq!(matches("1.0.0+a", "=", "1.0.0+b"), Some(true));
        assert_eq!(matches("1.2", "=", "1.2.0"), Some(true));
        assert_eq!(matches("3.0.1", "~", "3.0.0"), Some(true));
        assert_eq!(matches("3.1.0", "~", "3.0.0"), Some(false));
        assert_eq!(matches("3.1.0", "^", "3.0.0"), Some(true));
        assert_eq!(matches("4.0.0", "^", "3.0.0"), Some(false));
        assert_eq!(matches("1.0.0", "=>", "1.0.0"), None);
        assert_eq!(matches("99999999999999999999.0.0", ">", "9.0.0"), Some(true));
    }
}
