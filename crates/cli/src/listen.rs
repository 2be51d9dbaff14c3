//! The accept loop of `kairos serve`: HTTP/1.1 through hyper, with the limits `axum::serve` does
//! not set. A client has `read_timeout` to send a request's headers, which is also how long an
//! idle keep-alive connection stays open; at most `max_connections` are open at once, and
//! further ones wait in the listen backlog, so a few slow or idle clients cannot take every file
//! descriptor (the outbox file and the model reload need some too).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// The limits of the accept loop.
pub struct Limits {
    /// Time a client has to send a request's headers; also how long an idle keep-alive
    /// connection is kept.
    pub read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

/// Serves `app` until `stop` turns true; then stops accepting, lets each connection finish the
/// request it is answering, and returns once every connection is closed.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = tokio::task::JoinSet::new();
    // When the limit was last reported: new connections then wait in the kernel's backlog,
    // which looks like a hang from outside, so it is logged (at most once a minute).
    let mut reported: Option<tokio::time::Instant> = None;
    loop {
        if permits.available_permits() == 0 && reported.is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached: new connections wait until one closes (raise --max-connections)"
            );
            reported = Some(tokio::time::Instant::now());
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop.clone();
        let read_timeout = limits.read_timeout;
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(read_timeout);
            let conn = builder.serve_connection(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                // Not the peer's address: an IP address is personal information, and logs are
                // kept and shipped (privacy review).
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Returns once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here: it must not be held across an await.
    let _ = stop.wait_for(|&s| s).await;
}
