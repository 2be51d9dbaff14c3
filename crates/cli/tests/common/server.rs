//! A `kairos serve` harness over real HTTP on 127.0.0.1: a [`Site`] is a temporary folder with
//! models and a brand key; each [`Site::start`] runs a server on it, so a test can restart one
//! on the same folder. Servers are killed and folders removed when they are dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::root;

/// The example model at `version`.
pub fn model(version: u32) -> String {
    let text = std::fs::read_to_string(root().join("examples/taste-of-su/model.json")).unwrap();
    let mut m: Value = serde_json::from_str(&text).unwrap();
    m["meta"]["version"] = json!(version);
    serde_json::to_string_pretty(&m).unwrap()
}

/// The example model at `version`, with another name: same version, other content.
pub fn renamed_model(version: u32, name: &str) -> String {
    let mut m: Value = serde_json::from_str(&model(version)).unwrap();
    m["meta"]["name"] = json!(name);
    serde_json::to_string_pretty(&m).unwrap()
}

/// A `stage_changed` report as the package sends it.
pub const STAGE: &str = r#"{"at":1795140000000,"from":null,"to":"first_time","type":"stage_changed"}"#;

/// An `exposure` report of `offer` as the package sends it.
pub fn exposure(offer: &str) -> String {
    format!(
        r#"{{"at":1795140000000,"control":false,"decision":"35f66a2ad47243d1","offer":"{offer}","placement":"home_offers","type":"exposure","variant":null}}"#
    )
}

/// The reports an outbox file holds, each as the device sent it: the `received_at` the server
/// adds (ms, an integer within the last hour) is checked and taken off.
pub fn stored_reports(file: &std::path::Path) -> Vec<Value> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap();
            let at = v.as_object_mut().unwrap().remove("received_at").and_then(|t| t.as_i64());
            assert!(at.is_some_and(|t| t <= now && t > now - 3_600_000), "received_at {at:?} in {line}");
            v
        })
        .collect()
}

/// A temporary folder: `models/` (with `web.json` at version 1), `www/` and a key pair `brand`.
pub struct Site {
    pub dir: PathBuf,
    started: std::cell::Cell<u32>,
}

impl Drop for Site {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

impl Site {
    pub fn new(name: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("kairos-ops-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::fs::create_dir_all(dir.join("www")).unwrap();
        std::fs::write(dir.join("models/web.json"), model(1)).unwrap();
        let site = Site { dir, started: std::cell::Cell::new(0) };
        site.keygen("brand");
        site
    }

    /// Writes the key pair `NAME.key` / `NAME.pub` in the folder.
    pub fn keygen(&self, name: &str) {
        let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["keygen", "--force", "-o", self.path(name).to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Replaces `models/NAME` at once (a rename), as a deploy would.
    pub fn write_model(&self, name: &str, text: &str) {
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.join("models").join(name)).unwrap();
    }

    /// The arguments of a server on this folder: `extra` after the defaults, which leave out
    /// `--key` when `extra` has `--unsigned` or `--key`, and `--outbox` or `--addr` when it has
    /// its own.
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let d = |p: &str| self.path(p).to_str().unwrap().to_string();
        let mut args: Vec<String> = vec!["serve".into(), "--models".into(), d("models")];
        if !extra.contains(&"--addr") {
            args.extend(["--addr".into(), "127.0.0.1:0".into()]);
        }
        if !extra.contains(&"--unsigned") && !extra.contains(&"--key") {
            args.extend(["--key".into(), d("brand.key")]);
        }
        if !extra.contains(&"--outbox") {
            args.extend(["--outbox".into(), d("outbox.ndjson")]);
        }
        args.extend(["--www".into(), d("www"), "--poll-ms".into(), "50".into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Starts a server; panics unless it prints its address.
    pub fn start(&self, extra: &[&str]) -> Server {
        self.try_start(extra, &[]).unwrap_or_else(|(code, log)| panic!("exit {code:?}: {log}"))
    }

    /// Starts a server with `env` set; a server that exits before it listens gives its exit
    /// code and log.
    pub fn try_start(&self, extra: &[&str], env: &[(&str, &str)]) -> Result<Server, (Option<i32>, String)> {
        let n = self.started.get() + 1;
        self.started.set(n);
        let log = self.dir.join(format!("server-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(self.args(extra))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Server::listening(child, log)
    }
}

/// A running `kairos serve`.
pub struct Server {
    pub child: Child,
    pub addr: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Server {
    /// The server `child` (stdout piped, stderr to `log`) once it printed its address; one that
    /// exits before it listens gives its exit code and log.
    pub fn listening(mut child: Child, log: PathBuf) -> Result<Server, (Option<i32>, String)> {
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        match line.trim().strip_prefix("listening on http://") {
            Some(addr) => Ok(Server { child, addr: addr.to_string(), log }),
            None => {
                let status = child.wait().unwrap();
                Err((status.code(), std::fs::read_to_string(&log).unwrap_or_default()))
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most 10 s) until the log contains `needle`.
    pub fn wait_log(&self, needle: &str) {
        let end = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(needle) {
            assert!(Instant::now() < end, "`{needle}` never logged; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (`INT`, `TERM`) with kill(1).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap().success());
    }

    /// Waits (at most 20 s) for the server to exit.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "the server is still running; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        request(&self.addr, "GET", path, &[], b"")
    }

    /// The meta of `channel` as JSON (panics unless it is `200`).
    pub fn meta(&self, channel: &str) -> Value {
        let r = self.get(&format!("/v1/channels/{channel}/meta"));
        assert_eq!(r.status, 200, "{}\nlog:\n{}", r.text(), self.log());
        serde_json::from_slice(&r.body).unwrap()
    }

    /// Waits (at most 10 s) until `channel` serves version `v`.
    pub fn wait_version(&self, channel: &str, v: u64) {
        let end = Instant::now() + Duration::from_secs(10);
        let path = format!("/v1/channels/{channel}/meta");
        loop {
            let r = self.get(&path);
            if r.status == 200 && serde_json::from_slice::<Value>(&r.body).unwrap()["version"] == v {
                return;
            }
            assert!(Instant::now() < end, "version {v} never served; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// One request on its own connection (`Connection: close`), with `Host: addr` unless `headers` has one.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    // The server may answer before reading the whole body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split =
        raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no response: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|v| v == "chunked") {
        body = dechunk(&body);
    }
    Resp { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

/// Opens `path` as an SSE stream and reads until its first event.
pub fn open_events(addr: &str, path: &str) -> (TcpStream, String) {
    let mut sse = TcpStream::connect(addr).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    sse.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("\n\n") || !seen.contains("event: snapshot") {
        let n = sse.read(&mut buf).unwrap();
        assert!(n > 0, "stream closed; got {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    (sse, seen)
}

/// Starts an outbox upload that sends its headers and part of its body, and returns once the
/// server reads the body (it answers `Expect: 100-continue`): a request in flight.
pub fn hold_upload(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /v1/outbox HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-ndjson\r\n\
         Content-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    wait_continue(&mut s);
    s.write_all(b"{\"type\":").unwrap();
    s
}

/// Reads the server's `100 Continue` to a request sent with `Expect: 100-continue`: the server
/// has taken the upload and reads its body now.
pub fn wait_continue(s: &mut TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&got));
}

/// Posts outbox batches to `addr`: `post(body)` gives the status; `batch(name, n)` is `n`
/// exposures of offers `{name}0`, `{name}1`, ...
pub fn outbox_poster(addr: &str) -> (impl Fn(String) -> u16 + '_, impl Fn(&str, usize) -> String) {
    let post = move |body: String| {
        request(addr, "POST", "/v1/outbox", &[("Content-Type", "application/x-ndjson")], body.as_bytes())
            .status
    };
    let batch =
        |name: &str, n: usize| (0..n).map(|i| format!("{}\n", exposure(&format!("{name}{i}")))).collect();
    (post, batch)
}
