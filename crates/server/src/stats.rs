//! Counters behind `GET /stats`: per transport, connections, messages and bytes at the socket.
//!
//! Every counter is a relaxed atomic bumped where the event happens (the counting socket wrapper,
//! the subscriber loops, the publish handler); `/stats` reads them all into a [`Snapshot`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use pushbench_wire::Transport;
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;

/// Traffic that is no transport's: `/publish`, `/stats`, errors, connections not yet classified.
pub const CONTROL: usize = Transport::ALL.len();
const SLOTS: usize = CONTROL + 1;

#[derive(Debug, Default)]
struct Slot {
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    requests: AtomicU64,
    requests_http2: AtomicU64,
    messages_delivered: AtomicU64,
    gaps_sent: AtomicU64,
    bytes_written: AtomicU64,
    bytes_read: AtomicU64,
}

/// The server's counters.
#[derive(Debug)]
pub struct Stats {
    slots: [Slot; SLOTS],
    messages_published: AtomicU64,
    connections_refused: AtomicU64,
    bad_requests: AtomicU64,
    started: Instant,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            slots: Default::default(),
            messages_published: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

impl Stats {
    /// Counts one published message.
    pub fn published(&self) {
        self.messages_published.fetch_add(1, Relaxed);
    }

    /// Counts `n` messages written to one subscriber of `transport`.
    pub fn delivered(&self, transport: Transport, n: u64) {
        self.slots[transport.index()]
            .messages_delivered
            .fetch_add(n, Relaxed);
    }

    /// Counts a gap notice sent to a subscriber of `transport`.
    pub fn gap(&self, transport: Transport) {
        self.slots[transport.index()]
            .gaps_sent
            .fetch_add(1, Relaxed);
    }

    /// Counts a request (HTTP) or subscription (raw TCP) on `transport`.
    pub fn request(&self, slot: usize) {
        self.slots[slot].requests.fetch_add(1, Relaxed);
    }

    /// Counts, besides [`Stats::request`], a request that came over HTTP/2 (a stream).
    pub fn request_http2(&self, slot: usize) {
        self.slots[slot].requests_http2.fetch_add(1, Relaxed);
    }

    /// Counts a connection turned away at the connection limit.
    pub fn refused(&self) {
        self.connections_refused.fetch_add(1, Relaxed);
    }

    /// Counts a request answered 4xx.
    pub fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self, topics: usize, memory: (u64, u64)) -> Snapshot {
        let slot = |s: &Slot| SlotSnapshot {
            connections_open: s.connections_open.load(Relaxed).max(0) as u64,
            connections_total: s.connections_total.load(Relaxed),
            requests: s.requests.load(Relaxed),
            requests_http2: s.requests_http2.load(Relaxed),
            messages_delivered: s.messages_delivered.load(Relaxed),
            gaps_sent: s.gaps_sent.load(Relaxed),
            bytes_written: s.bytes_written.load(Relaxed),
            bytes_read: s.bytes_read.load(Relaxed),
        };
        Snapshot {
            uptime_s: self.started.elapsed().as_secs_f64(),
            topics,
            memory_bytes: memory.0,
            memory_budget_bytes: memory.1,
            messages_published: self.messages_published.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
            bad_requests: self.bad_requests.load(Relaxed),
            transports: Transport::ALL
                .into_iter()
                .map(|t| (t.name().to_owned(), slot(&self.slots[t.index()])))
                .collect(),
            control: slot(&self.slots[CONTROL]),
        }
    }
}

/// `GET /stats`, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Seconds since the server started.
    pub uptime_s: f64,
    /// Topics the hub holds.
    pub topics: usize,
    /// Bytes held in messages (payloads and computed encodings, each counted once), against
    /// `--max-memory`.
    #[serde(default)]
    pub memory_bytes: u64,
    /// `--max-memory`.
    #[serde(default)]
    pub memory_budget_bytes: u64,
    /// Messages accepted on any publish path.
    pub messages_published: u64,
    /// Connections turned away at `--max-connections`.
    pub connections_refused: u64,
    /// Requests answered 4xx.
    pub bad_requests: u64,
    /// Per transport, by name.
    pub transports: BTreeMap<String, SlotSnapshot>,
    /// `/publish`, `/stats` and requests that matched no transport.
    pub control: SlotSnapshot,
}

/// One transport's counters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SlotSnapshot {
    /// Connections whose latest request was for this transport and are still open.
    pub connections_open: u64,
    /// Connections ever classified as this transport.
    pub connections_total: u64,
    /// HTTP requests (raw TCP: subscriptions) for this transport.
    pub requests: u64,
    /// Of those, the ones that came over HTTP/2 (a WebSocket's: an extended CONNECT).
    #[serde(default)]
    pub requests_http2: u64,
    /// Messages written to subscribers, counting each subscriber.
    pub messages_delivered: u64,
    /// Gap notices sent.
    pub gaps_sent: u64,
    /// Bytes written to sockets, headers and framing included.
    pub bytes_written: u64,
    /// Bytes read from sockets.
    pub bytes_read: u64,
}

/// Which transport a connection is serving now, so the bytes it moves are counted there. A
/// keep-alive connection is re-tagged by each request; dropping the tag closes the connection's
/// place in the gauges.
#[derive(Debug)]
pub struct ConnTag {
    stats: Arc<Stats>,
    slot: AtomicU8,
    /// Bytes read since the connection last wrote or was re-tagged: the head of a request not
    /// yet routed, which belongs to the transport the request is for, not the previous one.
    unrouted: AtomicU64,
    /// The connection's place under `--max-connections`, taken once its first request is in and
    /// released when the last owner of the socket (hyper, or the WebSocket session after an
    /// upgrade) drops it.
    permit: OnceLock<OwnedSemaphorePermit>,
}

impl ConnTag {
    /// A connection that has not said what it is for yet.
    pub fn new(stats: Arc<Stats>) -> Self {
        stats.slots[CONTROL].connections_open.fetch_add(1, Relaxed);
        stats.slots[CONTROL].connections_total.fetch_add(1, Relaxed);
        ConnTag {
            stats,
            slot: AtomicU8::new(CONTROL as u8),
            unrouted: AtomicU64::new(0),
            permit: OnceLock::new(),
        }
    }

    /// Holds the connection's place under `--max-connections` for as long as the tag lives.
    pub fn hold(&self, permit: OwnedSemaphorePermit) {
        let _ = self.permit.set(permit);
    }

    /// Moves the connection to `slot` (a transport index or [`CONTROL`]).
    pub fn set(&self, slot: usize) {
        let old = self.slot.swap(slot as u8, Relaxed) as usize;
        let head = self.unrouted.swap(0, Relaxed);
        if old != slot {
            // The request that re-tags the connection was read under the old tag.
            self.stats.slots[old].bytes_read.fetch_sub(head, Relaxed);
            self.stats.slots[slot].bytes_read.fetch_add(head, Relaxed);
            self.stats.slots[old].connections_open.fetch_sub(1, Relaxed);
            self.stats.slots[slot]
                .connections_open
                .fetch_add(1, Relaxed);
            self.stats.slots[slot]
                .connections_total
                .fetch_add(1, Relaxed);
        }
    }

    /// Counts bytes written to the socket.
    pub fn wrote(&self, n: usize) {
        // What was read before an answer belongs to the request answered.
        self.unrouted.store(0, Relaxed);
        let slot = self.slot.load(Relaxed) as usize;
        self.stats.slots[slot]
            .bytes_written
            .fetch_add(n as u64, Relaxed);
    }

    /// Counts bytes read from the socket.
    pub fn read(&self, n: usize) {
        self.unrouted.fetch_add(n as u64, Relaxed);
        let slot = self.slot.load(Relaxed) as usize;
        self.stats.slots[slot]
            .bytes_read
            .fetch_add(n as u64, Relaxed);
    }
}

impl Drop for ConnTag {
    fn drop(&mut self) {
        let slot = self.slot.load(Relaxed) as usize;
        self.stats.slots[slot]
            .connections_open
            .fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_moves_its_connection_and_bytes_between_transports() {
        let stats = Arc::new(Stats::default());
        let tag = ConnTag::new(stats.clone());
        tag.wrote(10);
        tag.set(Transport::Sse.index());
        tag.wrote(5);
        tag.read(3);
        let s = stats.snapshot(0, (0, 0));
        assert_eq!(s.control.bytes_written, 10);
        assert_eq!(s.control.connections_open, 0);
        assert_eq!(s.transports["sse"].connections_open, 1);
        assert_eq!(s.transports["sse"].bytes_written, 5);
        assert_eq!(s.transports["sse"].bytes_read, 3);
        drop(tag);
        assert_eq!(
            stats.snapshot(0, (0, 0)).transports["sse"].connections_open,
            0
        );
        assert_eq!(
            stats.snapshot(0, (0, 0)).transports["sse"].connections_total,
            1
        );
    }

    #[test]
    fn a_request_head_is_counted_under_the_transport_it_asks_for() {
        let stats = Arc::new(Stats::default());
        let tag = ConnTag::new(stats.clone());
        let poll = Transport::ShortPoll.index();
        // A keep-alive connection: two polls, then a publish (control), then a poll again.
        for (head, slot) in [(40, poll), (41, poll), (60, CONTROL), (42, poll)] {
            tag.read(head);
            tag.set(slot);
            tag.wrote(100);
        }
        let s = stats.snapshot(0, (0, 0));
        assert_eq!(s.transports["short-poll"].bytes_read, 40 + 41 + 42);
        assert_eq!(s.control.bytes_read, 60);
        // Bytes read after routing (a body, WebSocket frames) stay where they were counted.
        tag.set(Transport::WebSocket.index());
        tag.read(7);
        tag.set(Transport::WebSocket.index());
        assert_eq!(
            stats.snapshot(0, (0, 0)).transports["websocket"].bytes_read,
            7
        );
    }
}
