//! Connections that have not finished their first request yet (an HTTP request head, a raw TCP
//! frame). They do not hold a place under `--max-connections`, which is for clients being
//! served: they take one only once their first request is in. At most
//! `--max-pending-connections` wait at once, and when one more arrives the one that has waited
//! longest is closed (once it has waited a second). Sockets that never send a request can then
//! neither lock clients out (a new client's request arrives within a round trip, long before it
//! is the oldest waiting) nor hold descriptors much beyond the pending limit;
//! `--idle-timeout-ms` closes each of them anyway.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How long a connection waits at least before a newer one may close it.
pub const MIN_WAIT: Duration = Duration::from_secs(1);

/// The connections waiting for their first request, oldest first.
#[derive(Debug)]
pub struct Pending {
    limit: usize,
    waiting: Mutex<BTreeMap<u64, (Instant, CancellationToken)>>,
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
    /// longest is told to close, provided it has waited at least [`MIN_WAIT`]. One that has not
    /// may simply not have been read yet (a busy server accepts faster than it reads), so the
    /// set may pass its limit for a moment rather than close a client whose request is in.
    pub fn enter(self: &Arc<Self>) -> Waiting {
        self.enter_at(Instant::now())
    }

    fn enter_at(self: &Arc<Self>, now: Instant) -> Waiting {
        let id = self.next_id.fetch_add(1, Relaxed);
        let evicted = CancellationToken::new();
        let mut waiting = self.waiting.lock().expect("pending lock");
        if waiting.len() >= self.limit {
            let old_enough = waiting
                .first_key_value()
                .is_some_and(|(_, (since, _))| now.duration_since(*since) >= MIN_WAIT);
            if old_enough {
                let (_, (_, oldest)) = waiting.pop_first().expect("checked above");
                oldest.cancel();
                self.evicted.fetch_add(1, Relaxed);
            }
        }
        waiting.insert(id, (now, evicted.clone()));
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
        let t0 = Instant::now();
        let later = t0 + MIN_WAIT;
        let pending = Pending::new(2);
        let first = pending.enter_at(t0);
        let second = pending.enter_at(t0);
        // Too soon: the oldest may not have been read yet, so it stays, past the limit.
        let early = pending.enter_at(t0 + MIN_WAIT / 2);
        assert!(!first.evicted.is_cancelled());
        drop(early);
        let third = pending.enter_at(later);
        assert!(first.evicted.is_cancelled(), "the oldest goes");
        assert!(!second.evicted.is_cancelled() && !third.evicted.is_cancelled());
        // One that got its request in leaves room: nobody else goes.
        drop(second);
        let fourth = pending.enter_at(later);
        assert!(!third.evicted.is_cancelled() && !fourth.evicted.is_cancelled());
        assert_eq!(pending.evicted(), 1);
    }
}
