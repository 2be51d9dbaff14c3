//! `kairos erase` on outbox files made of real reports: two installs decide, one is forgotten,
//! and its request erases exactly its reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{kairos, root, text};
use kairos::outbox::OutboxEvent;
use serde_json::Value;

const MODEL: &str = "examples/taste-of-su/model.json";
/// 2026-11-25, ms.
const NOW: i64 = 1_795_564_800_000;
const ANNA: u64 = 0x1111_2222_3333_4444;
const BEN: u64 = 0x5555_6666_7777_8888;

/// A fresh folder for one test.
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kairos-erase-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn engine(install: u64) -> kairos::Engine {
    let compiled = kairos::compile_str(&std::fs::read_to_string(root().join(MODEL)).unwrap()).unwrap();
    let mut e = kairos::Engine::new(compiled.model, install);
    e.set_consent(true);
    e
}

/// An outbox line as `kairos serve` stores it: the report, keys sorted, with `received_at`.
fn stored(e: &OutboxEvent) -> String {
    let Value::Object(mut o) = e.to_json() else { panic!("an object") };
    o.insert("received_at".into(), (NOW + 60_000).into());
    let sorted: std::collections::BTreeMap<_, _> = o.into_iter().collect();
    serde_json::to_string(&sorted).unwrap()
}

/// A shopper's session: exposures on the home page, a signup that converts one, and more
/// decisions; the lines of the reports it drains.
fn session(e: &mut kairos::Engine, at: i64) -> Vec<String> {
    for k in 0..3 {
        e.decide(0, &[], at + k);
        e.decide(1, &[], at + k);
    }
    e.track_json(&serde_json::json!({"type": "signup", "channel": "web"}), at + 10).unwrap();
    e.decide(1, &[], at + 20);
    e.drain_outbox().iter().map(stored).collect()
}

/// The test data: Anna's and Ben's reports, then Anna's erasure request (she identified
/// first, so her pid is 32 hex digits: only `install` finds her reports).
struct Outbox {
    anna: Vec<String>,
    ben: Vec<String>,
    /// Anna's `forgotten` line, with `install` and `decisions`.
    forgotten: String,
}

fn outbox() -> Outbox {
    let mut anna = engine(ANNA);
    let mut ben = engine(BEN);
    let anna_reports = session(&mut anna, NOW);
    let ben_reports = session(&mut ben, NOW + 5);
    anna.identify(kairos::profile::identity::IdKind::Phone, "138 0013 8000").unwrap();
    anna.decide(1, &[], NOW + 100);
    let mut anna_reports = anna_reports;
    anna_reports.extend(anna.outbox().iter().map(stored));
    anna.forget(0x9999_aaaa_bbbb_cccc, NOW + 200);
    let drained = anna.drain_outbox();
    let [f @ OutboxEvent::Forgotten { pid, install, decisions, .. }] = drained.as_slice() else {
        panic!("one forgotten request: {drained:?}")
    };
    assert_eq!(pid.len(), 32, "an identified shopper");
    assert_eq!(install, "1111222233334444");
    assert!(*decisions > 0);
    Outbox { anna: anna_reports, ben: ben_reports, forgotten: stored(f) }
}

fn kind(line: &str) -> String {
    serde_json::from_str::<Value>(line).unwrap()["type"].as_str().unwrap().to_string()
}

fn is_report(line: &str) -> bool {
    matches!(kind(line).as_str(), "exposure" | "conversion")
}

/// Lines interleaved as uploads from several devices would be.
fn mixed(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..a.len().max(b.len()) {
        out.extend(a.get(k).cloned());
        out.extend(b.get(k).cloned());
    }
    out
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

/// Runs `kairos erase` and returns its stdout; it must succeed.
fn erase(args: &[&str]) -> String {
    let mut all = vec!["erase"];
    all.extend(args);
    let out = kairos(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_data_is_real() {
    let o = outbox();
    let kinds = |l: &[String]| l.iter().map(|l| kind(l)).collect::<std::collections::BTreeSet<_>>();
    for reports in [&o.anna, &o.ben] {
        let k = kinds(reports);
        assert!(k.contains("exposure") && k.contains("conversion") && k.contains("stage_changed"), "{k:?}");
    }
}

#[test]
fn a_request_with_install_erases_exactly_that_installs_reports() {
    let d = tmp("install");
    let o = outbox();
    // The request arrives after her reports, in the same file, and again in the next one
    // (delivery is at least once).
    let mut first = mixed(&o.anna, &o.ben);
    first.push(o.forgotten.clone());
    let f1 = d.join("outbox.1.ndjson");
    let f2 = d.join("outbox.2.ndjson");
    write_lines(&f1, &first);
    let ben = o.ben.iter().find(|l| kind(l) == "exposure").unwrap();
    let second = vec![o.forgotten.clone(), ben.clone()];
    write_lines(&f2, &second);
    let out = erase(&[s(&f1), s(&f2)]);

    let expected: Vec<String> =
        first.iter().filter(|l| !(o.anna.contains(l) && is_report(l))).cloned().collect();
    assert_eq!(lines(&f1), expected, "Anna's reports gone; Ben's, the stage changes and the request kept");
    assert!(expected.iter().any(|l| kind(l) == "stage_changed" && o.anna.contains(l)));
    assert!(o.ben.iter().all(|l| expected.contains(l)));
    assert_eq!(
        std::fs::read_to_string(&f2).unwrap(),
        second.iter().map(|l| format!("{l}\n")).collect::<String>()
    );

    let erased = o.anna.iter().filter(|l| is_report(l)).count();
    let kept = o.ben.iter().filter(|l| is_report(l)).count();
    let others = first.len() - erased - kept;
    assert!(out.contains("2 forgotten requests read\n  2 with install and decision counter"), "{out}");
    assert!(out.contains("  0 with an anonymous pid only"), "{out}");
    assert!(out.contains("  0 with an identified pid only"), "{out}");
    let line1 =
        format!("{}: {erased} reports erased, {kept} kept; {others} other lines kept\n", f1.display());
    assert!(out.contains(&line1), "{out}");
    assert!(
        out.contains(&format!("{}: 0 reports erased, 1 kept; 1 other line kept (unchanged)\n", f2.display()))
    );

    // Run again: nothing left to erase.
    let again = erase(&[s(&f1)]);
    assert!(again.contains(&format!("{}: 0 reports erased, {kept} kept", f1.display())), "{again}");
}

/// An older package's request has no `install` (absent, or null as a new server stores it):
/// an anonymous shopper's pid, 16 hex digits, is her install id.
#[test]
fn an_older_request_with_an_anonymous_pid_erases_by_the_pid() {
    let d = tmp("anonymous");
    let o = outbox();
    for (n, request) in [
        r#"{"at":1795564800200,"pid":"1111222233334444","received_at":1795564860000,"type":"forgotten"}"#,
        r#"{"at":1795564800200,"decisions":null,"install":null,"pid":"1111222233334444","received_at":1795564860000,"type":"forgotten"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let f = d.join(format!("outbox.{n}.ndjson"));
        let mut all = mixed(&o.ben, &o.anna);
        all.push(request.to_string());
        write_lines(&f, &all);
        let out = erase(&[s(&f)]);
        let expected: Vec<String> = all.iter().filter(|l| !(o.anna.contains(l) && is_report(l))).cloned().collect();
        assert_eq!(lines(&f), expected);
        assert!(out.contains("1 forgotten request read\n  0 with install and decision counter"), "{out}");
        assert!(out.contains("  1 with an anonymous pid only (older package): the reports of that install id with counters up to 2^32 are erased"), "{out}");
    }
}

/// An identified shopper's pid is a hash no report leads to: said, and nothing erased.
#[test]
fn an_older_request_with_an_identified_pid_erases_nothing_and_says_so() {
    let d = tmp("identified");
    let o = outbox();
    let f = d.join("outbox.ndjson");
    let mut all = mixed(&o.anna, &o.ben);
    all.push(r#"{"at":1795564800200,"pid":"0123456789abcdef0123456789abcdef","received_at":1795564860000,"type":"forgotten"}"#.into());
    write_lines(&f, &all);
    let before = std::fs::read(&f).unwrap();
    let out = erase(&[s(&f)]);
    assert_eq!(std::fs::read(&f).unwrap(), before);
    assert!(
        out.contains("  1 with an identified pid only (older package): no report can be matched to it"),
        "{out}"
    );
    assert!(out.contains(" 0 reports erased, "), "{out}");
}

#[test]
fn a_dry_run_changes_nothing() {
    let d = tmp("dry");
    let o = outbox();
    let f = d.join("outbox.ndjson");
    let mut all = mixed(&o.anna, &o.ben);
    all.push(o.forgotten.clone());
    write_lines(&f, &all);
    let before = std::fs::read(&f).unwrap();
    let out = erase(&[s(&f), "--dry-run"]);
    assert_eq!(std::fs::read(&f).unwrap(), before);
    let erased = o.anna.iter().filter(|l| is_report(l)).count();
    assert!(out.contains(&format!("{}: {erased} reports erased", f.display())), "{out}");
    assert!(out.ends_with("dry run: no file was changed\n"), "{out}");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1, "no file left beside it");
}

/// A request in a `--requests` file (a later outbox file, say) applies; that file is only read.
#[test]
fn a_requests_file_is_read_not_rewritten() {
    let d = tmp("requests");
    let o = outbox();
    let f = d.join("outbox.1.ndjson");
    let later = d.join("outbox.2.ndjson");
    write_lines(&f, &mixed(&o.anna, &o.ben));
    // Her reports in it too: only read, it keeps them.
    let mut next = o.anna.clone();
    next.push(o.forgotten.clone());
    write_lines(&later, &next);
    let before = std::fs::read(&later).unwrap();
    let out = erase(&[s(&f), "--requests", s(&later)]);
    assert_eq!(std::fs::read(&later).unwrap(), before);
    assert!(lines(&f).iter().all(|l| !(o.anna.contains(l) && is_report(l))), "{out}");
    assert!(o.ben.iter().all(|l| lines(&f).contains(l)));
    assert!(!out.contains(s(&later)), "only the files rewritten are listed: {out}");
}

/// Outbox files are mode 0600 (pseudonymous data): the rewritten file is too, and one with
/// other permissions keeps them.
#[cfg(unix)]
#[test]
fn the_rewritten_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tmp("mode");
    let o = outbox();
    for m in [0o600, 0o640] {
        let f = d.join(format!("outbox.{m:o}.ndjson"));
        let mut all = mixed(&o.anna, &o.ben);
        all.push(o.forgotten.clone());
        write_lines(&f, &all);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(m)).unwrap();
        erase(&[s(&f)]);
        assert!(lines(&f).len() < all.len());
        assert_eq!(mode(&f), m);
    }
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}

/// A symlink to the outbox file: the file it points to is rewritten (replacing the link would
/// leave the reports in it).
#[cfg(unix)]
#[test]
fn a_symlink_is_followed() {
    let d = tmp("link");
    let o = outbox();
    let f = d.join("outbox.ndjson");
    let mut all = mixed(&o.anna, &o.ben);
    all.push(o.forgotten.clone());
    write_lines(&f, &all);
    let link = d.join("current.ndjson");
    std::os::unix::fs::symlink(&f, &link).unwrap();
    erase(&[s(&link)]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(lines(&f).iter().all(|l| !(o.anna.contains(l) && is_report(l))));
}

/// A line that cannot be read might be a request or a report: the run is refused, naming
/// `path:LINE`, and no file is changed (also one given before the bad one).
#[test]
fn a_bad_line_refuses_the_run_and_changes_no_file() {
    let d = tmp("bad");
    let o = outbox();
    let good = d.join("outbox.1.ndjson");
    let mut all = mixed(&o.anna, &o.ben);
    all.push(o.forgotten.clone());
    write_lines(&good, &all);
    let exposure = o.ben.iter().find(|l| kind(l) == "exposure").unwrap();
    let cases = [
        // A line cut short by a crash.
        (exposure[..exposure.len() / 2].to_string(), "not JSON"),
        ("[1, 2]".to_string(), "expected a report, a JSON object with a `type`"),
        (r#"{"type": "click", "decision": "0123456789abcdef"}"#.to_string(), "`click` is not a report type"),
        (
            exposure.replace("\"decision\":\"", "\"decision\":\"XY"),
            "`exposure`.`decision` must be a decision id",
        ),
        (
            r#"{"type": "forgotten", "pid": "0123456789abcdef", "install": "0123456789abcdef"}"#.to_string(),
            "`forgotten` must have `install` (16 lowercase hex digits) and `decisions`",
        ),
        (
            r#"{"type": "forgotten", "pid": "Nancy"}"#.to_string(),
            "`forgotten`.`pid` must be a pseudonymous id",
        ),
        (r#"{"type": "stage_changed", "to": "a", "to": "b"}"#.to_string(), "not JSON (`to` is given twice"),
    ];
    let before = std::fs::read(&good).unwrap();
    for (line, why) in cases {
        let bad = d.join("outbox.2.ndjson");
        write_lines(&bad, &[o.ben[0].clone(), line.clone(), o.forgotten.clone()]);
        let bad_before = std::fs::read(&bad).unwrap();
        let out = kairos(&["erase", s(&good), s(&bad)]);
        assert_eq!(out.status.code(), Some(2), "{line}");
        let err = text(&out.stderr);
        assert!(err.starts_with(&format!("error: {}:2: {why}", bad.display())), "{line}: {err}");
        assert!(err.trim_end().ends_with("; no file was changed"), "{err}");
        assert!(out.stdout.is_empty());
        assert_eq!(std::fs::read(&good).unwrap(), before, "{line}");
        assert_eq!(std::fs::read(&bad).unwrap(), bad_before, "{line}");
    }
    // In a --requests file too: it might hold a request.
    let bad = d.join("requests.ndjson");
    write_lines(&bad, &["{".to_string()]);
    let out = kairos(&["erase", s(&good), "--requests", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with(&format!("error: {}:1: not JSON", bad.display())),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&good).unwrap(), before);
}

#[test]
fn a_file_given_twice_or_missing_is_refused() {
    let d = tmp("twice");
    let f = d.join("outbox.ndjson");
    write_lines(&f, &[]);
    let out = kairos(&["erase", s(&f), "--requests", s(&f)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("are one file; give each file once"), "{}", text(&out.stderr));
    let out = kairos(&["erase", s(&d.join("nope.ndjson"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope.ndjson: "), "{}", text(&out.stderr));
}

/// Blank lines are kept, as every line but the erased reports, byte for byte; so is a last line
/// without its newline.
#[test]
fn other_lines_are_kept_byte_for_byte() {
    let d = tmp("bytes");
    let o = outbox();
    let f = d.join("outbox.ndjson");
    let anna = o.anna.iter().find(|l| is_report(l)).unwrap();
    let stage = o.ben.iter().find(|l| kind(l) == "stage_changed").unwrap();
    let content = format!("{anna}\n\n  \n{stage}\r\n{}\n{anna}\n{}", o.forgotten, o.ben[0]);
    std::fs::write(&f, &content).unwrap();
    erase(&[s(&f)]);
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        format!("\n  \n{stage}\r\n{}\n{}", o.forgotten, o.ben[0])
    );
}
