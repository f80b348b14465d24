//! push-server: one hub, seven ways to push its messages to clients.
//!
//! # Layout
//! - [`hub`]: topics, per-topic sequence numbers, the ring of recent messages, live broadcast and
//!   [`hub::Subscription`], through which every transport reads. Messages are framed once per
//!   transport and the bytes shared by all subscribers. Its unit tests sit in `hub/tests.rs`.
//! - [`http`]: the HTTP port (hyper): accept loop, routing, `/publish`, `/stats`, 4xx answers.
//!   It is the only module that imports the HTTP transports. It reads each connection's first
//!   request head itself, to serve a stream subscription without hyper's per-connection buffers
//!   (see [`stream`]) and to close connections that never send a head.
//! - [`http::reply`]: what every HTTP handler shares: the [`http::reply::Body`] type, response
//!   builders, [`http::reply::Query`] and [`http::reply::Rejection`] (a 4xx instead of a
//!   response). Transports import it and it imports no transport, so routing depends on the
//!   transports and never the other way round.
//! - One module per transport, named as in `pushbench-wire` and load-gen: [`poll`] (short and
//!   long polling), [`xhr_stream`], [`iframe`], [`sse`] (all three streaming through [`stream`]),
//!   [`websocket`] (tokio-tungstenite on hyper's upgrade) and [`raw_tcp`] (its own port).
//! - [`stats`] and [`counting`]: per-transport counters, bytes counted at the socket;
//!   [`vectored`]: a batch of shared frames in one write (raw TCP, directly served streams).
//! - [`direct`]: a subscriber's socket that the publish writes into while it keeps up
//!   (directly served streams, WebSocket), its task woken only to take over when it does not.
//! - [`config`]: every limit, [`shared`]: what connection tasks share, [`heartbeat`]: idle
//!   connections' heartbeats, spread over the interval in slots, [`pending`]: connections that
//!   have not sent their first request, bounded apart from the clients being served.
//! - [`woken`]: [`woken::OnWake`], which lets a connection task look at its socket and its
//!   heartbeat only when they wake it, not at every message.
//! - [`page`]: `GET /`, a page that watches every browser transport side by side.
//!
//! Data flows publisher → [`http`] or [`websocket`] or [`raw_tcp`] → [`hub`] → each transport's
//! subscriber loop → socket, or from the hub straight into the socket through a [`direct`]
//! sink. [`run`] is the whole server; [`cli`] turns flags into a [`Config`]
//! and calls it, for the `push-server` binary and for load-gen's embedded server.

pub mod cli;
pub mod config;
pub mod counting;
pub mod direct;
pub mod heartbeat;
pub mod http;
pub mod hub;
pub mod iframe;
pub mod page;
pub mod pending;
pub mod poll;
pub mod raw_tcp;
pub mod shared;
pub mod sse;
pub mod stats;
pub mod stream;
pub mod vectored;
pub mod websocket;
pub mod woken;
pub mod xhr_stream;

use std::future::Future;
use std::sync::Arc;

pub use config::Config;
use tokio::net::TcpListener;

/// Serves HTTP on `http` and raw TCP on `tcp` until `shutdown` completes, then stops accepting,
/// ends every stream cleanly (streams end, WebSockets get a 1001 close, raw TCP an error frame) and
/// waits up to `config.shutdown_grace` for connections to close.
pub async fn run(
    http: TcpListener,
    tcp: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    config.validate()?;
    let (clock, heartbeats) = heartbeat::new(config.heartbeat);
    let shared = Arc::new(shared::Shared::new(config, heartbeats));
    let ticker = tokio::spawn(clock.run(shared.shutdown.clone()));
    let sweeper = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let every = (shared.config.topic_ttl / 4).max(std::time::Duration::from_secs(1));
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            loop {
                tokio::select! {
                    _ = shared.shutdown.cancelled() => break,
                    _ = interval.tick() => {
                        let expired = shared.hub.expire_idle(shared.config.topic_ttl);
                        if expired > 0 {
                            tracing::info!(expired, "forgot idle topics");
                        }
                    }
                }
            }
        })
    };
    let http_loop = tokio::spawn(http::serve(http, shared.clone()));
    let tcp_loop = tokio::spawn(raw_tcp::serve(tcp, shared.clone()));
    shutdown.await;
    tracing::info!("shutting down: closing streams and connections");
    shared.shutdown.cancel();
    let _ = tokio::join!(http_loop, tcp_loop, ticker, sweeper);
    shared.tasks.close();
    if tokio::time::timeout(shared.config.shutdown_grace, shared.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = shared.tasks.len(),
            "connections still open after the shutdown grace period"
        );
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first awaited: call it before announcing the ports, so a signal sent as soon as
/// they are known shuts down cleanly instead of taking the default action (killing the process).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut i), Ok(mut t)) => {
                    tokio::select! {
                        _ = i.recv() => {}
                        _ = t.recv() => {}
                    }
                }
                // Without signal handling there is nothing to wait for but the process's end.
                _ => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
