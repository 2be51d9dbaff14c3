//! "Did you mean" suggestions for misspelt names.

use alloc::{string::String, vec, vec::Vec};

/// The candidate closest to `name` by edit distance, if close enough to be a likely typo.
#[cfg(feature = "std")]
pub fn closest<'a, I: IntoIterator<Item = &'a str>>(name: &str, candidates: I) -> Option<&'a str> {
    closest_of(name, &mut candidates.into_iter())
}

/// `; did you mean `x`?` or nothing.
pub fn hint<'a, I: IntoIterator<Item = &'a str>>(name: &str, candidates: I) -> String {
    hint_of(name, &mut candidates.into_iter())
}

/// The body of [`hint`], like [`closest_of`] one non-generic copy for every caller.
fn hint_of(name: &str, candidates: &mut dyn Iterator<Item = &str>) -> String {
    let mut out = String::new();
    if let Some(c) = closest_of(name, candidates) {
        out.push_str("; did you mean `");
        out.push_str(c);
        out.push_str("`?");
    }
    out
}

/// The one copy of the search behind the generic entry points (each caller's iterator type
/// would otherwise get its own copy in the Wasm module).
fn closest_of<'a>(name: &str, candidates: &mut dyn Iterator<Item = &'a str>) -> Option<&'a str> {
    let name = lower_chars(name);
    let limit = (name.len() / 3).clamp(1, 3);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let c_chars = lower_chars(c);
        // Two neighbours swapped are one slip as a typist makes it, two edits by Levenshtein:
        // `veiw` would be past a short name's limit of one from `view`. One swap checked apart
        // rather than a distance counting swaps everywhere (optimal string alignment): that
        // measured +158 B gzip in the Wasm package against +83 B for this.
        let d = if swapped(&name, &c_chars) { 1 } else { distance(&name, &c_chars) };
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Whether `b` is `a` with one pair of neighbouring chars swapped.
fn swapped(a: &[char], b: &[char]) -> bool {
    let mut k = 0;
    while k < a.len() && a.get(k) == b.get(k) {
        k += 1;
    }
    a.len() == b.len()
        && k + 1 < a.len()
        && a.get(k) == b.get(k + 1)
        && a.get(k + 1) == b.get(k)
        && a.get(k + 2..) == b.get(k + 2..)
}

/// The chars of `s`, ASCII-lowercased (full Unicode case tables would cost the Wasm package
/// kilobytes for no gain on model names).
fn lower_chars(s: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Levenshtein distance over chars, in one row: `row[j]` is the distance between the part of
/// `a` read so far and `b[..j]`.
fn distance(a: &[char], b: &[char]) -> usize {
    // Filled by a loop: collecting the range brings std's `spec_from_iter` panic path along.
    let mut row = vec![0; b.len() + 1];
    for (j, cell) in row.iter_mut().enumerate() {
        *cell = j;
    }
    for (i, ca) in a.iter().enumerate() {
        // The cells up-left and left of the one computed: the previous row's and this row's.
        let (mut diag, mut left) = (i, i + 1);
        for (cb, cell) in b.iter().zip(row.iter_mut().skip(1)) {
            let d = (diag + usize::from(ca != cb)).min(*cell + 1).min(left + 1);
            diag = *cell;
            *cell = d;
            left = d;
        }
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["home_hero", "pdp_offer", "cart_banner"];
        assert_eq!(closest("home_heor", names), Some("home_hero"));
        assert_eq!(closest("pdp_ofer", names), Some("pdp_offer"));
        assert_eq!(closest("checkout", names), None);
        assert_eq!(hint("hipo", ["hippo"]), "; did you mean `hippo`?");
        // Two letters swapped are one slip: `veiw` was two edits from `view`, past a short
        // name's limit of one, and got no suggestion.
        assert_eq!(closest("veiw", ["view", "cart", "purchase"]), Some("view"));
        assert_eq!(closest("ivew", ["view"]), Some("view"));
        assert_eq!(closest("wiev", ["view"]), None);
        assert_eq!(closest("veiwx", ["view"]), None, "a swap and one more edit is past the limit");
    }

    /// The textbook full-table Levenshtein distance.
    fn reference(a: &[char], b: &[char]) -> usize {
        let mut d: Vec<Vec<usize>> = (0..=a.len()).map(|i| (i..=i + b.len()).collect()).collect();
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let sub = d[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
                d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
            }
        }
        d[a.len()][b.len()]
    }

    proptest::proptest! {
        #[test]
        fn distance_is_levenshtein(a in "[abcé]{0,8}", b in "[abcé]{0,8}") {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            proptest::prop_assert_eq!(distance(&a, &b), reference(&a, &b));
        }
    }
}
