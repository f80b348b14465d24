//! Scenario files: one TOML file describes one workload, and this module turns it into a checked
//! [`Scenario`].
//!
//! Loading happens in two steps. First serde (through the `toml` crate) reads the text into
//! `RawScenario`, a flat struct whose fields keep their byte spans in the file; syntax errors,
//! unknown keys, missing keys and wrong value types are caught here. Then `validate` checks
//! ranges and the rules between fields (`topics <= clients`, `message_size_max >=
//! message_size`, durations, transport names) and fills in defaults. Either way a mistake comes
//! back as one [`ScenarioError`] that names the file, the line and the field and says what was
//! expected, so a user can fix the file without reading this code.
//!
//! The module has three parts: this file holds the model (what a valid scenario is, its limits
//! and defaults) and the entry points; `validate.rs` holds `RawScenario` and the checks that turn
//! it into a [`Scenario`]; `diagnostics.rs` holds [`ScenarioError`] and the code that finds the
//! line and field a mistake is about and words the message in the file's terms.
//!
//! Where the data goes next: the runner builds the open-loop publish schedule from a
//! [`Scenario`] (rate, pattern, sizes and seed fix every send time before the run starts), runs
//! it once per transport in [`Scenario::transports`], and copies [`Scenario::source`] into the
//! results folder so every run records exactly what it measured.
//!
//! The accepted keys, their defaults and limits are listed on [`Scenario`]'s fields; the files
//! under `scenarios/` are worked examples.

mod diagnostics;
#[cfg(test)]
mod tests;
mod validate;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pushbench_results::sweep::{Param, Slo};
use pushbench_wire::{Encoding, Transport};
use serde::Deserialize;

use diagnostics::Doc;
pub use diagnostics::ScenarioError;
use validate::RawScenario;

/// Most subscribers per transport a scenario may ask for.
const MAX_CLIENTS: i64 = 1_000_000;
/// Largest payload, matching push-server's default `--max-message-size` (1 MiB).
const MAX_MESSAGE_SIZE: i64 = 1_048_576;
/// Highest publish rate; above it the schedule, not the transport, is what gets measured.
const MAX_RATE: f64 = 1_000_000.0;
/// Longest long-poll hold push-server grants (its default `--max-long-poll-timeout`).
const MAX_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(120);
/// Most repeats of every transport: enough for tight intervals, short of a day's run.
const MAX_REPEAT: i64 = 100;
/// Longest value any duration key accepts; keeps time arithmetic far from overflow.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// Most steps a sweep may have.
const MAX_STEPS: usize = 64;

const DEFAULT_TOPICS: usize = 1;
const DEFAULT_WARMUP: Duration = Duration::from_secs(2);
const DEFAULT_SEED: u64 = 1;
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);
const DEFAULT_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_DRAIN: Duration = Duration::from_secs(3);
const DEFAULT_RECONNECT: Reconnect = Reconnect {
    delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(5),
    jitter: 0.5,
    heartbeat_timeout: Some(Duration::from_secs(45)),
};

/// Who publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `"push"`: one publisher per topic sends `POST /publish`, the same for every transport;
    /// clients only receive.
    Push,
    /// `"all"`: every client publishes through its own transport's upstream (a `POST` beside the
    /// HTTP transports, frames on WebSocket and raw TCP) and receives its topic (chat, game).
    All,
}

/// Which headers load-gen's HTTP requests carry besides `host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestHeaders {
    /// `host` only (plus `content-length` and what a protocol needs): the floor.
    Minimal,
    /// What Chromium sends with `fetch` from a page: user agent, accept, language, fetch
    /// metadata, a session cookie.
    Browser,
}

/// How send times are spread over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// `"constant"`: evenly spaced, `1 / rate` apart.
    Constant,
    /// `"poisson"`: exponentially distributed gaps with mean `1 / rate`, from the seeded RNG.
    Poisson,
}

/// Payload sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeDist {
    /// Every payload has this size (`message_size` alone, or `message_size_max` equal to it).
    Fixed(usize),
    /// Sizes drawn uniformly from `min..=max` (`message_size` .. `message_size_max`).
    Uniform {
        /// Smallest payload, `message_size`.
        min: usize,
        /// Largest payload, `message_size_max`; always greater than `min`.
        max: usize,
    },
}

/// `sweep` and `slo`: run the scenario at each of a rising series of values of one parameter,
/// and judge every transport at every step against the objective (see
/// `pushbench_results::sweep` for the rules and `crate::runner::sweep` for the run).
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Which key the steps set: `rate`, `clients` or `message_size`.
    pub param: Param,
    /// The steps, strictly rising: a list, or `{ from, to, factor }` (from, from × factor, ...
    /// up to `to`), whole numbers for `clients` and `message_size`.
    pub values: Vec<f64>,
    /// `slo = { p99 = "50ms", loss = 0 }`: the objective (`loss` defaults to 0).
    pub slo: Slo,
}

/// `network = { rtt = "100ms", down = "10Mbit", up = "2Mbit", loss = 0.01, queue = "64KiB" }`,
/// or `network = { profile = "3g" }` (see [`NETWORK_PROFILES`]; keys beside it override the
/// profile's): the run goes over an emulated link (see `crate::link`) instead of loopback. Each
/// direction gets half the round trip as its delay, its rate, the queue and the loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Network {
    /// `rtt`, required without a profile, may be 0: the round-trip time the link adds.
    pub rtt: Duration,
    /// `jitter`, default 0, at most half of `rtt`: each packet's one-way delay varies uniformly
    /// by up to this much either way, without reordering packets.
    pub jitter: Duration,
    /// `down`, default unlimited: server to clients, in bits per second (`"10Mbit"`,
    /// `"500kbit"`, `"1Gbit"`).
    pub down: Option<u64>,
    /// `up`, default unlimited: clients to server, likewise.
    pub up: Option<u64>,
    /// `loss`, default 0, below 1: the probability that a packet is lost, each direction on its
    /// own.
    pub loss: f64,
    /// `queue`, in bytes (`"64KiB"`, `"1MiB"`, `"1500"`): how much waits for a rate-limited
    /// direction before it drops (drop-tail). Default: twice that direction's bandwidth-delay
    /// product, at least 64 KiB.
    pub queue: Option<u64>,
}

/// One link of the scenario's `network` or `networks`, and the name results give it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedNetwork {
    /// `name`, or the profile's name: a result run over this link is `<transport>~<name>` when
    /// the scenario has several. Letters, digits, `-`, `_` and `.`, as it names files.
    pub name: String,
    /// The link.
    pub link: Network,
}

/// The links `network = { profile = "..." }` names: name, link, where its figures come from.
/// WebPageTest's come from its connectivity settings (`www/settings/connectivity.ini.sample` in
/// the WPO-Foundation/webpagetest repository, as of commit a7cf6a7: `bwIn`, `bwOut`, `latency`
/// as the round trip).
pub const NETWORK_PROFILES: [(&str, Network, &str); 11] = [
    (
        "lan",
        link(1, 1_000_000_000, 1_000_000_000, 0.0),
        "ours: a gigabit LAN",
    ),
    (
        "fios",
        link(4, 20_000_000, 5_000_000, 0.0),
        "WebPageTest FIOS",
    ),
    (
        "cable",
        link(28, 5_000_000, 1_000_000, 0.0),
        "WebPageTest Cable",
    ),
    ("dsl", link(50, 1_500_000, 384_000, 0.0), "WebPageTest DSL"),
    (
        "lte",
        link(70, 12_000_000, 12_000_000, 0.0),
        "WebPageTest Mobile LTE",
    ),
    (
        "lossy-lte",
        link(70, 12_000_000, 12_000_000, 0.01),
        "ours: WebPageTest's LTE with 1% loss each way",
    ),
    ("4g", link(170, 9_000_000, 9_000_000, 0.0), "WebPageTest 4G"),
    (
        "3g-fast",
        link(150, 1_600_000, 768_000, 0.0),
        "WebPageTest Mobile 3G - Fast",
    ),
    (
        "3g",
        link(300, 1_600_000, 768_000, 0.0),
        "WebPageTest Mobile 3G",
    ),
    (
        "edge",
        link(840, 240_000, 200_000, 0.0),
        "WebPageTest Mobile Edge",
    ),
    (
        "satellite",
        link(600, 25_000_000, 3_000_000, 0.0),
        "ours: a geostationary hop (477 ms by distance alone) and its ground segments",
    ),
];

/// A profile's link: round trip in ms, rates down and up in bit/s, loss.
const fn link(rtt_ms: u64, down: u64, up: u64, loss: f64) -> Network {
    Network {
        rtt: Duration::from_millis(rtt_ms),
        jitter: Duration::ZERO,
        down: Some(down),
        up: Some(up),
        loss,
        queue: None,
    }
}

/// `faults`: what goes wrong during a run, on purpose, to measure what each transport delivers
/// through it. None by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// `drop = { every = "15s", jitter = "5s", how = "close" }`: see [`DropFault`].
    pub drop: Option<DropFault>,
    /// `restart = { at = "20s", how = "term" }`: see [`RestartFault`].
    pub restart: Option<RestartFault>,
    /// `outage = { at = "20s", for = "5s" }`: see [`Outage`].
    pub outage: Option<Outage>,
}

/// The emulated link (`network`, which it needs) drops every packet, both ways, from `at`
/// (run-clock time from the start of the warm-up) for `length`: a tunnel, a lift, a dead cell.
/// Connections are not closed; clients find out as their counterparts would, and TCP
/// retransmits what it can once the link is back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outage {
    /// `at`, required, greater than 0.
    pub at: Duration,
    /// `for`, required, greater than 0; the outage ends within the run.
    pub length: Duration,
}

/// The embedded server is stopped at `at` (run-clock time, counted from the start of the
/// warm-up) and started again at once on the same ports, as a deploy does: every connection
/// ends, and the new process's hub starts empty, numbering every topic from 1 again. Clients
/// reconnect as [`Reconnect`] says, find that the server forgot where they were (push-server
/// answers a resume it cannot honour with 409), count what they missed as lost and subscribe
/// afresh. Push workloads on the embedded push-server only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartFault {
    /// `at`, required, greater than 0 and before the end of warm-up and duration together.
    pub at: Duration,
    /// `how`, default `"term"`: see [`StopHow`].
    pub how: StopHow,
}

/// How the server is stopped for a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopHow {
    /// `"term"`: SIGTERM, then the server's own graceful shutdown (it ends streams and answers
    /// what is in flight) up to 10 s, SIGKILL after that.
    Term,
    /// `"kill"`: SIGKILL: the process and every connection vanish at once (a crash, an OOM
    /// kill).
    Kill,
}

/// Every subscriber's connection is closed by the client about every `every`, each client on its
/// own random phase (drawn from the scenario's seed), from the start of the warm-up to the end
/// of the measured part; the client then reconnects as [`Reconnect`] says and resumes where it
/// was. What mobile clients do to a server every few seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropFault {
    /// `every`, required, greater than 0 and shorter than warm-up and duration together: the
    /// mean time between two drops of one client.
    pub every: Duration,
    /// `jitter`, default 0, at most half of `every`: each drop comes up to this much earlier or
    /// later than `every` after the last, uniformly.
    pub jitter: Duration,
    /// `how`, default `"close"`: see [`DropHow`].
    pub how: DropHow,
}

/// How a dropped connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropHow {
    /// `"close"`: a clean close, the client's FIN first (`shutdown(SHUT_WR)`, then `close`).
    Close,
    /// `"reset"`: an abortive close, `SO_LINGER` 0, so the server gets a RST.
    Reset,
}

/// `reconnect = { delay = "100ms", max_delay = "5s", jitter = 0.5 }`: how long a client waits
/// before opening its next connection, after a drop or an error. The wait doubles after every
/// attempt that did not get the client subscribed again, up to `max_delay`, and starts over
/// from `delay` once one did; each wait is spread by `jitter` (socket.io's client does the
/// same, with `reconnectionDelay`, `reconnectionDelayMax` and `randomizationFactor`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reconnect {
    /// `delay`, default 100 ms, may be 0: the first wait.
    pub delay: Duration,
    /// `max_delay`, default 5 s, at least `delay`: the longest wait.
    pub max_delay: Duration,
    /// `jitter`, default 0.5, from 0 to 1: each wait is drawn uniformly from
    /// `wait × (1 - jitter) ..= wait × (1 + jitter)`, so clients dropped together do not all
    /// come back at once.
    pub jitter: f64,
    /// `heartbeat_timeout`, default 45 s, `"0s"` for none: a subscriber connection that brings
    /// no byte for this long is taken for dead, closed, and replaced (resuming where it was), as
    /// socket.io's client does after its 25 s ping interval and 20 s ping timeout and
    /// event-source-polyfill after its 45 s `heartbeatTimeout`. push-server's streams carry a
    /// heartbeat every 15 s; a long poll may be held `long_poll_timeout` longer. Without it a
    /// client finds a dead connection only when TCP gives up, which can take many minutes.
    pub heartbeat_timeout: Option<Duration>,
}

impl Default for Reconnect {
    fn default() -> Self {
        DEFAULT_RECONNECT
    }
}

/// One validated workload, read from a scenario file.
///
/// Every field corresponds to a top-level key of the same name (see each field for its default
/// and limits), except `name`, `source` and `path`, which come from the file itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file stem (`quick` for `scenarios/quick.toml`): names the run in results and reports.
    pub name: String,
    /// `description`, required: what real use the workload models, shown in reports.
    pub description: String,
    /// `transports`, required: the transports to measure, one after the other, in the order
    /// given; `["all"]` means [`Transport::KNOWN`] (the runner leaves out those no server in the run
    /// serves). Never empty, never a duplicate.
    pub transports: Vec<Transport>,
    /// `clients`, required, 1 to 1,000,000: subscribers per transport.
    pub clients: usize,
    /// `topics`, default 1, at most `clients`: clients are spread round-robin over the topics,
    /// so every topic has a subscriber.
    pub topics: usize,
    /// `direction`, default `"push"`: who publishes.
    pub direction: Direction,
    /// `encoding`, default `"text"`: the envelope encoding on WebSocket and raw TCP (the other
    /// transports always carry text).
    pub encoding: Encoding,
    /// `rate`, required, greater than 0: messages per second, per topic for
    /// [`Direction::Push`] and per client for [`Direction::All`].
    pub rate: f64,
    /// `pattern`, default `"constant"`: how send times are spread.
    pub pattern: Pattern,
    /// `message_size` (required, 1 B to 1 MiB) and optional `message_size_max`: payload bytes.
    pub size: SizeDist,
    /// `duration`, required, greater than 0: the measured part of each transport's run.
    pub duration: Duration,
    /// `warmup`, default 2 s, may be 0: run before `duration` and left out of every figure, so
    /// connection setup and first-request costs do not skew latency.
    pub warmup: Duration,
    /// `seed`, default 1: seeds the schedule's RNG (Poisson gaps, sizes), so every transport
    /// gets the same message stream and runs are repeatable.
    pub seed: u64,
    /// `repeat`, default 1, at most 100: how many times every transport runs, interleaved
    /// (round-robin, the first transport rotating), each on a fresh server and fresh
    /// connections. With two or more, `summary.json` gives each figure's median over the repeats
    /// with a confidence interval, and the verdict names a winner only outside the noise.
    pub repeat: usize,
    /// `poll_interval`, default 100 ms, greater than 0: the short-poll period.
    pub poll_interval: Duration,
    /// `poll_new_connection`, default false: short polls open a fresh TCP connection each time
    /// instead of reusing a keep-alive one (what clients behind some proxies do).
    pub poll_new_connection: bool,
    /// `request_headers`, default `"minimal"`: the headers every HTTP request carries besides
    /// `host`. `"browser"` adds what a browser's `fetch` or `EventSource` sends (user agent,
    /// accept, language, fetch metadata, a session cookie: about 480 bytes), so header overhead
    /// is what a web app pays.
    pub request_headers: RequestHeaders,
    /// `long_poll_timeout`, default 30 s, greater than 0 and at most 120 s (push-server's
    /// limit): how long the server holds a long poll that has nothing to return.
    pub long_poll_timeout: Duration,
    /// `drain`, default 3 s, greater than 0: how long to keep receiving after the last publish,
    /// so late messages are counted as late rather than lost.
    pub drain: Duration,
    /// `sweep` with `slo`, optional, both or neither: see [`Sweep`]. The scenario's own value of
    /// the swept key is ignored while sweeping.
    pub sweep: Option<Sweep>,
    /// `faults`, optional: see [`Faults`].
    pub faults: Faults,
    /// `network = { ... }` (one link, see [`Network`]) or `networks = ["lan", "3g", { ... }]`
    /// (each link in turn, a profile's name or a table like `network`'s with a `name`). Empty:
    /// loopback.
    pub networks: Vec<NamedNetwork>,
    /// `tls`, default `false`: whether subscribers speak TLS to the server (HTTPS, WSS, TLS raw
    /// TCP), `true`, or a list, `[false, true]`, to run every transport both ways, the TLS
    /// runs named `<transport>:tls`. Publishers publish in plaintext, as a back end beside the
    /// server does. Never empty, never a duplicate.
    pub tls: Vec<bool>,
    /// `http`, default `"1.1"`: the HTTP version subscribers speak, `"2"` (over TLS with ALPN
    /// `h2`, in plaintext with prior knowledge), or a list, `["1.1", "2"]`, to run every HTTP
    /// transport both ways, the HTTP/2 runs named `<transport>:h2`. Never empty, never a
    /// duplicate.
    pub http: Vec<HttpVersion>,
    /// `multiplex`, default `false`: over HTTP/2, subscribers share connections the way a
    /// browser page's requests do, `true` for [`DEFAULT_STREAMS`] streams a connection or a
    /// number of streams; `Some(streams)`. Subscriber `i` is on its transport's connection
    /// `i / streams`. Only with `http` including `"2"`.
    pub multiplex: Option<usize>,
    /// `reconnect`, optional: see [`Reconnect`].
    pub reconnect: Reconnect,
    /// The file's text, copied into the results so a run records what it measured.
    pub source: String,
    /// Where the scenario was read from; errors and results name it.
    pub path: PathBuf,
}

/// Streams a connection carries with `multiplex = true`: what servers commonly allow
/// (`SETTINGS_MAX_CONCURRENT_STREAMS` of 100, nginx's and Chromium's expectation).
pub const DEFAULT_STREAMS: usize = 100;
/// The most `multiplex` may ask: push-server's (hyper's) limit of concurrent streams.
pub const MAX_STREAMS: usize = 200;

/// The HTTP version subscribers speak (`http`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    /// `"1.1"`.
    H1,
    /// `"2"`.
    H2,
}

impl HttpVersion {
    /// `"1.1"` or `"2"`.
    pub fn parse(s: &str) -> Option<HttpVersion> {
        match s {
            "1.1" => Some(HttpVersion::H1),
            "2" => Some(HttpVersion::H2),
            _ => None,
        }
    }
}

impl Scenario {
    /// This scenario with the swept parameter set to `value` (a sweep's step).
    pub fn at_step(&self, param: Param, value: f64) -> Scenario {
        let mut s = self.clone();
        match param {
            Param::Rate => s.rate = value,
            Param::Clients => s.clients = value as usize,
            Param::MessageSize => s.size = SizeDist::Fixed(value as usize),
        }
        s
    }

    /// This scenario over one of its links (or loopback), with or without TLS, in one HTTP
    /// version: what a run of one entry measures.
    pub fn over(&self, network: Option<&NamedNetwork>, tls: bool, http: HttpVersion) -> Scenario {
        Scenario {
            networks: network.into_iter().cloned().collect(),
            tls: vec![tls],
            http: vec![http],
            ..self.clone()
        }
    }

    /// Reads and validates a scenario file. A file that cannot be read gives an error with no
    /// line and no field.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: None,
            field: String::new(),
            message: format!("cannot read the scenario file: {e}"),
        })?;
        Scenario::parse(&text, path)
    }

    /// Validates scenario text; `path` names the file in errors and gives [`Scenario::name`].
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let doc = Doc { text, path };
        let table = toml::de::DeTable::parse(text).map_err(|e| doc.syntax_error(&e))?;
        // Where each top-level key and its value sit, to name the field a serde error is about.
        let keys: Vec<(String, Range<usize>)> = table
            .get_ref()
            .iter()
            .map(|(k, v)| (k.get_ref().to_string(), k.span().start..v.span().end))
            .collect();
        let raw = RawScenario::deserialize(toml::de::Deserializer::from(table))
            .map_err(|e| doc.serde_error(&e, &keys))?;
        raw.validate(&doc)
    }
}
