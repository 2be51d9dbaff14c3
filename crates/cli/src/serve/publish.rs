//! What `serve` publishes: each `CHANNEL.json` of the models folder compiled and signed, once
//! its `meta.version` is above the published one. A channel's version is only ever published
//! with one content: the last published snapshot of each channel is kept in the state folder
//! (`--state`, by default `<models>/.kairos/CHANNEL.kairos`), and a server that starts serves it
//! until the model file holds a higher version (a channel whose file was missing at start: from
//! when its file is back), so a restart neither rolls devices back nor gives two different
//! snapshots one version. The snapshots behind the immutable URLs are kept there too
//! (`snapshots/SHA256.kairos`).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::http::HeaderValue;
use serde::Serialize;

use super::{read_lock, write_lock, Shared};
use crate::{hex, Fail};

/// What devices learn about a channel's latest snapshot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(super) struct Meta {
    pub channel: String,
    pub version: u32,
    pub sha256: String,
    pub url: String,
    pub bytes: usize,
    pub signed: bool,
    /// The id of the key that signed it (as `kairos inspect` shows it): `null` when unsigned, or
    /// signed by a key other than `--key` (a snapshot kept from before a key switch).
    pub key: Option<String>,
}

/// A channel's published snapshot.
#[derive(Debug, Clone)]
pub(super) struct Published {
    pub meta: Meta,
    pub bytes: Bytes,
    pub etag: HeaderValue,
    /// SHA-256 of the snapshot's body (from its header): the model's content, whatever key
    /// signed it.
    pub body_sha: [u8; 32],
}

impl Published {
    /// The published form of snapshot `bytes` (checked as a frame, not decoded); `key` is the
    /// server's signing key.
    fn new(
        channel: &str,
        bytes: Vec<u8>,
        key: Option<&kairos::sign::PublicKey>,
    ) -> Result<Published, kairos::snapshot::SnapshotError> {
        let parts = kairos::snapshot::parts(&bytes)?;
        let key = key
            .filter(|k| kairos::snapshot::signed_by(&bytes, std::slice::from_ref(k)) == Some(Some(0)))
            .map(kairos::sign::PublicKey::id);
        let sha = hex(&kairos::codec::sha256(&bytes));
        let etag = HeaderValue::from_str(&format!("\"{sha}\"")).unwrap_or(HeaderValue::from_static("\"\""));
        let meta = Meta {
            channel: channel.to_string(),
            version: parts.header.model_version,
            url: format!("/v1/snapshots/{sha}.kairos"),
            sha256: sha,
            bytes: bytes.len(),
            signed: parts.signed,
            key,
        };
        Ok(Published { meta, bytes: Bytes::from(bytes), etag, body_sha: parts.header.sha256 })
    }
}

/// Content-addressed snapshots kept for their immutable URLs (the latest of each channel is
/// never evicted), in memory and in the state folder's `snapshots/`, so they survive a restart.
pub(super) const KEEP_SNAPSHOTS: usize = 64;

/// Snapshots kept for their immutable URLs by hash, and their hashes oldest first.
pub(super) type Kept = (HashMap<String, Bytes>, VecDeque<String>);

/// The state folder of `--state`, or `<models>/.kairos`.
pub(super) fn state_dir(models: &Path, state: Option<&Path>) -> PathBuf {
    state.map_or_else(|| models.join(".kairos"), Path::to_path_buf)
}

/// Creates the state folder and checks that a file can be written there: without it, what was
/// published would be forgotten at the next restart.
pub(super) fn prepare_state(dir: &Path) -> Result<(), Fail> {
    let fail = |e: std::io::Error| {
        Fail::usage(format!(
            "{}: cannot write the folder where the published snapshots are kept: {e}; pass --state \
             with a writable folder",
            dir.display()
        ))
    };
    // The folder itself only, not its parents: a mistyped --state (`/srv/kairso/state`) is
    // refused rather than created (CLI review of 2026-11-25), and the default, MODELS/.kairos,
    // sits in a folder that exists.
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        // Another instance starting on the same folder made it first (review): as good.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Fail::usage(format!(
                "{}: its parent folder does not exist (a typo?); create it, or pass --state with \
                 a folder whose parent exists",
                dir.display()
            )))
        }
        Err(e) => return Err(fail(e)),
    }
    // A name of this process's own: instances starting together on one folder each write and
    // remove theirs (one shared name made one of two simultaneous starts fail).
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    crate::snap::write_file(&probe, b"", false, true).map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

/// Serves the snapshot kept in the state folder for each channel that has a model file: what
/// devices were last given. A kept snapshot that is not valid stops the start (exit 2): serving
/// without it could publish an older version, or other bytes under the same one. The snapshots
/// kept for their immutable URLs are loaded first.
pub(super) fn load_state(state: &Shared) -> Result<(), Fail> {
    load_urls(state);
    let entries = match std::fs::read_dir(&state.state_dir) {
        Ok(e) => e,
        Err(e) => return Err(Fail::usage(format!("{}: {e}", state.state_dir.display()))),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "kairos"))
        .collect();
    paths.sort();
    for path in paths {
        let Some(channel) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        // A retired channel (its model file removed) is not served until its file is back (see
        // `revive`).
        let model = state.dir.join(format!("{channel}.json"));
        if !is_model_file(&model) || !model.is_file() {
            continue;
        }
        match read_kept(state, channel, &path) {
            Ok(Some(published)) => serve_kept(state, channel, published, &path),
            Ok(None) => {}
            Err(why) => return Err(Fail::usage(cannot_read_kept(channel, &path, &why))),
        }
    }
    Ok(())
}

/// The snapshot last published on `channel`, kept at `path` in the state folder (`None` when
/// there is none), checked as the engine would read it.
fn read_kept(state: &Shared, channel: &str, path: &Path) -> Result<Option<Published>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    tracing::debug!(%channel, file = %path.display(), bytes = bytes.len(), "read the snapshot last published");
    kairos::snapshot::decode(&bytes).map_err(|e| e.to_string())?;
    let public = state.key.as_ref().map(kairos::sign::SecretKey::public);
    Published::new(channel, bytes, public.as_ref()).map(Some).map_err(|e| e.to_string())
}

/// Why a kept snapshot cannot be used, and what to do about it.
fn cannot_read_kept(channel: &str, path: &Path, why: &str) -> String {
    format!(
        "{}: the snapshot last published on channel `{channel}` cannot be read: {why}; delete it to \
         forget what was published there (devices that hold a version keep refusing lower ones)",
        path.display()
    )
}

/// Serves `published`, the snapshot kept at `path` for `channel`.
fn serve_kept(state: &Shared, channel: &str, published: Published, path: &Path) {
    let m = &published.meta;
    tracing::info!(%channel, version = m.version, sha256 = %m.sha256, key = %m.key.as_deref().unwrap_or("none"),
        file = %path.display(), "serving the snapshot last published");
    if m.signed && m.key.is_none() && state.key.is_none() {
        // CLI review of 2026-11-25: this said "a key other than --key" with no --key given.
        tracing::warn!(%channel, version = m.version,
            "the snapshot last published was signed, and this server runs --unsigned; it stays served \
             until a higher meta.version is published, unsigned");
    } else if m.signed && m.key.is_none() {
        tracing::warn!(%channel, version = m.version,
            "the snapshot last published was signed with a key other than --key; it stays served until a \
             higher meta.version is published, and devices that trust only --key refuse it meanwhile");
    }
    publish(state, channel, published);
}

/// Serves the kept snapshot of a channel that has a model file but no snapshot served (its file
/// was missing at start, or the channel is new), as a start does: the file is then compared
/// with it, so the kept version stays the floor. False when the kept snapshot cannot be read:
/// what was published on the channel is unknown, so its model file is not published (logged
/// once; read again only once the kept file changes: deleted, mended or replaced).
fn revive(state: &Shared, channel: &str) -> bool {
    if read_lock(&state.channels).contains_key(channel) {
        return true;
    }
    let kept = state.state_dir.join(format!("{channel}.kairos"));
    // Taken before the read, so a change made while it is read is seen at the next poll.
    let stamp = stamp(&kept);
    let unreadable = || state.unreadable.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if stamp.is_some() && unreadable().get(channel) == stamp.as_ref() {
        return false;
    }
    let read = read_kept(state, channel, &kept);
    match (&read, stamp) {
        (Err(_), Some(stamp)) => unreadable().insert(channel.to_string(), stamp),
        _ => unreadable().remove(channel),
    };
    match read {
        Ok(None) => true,
        Ok(Some(published)) => {
            solved(state, &kept);
            serve_kept(state, channel, published, &kept);
            true
        }
        Err(why) => {
            if first_report(state, &kept, &why) {
                tracing::error!(%channel, file = %kept.display(), error = %why,
                    "the snapshot last published on the channel cannot be read, so its model file is not \
                     published; delete it to forget what was published there (devices that hold a version \
                     keep refusing lower ones)");
            }
            false
        }
    }
}

/// What tells one content of a file from another without reading it: its length and
/// modification time, and on Unix its inode and status-change time (a `chmod` that makes it
/// readable changes only that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// Device, inode, and status-change time in seconds and nanoseconds.
    #[cfg(unix)]
    inode: (u64, u64, i64, i64),
}

/// The stamp of the file at `path`, `None` when it cannot be looked at.
fn stamp(path: &Path) -> Option<Stamp> {
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        #[cfg(unix)]
        inode: (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()),
    })
}

/// Writes a published snapshot to `path` in the state folder, atomically and durably.
fn remember(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::snap::write_file(path, bytes, false, true)?;
    // The rename is durable once the folder is synced.
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Makes `p` the latest snapshot of `channel` and wakes push clients.
fn publish(state: &Shared, channel: &str, p: Published) {
    let latest: Vec<String> = read_lock(&state.channels).values().map(|p| p.meta.sha256.clone()).collect();
    let forgotten = keep(&mut write_lock(&state.by_hash), &p.meta.sha256, p.bytes.clone(), &latest);
    write_lock(&state.channels).insert(channel.to_string(), p.clone());
    state.generation.send_modify(|g| *g += 1);
    // After it is served: a snapshot whose URL cannot be kept on disk is still published (it is
    // kept as the channel's `CHANNEL.kairos`), and its URL served until the next restart.
    store_url(state, &p.meta.sha256, &p.bytes, &forgotten);
}

/// The folder of the state folder where the snapshots kept for their immutable URLs are, one
/// `SHA256.kairos` each.
fn urls_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("snapshots")
}

/// Keeps snapshot `sha` in the state folder for its immutable URL, and removes the `forgotten`
/// ones. A failure is logged once, until it changes: the URLs are then served until the
/// server restarts.
fn store_url(state: &Shared, sha: &str, bytes: &[u8], forgotten: &[String]) {
    let dir = urls_dir(&state.state_dir);
    let path = dir.join(format!("{sha}.kairos"));
    // Content-addressed: a file of that name holds these bytes (checked when it is loaded).
    let stored = if path.is_file() {
        Ok(())
    } else {
        std::fs::create_dir_all(&dir).and_then(|()| crate::snap::write_file(&path, bytes, false, true))
    };
    let removed =
        forgotten.iter().try_for_each(|h| match std::fs::remove_file(dir.join(format!("{h}.kairos"))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        });
    match stored.and(removed) {
        Ok(()) => {
            solved(state, &dir);
        }
        Err(e) => {
            if first_report(state, &dir, &e.to_string()) {
                tracing::warn!(dir = %dir.display(), error = %e,
                    "cannot keep the published snapshots for their immutable URLs in the state folder; \
                     they are served until the server restarts (logged once, until it changes)");
            }
        }
    }
}

/// Loads the snapshots kept for their immutable URLs (see `store_url`), oldest first. A file
/// whose bytes do not have the hash its name says, or are no snapshot, is logged and not served.
fn load_urls(state: &Shared) {
    let dir = urls_dir(&state.state_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| is_kept_url(&e.path()))
        .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), e.path()))
        .collect();
    found.sort();
    let mut forgotten = Vec::new();
    for (_, path) in found {
        let Some(sha) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        let checked = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|bytes| {
            if hex(&kairos::codec::sha256(&bytes)) != sha {
                return Err("its bytes do not have the SHA-256 its name says".to_string());
            }
            kairos::snapshot::parts(&bytes).map_err(|e| e.to_string())?;
            Ok(bytes)
        });
        match checked {
            Ok(bytes) => {
                forgotten.extend(keep(&mut write_lock(&state.by_hash), sha, Bytes::from(bytes), &[]))
            }
            Err(why) => tracing::warn!(file = %path.display(), error = %why,
                "a snapshot kept for its immutable URL cannot be read; it is not served (delete it)"),
        }
    }
    for h in forgotten {
        std::fs::remove_file(dir.join(format!("{h}.kairos"))).ok();
    }
}

/// Whether `path` names a snapshot kept for its URL: `SHA256.kairos` (not the temporary file of
/// a write).
fn is_kept_url(path: &Path) -> bool {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    path.extension().is_some_and(|x| x == "kairos")
        && stem.len() == 64
        && stem.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Logs a problem with `key` (a file or folder) once, until it changes: true when `problem`
/// differs from the last one logged for `key`.
fn first_report(state: &Shared, key: &Path, problem: &str) -> bool {
    let hash = kairos::codec::sha256(problem.as_bytes());
    let mut logged = state.logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    logged.insert(key.to_path_buf(), hash) != Some(hash)
}

/// Forgets the problem logged for `key`: it was solved, and would be logged again.
fn solved(state: &Shared, key: &Path) -> bool {
    state.logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key).is_some()
}

/// Compiles every changed `*.json` in the models folder; publishes those that compile with a
/// higher version. A broken model is logged and the last good snapshot stays.
pub(super) fn reload(state: &Shared) {
    // Each pass, for tests and debugging (`KAIROS_LOG=kairos=trace`).
    tracing::trace!("looking at the models folder");
    let entries = match std::fs::read_dir(&state.dir) {
        Ok(e) => e,
        Err(e) => {
            if first_report(state, &state.dir, &e.to_string()) {
                tracing::error!(dir = %state.dir.display(), error = %e,
                    "cannot read the models folder; what is served stays served (logged once, until it changes)");
            }
            *write_lock(&state.files) = Err(format!("cannot read the models folder: {e}"));
            return;
        }
    };
    if solved(state, &state.dir) {
        tracing::info!(dir = %state.dir.display(), "the models folder can be read again");
    }
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_model_file(p) && is_regular(state, p))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let Some(channel) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
        reload_file(state, &channel, &path);
        files.push(channel);
    }
    // A wrong or empty folder: only /healthz said so (CLI review of 2026-11-25).
    let none = state.dir.join("*.json");
    if files.is_empty() {
        if first_report(state, &none, "no model file") {
            tracing::warn!(dir = %state.dir.display(),
                "no model file in the models folder: each channel is a file CHANNEL.json (lower-case \
                 .json, not a dotfile); nothing new is published until one is there (logged once, until one is)");
        }
    } else if solved(state, &none) {
        tracing::info!(dir = %state.dir.display(), "model files are in the models folder again");
    }
    let before = std::mem::replace(&mut *write_lock(&state.files), Ok(files.clone()));
    for gone in before.unwrap_or_default().iter().filter(|c| !files.contains(c)) {
        if let Some(p) = read_lock(&state.channels).get(gone) {
            tracing::warn!(channel = %gone, version = p.meta.version, dir = %state.dir.display(),
                "the model file was removed; its last snapshot stays served until the server restarts \
                 (put the file back to keep the channel)");
        }
    }
}

/// Whether `path` names a channel: `CHANNEL.json`, not a dotfile (an editor's or a deploy's
/// temporary file, `.web.json.swp` or `.web.json`, is no channel).
pub(super) fn is_model_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
    !name.starts_with('.') && path.extension().is_some_and(|x| x == "json")
}

/// Whether the model file `path` is a regular file or a symlink to one (editors and deploys
/// link `web.json` to a release). Anything else, a FIFO, a folder or a socket named `*.json`, is
/// skipped and logged once, until it changes: reading a FIFO waits for a writer, and would hold
/// up every reload after it. One whose metadata cannot be read is kept: reading it says why.
fn is_regular(state: &Shared, path: &Path) -> bool {
    // `metadata` follows symlinks, and `stat` does not open the file, so it never waits. (A file
    // swapped for a FIFO between this and the read still waits: only the deploy can do that.)
    let Ok(meta) = std::fs::metadata(path) else { return true };
    if meta.is_file() {
        return true;
    }
    let kind = if meta.is_dir() { "a folder" } else { "a FIFO, socket or device" };
    if first_report(state, path, kind) {
        tracing::warn!(file = %path.display(),
            "the entry is {kind}, not a model file: skipped (logged once, until it changes)");
    }
    false
}

/// `text` on one line: newlines escaped as `\n`.
fn one_line(text: &str) -> String {
    text.replace('\r', "\\r").replace('\n', "\\n")
}

/// What stays served on `channel` when its model file cannot be published, for the log.
fn fallback(state: &Shared, channel: &str) -> String {
    match read_lock(&state.channels).get(channel) {
        Some(p) => format!("the last good snapshot (version {}) stays served", p.meta.version),
        None => "the channel has no snapshot to serve".to_string(),
    }
}

/// What to do with a model that compiled, given the channel's published snapshot.
enum Verdict {
    /// A higher version, or the channel's first.
    Publish,
    /// The published snapshot, byte for byte.
    Unchanged,
    /// The published model, signed otherwise (another `--key`, or signed or not): the
    /// published bytes stay, as a version's bytes never change.
    SignedOtherwise,
    /// The published version with other content, or a lower one.
    Refuse,
}

fn verdict(published: Option<&Published>, new: &Published) -> Verdict {
    let Some(p) = published else { return Verdict::Publish };
    match new.meta.version.cmp(&p.meta.version) {
        std::cmp::Ordering::Greater => Verdict::Publish,
        std::cmp::Ordering::Less => Verdict::Refuse,
        std::cmp::Ordering::Equal if new.body_sha != p.body_sha => Verdict::Refuse,
        std::cmp::Ordering::Equal if new.bytes != p.bytes => Verdict::SignedOtherwise,
        std::cmp::Ordering::Equal => Verdict::Unchanged,
    }
}

/// Reads, compiles and (if its version allows) publishes one model file. Each problem is logged
/// once, until it changes; a file that was handled is looked at again once its bytes change.
fn reload_file(state: &Shared, channel: &str, path: &Path) {
    if !revive(state, channel) {
        return;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            if first_report(state, path, &format!("unreadable: {e}")) {
                tracing::error!(%channel, file = %path.display(), error = %e,
                    "cannot read the model file; {}", fallback(state, channel));
            }
            return;
        }
    };
    if solved(state, path) {
        tracing::info!(%channel, file = %path.display(), "the model file can be read again");
    }
    let file_hash = kairos::codec::sha256(&bytes);
    {
        let mut seen = state.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.get(path) == Some(&file_hash) {
            return;
        }
        seen.insert(path.to_path_buf(), file_hash);
    }
    let text = match crate::text_of(bytes) {
        Ok(text) => text,
        Err(why) => {
            tracing::error!(%channel, file = %path.display(), error = %why,
                "the model file is not UTF-8 text; {}", fallback(state, channel));
            return;
        }
    };
    let compiled = match kairos::compile_str(&text) {
        Ok(c) => c,
        Err(errors) => {
            // One event per error, on one line each: line-based log collectors split a field
            // with newlines into pieces, and an error's text can hold newlines (a name written
            // with `\n`), so each entry is put on one line, not the joined text split by line.
            // The errors located in one scan of the text, at most 100 and then how many more
            // (`compile_errors`).
            let fallback = fallback(state, channel);
            let (_, entries) = crate::compile_error_list(path, &text, &errors);
            for error in entries {
                tracing::error!(%channel, error = %one_line(&error), "model does not compile; {fallback}");
            }
            return;
        }
    };
    let model = compiled.model;
    let bytes = match &state.key {
        Some(k) => kairos::snapshot::encode_signed(&model, k),
        None => kairos::snapshot::encode(&model),
    };
    let public = state.key.as_ref().map(kairos::sign::SecretKey::public);
    let new = match Published::new(channel, bytes, public.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(%channel, error = %e, "the snapshot just encoded does not read back; not published");
            return;
        }
    };
    let published = read_lock(&state.channels).get(channel).cloned();
    let served = published.as_ref().map(|p| (p.meta.version, p.meta.sha256.as_str()));
    let (served_version, served_sha) = served.unwrap_or_default();
    match verdict(published.as_ref(), &new) {
        Verdict::Publish => {}
        Verdict::Unchanged => {
            tracing::debug!(%channel, version = new.meta.version, "model unchanged");
            return;
        }
        Verdict::SignedOtherwise => {
            tracing::warn!(%channel, version = new.meta.version, served_sha256 = %served_sha, sha256 = %new.meta.sha256,
                "the model is the one published, signed otherwise (another --key, or --unsigned): the published \
                 snapshot stays, as a version's bytes never change; raise meta.version to publish it signed with \
                 this key (see Key rotation in docs/cli.md)");
            return;
        }
        Verdict::Refuse if new.meta.version < served_version => {
            tracing::error!(%channel, file = %path.display(), version = new.meta.version, sha256 = %new.meta.sha256,
                served = served_version, served_sha256 = %served_sha,
                "meta.version is lower than the published version; not published (devices refuse a lower \
                 version; to roll back, publish the old model with a higher version)");
            return;
        }
        Verdict::Refuse => {
            tracing::error!(%channel, file = %path.display(), version = new.meta.version, sha256 = %new.meta.sha256,
                served = served_version, served_sha256 = %served_sha,
                "model changed but its meta.version is not higher than the published one; not published \
                 (devices that hold this version would never get the change): raise meta.version");
            return;
        }
    }
    let kept = state.state_dir.join(format!("{channel}.kairos"));
    if let Err(e) = remember(&kept, &new.bytes) {
        // Not published: after a restart the server would not know it had. Tried again at the
        // next poll.
        state.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(path);
        if first_report(state, &kept, &e.to_string()) {
            tracing::error!(%channel, dir = %state.state_dir.display(), error = %e,
                "cannot keep the snapshot in the state folder; not published");
        }
        return;
    }
    solved(state, &kept);
    tracing::info!(%channel, version = new.meta.version, sha256 = %new.meta.sha256, bytes = new.meta.bytes,
        key = %new.meta.key.as_deref().unwrap_or("none"), warnings = compiled.warnings.len(), "published");
    for w in &compiled.warnings {
        tracing::warn!(%channel, version = new.meta.version, place = %w.path, warning = %one_line(&w.message),
            "model warning");
    }
    publish(state, channel, new);
}

/// Keeps snapshot `sha` for its immutable URL and forgets the oldest beyond
/// `KEEP_SNAPSHOTS`, but never a channel's latest (`latest`, and `sha`); returns the hashes
/// forgotten.
// INVARIANT: the map and the order hold the same hashes. A latest snapshot stays in the order
// too, so it is forgotten in its turn once it is no longer the latest.
pub(super) fn keep(kept: &mut Kept, sha: &str, bytes: Bytes, latest: &[String]) -> Vec<String> {
    let (map, order) = kept;
    if map.insert(sha.to_string(), bytes).is_none() {
        order.push_back(sha.to_string());
    }
    let mut excess = order.len().saturating_sub(KEEP_SNAPSHOTS);
    let mut forgotten = Vec::new();
    order.retain(|h| {
        if excess == 0 || h == sha || latest.contains(h) {
            return true;
        }
        map.remove(h);
        forgotten.push(h.clone());
        excess -= 1;
        false
    });
    forgotten
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a channel's latest snapshot popped from the order while still the latest
    /// stayed in the map for good once the channel published again.
    #[test]
    fn a_rarely_changed_channel_does_not_leak_snapshots() {
        let mut kept = Kept::default();
        let mut latest: HashMap<&str, String> = HashMap::new();
        // Every hash forgotten, as `keep` says (their files are removed from the state folder).
        let mut forgotten: Vec<String> = Vec::new();
        let mut publish = |channel: &'static str, n: usize| {
            let sha = format!("{channel}{n}");
            let now: Vec<String> = latest.values().cloned().collect();
            let before = kept.0.clone();
            let gone = keep(&mut kept, &sha, Bytes::new(), &now);
            assert!(gone.iter().all(|h| before.contains_key(h) && !kept.0.contains_key(h)), "{gone:?}");
            assert_eq!(before.len() + 1 - gone.len(), kept.0.len());
            forgotten.extend(gone);
            latest.insert(channel, sha);
            kept.clone()
        };
        publish("a", 0);
        for n in 0..100 {
            publish("b", n);
        }
        let (map, _) = publish("a", 1);
        assert!(map.contains_key("a0") && map.contains_key("a1"), "a0 still served by old devices");
        for n in 100..300 {
            publish("b", n);
        }
        let (map, order) = publish("b", 300);
        assert!(!map.contains_key("a0"), "a0 is forgotten once a1 is the latest and old enough");
        assert!(map.contains_key("a1") && map.contains_key("b300") && map.contains_key("b299"));
        assert_eq!(map.len(), KEEP_SNAPSHOTS);
        let mut listed: Vec<&String> = order.iter().collect();
        listed.sort();
        let mut held: Vec<&String> = map.keys().collect();
        held.sort();
        assert_eq!(listed, held);
        assert_eq!(forgotten.len() + map.len(), 303, "each of the 303 published is held or was forgotten");
    }
}
