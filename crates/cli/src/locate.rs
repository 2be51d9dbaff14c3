//! Maps a place in a model (`offers[0].audience.and[1]`) to its line in the model file, so
//! compile errors read `model.json:12: offers[0]...`.

/// Deepest nesting the scanner follows: deeper input is left unmapped rather than recursed into.
const MAX_DEPTH: usize = 128;

/// The 1-based line of the value at `path` in the JSON `text`, or of its nearest ancestor that
/// is found; `None` when nothing matches (or the text is not JSON enough to scan).
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let mut scan = Scan { b: text.as_bytes(), i: 0, line: 1, out: Vec::new() };
    // A scan that stops early (bad JSON) still maps everything before the stop.
    let _ = scan.value(String::new(), 0);
    let mut p = path;
    loop {
        if let Some((_, line)) = scan.out.iter().find(|(q, _)| q == p) {
            return Some(*line);
        }
        if p.is_empty() {
            return None;
        }
        let cut = p.rfind(['.', '[']).unwrap_or(0);
        p = p.get(..cut).unwrap_or("");
    }
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
    out: Vec<(String, usize)>,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_ascii_whitespace() {
                break;
            }
            if c == b'\n' {
                self.line += 1;
            }
            self.i += 1;
        }
    }

    fn value(&mut self, path: String, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        self.out.push((path.clone(), self.line));
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
                            let key = self.string()?;
                            self.ws();
                            if self.peek()? != b':' {
                                return None;
                            }
                            self.i += 1;
                            let p = if path.is_empty() { key } else { format!("{path}.{key}") };
                            self.value(p, depth + 1)?;
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
                            self.value(format!("{path}[{k}]"), depth + 1)?;
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

    /// Reads a string starting at `"`; escapes are kept as written (keys rarely have them).
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => self.i += 2,
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                }
                _ => self.i += 1,
            }
        }
        let s = String::from_utf8_lossy(self.b.get(start..self.i)?).into_owned();
        self.i += 1;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::line_of;

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
    }
}
