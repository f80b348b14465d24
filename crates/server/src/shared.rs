//! What every connection task shares: the hub, the counters, the limits, the shutdown signal
//! and the heartbeat slots.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::heartbeat::Heartbeats;
use crate::hub::Hub;
use crate::pending::Pending;
use crate::stats::Stats;

/// State shared by the accept loops and every connection.
#[derive(Debug)]
pub struct Shared {
    /// Topics, rings and live channels.
    pub hub: Hub,
    /// `/stats` counters.
    pub stats: Arc<Stats>,
    /// Limits.
    pub config: Config,
    /// Cancelled when the server starts shutting down; every connection task watches it.
    pub shutdown: CancellationToken,
    /// Heartbeat ticks, one per interval for each connection, spread over the interval (see
    /// [`crate::heartbeat`]): `heartbeats.subscribe()` once per connection.
    pub heartbeats: Heartbeats,
    /// Every connection task, so shutdown can wait for them to close cleanly.
    pub tasks: TaskTracker,
    /// Connections that have not finished their first request (see [`crate::pending`]).
    pub pending: Arc<Pending>,
    /// One permit per connection being served, across both ports.
    connections: Arc<Semaphore>,
}

impl Shared {
    /// State for a server with `config`, ticking heartbeats through `heartbeats`.
    pub fn new(config: Config, heartbeats: Heartbeats) -> Self {
        Shared {
            hub: Hub::new(&config),
            stats: Arc::new(Stats::default()),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            pending: Pending::new(config.max_pending_connections),
            config,
            shutdown: CancellationToken::new(),
            heartbeats,
            tasks: TaskTracker::new(),
        }
    }

    /// A place for one more connection to be served, or `None` at `--max-connections`.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.connections.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.stats.refused();
        }
        permit
    }
}

/// Accepts connections on `listener` until shutdown, each served by `serve` in a task of its
/// own, registered among the pending (see [`crate::pending`]) until its first request is in;
/// over TLS with `tls`. `port` names the listener in log lines.
pub async fn accept_until_shutdown<F, Fut>(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    port: &'static str,
    tls: Option<tokio_rustls::TlsAcceptor>,
    serve: F,
) where
    F: Fn(
        tokio::net::TcpStream,
        std::net::SocketAddr,
        Arc<Shared>,
        crate::pending::Waiting,
        Option<tokio_rustls::TlsAcceptor>,
    ) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, port, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let waiting = shared.pending.enter();
        let task = serve(stream, peer, shared.clone(), waiting, tls.clone());
        shared.tasks.spawn(task);
    }
}
