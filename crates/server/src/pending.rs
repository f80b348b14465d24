//! Connections that have not finished their first request yet (an HTTP request head, a raw TCP
//! frame). They do not hold a place under `--max-connections`, which is for clients being
//! served: they take one only once their first request is in. At most
//! `--max-pending-connections` wait at once, and when one more arrives the one that has waited
//! longest is closed. Sockets that never send a request can then neither lock clients out (a
//! new client's request arrives within a round trip, long before it is the oldest waiting) nor
//! hold descriptors beyond the pending limit; `--idle-timeout-ms` closes each of them anyway.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// The connections waiting for their first request, oldest first.
#[derive(Debug)]
pub struct Pending {
    limit: usize,
    waiting: Mutex<BTreeMap<u64, CancellationToken>>,
    next_id: AtomicU64,
    evicted: AtomicU64,
}

/// One connection's place among the waiting; dropped when its first request is in.
#[derive(Debug)]
pub struct Waiting {
    id: u64,
    pending: Arc<Pending>,
    /// Cancelled when a newer connection needs the place: close the connection.
    pub evicted: CancellationToken,
}

impl Pending {
    /// Room for `limit` waiting connections.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Pending {
            limit: limit.max(1),
            waiting: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        })
    }

    /// Registers a connection just accepted; if the limit is reached, the one that has waited
    /// longest is told to close.
    pub fn enter(self: &Arc<Self>) -> Waiting {
        let id = self.next_id.fetch_add(1, Relaxed);
        let evicted = CancellationToken::new();
        let mut waiting = self.waiting.lock().expect("pending lock");
        if waiting.len() >= self.limit {
            if let Some((_, oldest)) = waiting.pop_first() {
                oldest.cancel();
                self.evicted.fetch_add(1, Relaxed);
            }
        }
        waiting.insert(id, evicted.clone());
        Waiting {
            id,
            pending: self.clone(),
            evicted,
        }
    }

    /// Connections closed so far to make room.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Relaxed)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.pending
            .waiting
            .lock()
            .expect("pending lock")
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_connection_past_the_limit_closes_the_longest_waiting() {
        let pending = Pending::new(2);
        let first = pending.enter();
        let second = pending.enter();
        assert!(!first.evicted.is_cancelled());
        let third = pending.enter();
        assert!(first.evicted.is_cancelled(), "the oldest goes");
        assert!(!second.evicted.is_cancelled() && !third.evicted.is_cancelled());
        // One that got its request in leaves room: nobody else goes.
        drop(second);
        let fourth = pending.enter();
        assert!(!third.evicted.is_cancelled() && !fourth.evicted.is_cancelled());
        assert_eq!(pending.evicted(), 1);
    }
}
