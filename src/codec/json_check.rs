//! Whether a snapshot's content payload is one JSON value that any page can take. Contents cross
//! to JavaScript as JSON text, parsed (and frozen) by `JSON.parse` at the first decision: a text
//! that is not JSON, or nested so deep that parsing or freezing it overflows the page's stack,
//! would fail every decision of a model already running. `kairos compile` writes neither (its
//! JSON nests at most 128 deep), so such a snapshot is refused at load, as corrupt.

/// The deepest nesting of arrays and objects taken: serde_json's limit when it read the model.
pub const MAX_DEPTH: u32 = 128;

/// Whether `text` is exactly one JSON value (RFC 8259; whitespace around it), its arrays and
/// objects nested at most [`MAX_DEPTH`] deep.
pub fn is_json(text: &str) -> bool {
    check(text.as_bytes()).is_some()
}

#[inline(never)]
fn check(b: &[u8]) -> Option<()> {
    // `objects[d]`: whether the container at depth d + 1 is an object (else an array). (Bits of a
    // u128 cost the module 0.9 KB: wasm32 shifts 128-bit numbers by calls to compiler-builtins.)
    let mut objects = [false; MAX_DEPTH as usize];
    let mut depth = 0usize;
    // What may come next: a value (`VALUE`, or `FIRST` just after `[`/`{`, where the bracket may
    // close at once), a member's name (`KEY`), or what follows a value (`AFTER`).
    const VALUE: u8 = 0;
    const FIRST: u8 = 1;
    const KEY: u8 = 2;
    const AFTER: u8 = 3;
    let mut want = VALUE;
    let mut i = 0;
    loop {
        while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return (want == AFTER && depth == 0).then_some(());
        };
        let object = depth > 0 && objects.get(depth - 1) == Some(&true);
        i += 1;
        match (want, c) {
            (AFTER, b',') if depth > 0 => want = if object { KEY } else { VALUE },
            (AFTER | FIRST, b']' | b'}') if depth > 0 && (c == b'}') == object => {
                depth -= 1;
                want = AFTER;
            }
            (KEY | FIRST, b'"') if object => {
                i = string(b, i)?;
                while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                    i += 1;
                }
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i += 1;
                want = VALUE;
            }
            (VALUE | FIRST, _) if !(want == FIRST && object) => {
                want = AFTER;
                match c {
                    b'[' | b'{' if depth < MAX_DEPTH as usize => {
                        *objects.get_mut(depth)? = c == b'{';
                        depth += 1;
                        want = FIRST;
                    }
                    b'"' => i = string(b, i)?,
                    b't' | b'f' | b'n' => {
                        let w: &[u8] = if c == b't' {
                            b"rue"
                        } else if c == b'f' {
                            b"alse"
                        } else {
                            b"ull"
                        };
                        if b.get(i..i + w.len())? != w {
                            return None;
                        }
                        i += w.len();
                    }
                    _ => i = number(b, i - 1)?,
                }
            }
            _ => return None,
        }
        if depth == 0 && want == AFTER {
            // One value only: what follows may be whitespace alone.
            while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                i += 1;
            }
            return (i == b.len()).then_some(());
        }
    }
}

/// The string after its opening quote at `i - 1`: where it ends.
fn string(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                i += 1;
                match *b.get(i)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 1,
                    b'u' if b.get(i + 1..i + 5)?.iter().all(u8::is_ascii_hexdigit) => i += 5,
                    _ => return None,
                }
            }
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// The number at `i`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; where it ends.
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |i: usize| {
        let mut j = i;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        (j > i).then_some(j)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = if b.get(i) == Some(&b'0') { i + 1 } else { digits(i)? };
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn takes_json_and_refuses_the_rest() {
        for ok in [
            "{}",
            "[]",
            " {\"a\": [1, -2.5e+3, true, false, null, \"x\\u00e9\\n\"]} ",
            "0",
            "\"\"",
            "{\"a\":{\"b\":{}},\"c\":[[]]}",
            "-0.0E1",
            "\"旗袍 🌸\"",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\"}",
            "{1:2}",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "tru",
            "nul",
            "[1 2]",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"a",
            "\"\u{1}\"",
            "{} {}",
            "[}",
            "{]",
            "NaN",
        ] {
            assert!(!is_json(bad), "{bad:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(is_json(&deep(MAX_DEPTH as usize)));
        assert!(!is_json(&deep(MAX_DEPTH as usize + 1)));
        assert!(!is_json(&deep(20_000)));
        let objects = format!("{}1{}", "{\"a\":".repeat(128), "}".repeat(128));
        assert!(is_json(&objects));
        // Depth comes back down: siblings do not add up.
        assert!(is_json(&format!("[{}]", vec![deep(100); 50].join(","))));
    }

    proptest! {
        /// The same verdict as serde_json (whose own limit is 128 too) on near-JSON text.
        #[test]
        fn agrees_with_serde_json(s in r#"[\[\]{}",:0-9.eE+\- tfnrulsa\\]{0,40}"#) {
            let serde = serde_json::from_str::<serde_json::Value>(&s).is_ok();
            prop_assert_eq!(is_json(&s), serde, "{:?}", s);
        }

        #[test]
        fn agrees_on_json_serde_writes(v in proptest::arbitrary::any::<Vec<(String, Option<f64>, bool)>>()) {
            let text = serde_json::to_string(&v).unwrap_or_default();
            prop_assert!(is_json(&text), "{}", text);
        }
    }
}
