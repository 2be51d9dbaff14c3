//! `POST /v1/outbox`: device reports, checked against the report types the package sends
//! (`kairos::outbox::OutboxEvent`: `exposure`, `conversion`, `stage_changed`, `forgotten`, each
//! with exactly its fields), appended to the `--outbox` file (mode 0600, opened at start).
//! Names must follow the model's naming rule and times be plausible: anything else, a phone
//! number or free text in an extra field or in a name say, is refused rather than stored.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};

use super::{bad_request, json_response, read_body, refuse_content_type, try_later, AppState, Shared};
use crate::Fail;

/// Longest outbox line, bytes.
const MAX_LINE: usize = 16 * 1024;

/// How far after the server's clock a report's `at` may be, ms: 400 days. Devices stamp reports
/// with their own clock, which may be days or months ahead (set by hand, or the demo's simulated
/// clock, which jumps a month at a click), and a refused batch is refused for good, so only what
/// no clock shows is refused: microseconds or nanoseconds, or a number that is no time at all.
/// Times before the server's are not bounded but by 0: a clock reset to 1970 is honest too.
const MAX_AHEAD_MS: i64 = 400 * kairos::time::DAY_MS;

/// What a field of a report holds.
#[derive(Clone, Copy)]
enum Kind {
    /// A name or id from the model ([`kairos::compile::is_name`]), or empty.
    Name,
    /// A name, empty, or `null`.
    NameOrNull,
    /// A decision id: 16 lowercase hex digits.
    Decision,
    /// A pseudonymous id (`engine.pid`): 16 or 32 lowercase hex digits.
    Pid,
    /// `true` or `false`.
    Flag,
    /// An install id (16 lowercase hex digits), `null` or absent: a `forgotten` request from a
    /// package before 2026-11-25 names none.
    Install,
    /// A decision counter (an integer from 0 to [`kairos::outbox::ERASE_ALL`]), `null` or absent,
    /// as [`Kind::Install`].
    Count,
    /// A model version (`meta.version`: an integer from 0 to 2^32 − 1; `kairos compile` refuses
    /// 0, a snapshot made by hand may have it, and refusing it would refuse its batch for good),
    /// `null` or absent, as [`Kind::Install`]: older packages send none.
    Version,
    /// A time, ms since the epoch: an integer from 0 to [`MAX_AHEAD_MS`] after the server's clock.
    Time,
}

impl Kind {
    /// Whether the field may be `null` or absent: what older packages did not send.
    fn optional(self) -> bool {
        matches!(self, Kind::Install | Kind::Count | Kind::Version)
    }
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
            ("model", Kind::Version),
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
            ("model", Kind::Version),
            ("at", Kind::Time),
        ],
    ),
    ("stage_changed", &[("from", Kind::NameOrNull), ("to", Kind::NameOrNull), ("at", Kind::Time)]),
    (
        "forgotten",
        &[("pid", Kind::Pid), ("install", Kind::Install), ("decisions", Kind::Count), ("at", Kind::Time)],
    ),
];

/// Why `value` is not what a field of `kind` holds, if it is not; `now` is the server's clock.
fn refuse_value(kind: Kind, value: &Json, now: i64) -> Option<String> {
    let ok = match (kind, value) {
        // Empty too: the engine names an event it cannot resolve (its model changed before it
        // was drained) with an empty string, and refusing it would refuse its batch for good.
        (Kind::Name | Kind::NameOrNull, Json::String(s)) => s.is_empty() || kairos::compile::is_name(s),
        (Kind::NameOrNull, Json::Null) => true,
        (Kind::Decision, Json::String(s)) => crate::is_hex(s, 16),
        (Kind::Pid, Json::String(s)) => crate::snap::is_pid(s),
        (Kind::Flag, Json::Bool(_)) => true,
        (k, Json::Null) if k.optional() => true,
        (Kind::Version, Json::Number(n)) => n.as_u64().is_some_and(|v| v <= u64::from(u32::MAX)),
        (Kind::Install, Json::String(s)) => crate::is_hex(s, 16),
        (Kind::Count, Json::Number(n)) => n.as_u64().is_some_and(|c| c <= kairos::outbox::ERASE_ALL),
        (Kind::Time, Json::Number(n)) => {
            n.as_i64().is_some_and(|t| (0..=now.saturating_add(MAX_AHEAD_MS)).contains(&t))
        }
        _ => false,
    };
    if ok {
        return None;
    }
    let name = || format!("a string: a name from the model ({}), or empty", kairos::compile::NAME_RULE);
    Some(match kind {
        Kind::Name => name(),
        Kind::NameOrNull => format!("{}, or null", name()),
        Kind::Decision => "a decision id, 16 lowercase hex digits".into(),
        Kind::Pid => "a pseudonymous id, 16 or 32 lowercase hex digits".into(),
        Kind::Flag => "true or false".into(),
        Kind::Install => "an install id, 16 lowercase hex digits, or null".into(),
        Kind::Count => "a decision counter, an integer from 0 to 2^24 (16777216), or null".into(),
        Kind::Version => "a model version, an integer from 0 to 4294967295, or null".into(),
        Kind::Time => format!(
            "an integer, ms since the epoch, from 0 to {} days after the server's clock",
            MAX_AHEAD_MS / kairos::time::DAY_MS
        ),
    })
}

/// Checks one report: a known `type` with exactly its fields, each of its kind; `now` is the
/// server's clock.
fn check_report(o: &Map<String, Json>, now: i64) -> Result<(), String> {
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
            if field.optional() {
                continue;
            }
            return Err(format!("`{kind}` misses field `{name}` (it has {})", names()));
        };
        if let Some(expected) = refuse_value(*field, value, now) {
            return Err(format!("`{kind}`.`{name}` must be {expected}"));
        }
    }
    // A request names the erased install with its counter, or neither (older packages).
    let given = |k: &str| o.get(k).is_some_and(|v| !v.is_null());
    if given("install") != given("decisions") {
        return Err(format!("`{kind}` has `install` and `decisions` together or neither"));
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
    // Held until the batch is written (or refused), by the task that writes it: a client that
    // disconnects does not free it while its batch still waits in memory (a review: 200 uploads
    // of clients that gave up held 72 MB with `--max-uploads 2`). Over the limit the devices keep
    // their reports and send them again later.
    let Ok(upload) = s.uploads.clone().try_acquire_owned() else {
        tracing::debug!("upload limit reached: a batch refused (raise --max-uploads)");
        return try_later(StatusCode::SERVICE_UNAVAILABLE, "30", "too many uploads at once");
    };
    let body = match read_body(&s, req, s.max_upload).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    // The body is let go before the wait for the lock: only the lines to store are held then.
    let (out, count) = match stored_lines(&body) {
        Ok(batch) => batch,
        Err(why) => return bad_request(why),
    };
    drop(body);
    // The lock is taken and held by a task of its own until the write is done: a client that
    // disconnects drops this handler, never that task, so batches never interleave (and a failed
    // write, cut back to where that batch started, never takes another batch with it).
    let state = Arc::clone(&s);
    let task = async move {
        let _upload = upload;
        store(&state, out).await
    };
    let stored = tokio::spawn(task).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "the outbox write failed; the batch was not stored");
        Stored::Failed
    });
    match stored {
        Stored::Yes => {}
        Stored::Full => return try_later(StatusCode::INSUFFICIENT_STORAGE, "300", "the outbox is full"),
        Stored::Failed => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot store the batch\n").into_response()
        }
    }
    tracing::info!(events = count, "outbox batch accepted");
    json_response(StatusCode::ACCEPTED, &serde_json::json!({ "accepted": count }))
}

/// The lines to append for an upload's `body`, each report checked and given its
/// `received_at`, and how many there are; or why the batch is refused (`400`).
fn stored_lines(body: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    // When the server took the batch (ms, its clock): devices' clocks may be wrong, so a pipeline
    // orders by it (duplicates, a batch sent again, are told by the report's own fields).
    let received_at = crate::snap::now_ms();
    // Built once, as the file will hold it (no list of lines joined after); room for the body
    // and a `received_at` on most lines.
    let mut out = Vec::with_capacity(body.len() + body.len() / 4);
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = |why: &str| format!("line {}: {why}", n + 1);
        if line.len() > MAX_LINE {
            return Err(at(&format!("{} bytes, at most {MAX_LINE}", line.len())));
        }
        // A field given twice is refused: JSON parsers would keep one of them silently.
        let mut o = match kairos::compile::json_unique(line) {
            Ok(Json::Object(o)) => o,
            Ok(_) => return Err(at("expected an object with a string `type`")),
            Err(e) => return Err(at(&format!("not JSON: {e}"))),
        };
        check_report(&o, received_at).map_err(|why| at(&why))?;
        o.insert("received_at".into(), received_at.into());
        serde_json::to_writer(&mut out, &o).map_err(|e| at(&e.to_string()))?;
        out.push(b'\n');
        count += 1;
    }
    if count == 0 {
        return Err("the batch is empty".into());
    }
    Ok((out, count))
}

/// Whether a batch was stored.
#[derive(Clone, Copy)]
pub(super) enum Stored {
    Yes,
    /// Not: the file would pass `--outbox-max-bytes` (`507`).
    Full,
    /// Not: the write failed (`500`).
    Failed,
}

/// A batch waiting to be appended, and where its outcome goes.
pub(super) type Pending = (Vec<u8>, tokio::sync::oneshot::Sender<Stored>);

/// Appends `batch` to the outbox file and logs what went wrong. Group commit: the batch joins
/// the queue, then waits for the outbox lock; whoever holds the lock appends every batch queued
/// by then, in the order they came, with one sync for all of them, and tells each its outcome. So
/// batches that arrive while a sync is under way share the next one, instead of each waiting for
/// a sync of its own (with 32 clients uploading, 3 to 6 times the batches per second on this
/// project's machine, and an eighth to a third of the p99: docs/cli.md, "Load run").
async fn store(s: &Shared, batch: Vec<u8>) -> Stored {
    use std::sync::atomic::Ordering;
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    queue(s).push((batch, tx));
    let path = s.outbox.lock().await;
    // The holder before took this batch along: its outcome is here.
    if let Ok(stored) = rx.try_recv() {
        return stored;
    }
    let (batches, answers): (Vec<Vec<u8>>, Vec<_>) = core::mem::take(&mut *queue(s)).into_iter().unzip();
    let file = path.clone();
    let max = s.outbox_max;
    let n = batches.len();
    // Larger than the limit by itself: refused by any file, full or not.
    let over: Vec<bool> = batches.iter().map(|b| b.len() as u64 > max).collect();
    let written = tokio::task::spawn_blocking(move || append_batches(&file, &batches, max))
        .await
        .unwrap_or_else(|e| Appended {
            outcomes: vec![Stored::Failed; n],
            start: u64::MAX,
            torn: false,
            error: Some(e.to_string()),
        });
    if written.torn {
        tracing::warn!(file = %path.display(),
            "the outbox file ended in a partial line (a write cut short); it was ended with a newline before this batch");
    }
    let outcomes = written.outcomes;
    if let Some(error) = &written.error {
        let failed = outcomes.iter().filter(|o| matches!(o, Stored::Failed)).count();
        tracing::error!(file = %path.display(), error = %error, batches = failed,
            "cannot append to the outbox file; the batch was not stored");
    }
    // Full from the first refusal until a batch is stored in a file shorter than it was then (the
    // file was taken away): near the limit, small batches may still be stored beside a large one
    // refused again and again, and that is no news (a review: "full" and "room again" were logged
    // by turns). A batch larger than the limit by itself says nothing of the file.
    let stored = outcomes.iter().any(|o| matches!(o, Stored::Yes));
    let full_at = s.outbox_full_at.load(Ordering::Relaxed);
    if full_at != u64::MAX && written.start < full_at && stored {
        s.outbox_full_at.store(u64::MAX, Ordering::Relaxed);
        tracing::info!(file = %path.display(), "the outbox file has room again: batches are stored");
    }
    let refused = |big: bool| outcomes.iter().zip(&over).any(|(o, &b)| matches!(o, Stored::Full) && b == big);
    if refused(true) {
        tracing::warn!(file = %path.display(), max_bytes = max,
            "a batch larger than --outbox-max-bytes was refused with 507 (stored reports grow by their \
             `received_at`: give --outbox-max-bytes room above --max-upload)");
    }
    if refused(false) && s.outbox_full_at.load(Ordering::Relaxed) == u64::MAX {
        s.outbox_full_at.store(written.start.max(1), Ordering::Relaxed);
        tracing::error!(file = %path.display(), max_bytes = max,
            "the outbox file is full (--outbox-max-bytes): batches are refused with 507 until it is taken away or the limit raised");
    }
    for (answer, outcome) in answers.into_iter().zip(outcomes) {
        // This batch's own receiver is `rx`; another's handler waits on the lock for its answer.
        answer.send(outcome).ok();
    }
    drop(path);
    rx.await.unwrap_or(Stored::Failed)
}

/// The queue of batches waiting for the outbox lock (a poisoned lock's queue is still whole: it
/// is only pushed to and taken whole).
fn queue(s: &Shared) -> std::sync::MutexGuard<'_, Vec<Pending>> {
    s.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What [`append_batches`] did: each batch's outcome, the file's length before them (`u64::MAX`
/// when it could not be read), whether a partial last line was ended first, and the write error,
/// if one failed.
struct Appended {
    outcomes: Vec<Stored>,
    start: u64,
    torn: bool,
    error: Option<String>,
}

/// Appends `batches` (each whole lines ending in `\n`) to the outbox file, in order, each all or
/// nothing, then syncs once. A batch whose write fails is cut back (so its device's retry is not
/// stored twice and no half line is left for the next batch to be glued onto) and the others are
/// still written (a review: one batch too large for the room left on the disk failed its whole
/// group); when the group's sync fails, the file is cut back to the length it had and each batch
/// written is written and synced again alone (one of them may be what failed). A batch that would
/// take the file past `max` bytes is left out (`Full`). A last line without its newline (a write
/// cut short by a crash) is ended first, so the batches start on a line of their own. Synced
/// before it returns: an accepted batch is on disk.
fn append_batches(path: &Path, batches: &[Vec<u8>], max: u64) -> Appended {
    let failed = |e: std::io::Error, start: u64| Appended {
        outcomes: vec![Stored::Failed; batches.len()],
        start,
        torn: false,
        error: Some(e.to_string()),
    };
    let mut f = match open(path) {
        Ok(f) => f,
        Err(e) => return failed(e, u64::MAX),
    };
    let (len, torn) = match end_of(&mut f) {
        Ok(end) => end,
        Err(e) => return failed(e, u64::MAX),
    };
    let mut end = len;
    let mut error = None;
    let mut outcomes = Vec::with_capacity(batches.len());
    for b in batches {
        // A partial last line is ended before the first batch written.
        let newline: &[u8] = if torn && end == len { b"\n" } else { b"" };
        if end.saturating_add((newline.len() + b.len()) as u64) > max {
            outcomes.push(Stored::Full);
            continue;
        }
        match f.write_all(newline).and_then(|()| f.write_all(b)) {
            Ok(()) => {
                end += (newline.len() + b.len()) as u64;
                outcomes.push(Stored::Yes);
            }
            Err(e) => {
                if let Err(cut) = f.set_len(end) {
                    tracing::error!(file = %path.display(), error = %cut, length = end,
                        "cannot cut the outbox file back after a failed write: it may end in part of a batch");
                    // Where the file ends is not known: nothing more is written to it.
                    outcomes.resize(batches.len(), Stored::Failed);
                    error = Some(e.to_string());
                    break;
                }
                outcomes.push(Stored::Failed);
                error.get_or_insert(e.to_string());
            }
        }
    }
    if end == len {
        if error.is_some() {
            // The cut-back on disk too, as for a batch written alone before (a crash could bring
            // the lines of a batch answered 500 back, and its retry would store them twice).
            f.sync_data().ok();
        }
        return Appended { outcomes, start: len, torn: false, error };
    }
    if let Err(e) = f.sync_data() {
        let cut = f.set_len(len).and_then(|()| f.sync_data());
        if let Err(cut) = &cut {
            tracing::error!(file = %path.display(), error = %cut, length = len,
                "cannot cut the outbox file back after a failed write: it may end in part of a batch");
        }
        let written = outcomes.iter().filter(|o| matches!(o, Stored::Yes)).count();
        if cut.is_ok() && written > 1 {
            // A sync can fail for one batch of the group (a quota or a full disk reported at the
            // sync, as on NFS): each is written and synced again alone, so the others are stored
            // (a review: one large batch retried by its device failed every small one with it).
            tracing::warn!(file = %path.display(), error = %e,
                "the outbox sync failed for a group of batches: each is written and synced alone");
            drop(f);
            let mut torn_out = false;
            for (b, outcome) in batches.iter().zip(outcomes.iter_mut()) {
                if matches!(outcome, Stored::Yes) {
                    let one = append_batches(path, core::slice::from_ref(b), max);
                    *outcome = one.outcomes.first().copied().unwrap_or(Stored::Failed);
                    torn_out |= one.torn;
                    if let Some(e) = one.error {
                        error.get_or_insert(e);
                    }
                }
            }
            return Appended { outcomes, start: len, torn: torn_out, error };
        }
        // Those written are not stored; those refused as full stay so (507).
        for outcome in &mut outcomes {
            if matches!(outcome, Stored::Yes) {
                *outcome = Stored::Failed;
            }
        }
        return Appended { outcomes, start: len, torn: false, error: Some(e.to_string()) };
    }
    Appended { outcomes, start: len, torn: torn && end > len, error }
}

/// The file's length, and whether its last line lacks its newline (a write cut short).
fn end_of(f: &mut std::fs::File) -> std::io::Result<(u64, bool)> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let len = f.metadata()?.len();
    let Some(last) = len.checked_sub(1) else { return Ok((0, false)) };
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(last))?;
    f.read_exact(&mut byte)?;
    Ok((len, byte != *b"\n"))
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
                model: Some(1),
                at: 4,
            },
            E::Exposure {
                decision: decision.clone(),
                placement: "home".into(),
                offer: "o".into(),
                variant: Some("b".into()),
                control: true,
                model: Some(u32::MAX),
                at: 5,
            },
            // From an older package's state: reported with `model` null.
            E::Conversion {
                decision: decision.clone(),
                offer: "o".into(),
                event: "purchase".into(),
                control: false,
                model: None,
                at: 6,
            },
            E::Conversion {
                decision,
                offer: "o".into(),
                event: "purchase".into(),
                control: false,
                model: Some(7),
                at: 6,
            },
            E::LegacyForgotten { pid: "0123456789abcdef".into(), at: 7 },
            E::Forgotten {
                pid: "0123456789abcdef".into(),
                install: "0123456789abcdef".into(),
                decisions: 0,
                at: 7,
            },
            E::Forgotten {
                pid: "0123456789abcdef0123456789abcdef".into(),
                install: "00000000000000b2".into(),
                decisions: kairos::outbox::ERASE_ALL,
                at: 8,
            },
            // A forged state's counter is reported as the largest servers take.
            E::Forgotten {
                pid: "0123456789abcdef".into(),
                install: "0123456789abcdef".into(),
                decisions: u64::MAX,
                at: 8,
            },
        ];
        for e in events {
            let Json::Object(o) = e.to_json() else { unreachable!("an object") };
            assert_eq!(check_report(&o, 8), Ok(()), "{o:?}");
        }
    }

    /// `model`: a whole number from 0 (a snapshot made by hand) to 2^32 − 1, null or absent.
    #[test]
    fn a_model_version_is_a_u32_or_null() {
        let report = |model: Option<Json>| {
            let mut o = serde_json::json!({"type": "conversion", "decision": "00000000000000ab", "offer": "o",
                "event": "purchase", "control": false, "at": 6});
            if let (Some(m), Json::Object(map)) = (model, &mut o) {
                map.insert("model".into(), m);
            }
            let Json::Object(o) = o else { unreachable!("an object") };
            check_report(&o, 8)
        };
        for ok in [None, Some(Json::Null), Some(0.into()), Some(7.into()), Some(u32::MAX.into())] {
            assert_eq!(report(ok.clone()), Ok(()), "{ok:?}");
        }
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(4_294_967_296u64),
            serde_json::json!("1"),
        ] {
            assert_eq!(
                report(Some(bad.clone())),
                Err("`conversion`.`model` must be a model version, an integer from 0 to 4294967295, or null"
                    .into()),
                "{bad}"
            );
        }
    }
}
