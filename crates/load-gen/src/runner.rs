//! Runs a scenario: for each transport in turn, start a fresh server (or use `--target`),
//! connect and subscribe every client, start the open-loop schedule, record for warm-up plus the
//! measured window, drain stragglers, stop, and turn what was measured into a
//! [`TransportResult`]. Results are written after every transport, so Ctrl-C keeps what finished.
//!
//! Transports never run at the same time: each gets the cores to itself, and a fresh server
//! process so its CPU time and RSS are its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use indicatif::{ProgressBar, ProgressStyle};
use pushbench_wire::{Encoding, Transport};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::client::publish::{self, PublishReport, Publisher};
use crate::client::{self, Client, ClientReport, Target};
use crate::metrics::{Clock, Fanout, Histos, Recorder};
use crate::process::{self, ServerProcess};
use crate::scenario::{Direction, Scenario};
use crate::schedule::Schedule;
use crate::seqtrack::SeqCounts;
use crate::summary::{
    self, BytesPerMessage, GeneratorCost, Messages, Percentiles, ServerCost, Summary,
    TransportResult,
};

/// How to run, beyond what the scenario says.
#[derive(Debug, Clone)]
pub struct Options {
    /// Drive this server instead of starting one.
    pub target: Option<Target>,
    /// Where run folders go (`results/`).
    pub results_root: PathBuf,
    /// Run only these transports (default: the scenario's).
    pub transports: Option<Vec<Transport>>,
    /// Extra flags for the embedded push-server.
    pub server_args: Vec<String>,
    /// The load-gen executable that serves as push-server (default: the running one).
    pub server_exe: Option<PathBuf>,
    /// Show progress bars.
    pub progress: bool,
    /// Run only this shard's slice of the topics and their clients.
    pub shard: Shard,
}

/// One slice of a run (`--shard K/N`): topics `t` with `t % N == K` and the clients of those
/// topics. Shards publish to and subscribe from their own topics only, so each shard's latencies
/// stay on its own clock; their results merge with `load-gen report DIR...`. Schedules are seeded
/// by global topic and client numbers, so the shards of a run together send exactly what an
/// unsharded run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl Shard {
    /// The whole run.
    pub const ALL: Shard = Shard { index: 0, count: 1 };
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard {s:?}: expected K/N, like 0/4"))?;
        let index: usize = k
            .parse()
            .map_err(|_| format!("shard {s:?}: K is not a number"))?;
        let count: usize = n
            .parse()
            .map_err(|_| format!("shard {s:?}: N is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {s:?}: expected 0 <= K < N"));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Which topics and clients this process runs, and how they map to the scenario's numbering.
#[derive(Debug, Clone)]
struct Layout {
    /// Owned topic names, in local order.
    topics: Vec<String>,
    /// Each owned topic's number in the whole scenario.
    topic_global: Vec<usize>,
    /// Owned clients: (client number in the whole scenario, local topic index).
    clients: Vec<(usize, usize)>,
    /// Subscribers per local topic.
    subscribers: Vec<u32>,
}

impl Layout {
    fn new(scenario: &Scenario, shard: Shard, stamp: &str, transport: Transport) -> Layout {
        let topic_global: Vec<usize> = (0..scenario.topics)
            .filter(|t| t % shard.count == shard.index)
            .collect();
        // Topic t is this shard's local topic (t - K) / N when t % N == K.
        let clients: Vec<(usize, usize)> = (0..scenario.clients)
            .filter_map(|i| {
                let t = i % scenario.topics;
                (t % shard.count == shard.index).then_some((i, t / shard.count))
            })
            .collect();
        let mut subscribers = vec![0u32; topic_global.len()];
        for &(_, t) in &clients {
            subscribers[t] += 1;
        }
        Layout {
            topics: topic_global
                .iter()
                .map(|t| format!("pb.{stamp}.{}.{t}", transport.name()))
                .collect(),
            topic_global,
            clients,
            subscribers,
        }
    }
}

/// p99 publish lag above which the generator is considered behind its schedule.
const LAG_LIMIT_US: u64 = 10_000;
/// Fraction of its threads' cores above which the generator is considered saturated.
const CPU_LIMIT: f64 = 0.9;

/// Runs `scenario`; returns the summary and the run folder.
pub async fn run(
    scenario: &Scenario,
    opts: &Options,
    cancel: CancellationToken,
) -> anyhow::Result<(Summary, PathBuf)> {
    if opts.shard.count > scenario.topics {
        anyhow::bail!(
            "--shard {}: {} shards need at least {} topics; the scenario has {}",
            opts.shard,
            opts.shard.count,
            opts.shard.count,
            scenario.topics
        );
    }
    let (stamp, started_utc) = utc_now();
    let dir = match opts.shard {
        Shard::ALL => opts.results_root.join(format!("{stamp}-{}", scenario.name)),
        s => opts.results_root.join(format!(
            "{stamp}-{}-shard{}of{}",
            scenario.name, s.index, s.count
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("scenario.toml"), &scenario.source)?;
    let setup = crate::setup::capture(if opts.target.is_some() {
        "target"
    } else {
        "embedded"
    });
    std::fs::write(dir.join("setup.json"), serde_json::to_vec_pretty(&setup)?)?;
    let mut summary = Summary {
        schema: summary::SCHEMA.into(),
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        started_utc,
        setup,
        complete: false,
        shard: (opts.shard != Shard::ALL).then(|| opts.shard.to_string()),
        warnings: Vec::new(),
        transports: Vec::new(),
    };
    let transports = opts
        .transports
        .clone()
        .unwrap_or_else(|| scenario.transports.clone());
    for transport in transports {
        if cancel.is_cancelled() {
            break;
        }
        eprintln!("{transport}: starting");
        let result = match run_transport(transport, scenario, opts, &dir, &stamp, &cancel).await {
            Ok(r) => r,
            Err(e) => failed(transport, scenario, format!("{e:#}")),
        };
        eprintln!(
            "{transport}: {} — {} delivered, p99 {} µs",
            result.status, result.messages.seq.delivered, result.latency.p99_us
        );
        summary.transports.push(result);
        summary::write(&summary, &dir)?;
    }
    summary.complete =
        !cancel.is_cancelled() && summary.transports.iter().all(|t| t.status == "complete");
    if cancel.is_cancelled() {
        summary
            .warnings
            .push("interrupted: the results hold what ran before Ctrl-C".into());
    }
    summary::write(&summary, &dir)?;
    // The report is made from the files just written, as `load-gen report` would; failing to
    // draw it loses nothing measured.
    if let Err(e) = pushbench_report::report_folders(std::slice::from_ref(&dir), None) {
        eprintln!(
            "warning: could not write the report ({e}); the results are in {}, and `load-gen report {}` retries",
            dir.display(),
            dir.display()
        );
    }
    Ok((summary, dir))
}

fn failed(transport: Transport, scenario: &Scenario, error: String) -> TransportResult {
    TransportResult {
        transport: transport.name().into(),
        status: "failed".into(),
        warnings: vec![format!("{transport} failed: {error}")],
        error: Some(error),
        clients: scenario.clients,
        clients_ready: 0,
        topics: scenario.topics,
        measured_s: 0.0,
        warmup_s: scenario.warmup.as_secs_f64(),
        measured_deliveries: 0,
        latency: Percentiles::default(),
        actual_send_latency: Percentiles::default(),
        fanout_latency: Percentiles::default(),
        publish_lag: Percentiles::default(),
        throughput_msgs_per_s: 0.0,
        messages: Messages::default(),
        bytes: Default::default(),
        bytes_per_message: BytesPerMessage::default(),
        overhead_ratio: 0.0,
        kernel: Default::default(),
        kernel_difference: [0, 0],
        publisher: Default::default(),
        requests: 0,
        requests_per_message: 0.0,
        empty_polls: 0,
        connections_opened: 0,
        client_errors: 0,
        last_client_error: None,
        server: ServerCost::default(),
        generator: GeneratorCost::default(),
        generator_bound: false,
    }
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// Runs one transport from server start to server stop.
async fn run_transport(
    transport: Transport,
    scenario: &Scenario,
    opts: &Options,
    dir: &Path,
    stamp: &str,
    cancel: &CancellationToken,
) -> anyhow::Result<TransportResult> {
    let server = match &opts.target {
        Some(_) => None,
        None => Some(
            ServerProcess::start(
                opts.server_exe.as_deref(),
                &opts.server_args,
                &dir.join(format!("{}.server.log", transport.name())),
            )
            .await?,
        ),
    };
    let target = match (&opts.target, &server) {
        (Some(t), _) => t.clone(),
        (None, Some(s)) => Target {
            http: s.http,
            tcp: Some(s.tcp),
            host: s.http.to_string(),
        },
        (None, None) => unreachable!("a server was started above"),
    };
    let pid = server.as_ref().map(|s| s.pid);
    let idle = pid.and_then(process::sample).unwrap_or_default();
    let run = cancel.child_token();
    let mut warnings = Vec::new();

    let layout = Layout::new(scenario, opts.shard, stamp, transport);
    let topics = &layout.topics;
    let subscribers = layout.subscribers.clone();
    let clients = layout.clients.len();
    let headers = client::request_headers(scenario.request_headers, &target.host);
    let (start_tx, start_rx) = watch::channel(None);
    let shared = Arc::new(client::Shared {
        target: target.clone(),
        cancel: run.clone(),
        ready: Default::default(),
        start: start_rx,
        encoding: match transport {
            Transport::WebSocket | Transport::RawTcp => scenario.encoding,
            _ => Encoding::Text,
        },
        poll_interval: scenario.poll_interval,
        poll_new_connection: scenario.poll_new_connection,
        long_poll_timeout: scenario.long_poll_timeout,
        header_block: client::header_block(&headers),
        headers,
    });
    let end_ns = ns(scenario.warmup + scenario.duration);
    let schedule = |stream: usize, streams: usize| {
        Schedule::new(
            scenario.seed,
            stream as u64,
            streams as u64,
            scenario.rate,
            scenario.pattern,
            scenario.size,
            end_ns,
        )
    };
    let own_upstream = matches!(transport, Transport::WebSocket | Transport::RawTcp);
    let bidirectional = scenario.direction == Direction::All;

    // Connect in waves, so 10 000 clients do not overflow the server's accept backlog at once.
    const WAVE: usize = 256;
    let connect_deadline =
        Instant::now() + Duration::from_secs(30) + Duration::from_millis(clients as u64 * 2);
    let mut handles = Vec::with_capacity(clients);
    for (n, &(i, topic_index)) in layout.clients.iter().enumerate() {
        let client = Client {
            index: i,
            topic_index,
            topic: topics[topic_index].clone(),
            upstream: (bidirectional && own_upstream)
                .then(|| schedule(i, scenario.clients).peekable()),
        };
        handles.push(tokio::spawn(client::run_subscriber(
            transport,
            shared.clone(),
            client,
        )));
        if (n + 1) % WAVE == 0 {
            while shared.ready.load(Relaxed) + WAVE < n + 1
                && Instant::now() < connect_deadline
                && !run.is_cancelled()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    while shared.ready.load(Relaxed) < clients
        && Instant::now() < connect_deadline
        && !run.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let clients_ready = shared.ready.load(Relaxed);
    if clients_ready < clients {
        warnings.push(format!(
            "{transport}: only {clients_ready} of {clients} subscribers were ready when the schedule started"
        ));
    }
    let connected = pid.and_then(process::sample).unwrap_or_default();

    // The clock starts now: every intended time is measured from here.
    let clock = Clock::starting_at(Instant::now() + Duration::from_millis(20));
    // A stripe per worker thread (stripes are picked by thread), and one spare.
    let threads = tokio::runtime::Handle::current().metrics().num_workers();
    let stripes = threads + 1;
    let recorder = Arc::new(Recorder::new(
        clock,
        stripes,
        ns(scenario.warmup),
        end_ns,
        Fanout::new(subscribers.clone()),
    ));
    start_tx.send_replace(Some(recorder.clone()));
    let server_cpu0 = pid.and_then(process::sample).unwrap_or_default().cpu_s;
    let generator_cpu0 = process::sample_self().cpu_s;

    let mut publishers = Vec::new();
    let mut upstream_publishers = Vec::new();
    if !bidirectional {
        for (t, topic) in topics.iter().enumerate() {
            let global = layout.topic_global[t];
            let p = Publisher {
                index: global,
                topic: topic.clone(),
                topic_index: t,
                schedule: schedule(global, scenario.topics),
            };
            publishers.push(tokio::spawn(publish::run(
                target.clone(),
                shared.header_block.clone(),
                p,
                recorder.clone(),
                run.clone(),
            )));
        }
    } else if !own_upstream {
        // HTTP transports have no upstream of their own: each client POSTs beside its subscription.
        for &(i, topic_index) in &layout.clients {
            let p = Publisher {
                index: i,
                topic: topics[topic_index].clone(),
                topic_index,
                schedule: schedule(i, scenario.clients),
            };
            upstream_publishers.push(tokio::spawn(publish::run(
                target.clone(),
                shared.header_block.clone(),
                p,
                recorder.clone(),
                run.clone(),
            )));
        }
    }

    let (ticker_stop, ticker) = spawn_ticker(
        recorder.clone(),
        dir.join(format!("{}.hlog", transport.name())),
        pid,
        opts.progress.then(|| progress_bar(transport, scenario)),
    )?;

    // The schedule ends at warm-up + duration; upstream schedules end with it.
    tokio::select! {
        _ = run.cancelled() => {}
        _ = tokio::time::sleep_until(clock.at(end_ns).into()) => {}
    }
    let mut publisher_reports = Vec::new();
    for h in publishers {
        publisher_reports.push(h.await.context("publisher task")?);
    }
    let mut upstream_reports = Vec::new();
    for h in upstream_publishers {
        upstream_reports.push(h.await.context("publisher task")?);
    }
    // Drain: wait for every expected delivery, up to the scenario's drain time.
    let expected = |r: &Recorder| -> u64 {
        r.topic_published
            .iter()
            .zip(&subscribers)
            .map(|(p, s)| p.load(Relaxed) * *s as u64)
            .sum()
    };
    let drain_until = Instant::now() + scenario.drain;
    while recorder.delivered.load(Relaxed) < expected(&recorder)
        && Instant::now() < drain_until
        && !run.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outstanding = expected(&recorder).saturating_sub(recorder.delivered.load(Relaxed));
    if outstanding > 0 && !cancel.is_cancelled() {
        warnings.push(format!(
            "{transport}: {outstanding} deliveries still outstanding when the {:?} drain ended",
            scenario.drain
        ));
    }
    let wall_s = clock.now_ns() as f64 / 1e9;
    let server_end = pid.and_then(process::sample).unwrap_or_default();
    let generator_cpu = process::sample_self().cpu_s - generator_cpu0;
    let _ = ticker_stop.send(());
    let rss_peak = ticker.await.context("ticker task")??;

    run.cancel();
    let mut client_reports = Vec::with_capacity(handles.len());
    let mut seq = SeqCounts::default();
    for h in handles {
        let (report, tracker, topic_index) = h.await.context("subscriber task")?;
        seq.add(&tracker.finish(recorder.topic_published[topic_index].load(Relaxed)));
        client_reports.push(report);
    }
    let clean_exit = match server {
        Some(s) => s.stop().await?,
        None => true,
    };
    if !clean_exit {
        warnings.push(format!(
            "{transport}: push-server did not exit cleanly on SIGTERM"
        ));
    }

    let totals = recorder.totals();
    let subs: ClientReport = client_reports.iter().sum();
    let upstream: PublishReport = upstream_reports.iter().sum();
    let publisher: PublishReport = publisher_reports.iter().sum();
    let mut bytes = subs.bytes;
    bytes += upstream.bytes;
    let mut kernel = subs.kernel;
    kernel += upstream.kernel;
    let delivered = seq.delivered;
    let payload = bytes.payload_up + bytes.payload_down;
    let wire = bytes.up() + bytes.down();
    let requests = subs.requests + upstream.requests;
    let per_1000 = |cpu_s: f64| {
        if delivered == 0 {
            0.0
        } else {
            cpu_s * 1000.0 * 1000.0 / delivered as f64
        }
    };
    let server_cpu = server_end.cpu_s - server_cpu0;
    let messages = Messages {
        published: recorder
            .topic_published
            .iter()
            .map(|p| p.load(Relaxed))
            .sum(),
        expected: expected(&recorder),
        seq,
        fanout_incomplete: recorder.fanout.incomplete(),
    };
    let lag = Percentiles::of(&totals.publish_lag);
    let cores_used = if wall_s > 0.0 {
        generator_cpu / wall_s
    } else {
        0.0
    };
    let mut generator_bound = false;
    if lag.p99_us > LAG_LIMIT_US {
        generator_bound = true;
        warnings.push(format!(
            "{transport}: GENERATOR-BOUND: publishers ran {} ms behind schedule at p99 (limit {} ms); the server may have been slow to accept publishes, or the generator busy",
            lag.p99_us / 1000,
            LAG_LIMIT_US / 1000
        ));
    }
    let cpu_limit = CPU_LIMIT * threads as f64;
    if cores_used > cpu_limit {
        generator_bound = true;
        warnings.push(format!(
            "{transport}: GENERATOR-BOUND: load-gen used {cores_used:.2} cores of its {threads} thread(s) (limit {cpu_limit:.2}); it may be measuring itself"
        ));
    }
    if seq.lost > 0 {
        warnings.push(format!(
            "{transport}: {} messages lost without a gap notice",
            seq.lost
        ));
    }
    if seq.gap_notified > 0 {
        warnings.push(format!(
            "{transport}: {} messages announced lost by the server (gap notices)",
            seq.gap_notified
        ));
    }
    if seq.duplicated + seq.reordered > 0 {
        warnings.push(format!(
            "{transport}: {} duplicated and {} reordered deliveries",
            seq.duplicated, seq.reordered
        ));
    }
    if subs.errors + upstream.errors + publisher.errors > 0 {
        warnings.push(format!(
            "{transport}: {} client and {} publisher errors; last: {}",
            subs.errors + upstream.errors,
            publisher.errors,
            subs.last_error
                .clone()
                .or(publisher.last_error.clone())
                .or(upstream.last_error.clone())
                .unwrap_or_default()
        ));
    }
    let kernel_difference = [
        bytes.up() as i64 - kernel.bytes_sent as i64,
        bytes.down() as i64 - kernel.bytes_received as i64,
    ];
    if kernel_difference != [0, 0] {
        warnings.push(format!(
            "{transport}: user-space byte counts differ from TCP_INFO by {} up and {} down",
            kernel_difference[0], kernel_difference[1]
        ));
    }
    let status = if cancel.is_cancelled() {
        "partial"
    } else {
        "complete"
    };
    Ok(TransportResult {
        transport: transport.name().into(),
        status: status.into(),
        error: None,
        clients,
        clients_ready,
        topics: topics.len(),
        measured_s: scenario.duration.as_secs_f64(),
        warmup_s: scenario.warmup.as_secs_f64(),
        measured_deliveries: totals.latency.len(),
        latency: Percentiles::of(&totals.latency),
        actual_send_latency: Percentiles::of(&totals.actual),
        fanout_latency: Percentiles::of(&totals.fanout),
        publish_lag: lag,
        throughput_msgs_per_s: totals.latency.len() as f64 / scenario.duration.as_secs_f64(),
        messages,
        bytes,
        bytes_per_message: BytesPerMessage::of(&bytes, delivered),
        overhead_ratio: if payload == 0 {
            0.0
        } else {
            (wire - payload) as f64 / payload as f64
        },
        kernel,
        kernel_difference,
        publisher,
        requests,
        requests_per_message: if delivered == 0 {
            0.0
        } else {
            requests as f64 / delivered as f64
        },
        empty_polls: subs.empty_polls,
        connections_opened: subs.connections + upstream.connections,
        client_errors: subs.errors + upstream.errors,
        last_client_error: subs.last_error.or(upstream.last_error),
        server: ServerCost {
            cpu_s: server_cpu,
            cpu_ms_per_1000_msgs: per_1000(server_cpu),
            rss_idle_bytes: idle.rss_bytes,
            rss_connected_bytes: connected.rss_bytes,
            rss_peak_bytes: rss_peak.max(connected.rss_bytes),
            rss_per_connection_bytes: (clients_ready > 0
                && !matches!(transport, Transport::ShortPoll | Transport::LongPoll)
                && pid.is_some())
            .then(|| {
                connected.rss_bytes.saturating_sub(idle.rss_bytes) as f64 / clients_ready as f64
            }),
        },
        generator: GeneratorCost {
            cpu_s: generator_cpu,
            cores_used,
            cpu_ms_per_1000_msgs: per_1000(generator_cpu),
            rss_end_bytes: process::sample_self().rss_bytes,
            threads: threads as u32,
        },
        generator_bound,
        warnings,
    })
}

fn progress_bar(transport: Transport, scenario: &Scenario) -> ProgressBar {
    let bar = ProgressBar::new((scenario.warmup + scenario.duration).as_secs().max(1));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>11} [{bar:30}] {pos}/{len} s  {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(transport.name());
    bar
}

/// Every second: moves the interval histograms into the `.hlog`, samples the server's RSS and
/// updates the progress bar. Returns the peak RSS when told to stop (after a last interval).
fn spawn_ticker(
    recorder: Arc<Recorder>,
    path: PathBuf,
    pid: Option<u32>,
    bar: Option<ProgressBar>,
) -> anyhow::Result<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<u64>>,
)> {
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let mut file = std::io::BufWriter::new(file);
        let mut serializer = V2DeflateSerializer::new();
        let base = SystemTime::now()
            - Instant::now()
                .checked_duration_since(recorder.clock.start())
                .unwrap_or_default();
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment("pushbench load-gen interval log; values in microseconds")
            .add_comment("tags: latency (from intended send), actual (from actual send), fanout (last subscriber), publish-lag")
            .with_start_time(base)
            .with_base_time(base)
            .begin_log_with(&mut file, &mut serializer)?;
        let mut peak = 0u64;
        let mut last_s = 0.0f64;
        let mut interval = Histos::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            let stop = tokio::select! {
                _ = &mut stopped => true,
                _ = tick.tick() => false,
            };
            let now_s = recorder.clock.now_ns() as f64 / 1e9;
            recorder.take_interval(&mut interval);
            for (tag, h) in interval.tagged() {
                if !h.is_empty() {
                    writer
                        .write_histogram(
                            h,
                            Duration::from_secs_f64(last_s),
                            Duration::from_secs_f64((now_s - last_s).max(0.001)),
                            Tag::new(tag),
                        )
                        .map_err(|e| anyhow::anyhow!("writing the interval log: {e}"))?;
                }
            }
            last_s = now_s;
            if let Some(s) = pid.and_then(process::sample) {
                peak = peak.max(s.rss_bytes);
            }
            if let Some(bar) = &bar {
                bar.set_position(now_s as u64);
                bar.set_message(format!("{} delivered", recorder.delivered.load(Relaxed)));
            }
            if stop {
                break;
            }
        }
        drop(writer);
        std::io::Write::flush(&mut file)?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(peak)
    });
    Ok((stop, handle))
}

/// Parses `--target`: `http://HOST:PORT` and optionally the raw TCP address.
pub fn target(http: &str, tcp: Option<SocketAddr>) -> anyhow::Result<Target> {
    let rest = http
        .strip_prefix("http://")
        .with_context(|| format!("--target {http:?}: expected http://HOST:PORT"))?
        .trim_end_matches('/');
    let addr = std::net::ToSocketAddrs::to_socket_addrs(rest)
        .with_context(|| format!("--target {http:?}: cannot resolve {rest}"))?
        .next()
        .with_context(|| format!("--target {http:?}: no address for {rest}"))?;
    Ok(Target {
        http: addr,
        tcp,
        host: rest.to_owned(),
    })
}

/// The time now as a folder stamp (`20261121T083000Z`) and as RFC 3339.
pub fn utc_now() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    (
        format!("{y:04}{mo:02}{d:02}T{h:02}{m:02}{s:02}Z"),
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_topics_and_their_clients_without_overlap() {
        let scenario = Scenario::parse(
            "description = \"d\"\ntransports = [\"sse\"]\nclients = 10\ntopics = 4\nrate = 1\nmessage_size = 8\nduration = \"1s\"\n",
            std::path::Path::new("s.toml"),
        )
        .unwrap();
        let all = Layout::new(&scenario, Shard::ALL, "x", Transport::Sse);
        assert_eq!(all.clients.len(), 10);
        assert_eq!(all.subscribers, [3, 3, 2, 2]);
        let shards: Vec<Layout> = (0..3)
            .map(|k| Layout::new(&scenario, Shard { index: k, count: 3 }, "x", Transport::Sse))
            .collect();
        let mut clients: Vec<usize> = shards
            .iter()
            .flat_map(|l| l.clients.iter().map(|c| c.0))
            .collect();
        clients.sort_unstable();
        assert_eq!(clients, (0..10).collect::<Vec<_>>());
        assert_eq!(shards[0].topic_global, [0, 3]);
        assert_eq!(shards[0].topics[1], "pb.x.sse.3");
        assert_eq!(shards[0].subscribers, [3, 2]);
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
    }

    #[test]
    fn target_urls_are_checked() {
        let t = target("http://127.0.0.1:8080/", None).unwrap();
        assert_eq!(t.http, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.host, "127.0.0.1:8080");
        assert!(target("127.0.0.1:8080", None).is_err());
    }

    #[test]
    fn utc_stamps_look_right() {
        let (stamp, rfc) = utc_now();
        assert_eq!(stamp.len(), 16);
        assert!(rfc.starts_with("20"));
        assert_eq!(&stamp[..8], &rfc[..10].replace('-', ""));
    }
}
