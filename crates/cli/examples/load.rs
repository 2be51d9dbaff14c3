//! Load run of `kairos serve` on loopback: many keep-alive clients doing conditional GETs
//! (`If-None-Match`, answered 304) while other clients hold SSE push connections. Prints
//! requests/s and latency percentiles. Bounded: fixed client counts, fixed duration.
//!
//! Then, for as long again, `--uploaders` keep-alive clients posting outbox batches (each of
//! `--reports` exposures, every one appended to the outbox file and synced to disk before its
//! `202`): batches/s, reports/s and latency percentiles.
//!
//! `make load`, or `cargo run --release -p kairos-cli --example load -- --bin target/release/kairos`
//! with `--clients 64 --push 256 --seconds 5 --uploaders 32 --reports 10`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    bin: PathBuf,
    clients: usize,
    push: usize,
    seconds: u64,
    uploaders: usize,
    reports: usize,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        bin: PathBuf::from("target/release/kairos"),
        clients: 64,
        push: 256,
        seconds: 5,
        uploaders: 32,
        reports: 10,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{a} {v}: {e}"));
        match a.as_str() {
            "--bin" => o.bin = PathBuf::from(v),
            "--clients" => o.clients = num(v)?.clamp(1, 1024),
            "--push" => o.push = num(v)?.min(4096),
            "--seconds" => o.seconds = (num(v)? as u64).clamp(1, 60),
            // At most the server's default --max-uploads (64), which this run keeps.
            "--uploaders" => o.uploaders = num(v)?.min(64),
            "--reports" => o.reports = num(v)?.clamp(1, 1000),
            _ => return Err(format!("unknown option {a}")),
        }
    }
    Ok(o)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let o = opts()?;
    let dir = std::env::temp_dir().join(format!("kairos-load-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("models")).map_err(|e| e.to_string())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(root.join("examples/taste-of-su/model.json"), dir.join("models/web.json"))
        .map_err(|e| e.to_string())?;
    let key = dir.join("brand");
    let st = Command::new(&o.bin)
        .args(["keygen", "--force", "-o"])
        .arg(&key)
        .output()
        .map_err(|e| e.to_string())?;
    if !st.status.success() {
        return Err(format!("keygen failed: {}", String::from_utf8_lossy(&st.stderr)));
    }
    let mut child = Command::new(&o.bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--models"])
        .arg(dir.join("models"))
        .arg("--key")
        .arg(key.with_extension("key"))
        .arg("--outbox")
        .arg(dir.join("outbox.ndjson"))
        // Every client and push connection at once, and some to spare.
        .args(["--max-connections", &(o.clients + o.push + 64).to_string()])
        .args(["--max-push", &(o.push + 16).to_string()])
        .env("KAIROS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", o.bin.display()))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut line).map_err(|e| e.to_string())?;
    }
    let addr = line.trim().strip_prefix("listening on http://").unwrap_or("").to_string();
    let result = if addr.is_empty() {
        Err("the server did not start".to_string())
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(load(&addr, &o)))
    };
    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
    result
}

async fn load(addr: &str, o: &Opts) -> Result<(), String> {
    // The ETag to send.
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let req = format!("GET /v1/channels/web/latest HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let (status, head) = exchange(&mut s, req.as_bytes()).await?;
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: ").or_else(|| l.strip_prefix("ETag: ")))
        .ok_or(format!("no etag (status {status})"))?
        .to_string();

    // Held push connections.
    let mut held = Vec::new();
    for _ in 0..o.push {
        let mut c = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let r = format!("GET /v1/channels/web/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        c.write_all(r.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 1024];
        let n = c.read(&mut buf).await.map_err(|e| e.to_string())?;
        if !String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).contains("200 OK") {
            return Err("a push connection was refused".into());
        }
        held.push(c);
    }

    let req =
        format!("GET /v1/channels/web/latest HTTP/1.1\r\nHost: {addr}\r\nIf-None-Match: {etag}\r\n\r\n");
    let run = clients(addr, vec![req; o.clients], 304, o.seconds).await?;
    println!(
        "{} conditional GETs (304) in {} from {} keep-alive clients, {} push connections held: {:.0} req/s, {}",
        run.done(),
        run.took(),
        o.clients,
        held.len(),
        run.per_second(),
        run.latency(),
    );
    drop(held);
    if o.uploaders > 0 {
        uploads(addr, o).await?;
    }
    Ok(())
}

/// Outbox uploads: `o.uploaders` keep-alive clients posting batches of `o.reports` exposures for
/// `o.seconds`; each answered `202` once its batch is on disk.
async fn uploads(addr: &str, o: &Opts) -> Result<(), String> {
    let mut requests = Vec::new();
    for c in 0..o.uploaders {
        let mut body = String::new();
        for r in 0..o.reports {
            body.push_str(&format!(
                r#"{{"at":1795140000000,"control":false,"decision":"{:016x}","offer":"winback","placement":"home_offers","type":"exposure","variant":null}}"#,
                c * 1000 + r
            ));
            body.push('\n');
        }
        requests.push(format!(
            "POST /v1/outbox HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    let run = clients(addr, requests, 202, o.seconds).await?;
    println!(
        "{} outbox batches of {} reports (202, each on disk) in {} from {} keep-alive clients: {:.0} batches/s ({:.0} reports/s), {}",
        run.done(),
        o.reports,
        run.took(),
        o.uploaders,
        run.per_second(),
        run.per_second() * o.reports as f64,
        run.latency(),
    );
    Ok(())
}

/// What a run of clients did: the latency of each answer with the expected status, in order, the
/// run's length and the failures (another status, a connection lost).
struct Run {
    latencies: Vec<Duration>,
    secs: f64,
    wrong: u64,
}

impl Run {
    fn done(&self) -> usize {
        self.latencies.len()
    }

    fn took(&self) -> String {
        format!("{:.1} s", self.secs)
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.secs
    }

    /// p50, p99 and max in ms, and the failures.
    fn latency(&self) -> String {
        let all = &self.latencies;
        let pct = |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default();
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} failures",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            all.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            self.wrong
        )
    }
}

/// One keep-alive client per request of `requests`, each sending its request again and again for
/// `seconds`; answers with status `want` count.
async fn clients(addr: &str, requests: Vec<String>, want: u16, seconds: u64) -> Result<Run, String> {
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for req in requests {
        let addr = addr.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut wrong = 0u64;
            let Ok(mut s) = TcpStream::connect(&addr).await else { return (lat, 1) };
            while Instant::now() < end {
                let t = Instant::now();
                match exchange(&mut s, req.as_bytes()).await {
                    Ok((status, _)) if status == want => lat.push(t.elapsed()),
                    Ok(_) => wrong += 1,
                    Err(_) => return (lat, wrong + 1),
                }
            }
            (lat, wrong)
        }));
    }
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut wrong = 0;
    for t in tasks {
        let (l, w) = t.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        wrong += w;
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort();
    Ok(Run { latencies, secs, wrong })
}

/// Sends one request on a keep-alive connection and reads the response head and body.
async fn exchange(s: &mut TcpStream, req: &[u8]) -> Result<(u16, String), String> {
    s.write_all(req).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(buf.get(..p).unwrap_or(&[])).into_owned();
            let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut have = buf.len() - p - 4;
            while have < len {
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed".into());
                }
                have += n;
            }
            return Ok((status, head));
        }
    }
}
