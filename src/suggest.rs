//! "Did you mean" suggestions for misspelt names.

/// The candidate closest to `name` by edit distance, if close enough to be a likely typo.
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
        let d = distance(&name, &lower_chars(c));
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
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

/// Levenshtein distance over chars.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(c0) = cur.first_mut() {
            *c0 = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
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
    }
}
