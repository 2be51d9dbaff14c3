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
