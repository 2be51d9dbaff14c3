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
    let message = inner.to_string();
    // serde_json appends " at line L column C"; we report those separately.
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let (mut line, mut column) = (inner.line(), inner.column());
    let message = match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            match syntax_hint(text, line, column, &message) {
                Some(Hint::Here(m)) => m,
                Some(Hint::At(l, c, m)) => {
                    (line, column) = (l, c);
                    m
                }
                None => message,
            }
        }
        _ => message,
    };
    CompileError::Syntax { path: clean_path(path), line, column, message }
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

/// The character at 1-based byte `column` of `line`, or the one that byte falls in.
fn char_at(line: &str, column: usize) -> Option<char> {
    let b = column.checked_sub(1)?;
    line.char_indices().find(|(i, c)| *i <= b && b < i + c.len_utf8()).map(|(_, c)| c)
}

fn syntax_hint(text: &str, line: usize, column: usize, message: &str) -> Option<Hint> {
    if text.trim().is_empty() {
        return Some(Hint::At(0, 0, "the file is empty; a model is a JSON object { ... }".to_string()));
    }
    let here = line_text(text, line)?;
    let c = char_at(here, column);
    if let Some((wrong, ascii, name)) = c.and_then(|c| LOOKALIKES.iter().find(|l| l.0 == c)) {
        return Some(Hint::Here(format!(
            "{name} `{wrong}`; use the ASCII `{ascii}` (switch the input method to English punctuation)"
        )));
    }
    match c {
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
