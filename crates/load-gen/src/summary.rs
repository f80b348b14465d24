//! The results model: what `summary.json` holds, how it is computed from a transport's raw
//! measurements, and the comparison table printed at the end of a run.
//!
//! `summary.json` is versioned ([`SCHEMA`]); every figure is per transport, with units in the
//! field names (`_us`, `_bytes`, `_s`, `_per_s`). Latency percentiles come from the HDR
//! histograms of the measured window; the `.hlog` files beside it hold the same data per second.

use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::client::publish::PublishReport;
use crate::client::ClientReport;
use crate::metrics::ByteCounts;
use crate::net::KernelBytes;
use crate::seqtrack::SeqCounts;
use crate::setup::Setup;

/// Identifies the layout of `summary.json`. Bumped on any incompatible change.
pub const SCHEMA: &str = "pushbench-summary/1";

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// [`SCHEMA`].
    pub schema: String,
    /// Scenario name (file stem).
    pub scenario: String,
    /// The scenario's description.
    pub description: String,
    /// When the run started, UTC, RFC 3339.
    pub started_utc: String,
    /// Machine and versions.
    pub setup: Setup,
    /// Whether every transport ran to the end (false after Ctrl-C or an error).
    pub complete: bool,
    /// Run-wide warnings; per-transport ones are in each result too.
    pub warnings: Vec<String>,
    /// One entry per transport, in the order they ran.
    pub transports: Vec<TransportResult>,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

impl Percentiles {
    /// Reads a histogram (recorded in µs).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// Server cost, sampled from `/proc`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerCost {
    /// CPU seconds (user + system) from the first publish to the end of the drain.
    pub cpu_s: f64,
    /// CPU milliseconds per 1,000 delivered messages.
    pub cpu_ms_per_1000_msgs: f64,
    /// RSS before any client connected.
    pub rss_idle_bytes: u64,
    /// RSS once every client had subscribed.
    pub rss_connected_bytes: u64,
    /// Largest RSS seen during the run (sampled once a second).
    pub rss_peak_bytes: u64,
    /// (connected − idle) / clients connected, for transports that hold a connection while
    /// idle. `None` for polling, whose clients hold no connection before the first poll.
    pub rss_per_connection_bytes: Option<f64>,
}

/// The generator's own cost.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct GeneratorCost {
    /// CPU seconds over the same span as the server's.
    pub cpu_s: f64,
    /// `cpu_s` divided by the span's wall time: 1.0 is one core fully busy.
    pub cores_used: f64,
    /// CPU milliseconds per 1,000 delivered messages.
    pub cpu_ms_per_1000_msgs: f64,
    /// load-gen's RSS at the end of the transport's run: it should not grow with run length.
    pub rss_end_bytes: u64,
}

/// Message accounting.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Messages {
    /// Messages the server accepted from publishers.
    pub published: u64,
    /// Deliveries expected: every subscriber of a topic gets every message published to it.
    pub expected: u64,
    /// Subscriber-side counts summed over subscribers.
    #[serde(flatten)]
    pub seq: SeqCounts,
    /// Messages that did not reach every subscriber of their topic (no fan-out latency).
    pub fanout_incomplete: u64,
}

/// Everything measured for one transport.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransportResult {
    /// Transport name.
    pub transport: String,
    /// `complete`, `partial` (interrupted) or `failed`.
    pub status: String,
    /// Why it failed or was cut short.
    pub error: Option<String>,
    /// Subscribers asked for.
    pub clients: usize,
    /// Subscribers that subscribed before the schedule started.
    pub clients_ready: usize,
    /// Topics.
    pub topics: usize,
    /// Length of the measured window.
    pub measured_s: f64,
    /// Intended publish time → decoded at a subscriber.
    pub latency: Percentiles,
    /// Actual send time → decoded at a subscriber (what a closed-loop tool would report).
    pub actual_send_latency: Percentiles,
    /// Intended publish time → the last subscriber of the topic has it.
    pub fanout_latency: Percentiles,
    /// How late publishers sent, relative to the schedule.
    pub publish_lag: Percentiles,
    /// Deliveries in the measured window per second.
    pub throughput_msgs_per_s: f64,
    /// Message accounting.
    pub messages: Messages,
    /// Subscriber traffic by phase (in bidirectional workloads, their own publishing too).
    pub bytes: ByteCounts,
    /// `bytes` divided by delivered messages.
    pub bytes_per_message: BytesPerMessage,
    /// (wire bytes − payload bytes) / payload bytes, both directions of subscriber traffic.
    pub overhead_ratio: f64,
    /// The kernel's `TCP_INFO` totals over the same sockets, to cross-check `bytes`.
    pub kernel: KernelBytes,
    /// `bytes` totals minus the kernel's, up and down: 0 when user-space counting is exact.
    pub kernel_difference: [i64; 2],
    /// Push workloads' publishers (`POST /publish`), counted apart: the same for every transport.
    pub publisher: PublishReport,
    /// HTTP requests subscribers sent.
    pub requests: u64,
    /// `requests` per delivered message.
    pub requests_per_message: f64,
    /// Polls answered with nothing.
    pub empty_polls: u64,
    /// Subscriber TCP connections opened (reconnects and per-poll connections included).
    pub connections_opened: u64,
    /// Subscriber sessions that ended in an error (each followed by a reconnect).
    pub client_errors: u64,
    /// One of the errors, for diagnosis.
    pub last_client_error: Option<String>,
    /// What serving cost.
    pub server: ServerCost,
    /// What generating cost.
    pub generator: GeneratorCost,
    /// The generator fell behind its schedule or was close to a full core: figures may describe
    /// the generator more than the server.
    pub generator_bound: bool,
    /// Everything a reader should not miss.
    pub warnings: Vec<String>,
}

/// Bytes per delivered message, by phase, both directions together.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct BytesPerMessage {
    /// All bytes, up and down.
    pub total: f64,
    /// Up (client → server).
    pub up: f64,
    /// Down (server → client).
    pub down: f64,
    /// The application message.
    pub payload: f64,
    /// Frame and body framing.
    pub framing: f64,
    /// Per-request HTTP heads.
    pub headers: f64,
    /// Connection setup.
    pub setup: f64,
}

impl BytesPerMessage {
    /// `b` divided by `messages` (0 when nothing was delivered).
    pub fn of(b: &ByteCounts, messages: u64) -> Self {
        let per = |x: u64| {
            if messages == 0 {
                0.0
            } else {
                x as f64 / messages as f64
            }
        };
        BytesPerMessage {
            total: per(b.up() + b.down()),
            up: per(b.up()),
            down: per(b.down()),
            payload: per(b.payload_up + b.payload_down),
            framing: per(b.framing_up + b.framing_down),
            headers: per(b.headers_up + b.headers_down),
            setup: per(b.setup_up + b.setup_down),
        }
    }
}

/// Sums subscriber reports.
pub fn sum_clients<'a>(reports: impl IntoIterator<Item = &'a ClientReport>) -> ClientReport {
    let mut total = ClientReport::default();
    for r in reports {
        total.bytes += r.bytes;
        total.kernel += r.kernel;
        total.requests += r.requests;
        total.empty_polls += r.empty_polls;
        total.connections += r.connections;
        total.published += r.published;
        total.errors += r.errors;
        if r.last_error.is_some() {
            total.last_error.clone_from(&r.last_error);
        }
    }
    total
}

/// Sums publisher reports.
pub fn sum_publishers<'a>(reports: impl IntoIterator<Item = &'a PublishReport>) -> PublishReport {
    let mut total = PublishReport::default();
    for r in reports {
        total.bytes += r.bytes;
        total.kernel += r.kernel;
        total.published += r.published;
        total.requests += r.requests;
        total.connections += r.connections;
        total.errors += r.errors;
        if r.last_error.is_some() {
            total.last_error.clone_from(&r.last_error);
        }
    }
    total
}

/// Writes `summary.json`.
pub fn write(summary: &Summary, dir: &Path) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(summary).expect("summary serialises");
    std::fs::write(dir.join("summary.json"), json)
}

fn ms(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0}", us as f64 / 1000.0)
    } else {
        format!("{:.2}", us as f64 / 1000.0)
    }
}

fn bytes(n: f64) -> String {
    if n >= 10_240.0 {
        format!("{:.0}K", n / 1024.0)
    } else {
        format!("{n:.0}")
    }
}

/// The comparison table printed at the end of a run.
pub fn table(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<11} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9}  notes",
        "transport",
        "p50 ms",
        "p99 ms",
        "p99.9",
        "max ms",
        "msg/s",
        "lost",
        "dup+ro",
        "B/msg",
        "req/msg",
        "srv ms/1k",
        "RSS/conn"
    );
    for t in &summary.transports {
        let mut notes = Vec::new();
        if t.status != "complete" {
            notes.push(t.status.clone());
        }
        if t.generator_bound {
            notes.push("GENERATOR-BOUND".into());
        }
        if t.messages.seq.lost + t.messages.seq.gap_notified > 0 {
            notes.push("LOSS".into());
        }
        let _ =
            writeln!(
            out,
            "{:<11} {:>8} {:>8} {:>8} {:>8} {:>9.0} {:>7} {:>7} {:>8} {:>8.2} {:>9.1} {:>9}  {}",
            t.transport,
            ms(t.latency.p50_us),
            ms(t.latency.p99_us),
            ms(t.latency.p999_us),
            ms(t.latency.max_us),
            t.throughput_msgs_per_s,
            t.messages.seq.lost + t.messages.seq.gap_notified,
            t.messages.seq.duplicated + t.messages.seq.reordered,
            bytes(t.bytes_per_message.total),
            t.requests_per_message,
            t.server.cpu_ms_per_1000_msgs,
            t.server.rss_per_connection_bytes.map_or_else(|| "-".into(), bytes),
            notes.join(" ")
        );
    }
    let warnings: Vec<&String> = summary
        .warnings
        .iter()
        .chain(summary.transports.iter().flat_map(|t| &t.warnings))
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nWARNINGS:");
        for w in warnings {
            let _ = writeln!(out, "  ! {w}");
        }
    }
    out
}
