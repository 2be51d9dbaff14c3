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
use kairos::engine::decision_counter;
use kairos::outbox::{OutboxEvent, ERASE_ALL};
use serde_json::Value;

const MODEL: &str = "examples/taste-of-su/model.json";
/// 2026-11-25, ms.
const NOW: i64 = 1_795_564_800_000;
const ANNA: u64 = 0x1111_2222_3333_4444;
const BEN: u64 = 0x5555_6666_7777_8888;
const CARA: u64 = 0x0123_4567_89ab_cdef;
const DANA: u64 = 0xfedc_ba98_7654_3210;

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
    assert_eq!(*decisions, ERASE_ALL, "a retired install (a new id): every report");
    Outbox { anna: anna_reports, ben: ben_reports, forgotten: stored(f) }
}

/// Decides `placement` once, which must show an offer: the line of its exposure (the rest drained
/// goes) and its decision counter.
fn exposure(e: &mut kairos::Engine, install: u64, placement: usize, at: i64) -> (String, u64) {
    let d = e.decide(placement, &[], at);
    assert!(!d.items.is_empty(), "placement {placement} shows an offer");
    let id = format!("{:016x}", d.id);
    let drained = e.drain_outbox();
    let line =
        drained.iter().find(|r| matches!(r, OutboxEvent::Exposure { decision, .. } if *decision == id));
    (stored(line.expect("its exposure")), decision_counter(install, d.id))
}

/// The one report `e` holds, a `forgotten` request, drained: its line and `decisions`.
fn request(e: &mut kairos::Engine) -> (String, u64) {
    let drained = e.drain_outbox();
    let [f @ OutboxEvent::Forgotten { decisions, .. }] = drained.as_slice() else {
        panic!("one forgotten request: {drained:?}")
    };
    (stored(f), *decisions)
}

/// Cara's install goes on through an erasure (a native host passes the same id to `forget`):
/// her reports at counters 1 and 2, her request (`decisions` 2), then her report at 3.
struct Continuing {
    reports: [String; 3],
    forgotten: String,
}

fn continuing() -> Continuing {
    let mut cara = engine(CARA);
    let (first, c1) = exposure(&mut cara, CARA, 1, NOW);
    let (second, c2) = exposure(&mut cara, CARA, 1, NOW + 1);
    cara.forget(CARA, NOW + 2);
    let (forgotten, decisions) = request(&mut cara);
    cara.set_consent(true);
    let (third, c3) = exposure(&mut cara, CARA, 1, NOW + 3);
    assert_eq!((c1, c2, c3), (1, 2, 3), "the counter goes on");
    assert_eq!(decisions, 2, "the counter at the erasure");
    assert!(forgotten.contains(r#""install":"0123456789abcdef""#), "{forgotten}");
    Continuing { reports: [first, second, third], forgotten }
}

/// Stored `line` with `key` set to `value`.
fn with(line: &str, key: &str, value: Value) -> String {
    let mut o: std::collections::BTreeMap<String, Value> = serde_json::from_str(line).unwrap();
    o.insert(key.into(), value);
    serde_json::to_string(&o).unwrap()
}

/// `line`, a stored `forgotten` request, with another `decisions`.
fn with_decisions(line: &str, decisions: u64) -> String {
    with(line, "decisions", decisions.into())
}

/// The decision id of `install`'s decision `counter`, made as the engine makes it (checked
/// against `decision_counter`): for reports at counters no test decides its way to.
fn decision_id(install: u64, counter: u64) -> String {
    let mut z = install ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let id = z ^ (z >> 31);
    assert_eq!(decision_counter(install, id), counter);
    format!("{id:016x}")
}

/// A `stage_changed` line of exactly `len` bytes (white space before its `}`).
fn padded(len: usize) -> String {
    let head = r#"{"type":"stage_changed","to":"a""#;
    format!("{head}{}}}", " ".repeat(len - head.len() - 1))
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
fn the_continuing_data_is_real() {
    let c = continuing();
    assert!(c.reports.iter().all(|l| kind(l) == "exposure"));
    assert_eq!(kind(&c.forgotten), "forgotten");
}

/// An install that goes on (same id): its request takes its reports up to its counter then, the
/// one exactly at `decisions` too, and none after (review: a bound of `1..decisions` passed).
#[test]
fn a_request_takes_reports_up_to_its_counter_and_keeps_later_ones() {
    let d = tmp("counter");
    let o = outbox();
    let c = continuing();
    let f = d.join("outbox.ndjson");
    let mut all = mixed(&c.reports, &o.ben);
    all.push(c.forgotten.clone());
    write_lines(&f, &all);
    let out = erase(&[s(&f)]);
    let [first, at_decisions, after] = &c.reports;
    let expected: Vec<String> = all.iter().filter(|l| *l != first && *l != at_decisions).cloned().collect();
    assert_eq!(lines(&f), expected, "{out}");
    assert!(lines(&f).contains(after));
}

/// The package retires an install at an erasure (a new id): its request (`decisions`
/// `ERASE_ALL`) takes every report of it, also another tab's, which imported the same state and
/// counted further (review: the counter of the tab that forgot missed them); the new install's
/// are kept.
#[test]
fn a_retired_install_loses_every_report_another_tabs_too() {
    let d = tmp("tabs");
    let o = outbox();
    let mut tab_a = engine(DANA);
    let (a1, c1) = exposure(&mut tab_a, DANA, 1, NOW);
    let mut tab_b = engine(DANA);
    tab_b.import_state(&tab_a.export_state()).unwrap();
    let (b2, c2) = exposure(&mut tab_b, DANA, 1, NOW + 1);
    let (b3, c3) = exposure(&mut tab_b, DANA, 1, NOW + 2);
    assert_eq!((c1, c2, c3), (1, 2, 3), "tab B counted past tab A's counter");
    let fresh = 0x0bad_cafe_0bad_cafe;
    tab_a.forget(fresh, NOW + 3);
    let (forgotten, decisions) = request(&mut tab_a);
    assert_eq!(decisions, ERASE_ALL);
    tab_a.set_consent(true);
    let (new, _) = exposure(&mut tab_a, fresh, 1, NOW + 4);

    let f = d.join("outbox.ndjson");
    let mut all = mixed(&[a1.clone(), b2.clone(), b3.clone(), new.clone()], &o.ben);
    all.push(forgotten);
    write_lines(&f, &all);
    let out = erase(&[s(&f)]);
    let expected: Vec<String> = all.iter().filter(|l| ![&a1, &b2, &b3].contains(l)).cloned().collect();
    assert_eq!(lines(&f), expected, "{out}");
    assert!(expected.contains(&new));
}

/// `ERASE_ALL` is the last counter that a retired install's request, and an older request with
/// an anonymous pid, take: a report at 2^24 goes, one at 2^24 + 1 stays.
#[test]
fn erase_all_is_the_last_counter_taken() {
    let d = tmp("erase-all");
    let o = outbox();
    let anonymous = 0x51a7_c3e9_d20f_6b48;
    let exposure = o.ben.iter().find(|l| kind(l) == "exposure").unwrap();
    let at = |install, counter| with(exposure, "decision", decision_id(install, counter).into());
    let erased = [at(ANNA, ERASE_ALL), at(anonymous, ERASE_ALL)];
    let kept = [at(ANNA, ERASE_ALL + 1), at(anonymous, ERASE_ALL + 1)];
    let f = d.join("outbox.ndjson");
    let mut all = mixed(&erased, &kept);
    all.push(o.forgotten.clone());
    all.push(
        r#"{"at":1795564800200,"pid":"51a7c3e9d20f6b48","received_at":1795564860000,"type":"forgotten"}"#
            .into(),
    );
    write_lines(&f, &all);
    let out = erase(&[s(&f)]);
    let expected: Vec<String> = all.iter().filter(|l| !erased.contains(l)).cloned().collect();
    assert_eq!(lines(&f), expected, "{out}");
}

/// Two requests for one install with different counters: the higher one holds, in either order
/// (review: keeping the lower one passed).
#[test]
fn of_two_requests_for_one_install_the_higher_counter_holds() {
    let d = tmp("higher");
    let o = outbox();
    let c = continuing();
    let higher = with_decisions(&c.forgotten, 3);
    for (n, requests) in [[&c.forgotten, &higher], [&higher, &c.forgotten]].into_iter().enumerate() {
        let f = d.join(format!("outbox.{n}.ndjson"));
        let mut all = mixed(&c.reports, &o.ben);
        all.extend(requests.map(|r| r.clone()));
        write_lines(&f, &all);
        let out = erase(&[s(&f)]);
        let expected: Vec<String> = all.iter().filter(|l| !c.reports.contains(l)).cloned().collect();
        assert_eq!(lines(&f), expected, "{out}");
        assert!(out.contains(" 3 reports erased, "), "{out}");
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
        assert!(out.contains("  1 with an anonymous pid only (older package): the reports of that install id with counters up to 2^24 are erased"), "{out}");
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
        // A forged count: it would erase other installs' reports (review: 2^53 took 1 in 2,048).
        (with_decisions(&o.forgotten, ERASE_ALL + 1), "`forgotten`.`decisions` must be at most 16777216 (2^24"),
        (with_decisions(&o.forgotten, 1 << 53), "`forgotten`.`decisions` must be at most 16777216 (2^24"),
        (
            with_decisions(&o.forgotten, 0).replace("\"decisions\":0", "\"decisions\":1.5"),
            "`forgotten` must have `install` (16 lowercase hex digits) and `decisions` (an integer from 0 to 16777216)",
        ),
        // JSON, but longer than any line `kairos serve` stores.
        (padded(65_537), "a line longer than 65536 bytes (64 KiB)"),
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

/// A line is refused once 64 KiB of it is read: a file without newlines is not read whole. A line
/// of exactly 64 KiB is read, with its newline or without one.
#[test]
fn a_line_longer_than_64_kib_is_refused() {
    let d = tmp("long");
    let f = d.join("outbox.ndjson");
    for content in [format!("{}\n", padded(65_536)), padded(65_536)] {
        std::fs::write(&f, &content).unwrap();
        let out = erase(&[s(&f)]);
        assert!(out.contains("0 reports erased, 0 kept; 1 other line kept (unchanged)"), "{out}");
    }
    std::fs::write(&f, "x".repeat(1 << 20)).unwrap();
    let out = kairos(&["erase", s(&f)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("error: {}:1: a line longer than 65536 bytes", f.display())), "{err}");
    assert!(err.trim_end().ends_with("; no file was changed"), "{err}");
}

/// One file under two names, a hard link, is refused as twice (review: only paths were compared,
/// and each name was rewritten, the link split in two files).
#[cfg(unix)]
#[test]
fn a_hard_link_to_a_file_given_is_refused() {
    use std::os::unix::fs::MetadataExt as _;
    let d = tmp("hardlink");
    let o = outbox();
    let f = d.join("outbox.ndjson");
    let mut all = mixed(&o.anna, &o.ben);
    all.push(o.forgotten.clone());
    write_lines(&f, &all);
    let h = d.join("linked.ndjson");
    std::fs::hard_link(&f, &h).unwrap();
    let before = std::fs::read(&f).unwrap();
    for args in [vec![s(&f), s(&h)], vec![s(&f), "--requests", s(&h)], vec![s(&h), "--requests", s(&f)]] {
        let mut all_args = vec!["erase"];
        all_args.extend(&args);
        let out = kairos(&all_args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(" are one file; give each file once"), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
        assert_eq!(std::fs::read(&f).unwrap(), before);
        assert_eq!(std::fs::metadata(&f).unwrap().nlink(), 2, "still one file");
    }
}

/// A batch appended to the file after erase read it (`kairos serve` still writing to it): the
/// file is left as it was, with the batch, and the run fails. No sleep decides the order: the
/// requests file is a FIFO, which erase opens after it read every FILE, so once the write end
/// here opens, the FILE was read, and the batch is appended then.
#[cfg(unix)]
#[test]
fn a_file_that_grew_after_it_was_read_is_left_as_it_was() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let d = tmp("changed");
    let o = outbox();
    let f = d.join("outbox.ndjson");
    let all = mixed(&o.anna, &o.ben);
    write_lines(&f, &all);
    let fifo = d.join("requests.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["erase", s(&f), "--requests", s(&fifo)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opened in a thread (it waits for the reader), so that an erase that exits without opening
    // the FIFO fails this test rather than hangs it.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || tx.send(std::fs::OpenOptions::new().write(true).open(path)));
    let mut requests = loop {
        if let Ok(w) = rx.recv_timeout(std::time::Duration::from_millis(20)) {
            break w.unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("erase exited ({status}) before it opened the requests");
        }
    };
    let batch = o.ben.iter().find(|l| kind(l) == "exposure").unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .unwrap()
        .write_all(format!("{batch}\n").as_bytes())
        .unwrap();
    requests.write_all(format!("{}\n", o.forgotten).as_bytes()).unwrap();
    drop(requests);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}: it changed while erase ran", f.display())), "{err}");
    assert!(err.trim_end().ends_with("; the file was left as it was"), "{err}");
    let mut expected = all;
    expected.push(batch.clone());
    assert_eq!(lines(&f), expected);
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
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
