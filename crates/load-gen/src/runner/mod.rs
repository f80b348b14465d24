//! Runs a scenario: for each transport in turn, start a fresh server (or use `--target`),
//! connect and subscribe every client, start the open-loop schedule, record for warm-up plus the
//! measured window, drain stragglers, stop, and turn what was measured into a
//! [`TransportResult`]. Results are written after every transport, so Ctrl-C keeps what finished.
//!
//! Transports never run at the same time: each gets the cores to itself, and a fresh server
//! process so its CPU time and RSS are its own.
//!
//! # Layout
//! - [`plan`]: [`TransportPlan`], everything decided before a transport runs (its shard's
//!   topics and clients, publishers and their schedules, encoding, connection waves), pure.
//! - [`transport`]: [`TransportRun`], the run in phases: start, connect, publish, drain and
//!   collect, ending in a [`outcome::Measured`] of raw counters.
//! - [`outcome`]: counters → [`TransportResult`], figures derived by `pushbench_results::derive`,
//!   warnings (generator-bound, loss, errors, kernel mismatch).
//! - [`ticker`]: the once-a-second `.hlog` writer, RSS sampler and progress bar.
//! - here: [`run`], the loop over every server, way to it, transport and link (the scenario's
//!   `networks`) that writes the results folder after each run.

pub mod outcome;
pub mod plan;
pub mod restart;
pub mod sweep;
pub mod ticker;
pub mod transport;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use pushbench_results::model::{Pinning, SCHEMA};
use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use pushbench_results::{folder, hlog, repeats, Status, Summary, TransportResult};
use pushbench_wire::Transport;
use tokio_util::sync::CancellationToken;

pub use plan::{Shard, TransportPlan};

use crate::client::Target;
use crate::metrics::Histos;
use crate::profile::ServerKind;
use crate::proxy::Via;
use crate::scenario::{HttpVersion, Scenario};
use transport::TransportRun;

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
    /// How long the pacer spins before each publish instead of sleeping ([`crate::pacer`]).
    pub pacer_spin: std::time::Duration,
    /// How long before its time a publisher is woken at most, to spin the rest itself.
    pub pacer_early: std::time::Duration,
    /// The cores of the embedded server and of load-gen, when split ([`crate::affinity`]); the
    /// caller has already pinned load-gen's own threads.
    pub pinning: Option<Pinning>,
    /// Runs of every transport, overriding the scenario's `repeat`.
    pub repeat: Option<usize>,
    /// Which servers, each run with every transport it serves: started by load-gen, or (with
    /// `target`, then only one) the profile to drive that server with.
    pub servers: Vec<ServerKind>,
    /// How subscribers reach each server: directly and/or through an nginx proxy, each run in
    /// turn ([`crate::proxy`]).
    pub via: Vec<Via>,
    /// Over an emulated link, record each run's packets on the clients' device into
    /// `<name>.pcap` ([`crate::link::capture`]).
    pub capture: bool,
}

/// Runs `scenario`; returns the summary and the run folder.
pub async fn run(
    scenario: &Scenario,
    opts: &Options,
    cancel: CancellationToken,
) -> anyhow::Result<(Summary, PathBuf)> {
    if opts.servers.is_empty() {
        anyhow::bail!("no server to run against");
    }
    if opts.via.is_empty() {
        anyhow::bail!("no way to reach the server: --via direct, nginx or nginx-tuned");
    }
    if opts.via.iter().any(|v| *v != Via::Direct) {
        crate::nginx::find().map_err(|e| anyhow::anyhow!("--via nginx needs nginx: {e}"))?;
    }
    for kind in &opts.servers {
        let profile = kind.profile();
        if profile.framing == crate::profile::Framing::Body
            && scenario.direction == crate::scenario::Direction::All
        {
            anyhow::bail!(
                "{}: direction = \"all\" needs every client to publish, and the {} profile drives push workloads only (its messages carry no sequence number, so many publishers to one topic could not be told apart)",
                scenario.name,
                profile.name
            );
        }
    }
    if !opts.servers.contains(&ServerKind::Pushbench) && !opts.server_args.is_empty() {
        anyhow::bail!("--server-arg passes flags to push-server, which this run does not start");
    }
    if let (None, Some(file)) = (
        &opts.target,
        opts.servers
            .iter()
            .find(|s| matches!(s, ServerKind::File(_))),
    ) {
        anyhow::bail!(
            "the profile {file} describes a server load-gen does not start: run it yourself and give --target http://HOST:PORT"
        );
    }
    if opts.target.is_some() && opts.servers.len() > 1 {
        anyhow::bail!("--target drives one server: give --server one profile with it");
    }
    if opts.capture && scenario.networks.is_empty() {
        anyhow::bail!(
            "--capture records the emulated link, and {} has no `network`",
            scenario.name
        );
    }
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
    std::fs::write(dir.join(folder::SCENARIO_TOML), &scenario.source)?;
    let mut software = Vec::new();
    for kind in &opts.servers {
        software.push(match (kind, &opts.target) {
            (ServerKind::Nchan, None) => {
                let install = crate::nchan::find().map_err(anyhow::Error::msg)?;
                format!(
                    "nchan ({})",
                    install.version().unwrap_or_else(|| "nginx".into())
                )
            }
            (kind, _) => kind.to_string(),
        });
    }
    let proxies: Vec<String> = opts
        .via
        .iter()
        .filter(|v| **v != Via::Direct)
        .map(|v| v.to_string())
        .collect();
    if !proxies.is_empty() {
        let version = crate::nginx::find()
            .ok()
            .and_then(|n| crate::nginx::version(&n))
            .unwrap_or_else(|| "nginx".into());
        software.push(format!("via {} ({version})", proxies.join(", ")));
    }
    let software = software.join(", ");
    let mut setup = crate::setup::capture(
        if opts.target.is_some() {
            "target"
        } else {
            "embedded"
        },
        &software,
        opts.pinning.clone(),
    );
    if opts.target.is_none() && opts.servers.contains(&ServerKind::Pushbench) {
        setup.server_threads = Some(embedded_threads(
            &opts.server_args,
            opts.pinning.as_ref().map(|p| p.server.len()),
        ));
    }
    folder::write_setup(&setup, &dir)?;
    let mut summary = Summary {
        schema: SCHEMA.into(),
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        started_utc,
        setup,
        complete: false,
        shard: (opts.shard != Shard::ALL).then(|| opts.shard.to_string()),
        warnings: Vec::new(),
        transports: Vec::new(),
        runs: Vec::new(),
    };
    let asked = opts
        .transports
        .clone()
        .unwrap_or_else(|| scenario.transports.clone());
    // What runs: every asked transport each server serves, each way it is reached. With several
    // servers or a proxy, each result is named `<transport>@<server>` or
    // `<transport>@<server>+<proxy>`, so the report sets them side by side.
    // "all" is every transport some server in this run serves: push-server alone does not
    // list multipart-mixed as skipped, nor Nchan alone iframe.
    let asked: Vec<Transport> = if asked == Transport::KNOWN {
        asked
            .into_iter()
            .filter(|t| {
                opts.servers
                    .iter()
                    .any(|s| s.profile().transports().contains(t))
            })
            .collect()
    } else {
        asked
    };
    let mut entries: Vec<Entry> = Vec::new();
    let side_by_side =
        opts.servers.len() > 1 || opts.via.len() > 1 || opts.via.iter().any(|v| *v != Via::Direct);
    // Over several links, each run is also named for its link: `<transport>~<network>`.
    let links: Vec<Option<usize>> = match scenario.networks.len() {
        0 => vec![None],
        n => (0..n).map(Some).collect(),
    };
    for &kind in &opts.servers {
        let profile = kind.profile();
        let served = profile.transports();
        let (run, skipped): (Vec<Transport>, Vec<Transport>) =
            asked.iter().partition(|t| served.contains(t));
        if !skipped.is_empty() {
            let list: Vec<String> = skipped.iter().map(|t| t.to_string()).collect();
            let note = format!(
                "{} does not serve {}: skipped",
                profile.name,
                list.join(", ")
            );
            eprintln!("{note}");
            summary.warnings.push(note);
        }
        for &via in &opts.via {
            for &t in &run {
                if via != Via::Direct && !via.proxies(t) {
                    let note =
                        format!("{t} is not HTTP: it does not go through --via {via}; skipped");
                    eprintln!("{note}");
                    summary.warnings.push(note);
                    continue;
                }
                let base = match (side_by_side, via) {
                    (false, _) => t.name().to_owned(),
                    (true, Via::Direct) => format!("{}@{}", t.name(), profile.name),
                    (true, via) => format!("{}@{}+{via}", t.name(), profile.name),
                };
                for &tls in &scenario.tls {
                    // The embedded push-server opens TLS ports; Nchan's and a --target's are
                    // not configured here.
                    let tls_served = kind == ServerKind::Pushbench && opts.target.is_none();
                    if tls && !tls_served {
                        let note = format!(
                            "{} is not served over TLS here (only the embedded push-server is): {t}:tls skipped",
                            profile.name
                        );
                        eprintln!("{note}");
                        summary.warnings.push(note);
                        continue;
                    }
                    for &http in &scenario.http {
                        if http == HttpVersion::H2 {
                            let why = if !tls_served {
                                Some(format!("{} is not served over HTTP/2 here (only the embedded push-server is)", profile.name))
                            } else if via != Via::Direct {
                                Some(format!("--via {via} is HTTP/1.1 to its clients"))
                            } else {
                                match t {
                                    Transport::RawTcp => Some("raw-tcp is not HTTP".to_owned()),
                                    _ => None,
                                }
                            };
                            if let Some(why) = why {
                                // Said once, though skipped with and without TLS.
                                let note = format!("{why}: {t}:h2 skipped");
                                if !summary.warnings.contains(&note) {
                                    eprintln!("{note}");
                                    summary.warnings.push(note);
                                }
                                continue;
                            }
                        }
                        // Over TLS: `<transport>:tls`, over HTTP/2 `:h2` after it, before the
                        // server and link parts.
                        let mut suffix = String::new();
                        if tls {
                            suffix.push_str(":tls");
                        }
                        if http == HttpVersion::H2 {
                            suffix.push_str(":h2");
                        }
                        let base = base.replacen(t.name(), &format!("{}{suffix}", t.name()), 1);
                        for &network in &links {
                            let name = match network {
                                Some(i) if scenario.networks.len() > 1 => {
                                    format!("{base}~{}", scenario.networks[i].name)
                                }
                                _ => base.clone(),
                            };
                            entries.push(Entry {
                                kind,
                                via,
                                transport: t,
                                network,
                                tls,
                                http,
                                name,
                            });
                        }
                    }
                }
            }
        }
    }
    if entries.is_empty() {
        anyhow::bail!(
            "{}, and nothing else was asked for",
            summary.warnings.join("; ")
        );
    }
    if let Some(note) = opts
        .target
        .is_none()
        .then(|| heartbeat_warning(scenario.reconnect.heartbeat_timeout, &opts.server_args))
        .flatten()
    {
        eprintln!("warning: {note}");
        summary.warnings.push(note);
    }
    let repeat = opts.repeat.unwrap_or(scenario.repeat);
    // With repeats, each entry's runs so far and their measured histograms added.
    let mut repeats: Vec<(Vec<TransportResult>, Tagged)> = vec![Default::default(); entries.len()];
    for (k, i) in plan::interleaved(entries.len(), repeat) {
        if cancel.is_cancelled() {
            break;
        }
        let Entry {
            kind,
            via,
            transport,
            network,
            tls,
            http,
            ref name,
        } = entries[i];
        let name = name.as_str();
        let over = scenario.over(network.map(|n| &scenario.networks[n]), tls, http);
        let files = RunFiles::new(&dir, &stamp, name, (repeat > 1).then_some(k));
        eprintln!("{}: starting", files.label);
        let entry_opts = Options {
            servers: vec![kind],
            via: vec![via],
            ..opts.clone()
        };
        let (mut result, totals) =
            match run_transport(transport, &over, &entry_opts, &files, &cancel).await {
                Ok(r) => r,
                Err(e) => (
                    TransportResult::failed(
                        name,
                        scenario.clients,
                        scenario.topics,
                        scenario.warmup.as_secs_f64(),
                        format!("{e:#}"),
                    ),
                    Histos::new(),
                ),
            };
        if name != transport.name() {
            // The run's own messages name the bare transport; side by side they must say which
            // server's run they are about.
            let prefix = format!("{}: ", transport.name());
            for w in &mut result.warnings {
                if let Some(rest) = w.strip_prefix(&prefix) {
                    *w = format!("{name}: {rest}");
                }
            }
            result.transport = name.to_owned();
        }
        if summary.setup.tls.is_none() && result.tls.is_some() {
            summary.setup.tls = result.tls.clone();
            folder::write_setup(&summary.setup, &dir)?;
        }
        match &result.error {
            Some(error) => eprintln!("{}: {}: {error}", files.label, result.status),
            None => eprintln!(
                "{}: {} — {} delivered, p99 {} µs",
                files.label, result.status, result.messages.seq.delivered, result.latency.p99_us
            ),
        }
        if repeat == 1 {
            summary.transports.push(result);
        } else {
            result.repeat = Some(k);
            summary.runs.push(result.clone());
            let (runs, measured) = &mut repeats[i];
            runs.push(result);
            for (tag, h) in totals.tagged(hlog::TAGS) {
                hlog::add_into(measured, tag, h);
            }
            merge_repeat_logs(&dir, name, runs)?;
            summary.transports = repeats
                .iter()
                .filter(|(runs, _)| !runs.is_empty())
                .map(|(runs, measured)| repeats::aggregate(runs, Some(measured)))
                .collect();
        }
        folder::write_summary(&summary, &dir)?;
    }
    summary.complete = !cancel.is_cancelled()
        && summary
            .transports
            .iter()
            .all(|t| t.status == Status::Complete);
    if cancel.is_cancelled() {
        summary
            .warnings
            .push("interrupted: the results hold what ran before Ctrl-C".into());
    }
    folder::write_summary(&summary, &dir)?;
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

/// One run of the matrix: a server, the way to it, a transport and a link, and the name its
/// results go under.
struct Entry {
    kind: ServerKind,
    via: Via,
    transport: Transport,
    /// Which of the scenario's `networks`; none on loopback.
    network: Option<usize>,
    /// Whether subscribers speak TLS.
    tls: bool,
    /// The HTTP version subscribers speak.
    http: HttpVersion,
    name: String,
}

/// Histograms by interval-log tag.
type Tagged = BTreeMap<String, Histogram<u64>>;

/// Where one run of one transport writes, and how it is named.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// Makes topic names unique to this run, so a long-lived `--target` server starts each run's
    /// topics empty.
    pub stamp: String,
    /// Its interval log.
    pub hlog: PathBuf,
    /// The embedded server's log.
    pub server_log: PathBuf,
    /// The packet capture of an emulated link's run, with `--capture`.
    pub capture: PathBuf,
    /// How progress lines name it: the transport, with the repeat when there are several.
    pub label: String,
}

impl RunFiles {
    /// The files of the run named `name` (a transport, or `<transport>@<server>`) in `dir`;
    /// with `repeat`, the `repeat`-th of several (`<name>.repeat-<k>.hlog`, its merge going to
    /// `<name>.hlog`).
    pub fn new(dir: &Path, stamp: &str, name: &str, repeat: Option<usize>) -> Self {
        match repeat {
            None => RunFiles {
                stamp: stamp.to_owned(),
                hlog: folder::hlog_path(dir, name),
                server_log: dir.join(format!("{name}.server.log")),
                capture: dir.join(format!("{name}.pcap")),
                label: name.to_owned(),
            },
            Some(k) => RunFiles {
                stamp: format!("{stamp}r{k}"),
                hlog: dir.join(format!("{name}.repeat-{}.hlog", k + 1)),
                server_log: dir.join(format!("{name}.repeat-{}.server.log", k + 1)),
                capture: dir.join(format!("{name}.repeat-{}.pcap", k + 1)),
                label: format!("{name} (repeat {})", k + 1),
            },
        }
    }
}

/// Adds the interval logs of `transport`'s repeats so far into `<transport>.hlog`, the log the
/// report draws from.
fn merge_repeat_logs(dir: &Path, name: &str, runs: &[TransportResult]) -> anyhow::Result<()> {
    let mut merged: Option<hlog::TransportLog> = None;
    for run in runs {
        let path = RunFiles::new(dir, "", name, run.repeat).hlog;
        let Ok(bytes) = std::fs::read(&path) else {
            continue; // a run that failed before its clock started has no log
        };
        let log = hlog::read(&bytes, &path)?;
        match &mut merged {
            None => merged = Some(log),
            Some(m) => m.add(&log),
        }
    }
    if let Some(log) = merged {
        hlog::write(&log, &folder::hlog_path(dir, name))?;
    }
    Ok(())
}

/// Runs one transport from server start to server stop; returns its result and its
/// measured-window histograms.
async fn run_transport(
    transport: Transport,
    scenario: &Scenario,
    opts: &Options,
    files: &RunFiles,
    ctrl_c: &CancellationToken,
) -> anyhow::Result<(TransportResult, Histos)> {
    let threads = tokio::runtime::Handle::current().metrics().num_workers();
    let plan = TransportPlan::new(scenario, opts.shard, transport, &files.stamp, threads);
    let mut run = TransportRun::start(&plan, opts, files, ctrl_c).await?;
    let tls = run.probe_tls().await?;
    let connected = run.connect().await;
    let published = run.publish(connected, &files.hlog, opts.progress).await?;
    let mut measured = run.drain_and_collect(published).await?;
    let totals = std::mem::take(&mut measured.totals);
    let capacity = outcome::Capacity::of(opts.pinning.as_ref(), threads);
    let mut result = outcome::result(&plan, measured, capacity);
    result.tls = tls;
    Ok((result, totals))
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
        ns: None,
        tls: None,
    })
}

/// A warning when the clients' heartbeat timeout would give up on streams that are only idle:
/// the embedded server's heartbeat (its `--heartbeat-ms` among `server_args`) is as long.
fn heartbeat_warning(
    timeout: Option<std::time::Duration>,
    server_args: &[String],
) -> Option<String> {
    let timeout = timeout?;
    let heartbeat = transport::server_heartbeat(server_args);
    (timeout <= heartbeat).then(|| {
        format!(
            "the clients' heartbeat_timeout ({timeout:?}) is not longer than the server's heartbeat ({heartbeat:?}): idle streams will be given up and replaced"
        )
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

/// The threads the embedded push-server serves with: its `--threads` among `server_args`, or
/// what it defaults to, one per core it may use (`pinned_cores` of them, or every core).
fn embedded_threads(server_args: &[String], pinned_cores: Option<usize>) -> usize {
    let mut args = server_args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--threads") {
            Some(rest) if rest.starts_with('=') => Some(rest[1..].to_owned()),
            Some("") => args.next().cloned(),
            _ => None,
        };
        if let Some(n) = value
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
        {
            return n;
        }
    }
    pinned_cores.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_heartbeat_timeout_within_the_servers_heartbeat_is_warned_of() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let secs = |s| Some(std::time::Duration::from_secs(s));
        // push-server's default heartbeat is 15 s.
        assert_eq!(heartbeat_warning(secs(45), &[]), None);
        assert_eq!(
            heartbeat_warning(None, &args(&["--heartbeat-ms=60000"])),
            None
        );
        let w = heartbeat_warning(secs(45), &args(&["--heartbeat-ms", "60000"])).unwrap();
        assert!(w.contains("45s") && w.contains("60s"), "{w}");
        assert!(heartbeat_warning(secs(15), &[]).is_some());
    }

    #[test]
    fn the_server_threads_are_its_flag_or_its_cores() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(embedded_threads(&args(&["--threads=3"]), Some(1)), 3);
        assert_eq!(
            embedded_threads(&args(&["--ring-size=9", "--threads", "2"]), None),
            2
        );
        assert_eq!(embedded_threads(&args(&["--ring-size=9"]), Some(1)), 1);
        assert_eq!(
            embedded_threads(&[], None),
            std::thread::available_parallelism().unwrap().get()
        );
    }
}
