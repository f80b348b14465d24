//! Every limit push-server enforces, with the defaults a fresh run gets.

use std::time::Duration;

/// Limits and intervals. Every field is a `push-server` flag of the same name (kebab-case).
#[derive(Debug, Clone)]
pub struct Config {
    /// Messages kept per topic so polls and reconnects can resume without loss. A subscriber
    /// asking for something older is sent a gap notice.
    pub ring_size: usize,
    /// How many messages a subscriber may fall behind live delivery before it is resynchronised
    /// from the ring (or sent a gap if the ring no longer holds its place). This is the
    /// per-subscriber send queue: it costs nothing per subscriber, since every subscriber reads
    /// the same shared slots. The channel rounds it up to a power of two.
    pub send_queue: usize,
    /// Largest accepted message payload, in bytes, on every publish path.
    pub max_message_size: usize,
    /// Concurrent connections across both ports; one more is answered 503 (HTTP) or an error
    /// frame (raw TCP) and closed.
    pub max_connections: usize,
    /// Distinct topics the hub will create; publishing or subscribing to one more is refused.
    pub max_topics: usize,
    /// How long a long poll is held when the request does not ask for less.
    pub long_poll_timeout: Duration,
    /// The longest `timeout=` a long-poll request may ask for.
    pub max_long_poll_timeout: Duration,
    /// How often idle streams get a heartbeat (comment, blank line, ping, heartbeat frame).
    pub heartbeat: Duration,
    /// The `retry:` an SSE stream announces: how long `EventSource` waits before reconnecting.
    pub sse_retry: Duration,
    /// Largest padding prelude a stream may ask for with `padding=`.
    pub max_padding: usize,
    /// How long shutdown waits for connections to close before exiting anyway.
    pub shutdown_grace: Duration,
    /// How long an HTTP connection may wait for (the rest of) a request head, idle keep-alive
    /// time included, before the server closes it.
    pub idle_timeout: Duration,
    /// How long a topic nobody publishes to, reads or holds is kept before it is forgotten
    /// (with its ring), so topics created by passing requests do not accumulate.
    pub topic_ttl: Duration,
    /// Largest HTTP/1 request head, in bytes (larger ones get 431); at least 8,192, hyper's
    /// floor. It also bounds how much hyper buffers per connection: with hyper's default
    /// (about 400 KiB) an idle stream's read buffer grew to 16 KiB, a third of an SSE
    /// connection's memory.
    pub max_request_head: usize,
    /// Bytes the hub may hold in messages: payloads and every encoding computed from them, in
    /// rings and subscriber queues alike. A publish that would pass it is refused (503, close
    /// 1013, error frame).
    pub max_memory: usize,
    /// Connections that may wait for their first request at once; one more closes the one that
    /// has waited longest (see [`crate::pending`]).
    pub max_pending_connections: usize,
    /// Whether publishes write streamed messages straight into the sockets of subscribers
    /// that keep up (xhr-stream, iframe and SSE served directly, and WebSocket; see
    /// [`crate::direct`]) and answer the long polls held on a connection of polls (see
    /// `http/polls.rs`), or each subscriber's task writes its own.
    pub direct_streams: bool,
}

/// The smallest `max_request_head` hyper accepts.
pub const MIN_REQUEST_HEAD: usize = 8192;

impl Default for Config {
    fn default() -> Self {
        Config {
            ring_size: 1024,
            send_queue: 1024,
            max_message_size: 1024 * 1024,
            max_connections: 100_000,
            max_topics: 100_000,
            long_poll_timeout: Duration::from_secs(30),
            max_long_poll_timeout: Duration::from_secs(120),
            heartbeat: Duration::from_secs(15),
            sse_retry: Duration::from_millis(2000),
            max_padding: 64 * 1024,
            shutdown_grace: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            topic_ttl: Duration::from_secs(600),
            max_request_head: MIN_REQUEST_HEAD,
            max_memory: 1 << 30,
            max_pending_connections: 1024,
            direct_streams: true,
        }
    }
}

impl Config {
    /// Checks the fields against each other; the message names the flag at fault.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("ring-size", self.ring_size),
            ("send-queue", self.send_queue),
            ("max-message-size", self.max_message_size),
            ("max-connections", self.max_connections),
            ("max-topics", self.max_topics),
            ("max-pending-connections", self.max_pending_connections),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("--{name} must be at least 1"));
            }
        }
        if self.max_request_head < MIN_REQUEST_HEAD {
            return Err(format!(
                "--max-request-head must be at least {MIN_REQUEST_HEAD}"
            ));
        }
        if self.topic_ttl.is_zero() {
            return Err("--topic-ttl-ms must be longer than 0".into());
        }
        if self.idle_timeout.is_zero() {
            return Err("--idle-timeout-ms must be longer than 0".into());
        }
        if self.heartbeat.is_zero() {
            return Err("--heartbeat must be longer than 0".into());
        }
        if self.long_poll_timeout > self.max_long_poll_timeout {
            return Err("--long-poll-timeout must not exceed --max-long-poll-timeout".into());
        }
        if self.max_memory < self.max_message_size {
            return Err("--max-memory must be at least --max-message-size".into());
        }
        // The raw TCP length field is a u32 and must hold the largest frame.
        if self.max_message_size > u32::MAX as usize / 2 {
            return Err("--max-message-size must be below 2 GiB".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_limits_are_named() {
        assert_eq!(Config::default().validate(), Ok(()));
        let c = Config {
            ring_size: 0,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("--ring-size"));
        let c = Config {
            long_poll_timeout: Duration::from_secs(500),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("--long-poll-timeout"));
    }
}
