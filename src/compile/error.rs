//! Errors and warnings of the model compiler.

use std::fmt;

/// Why a model does not compile. Every variant names the place in the model file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The file is not valid JSON, or a field has the wrong shape.
    #[error("{}{message}{}", at_path(path), at_line(*line, *column))]
    Syntax {
        /// Where in the model (`offers[3].caps[0].max`), or empty for the whole file.
        path: String,
        /// Line, 1-based, or 0 when unknown.
        line: usize,
        /// Column, 1-based, or 0 when unknown.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A reference to a name that is not defined.
    #[error("{path}: unknown {kind} `{name}`{hint}")]
    UnknownName {
        /// Where.
        path: String,
        /// What kind of name (`placement`, `segment`, ...).
        kind: &'static str,
        /// The name as written.
        name: String,
        /// `; did you mean ...?`, or a list of valid names, or empty.
        hint: String,
    },
    /// Segments or scores that depend on each other in a circle.
    #[error("{path}: {cycle} depend on each other in a cycle")]
    Cycle {
        /// Where the cycle was found.
        path: String,
        /// The cycle, e.g. `segments.a -> segments.b -> segments.a`.
        cycle: String,
    },
    /// A rule that does not parse.
    #[error("{path}: {message}")]
    Rule {
        /// Where, inside the rule.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The model compiles to a snapshot body bigger than devices accept.
    #[error(
        "the compiled model is {:.1} MiB ({size} bytes), over the {} MiB limit that devices accept; {biggest}",
        *size as f64 / 1_048_576.0,
        limit / 1_048_576
    )]
    TooLarge {
        /// Body bytes.
        size: usize,
        /// The most a device accepts ([`crate::codec::MAX_BODY_LEN`]).
        limit: usize,
        /// Which part of the model takes the most, and how much.
        biggest: String,
    },
    /// A value out of its allowed range or otherwise invalid.
    #[error("{path}: {message}")]
    Invalid {
        /// Where.
        path: String,
        /// What is wrong and what would be valid.
        message: String,
    },
}

fn at_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn at_line(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line}, column {column})")
    }
}

impl CompileError {
    /// The place in the model the error names.
    pub fn path(&self) -> &str {
        match self {
            CompileError::Syntax { path, .. }
            | CompileError::UnknownName { path, .. }
            | CompileError::Cycle { path, .. }
            | CompileError::Rule { path, .. }
            | CompileError::Invalid { path, .. } => path,
            CompileError::TooLarge { .. } => "",
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        CompileError::Invalid { path: path.into(), message: message.into() }
    }
}

/// All errors found in a model, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileErrors(pub Vec<CompileError>);

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "the model has {n} error{}:", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileErrors {}

/// A rule that is legal but likely wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub path: String,
    /// What is likely wrong and the safe form.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "warning: {}", self.message)
        } else {
            write!(f, "warning: {}: {}", self.path, self.message)
        }
    }
}
