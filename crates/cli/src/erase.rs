//! `kairos erase`: rewrites outbox files without the reports of the installs that `forgotten`
//! requests erased. A reference for the erasure step of a pipeline (docs/cli.md, "`erase`").
//!
//! A report names no install, only its decision id: `mix(install, counter)`. A request names the
//! install and the highest counter of its reports to erase (`decisions`: [`ERASE_ALL`] for a
//! retired install, its counter at the erasure for one that goes on), and a report is that
//! install's when its id inverts to a counter from 1 to `decisions`
//! ([`kairos::engine::decision_counter`]). Another install's report lands there with chance
//! `decisions` / 2^64, so a `decisions` above [`ERASE_ALL`] (only a forged request) is refused. A
//! request from a package before 2026-11-25 names only the pid: an anonymous shopper's is her
//! install id, but her counter is unknown, so counters up to [`ERASE_ALL`] are taken; an
//! identified shopper's pid is a hash that no report leads back to.
//!
//! Every file is read and checked before any is written: a line that cannot be read refuses the
//! run, as it might be a request (or a report) that would otherwise be missed.

use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::io::{BufRead as _, BufReader, BufWriter, Read as _, Write as _};
use std::path::{Path, PathBuf};

use kairos::engine::decision_counter;
use kairos::outbox::ERASE_ALL;
use serde_json::{Map, Value as Json};

use crate::{printed, Fail};

/// The longest line read, its newline aside: 64 KiB. `kairos serve` takes upload lines of
/// 16 KiB at most (and adds `received_at`); a longer line is not from an outbox, and is refused
/// once this much of it is read rather than held whole in memory.
pub const MAX_LINE: usize = 64 * 1024;

/// `kairos erase`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Outbox files (NDJSON, as `kairos serve` writes them), moved away from the server: each is
    /// rewritten without the reports of the installs erased.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Another file to read `forgotten` requests from (repeatable), such as a later outbox file;
    /// it is only read, never rewritten.
    #[arg(long = "requests", value_name = "FILE")]
    pub requests: Vec<PathBuf>,
    /// Print what would be erased; change no file.
    #[arg(long)]
    pub dry_run: bool,
}

/// What a line of an outbox file is.
enum Line {
    /// White space only.
    Blank,
    /// An `exposure` or a `conversion`: its decision id.
    Report(u64),
    /// A `forgotten` request.
    Request(Request),
    /// A `stage_changed` report: it carries no id.
    Other,
}

/// What a `forgotten` request lets erase find.
enum Request {
    /// The install and the highest counter of its reports to erase, at most [`ERASE_ALL`].
    Install { install: u64, decisions: u64 },
    /// Only an anonymous shopper's pid: her install id, its counter unknown (an older package):
    /// counters up to [`ERASE_ALL`] are taken, as for a retired install.
    AnonymousPid(u64),
    /// Only an identified shopper's pid (an older package): no report leads to it.
    IdentifiedPid,
}

/// The requests read, counted by kind, and the installs they erase.
#[derive(Default)]
struct Requests {
    /// With `install` and `decisions`.
    with_install: usize,
    /// With an anonymous pid only.
    anonymous: usize,
    /// With an identified pid only.
    unmatchable: usize,
    /// Each install erased and the highest counter of its reports (an install named twice, by a
    /// request sent again, counts once, with the higher count).
    installs: BTreeMap<u64, u64>,
}

impl Requests {
    fn add(&mut self, r: Request) {
        let (install, decisions) = match r {
            Request::Install { install, decisions } => {
                self.with_install += 1;
                (install, decisions)
            }
            Request::AnonymousPid(install) => {
                self.anonymous += 1;
                (install, ERASE_ALL)
            }
            Request::IdentifiedPid => {
                self.unmatchable += 1;
                return;
            }
        };
        let bound = self.installs.entry(install).or_insert(0);
        *bound = (*bound).max(decisions);
    }
}

/// Whether the report with decision id `decision` is one of the `installs`' (each with the
/// highest counter of its reports). Each report is tried against every install: a slice, not the
/// map, for the speed of that loop.
fn erases(installs: &[(u64, u64)], decision: u64) -> bool {
    installs
        .iter()
        .any(|&(install, decisions)| (1..=decisions).contains(&decision_counter(install, decision)))
}

/// What the first read of a file to rewrite found.
struct Scanned {
    /// Its length and identity then, to tell whether it changed before it is replaced.
    stamp: Stamp,
    /// Reports (`exposure`, `conversion`).
    reports: usize,
    /// Other lines: `stage_changed`, `forgotten`, blank.
    others: usize,
}

/// `kairos erase FILE... [--requests FILE]... [--dry-run]`.
pub fn run(args: &Args) -> Result<(), Fail> {
    given_once(args)?;
    let mut requests = Requests::default();
    let mut scanned = Vec::with_capacity(args.files.len());
    for path in &args.files {
        scanned.push(scan(path, &mut requests)?);
    }
    for path in &args.requests {
        scan(path, &mut requests)?;
    }
    // Stdout closed by its reader: the files are rewritten all the same.
    let mut closed = false;
    printed(print_requests(&requests), &mut closed)?;
    let installs: Vec<(u64, u64)> = requests.installs.into_iter().collect();
    for (path, seen) in args.files.iter().zip(&scanned) {
        let erased = if installs.is_empty() { 0 } else { rewrite(path, seen, &installs, args.dry_run)? };
        printed(print_file(path, seen, erased, args.dry_run), &mut closed)?;
    }
    if args.dry_run {
        let note = || -> Result<(), Fail> {
            say!("dry run: no file was changed");
            Ok(())
        };
        printed(note(), &mut closed)?;
    }
    Ok(())
}

fn print_file(path: &Path, seen: &Scanned, erased: usize, dry_run: bool) -> Result<(), Fail> {
    let kept = seen.reports.saturating_sub(erased);
    let unchanged = if erased == 0 && !dry_run { " (unchanged)" } else { "" };
    say!(
        "{}: {erased} report{} erased, {kept} kept; {} other line{} kept{unchanged}",
        path.display(),
        plural(erased),
        seen.others,
        plural(seen.others)
    );
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn print_requests(r: &Requests) -> Result<(), Fail> {
    let n = r.with_install + r.anonymous + r.unmatchable;
    say!("{n} forgotten request{} read", plural(n));
    say!("  {} with install and decision counter: the install's reports are erased", r.with_install);
    say!(
        "  {} with an anonymous pid only (older package): the reports of that install id with counters up to 2^24 are erased",
        r.anonymous
    );
    say!(
        "  {} with an identified pid only (older package): no report can be matched to it; erase what is held under the pid",
        r.unmatchable
    );
    Ok(())
}

/// Refuses a file given twice (as FILE or with `--requests`, by another path, a symlink or a
/// hard link): rewritten twice, or read as requests only and rewritten too.
fn given_once(args: &Args) -> Result<(), Fail> {
    let all: Vec<&PathBuf> = args.files.iter().chain(&args.requests).collect();
    let ids: Vec<FileId> = all.iter().map(|p| FileId::of(p)).collect();
    for (i, (a, first)) in all.iter().zip(&ids).enumerate() {
        let again = ids.iter().skip(i + 1).position(|c| c == first);
        if let Some(b) = again.and_then(|k| all.get(i + 1 + k)) {
            return Err(Fail::usage(format!(
                "{} and {} are one file; give each file once (as FILE to rewrite it, or with --requests to only read its requests)",
                a.display(),
                b.display()
            )));
        }
    }
    Ok(())
}

/// What tells whether two paths name one file: its device and inode where there are such (a
/// hard link has a path of its own), else its canonical path; the path as given when it cannot
/// be read (the run then fails on it).
#[derive(PartialEq)]
enum FileId {
    #[cfg_attr(not(unix), allow(dead_code, reason = "no inodes to compare"))]
    Inode(u64, u64),
    Path(PathBuf),
}

impl FileId {
    fn of(path: &Path) -> FileId {
        #[cfg(unix)]
        if let Ok(m) = std::fs::metadata(path) {
            let (dev, ino) = Stamp::of(&m).id;
            return FileId::Inode(dev, ino);
        }
        FileId::Path(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    }
}

/// Reads `path`, adding its requests to `requests`; refuses it at its first line that is not a
/// report the server stores.
fn scan(path: &Path, requests: &mut Requests) -> Result<Scanned, Fail> {
    let io = |e: std::io::Error| Fail::usage(format!("{}: {e}; no file was changed", path.display()));
    let file = File::open(path).map_err(io)?;
    let stamp = Stamp::of(&file.metadata().map_err(io)?);
    let mut seen = Scanned { stamp, reports: 0, others: 0 };
    each_line(path, file, |n, raw| {
        match classify(raw).map_err(|why| format!("{}:{n}: {why}", path.display()))? {
            Line::Report(_) => seen.reports += 1,
            Line::Request(r) => {
                requests.add(r);
                seen.others += 1;
            }
            Line::Blank | Line::Other => seen.others += 1,
        }
        Ok(())
    })
    .map_err(|why| Fail::usage(format!("{why}; no file was changed")))?;
    Ok(seen)
}

/// Reads `file` line by line, giving each line's number and bytes (with its newline, if it has
/// one) to `f`; the number of bytes read. A line longer than [`MAX_LINE`] is refused when that
/// much of it is read.
fn each_line(
    path: &Path,
    file: File,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), String>,
) -> Result<u64, String> {
    let mut input = BufReader::with_capacity(1 << 16, file);
    let mut raw = Vec::new();
    let mut read = 0u64;
    for n in 1.. {
        raw.clear();
        let bounded = (&mut input).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut raw);
        let len = bounded.map_err(|e| format!("{}:{n}: {e}", path.display()))?;
        if len == 0 {
            break;
        }
        if len > MAX_LINE && raw.last() != Some(&b'\n') {
            return Err(format!(
                "{}:{n}: a line longer than {MAX_LINE} bytes (64 KiB), which no outbox file holds \
                 (`kairos serve` takes reports of 16 KiB at most)",
                path.display()
            ));
        }
        read += len as u64;
        f(n, &raw)?;
    }
    Ok(read)
}

/// What a line is, or why it is not a line `kairos serve` stores.
fn classify(raw: &[u8]) -> Result<Line, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "not UTF-8".to_string())?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(Line::Blank);
    }
    let types = "`exposure`, `conversion`, `stage_changed` or `forgotten`";
    let o = match kairos::compile::json_unique(text) {
        Ok(Json::Object(o)) => o,
        Ok(_) => return Err(format!("expected a report, a JSON object with a `type` ({types})")),
        // A line cut short by a crash while it was written is not JSON either: delete it.
        Err(e) => return Err(format!("not JSON ({e}); fix or delete the line")),
    };
    match o.get("type") {
        Some(Json::String(t)) if t == "exposure" || t == "conversion" => {
            let id = o.get("decision").and_then(Json::as_str).and_then(hex_u64);
            id.map(Line::Report)
                .ok_or_else(|| format!("`{t}`.`decision` must be a decision id, 16 lowercase hex digits"))
        }
        Some(Json::String(t)) if t == "stage_changed" => Ok(Line::Other),
        Some(Json::String(t)) if t == "forgotten" => request(&o).map(Line::Request),
        // Another type might carry a decision id that would be kept unseen.
        Some(Json::String(t)) => Err(format!("`{t}` is not a report type erase knows: one of {types}")),
        _ => Err(format!("expected a string `type`: one of {types}")),
    }
}

/// A `forgotten` request's `pid`, `install` and `decisions`.
fn request(o: &Map<String, Json>) -> Result<Request, String> {
    let pid = o.get("pid").and_then(Json::as_str).filter(|p| crate::snap::is_pid(p));
    let Some(pid) = pid else {
        return Err("`forgotten`.`pid` must be a pseudonymous id, 16 or 32 lowercase hex digits".into());
    };
    let absent = |k: &str| o.get(k).is_none_or(Json::is_null);
    if absent("install") && absent("decisions") {
        // An older package's request: an anonymous shopper's pid is her install id.
        return Ok(hex_u64(pid).map_or(Request::IdentifiedPid, Request::AnonymousPid));
    }
    let install = o.get("install").and_then(Json::as_str).and_then(hex_u64);
    match (install, o.get("decisions").and_then(Json::as_u64)) {
        (Some(install), Some(decisions)) if decisions <= ERASE_ALL => {
            Ok(Request::Install { install, decisions })
        }
        // Each count more takes another install's report with chance 2^-64: a forged count of
        // 2^53 would take one report in 2,048 of every install.
        (Some(_), Some(decisions)) => Err(format!(
            "`forgotten`.`decisions` must be at most {ERASE_ALL} (2^24, every report of a retired \
             install), not `{decisions}`: no package sends more, and a larger count would erase other \
             installs' reports too (a forged request): delete the line"
        )),
        _ => Err(format!(
            "`forgotten` must have `install` (16 lowercase hex digits) and `decisions` (an integer from 0 \
             to {ERASE_ALL}), or neither (null or absent: a request from a package before 2026-11-25)"
        )),
    }
}

/// The number 16 lowercase hex digits write.
fn hex_u64(s: &str) -> Option<u64> {
    crate::is_hex(s, 16).then(|| u64::from_str_radix(s, 16).ok()).flatten()
}

/// A file's length, modification time and identity: whether it is the file that was read.
#[derive(PartialEq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// Device and inode.
    id: (u64, u64),
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt as _;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let id = (0, 0);
        Stamp { len: m.len(), modified: m.modified().ok(), id }
    }
}

/// Writes `path` again without the erased installs' reports, through a temporary file in its
/// folder renamed over it (when something is erased and not `dry_run`); how many were erased.
fn rewrite(path: &Path, seen: &Scanned, installs: &[(u64, u64)], dry_run: bool) -> Result<usize, Fail> {
    let left = |why: String| Fail::usage(format!("{why}; the file was left as it was"));
    let io = |e: std::io::Error| left(format!("{}: {e}", path.display()));
    // A symlink's target is rewritten: replacing the link would leave the reports in the target.
    let target = std::fs::canonicalize(path).map_err(io)?;
    let file = File::open(&target).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let changed = || {
        left(format!(
            "{}: it changed while erase ran: move it away from `kairos serve`, which appends to it, first",
            path.display()
        ))
    };
    if Stamp::of(&meta) != seen.stamp {
        return Err(changed());
    }
    let mut out = if dry_run { None } else { Some(Temp::create(&target, &meta).map_err(io)?) };
    let mut erased = 0usize;
    let read = each_line(path, file, |n, raw| {
        let erase = match classify(raw).map_err(|why| format!("{}:{n}: {why}", path.display()))? {
            Line::Report(decision) => erases(installs, decision),
            Line::Blank | Line::Request(_) | Line::Other => false,
        };
        if erase {
            erased += 1;
        } else if let Some(out) = &mut out {
            out.writer.write_all(raw).map_err(|e| format!("{}: {e}", out.path.display()))?;
        }
        Ok(())
    })
    .map_err(left)?;
    // Nothing erased: the file stays as it is (the new one is removed when dropped).
    let Some(out) = out.filter(|_| erased > 0) else { return Ok(erased) };
    let now = std::fs::metadata(&target).map(|m| Stamp::of(&m)).ok();
    if read != seen.stamp.len || now.as_ref() != Some(&seen.stamp) {
        return Err(changed());
    }
    out.replace(&target).map_err(io)?;
    Ok(erased)
}

/// The new file, beside the one it replaces; removed when dropped unless it replaced it.
struct Temp {
    path: PathBuf,
    writer: BufWriter<File>,
    placed: bool,
}

impl Temp {
    /// Creates it new (never through a symlink) in `target`'s folder, with `target`'s
    /// permissions (mode 0600 until then) and owner.
    fn create(target: &Path, meta: &Metadata) -> std::io::Result<Temp> {
        let name = target.file_name().ok_or_else(|| std::io::Error::other("not a file name"))?;
        let dir = target.parent().unwrap_or(Path::new("."));
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
        let path = dir.join(format!(
            ".{}.{}-{}.erase.tmp",
            name.to_string_lossy(),
            std::process::id(),
            crate::hex(&nonce)
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        let temp = Temp { path, writer: BufWriter::with_capacity(1 << 16, file), placed: false };
        let file = temp.writer.get_ref();
        // Exactly the original's mode, whatever the umask.
        file.set_permissions(meta.permissions())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let mine = file.metadata()?;
            if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
                std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid())).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "cannot give the new file the owner of the old one (uid {}, gid {}): {e}; run erase as that user",
                            meta.uid(),
                            meta.gid()
                        ),
                    )
                })?;
            }
        }
        Ok(temp)
    }

    /// Syncs it and renames it over `target`, then syncs the folder (best effort: not every
    /// platform syncs folders).
    fn replace(mut self, target: &Path) -> std::io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_all()?;
        std::fs::rename(&self.path, target)?;
        self.placed = true;
        #[cfg(unix)]
        if let Some(dir) = target.parent() {
            if let Ok(d) = File::open(dir) {
                d.sync_all().ok();
            }
        }
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.placed {
            std::fs::remove_file(&self.path).ok();
        }
    }
}
