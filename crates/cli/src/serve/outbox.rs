//! `POST /v1/outbox`: device reports, checked against the report types the package sends
//! (`kairos::outbox::OutboxEvent`: `exposure`, `conversion`, `stage_changed`, `forgotten`, each
//! with exactly its fields), appended to the `--outbox` file (mode 0600, opened at start).
//! Anything else, a phone number or free text in an extra field say, is refused rather than
//! stored.

use std::io::Write as _;
use std::path::Path;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};

use super::{bad_request, json_response, read_body, refuse_content_type, AppState};
use crate::Fail;

/// Longest outbox line, bytes.
const MAX_LINE: usize = 16 * 1024;

/// What a field of a report holds.
#[derive(Clone, Copy)]
enum Kind {
    /// A name or id from the model.
    Name,
    /// A name, or `null`.
    NameOrNull,
    /// A decision id: 16 lowercase hex digits.
    Decision,
    /// A pseudonymous id (`engine.pid`): 16 or 32 lowercase hex digits.
    Pid,
    /// `true` or `false`.
    Flag,
    /// A time, ms since the epoch (an integer).
    Time,
}

/// The report types and their fields, as `OutboxEvent::fields` writes them (`type` aside).
const REPORTS: [(&str, &[(&str, Kind)]); 4] = [
    (
        "exposure",
        &[
            ("decision", Kind::Decision),
            ("placement", Kind::Name),
            ("offer", Kind::Name),
            ("variant", Kind::NameOrNull),
            ("control", Kind::Flag),
            ("at", Kind::Time),
        ],
    ),
    (
        "conversion",
        &[
            ("decision", Kind::Decision),
            ("offer", Kind::Name),
            ("event", Kind::Name),
            ("control", Kind::Flag),
            ("at", Kind::Time),
        ],
    ),
    ("stage_changed", &[("from", Kind::NameOrNull), ("to", Kind::NameOrNull), ("at", Kind::Time)]),
    ("forgotten", &[("pid", Kind::Pid), ("at", Kind::Time)]),
];

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why `value` is not what a field of `kind` holds, if it is not.
fn refuse_value(kind: Kind, value: &Json) -> Option<&'static str> {
    let ok = match (kind, value) {
        // Empty too: the engine names an event it cannot resolve (its model changed before it
        // was drained) with an empty string, and refusing it would refuse its batch for good.
        (Kind::Name | Kind::NameOrNull, Json::String(_)) => true,
        (Kind::NameOrNull, Json::Null) => true,
        (Kind::Decision, Json::String(s)) => is_hex(s, 16),
        (Kind::Pid, Json::String(s)) => crate::snap::is_pid(s),
        (Kind::Flag, Json::Bool(_)) => true,
        (Kind::Time, Json::Number(n)) => n.is_i64(),
        _ => false,
    };
    if ok {
        return None;
    }
    Some(match kind {
        Kind::Name => "a string",
        Kind::NameOrNull => "a string or null",
        Kind::Decision => "a decision id, 16 lowercase hex digits",
        Kind::Pid => "a pseudonymous id, 16 or 32 lowercase hex digits",
        Kind::Flag => "true or false",
        Kind::Time => "an integer, ms since the epoch",
    })
}

/// Checks one report: a known `type` with exactly its fields, each of its kind.
fn check_report(o: &Map<String, Json>) -> Result<(), String> {
    let types = || REPORTS.map(|(t, _)| format!("`{t}`")).join(", ");
    let Some(Json::String(kind)) = o.get("type") else {
        return Err(format!("expected an object with a string `type`: one of {}", types()));
    };
    let Some((_, fields)) = REPORTS.iter().find(|(t, _)| t == kind) else {
        return Err(format!("`{kind}` is not a report type: one of {}", types()));
    };
    let names = || fields.iter().map(|(f, _)| format!("`{f}`")).collect::<Vec<_>>().join(", ");
    if let Some(extra) = o.keys().find(|k| *k != "type" && !fields.iter().any(|(f, _)| f == k)) {
        return Err(format!("`{kind}` has no field `{extra}` (only {}): it is not stored", names()));
    }
    for (name, field) in fields.iter() {
        let Some(value) = o.get(*name) else {
            return Err(format!("`{kind}` misses field `{name}` (it has {})", names()));
        };
        if let Some(expected) = refuse_value(*field, value) {
            return Err(format!("`{kind}`.`{name}` must be {expected}"));
        }
    }
    Ok(())
}

/// Opens the outbox file at start, created with mode 0600 when new: a server that cannot store
/// reports should not start (it would answer every upload `500`).
pub(super) fn open_at_start(path: &Path) -> Result<(), Fail> {
    open(path)
        .map(drop)
        .map_err(|e| Fail::usage(format!("{}: cannot open the outbox file (--outbox): {e}", path.display())))
}

/// The outbox file, opened to read its end and append; created with mode 0600 (reports are the
/// shoppers' pseudonymous data).
fn open(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Outbox upload: NDJSON, one report per line; all or nothing.
pub(super) async fn outbox(State(s): State<AppState>, req: Request) -> Response {
    if let Some(refused) = refuse_content_type(req.headers(), &["application/x-ndjson", "application/json"]) {
        return refused;
    }
    let body = match read_body(&s, req).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let Ok(text) = std::str::from_utf8(&body) else { return bad_request("the body is not UTF-8".into()) };
    // When the server took the batch (ms, its clock): devices' clocks may be wrong, so a pipeline
    // orders by it (duplicates, a batch sent again, are told by the report's own fields).
    let received_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_LINE {
            return bad_request(format!("line {}: {} bytes, at most {MAX_LINE}", n + 1, line.len()));
        }
        // A field given twice is refused: JSON parsers would keep one of them silently.
        match kairos::compile::json_unique(line) {
            Ok(Json::Object(mut o)) => match check_report(&o) {
                Ok(()) => {
                    o.insert("received_at".into(), received_at.into());
                    lines.push(serde_json::to_string(&o).unwrap_or_default());
                }
                Err(why) => return bad_request(format!("line {}: {why}", n + 1)),
            },
            Ok(_) => return bad_request(format!("line {}: expected an object with a string `type`", n + 1)),
            Err(e) => return bad_request(format!("line {}: not JSON: {e}", n + 1)),
        }
    }
    if lines.is_empty() {
        return bad_request("the batch is empty".into());
    }
    let mut out = lines.join("\n");
    out.push('\n');
    // The lock is held until the write is done, so batches never interleave.
    let path = s.outbox.lock().await;
    let file = path.clone();
    let result = match tokio::task::spawn_blocking(move || append_batch(&file, out.as_bytes())).await {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(e)),
    };
    match result {
        Ok(false) => {}
        Ok(true) => tracing::warn!(file = %path.display(),
            "the outbox file ended in a partial line (a write cut short); it was ended with a newline before this batch"),
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "cannot append to the outbox file; the batch was not stored");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot store the batch\n").into_response();
        }
    }
    tracing::info!(events = lines.len(), "outbox batch accepted");
    json_response(StatusCode::ACCEPTED, &serde_json::json!({ "accepted": lines.len() }))
}

/// Appends `batch` (whole lines, each ending in `\n`) to the outbox file, all or nothing: a
/// failed write is cut back to the length the file had, so the device's retry is not stored
/// twice and no half line is left for the next batch to be glued onto. A last line without its
/// newline (a write cut short by a crash) is ended first, so the batch starts on a line of its
/// own; the answer says so. Synced before it returns: an accepted batch is on disk.
fn append_batch(path: &Path, batch: &[u8]) -> std::io::Result<bool> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = open(path)?;
    let len = f.metadata()?.len();
    let mut torn = false;
    if let Some(last) = len.checked_sub(1) {
        let mut byte = [0u8; 1];
        f.seek(SeekFrom::Start(last))?;
        f.read_exact(&mut byte)?;
        torn = byte != *b"\n";
    }
    let written = (|| {
        if torn {
            f.write_all(b"\n")?;
        }
        f.write_all(batch)?;
        f.sync_data()
    })();
    if let Err(e) = written {
        if let Err(cut) = f.set_len(len).and_then(|()| f.sync_data()) {
            tracing::error!(file = %path.display(), error = %cut, length = len,
                "cannot cut the outbox file back after a failed write: it may end in part of a batch");
        }
        return Err(e);
    }
    Ok(torn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The allow-list is the package's own report format: every event the engine can put in
    /// its outbox passes, as `to_json` writes it.
    #[test]
    fn every_report_the_package_sends_is_accepted() {
        use kairos::outbox::OutboxEvent as E;
        let decision = "00000000000000ab".to_string();
        let events = [
            E::StageChanged { from: None, to: "new".into(), at: 1 },
            E::StageChanged { from: Some("new".into()), to: "vip".into(), at: 2 },
            E::StageLeft { from: Some("vip".into()), at: 3 },
            E::Exposure {
                decision: decision.clone(),
                placement: "home".into(),
                offer: "o".into(),
                variant: None,
                control: false,
                at: 4,
            },
            E::Exposure {
                decision: decision.clone(),
                placement: "home".into(),
                offer: "o".into(),
                variant: Some("b".into()),
                control: true,
                at: 5,
            },
            E::Conversion { decision, offer: "o".into(), event: "purchase".into(), control: false, at: 6 },
            E::Forgotten { pid: "0123456789abcdef".into(), at: 7 },
            E::Forgotten { pid: "0123456789abcdef0123456789abcdef".into(), at: 8 },
        ];
        for e in events {
            let Json::Object(o) = e.to_json() else { unreachable!("an object") };
            assert_eq!(check_report(&o), Ok(()), "{o:?}");
        }
    }
}
