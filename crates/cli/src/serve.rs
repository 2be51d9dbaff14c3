//! `kairos serve`: compiles and signs every `CHANNEL.json` in a folder, serves the latest
//! snapshot per channel (ETag, 304, immutable content-addressed URLs, CORS), recompiles when a
//! model file changes (a broken model is logged and the last good snapshot stays; a version is
//! published once, also across restarts: see `publish`), pushes new
//! versions (Server-Sent Events for browsers, long-poll for mini-programs) and accepts outbox
//! uploads (NDJSON). With `--demo-tokens` it also signs trait tokens for the demo storefront.
//! Endpoints are listed in `docs/cli.md`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest as _, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::stream::Stream;
use kairos::sign::SecretKey;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::{snap, Fail};

mod outbox;
mod publish;
use publish::{Kept, Meta, Published, Stamp};

/// Options of `kairos serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder of model files: each `CHANNEL.json` is served as channel `CHANNEL`.
    #[arg(long)]
    pub models: PathBuf,
    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Secret key file to sign snapshots with.
    #[arg(long, required_unless_present = "unsigned")]
    pub key: Option<PathBuf>,
    /// Serve unsigned snapshots (development only: devices must allow them explicitly).
    #[arg(long, conflicts_with = "key")]
    pub unsigned: bool,
    /// File that accepted outbox batches are appended to (NDJSON), created with mode 0600; it
    /// must be writable at start.
    #[arg(long, default_value = "outbox.ndjson")]
    pub outbox: PathBuf,
    /// Largest outbox upload in bytes; larger ones get 413.
    #[arg(long, default_value_t = 256 * 1024)]
    pub max_upload: usize,
    /// Most outbox uploads taken at once (read, checked or waiting to be written); more are
    /// answered `503` with `Retry-After` at once, so uploads waiting on the disk cannot hold every
    /// connection, nor their bodies the memory.
    #[arg(long, default_value_t = 64)]
    pub max_uploads: usize,
    /// Largest the outbox file may grow, bytes; a batch that would take it past is answered
    /// `507` (and logged), so a pipeline that stopped taking the file cannot fill the disk the
    /// published snapshots are kept on.
    #[arg(long, default_value_t = 1 << 30)]
    pub outbox_max_bytes: u64,
    /// Storefront origins allowed by CORS (repeatable); none allows any origin.
    #[arg(long = "origin")]
    pub origins: Vec<String>,
    /// How often to look for changed model files, in ms.
    #[arg(long, default_value_t = 500)]
    pub poll_ms: u64,
    /// The demo page folder, served under `/www/`.
    #[arg(long, default_value = "www")]
    pub www: PathBuf,
    /// The npm package folder, served under `/pkg/`.
    #[arg(long, default_value = "pkg")]
    pub pkg: PathBuf,
    /// The journey fixtures folder, served under `/fixtures/` (the demo plays them).
    #[arg(long, default_value = "tests/fixtures")]
    pub fixtures: PathBuf,
    /// Time a client has to send a request's headers, or an upload's body, in ms; also how long
    /// an idle keep-alive connection is kept.
    #[arg(long, default_value_t = 30_000)]
    pub read_timeout_ms: u64,
    /// Most connections open at once (SSE and long-poll clients included); more wait. Keep it
    /// below the open-file limit (`ulimit -n`).
    #[arg(long, default_value_t = 1_000)]
    pub max_connections: usize,
    /// Most push streams (SSE and long-polls) open at once; more are answered `503` with
    /// `Retry-After` at once, so snapshot requests and `/healthz` always find a connection.
    /// Below --max-connections [default: three quarters of it]
    #[arg(long)]
    pub max_push: Option<usize>,
    /// After Ctrl-C or SIGTERM, how long open requests may take to finish before the server
    /// exits anyway, in ms (push streams end at once; a second signal exits at once).
    #[arg(long, default_value_t = 5_000)]
    pub shutdown_grace_ms: u64,
    /// Folder where the last published snapshot of each channel is kept, so a restart never
    /// publishes a lower version, or other bytes under the same one [default: MODELS/.kairos]
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Demo only: `POST /demo/token` signs trait tokens with --key for any user and traits it is
    /// sent. Anyone who can reach the server can then grant themselves any traits.
    #[arg(long, conflicts_with = "unsigned")]
    pub demo_tokens: bool,
}

/// Largest `/demo/token` request, bytes: as long as the longest token devices accept.
const MAX_TOKEN_REQUEST: usize = kairos::token::MAX_TOKEN_LEN;

struct Shared {
    dir: PathBuf,
    key: Option<SecretKey>,
    channels: RwLock<HashMap<String, Published>>,
    by_hash: RwLock<Kept>,
    /// Where the last published snapshot of each channel is kept (`--state`).
    state_dir: PathBuf,
    /// The hash of each model file as last handled: an unchanged file is not compiled again.
    seen: Mutex<HashMap<PathBuf, [u8; 32]>>,
    /// The channels that have a model file, as last read, or why the folder cannot be read.
    files: RwLock<Result<Vec<String>, String>>,
    /// The last problem logged for each file or folder, so that it is logged once until it
    /// changes.
    logged: Mutex<HashMap<PathBuf, [u8; 32]>>,
    /// The kept snapshot of each channel that could not be read, by its file's stamp then: it
    /// is not read again until the file changes.
    unreadable: Mutex<HashMap<String, Stamp>>,
    generation: watch::Sender<u64>,
    /// Set on Ctrl-C or SIGTERM: push streams and long-polls end.
    stopping: watch::Sender<bool>,
    /// One permit per push stream (SSE or long-poll) open (`--max-push`).
    push: Arc<Semaphore>,
    /// The outbox file, locked while batches are appended to it.
    outbox: tokio::sync::Mutex<PathBuf>,
    /// Batches waiting for the outbox lock, appended together by whoever holds it next (group
    /// commit: one sync for all of them).
    pending: std::sync::Mutex<Vec<outbox::Pending>>,
    /// How long an upload's body may take to arrive.
    read_timeout: Duration,
    /// Largest outbox upload, bytes (`--max-upload`).
    max_upload: usize,
    /// One permit per outbox upload being taken (`--max-uploads`).
    uploads: Arc<Semaphore>,
    /// `--outbox-max-bytes`.
    outbox_max: u64,
    /// The outbox file's length (at least 1) before the group in which a batch that fits the limit
    /// by itself was first refused as over `--outbox-max-bytes` (`u64::MAX`: none since the file
    /// was taken away): that refusal is logged as an error, and the first batch stored in a
    /// shorter file (the pipeline took it) as info.
    outbox_full_at: std::sync::atomic::AtomicU64,
    origins: Vec<String>,
    www: PathBuf,
    pkg: PathBuf,
    fixtures: PathBuf,
}

type AppState = Arc<Shared>;

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the server until interrupted.
pub fn run(args: Args) -> Result<(), Fail> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAIROS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    // One JSON object per line for log collectors (`KAIROS_LOG_FORMAT=json`), else text. Another
    // value is refused: a typo (`JSON`, `jsno`) gave text lines a collector could not read.
    match std::env::var("KAIROS_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        // Empty as unset: deploy templates set variables to "" (review).
        Ok("text" | "") | Err(std::env::VarError::NotPresent) => logs.init(),
        Ok(other) => {
            return Err(Fail::usage(format!("KAIROS_LOG_FORMAT={other}: expected `json` or `text`")))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Fail::usage("KAIROS_LOG_FORMAT is not text: expected `json` or `text`".into()))
        }
    }
    check_args(&args)?;
    let key = args.key.as_deref().map(crate::snap::secret_key).transpose()?;
    if !args.models.is_dir() {
        return Err(Fail::usage(format!("{}: not a folder of model files", args.models.display())));
    }
    let state_dir = publish::state_dir(&args.models, args.state.as_deref());
    publish::prepare_state(&state_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::usage(format!("cannot start the runtime: {e}")))?;
    let result = rt.block_on(serve(args, key, state_dir));
    // A model reload or an outbox write on a blocking thread gets a moment to finish.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Refuses, before anything is loaded, options that would make a server refuse everything or
/// the largest uploads: a limit of 0, a `--max-upload` larger than the outbox file may grow, an
/// address without a port, an `--origin` no browser sends (CORS review of 2026-11-25:
/// `https://shop.example/`, copied from the address bar, made every storefront request fail as if
/// the server were down).
fn check_args(args: &Args) -> Result<(), Fail> {
    let limits = [
        ("--max-upload", args.max_upload as u64),
        ("--max-uploads", args.max_uploads as u64),
        ("--outbox-max-bytes", args.outbox_max_bytes),
        ("--max-connections", args.max_connections as u64),
        ("--read-timeout-ms", args.read_timeout_ms),
        ("--poll-ms", args.poll_ms),
    ];
    if let Some((name, _)) = limits.iter().find(|(_, n)| *n == 0) {
        return Err(Fail::usage(format!(
            "{name} 0 would refuse or stall every request: give a number above 0"
        )));
    }
    // An upload of the largest size must fit an empty outbox file; stored, its reports grow by
    // their `received_at`, so one near the limit may still be refused (507, a warning).
    if args.max_upload as u64 > args.outbox_max_bytes {
        return Err(Fail::usage(format!(
            "--max-upload {} is larger than --outbox-max-bytes {}: the outbox file could not hold the \
             largest uploads; give --max-upload {} or less, or a larger --outbox-max-bytes",
            args.max_upload, args.outbox_max_bytes, args.outbox_max_bytes
        )));
    }
    if !args.addr.contains(':') {
        let hint = if args.addr.bytes().all(|b| b.is_ascii_digit()) && !args.addr.is_empty() {
            format!(", such as --addr 127.0.0.1:{}", args.addr)
        } else {
            String::new()
        };
        return Err(Fail::usage(format!("--addr {}: give a host and a port{hint}", args.addr)));
    }
    for o in &args.origins {
        if let Err(why) = origin_problem(o) {
            return Err(Fail::usage(format!("--origin {o}: {why}")));
        }
    }
    Ok(())
}

/// Why `o` is not an origin as browsers send it in `Origin` (`scheme://host[:port]`, no path;
/// for http and https a lower-case ASCII host and no default port), with the value meant where it
/// can be told. `null` is one: browsers send it from `file:` pages and sandboxed frames.
fn origin_problem(o: &str) -> Result<(), String> {
    if o == "null" {
        return Ok(());
    }
    if o == "*" {
        return Err("leave --origin out to allow any origin; give each storefront's origin, such as \
             --origin https://shop.example, to allow only those"
            .to_string());
    }
    let Some((scheme, rest)) = o.split_once("://") else {
        return Err(format!("an origin starts with its scheme, such as --origin https://{o}"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    // Browsers keep the case of other schemes' hosts (an extension's id, say).
    let mut meant_host = if web { host.to_ascii_lowercase() } else { host.to_string() };
    for default in [("http", ":80"), ("https", ":443")] {
        if scheme.eq_ignore_ascii_case(default.0) {
            if let Some(bare) = meant_host.strip_suffix(default.1) {
                meant_host = bare.to_string();
            }
        }
    }
    let meant = format!("{}://{meant_host}", scheme.to_ascii_lowercase());
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok || host.is_empty() || host.contains('@') || host.ends_with(':') {
        return Err(
            "not an origin (scheme://host or scheme://host:port, such as https://shop.example)".to_string()
        );
    }
    if host.len() != rest.len() {
        return Err(format!("an origin has no path: browsers send --origin {meant}"));
    }
    if web && !host.is_ascii() {
        return Err(
            "browsers send a host that is not ASCII in its punycode form (`xn--…`): give that".to_string()
        );
    }
    if meant.len() < o.len() {
        return Err(format!("browsers leave the default port out: --origin {meant}"));
    }
    if meant != o {
        return Err(format!("browsers send origins in lower case: --origin {meant}"));
    }
    Ok(())
}

async fn serve(args: Args, key: Option<SecretKey>, state_dir: PathBuf) -> Result<(), Fail> {
    let max_push = match args.max_push {
        Some(n) if n >= args.max_connections => {
            return Err(Fail::usage(format!(
                "--max-push {n} must be below --max-connections {}: short requests (snapshots, /healthz) \
                 need connections that push streams cannot take",
                args.max_connections
            )))
        }
        Some(n) => n,
        None => args.max_connections.saturating_mul(3) / 4,
    };
    let (generation, _) = watch::channel(0u64);
    let state = Arc::new(Shared {
        dir: args.models.clone(),
        key,
        channels: RwLock::new(HashMap::new()),
        by_hash: RwLock::new(Kept::default()),
        state_dir,
        seen: Mutex::new(HashMap::new()),
        files: RwLock::new(Ok(Vec::new())),
        logged: Mutex::new(HashMap::new()),
        unreadable: Mutex::new(HashMap::new()),
        generation,
        stopping: watch::channel(false).0,
        push: Arc::new(Semaphore::new(max_push)),
        outbox: tokio::sync::Mutex::new(args.outbox.clone()),
        pending: std::sync::Mutex::new(Vec::new()),
        read_timeout: Duration::from_millis(args.read_timeout_ms),
        max_upload: args.max_upload,
        uploads: Arc::new(Semaphore::new(args.max_uploads.max(1))),
        outbox_max: args.outbox_max_bytes,
        outbox_full_at: std::sync::atomic::AtomicU64::new(u64::MAX),
        origins: args.origins.clone(),
        www: args.www.clone(),
        pkg: args.pkg.clone(),
        fixtures: args.fixtures.clone(),
    });
    publish::load_state(&state)?;
    publish::reload(&state);
    if args.demo_tokens {
        tracing::warn!(
            "--demo-tokens: POST /demo/token signs any traits for any user with the brand key; anyone who \
             can reach this server can grant themselves any offer. For demos only: a brand's backend mints \
             tokens after login (`kairos token` or the library)"
        );
    }
    // Before the address is printed, so an interrupt from then on is seen.
    let mut interrupts = Interrupts::new()?;
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| Fail::usage(format!("cannot listen on {}: {e}", args.addr)))?;
    let addr = listener.local_addr().map_err(|e| Fail::usage(e.to_string()))?;
    if args.demo_tokens && !addr.ip().is_loopback() {
        return Err(Fail::usage(format!(
            "--demo-tokens serves only on a loopback address (127.0.0.1 or [::1]), not {addr}: anyone who \
             can reach /demo/token can grant themselves any offer"
        )));
    }
    // Once the setup is known to be good, so a refused start leaves no file behind.
    outbox::open_at_start(&args.outbox)?;
    if state.key.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr,
            "--unsigned on an address other than loopback: devices refuse unsigned snapshots unless they \
             allow them explicitly (development only); sign with --key");
    }
    // Not `println!`: a server whose stdout is closed serves on (the line is for scripts that
    // wait for it; the log says the same).
    writeln!(std::io::stdout(), "listening on http://{addr}").and_then(|()| std::io::stdout().flush()).ok();
    let key_id = state.key.as_ref().map_or_else(|| "none (--unsigned)".to_string(), |k| k.public().id());
    tracing::info!(%addr, models = %args.models.display(), state = %state.state_dir.display(),
        signed = state.key.is_some(), key = %key_id, "serving");

    let watcher = state.clone();
    let poll = Duration::from_millis(args.poll_ms.max(10));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(poll).await;
            let s = watcher.clone();
            if tokio::task::spawn_blocking(move || publish::reload(&s)).await.is_err() {
                tracing::error!("model reload task failed");
            }
        }
    });

    let app = router(state.clone(), args.max_upload, args.demo_tokens);
    let limits = crate::listen::Limits {
        read_timeout: Duration::from_millis(args.read_timeout_ms),
        max_connections: args.max_connections,
    };
    let server = crate::listen::serve(listener, app, limits, state.stopping.subscribe());
    tokio::pin!(server);
    let signal = tokio::select! {
        () = &mut server => return Ok(()),
        signal = interrupts.next() => signal,
    };
    let grace = Duration::from_millis(args.shutdown_grace_ms);
    tracing::info!(
        signal,
        grace_ms = args.shutdown_grace_ms,
        "interrupted: shutting down; push streams end, open requests may finish (a second Ctrl-C or SIGTERM exits at once)"
    );
    state.stopping.send_replace(true);
    tokio::select! {
        () = server => {}
        signal = interrupts.next() => tracing::warn!(signal, "interrupted again: exiting at once"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_ms = args.shutdown_grace_ms, "connections still open at the end of the grace period: exiting");
        }
    }
    Ok(())
}

/// Ctrl-C (SIGINT) and SIGTERM (what systemd, Docker and Kubernetes send to stop a process),
/// as often as they come: the first starts a graceful shutdown, the second, of either kind,
/// exits at once.
struct Interrupts {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> Result<Interrupts, Fail> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let interrupt = signal(SignalKind::interrupt())
                .map_err(|e| Fail::usage(format!("cannot handle Ctrl-C: {e}")))?;
            let terminate = signal(SignalKind::terminate())
                .map_err(|e| Fail::usage(format!("cannot handle SIGTERM: {e}")))?;
            Ok(Interrupts { interrupt, terminate })
        }
        #[cfg(not(unix))]
        Ok(Interrupts {})
    }

    /// Waits for the next signal; returns its name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.ok();
            "Ctrl-C"
        }
    }
}

fn router(state: AppState, max_upload: usize, demo_tokens: bool) -> Router {
    let mut app = Router::new()
        .route("/", get(index))
        .route("/v1/channels/{channel}/latest", get(latest))
        .route("/v1/channels/{channel}/meta", get(meta))
        .route("/v1/channels/{channel}/events", get(events))
        .route("/v1/channels/{channel}/poll", get(long_poll))
        .route("/v1/snapshots/{file}", get(by_hash))
        .route("/v1/outbox", post(outbox::outbox).layer(DefaultBodyLimit::max(max_upload)))
        .route("/www/{*path}", get(www))
        .route("/pkg/{*path}", get(pkg))
        .route("/fixtures/{*path}", get(fixtures))
        .route("/healthz", get(healthz))
        .fallback(unrouted);
    if demo_tokens {
        app = app.route("/demo/token", post(demo_token).layer(DefaultBodyLimit::max(MAX_TOKEN_REQUEST)));
    }
    app.layer(middleware::from_fn_with_state(state.clone(), cors)).with_state(state)
}

/// `404`, not to be cached: a 404 is cacheable by default, and the channel, snapshot or file
/// may be there a moment later.
fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        format!("{what} not found\n"),
    )
        .into_response()
}

fn channel(state: &Shared, name: &str) -> Option<Published> {
    read_lock(&state.channels).get(name).cloned()
}

/// Whether `If-None-Match` names `etag` (weakly) or `*`; its list may be split over several
/// header lines.
fn matches_etag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.to_str().unwrap_or("");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|inm| inm.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

/// A snapshot's bytes (`version` for `X-Kairos-Version`), or `304` when `If-None-Match` names
/// its `etag`.
fn snapshot_response(
    bytes: &Bytes,
    etag: &HeaderValue,
    version: u32,
    headers: &HeaderMap,
    cache: &'static str,
) -> Response {
    if matches_etag(headers, etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag.clone()), (header::CACHE_CONTROL, HeaderValue::from_static(cache))],
            no_body(),
        )
            .into_response();
    }
    let mut r = Response::new(Body::from(bytes.clone()));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.kairos.snapshot"));
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert("x-kairos-version", HeaderValue::from(version));
    r
}

async fn latest(State(s): State<AppState>, UrlPath(ch): UrlPath<String>, headers: HeaderMap) -> Response {
    match channel(&s, &ch) {
        Some(p) => snapshot_response(&p.bytes, &p.etag, p.meta.version, &headers, "no-cache"),
        None => not_found(&format!("channel `{ch}`")),
    }
}

async fn meta(State(s): State<AppState>, UrlPath(ch): UrlPath<String>) -> Response {
    match channel(&s, &ch) {
        Some(p) => json_response(StatusCode::OK, &p.meta),
        None => not_found(&format!("channel `{ch}`")),
    }
}

async fn by_hash(State(s): State<AppState>, UrlPath(file): UrlPath<String>, headers: HeaderMap) -> Response {
    let Some(sha) = file.strip_suffix(".kairos") else { return not_found("snapshot") };
    let bytes = read_lock(&s.by_hash).0.get(sha).cloned();
    match bytes {
        Some(bytes) => {
            let etag =
                HeaderValue::from_str(&format!("\"{sha}\"")).unwrap_or(HeaderValue::from_static("\"\""));
            let version = kairos::snapshot::header(&bytes).map_or(0, |h| h.model_version);
            snapshot_response(&bytes, &etag, version, &headers, "public, max-age=31536000, immutable")
        }
        None => not_found(&format!("snapshot `{sha}`")),
    }
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], text)
        .into_response()
}

/// How long an event stream lasts at most, before a jitter of up to a fifth more: then it ends
/// and the client's EventSource connects again. A stream whose client is gone (a phone that
/// changed networks) holds its connection until a write fails, which takes TCP a quarter of an
/// hour; this bounds it, and moves clients onto instances added since.
const STREAM_LIFETIME: Duration = Duration::from_secs(600);

/// A push stream's permit, or `None` for a client over `--max-push` (answered [`push_busy`]).
fn push_permit(s: &Shared) -> Option<OwnedSemaphorePermit> {
    s.push.clone().try_acquire_owned().ok()
}

/// The `503` for a push stream over `--max-push`: the client tries again later (EventSource
/// gives up, and the package's sync backs off and opens another; a long-poll is retried on the
/// same backoff).
fn push_busy() -> Response {
    tracing::debug!("push limit reached: a push stream refused (raise --max-push)");
    try_later(StatusCode::SERVICE_UNAVAILABLE, "30", "too many push streams open")
}

/// A refusal to try again in `seconds` (`Retry-After`), not to be cached: `message` and "; try
/// again later".
fn try_later(status: StatusCode, seconds: &'static str, message: &str) -> Response {
    let headers = [(header::RETRY_AFTER, seconds), (header::CACHE_CONTROL, "no-store")];
    (status, headers, format!("{message}; try again later\n")).into_response()
}

/// Server-Sent Events: the current meta at once, then one `snapshot` event per new version, for
/// [`STREAM_LIFETIME`] and a jitter.
async fn events(State(s): State<AppState>, UrlPath(ch): UrlPath<String>) -> Response {
    if channel(&s, &ch).is_none() {
        return not_found(&format!("channel `{ch}`"));
    }
    let Some(permit) = push_permit(&s) else { return push_busy() };
    let rx = s.generation.subscribe();
    let stop = s.stopping.subscribe();
    // Streams opened together (after a restart) do not all end together.
    let jitter = getrandom::u64().unwrap_or(0) % (STREAM_LIFETIME.as_millis() as u64 / 5 + 1);
    let end = tokio::time::Instant::now() + STREAM_LIFETIME + Duration::from_millis(jitter);
    let mut resp = Sse::new(meta_stream(s, ch, rx, stop, end, permit))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // nginx buffers a proxied response unless told not to, which would hold the events back.
    resp.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

fn meta_stream(
    s: AppState,
    ch: String,
    rx: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
    end: tokio::time::Instant,
    permit: OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = (s, ch, rx, stop, None::<Meta>, permit);
    futures_util::stream::unfold(start, move |(s, ch, mut rx, mut stop, last, permit)| async move {
        loop {
            let current = channel(&s, &ch).map(|p| p.meta);
            if let Some(m) = current.filter(|m| Some(m) != last.as_ref()) {
                let event = Event::default()
                    .event("snapshot")
                    .id(m.version.to_string())
                    .data(serde_json::to_string(&m).unwrap_or_default());
                return Some((Ok(event), (s, ch, rx, stop, Some(m), permit)));
            }
            // The stream ends on shutdown, or the server would wait for the client to go; and
            // at its end of life.
            tokio::select! {
                changed = rx.changed() => changed.ok()?,
                _ = stop.wait_for(|&s| s) => return None,
                () = tokio::time::sleep_until(end) => return None,
            }
        }
    })
}

#[derive(Deserialize)]
struct PollQuery {
    /// The version the client runs; the answer comes when a higher one is published.
    #[serde(default)]
    after: u32,
    /// How long to wait, ms (at most 60 s).
    #[serde(default = "default_wait")]
    wait_ms: u64,
}

fn default_wait() -> u64 {
    25_000
}

/// Long-poll: the meta as soon as the channel's version is above `after`, or 204 after `wait_ms`.
/// A `HEAD` (which axum routes here too) gets at once the headers a `GET` would get now: it
/// would otherwise hold the connection for the whole wait, for an answer without a body.
async fn long_poll(
    State(s): State<AppState>,
    method: Method,
    UrlPath(ch): UrlPath<String>,
    q: Result<Query<PollQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if channel(&s, &ch).is_none() {
        return not_found(&format!("channel `{ch}`"));
    }
    // The server's own words, not axum's "Failed to deserialize query string".
    let Ok(Query(q)) = q else {
        return bad_request(
            "the query is `?after=VERSION&wait_ms=MS`: whole numbers, 0 or more (both optional)".into(),
        );
    };
    let wait_ms = if method == Method::HEAD { 0 } else { q.wait_ms.min(60_000) };
    // Held until the answer: a waiting long-poll is a push stream.
    let _permit = match push_permit(&s) {
        None if wait_ms > 0 => return push_busy(),
        permit => permit,
    };
    let mut rx = s.generation.subscribe();
    let mut stop = s.stopping.subscribe();
    tracing::debug!(%ch, after = q.after, wait_ms, "long-poll waiting");
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    loop {
        if let Some(p) = channel(&s, &ch).filter(|p| p.meta.version > q.after) {
            return json_response(StatusCode::OK, &p.meta);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            changed = tokio::time::timeout(left, rx.changed()) => match changed {
                Ok(Ok(())) => continue,
                _ => return no_news(),
            },
            // On shutdown: no news, and the client polls again (elsewhere, or once it is back).
            _ = stop.wait_for(|&s| s) => return no_news(),
        }
    }
}

/// The long-poll's `204`, not to be cached (a 204 is cacheable by default, and a cache that
/// kept one would hide the next version).
fn no_news() -> Response {
    (StatusCode::NO_CONTENT, [(header::CACHE_CONTROL, "no-store")], no_body()).into_response()
}

/// The body of a `204` or `304`: none, of a length not stated. axum gives a `HEAD` answer the
/// `Content-Length` of a body whose length is known (`0` for an empty one) and hyper sends it
/// on, but RFC 9110 forbids it in a 204, and in a 304 it would have to be the 200's length.
/// hyper sends no body with either status whatever the body says.
fn no_body() -> Body {
    Body::from_stream(futures_util::stream::empty::<Result<Bytes, Infallible>>())
}

fn bad_request(message: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, &serde_json::json!({ "error": message }))
}

/// A `415` answer unless the request's content type is one of `accepted` (the first is the one
/// to send). A request without one is refused too: a browser sends a body without a type (a
/// `Blob`) cross-origin without a preflight, and the type is what makes it ask first.
///
/// A `Content-Encoding` other than `identity` (gzip, say) gets `415` too: the body is read as
/// sent, and a compressed one would only fail later as "not UTF-8".
fn refuse_content_type(headers: &HeaderMap, accepted: &[&str]) -> Option<Response> {
    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| String::from_utf8_lossy(v.as_bytes()));
    if let Some(encoding) = encoding.filter(|e| !e.trim().eq_ignore_ascii_case("identity")) {
        let message = format!("content encoding `{encoding}` is not supported: send the body uncompressed\n");
        return Some((StatusCode::UNSUPPORTED_MEDIA_TYPE, message).into_response());
    }
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    // The media type is what comes before the parameters (`; charset=utf-8`), in any case.
    let media = ctype.split(';').next().unwrap_or("").trim();
    if accepted.iter().any(|a| media.eq_ignore_ascii_case(a)) {
        return None;
    }
    let send = accepted.first().copied().unwrap_or_default();
    let what =
        if ctype.is_empty() { "no content type".to_string() } else { format!("content type `{ctype}`") };
    Some((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("{what}: send {send}\n")).into_response())
}

/// The body of an upload, within the route's size limit (`413`) and the read timeout (`408`:
/// a client that trickles its body would hold its connection for good).
async fn read_body(s: &Shared, req: Request, limit: usize) -> Result<Bytes, Response> {
    // A body its `Content-Length` says is too large is refused before a byte of it is read (the
    // limit's layer alone would refuse it only once that many bytes came, or the read timed out).
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let message = format!("the body is over the limit of {limit} bytes\n");
        return Err((StatusCode::PAYLOAD_TOO_LARGE, [(header::CONNECTION, "close")], message).into_response());
    }
    match tokio::time::timeout(s.read_timeout, Bytes::from_request(req, &())).await {
        Ok(Ok(body)) => Ok(body),
        // A body that ran over the limit without a `Content-Length` (chunked) gets the same
        // words as one that declared it (axum's were "Failed to buffer the request body: length
        // limit exceeded"); another failure to read it keeps axum's status.
        Ok(Err(rejected)) if rejected.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = format!("the body is over the limit of {limit} bytes\n");
            Err((StatusCode::PAYLOAD_TOO_LARGE, [(header::CONNECTION, "close")], message).into_response())
        }
        Ok(Err(rejected)) => Err(rejected.into_response()),
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            "the body did not arrive in time\n",
        )
            .into_response()),
    }
}

/// What a `/demo/token` request looks like.
const TOKEN_REQUEST: &str =
    r#"a JSON object like {"user": "<pid>", "traits": {"tier": "gold"}, "ttl": "7d"}"#;

/// A `/demo/token` request: the options of `kairos token`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// The shopper's pseudonymous id (`engine.pid`).
    user: String,
    /// The traits: a JSON object.
    traits: Json,
    /// How long the token is valid: `90s`, `30m`, `12h`, `7d`.
    ttl: Option<String>,
    /// Issue time, ms since the epoch (default: the server's clock). The demo's journey replay
    /// runs on a simulated clock and passes it.
    now: Option<i64>,
    /// The channel whose model checks the traits, as a device would (default: every channel
    /// served).
    channel: Option<String>,
}

/// Demo only (`--demo-tokens`): a trait token signed with the brand key for the user and traits
/// in the request, `{"token": "kt1.…", "exp": MS}`.
async fn demo_token(State(s): State<AppState>, req: Request) -> Response {
    if let Some(refused) = refuse_content_type(req.headers(), &["application/json"]) {
        return refused;
    }
    let body = match read_body(&s, req, MAX_TOKEN_REQUEST).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    // INVARIANT: --demo-tokens conflicts with --unsigned, and without it --key is required.
    let Some(key) = &s.key else { return not_found("demo token") };
    // serde would also read the struct from a JSON array.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return bad_request(format!("the request must be {TOKEN_REQUEST}"));
    }
    // A name given twice (a trait, say) is refused, as in every JSON the command reads.
    if let Some(twice) = std::str::from_utf8(&body).ok().and_then(kairos::compile::duplicate_name) {
        return bad_request(format!("the request: {twice}"));
    }
    let request: TokenRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("the request: {e}")),
    };
    if !snap::is_pid(&request.user) {
        return bad_request(
            "`user` must be the shopper's pseudonymous id (`engine.pid`): 16 or 32 lowercase hex digits"
                .into(),
        );
    }
    let ttl = match snap::parse_ttl(request.ttl.as_deref().unwrap_or(snap::DEFAULT_TTL)) {
        Ok(ms) => ms,
        Err(e) => return bad_request(format!("`ttl` {e}")),
    };
    // `now` is taken as sent, unbounded: the storefront replays journeys on their own clock, and
    // whoever can reach this endpoint can mint any traits anyway (hence loopback only).
    let now = request.now.unwrap_or_else(snap::now_ms);
    let token = match snap::mint(key, &request.user, &request.traits, now, ttl) {
        Ok(t) => t,
        Err(e) => return bad_request(e),
    };
    // Traits a device would refuse (an unknown trait, a year in an anniversary) get 400, as the
    // docs say (CLI review of 2026-11-25: they were signed): those of the channel named, else
    // refused only when no channel served takes them (the storefront runs on any channel).
    let served = read_lock(&s.channels).clone();
    if let Some(c) = request.channel.as_ref().filter(|c| !served.contains_key(*c)) {
        return bad_request(format!("`channel` {c}: no such channel is served"));
    }
    let mut refusal = None;
    let mut names: Vec<&String> = served.keys().collect();
    names.sort();
    for channel in names {
        if request.channel.as_ref().is_some_and(|c| c != channel) {
            continue;
        }
        let Some(model) = served.get(channel).and_then(|p| kairos::snapshot::decode(&p.bytes).ok()) else {
            continue;
        };
        match snap::check_on_device(key, &model, &request.traits, now, ttl) {
            Ok(()) => {
                refusal = None;
                break;
            }
            Err(e) if refusal.is_none() => {
                refusal = Some(format!("`traits`: a device on channel {channel} would refuse them: {e}"));
            }
            Err(_) => {}
        }
    }
    if let Some(why) = refusal {
        return bad_request(why);
    }
    if token.len() > kairos::token::MAX_TOKEN_LEN {
        return bad_request(format!(
            "the token would be {} bytes and devices accept at most {}: send fewer or shorter traits",
            token.len(),
            kairos::token::MAX_TOKEN_LEN
        ));
    }
    tracing::info!(user = %request.user, "demo trait token signed");
    json_response(StatusCode::OK, &serde_json::json!({ "token": token, "exp": now.saturating_add(ttl) }))
}

/// Health for load balancers and orchestrators: `200` when every model file has a snapshot
/// served, else `503` (the folder cannot be read, has no model file, or a channel has no
/// snapshot yet); the body lists each channel's served version and sha256 (`null`: none).
async fn healthz(State(s): State<AppState>) -> Response {
    let files = read_lock(&s.files).clone();
    let served = read_lock(&s.channels).clone();
    let mut channels = serde_json::Map::new();
    let mut names: Vec<&String> = served.keys().collect();
    if let Ok(files) = &files {
        names.extend(files.iter());
    }
    names.sort();
    names.dedup();
    for name in names {
        let entry = served.get(name).map_or(
            Json::Null,
            |p| serde_json::json!({ "version": p.meta.version, "sha256": p.meta.sha256 }),
        );
        channels.insert(name.clone(), entry);
    }
    let problem = match &files {
        Err(e) => Some(e.clone()),
        Ok(f) if f.is_empty() => Some("no model file in the models folder".to_string()),
        Ok(f) => f
            .iter()
            .find(|c| !served.contains_key(*c))
            .map(|c| format!("channel `{c}` has no snapshot to serve: see the log")),
    };
    let status = if problem.is_some() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let mut body = serde_json::json!({ "ok": problem.is_none(), "channels": channels });
    if let (Some(p), Some(o)) = (problem, body.as_object_mut()) {
        o.insert("error".to_string(), Json::String(p));
    }
    json_response(status, &body)
}

/// Paths no route knows: the same uncacheable `404` as an unknown channel or file.
async fn unrouted() -> Response {
    not_found("path")
}

async fn index() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/www/index.html")]).into_response()
}

async fn www(State(s): State<AppState>, UrlPath(path): UrlPath<String>) -> Response {
    static_file(&s.www, &path).await
}

async fn pkg(State(s): State<AppState>, UrlPath(path): UrlPath<String>) -> Response {
    static_file(&s.pkg, &path).await
}

async fn fixtures(State(s): State<AppState>, UrlPath(path): UrlPath<String>) -> Response {
    static_file(&s.fixtures, &path).await
}

/// Serves a file below `root`; paths with `..`, absolute parts or hidden names (`.env`,
/// `.git/`) are refused, and so is a file whose real path is outside `root` (a symlink out).
async fn static_file(root: &Path, path: &str) -> Response {
    let rel = Path::new(path);
    let plain = |c: Component<'_>| match c {
        Component::Normal(n) => !n.to_string_lossy().starts_with('.'),
        _ => false,
    };
    if !rel.components().all(plain) {
        return not_found("file");
    }
    let full = root.join(rel);
    let (Ok(real), Ok(real_root)) =
        (tokio::fs::canonicalize(&full).await, tokio::fs::canonicalize(root).await)
    else {
        return not_found("file");
    };
    if !real.starts_with(&real_root) {
        return not_found("file");
    }
    let Ok(bytes) = tokio::fs::read(&real).await else { return not_found("file") };
    let ctype = match full.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ts" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, ctype), (header::CACHE_CONTROL, "no-cache")], bytes).into_response()
}

/// CORS: answers preflights, adds the allow headers, and refuses state-changing requests from
/// origins that are not allowed; logs each request at debug level.
///
/// Without `--origin` every response carries `Access-Control-Allow-Origin: *`, whether or not
/// the request named an origin, so a CDN that cached the copy fetched without one (curl, a
/// mini-program) still serves browsers a copy they may read. With `--origin` only the listed
/// origins are echoed, and every response carries `Vary: Origin`, so a cache never gives one
/// origin's answer to another; a request from the server's own pages (same origin: browsers send
/// `Origin` on a same-origin POST too) is never refused. `/demo/token` is never answered with
/// `*`: only the server's own page (same origin, on a loopback host name) and listed origins may
/// call it, as any page the demo user visits could otherwise mint tokens with the brand key.
async fn cors(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let demo = req.uri().path() == "/demo/token";
    let origin = headers.get(header::ORIGIN).cloned();
    let listed =
        origin.as_ref().and_then(|o| o.to_str().ok()).is_some_and(|o| s.origins.iter().any(|a| a == o));
    let allow = match &origin {
        Some(o) if listed => Some(o.clone()),
        _ if s.origins.is_empty() && !demo => Some(HeaderValue::from_static("*")),
        _ => None,
    };
    // A same-origin request needs no CORS headers, only not to be refused.
    let own = match same_origin(headers) {
        Some(host) => !demo || is_loopback_name(host),
        None => false,
    };
    let refused = origin.is_some() && allow.is_none() && !own;
    let vary = demo || !s.origins.is_empty();
    let preflight = req.method() == Method::OPTIONS;
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let mut resp = if (preflight || method == Method::POST) && refused {
        tracing::debug!(%method, %path, origin = ?origin, "origin not allowed");
        (StatusCode::FORBIDDEN, "origin not allowed\n").into_response()
    } else if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    if vary {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if let Some(a) = allow.filter(|_| !refused) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, a);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("ETag, X-Kairos-Version"));
        if preflight {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("If-None-Match, Content-Type"),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
    }
    tracing::debug!(%method, %path, status = resp.status().as_u16(), us = started.elapsed().as_micros() as u64, "request");
    resp
}

/// The request's `Host` when it comes from a page of this server: its `Origin` is `http://` and
/// that `Host` (the server speaks plain HTTP; behind a proxy that terminates TLS the public
/// origin is listed with `--origin`). Host names are compared without regard to case, as
/// browsers serialize them in lowercase.
fn same_origin(headers: &HeaderMap) -> Option<&str> {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let (origin, host) = (text(header::ORIGIN)?, text(header::HOST)?);
    let named =
        origin.get(..7).filter(|scheme| scheme.eq_ignore_ascii_case("http://")).and(origin.get(7..))?;
    named.eq_ignore_ascii_case(host).then_some(host)
}

/// Whether `host` (a `Host` header: a name and an optional port) is a loopback name. A page on
/// another name that resolves to 127.0.0.1 (DNS rebinding) sends its own name as `Host`.
fn is_loopback_name(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.eq_ignore_ascii_case("localhost")
        || name == "[::1]"
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}
