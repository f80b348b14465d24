//! The results model: what `summary.json` holds. load-gen fills in the counters; [`crate::derive`]
//! computes every figure made from them; the report reads the whole back (and merges several), so
//! every side shares these types rather than copies of them.
//!
//! Every figure is per transport, with units in the field names (`_us`, `_bytes`, `_s`,
//! `_per_s`). Latency percentiles come from the HDR histograms of the measured window; the
//! `.hlog` files beside `summary.json` hold the same data per second.

use std::ops::AddAssign;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Identifies the layout of `summary.json`. Bumped on any incompatible change.
pub const SCHEMA: &str = "pushbench-summary/1";

/// A whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// `K/N` when this is one shard of a run (`--shard`); absent for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Run-wide warnings; per-transport ones are in each result too.
    pub warnings: Vec<String>,
    /// One entry per transport, in the order they ran; with `repeat = N`, each the
    /// [`crate::repeats::aggregate`] of its repeats.
    pub transports: Vec<TransportResult>,
    /// With `repeat = N` (N ≥ 2): every run of every transport, in the order they ran, each
    /// with its `repeat` number. Absent for a single run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<TransportResult>,
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
    /// No samples.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

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
    /// `cpu_s` divided by the span's wall time: 1.0 is one core fully busy (0 in folders from
    /// before it was recorded).
    #[serde(default)]
    pub cores_used: f64,
}

/// A reverse proxy's cost, sampled from `/proc` over the same span as the server's, and what it
/// did to the transport.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProxyCost {
    /// Which proxy configuration: `nginx` (nginx's defaults) or `nginx-tuned`.
    pub via: String,
    /// CPU seconds (user + system).
    pub cpu_s: f64,
    /// CPU milliseconds per 1,000 delivered messages.
    pub cpu_ms_per_1000_msgs: f64,
    /// `cpu_s` divided by the span's wall time.
    pub cores_used: f64,
    /// RSS once every client had subscribed.
    pub rss_connected_bytes: u64,
    /// What the proxy broke, named by the nginx setting responsible (`BROKEN UPGRADE`,
    /// `BUFFERED`, `HOP-BY-HOP HEADER DROPPED`, `IDLE DISCONNECTS`, `FELL BEHIND`); `None` where
    /// no setting explains a failure or it delivered as the server did.
    pub broken: Option<String>,
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
    /// What connecting added to load-gen's RSS, per client connected (its RSS once every
    /// client was ready, less its RSS before the first was spawned), for transports that hold
    /// a connection. Memory freed by an earlier transport's run and reused makes it lower.
    #[serde(default)]
    pub rss_per_connection_bytes: Option<f64>,
    /// Threads load-gen ran its clients on (`--threads`); 0 in results from before the flag.
    #[serde(default)]
    pub threads: u32,
}

/// Message accounting.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Messages {
    /// Messages the server accepted from publishers.
    pub published: u64,
    /// Deliveries expected: every subscriber of a topic gets every message scheduled for it
    /// (in folders written before publish failures counted: every message published to it).
    pub expected: u64,
    /// Subscriber-side counts summed over subscribers.
    #[serde(flatten)]
    pub seq: SeqCounts,
    /// Messages that did not reach every subscriber of their topic (no fan-out latency).
    pub fanout_incomplete: u64,
    /// Scheduled messages not yet published when the drain ended (a publisher failed, fell
    /// behind or was stopped): a publish-side failure, left out of `published` and `expected`
    /// and so never counted as a transport's loss.
    #[serde(default)]
    pub unpublished: u64,
    /// Scheduled messages the server never accepted: the publish failed, or had not completed
    /// when the drain ended. Loss is counted over the schedule: each one's deliveries are in
    /// `expected` and in `lost`, so a server that fails cannot look lossless.
    #[serde(default)]
    pub publish_failed: u64,
}

/// Everything measured for one transport.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TransportResult {
    /// Transport name.
    pub transport: String,
    /// Whether it ran to the end.
    pub status: Status,
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
    /// Warm-up before it, excluded from every figure but the interval logs. `None` only in
    /// folders written before the field existed (see [`crate::folder::load`]).
    #[serde(default)]
    pub warmup_s: Option<f64>,
    /// Deliveries of messages whose intended send time fell in the measured window: the count
    /// behind `latency` and `throughput_msgs_per_s`.
    #[serde(default)]
    pub measured_deliveries: u64,
    /// Intended publish time → decoded at a subscriber.
    pub latency: Percentiles,
    /// Actual send time → decoded at a subscriber (what a closed-loop tool would report).
    pub actual_send_latency: Percentiles,
    /// Intended publish time → the last subscriber of the topic has it.
    pub fanout_latency: Percentiles,
    /// How late publishers sent, relative to the schedule.
    pub publish_lag: Percentiles,
    /// Intended publish time → decoded, for the messages published while their subscriber was
    /// away (its connection had ended and it had not subscribed again): what a reconnect with
    /// resume delivers late. Left out when no subscriber reconnected.
    #[serde(default, skip_serializing_if = "Percentiles::is_empty")]
    pub replay_latency: Percentiles,
    /// A subscriber's connection ended (a drop, an error) → it was subscribed again. Left out
    /// when no subscriber reconnected.
    #[serde(default, skip_serializing_if = "Percentiles::is_empty")]
    pub reconnect_time: Percentiles,
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
    pub publisher: Traffic,
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
    /// Subscriber connections the scenario's drop fault closed (each followed by a reconnect
    /// that resumes). Left out when the scenario drops nothing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connections_dropped: u64,
    /// Subscriber connections given up after nothing came for the heartbeat timeout (each
    /// followed by a reconnect that resumes). Left out when there was none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heartbeat_timeouts: u64,
    /// One of the errors, for diagnosis.
    pub last_client_error: Option<String>,
    /// What the scenario's restart fault did. Left out when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    /// With faults: subscribers subscribed and messages delivered over the run, every
    /// [`TIMELINE_STEP_S`]. Left out of runs without faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelinePoint>,
    /// What the emulated link did (the scenario's `network`). Left out on loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkResult>,
    /// How the transport came through a cut of the link (`faults.outage`). Left out without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<OutageResult>,
    /// What serving cost.
    pub server: ServerCost,
    /// What generating cost.
    pub generator: GeneratorCost,
    /// The reverse proxy the subscribers went through (`load-gen run --via`), what it cost and
    /// what it broke. `None` for a direct run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyCost>,
    /// load-gen kept its cores nearly busy: figures may describe the generator more than the
    /// server. (Before saturation was attributed, also set when publishers fell behind.)
    pub generator_bound: bool,
    /// push-server kept its cores nearly busy: latency includes its queueing.
    #[serde(default)]
    pub server_bound: bool,
    /// Publishers fell behind their schedule while neither process was busy: the publish path
    /// itself was slow.
    #[serde(default)]
    pub publish_path_slow: bool,
    /// Everything a reader should not miss.
    pub warnings: Vec<String>,
    /// In [`Summary::runs`]: which repeat this is, from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<usize>,
    /// What the subscribers' TLS connections settled on; absent without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    /// What TLS added to the subscribers' connections; absent without TLS.
    #[serde(default, skip_serializing_if = "TlsTraffic::is_empty")]
    pub tls_traffic: TlsTraffic,
    /// What HTTP/2's frames were on the subscribers' connections; absent without HTTP/2.
    #[serde(default, skip_serializing_if = "H2Traffic::is_empty")]
    pub h2_traffic: H2Traffic,
    /// In [`Summary::transports`] with `repeat = N`: medians and intervals over the repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<Repeats>,
}

/// A figure over repeated runs: its median and a confidence interval for the median.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The median over the runs.
    pub median: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
}

impl Spread {
    /// Whether the two intervals share any value: if they do, the difference between the two
    /// medians is within the noise.
    pub fn overlaps(&self, o: &Spread) -> bool {
        self.low <= o.high && o.low <= self.high
    }
}

/// One transport's repeats summarised: each figure's median over the runs with a confidence
/// interval from order statistics (see [`crate::repeats`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Repeats {
    /// How many runs.
    pub runs: usize,
    /// The confidence the intervals reach with this many runs: 0.95 from 6 runs on; fewer runs
    /// cannot reach 95% (5 give 0.9375, the whole range), and say so here.
    pub confidence: f64,
    /// Latency p50.
    pub p50_us: Spread,
    /// Latency p99.
    pub p99_us: Spread,
    /// Latency p99.9.
    pub p999_us: Spread,
    /// Throughput.
    pub throughput_msgs_per_s: Spread,
    /// Wire bytes per delivered message.
    pub bytes_per_message: Spread,
    /// Server CPU per 1,000 messages.
    pub cpu_ms_per_1000_msgs: Spread,
}

/// How far a transport's run got. Written as `"complete"`, `"partial"` or `"failed"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ran to the end of its drain.
    Complete,
    /// Cut short (Ctrl-C): the figures cover what ran.
    Partial,
    /// Did not run (the server did not start, connecting failed): no figures. The default, so
    /// a result that nothing was measured into says so.
    #[default]
    Failed,
}

impl Status {
    /// Whether the transport ran at all, so its figures mean something.
    pub fn ran(self) -> bool {
        self != Status::Failed
    }

    /// The status of several runs of one transport merged: theirs when they agree, else partial.
    pub fn merged(statuses: impl IntoIterator<Item = Status>) -> Status {
        let mut it = statuses.into_iter();
        let first = it.next().unwrap_or_default();
        if it.all(|s| s == first) {
            first
        } else {
            Status::Partial
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Complete => "complete",
            Status::Partial => "partial",
            Status::Failed => "failed",
        })
    }
}

impl TransportResult {
    /// A transport that did not run: nothing measured, `error` saying why.
    pub fn failed(
        transport: &str,
        clients: usize,
        topics: usize,
        warmup_s: f64,
        error: String,
    ) -> Self {
        TransportResult {
            transport: transport.into(),
            status: Status::Failed,
            warnings: vec![format!("{transport} failed: {error}")],
            error: Some(error),
            clients,
            topics,
            warmup_s: Some(warmup_s),
            ..Default::default()
        }
    }
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
    /// HTTP/2 connection management (SETTINGS, WINDOW_UPDATE, PING and the like).
    #[serde(default)]
    pub control: f64,
}

impl BytesPerMessage {
    /// `b` divided by `messages` (0 when nothing was delivered).
    pub fn of(b: &ByteCounts, messages: u64) -> Self {
        let per = |x: u64| crate::derive::per(x as f64, messages);
        BytesPerMessage {
            total: per(b.up() + b.down()),
            up: per(b.up()),
            down: per(b.down()),
            payload: per(b.payload_up + b.payload_down),
            framing: per(b.framing_up + b.framing_down),
            headers: per(b.headers_up + b.headers_down),
            setup: per(b.setup_up + b.setup_down),
            control: per(b.control_up + b.control_down),
        }
    }
}

/// Wire bytes by phase and direction. `up` is client → server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteCounts {
    /// Bytes that set a connection up before messages can flow: WebSocket upgrade, raw TCP
    /// subscribe, the request and response heads of a long-lived stream.
    pub setup_up: u64,
    /// See `setup_up`.
    pub setup_down: u64,
    /// Request heads sent per poll or per upstream publish.
    pub headers_up: u64,
    /// Response heads received per poll or per upstream publish.
    pub headers_down: u64,
    /// Everything around the payload: chunk sizes, SSE fields, script wrappers, WebSocket frame
    /// headers and masks, length prefixes, JSON brackets, heartbeats, gap notices, pings.
    pub framing_up: u64,
    /// See `framing_up`.
    pub framing_down: u64,
    /// The application message itself: envelopes received, payloads published.
    pub payload_up: u64,
    /// See `payload_up`.
    pub payload_down: u64,
    /// HTTP/2's connection management: the client preface and the SETTINGS, WINDOW_UPDATE,
    /// PING, RST_STREAM, GOAWAY and PRIORITY frames (zero over HTTP/1.1, which has none).
    #[serde(default)]
    pub control_up: u64,
    /// See `control_up`.
    #[serde(default)]
    pub control_down: u64,
}

impl ByteCounts {
    /// All bytes client → server.
    pub fn up(&self) -> u64 {
        self.setup_up + self.headers_up + self.framing_up + self.payload_up + self.control_up
    }

    /// All bytes server → client.
    pub fn down(&self) -> u64 {
        self.setup_down
            + self.headers_down
            + self.framing_down
            + self.payload_down
            + self.control_down
    }

    /// Fills the framing fields as whatever the socket moved that no other phase claims.
    pub fn framing_from_totals(&mut self, up_total: u64, down_total: u64) {
        self.framing_up = up_total
            .saturating_sub(self.setup_up + self.headers_up + self.payload_up + self.control_up);
        self.framing_down = down_total.saturating_sub(
            self.setup_down + self.headers_down + self.payload_down + self.control_down,
        );
    }
}

impl AddAssign for ByteCounts {
    fn add_assign(&mut self, o: ByteCounts) {
        self.setup_up += o.setup_up;
        self.setup_down += o.setup_down;
        self.headers_up += o.headers_up;
        self.headers_down += o.headers_down;
        self.framing_up += o.framing_up;
        self.framing_down += o.framing_down;
        self.payload_up += o.payload_up;
        self.payload_down += o.payload_down;
        self.control_up += o.control_up;
        self.control_down += o.control_down;
    }
}

/// What the kernel says a socket moved: TCP payload bytes (no TCP/IP headers) and segments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelBytes {
    /// `tcpi_bytes_sent − tcpi_bytes_retrans`: bytes handed to the network once each, whether
    /// or not acknowledged yet (so a request still in flight at close is counted, as user space
    /// counts it).
    pub bytes_sent: u64,
    /// `tcpi_bytes_received`: bytes received, less a FIN and any bytes not read yet.
    pub bytes_received: u64,
    /// `tcpi_segs_out`: segments sent, handshake and pure ACKs included.
    pub segs_out: u64,
    /// `tcpi_segs_in`: segments received.
    pub segs_in: u64,
    /// `tcpi_total_retrans`: segments retransmitted. Left out of `summary.json` when none were
    /// (on loopback, always).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retransmits: u64,
}

impl std::ops::AddAssign for KernelBytes {
    fn add_assign(&mut self, o: KernelBytes) {
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.segs_out += o.segs_out;
        self.segs_in += o.segs_in;
        self.retransmits += o.retransmits;
    }
}

/// Counts for one subscriber, or summed over many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqCounts {
    /// Distinct messages received.
    pub delivered: u64,
    /// Expected messages that never arrived and no gap notice covered.
    pub lost: u64,
    /// Messages the server announced as gone with a gap notice.
    pub gap_notified: u64,
    /// Messages received more than once (the extra copies).
    pub duplicated: u64,
    /// Messages that arrived after a higher sequence number.
    pub reordered: u64,
}

impl SeqCounts {
    /// Adds another subscriber's counts.
    pub fn add(&mut self, o: &SeqCounts) {
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.gap_notified += o.gap_notified;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
    }
}

/// What a client's sockets carried and how its requests went: one subscriber, one publisher, or
/// many summed. Subscribers, upstream publishers and push publishers keep the same counters, so
/// one type adds them all up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Wire bytes by phase. For a publisher: request heads, payloads, response heads; the
    /// answers' bodies count as framing.
    pub bytes: ByteCounts,
    /// The kernel's view of the same sockets.
    pub kernel: KernelBytes,
    /// Messages published (accepted by the server, or sent upstream on a socket).
    pub published: u64,
    /// HTTP requests sent (polls, stream and upgrade requests, publishes; a raw TCP subscribe).
    pub requests: u64,
    /// Polls answered with nothing. Only subscribers poll, so a publisher's entry in
    /// `summary.json` leaves the key out rather than carrying a zero that means nothing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub empty_polls: u64,
    /// TCP connections opened.
    pub connections: u64,
    /// Sessions or publishes that ended in an error.
    pub errors: u64,
    /// Connections the scenario's drop fault closed (each then reconnected, not counted as an
    /// error). Left out of `summary.json` when there was no drop.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drops: u64,
    /// Sessions and connection attempts that failed because the scenario's restart fault
    /// stopped the server (its connections ended; refused until it listened again), counted
    /// apart from errors. Left out of `summary.json` when there was none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restart_failures: u64,
    /// Resumes a restarted server could not honour (it answered 409, or raw TCP's error frame):
    /// the client counted what it missed as lost and subscribed afresh. Left out of
    /// `summary.json` when there was none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub forgotten: u64,
    /// Connections the client gave up on after nothing came for its heartbeat timeout (the
    /// scenario's `reconnect.heartbeat_timeout`), each then replaced, not counted as an error.
    /// Left out of `summary.json` when there was none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heartbeat_timeouts: u64,
    /// What TLS added on these connections; left out without TLS.
    #[serde(default, skip_serializing_if = "TlsTraffic::is_empty")]
    pub tls: TlsTraffic,
    /// What HTTP/2's frames were on these connections; left out without HTTP/2.
    #[serde(default, skip_serializing_if = "H2Traffic::is_empty")]
    pub h2: H2Traffic,
    /// The last error, for diagnosis.
    pub last_error: Option<String>,
}

/// What TLS added to a set of connections, counted in their ciphertext: its handshakes' bytes
/// (counted as setup) and the records that carried everything after them, each adding its
/// header and tag (counted as framing: 22 bytes a record in TLS 1.3).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TlsTraffic {
    /// Handshakes completed (one a connection).
    pub handshakes: u64,
    /// Handshake bytes, client to server.
    pub handshake_up: u64,
    /// Handshake bytes, server to client.
    pub handshake_down: u64,
    /// Records after the handshakes, client to server.
    pub records_up: u64,
    /// Records after the handshakes, server to client.
    pub records_down: u64,
    /// close_notify alerts sent, each closing a connection (HTTP/2's client sends one): a
    /// record of 2 bytes of alert, counted as framing.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub close_notify_up: u64,
    /// close_notify alerts received.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub close_notify_down: u64,
}

impl TlsTraffic {
    /// Nothing went over TLS.
    pub fn is_empty(&self) -> bool {
        *self == TlsTraffic::default()
    }
}

impl AddAssign for TlsTraffic {
    fn add_assign(&mut self, o: TlsTraffic) {
        self.handshakes += o.handshakes;
        self.handshake_up += o.handshake_up;
        self.handshake_down += o.handshake_down;
        self.records_up += o.records_up;
        self.records_down += o.records_down;
        self.close_notify_up += o.close_notify_up;
        self.close_notify_down += o.close_notify_down;
    }
}

/// HTTP/2 frames on a set of connections, for reading the bytes by phase against the
/// protocol: a DATA frame adds 9 bytes of framing, and HPACK shrinks request heads after the
/// first on a connection.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct H2Traffic {
    /// DATA frames, server to client.
    pub data_frames_down: u64,
    /// DATA frames, client to server: a WebSocket's frames (RFC 8441), a request's body.
    #[serde(default)]
    pub data_frames_up: u64,
    /// HEADERS frames, client to server: one per request.
    pub headers_frames_up: u64,
    /// Bytes of those request heads (HEADERS and CONTINUATION frames, 9-byte headers
    /// included).
    pub headers_up: u64,
}

impl H2Traffic {
    /// Nothing went over HTTP/2.
    pub fn is_empty(&self) -> bool {
        *self == H2Traffic::default()
    }
}

impl AddAssign for H2Traffic {
    fn add_assign(&mut self, o: H2Traffic) {
        self.data_frames_down += o.data_frames_down;
        self.data_frames_up += o.data_frames_up;
        self.headers_frames_up += o.headers_frames_up;
        self.headers_up += o.headers_up;
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl AddAssign<&Traffic> for Traffic {
    /// Sums another client's traffic into this one (the last error seen wins).
    fn add_assign(&mut self, o: &Traffic) {
        self.bytes += o.bytes;
        self.kernel += o.kernel;
        self.published += o.published;
        self.requests += o.requests;
        self.empty_polls += o.empty_polls;
        self.connections += o.connections;
        self.errors += o.errors;
        self.drops += o.drops;
        self.restart_failures += o.restart_failures;
        self.forgotten += o.forgotten;
        self.heartbeat_timeouts += o.heartbeat_timeouts;
        self.tls += o.tls;
        self.h2 += o.h2;
        if o.last_error.is_some() {
            self.last_error.clone_from(&o.last_error);
        }
    }
}

impl<'a> std::iter::Sum<&'a Traffic> for Traffic {
    fn sum<I: Iterator<Item = &'a Traffic>>(iter: I) -> Self {
        iter.fold(Traffic::default(), |mut total, r| {
            total += r;
            total
        })
    }
}

/// What the emulated link (the scenario's `network`) did during one transport's run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LinkResult {
    /// The link's name (the scenario's profile or `name`); `<transport>~<name>` names the
    /// result when the scenario ran over several.
    #[serde(default)]
    pub network: String,
    /// The round trip it added, ms.
    #[serde(default)]
    pub rtt_ms: f64,
    /// Server to clients, bit/s; none for unlimited.
    #[serde(default)]
    pub down_bps: Option<u64>,
    /// Clients to server, bit/s; none for unlimited.
    #[serde(default)]
    pub up_bps: Option<u64>,
    /// The probability of losing a packet, each direction.
    #[serde(default)]
    pub loss: f64,
    /// Server to clients.
    pub down: LinkDirection,
    /// Clients to server.
    pub up: LinkDirection,
    /// CPU seconds the link's two threads used.
    pub cpu_s: f64,
    /// Packets carried (both ways) per CPU-second of those threads.
    pub packets_per_cpu_s: f64,
    /// Packets left more than 1 ms after their due time at p99 in a direction: the emulator fell
    /// behind its own schedule, and the figures include its delay.
    pub link_bound: bool,
    /// With `--capture`: packets the kernel dropped before tcpdump read them, so the capture
    /// lacks them (the run's own figures do not). Left out when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub capture_dropped: u64,
}

/// One direction of the link.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LinkDirection {
    /// Packets carried.
    pub packets: u64,
    /// Their bytes, IP headers included.
    pub bytes: u64,
    /// Packets the link's random loss took.
    pub lost: u64,
    /// Packets its full queue dropped.
    pub queue_drops: u64,
    /// Packets dropped while the link was cut (the scenario's outage).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cut_drops: u64,
    /// How late packets left against their schedule: p99 and the worst, in µs.
    pub late_p99_us: u64,
    /// See `late_p99_us`.
    pub late_max_us: u64,
}

/// A cut of the emulated link during the run (`faults.outage`) and how each transport came
/// through it. Times after the link's return are from its return.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OutageResult {
    /// When the link was cut, seconds since the schedule started (warm-up included).
    pub at_s: f64,
    /// For how long, seconds.
    pub for_s: f64,
    /// Return → the first message any subscriber decoded, ms; absent if none came.
    pub first_delivery_ms: Option<f64>,
    /// Return → the last delivery of a message meant to be published during the outage, ms:
    /// when subscribers had caught up. Absent if none of those was delivered.
    pub caught_up_ms: Option<f64>,
}

/// The spacing of [`TransportResult::timeline`]'s points, in seconds.
pub const TIMELINE_STEP_S: f64 = 0.1;

/// One point of a run's timeline.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct TimelinePoint {
    /// Seconds since the schedule started (warm-up included).
    pub t_s: f64,
    /// The fewest subscribers subscribed at any moment since the point before (a poller between
    /// polls counts as subscribed).
    pub subscribed: u64,
    /// Messages delivered to subscribers so far (each subscriber's copy counts).
    pub delivered: u64,
}

/// A restart of the server during the run (`faults.restart`) and the subscribers' way back.
/// Times are from the signal, which every client feels as the outage's start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Restart {
    /// When the server was signalled, seconds since the schedule started (warm-up included).
    pub at_s: f64,
    /// `"term"` (SIGTERM, graceful) or `"kill"` (SIGKILL).
    pub how: String,
    /// Whether the old process exited cleanly on SIGTERM (a kill never does).
    pub clean_exit: bool,
    /// Signal → the old process had exited, ms (its graceful shutdown, for `term`).
    pub stop_ms: f64,
    /// Signal → the new process listened on the same ports, ms.
    pub down_ms: f64,
    /// Subscribers connected when the schedule started: every one of them was cut off.
    pub clients: u64,
    /// Of those, how many subscribed to the new process by the end of the run.
    pub back: u64,
    /// Of those, how many never did.
    pub never_back: u64,
    /// Signal → 99% of `clients` were subscribed again, ms; absent if that never happened.
    pub back_99_ms: Option<f64>,
    /// Signal → all of them were, ms; absent if some never came back.
    pub back_all_ms: Option<f64>,
    /// Connections the new process accepted from subscribers until the end of the run
    /// (resubscribes after a refused resume included).
    pub connections: u64,
    /// The most of those in any 100 ms window, per second: the reconnect storm's peak.
    pub peak_accept_per_s: f64,
    /// The new process's highest CPU use over 100 ms windows from its start until every client
    /// was back (or the schedule ended), in cores.
    pub peak_cpu: f64,
    /// Subscriber sessions and connection attempts the restart failed (connections it ended,
    /// attempts refused while the server was down), counted apart from errors.
    pub interrupted: u64,
    /// Resumes the new process could not honour (409, or raw TCP's error frame): the client
    /// counted what it had missed as lost and subscribed afresh.
    pub forgotten: u64,
}

/// Where and with what a run happened (also written alone as `setup.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Setup {
    /// Host name.
    pub hostname: String,
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Total memory, in bytes.
    pub memory_bytes: u64,
    /// `uname -r`.
    pub kernel: String,
    /// The kernel's default TCP congestion control (`net.ipv4.tcp_congestion_control`), which
    /// both ends use, the emulated link's namespaces included (they inherit it): BBR's probe of
    /// the round trip holds a stream for one every 10 s, which shows over a long link. Absent in
    /// older folders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_congestion_control: Option<String>,
    /// `rustc -V` at run time (the toolchain that built this binary, in practice).
    pub rustc: String,
    /// `git rev-parse HEAD`, with `-dirty` when the tree has changes.
    pub git_revision: String,
    /// load-gen's version.
    pub load_gen_version: String,
    /// Whether the server ran as load-gen's child (`embedded`) or was given with `--target`.
    pub server: String,
    /// Which server software, by load-gen's profile of it (`pushbench`, `nchan`), with its
    /// version where load-gen started it (`nchan (nginx/1.22.1)`); absent in folders from before
    /// profiles, which were all push-server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_software: Option<String>,
    /// Threads the embedded push-server served with (its `--threads`, by default one per core
    /// it was pinned to); absent for other servers, `--target` and older folders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_threads: Option<usize>,
    /// The cores the server and load-gen were pinned to; absent when they shared every core
    /// (one core, `--no-pin`, `--target`, or a folder from before pinning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinning: Option<Pinning>,
    /// What the run's TLS connections settled on (its first run over TLS); absent when nothing
    /// ran over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
}

/// A TLS connection's version, cipher suite and application protocol, as negotiated, and what
/// its handshake costs each side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsFacts {
    /// e.g. `TLSv1_3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The ALPN protocol, e.g. `http/1.1`; absent if none was agreed (raw TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Where the server's certificate came from, e.g. `self-signed (generated at start)`.
    pub certificate: String,
    /// The server's CPU for one new TLS connection beyond a plain one (its handshake and TLS
    /// close), µs: 100 of each opened and closed in turn before the run. Absent without the
    /// server's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_server_us: Option<f64>,
    /// The same on load-gen's side (the client's handshake, which checks the server's
    /// signatures), µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_client_us: Option<f64>,
}

/// Disjoint cores for the server and load-gen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinning {
    /// The embedded push-server's cores.
    pub server: Vec<usize>,
    /// load-gen's cores (its event loop threads and the pacer).
    pub generator: Vec<usize>,
}
