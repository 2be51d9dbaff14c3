//! Maps a place in a model (`offers[0].audience.and[1]`) to its line in the model file, so
//! compile errors read `model.json:12: offers[0]...`; and a place in a journey to its line and
//! column, so journey errors read `journey.json:12:7: step 3...`.

use std::collections::{HashMap, HashSet};

/// Deepest nesting the scanner follows: deeper input is left unmapped rather than recursed into.
const MAX_DEPTH: usize = 128;

/// The lines of a set of places in one model text, found in one scan of the text (a scan per
/// place made a model with thousands of errors take minutes to report).
pub struct Lines {
    found: HashMap<String, Found>,
}

/// Where a place is in the text.
#[derive(Clone, Copy)]
struct Found {
    /// The line of its value.
    line: usize,
    /// The line and column (1-based; the column in bytes, as serde_json counts) of its name, for
    /// a field of an object, else of its value.
    at: (usize, usize),
}

impl Lines {
    /// Scans `text` once for the places in `paths` and their ancestors (the fallbacks of
    /// [`Lines::line`]).
    pub fn scan<'p>(text: &str, paths: impl IntoIterator<Item = &'p str>) -> Lines {
        let mut want = HashSet::new();
        for path in paths {
            let mut p = path;
            // An ancestor already wanted has had all of its own ancestors added.
            while want.insert(p) && !p.is_empty() {
                p = parent(p);
            }
        }
        if want.is_empty() {
            return Lines { found: HashMap::new() };
        }
        let mut scan =
            Scan { b: text.as_bytes(), i: 0, line: 1, line_start: 0, want: &want, found: HashMap::new() };
        // A scan that stops early (bad JSON) still maps everything before the stop.
        let _ = scan.value(String::new(), None, 0);
        Lines { found: scan.found }
    }

    /// The 1-based line of the value at `path` (one of those scanned for), or of its nearest
    /// ancestor that is in the text; `None` when nothing matches (or the text is not JSON
    /// enough to scan).
    pub fn line(&self, path: &str) -> Option<usize> {
        self.nearest(path).map(|f| f.line)
    }

    /// The 1-based line and column of `path` as [`Lines::line`] finds it: of the field's name
    /// for a field of an object (`"value": …`), else of the value.
    pub fn position(&self, path: &str) -> Option<(usize, usize)> {
        self.nearest(path).map(|f| f.at)
    }

    /// `path` or its nearest ancestor that is in the text.
    fn nearest(&self, path: &str) -> Option<Found> {
        let mut p = path;
        loop {
            if let Some(found) = self.found.get(p) {
                return Some(*found);
            }
            if p.is_empty() {
                return None;
            }
            p = parent(p);
        }
    }
}

/// The place enclosing `path`: `offers[0]` for `offers[0].audience` or `offers[0][1]`; the
/// whole model (the empty path) for `offers`.
fn parent(path: &str) -> &str {
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    path.get(..cut).unwrap_or("")
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
    /// Where `line` starts in `b`.
    line_start: usize,
    want: &'a HashSet<&'a str>,
    found: HashMap<String, Found>,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// The line and column of the byte at `i`.
    fn here(&self) -> (usize, usize) {
        (self.line, self.i - self.line_start + 1)
    }

    /// Steps over the byte at `i`, a newline.
    fn newline(&mut self) {
        self.i += 1;
        self.line += 1;
        self.line_start = self.i;
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_ascii_whitespace() {
                break;
            }
            if c == b'\n' {
                self.newline();
            } else {
                self.i += 1;
            }
        }
    }

    /// Scans the value at `path`, whose name (for a field of an object) is at `name`.
    fn value(&mut self, path: String, name: Option<(usize, usize)>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        // The first of a name given twice, as the scan of each place found it before.
        if self.want.contains(path.as_str()) && !self.found.contains_key(&path) {
            let found = Found { line: self.line, at: name.unwrap_or_else(|| self.here()) };
            self.found.insert(path.clone(), found);
        }
        match self.peek()? {
            b'{' => {
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek()? {
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        b',' => self.i += 1,
                        b'"' => {
                            let name = self.here();
                            let key = unescape(self.string()?);
                            self.ws();
                            if self.peek()? != b':' {
                                return None;
                            }
                            self.i += 1;
                            let p = if path.is_empty() { key } else { format!("{path}.{key}") };
                            self.value(p, Some(name), depth + 1)?;
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut k = 0usize;
                loop {
                    self.ws();
                    match self.peek()? {
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        b',' => self.i += 1,
                        _ => {
                            self.value(format!("{path}[{k}]"), None, depth + 1)?;
                            k += 1;
                        }
                    }
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace() {
                        break;
                    }
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }

    /// Reads a string starting at `"`: its text between the quotes, escapes as written.
    fn string(&mut self) -> Option<&[u8]> {
        self.i += 1;
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => self.i += 2,
                b'\n' => self.newline(),
                _ => self.i += 1,
            }
        }
        let raw = self.b.get(start..self.i)?;
        self.i += 1;
        Some(raw)
    }
}

/// A JSON string's text (between its quotes) with its escapes decoded, so a name written
/// `"\u65d7"` (as Python's `json.dump` writes any non-ASCII name) is the `旗` of the compiler's
/// paths. Text that is not a JSON string (a bad escape, a lone surrogate) is kept as written:
/// the compiler, reading with serde_json too, refused it, so no path holds it decoded.
fn unescape(raw: &[u8]) -> String {
    let raw = String::from_utf8_lossy(raw);
    if !raw.contains('\\') {
        return raw.into_owned();
    }
    serde_json::from_str(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.into_owned())
}

#[cfg(test)]
mod tests {
    use super::{unescape, Lines};

    fn line_of(text: &str, path: &str) -> Option<usize> {
        Lines::scan(text, [path]).line(path)
    }

    #[test]
    fn finds_lines_and_nearest_ancestors() {
        let text = "{\n  \"meta\": {\"version\": 1},\n  \"offers\": [\n    {\"id\": \"a\",\n     \"audience\": {\"and\": [1,\n 2]}}\n  ]\n}";
        assert_eq!(line_of(text, "meta.version"), Some(2));
        assert_eq!(line_of(text, "offers[0]"), Some(4));
        assert_eq!(line_of(text, "offers[0].audience.and[1]"), Some(6));
        assert_eq!(line_of(text, "offers[0].audience.and[1].segment"), Some(6));
        assert_eq!(line_of(text, "offers[3]"), Some(3));
        assert_eq!(line_of(text, ""), Some(1));
        assert_eq!(line_of("[}", "x"), Some(1));
        assert_eq!(line_of("", "x"), Some(1));
        // One scan answers for every place it was given.
        let paths = ["meta.version", "offers[0].audience.and[1]", "offers[3]", "nothing.here"];
        let lines = Lines::scan(text, paths);
        let got: Vec<_> = paths.iter().map(|p| lines.line(p)).collect();
        assert_eq!(got, [Some(2), Some(6), Some(3), Some(1)]);
    }

    /// A journey's errors give the column too: of a field's name, else of the value.
    #[test]
    fn finds_the_column_of_a_name_or_of_an_element() {
        let text = "{\"steps\": [\n  {\"do\": \"check\",\n   \"expect\":\n {\"stag\": 1}}]}";
        let paths = ["steps[0]", "steps[0].expect.stag", "steps[0].expect", "steps[0].note", ""];
        let lines = Lines::scan(text, paths);
        let got: Vec<_> = paths.iter().map(|p| lines.position(p)).collect();
        assert_eq!(got, [Some((2, 3)), Some((4, 3)), Some((3, 4)), Some((2, 3)), Some((1, 1))]);
        // The line stays the value's, as compile errors have it.
        assert_eq!(lines.line("steps[0].expect"), Some(4));
    }

    #[test]
    fn a_name_given_twice_is_found_where_it_is_first() {
        let text = "{\"a\": 1,\n\"a\": 2}";
        assert_eq!(line_of(text, "a"), Some(1));
    }

    /// Review finding 7: a name written with `\u` escapes (Python's `json.dump`) kept its
    /// escapes, so its place was not found and the line was its parent's.
    #[test]
    fn names_with_escapes_are_decoded() {
        let text =
            "{\"segments\": {\n\"\\u65d7\\u888d\": {\n\"and\": [1]},\n\"\\ud83d\\ude00\\\"q\\\\\": 2}}";
        assert_eq!(line_of(text, "segments.旗袍.and[0]"), Some(3));
        assert_eq!(line_of(text, "segments.😀\"q\\"), Some(4));
        assert_eq!(unescape(br"a\/b\n\t\u0041\u00e9"), "a/b\n\tAé");
        // Not a JSON string (bad escapes, lone surrogates, which serde_json refuses): kept as
        // written.
        assert_eq!(unescape(br"\x\u12\u+123"), r"\x\u12\u+123");
        assert_eq!(unescape(br"\ud800x\udc00"), r"\ud800x\udc00");
        assert_eq!(unescape(br"\ud83d\u0041"), r"\ud83d\u0041");
        assert_eq!(unescape(b"tail\\"), "tail\\");
    }
}
