//! `kairos serve` as an operator runs it, over real HTTP on 127.0.0.1: stopping under an
//! orchestrator (SIGTERM), restarts, health, logs and outbox storage. Findings of the backend
//! review are named where a test pins one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;
use std::io::Read;

use common::server::{hold_upload, open_events, request, Site};

/// Regression (finding 2): SIGTERM, what systemd, Docker and Kubernetes send, killed the server
/// at once (exit 143): long-polls were reset instead of getting their 204, SSE streams cut,
/// nothing logged.
#[cfg(unix)]
#[test]
fn sigterm_shuts_down_gracefully() {
    let site = Site::new("term");
    let mut srv = site.try_start(&[], &[("KAIROS_LOG", "info,kairos=debug")]).unwrap();
    let (mut sse, _) = open_events(&srv.addr, "/v1/channels/web/events");
    let addr = srv.addr.clone();
    let poller = std::thread::spawn(move || {
        request(&addr, "GET", "/v1/channels/web/poll?after=1&wait_ms=60000", &[], b"")
    });
    srv.wait_log("long-poll waiting");
    srv.signal("TERM");
    assert!(srv.wait_exit().success(), "{}", srv.log());
    let mut rest = Vec::new();
    sse.read_to_end(&mut rest).unwrap();
    assert!(rest.ends_with(b"0\r\n\r\n"), "the event stream ended: {}", String::from_utf8_lossy(&rest));
    assert_eq!(poller.join().unwrap().status, 204);
    let log = srv.log();
    assert!(log.contains("interrupted: shutting down") && log.contains("SIGTERM"), "{log}");
}

/// A second signal of either kind exits at once, whichever came first.
#[cfg(unix)]
#[test]
fn a_second_signal_of_either_kind_exits_at_once() {
    let site = Site::new("term-twice");
    for (first, second) in [("TERM", "TERM"), ("INT", "TERM"), ("TERM", "INT")] {
        let mut srv = site.start(&["--shutdown-grace-ms", "600000", "--read-timeout-ms", "600000"]);
        let _upload = hold_upload(&srv.addr);
        srv.signal(first);
        srv.wait_log("interrupted: shutting down");
        assert!(srv.child.try_wait().unwrap().is_none(), "an open request keeps the server up");
        srv.signal(second);
        assert!(srv.wait_exit().success(), "{first} {second}: {}", srv.log());
        assert!(srv.log().contains("interrupted again: exiting at once"), "{}", srv.log());
    }
}

/// Stops a server with Ctrl-C and waits for it.
fn stop(mut srv: common::server::Server) {
    srv.signal("INT");
    assert!(srv.wait_exit().success(), "{}", srv.log());
}

/// Regression (finding 1): the version guard was kept in memory only, so a restart published
/// whatever the file held: a second, different "version 5", or a lower version (a rollback
/// every device refuses).
#[test]
fn a_restart_never_publishes_a_lower_version_or_other_bytes_under_the_same_one() {
    let site = Site::new("restart");
    let srv = site.start(&[]);
    let v1 = srv.meta("web");
    stop(srv);
    assert!(site.path("models/.kairos/web.kairos").is_file(), "the published snapshot is kept");

    // The same version with other content: refused, the published bytes stay.
    site.write_model("web.json", &common::server::renamed_model(1, "Edited"));
    let srv = site.start(&[]);
    assert_eq!(srv.meta("web"), v1);
    let sha1 = v1["sha256"].as_str().unwrap();
    assert_eq!(srv.get("/v1/channels/web/latest").headers["etag"], format!("\"{sha1}\""));
    let log = srv.log();
    assert!(log.contains("ERROR") && log.contains("meta.version is not higher"), "{log}");
    assert!(log.contains(&format!("served_sha256={sha1}")) && log.contains("served=1"), "{log}");
    stop(srv);

    site.write_model("web.json", &common::server::model(3));
    let srv = site.start(&[]);
    let v3 = srv.meta("web");
    assert_eq!(v3["version"], 3);
    stop(srv);

    // A lower version: refused, version 3 stays.
    site.write_model("web.json", &common::server::model(2));
    let srv = site.start(&[]);
    assert_eq!(srv.meta("web"), v3);
    assert!(srv.log().contains("lower than the published version"), "{}", srv.log());
    // Raised again while running: published, and kept for the next start.
    site.write_model("web.json", &common::server::model(4));
    srv.wait_version("web", 4);
    let v4 = srv.meta("web");
    stop(srv);
    let srv = site.start(&[]);
    assert_eq!(srv.meta("web"), v4);
    assert!(!srv.log().contains("WARN") && !srv.log().contains("ERROR"), "{}", srv.log());
    stop(srv);

    // The same model signed with another key: a version's bytes never change.
    site.keygen("other");
    let other = site.path("other.key");
    let srv = site.start(&["--key", other.to_str().unwrap()]);
    assert_eq!(srv.meta("web"), v4);
    assert!(srv.log().contains("signed otherwise"), "{}", srv.log());
}

/// The state folder: `--state` moves it; a kept snapshot that is damaged, or a folder that
/// cannot be written, stops the start (exit 2); a retired channel is not served again.
#[test]
fn the_state_folder_is_checked_at_start() {
    let site = Site::new("state");
    site.write_model("mini.json", &common::server::model(2));
    let state = site.path("state");
    let srv = site.start(&["--state", state.to_str().unwrap()]);
    assert_eq!(srv.meta("mini")["version"], 2);
    stop(srv);
    assert!(state.join("web.kairos").is_file() && state.join("mini.kairos").is_file());
    assert!(!site.path("models/.kairos").exists());

    // A retired channel (its file removed) is gone after a restart.
    std::fs::remove_file(site.path("models/mini.json")).unwrap();
    let srv = site.start(&["--state", state.to_str().unwrap()]);
    assert_eq!(srv.get("/v1/channels/mini/meta").status, 404);
    stop(srv);

    std::fs::write(state.join("web.kairos"), b"not a snapshot").unwrap();
    let (code, log) = site.try_start(&["--state", state.to_str().unwrap()], &[]).err().unwrap();
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("web.kairos") && log.contains("delete it to forget"), "{log}");

    let under_a_file = site.path("models/web.json/state");
    let (code, log) = site.try_start(&["--state", under_a_file.to_str().unwrap()], &[]).err().unwrap();
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("pass --state with a writable folder"), "{log}");
}
