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
