//! Turning serde's errors on model text into [`CompileError::Syntax`] in the model author's
//! words: what to fix in the file rather than what the parser expected.

use super::error::CompileError;

/// Characters a Chinese (or other) input method types in place of JSON punctuation, with the
/// ASCII character to use and what to call the wrong one.
const LOOKALIKES: &[(char, char, &str)] = &[
    ('\u{ff0c}', ',', "full-width comma"),
    ('\u{ff1a}', ':', "full-width colon"),
    ('\u{ff1b}', ';', "full-width semicolon"),
    ('\u{201c}', '"', "curly quote"),
    ('\u{201d}', '"', "curly quote"),
    ('\u{2018}', '\'', "curly quote"),
    ('\u{2019}', '\'', "curly quote"),
];

/// The compile error for a serde error at `path` (as `serde_path_to_error` prints it) in `text`.
pub(crate) fn error(text: &str, path: &str, inner: &serde_json::Error) -> CompileError {
    let Described { path, line, column, message } = describe(text, path, inner, "model");
    CompileError::Syntax { path, line, column, message }
}

/// A serde error on a JSON document in its author's words, as [`CompileError::Syntax`] holds it.
pub(crate) struct Described {
    /// Where in the document, or empty for the whole of it.
    pub(crate) path: String,
    /// Line, 1-based, or 0 when unknown.
    pub(crate) line: usize,
    /// Column, 1-based (in bytes), or 0 when unknown.
    pub(crate) column: usize,
    /// What is wrong.
    pub(crate) message: String,
}

/// [`error`] for any JSON document (`text`, or empty for one read from a `serde_json::Value`):
/// `doc` names what the document is (`model`, `journey`) where a message speaks of all of it.
pub(crate) fn describe(text: &str, path: &str, inner: &serde_json::Error, doc: &str) -> Described {
    let message = inner.to_string();
    // serde_json appends " at line L column C"; we report those separately.
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let (mut line, mut column) = (inner.line(), inner.column());
    let message = match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            match syntax_hint(text, line, column, &message, doc) {
                Some(Hint::Here(m)) => m,
                Some(Hint::At(l, c, m)) => {
                    (line, column) = (l, c);
                    m
                }
                None => message,
            }
        }
        serde_json::error::Category::Data => {
            // serde finds a field missing at the object's closing brace; the place names the
            // object, which the caller locates where it starts (line 0: unknown here).
            if message.starts_with("missing field") {
                (line, column) = if clean_path(path).is_empty() { start_of(text) } else { (0, 0) };
            }
            plain(&clean_path(path), &message, doc).unwrap_or(message)
        }
        _ => message,
    };
    Described { path: clean_path(path), line, column, message }
}

/// A whole-number field's range as docs/model.md gives it, in place of its type's (`max_items` is
/// read as a byte, but a placement shows 1 to 16 items), in `want` (from [`expected_words`]).
fn documented_range(path: &str, want: String) -> String {
    use crate::compiled::limits;
    let last = path.rsplit('.').next().unwrap_or(path);
    let in_caps = path.contains("caps[");
    let (from, to) = match last {
        "max_items" => ("from 0 to 255", format!("from 1 to {}", limits::MAX_ITEMS)),
        "window_days" => ("from 0 to 65535", format!("from 1 to {}", limits::DAYS)),
        "days" if in_caps => ("from 0 to 65535", format!("from 1 to {}", limits::DAYS)),
        "max" if path.starts_with("features.") => {
            ("from 0 to 65535", format!("from 1 to {}", limits::DISTINCT))
        }
        "max" | "weight" | "version" => ("from 0 to 4294967295", "from 1 to 4294967295".to_string()),
        _ => return want,
    };
    want.replace(from, &to)
}

/// Line and column (1-based) of the text's first character that is not white space: where the
/// model's object starts.
fn start_of(text: &str) -> (usize, usize) {
    line_col(text, text.find(|c: char| !c.is_whitespace() && c != '\u{feff}').unwrap_or(0))
}

/// The path without `serde_path_to_error`'s `?` placeholders (a place it could not name) and
/// without the `.` it prints for the whole file.
fn clean_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty() && *p != "?").collect();
    parts.join(".")
}

enum Hint {
    /// A better message for the same place.
    Here(String),
    /// A better message and place (line, column).
    At(usize, usize, String),
}

/// Line `n` (1-based) of `text`.
fn line_text(text: &str, n: usize) -> Option<&str> {
    text.split('\n').nth(n.checked_sub(1)?).map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// Line and column (1-based; the column in bytes) of byte `at` of `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    (before.matches('\n').count() + 1, at - before.rfind('\n').map_or(0, |i| i + 1) + 1)
}

/// What is left open at the end of `text`: the byte offset of the opening quote of text in
/// quotes not closed, and the `{` and `[` not closed (innermost last). An escaped `\"` closes
/// nothing, and brackets in quotes open nothing.
fn open_at_end(text: &str) -> (Option<usize>, Vec<(usize, char)>) {
    let mut open = Vec::new();
    let (mut quote, mut escaped) = (None, false);
    for (i, ch) in text.char_indices() {
        if quote.is_some() {
            match ch {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quote = None,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => quote = Some(i),
            '{' | '[' => open.push((i, ch)),
            '}' | ']' => {
                open.pop();
            }
            _ => {}
        }
    }
    (quote, open)
}

/// The hint for text in quotes, opened at byte `at` of `text`, that is not closed.
fn quote_not_closed(text: &str, at: usize) -> Hint {
    let (l, c) = line_col(text, at);
    Hint::At(l, c, format!("the text in quotes that starts on line {l} is not closed: add its closing `\"`"))
}

/// For a file that ends too soon: the innermost `{` or `[` left open, or the quotes left open.
fn unclosed(text: &str) -> Hint {
    let (quote, open) = open_at_end(text);
    let (at, what) = match (quote, open.last()) {
        (Some(q), _) => return quote_not_closed(text, q),
        (None, Some(&(i, '['))) => {
            (i, "the file ends before the `[` on line {l} is closed: a `]` is missing")
        }
        (None, Some(&(i, _))) => (i, "the file ends before the `{` on line {l} is closed: a `}` is missing"),
        (None, None) => return Hint::Here("the file ends too soon".into()),
    };
    let (l, c) = line_col(text, at);
    Hint::At(l, c, what.replace("{l}", &l.to_string()))
}

/// The byte offset in `text` where line `n` (1-based) starts.
fn line_start(text: &str, n: usize) -> Option<usize> {
    if n <= 1 {
        return (n == 1).then_some(0);
    }
    text.match_indices('\n').nth(n - 2).map(|(i, _)| i + 1)
}

/// The character at 1-based byte `column` of `line`, or the one that byte falls in.
fn char_at(line: &str, column: usize) -> Option<char> {
    let b = column.checked_sub(1)?;
    line.char_indices().find(|(i, c)| *i <= b && b < i + c.len_utf8()).map(|(_, c)| c)
}

fn syntax_hint(text: &str, line: usize, column: usize, message: &str, doc: &str) -> Option<Hint> {
    if text.trim().is_empty() {
        return Some(Hint::At(0, 0, format!("the file is empty; a {doc} is a JSON object {{ ... }}")));
    }
    if message.starts_with("EOF while parsing") {
        return Some(unclosed(text));
    }
    if message.starts_with("control character") {
        // serde stops on the control character: the `\n` that ended the line (column 0 of the
        // next line) or, in a CRLF file, its `\r`. Either way the line ended inside quotes: the
        // quote that opened them is the one left open in the text before (the text up to here
        // was read as JSON, so its quotes pair up). Else a tab or another control character.
        let at = line_start(text, line).and_then(|s| (s + column).checked_sub(1));
        let line_end =
            |&a: &usize| text.get(a..).is_some_and(|t| t.starts_with('\n') || t.starts_with("\r\n"));
        if let Some(at) = at.filter(line_end) {
            let (quote, _) = open_at_end(text.get(..at)?);
            return Some(quote_not_closed(text, quote?));
        }
        return Some(Hint::Here(
            "a tab or another control character inside quotes: remove it, or write a tab as `\\t`".into(),
        ));
    }
    let here = line_text(text, line)?;
    let c = char_at(here, column);
    let word: String = here
        .get(column.saturating_sub(1)..)
        .unwrap_or("")
        .chars()
        // A name as a model writes one (`window_days`, `views_7d`), or a literal (`True`).
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if message == "expected value"
        && ["true", "false", "null", "none"].contains(&word.to_ascii_lowercase().as_str())
    {
        let right = if word.eq_ignore_ascii_case("none") { "null" } else { &word.to_ascii_lowercase() };
        // Written right, where a field takes one of its words (`agg`, a score's `kind`, a type):
        // "write `null`" told her to write what she wrote (marketer review of 2026-11-25).
        if word == right {
            return Some(Hint::Here(format!(
                "this field takes one of its words, in double quotes, not `{word}`"
            )));
        }
        return Some(Hint::Here(format!(
            "`{word}` is not JSON: write `{right}` (`true`, `false` and `null`, in lower case)"
        )));
    }
    if message == "key must be a string" && !word.is_empty() {
        return Some(Hint::Here(format!("a name must be in double quotes: `\"{word}\"`")));
    }
    if let Some((wrong, ascii, name)) = c.and_then(|c| LOOKALIKES.iter().find(|l| l.0 == c)) {
        return Some(Hint::Here(format!(
            "{name} `{wrong}`; use the ASCII `{ascii}` (switch the input method to English punctuation)"
        )));
    }
    match c {
        Some('N' | 'I' | '-') if message == "expected value" => {
            return Some(Hint::Here(
                "expected value: JSON has no `NaN` or `Infinity`; write a number".to_string(),
            ));
        }
        Some('/') | Some('#') => {
            return Some(Hint::Here(format!("{message}: JSON allows no comments; remove it")));
        }
        Some('\'') => {
            return Some(Hint::Here(format!(
                "{message}: JSON names and text use double quotes `\"`, not single quotes `'`"
            )));
        }
        _ => {}
    }
    if message == "trailing comma" || message == "trailing characters" {
        // Both are about the text before this place: its last character that is not white space.
        let at = line_start(text, line)? + column.saturating_sub(1);
        let before = text.get(..at)?.trim_end();
        let (n, end) = line_col(text, before.char_indices().next_back().map_or(0, |(i, _)| i));
        return Some(if message == "trailing comma" {
            Hint::At(
                n,
                end,
                "trailing comma: a `,` with nothing after it in its list or object; remove it".to_string(),
            )
        } else {
            Hint::Here(format!(
                "text after the end of the {doc}: the `}}` on line {n} closes the {doc}'s `{{`; is it one `}}` too many?"
            ))
        });
    }
    let missing_comma = message.starts_with("expected `,` or ");
    let before = here.get(..column.saturating_sub(1)).unwrap_or(here);
    if missing_comma && before.trim().is_empty() {
        // The next entry starts this line, so the comma belongs at the end of the one before.
        let (n, prev) = (1..line).rev().find_map(|n| {
            let t = line_text(text, n)?;
            (!t.trim().is_empty()).then_some((n, t))
        })?;
        let end = prev.trim_end().len() + 1;
        return Some(Hint::At(n, end, format!("{message}: missing `,` at the end of line {n}?")));
    }
    None
}

/// `unknown variant `String`, expected one of `string`, ...` (a type, an aggregation, a score
/// kind) in plain words, with the value meant: the same in lower case, a near spelling, or what
/// other tools call it (`boolean`, `integer`, `birthday`).
fn unknown_value(found: &str, expected: &str) -> String {
    // serde writes `a` for one value, `a` or `b` for two, and one of `a`, `b`, `c` for more.
    let known: Vec<&str> = expected
        .trim_start_matches("one of ")
        .split(", ")
        .flat_map(|k| k.split(" or "))
        .map(|k| k.trim_matches('`'))
        .collect();
    let lower = found.to_ascii_lowercase();
    let alias = match lower.as_str() {
        "boolean" => "bool",
        "int" | "integer" | "float" | "double" => "number",
        "text" | "str" => "string",
        "birthday" => "anniversary",
        "date_time" | "datetime" | "time" => "timestamp",
        "list" | "array" | "strings" => "string_list",
        _ => lower.as_str(),
    };
    let meant = known
        .iter()
        .find(|k| **k == alias)
        .copied()
        .or_else(|| crate::suggest::closest(found, known.iter().copied()));
    let listed = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    match meant {
        Some(m) => format!("unknown value `{found}`; did you mean `{m}`? (one of {listed})"),
        None => format!("unknown value `{found}`; expected {expected}"),
    }
}

/// serde's name for a Rust type in plain words, with the range of whole numbers.
fn expected_words(expected: &str) -> Option<String> {
    let whole = |lo: &str, hi: &str| format!("a whole number from {lo} to {hi}");
    Some(match expected {
        "i32" => whole("-2147483648", "2147483647"),
        "i64" => whole("-9223372036854775808", "9223372036854775807"),
        "u8" => whole("0", "255"),
        "u16" => whole("0", "65535"),
        "u32" => whole("0", "4294967295"),
        "u64" | "usize" => "a whole number, 0 or more".to_string(),
        "f64" | "f32" => "a number such as 0.1".to_string(),
        "a sequence" => "a list in [ ]".to_string(),
        "a map" | "map" => "an object in { }".to_string(),
        "a string" => "text in double quotes".to_string(),
        "a boolean" => "true or false".to_string(),
        "unit" => "null".to_string(),
        s if s.starts_with("struct ") => "an object in { }".to_string(),
        _ => return None,
    })
}

/// Whether the whole number `x` is in the range `want` gives (`a whole number from 1 to 400`, or
/// `a whole number, 0 or more`).
fn whole_in_range(want: &str, x: f64) -> bool {
    let Some((lo, hi)) = want.strip_prefix("a whole number from ").and_then(|r| r.split_once(" to ")) else {
        return x >= 0.0;
    };
    match (lo.parse::<f64>(), hi.parse::<f64>()) {
        (Ok(lo), Ok(hi)) => (lo..=hi).contains(&x),
        _ => true,
    }
}

/// serde's description of the value found, as the author wrote it (roughly).
fn found_words(found: &str) -> String {
    for (prefix, _) in [("integer `", ()), ("floating point `", ()), ("boolean `", ())] {
        if let Some(v) = found.strip_prefix(prefix).and_then(|r| r.strip_suffix('`')) {
            return format!("`{v}`");
        }
    }
    if let Some(text) = found.strip_prefix("string ") {
        return format!("the text {text}");
    }
    match found {
        "map" => "an object `{ }`".to_string(),
        "sequence" => "a list `[ ]`".to_string(),
        "null" => "`null`".to_string(),
        other => other.to_string(),
    }
}

/// serde_json's "invalid type: string \"100\", expected i32" at `path` of the `doc` in plain
/// words, or `None` for a message that is not of that form.
fn plain(path: &str, message: &str, doc: &str) -> Option<String> {
    let (head, expected) = message.split_once(", expected ")?;
    if let Some(found) = head.strip_prefix("unknown variant `").and_then(|r| r.strip_suffix('`')) {
        return Some(unknown_value(found, expected));
    }
    // A misspelt field name, as names and values elsewhere: the one meant, then the list.
    if let Some(found) = head.strip_prefix("unknown field `").and_then(|r| r.strip_suffix('`')) {
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let meant = crate::suggest::closest(found, known.iter().copied())?;
        return Some(format!("unknown field `{found}`; did you mean `{meant}`? (expected {expected})"));
    }
    // The document itself (`WireModel`, a journey's fields) is not an object.
    if path.is_empty() && expected.starts_with("struct ") {
        let found = head.strip_prefix("invalid type: ").map(found_words);
        let what = if head.starts_with("invalid length") { Some("a list `[ ]`".to_string()) } else { found };
        return Some(match what {
            Some(w) => format!("the {doc} must be a JSON object {{ ... }}, not {w}"),
            None => format!("the {doc} must be a JSON object {{ ... }}"),
        });
    }
    let want = documented_range(path, expected_words(expected)?);
    let integer = want.starts_with("a whole number");
    if let Some(found) = head.strip_prefix("invalid type: ") {
        let shown = found_words(found);
        let quoted = found.strip_prefix("string \"").and_then(|r| r.strip_suffix('"'));
        let fix = match quoted {
            Some(q) if q.parse::<f64>().is_ok() => format!("; write {q} without quotes"),
            Some(q) if q.ends_with('%') && !integer && want.starts_with("a number") => {
                let pct = q.trim_end_matches('%').trim().parse::<f64>().ok();
                pct.map(|p| format!("; write {} for {q}", p / 100.0)).unwrap_or_default()
            }
            _ => String::new(),
        };
        if integer && found.starts_with("floating point") {
            let v = found.trim_start_matches("floating point `").trim_end_matches('`');
            let huge = v.parse::<f64>().is_ok_and(|x| x.abs() >= 1e15);
            // A huge integer reaches us as a float (`1e+20`), not as written: do not show it.
            let whole = v.parse::<f64>().ok().filter(|x| x.fract() == 0.0);
            return Some(if huge {
                format!("a number too large; expected {want}")
            } else if let Some(x) = whole {
                // `1.0` or `1e3`, as tools that write every number as a float do. serde shows
                // either as `1000.0`, which is not what was written: say what it is. `+ 0.0`
                // makes `-0.0` a `0`; below 1e15, `{:.0}` is the whole number, exactly.
                let x_text = format!("{:.0}", x + 0.0);
                if whole_in_range(&want, x) {
                    format!(
                        "a whole number written with a decimal point or an exponent; write `{x_text}` \
                         (expected {want})"
                    )
                } else {
                    format!("`{x_text}` is out of range; expected {want}")
                }
            } else {
                format!("a number with a fraction (`{v}`); expected {want}")
            });
        }
        return Some(format!("{shown} is not {want}{fix}"));
    }
    if let Some(found) = head.strip_prefix("invalid value: ") {
        return Some(format!("{} is out of range; expected {want}", found_words(found)));
    }
    if let Some(n) = head.strip_prefix("invalid length ") {
        return Some(format!("{n} entries; expected {want}"));
    }
    None
}
