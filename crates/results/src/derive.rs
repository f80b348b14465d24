//! Every figure of a [`TransportResult`] that is computed from its counters, in one place:
//! load-gen calls [`figures`] once it has filled in a transport's counters, and
//! [`crate::merge`] calls it again after summing several results' counters, so a merged figure is
//! recomputed from sums, never averaged.
//!
//! What stays outside: latency percentiles (read from histograms, [`crate::model::Percentiles`]),
//! and a merge's throughput, which depends on which folders ran at the same time (see
//! [`crate::merge`]).

use crate::model::{ByteCounts, BytesPerMessage, KernelBytes, TransportResult};

/// `x / n`, or 0 when `n` is 0 (nothing delivered: no per-message figure).
pub fn per(x: f64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        x / n as f64
    }
}

/// (wire bytes − payload bytes) / payload bytes, both directions; 0 without payload.
pub fn overhead_ratio(b: &ByteCounts) -> f64 {
    let payload = b.payload_up + b.payload_down;
    per((b.up() + b.down() - payload) as f64, payload)
}

/// CPU milliseconds per 1,000 delivered messages from CPU seconds.
pub fn cpu_ms_per_1000(cpu_s: f64, delivered: u64) -> f64 {
    per(cpu_s * 1e6, delivered)
}

/// User-space byte totals minus the kernel's, up and down: 0 when counting is exact.
pub fn kernel_difference(b: &ByteCounts, k: &KernelBytes) -> [i64; 2] {
    [
        b.up() as i64 - k.bytes_sent as i64,
        b.down() as i64 - k.bytes_received as i64,
    ]
}

/// Fills every figure of `t` that its counters determine: bytes per message, overhead ratio,
/// kernel difference, requests per message, CPU per 1,000 messages (server and generator) and
/// throughput over the measured window.
pub fn figures(t: &mut TransportResult) {
    let delivered = t.messages.seq.delivered;
    t.bytes_per_message = BytesPerMessage::of(&t.bytes, delivered);
    t.overhead_ratio = overhead_ratio(&t.bytes);
    t.kernel_difference = kernel_difference(&t.bytes, &t.kernel);
    t.requests_per_message = per(t.requests as f64, delivered);
    t.server.cpu_ms_per_1000_msgs = cpu_ms_per_1000(t.server.cpu_s, delivered);
    t.generator.cpu_ms_per_1000_msgs = cpu_ms_per_1000(t.generator.cpu_s, delivered);
    if let Some(p) = &mut t.proxy {
        p.cpu_ms_per_1000_msgs = cpu_ms_per_1000(p.cpu_s, delivered);
    }
    t.throughput_msgs_per_s = if t.measured_s > 0.0 {
        t.measured_deliveries as f64 / t.measured_s
    } else {
        0.0
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_from_counters() {
        let mut t = TransportResult {
            measured_s: 2.0,
            measured_deliveries: 300,
            requests: 50,
            ..Default::default()
        };
        t.messages.seq.delivered = 100;
        t.bytes = ByteCounts {
            setup_up: 100,
            headers_down: 200,
            framing_down: 100,
            payload_down: 1000,
            ..Default::default()
        };
        t.kernel = KernelBytes {
            bytes_sent: 100,
            bytes_received: 1290,
            ..Default::default()
        };
        t.server.cpu_s = 0.5;
        figures(&mut t);
        assert_eq!(t.bytes_per_message.total, 14.0);
        assert_eq!(t.bytes_per_message.payload, 10.0);
        assert_eq!(t.overhead_ratio, 0.4);
        assert_eq!(t.kernel_difference, [0, 10]);
        assert_eq!(t.requests_per_message, 0.5);
        assert_eq!(t.server.cpu_ms_per_1000_msgs, 5000.0);
        assert_eq!(t.throughput_msgs_per_s, 150.0);
    }

    #[test]
    fn nothing_delivered_gives_zeros_not_infinities() {
        let mut t = TransportResult::default();
        t.server.cpu_s = 1.0;
        t.requests = 10;
        figures(&mut t);
        assert_eq!(t.requests_per_message, 0.0);
        assert_eq!(t.server.cpu_ms_per_1000_msgs, 0.0);
        assert_eq!(t.overhead_ratio, 0.0);
        assert_eq!(t.throughput_msgs_per_s, 0.0);
    }
}
