//! The size of the snapshot body a model compiles to, checked against what devices accept.
//!
//! A device refuses a snapshot whose body is over [`MAX_BODY_LEN`], so a model that compiles to
//! one is an error here, where the author can still act on it, not on every phone.

use super::error::{CompileError, Warning};
use crate::codec::{Wire, Writer, MAX_BODY_LEN};
use crate::compiled::Model;

/// A body above this compiles with a warning: it still loads, but every device downloads it.
pub const WARN_BODY_LEN: usize = 4 * 1024 * 1024;

/// Bytes of each section of the snapshot body. The body is the fields one after another, so
/// these add up to the body length.
pub fn body_sections(m: &Model) -> Vec<(&'static str, usize)> {
    fn len<T: Wire>(v: &T) -> usize {
        let mut w = Writer::new();
        v.put(&mut w);
        w.len()
    }
    vec![
        ("meta", len(&m.name) + len(&m.version) + len(&m.offset_ms) + len(&m.id_salt)),
        ("events", len(&m.events)),
        ("context", len(&m.context)),
        ("traits", len(&m.traits)),
        ("features", len(&m.features)),
        ("scores", len(&m.scores)),
        ("stages", len(&m.stages)),
        ("segments", len(&m.segments)),
        ("calendars", len(&m.calendars)),
        ("placements", len(&m.placements)),
        ("offers", len(&m.offers)),
        ("contents", len(&m.contents)),
        ("caps", len(&m.caps)),
        ("quiet", len(&m.quiet)),
    ]
}

/// `17.0 MiB`.
fn mib(n: usize) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

/// A body section in the words of the model file.
fn described(section: &str) -> &str {
    match section {
        "contents" => "content (offers' and variants' `content`, placements' `fallback`)",
        "offers" => "offers (without their content)",
        "segments" => "segment rules",
        "stages" => "lifecycle rules",
        "calendars" => "calendars",
        other => other,
    }
}

/// What the size of `m` calls for: an error over the limit, a warning over [`WARN_BODY_LEN`].
pub(crate) fn check(m: &Model) -> Result<Option<Warning>, CompileError> {
    let sections = body_sections(m);
    let total: usize = sections.iter().map(|s| s.1).sum();
    if total <= WARN_BODY_LEN {
        return Ok(None);
    }
    let (part, part_len) = sections.iter().copied().max_by_key(|s| s.1).unwrap_or(("contents", 0));
    let biggest = format!("the biggest part is {}, {}", described(part), mib(part_len));
    if total > MAX_BODY_LEN {
        return Err(CompileError::TooLarge { size: total, limit: MAX_BODY_LEN, biggest });
    }
    Ok(Some(Warning {
        path: String::new(),
        message: format!(
            "the compiled model is {} ({total} bytes), and every device downloads it; devices refuse \
             more than {}; {biggest}",
            mib(total),
            mib(MAX_BODY_LEN)
        ),
    }))
}
