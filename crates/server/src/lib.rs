//! push-server: one hub, seven ways to push its messages to clients.
//!
//! # Layout
//! - [`hub`]: topics, per-topic sequence numbers, the ring of recent messages, live broadcast and
//!   [`hub::Subscription`], through which every transport reads. Messages are framed once per
//!   transport and the bytes shared by all subscribers. Its unit tests sit in `hub/tests.rs`.
//! - [`http`]: the HTTP port (hyper): accept loop, routing, `/publish`, `/stats`, 4xx answers.
//!   It is the only module that imports the HTTP transports. It reads each connection's first
//!   request head itself, to serve a stream subscription without hyper's per-connection buffers
//!   (see [`stream`]), to serve a connection of polls without hyper (`http/polls.rs`, where a
//!   long poll that finds nothing is held in its topic for the publish to answer) and to close
//!   connections that never send a head.
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
//!   (directly served streams, WebSocket), its task woken only to take over when it does not;
//!   [`hub::Hub::hold`] offers a held long poll the one next message the same way.
//! - [`tls`]: the HTTPS and TLS raw TCP ports' settings (rustls, a self-signed certificate
//!   unless given one) and handshake; after it, a TLS connection takes the plain one's path,
//!   except that no publish writes into its socket.
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
pub mod tls;
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
    let ports = Ports {
        http,
        tcp,
        tls: None,
    };
    run_ports(ports, config, shutdown).await
}

/// The ports push-server serves.
#[derive(Debug)]
pub struct Ports {
    /// HTTP: every transport but raw TCP.
    pub http: TcpListener,
    /// Raw TCP.
    pub tcp: TcpListener,
    /// The same over TLS, if asked for.
    pub tls: Option<TlsPorts>,
}

/// HTTPS (HTTP/1.1 or HTTP/2, as ALPN settles) and TLS raw TCP, with the server's TLS settings.
pub struct TlsPorts {
    /// HTTPS, if asked for.
    pub https: Option<TcpListener>,
    /// Raw TCP over TLS, if asked for.
    pub tcp: Option<TcpListener>,
    /// The certificate and settings (see [`tls::acceptor`]); raw TCP's offer no ALPN protocol.
    pub acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TlsPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPorts")
            .field("https", &self.https)
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

/// [`run`] on every port in `ports`.
pub async fn run_ports(
    ports: Ports,
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
    let mut loops = vec![
        tokio::spawn(http::serve(ports.http, shared.clone(), None)),
        tokio::spawn(raw_tcp::serve(ports.tcp, shared.clone(), None)),
    ];
    if let Some(tls) = ports.tls {
        if let Some(https) = tls.https {
            let acceptor = Some(tls.acceptor.clone());
            loops.push(tokio::spawn(http::serve(https, shared.clone(), acceptor)));
        }
        if let Some(tcp) = tls.tcp {
            let acceptor = Some(tls::without_alpn(&tls.acceptor));
            loops.push(tokio::spawn(raw_tcp::serve(tcp, shared.clone(), acceptor)));
        }
    }
    shutdown.await;
    tracing::info!("shutting down: closing streams and connections");
    shared.shutdown.cancel();
    for accept_loop in loops {
        let _ = accept_loop.await;
    }
    let _ = tokio::join!(ticker, sweeper);
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
