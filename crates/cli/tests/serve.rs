//! `kairos serve` over real HTTP on 127.0.0.1 (port 0): conditional GETs, immutable URLs, push
//! by SSE and long-poll, a broken model keeping the last good snapshot, uploads rejected with
//! 4xx. Every server is killed when its test ends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;
use common::server::{
    exposure, hold_upload, model, open_events, outbox_poster, request, stored_reports, wait_continue, Resp,
    STAGE,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A server in a folder of its own (removed when it ends), with the shared harness's methods.
struct Server {
    srv: common::server::Server,
    dir: PathBuf,
}

impl std::ops::Deref for Server {
    type Target = common::server::Server;
    fn deref(&self) -> &Self::Target {
        &self.srv
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.srv
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.srv.child.kill().ok();
        self.srv.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

impl Server {
    fn start(name: &str, extra: &[&str]) -> Server {
        Server::start_in_shell(name, extra, "")
    }

    /// Like `start`, with `shell` (e.g. `ulimit -f 64`) run by `sh` first, in the process that
    /// then becomes the server.
    fn start_in_shell(name: &str, extra: &[&str], shell: &str) -> Server {
        let dir = std::env::temp_dir().join(format!("kairos-serve-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::fs::create_dir_all(dir.join("www")).unwrap();
        std::fs::write(dir.join("www/index.html"), "<h1>demo</h1>").unwrap();
        std::fs::write(dir.join("models/web.json"), model(1)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["keygen", "-o", dir.join("brand").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let d = |p: &str| dir.join(p).to_str().unwrap().to_string();
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--models".into(),
            d("models"),
            "--addr".into(),
            "127.0.0.1:0".into(),
            "--key".into(),
            d("brand.key"),
            "--outbox".into(),
            d("outbox.ndjson"),
            "--www".into(),
            d("www"),
            "--poll-ms".into(),
            "50".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = dir.join("server.log");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("{shell}\nexec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_kairos"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let srv = common::server::Server::listening(child, log)
            .unwrap_or_else(|(code, log)| panic!("exit {code:?}: {log}"));
        Server { srv, dir }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        request(&self.addr, "GET", path, headers, b"")
    }

    fn public_key(&self) -> kairos::sign::PublicKey {
        kairos::sign::PublicKey::parse(&std::fs::read_to_string(self.dir.join("brand.pub")).unwrap()).unwrap()
    }

    fn write_model(&self, text: &str) {
        let tmp = self.dir.join("web.json.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.join("models/web.json")).unwrap();
    }

    fn meta(&self) -> Value {
        serde_json::from_slice(&self.get("/v1/channels/web/meta", &[]).body).unwrap()
    }

    /// Waits (at most 10 s) until the served version is `v`.
    fn wait_version(&self, v: u64) {
        let end = Instant::now() + Duration::from_secs(10);
        while self.meta()["version"] != v {
            assert!(Instant::now() < end, "version {v} never served; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn conditional_gets_immutable_urls_and_signatures() {
    let srv = Server::start("get", &[]);
    let r = srv.get("/v1/channels/web/latest", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["cache-control"], "no-cache");
    assert_eq!(r.headers["x-kairos-version"], "1");
    let etag = r.headers["etag"].clone();
    // What the server sends verifies against the public key; a flipped bit does not.
    let trust = kairos::sign::Trust::key(srv.public_key());
    assert_eq!(kairos::snapshot::verify(&r.body, &trust).unwrap().model.version, 1);
    let mut bad = r.body.clone();
    bad[100] ^= 1;
    assert!(kairos::snapshot::verify(&bad, &trust).is_err());

    let r304 = srv.get("/v1/channels/web/latest", &[("If-None-Match", &etag)]);
    assert_eq!(r304.status, 304);
    assert!(r304.body.is_empty());
    assert_eq!(r304.headers["etag"], etag);
    assert_eq!(srv.get("/v1/channels/web/latest", &[("If-None-Match", "\"other\"")]).status, 200);
    // Regression: only the first If-None-Match line was read.
    let split = [("If-None-Match", "\"other\""), ("If-None-Match", etag.as_str())];
    assert_eq!(srv.get("/v1/channels/web/latest", &split).status, 304);
    let weak = format!("\"a\", W/{etag}");
    assert_eq!(srv.get("/v1/channels/web/latest", &[("If-None-Match", &weak)]).status, 304);

    let meta = srv.meta();
    let url = meta["url"].as_str().unwrap();
    assert_eq!(format!("\"{}\"", meta["sha256"].as_str().unwrap()), etag);
    let imm = srv.get(url, &[]);
    assert_eq!(imm.status, 200);
    assert_eq!(imm.body, r.body);
    assert!(imm.headers["cache-control"].contains("immutable"));
    assert_eq!(srv.get(url, &[("If-None-Match", &etag)]).status, 304);
    assert_eq!(srv.get("/v1/snapshots/0000.kairos", &[]).status, 404);
    assert_eq!(srv.get("/v1/channels/nope/latest", &[]).status, 404);
    assert_eq!(srv.get("/v1/channels/nope/events", &[]).status, 404);

    // The demo page and CORS.
    let page = srv.get("/www/index.html", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(page.body, b"<h1>demo</h1>");
    assert_eq!(srv.get("/www/../models/web.json", &[]).status, 404);
    let c = srv.get("/v1/channels/web/latest", &[("Origin", "https://shop.example")]);
    assert_eq!(c.headers["access-control-allow-origin"], "*");
    let pre = request(&srv.addr, "OPTIONS", "/v1/outbox", &[("Origin", "https://shop.example")], b"");
    assert_eq!(pre.status, 204);
    assert!(pre.headers["access-control-allow-methods"].contains("POST"));
}

#[test]
fn cors_allows_only_listed_origins() {
    let srv = Server::start("cors", &["--origin", "https://shop.example"]);
    let ok = srv.get("/v1/channels/web/meta", &[("Origin", "https://shop.example")]);
    assert_eq!(ok.headers["access-control-allow-origin"], "https://shop.example");
    let other = srv.get("/v1/channels/web/meta", &[("Origin", "https://evil.example")]);
    assert!(!other.headers.contains_key("access-control-allow-origin"));
    let pre = request(&srv.addr, "OPTIONS", "/v1/outbox", &[("Origin", "https://evil.example")], b"");
    assert_eq!(pre.status, 403);
}

/// Regression: the allow headers went only to requests with an `Origin`, so a CDN that cached
/// the immutable copy fetched without one served it for a year without them; with `--origin`
/// no response said `Vary: Origin`.
#[test]
fn cors_headers_do_not_depend_on_the_request_having_an_origin() {
    let srv = Server::start("cors-any", &[]);
    let url = srv.meta()["url"].as_str().unwrap().to_string();
    for (path, status) in
        [(url.as_str(), 200), ("/v1/channels/web/latest", 200), ("/v1/snapshots/00.kairos", 404)]
    {
        let r = srv.get(path, &[]);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.headers.get("access-control-allow-origin").map(String::as_str), Some("*"), "{path}");
        assert!(r.headers["access-control-expose-headers"].contains("ETag"), "{path}");
    }

    let srv = Server::start("cors-listed", &["--origin", "https://shop.example"]);
    let url = srv.meta()["url"].as_str().unwrap().to_string();
    let etag = srv.get(&url, &[]).headers["etag"].clone();
    let shop = ("Origin", "https://shop.example");
    // Path, request headers, status, the allowed origin echoed.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, Option<&'a str>);
    let cases: [Case; 5] = [
        (url.as_str(), vec![], 200, None),
        (url.as_str(), vec![("Origin", "https://evil.example")], 200, None),
        (url.as_str(), vec![shop, ("If-None-Match", etag.as_str())], 304, Some("https://shop.example")),
        ("/v1/channels/nope/meta", vec![shop], 404, Some("https://shop.example")),
        ("/v1/channels/nope/meta", vec![], 404, None),
    ];
    for (path, headers, status, allowed) in cases {
        let r = srv.get(path, &headers);
        assert_eq!(r.status, status, "{path} {headers:?}");
        assert!(
            r.headers.get("vary").is_some_and(|v| v.contains("Origin")),
            "{path} {headers:?}: {:?}",
            r.headers
        );
        assert_eq!(
            r.headers.get("access-control-allow-origin").map(String::as_str),
            allowed,
            "{path} {headers:?}"
        );
    }
}

/// Regression: with `--demo-tokens` and no `--origin`, any page the demo user visited could
/// mint tokens (preflight and POST answered with `*`); with `--origin`, a page of another
/// origin could still post an outbox batch without a content type (no preflight needed).
#[test]
fn other_origins_cannot_post() {
    let srv = Server::start("cors-tokens", &["--demo-tokens"]);
    let body = br#"{"user": "00000000000000b2", "traits": {"tier": "gold"}}"#;
    let json = ("Content-Type", "application/json");
    let own = format!("http://{}", srv.addr);
    let port = srv.addr.rsplit_once(':').unwrap().1;
    let (rebound_host, rebound_origin) =
        (format!("evil.example:{port}"), format!("http://evil.example:{port}"));
    let pre = request(&srv.addr, "OPTIONS", "/demo/token", &[("Origin", "https://evil.example")], b"");
    assert_eq!(pre.status, 403);
    assert!(!pre.headers.contains_key("access-control-allow-origin"));
    let refused: [Vec<(&str, &str)>; 3] = [
        vec![json, ("Origin", "https://evil.example")],
        vec![json, ("Origin", "null")],
        // DNS rebinding: another name for 127.0.0.1 is its own origin, but not a loopback name.
        vec![json, ("Host", &rebound_host), ("Origin", &rebound_origin)],
    ];
    for headers in refused {
        let r = request(&srv.addr, "POST", "/demo/token", &headers, body);
        assert_eq!(r.status, 403, "{headers:?}");
        assert!(!String::from_utf8_lossy(&r.body).contains("kt1."), "{headers:?}");
    }
    // The demo's own page, and tools without an origin (curl), get tokens; never with `*`.
    let localhost = format!("localhost:{port}");
    let localhost_origin = format!("http://{localhost}");
    for headers in [
        vec![json, ("Origin", own.as_str())],
        vec![json],
        vec![json, ("Host", &localhost), ("Origin", &localhost_origin)],
    ] {
        let r = request(&srv.addr, "POST", "/demo/token", &headers, body);
        assert_eq!(r.status, 200, "{headers:?}: {}", String::from_utf8_lossy(&r.body));
        assert!(!r.headers.contains_key("access-control-allow-origin"), "{headers:?}");
        assert!(r.headers["vary"].contains("Origin"));
    }
    // Any origin may still post outbox batches to a server without --origin.
    let ndjson = ("Content-Type", "application/x-ndjson");
    let r = request(
        &srv.addr,
        "POST",
        "/v1/outbox",
        &[ndjson, ("Origin", "https://evil.example")],
        STAGE.as_bytes(),
    );
    assert_eq!(r.status, 202);

    let srv = Server::start("cors-post", &["--origin", "https://shop.example"]);
    let line = format!("{STAGE}\n");
    let post =
        |headers: &[(&str, &str)]| request(&srv.addr, "POST", "/v1/outbox", headers, line.as_bytes()).status;
    assert_eq!(post(&[("Origin", "https://evil.example")]), 403);
    assert_eq!(post(&[ndjson, ("Origin", "https://evil.example")]), 403);
    assert_eq!(
        post(&[("Origin", "https://shop.example")]),
        415,
        "no content type: a browser would not have asked first"
    );
    assert_eq!(post(&[]), 415);
    assert_eq!(std::fs::read_to_string(srv.dir.join("outbox.ndjson")).unwrap(), "", "nothing stored");
    assert_eq!(post(&[ndjson, ("Origin", "https://shop.example")]), 202);
    assert_eq!(post(&[ndjson]), 202);
}

/// Regression (serve review, finding 2): with `--origin`, the server's own page (the demo's
/// Send) got `403` on `POST /v1/outbox`: a browser sends `Origin` on a same-origin POST too, and
/// only `/demo/token` knew the same-origin rule.
#[test]
fn the_servers_own_page_may_post_when_origins_are_listed() {
    let srv = Server::start("cors-own", &["--origin", "https://shop.example"]);
    let ndjson = ("Content-Type", "application/x-ndjson");
    let line = format!("{STAGE}\n");
    let post = |headers: &[(&str, &str)]| {
        let r = request(&srv.addr, "POST", "/v1/outbox", headers, line.as_bytes());
        (r.status, r.headers.get("access-control-allow-origin").cloned())
    };
    let port = srv.addr.rsplit_once(':').unwrap().1;
    let own = format!("http://{}", srv.addr);
    let localhost = format!("localhost:{port}");
    let localhost_origin = format!("http://{localhost}");
    let upper = format!("LocalHost:{port}");
    // Same origin: `http://` and the Host the request was sent to (compared as browsers do:
    // host names without regard to case).
    for headers in [
        vec![ndjson, ("Origin", own.as_str())],
        vec![ndjson, ("Host", &localhost), ("Origin", &localhost_origin)],
        vec![ndjson, ("Host", &upper), ("Origin", &localhost_origin)],
    ] {
        assert_eq!(post(&headers), (202, None), "{headers:?}");
    }
    // Other origins: another scheme, port or host, or none.
    let https = format!("https://{}", srv.addr);
    let other_port = format!("http://127.0.0.1:{}", port.parse::<u16>().unwrap().wrapping_add(1));
    let other_host = format!("http://localhost:{port}");
    for origin in [https.as_str(), &other_port, &other_host, "null", &format!("{own}/")] {
        assert_eq!(post(&[ndjson, ("Origin", origin)]).0, 403, "{origin}");
        let pre = request(&srv.addr, "OPTIONS", "/v1/outbox", &[("Origin", origin)], b"");
        assert_eq!(pre.status, 403, "{origin}");
    }
    assert_eq!(stored_reports(&srv.dir.join("outbox.ndjson")).len(), 3);
}

/// Regression (serve review, finding 6): a `HEAD` answered `204` (the long-poll) or `304` with
/// `content-length: 0`; RFC 9110 forbids it in a 204, and in a 304 it must be the length of the
/// 200.
#[test]
fn no_content_length_on_204_or_304() {
    let srv = Server::start("no-length", &[]);
    let etag = srv.get("/v1/channels/web/latest", &[]).headers["etag"].clone();
    for method in ["GET", "HEAD"] {
        let poll = request(&srv.addr, method, "/v1/channels/web/poll?after=1&wait_ms=50", &[], b"");
        let not_modified =
            request(&srv.addr, method, "/v1/channels/web/latest", &[("If-None-Match", &etag)], b"");
        for (r, status) in [(poll, 204), (not_modified, 304)] {
            assert_eq!(r.status, status, "{method}");
            assert!(!r.headers.contains_key("content-length"), "{method} {status}: {:?}", r.headers);
            assert!(!r.headers.contains_key("transfer-encoding"), "{method} {status}: {:?}", r.headers);
            assert!(r.body.is_empty(), "{method} {status}");
        }
    }
    // A 200 to HEAD still says how long the snapshot is, and a 204 keeps the connection open.
    let head = request(&srv.addr, "HEAD", "/v1/channels/web/latest", &[], b"");
    assert_eq!(head.headers["content-length"], srv.meta()["bytes"].to_string());
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ask = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", srv.addr);
    s.write_all(ask("/v1/channels/web/poll?after=1&wait_ms=50").as_bytes()).unwrap();
    s.write_all(ask("/healthz").as_bytes()).unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains("\"ok\":true") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed after the 204: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.starts_with("HTTP/1.1 204"), "{got}");
}

/// Regression: a `HEAD` on the long-poll was held for the whole `wait_ms` (axum routes `HEAD` to
/// the `GET` handler), for an answer without a body. It answers at once with the headers a
/// `GET` would get now.
#[test]
fn a_head_on_the_long_poll_answers_at_once() {
    let srv = Server::start("head-poll", &[]);
    // The answer to a HEAD asked to wait a minute, read for at most 10 s.
    let head = |after: u32| {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let path = format!("/v1/channels/web/poll?after={after}&wait_ms=60000");
        write!(s, "HEAD {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", srv.addr).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return String::from_utf8(got).unwrap(),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => {
                    panic!("HEAD {path}: no answer in 10 s ({e}); got {}", String::from_utf8_lossy(&got))
                }
            }
        }
    };
    // Behind: a GET answers at once with the meta; the HEAD gets its headers.
    let get = request(&srv.addr, "GET", "/v1/channels/web/poll?after=0&wait_ms=60000", &[], b"");
    assert_eq!(get.status, 200);
    let behind = head(0);
    assert!(behind.starts_with("HTTP/1.1 200"), "{behind}");
    assert!(behind.contains("content-type: application/json"), "{behind}");
    assert!(behind.contains(&format!("content-length: {}\r\n", get.body.len())), "{behind}");
    assert!(behind.ends_with("\r\n\r\n"), "no body: {behind}");
    // Current: a GET would wait; the HEAD gets the 204 it would get at the end, now.
    let current = head(1);
    assert!(current.starts_with("HTTP/1.1 204"), "{current}");
    assert!(current.contains("cache-control: no-store"), "{current}");
    assert!(current.ends_with("\r\n\r\n"), "no body: {current}");
    assert_eq!(request(&srv.addr, "HEAD", "/v1/channels/nope/poll?wait_ms=60000", &[], b"").status, 404);
}

#[test]
fn a_changed_model_is_pushed_and_a_broken_one_keeps_the_last_good() {
    let srv = Server::start("push", &[]);
    // A long-poll that is already behind answers at once; one that is current waits, then 204.
    let now = request(&srv.addr, "GET", "/v1/channels/web/poll?after=0&wait_ms=5000", &[], b"");
    assert_eq!(now.status, 200);
    let idle = request(&srv.addr, "GET", "/v1/channels/web/poll?after=1&wait_ms=200", &[], b"");
    assert_eq!(idle.status, 204);
    // Regression: the 204 and the 404s had no Cache-Control (both are cacheable by default).
    assert_eq!(idle.headers.get("cache-control").map(String::as_str), Some("no-store"));
    for path in [
        "/v1/channels/nope/poll",
        "/v1/channels/nope/meta",
        "/v1/channels/nope/latest",
        "/v1/snapshots/00.kairos",
    ] {
        let r = srv.get(path, &[]);
        assert_eq!(
            (r.status, r.headers.get("cache-control").map(String::as_str)),
            (404, Some("no-store")),
            "{path}"
        );
    }

    // Hold an SSE connection and a long-poll while version 2 is published.
    let addr = srv.addr.clone();
    let poller = std::thread::spawn(move || {
        request(&addr, "GET", "/v1/channels/web/poll?after=1&wait_ms=15000", &[], b"")
    });
    let mut sse = TcpStream::connect(&srv.addr).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    sse.write_all(format!("GET /v1/channels/web/events HTTP/1.1\r\nHost: {}\r\n\r\n", srv.addr).as_bytes())
        .unwrap();
    let mut seen = String::new();
    let read_until = |sse: &mut TcpStream, seen: &mut String, needle: &str| {
        let mut buf = [0u8; 4096];
        while !seen.contains(needle) {
            let n = sse.read(&mut buf).unwrap();
            assert!(n > 0, "stream closed; got {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    read_until(&mut sse, &mut seen, "\"version\":1");
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(seen.contains("event: snapshot"), "{seen}");
    std::thread::sleep(Duration::from_millis(100));
    srv.write_model(&model(2));
    read_until(&mut sse, &mut seen, "\"version\":2");
    let polled = poller.join().unwrap();
    assert_eq!(polled.status, 200);
    let meta: Value = serde_json::from_slice(&polled.body).unwrap();
    assert_eq!(meta["version"], 2);
    srv.wait_version(2);

    // A broken model: logged, and version 2 stays served.
    srv.write_model("{\"meta\": {\"name\": \"x\", \"version\": 3},\n \"offers\": [}");
    srv.wait_log("model does not compile");
    assert!(srv.log().contains("web.json:2:"), "the log names the line: {}", srv.log());
    let r = srv.get("/v1/channels/web/latest", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-kairos-version"], "2");
    // A model whose version was not raised is not published either.
    let mut same = model(2);
    same = same.replace("\"name\": \"Taste of Su\"", "\"name\": \"Taste of Su 2\"");
    srv.write_model(&same);
    srv.wait_log("not published");
    assert_eq!(srv.meta()["version"], 2);
    // Fixed: version 3 is served.
    srv.write_model(&model(3));
    srv.wait_version(3);
}

/// Regression: with an SSE client connected, Ctrl-C closed the listener but the server waited
/// for the stream to end, which it never did; later Ctrl-Cs were ignored.
#[test]
fn ctrl_c_ends_push_streams_and_stops_the_server() {
    let mut srv = Server::start_in_shell("stop", &[], "export KAIROS_LOG=info,kairos=debug");
    let (mut sse, _) = open_events(&srv.addr, "/v1/channels/web/events");
    let addr = srv.addr.clone();
    let poller = std::thread::spawn(move || {
        request(&addr, "GET", "/v1/channels/web/poll?after=1&wait_ms=60000", &[], b"")
    });
    srv.wait_log("long-poll waiting");
    srv.signal("INT");
    assert!(srv.wait_exit().success(), "{}", srv.log());
    let mut rest = Vec::new();
    sse.read_to_end(&mut rest).unwrap();
    assert!(rest.ends_with(b"0\r\n\r\n"), "the event stream ended: {}", String::from_utf8_lossy(&rest));
    assert_eq!(poller.join().unwrap().status, 204);
    assert!(srv.log().contains("interrupted: shutting down"), "{}", srv.log());
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let mut srv =
        Server::start("stop-twice", &["--shutdown-grace-ms", "600000", "--read-timeout-ms", "600000"]);
    let _upload = hold_upload(&srv.addr);
    srv.signal("INT");
    srv.wait_log("interrupted: shutting down");
    assert!(srv.child.try_wait().unwrap().is_none(), "an open request keeps the server up");
    srv.signal("INT");
    assert!(srv.wait_exit().success(), "{}", srv.log());
    assert!(srv.log().contains("interrupted again: exiting at once"), "{}", srv.log());
}

#[test]
fn shutdown_waits_for_open_requests_no_longer_than_the_grace_period() {
    let mut srv = Server::start("stop-grace", &["--shutdown-grace-ms", "100", "--read-timeout-ms", "600000"]);
    let _upload = hold_upload(&srv.addr);
    srv.signal("INT");
    assert!(srv.wait_exit().success(), "{}", srv.log());
    assert!(srv.log().contains("connections still open at the end of the grace period"), "{}", srv.log());
}

/// Reads until the server closes the connection; panics if it is still open after 20 s.
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("still open ({e}); got {}", String::from_utf8_lossy(&got)),
        }
    }
}

/// Regression: a connection that sent half its headers, or stayed idle, or trickled an upload,
/// was kept open for good (slowloris).
#[test]
fn slow_and_idle_connections_are_closed() {
    let srv = Server::start("slow", &["--read-timeout-ms", "300"]);
    let mut half = TcpStream::connect(&srv.addr).unwrap();
    half.write_all(b"GET /v1/channels/web/meta HTTP/1.1\r\nHost: x\r\n").unwrap();
    read_until_closed(&mut half);

    let mut idle = TcpStream::connect(&srv.addr).unwrap();
    idle.write_all(b"GET /v1/channels/web/meta HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let answered = read_until_closed(&mut idle);
    assert!(answered.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answered));

    let mut upload = hold_upload(&srv.addr);
    let answer = String::from_utf8_lossy(&read_until_closed(&mut upload)).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(std::fs::read_to_string(srv.dir.join("outbox.ndjson")).unwrap(), "");
}

/// Regression: there was no limit on open connections, so enough clients could take every file
/// descriptor. Over the limit, a connection waits until another closes.
#[test]
fn connections_over_the_limit_wait_for_one_to_close() {
    let srv = Server::start("cap", &["--max-connections", "2", "--read-timeout-ms", "600000"]);
    let first = TcpStream::connect(&srv.addr).unwrap();
    let _second = TcpStream::connect(&srv.addr).unwrap();
    let mut third = TcpStream::connect(&srv.addr).unwrap();
    third.write_all(b"GET /v1/channels/web/meta HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    third.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 64];
    let early = third.read(&mut buf);
    assert!(
        early.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "answered while two connections were open: {early:?}"
    );
    drop(first);
    let answer = read_until_closed(&mut third);
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    // The wait is logged: from outside it looks like a hang (backend review finding 8).
    let log = srv.log();
    assert_eq!(log.matches("connection limit reached").count(), 1, "{log}");
    assert!(log.contains("max_connections=2"), "{log}");
}

/// Regression (serve review, finding 1): push streams took every connection, and snapshot
/// requests and `/healthz` then waited until one closed. Push streams have a limit of their own
/// below the connection limit; over it they are answered `503` at once.
#[test]
fn push_streams_cannot_take_the_connections_short_requests_need() {
    // --max-connections 6: by default at most 4 push streams (three quarters).
    let srv = Server::start("push-cap", &["--max-connections", "6", "--read-timeout-ms", "600000"]);
    let streams: Vec<_> = (0..4).map(|_| open_events(&srv.addr, "/v1/channels/web/events")).collect();
    assert!(streams[0].1.contains("x-accel-buffering: no"), "{}", streams[0].1);
    let busy = srv.get("/v1/channels/web/events", &[]);
    assert_eq!(busy.status, 503, "{}", busy.text());
    assert_eq!(busy.headers.get("retry-after").map(String::as_str), Some("30"));
    assert_eq!(busy.headers.get("cache-control").map(String::as_str), Some("no-store"));
    assert_eq!(srv.get("/v1/channels/web/poll?after=0&wait_ms=60000", &[]).status, 503);
    // Short requests still get their answer, at once.
    assert_eq!(srv.get("/healthz", &[]).status, 200);
    let latest = srv.get("/v1/channels/web/latest", &[]);
    assert_eq!(latest.status, 200);
    let etag = latest.headers["etag"].clone();
    assert_eq!(srv.get("/v1/channels/web/latest", &[("If-None-Match", &etag)]).status, 304);
    // A HEAD on the long-poll does not wait, so it needs no push permit.
    assert_eq!(request(&srv.addr, "HEAD", "/v1/channels/web/poll?after=9", &[], b"").status, 204);
    // A closed stream gives its permit back.
    drop(streams);
    let end = Instant::now() + Duration::from_secs(10);
    while srv.get("/v1/channels/web/poll?after=0&wait_ms=1", &[]).status != 200 {
        assert!(Instant::now() < end, "the permits of closed streams never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_again, _) = open_events(&srv.addr, "/v1/channels/web/events");
}

#[test]
fn max_push_must_leave_connections_for_short_requests() {
    let srv = Server::start("push-ok", &["--max-connections", "10", "--max-push", "9"]);
    assert_eq!(srv.get("/healthz", &[]).status, 200);
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--models", srv.dir.join("models").to_str().unwrap(), "--unsigned"])
        .args(["--addr", "127.0.0.1:0", "--max-connections", "10", "--max-push", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--max-push 10 must be below --max-connections 10"), "{err}");
}

/// CLI review of 2026-11-25: options that make the server refuse everything started silently
/// (`--origin https://shop.example/` refused every storefront request; `--max-upload 0` every
/// batch), and a bad `--addr` was found only after every model was loaded.
#[test]
fn options_that_would_refuse_everything_are_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("kairos-serve-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let refused = |args: &[&str], want: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["serve", "--models", dir.to_str().unwrap(), "--unsigned"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("error: {want}\n"), "{args:?}");
    };
    refused(
        &["--origin", "https://shop.example/"],
        "--origin https://shop.example/: an origin has no path: browsers send --origin https://shop.example",
    );
    refused(&["--origin", "https://Shop.Example:8443"], "--origin https://Shop.Example:8443: browsers send origins in lower case: --origin https://shop.example:8443");
    refused(
        &["--origin", "shop.example"],
        "--origin shop.example: an origin starts with its scheme, such as --origin https://shop.example",
    );
    refused(
        &["--origin", "*"],
        "--origin *: leave --origin out to allow any origin; give each storefront's origin, such as --origin \
         https://shop.example, to allow only those",
    );
    refused(&["--origin", "https://"], "--origin https://: not an origin (scheme://host or scheme://host:port, such as https://shop.example)");
    refused(
        &["--max-upload", "0"],
        "--max-upload 0 would refuse or stall every request: give a number above 0",
    );
    refused(
        &["--origin", "https://shop.example:443"],
        "--origin https://shop.example:443: browsers leave the default port out: --origin https://shop.example",
    );
    refused(
        &["--origin", "https://bücher.example"],
        "--origin https://bücher.example: browsers send a host that is not ASCII in its punycode form (`xn--…`): give that",
    );
    refused(
        &["--outbox-max-bytes", "2000"],
        "--max-upload 262144 is larger than --outbox-max-bytes 2000: the outbox file could not hold the largest \
         uploads; give --max-upload 2000 or less, or a larger --outbox-max-bytes",
    );
    refused(&["--poll-ms", "0"], "--poll-ms 0 would refuse or stall every request: give a number above 0");
    refused(&["--addr", "8080"], "--addr 8080: give a host and a port, such as --addr 127.0.0.1:8080");
    // The refusals come before the models folder is read: none is there.
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing written");
    std::fs::remove_dir_all(&dir).ok();
}

/// Regression (serve review, finding 7): an upload whose `Content-Length` is over the limit was
/// read until the limit, or waited out the read timeout (`408`), instead of being refused at once.
#[test]
fn an_upload_declared_too_large_is_refused_before_its_body() {
    let srv = Server::start("declared", &["--max-upload", "1000"]);
    for (path, ctype) in [("/v1/outbox", "application/x-ndjson"), ("/v1/outbox", "application/json")] {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: 10000000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        let answer = String::from_utf8_lossy(&read_until_closed(&mut s)).into_owned();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("over the limit of 1000 bytes"), "{answer}");
    }
    // CLI review of 2026-11-25: a chunked body over the limit (no length declared) got axum's
    // "Failed to buffer the request body"; now the same words as a declared one.
    let mut s = TcpStream::connect(&srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let chunk = "x".repeat(600);
    let head = "POST /v1/outbox HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    s.write_all(format!("{head}258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n").as_bytes()).unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut s)).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.ends_with("the body is over the limit of 1000 bytes\n"), "{answer}");
    // And a long-poll's query that is not numbers, its own words too.
    let r = srv.get("/v1/channels/web/poll?after=abc", &[]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("the query is `?after=VERSION&wait_ms=MS`"), "{}", r.text());
    // At the limit, a body is read as before.
    let line = format!("{}\n", exposure("small"));
    let ok = request(
        &srv.addr,
        "POST",
        "/v1/outbox",
        &[("Content-Type", "application/x-ndjson")],
        line.as_bytes(),
    );
    assert_eq!(ok.status, 202, "{}", ok.text());
}

/// Serve review, finding 5: uploads waiting on the disk could hold every connection, and their
/// bodies the memory. Over `--max-uploads` a batch is answered `503` at once, to be sent again.
#[test]
fn uploads_over_the_limit_are_answered_at_once() {
    let srv = Server::start("uploads", &["--max-uploads", "1", "--read-timeout-ms", "600000"]);
    let held = hold_upload(&srv.addr);
    let ndjson = [("Content-Type", "application/x-ndjson")];
    let line = format!("{}\n", exposure("later"));
    let busy = request(&srv.addr, "POST", "/v1/outbox", &ndjson, line.as_bytes());
    assert_eq!(busy.status, 503, "{}", busy.text());
    assert_eq!(busy.headers.get("retry-after").map(String::as_str), Some("30"));
    assert_eq!(srv.get("/healthz", &[]).status, 200, "other requests are answered meanwhile");
    drop(held);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = request(&srv.addr, "POST", "/v1/outbox", &ndjson, line.as_bytes());
        if r.status == 202 {
            break;
        }
        assert!(r.status == 503 && Instant::now() < end, "{} {}", r.status, r.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(stored_reports(&srv.dir.join("outbox.ndjson")).len(), 1);
}

/// Serve review, finding 5: the outbox file grew without bound, and a full disk then stopped
/// publishing too. Past `--outbox-max-bytes` a batch is answered `507`, logged once; once the
/// file is taken away (a pipeline moved it), batches are stored again.
#[test]
fn a_full_outbox_refuses_batches_until_it_is_taken_away() {
    let srv = Server::start("outbox-full", &["--outbox-max-bytes", "600", "--max-upload", "600"]);
    let ndjson = [("Content-Type", "application/x-ndjson")];
    let post = |offer: &str| {
        request(&srv.addr, "POST", "/v1/outbox", &ndjson, format!("{}\n", exposure(offer)).as_bytes())
    };
    let file = srv.dir.join("outbox.ndjson");
    let mut stored = 0;
    while post(&format!("o{stored}")).status == 202 {
        stored += 1;
        assert!(stored < 10, "600 bytes never filled");
    }
    assert!(stored >= 2, "{stored} batches before it was full");
    let full = post("again");
    assert_eq!(full.status, 507, "{}", full.text());
    assert_eq!(full.headers.get("retry-after").map(String::as_str), Some("300"));
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size <= 600, "{size} bytes");
    assert_eq!(stored_reports(&file).len(), stored, "no refused batch in the file");
    assert_eq!(srv.log().matches("the outbox file is full").count(), 1, "logged once: {}", srv.log());
    std::fs::rename(&file, srv.dir.join("outbox.1.ndjson")).unwrap();
    assert_eq!(post("after").status, 202);
    assert_eq!(stored_reports(&file).len(), 1);
    srv.wait_log("the outbox file has room again");
}

/// Near the limit, small batches that still fit beside a large one refused again and again are no
/// news: "full" is logged once, and "room again" only once the file was taken away (a review
/// found the two logged by turns).
#[test]
fn a_nearly_full_outbox_logs_full_once() {
    let srv = Server::start("outbox-nearly", &["--outbox-max-bytes", "2000", "--max-upload", "2000"]);
    let (post, batch) = outbox_poster(&srv.addr);
    assert_eq!(post(batch("big", 6)), 202);
    for round in 0..3 {
        assert_eq!(post(batch(&format!("again{round}-"), 6)), 507, "round {round}");
        assert_eq!(post(batch(&format!("small{round}-"), 1)), 202, "round {round}");
    }
    srv.wait_log("the outbox file is full");
    assert_eq!(srv.log().matches("the outbox file is full").count(), 1, "{}", srv.log());
    assert!(!srv.log().contains("room again"), "{}", srv.log());
    std::fs::rename(srv.dir.join("outbox.ndjson"), srv.dir.join("outbox.1.ndjson")).unwrap();
    assert_eq!(post(batch("after", 1)), 202);
    srv.wait_log("the outbox file has room again");
    assert_eq!(srv.log().matches("room again").count(), 1, "{}", srv.log());
}

/// A batch larger than `--outbox-max-bytes` by itself says nothing of the file: it is refused
/// (507) with a warning, not taken for a full file, and it does not keep "room again" from being
/// logged once a full file was taken away (a review of the full state).
#[test]
fn a_batch_over_the_limit_by_itself_is_not_a_full_outbox() {
    // An upload within `--max-upload` (no larger than the file may grow: checked at start) whose
    // reports, each given its `received_at`, no longer fit.
    let srv = Server::start("outbox-oversized", &["--outbox-max-bytes", "2000", "--max-upload", "2000"]);
    let (post, batch) = outbox_poster(&srv.addr);
    assert_eq!(post(batch("small", 1)), 202);
    assert!(batch("huge", 13).len() <= 2000, "{}", batch("huge", 13).len());
    assert_eq!(post(batch("huge", 13)), 507);
    srv.wait_log("a batch larger than --outbox-max-bytes was refused");
    assert!(!srv.log().contains("the outbox file is full"), "{}", srv.log());
    // Full for real, taken away; an oversized batch first in the new file, then one stored.
    assert_eq!(post(batch("big", 6)), 202);
    assert_eq!(post(batch("again", 6)), 507);
    srv.wait_log("the outbox file is full");
    std::fs::rename(srv.dir.join("outbox.ndjson"), srv.dir.join("outbox.1.ndjson")).unwrap();
    assert_eq!(post(batch("huge", 13)), 507);
    assert_eq!(post(batch("after", 1)), 202);
    srv.wait_log("the outbox file has room again");
    assert_eq!(srv.log().matches("the outbox file is full").count(), 1, "{}", srv.log());
}

/// Regression (serve review, finding 6): a symlink in www/ to a file outside it was served, and
/// so were hidden files.
#[test]
fn static_files_stay_inside_their_folder() {
    let srv = Server::start("static", &[]);
    std::fs::write(srv.dir.join("secret.txt"), "brand secrets").unwrap();
    std::os::unix::fs::symlink(srv.dir.join("secret.txt"), srv.dir.join("www/out.txt")).unwrap();
    std::fs::create_dir_all(srv.dir.join("www/sub")).unwrap();
    std::fs::write(srv.dir.join("www/sub/page.html"), "<p>in</p>").unwrap();
    std::os::unix::fs::symlink(srv.dir.join("www/sub/page.html"), srv.dir.join("www/alias.html")).unwrap();
    std::fs::write(srv.dir.join("www/.env"), "KEY=1").unwrap();
    assert_eq!(srv.get("/www/out.txt", &[]).status, 404);
    assert_eq!(srv.get("/www/.env", &[]).status, 404);
    assert_eq!(srv.get("/www/sub/../.env", &[]).status, 404);
    // Inside the folder, a symlink or a subfolder is served as before.
    let alias = srv.get("/www/alias.html", &[]);
    assert_eq!((alias.status, alias.text().as_str()), (200, "<p>in</p>"));
    assert_eq!(srv.get("/www/sub/page.html", &[]).status, 200);
    assert_eq!(srv.get("/www/index.html", &[]).text(), "<h1>demo</h1>");
}

/// Regression: a model file that was not UTF-8 (or could not be read) was skipped without a
/// word in the log.
#[test]
fn a_model_that_is_not_utf8_is_logged_once() {
    let srv = Server::start("not-utf8", &[]);
    std::fs::write(srv.dir.join("models/bad.json"), b"{\"meta\": {\"name\": \"x\xff\", \"version\": 5}}")
        .unwrap();
    srv.wait_log("the model file is not UTF-8");
    assert!(srv.log().contains("bad.json"), "{}", srv.log());
    // Once web.json v2 is published, bad.json (read first) was looked at again.
    srv.write_model(&model(2));
    srv.wait_version(2);
    assert_eq!(srv.log().matches("the model file is not UTF-8").count(), 1, "{}", srv.log());
    // The log says what to do about it.
    assert!(srv.log().contains("save it as UTF-8"), "{}", srv.log());
    assert_eq!(srv.get("/v1/channels/bad/meta", &[]).status, 404);
}

#[test]
fn outbox_uploads_are_validated_and_appended() {
    let srv = Server::start("outbox", &["--max-upload", "1024"]);
    let ndjson = [("Content-Type", "application/x-ndjson")];
    let post =
        |body: &[u8], headers: &[(&str, &str)]| request(&srv.addr, "POST", "/v1/outbox", headers, body);
    let ok = post(format!("{}\n\n{STAGE}\n", exposure("a")).as_bytes(), &ndjson);
    assert_eq!(ok.status, 202, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(serde_json::from_slice::<Value>(&ok.body).unwrap(), json!({"accepted": 2}));
    let stored = std::fs::read_to_string(srv.dir.join("outbox.ndjson")).unwrap();
    assert_eq!(stored.lines().count(), 2);

    // The server answers 413 without reading the body; the unread bytes can make its close a
    // reset that loses the answer, so look at the status the first time it arrives.
    let big = vec![b' '; 4096];
    let status = (0..5)
        .find_map(|_| std::panic::catch_unwind(|| post(&big, &ndjson).status).ok())
        .expect("no answer to an oversized upload");
    assert_eq!(status, 413);
    let bad = post(format!("{STAGE}\nnot json\n").as_bytes(), &ndjson);
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("line 2: not JSON"));
    // A field given twice: refused, not one of the two kept.
    let twice = post(b"{\"type\":\"stage_changed\",\"type\":\"exposure\"}\n", &ndjson);
    assert_eq!(twice.status, 400);
    assert!(
        String::from_utf8_lossy(&twice.body).contains("`type` is given twice"),
        "{}",
        String::from_utf8_lossy(&twice.body)
    );
    let no_type = post(b"{\"offer\":\"a\"}\n", &ndjson);
    assert_eq!(no_type.status, 400);
    assert!(String::from_utf8_lossy(&no_type.body).contains("string `type`"));
    assert_eq!(post(b"\n\n", &ndjson).status, 400);
    assert_eq!(post(b"\xff\xfe", &ndjson).status, 400);
    assert_eq!(post(STAGE.as_bytes(), &[("Content-Type", "text/plain")]).status, 415);
    // Regression: the type was compared by prefix and case.
    assert_eq!(post(STAGE.as_bytes(), &[("Content-Type", "application/jsonfoo")]).status, 415);
    let stored = std::fs::read_to_string(srv.dir.join("outbox.ndjson")).unwrap();
    for ctype in
        ["Application/X-NDJSON", "application/json; charset=utf-8", " application/x-ndjson ;charset=UTF-8"]
    {
        let r = post(exposure("typed").as_bytes(), &[("Content-Type", ctype)]);
        assert_eq!(r.status, 202, "{ctype}");
    }
    let typed = stored_reports(&srv.dir.join("outbox.ndjson"));
    let sent: Value = serde_json::from_str(&exposure("typed")).unwrap();
    assert_eq!(typed.len(), stored.lines().count() + 3);
    assert!(
        typed.iter().rev().take(3).all(|r| *r == sent),
        "stored as sent, with the time received: {typed:?}"
    );
    // A device cannot set the time received.
    let forged = exposure("forged").replacen('{', r#"{"received_at":1,"#, 1);
    assert_eq!(post(forged.as_bytes(), &ndjson).status, 400);
    std::fs::write(srv.dir.join("outbox.ndjson"), &stored).unwrap();
    assert_eq!(request(&srv.addr, "GET", "/v1/outbox", &[], b"").status, 405);
    // Nothing of a rejected batch was stored.
    assert_eq!(std::fs::read_to_string(srv.dir.join("outbox.ndjson")).unwrap(), stored);
}

/// Batches that arrive together are appended together (group commit, one sync for all): each
/// whole, its lines in a row and in order, none lost or stored twice; and with a limit on the
/// file, the batches that do not fit are refused (507) while the others of their group are
/// stored.
#[test]
fn concurrent_batches_are_each_stored_whole() {
    let srv = Server::start("outbox-group", &["--outbox-max-bytes", "45000", "--max-upload", "45000"]);
    let file = srv.dir.join("outbox.ndjson");
    // 8 threads of 6 batches of 5 reports each: 48 batches of about 0.85 KB as stored, 41 KB.
    let statuses: Vec<(String, u16)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let srv = &srv;
                scope.spawn(move || {
                    (0..6)
                        .map(|b| {
                            let batch = format!("t{t}b{b}");
                            let body: String =
                                (0..5).map(|r| format!("{}\n", exposure(&format!("{batch}r{r}")))).collect();
                            let ndjson = [("Content-Type", "application/x-ndjson")];
                            let status =
                                request(&srv.addr, "POST", "/v1/outbox", &ndjson, body.as_bytes()).status;
                            (batch, status)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|(_, s)| *s == 202), "{statuses:?}");
    let offers: Vec<String> =
        stored_reports(&file).iter().map(|r| r["offer"].as_str().unwrap().to_string()).collect();
    assert_eq!(offers.len(), 48 * 5);
    for (batch, _) in &statuses {
        let at = offers.iter().position(|o| *o == format!("{batch}r0")).unwrap();
        let lines: Vec<String> = (0..5).map(|r| format!("{batch}r{r}")).collect();
        assert_eq!(offers[at..at + 5], lines[..], "batch {batch} whole and in order");
    }

    // Past the limit: 12 more batches at once, some of which fit.
    let size = std::fs::metadata(&file).unwrap().len();
    let room = 45_000 - size;
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..12)
            .map(|t| {
                let srv = &srv;
                scope.spawn(move || {
                    let body: String =
                        (0..5).map(|r| format!("{}\n", exposure(&format!("late{t}r{r}")))).collect();
                    let ndjson = [("Content-Type", "application/x-ndjson")];
                    request(&srv.addr, "POST", "/v1/outbox", &ndjson, body.as_bytes()).status
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let stored = statuses.iter().filter(|s| **s == 202).count();
    assert!(
        stored >= 1 && statuses.iter().all(|s| *s == 202 || *s == 507),
        "{statuses:?} ({room} bytes of room)"
    );
    assert!(statuses.contains(&507), "{statuses:?} ({room} bytes of room)");
    assert!(std::fs::metadata(&file).unwrap().len() <= 45_000);
    assert_eq!(stored_reports(&file).len(), (48 + stored) * 5, "the refused batches are not in the file");
}

/// Regression (review of the group commit): a batch waiting for a stuck disk was kept in memory
/// after its client left, while its upload permit (`--max-uploads`) went with the client's
/// handler, so the uploads of clients that gave up piled up without a bound. The permit now goes
/// with the batch until it is written.
#[test]
fn waiting_batches_keep_their_upload_permits_after_their_clients_leave() {
    let name = "outbox-stuck";
    let dir = std::env::temp_dir().join(format!("kairos-serve-{name}-{}", std::process::id()));
    // A FIFO that nobody reads: a write past its buffer (64 KiB) never ends, as on a stuck disk.
    let fifo = format!("mkfifo '{}'", dir.join("outbox.ndjson").display());
    let srv = Server::start_in_shell(name, &["--max-uploads", "2", "--max-upload", "400000"], &fifo);
    let big: String =
        (0..400).map(|i| format!("{}\n", exposure(&format!("{i:03}{}", "x".repeat(61))))).collect();
    let head = format!(
        "POST /v1/outbox HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        srv.addr,
        big.len()
    );
    // Two uploads the server takes (the first writing, the second waiting for it): each holds
    // its permit once the server asks for the body (`100 Continue`: it takes the permit first).
    let head = head.replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    let clients: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(&srv.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            wait_continue(&mut s);
            s.write_all(big.as_bytes()).unwrap();
            s
        })
        .collect();
    // Time to check the bodies and hand them to the writer; then the clients leave, and the
    // server gets time to see them gone (before the fix, that freed their permits).
    std::thread::sleep(Duration::from_millis(1000));
    drop(clients);
    std::thread::sleep(Duration::from_millis(500));
    // A batch the server refuses (400) once it has a permit, or 503: it never waits.
    let probe = request(&srv.addr, "POST", "/v1/outbox", &[("Content-Type", "application/x-ndjson")], b"x\n");
    assert_eq!(probe.status, 503, "the waiting batches keep their permits: {}", probe.text());
}

/// Two clients posting `big` `bigs` times each while 8 others post `each` small batches each (one
/// exposure of offer `s{client}-{n}`), all at once: the statuses of the large and the small ones.
fn beside(
    post: &(dyn Fn(&[u8]) -> Resp + Sync),
    big: &str,
    bigs: usize,
    each: usize,
) -> (Vec<u16>, Vec<u16>) {
    std::thread::scope(|scope| {
        let big_ones: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| (0..bigs).map(|_| post(big.as_bytes()).status).collect::<Vec<_>>()))
            .collect();
        let smalls: Vec<_> = (0..8)
            .map(|t| {
                scope.spawn(move || {
                    (0..each)
                        .map(|b| post(format!("{}\n", exposure(&format!("s{t}-{b}"))).as_bytes()).status)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let big = big_ones.into_iter().flat_map(|t| t.join().unwrap()).collect();
        (big, smalls.into_iter().flat_map(|t| t.join().unwrap()).collect())
    })
}

/// Regression (second review of the group commit): when the disk reports a full disk or a quota
/// only at the sync (NFS, thin volumes), a group's sync failed every batch of it, so one large
/// batch its device kept sending failed the small ones beside it. The group's batches are then
/// written and synced again alone. The fault comes from a preloaded library
/// (tests/fault/sync_fails.c, built with the system's C compiler) that fails `fdatasync` once the
/// outbox file is over 8 KiB.
#[test]
fn a_sync_that_fails_for_one_batch_fails_no_other() {
    let name = "outbox-syncfail";
    let dir = std::env::temp_dir().join(format!("kairos-serve-{name}-{}", std::process::id()));
    // Removed when the test ends, passed or not.
    struct Lib(PathBuf);
    impl Drop for Lib {
        fn drop(&mut self) {
            std::fs::remove_file(&self.0).ok();
        }
    }
    let lib = Lib(std::env::temp_dir().join(format!("kairos-sync-fails-{}.so", std::process::id())));
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fault/sync_fails.c");
    let cc = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&lib.0).arg(source).arg("-ldl").status();
    assert!(cc.is_ok_and(|s| s.success()), "cc could not build the fault library");
    // The file's own name and folder: the resolved path ends with them, whatever links lead to
    // the temporary folder.
    let setup = format!(
        "export LD_PRELOAD='{}' FAULT_PATH='{}/outbox.ndjson' FAULT_SYNC_ABOVE=8192",
        lib.0.display(),
        dir.file_name().unwrap().to_str().unwrap()
    );
    let srv = Server::start_in_shell(name, &["--max-upload", "400000"], &setup);
    let ndjson = [("Content-Type", "application/x-ndjson")];
    let post = |body: &[u8]| request(&srv.addr, "POST", "/v1/outbox", &ndjson, body);
    // About 20 KB: past 8 KiB, its sync fails whatever else is in the file.
    let big: String = (0..100).map(|i| format!("{}\n", exposure(&format!("big{i:03}")))).collect();
    let (big, small) = beside(&post, &big, 8, 3);
    assert!(big.iter().all(|s| *s == 500), "{big:?}");
    assert!(small.iter().all(|s| *s == 202), "{small:?}");
    let mut stored: Vec<String> = stored_reports(&dir.join("outbox.ndjson"))
        .iter()
        .map(|r| r["offer"].as_str().unwrap().to_string())
        .collect();
    stored.sort();
    let mut want: Vec<String> = (0..8).flat_map(|t| (0..3).map(move |b| format!("s{t}-{b}"))).collect();
    want.sort();
    assert_eq!(stored, want, "the small batches, each once, and nothing of the large ones");
}

/// Regression: a write that failed partway left part of the batch in the file (stored twice
/// once the device retried), and the next batch was glued onto the half line.
#[test]
fn a_failed_outbox_write_leaves_the_file_as_it_was() {
    // The file size limit (32 KiB under dash, 64 under bash) makes a large batch fail partway;
    // SIGXFSZ ignored, so the write fails instead of killing the server.
    let srv = Server::start_in_shell("torn", &["--max-upload", "400000"], "trap '' XFSZ\nulimit -f 64");
    let ndjson = [("Content-Type", "application/x-ndjson")];
    let post = |body: &[u8]| request(&srv.addr, "POST", "/v1/outbox", &ndjson, body);
    let file = srv.dir.join("outbox.ndjson");
    assert_eq!(post(format!("{}\n", exposure("first")).as_bytes()).status, 202);
    let before = std::fs::read_to_string(&file).unwrap();

    // Offer names of 64 characters, the longest a name may be: about 90 KB, over the limit.
    let big: String =
        (0..400).map(|i| format!("{}\n", exposure(&format!("{i:03}{}", "x".repeat(61))))).collect();
    let failed = post(big.as_bytes());
    assert_eq!(failed.status, 500, "{}", String::from_utf8_lossy(&failed.body));
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(
        after == before,
        "nothing of the failed batch is kept: {} bytes, {} before",
        after.len(),
        before.len()
    );
    assert!(srv.log().contains("the batch was not stored"), "{}", srv.log());

    // The last line of `text` as the device sent it (without the time received).
    let last = |text: &str| {
        let mut v: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("received_at");
        v
    };
    let sent = |offer: &str| serde_json::from_str::<Value>(&exposure(offer)).unwrap();
    assert_eq!(post(format!("{}\n", exposure("after")).as_bytes()).status, 202);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(&before) && text[before.len()..].lines().count() == 1, "{text}");
    assert_eq!(last(&text), sent("after"));

    // A batch that cannot be written fails alone: small batches arriving with it, appended in
    // the same group, are stored (a review: the whole group got 500).
    let (big_ones, small) = beside(&post, &big, 6, 4);
    assert!(big_ones.iter().all(|s| *s == 500), "{big_ones:?}");
    assert!(small.iter().all(|s| *s == 202), "{small:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(&before), "what was stored stays");
    assert_eq!(text[before.len()..].lines().count(), 1 + 32, "`after` and the 32 small batches");

    // A last line cut short (a crash mid-write) is ended before the next batch.
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b"{\"type\":\"ha").unwrap();
    assert_eq!(post(format!("{}\n", exposure("next")).as_bytes()).status, 202);
    let text = std::fs::read_to_string(&file).unwrap();
    let cut = text.rfind("\n{\"type\":\"ha\n").unwrap();
    assert_eq!(text[cut..].lines().count(), 3, "the cut line ended, then the batch's: {text}");
    assert_eq!(last(&text), sent("next"));
    assert!(srv.log().contains("partial line"), "{}", srv.log());
}

#[test]
fn demo_tokens_are_off_by_default() {
    let srv = Server::start("notokens", &[]);
    let body = br#"{"user": "00000000000000b2", "traits": {"hipo": true}}"#;
    assert_eq!(request(&srv.addr, "POST", "/demo/token", &[], body).status, 404);
    assert!(!srv.log().contains("demo-tokens"), "{}", srv.log());
}

#[test]
fn demo_tokens_verify_with_the_brand_key_and_bad_requests_get_4xx() {
    let srv = Server::start("tokens", &["--demo-tokens"]);
    assert!(
        srv.log().contains("WARN") && srv.log().contains("anyone who can reach this server"),
        "{}",
        srv.log()
    );
    let json = [("Content-Type", "application/json")];
    let post = |body: &[u8]| request(&srv.addr, "POST", "/demo/token", &json, body);
    let error =
        |r: &Resp| serde_json::from_slice::<Value>(&r.body).unwrap()["error"].as_str().unwrap().to_string();

    let now = 1_795_147_200_000i64;
    let user = "0123456789abcdef0123456789abcdef";
    let ok = post(
        json!({"user": user, "traits": {"tier": "gold", "hipo": true, "crm_segments": ["a"]}, "ttl": "2h", "now": now})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.headers["cache-control"], "no-store");
    let answer: Value = serde_json::from_slice(&ok.body).unwrap();
    let exp = now + 2 * 3_600_000;
    assert_eq!(answer["exp"], exp);
    let token = answer["token"].as_str().unwrap();
    let claims = kairos::token::verify(token, &[srv.public_key()], now + 1).unwrap();
    let expected =
        kairos::token::traits_from_json(&json!({"tier": "gold", "hipo": true, "crm_segments": ["a"]}))
            .unwrap();
    assert_eq!((claims.sub.as_str(), claims.iat, claims.exp), (user, now, exp));
    assert_eq!(claims.traits, expected);
    assert!(kairos::token::verify(token, &[srv.public_key()], exp).is_err(), "expired after the ttl");

    // Without `now` and `ttl`: the server's clock and the default of `kairos token`, 7 days.
    let ok = post(br#"{"user": "00000000000000b2", "traits": {}}"#);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let token = serde_json::from_slice::<Value>(&ok.body).unwrap()["token"].as_str().unwrap().to_string();
    let claims = kairos::token::verify(&token, &[srv.public_key()], 0).unwrap();
    assert_eq!((claims.sub.as_str(), claims.exp - claims.iat), ("00000000000000b2", 7 * 86_400_000));
    assert!(claims.traits.is_empty());

    // CLI review of 2026-11-25: traits a device would refuse were signed all the same.
    let refused_on_device = post(br#"{"user": "00000000000000b2", "traits": {"birthday": "1990-01-01"}}"#);
    assert_eq!(refused_on_device.status, 400);
    assert!(
        error(&refused_on_device).starts_with("`traits`: a device on channel web would refuse them: "),
        "{}",
        error(&refused_on_device)
    );
    let r = post(br#"{"user": "00000000000000b2", "traits": {}, "channel": "app"}"#);
    assert_eq!((r.status, error(&r).as_str()), (400, "`channel` app: no such channel is served"));
    let r = post(br#"{"user": "00000000000000b2", "traits": {"tier": "gold"}, "channel": "web"}"#);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // With two channels, traits one of them takes are signed unless the other is named (review:
    // the storefront, on any channel, was refused for a trait only its own channel has).
    let mut vip: Value = serde_json::from_str(&common::server::model(1)).unwrap();
    vip["traits"]["vip"] = json!("bool");
    std::fs::write(srv.dir.join("models/vip.json"), vip.to_string()).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while srv.get("/v1/channels/vip/meta", &[]).status != 200 {
        assert!(Instant::now() < end, "the second channel was never served");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = post(br#"{"user": "00000000000000b2", "traits": {"vip": true}}"#);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = post(br#"{"user": "00000000000000b2", "traits": {"vip": true}, "channel": "web"}"#);
    assert_eq!(r.status, 400);
    assert!(error(&r).contains("a device on channel web would refuse them: "), "{}", error(&r));

    let refused: [(&[u8], &str); 15] = [
        (br#"{"user": "00000000000000b2", "traits": {}, "role": "admin"}"#, "unknown field `role`"),
        (
            br#"{"user": "00000000000000b2", "traits": {"tier": "a", "tier": "b"}}"#,
            "traits: `tier` is given twice",
        ),
        (br#"[1]"#, "the request must be a JSON object like"),
        (b"not json", "the request must be a JSON object"),
        (br#"{"user": "00000000000000b2", "traits": {}"#, "EOF while parsing an object at line 1 column"),
        (br#"{"traits": {}}"#, "missing field `user`"),
        (br#"{"user": "00000000000000b2"}"#, "missing field `traits`"),
        (br#"{"user": "Nancy", "traits": {}}"#, "`user` must be the shopper's pseudonymous id"),
        (br#"{"user": "", "traits": {}}"#, "16 or 32 lowercase hex digits"),
        (br#"{"user": "00000000000000b2", "traits": [1]}"#, "traits must be a JSON object"),
        (br#"{"user": "00000000000000b2", "traits": {"a": {"b": 1}}}"#, "traits.a: objects are not traits"),
        (br#"{"user": "00000000000000b2", "traits": {}, "ttl": "7x"}"#, "`ttl` `7x` is not a duration"),
        (br#"{"user": "00000000000000b2", "traits": {}, "now": "today"}"#, "expected i64 at line 1 column"),
        (
            "{\"user\": \"00000000000000b2\", \"traits\": {}, \"ttl\": \"7日\"}".as_bytes(),
            "`ttl` `7日` is not a duration",
        ),
        (br#"{"user": "00000000000000b2", "traits": {}, "ttl": "34560000d"}"#, "out of range"),
    ];
    for (body, message) in refused {
        let r = post(body);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert!(error(&r).contains(message), "{}: {}", String::from_utf8_lossy(body), error(&r));
    }
    // Too large: refused before it is read (see the outbox test for why it is retried).
    let big = format!(r#"{{"user": "00000000000000b2", "traits": {{"note": "{}"}}}}"#, "x".repeat(20_000));
    let status = (0..5)
        .find_map(|_| std::panic::catch_unwind(|| post(big.as_bytes()).status).ok())
        .expect("no answer to an oversized request");
    assert_eq!(status, 413);
    let plain = request(&srv.addr, "POST", "/demo/token", &[("Content-Type", "text/plain")], b"{}");
    assert_eq!(plain.status, 415);
    assert_eq!(request(&srv.addr, "GET", "/demo/token", &[], b"").status, 405);
}

#[test]
fn serve_refuses_bad_setup() {
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--models", "/nonexistent-kairos"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--models", "/nonexistent-kairos", "--unsigned"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a folder of model files"));
    // Demo tokens are signed with the brand key: there is none to sign with when unsigned.
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--models", "/nonexistent-kairos", "--unsigned", "--demo-tokens"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with '--demo-tokens'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_tokens_listen_on_loopback_only() {
    let dir = std::env::temp_dir().join(format!("kairos-serve-open-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(dir.join("models/web.json"), model(1)).unwrap();
    let key = dir.join("brand");
    let kairos = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_kairos")).args(args).output().unwrap();
    assert!(kairos(&["keygen", "-o", key.to_str().unwrap()]).status.success());
    let models = dir.join("models");
    let key_file = dir.join("brand.key");
    let out = kairos(&[
        "serve",
        "--models",
        models.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
        "--addr",
        "0.0.0.0:0",
        "--demo-tokens",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--demo-tokens serves only on a loopback address"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
