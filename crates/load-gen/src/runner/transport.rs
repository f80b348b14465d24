//! One transport's run, from server start to server stop, in phases: [`TransportRun::start`]
//! (the server, or `--target`), [`TransportRun::connect`] (every subscriber subscribed),
//! [`TransportRun::publish`] (the clock starts, the open-loop schedule runs to its end),
//! and [`TransportRun::drain_and_collect`] (stragglers arrive, then clients and server
//! stop, counters are summed into a [`Measured`]). The state between phases lives in the
//! struct's fields, each saying why it is there.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pushbench_results::model::{Messages, Percentiles, SeqCounts, TimelinePoint};
use pushbench_results::Traffic;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::outcome::{Measured, ProxyMeasured};
use super::plan::{TransportPlan, Upstream, CONNECT_WAVE};
use super::{restart, ticker, Options};
use crate::client::{self, publish, restart::Epochs, Target};
use crate::link::{Link, LinkSpec};
use crate::metrics::{Clock, Fanout, Recorder};
use crate::pacer::Pacer;
use crate::process::{self, ProcSample, ServerProcess};
use crate::profile::ServerKind;
use crate::proxy::{self, Via};
use crate::scenario::HttpVersion;
use crate::seqtrack::SeqTracker;
use pushbench_wire::Transport;

/// Connections of each kind (plain, TLS) the TLS probe opens to measure a handshake's CPU.
const PROBE_CONNECTIONS: u32 = 100;

/// A transport's run in progress.
pub struct TransportRun<'p> {
    /// What to run.
    plan: &'p TransportPlan<'p>,
    /// The embedded server, when load-gen started one (`None` with `--target`); stopped at the
    /// end so its CPU time and RSS are this transport's alone.
    server: Option<ServerProcess>,
    /// The server's pid, for `/proc` samples (none for `--target`).
    pid: Option<u32>,
    /// The reverse proxy in front of the server (`--via`), sampled and stopped like it.
    proxy: Option<ServerProcess>,
    /// Why the proxied streams can outlast its read timeout in silence, if they can.
    proxy_quiet: Option<String>,
    /// Which proxy, if any, the subscribers go through.
    via: Via,
    /// The server's RSS and CPU before any client connected.
    idle: ProcSample,
    /// Cancelled when the drain ends, or with `ctrl_c` on Ctrl-C: ends every client task.
    stop: CancellationToken,
    /// The run's Ctrl-C token: an interrupted run is partial, not complete.
    ctrl_c: CancellationToken,
    /// What every subscriber shares (target, token, settings, start signal).
    shared: Arc<client::Shared>,
    /// Hands every subscriber the recorder when the schedule starts.
    start: watch::Sender<Option<Arc<Recorder>>>,
    /// Everything a reader should not miss, gathered along the way.
    warnings: Vec<String>,
    /// The server's pid as the ticker samples it: a restart fault replaces the process.
    ticker_pid: Arc<AtomicU32>,
    /// What the restart fault did, once it has.
    restarted: Option<restart::Restarted>,
    /// With faults: the sampler of subscribers and deliveries over time, stopped after the
    /// drain.
    timeline: Option<(CancellationToken, JoinHandle<Vec<TimelinePoint>>)>,
    /// The emulated link (`network`), stopped once the clients and the server have.
    link: Option<Link>,
}

impl std::fmt::Debug for TransportRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportRun")
            .field("transport", &self.plan.transport)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// The subscribers, connected and waiting for the schedule.
#[derive(Debug)]
pub struct Connected {
    /// Their tasks; each returns its traffic, its sequence tracker and its topic.
    handles: Vec<JoinHandle<(Traffic, SeqTracker, usize)>>,
    /// How many had subscribed when the schedule started.
    ready: usize,
    /// The server's RSS with every client connected.
    server: ProcSample,
    /// The proxy's, likewise.
    proxy: ProcSample,
    /// load-gen's own RSS before the first client was spawned and once all were ready.
    generator_rss: (u64, u64),
}

/// The schedule has run to its end.
#[derive(Debug)]
pub struct Published {
    /// Subscribers still reading.
    connected: Connected,
    /// Where every task recorded.
    recorder: Arc<Recorder>,
    /// Writes the `.hlog` and samples RSS until stopped.
    ticker: ticker::Ticker,
    /// The HTTP publishers' tasks: push publishers (counted apart from subscribers) or the HTTP
    /// transports' upstream (counted with them), by the plan's [`Upstream`].
    publishers: Vec<JoinHandle<Traffic>>,
    /// CPU seconds of server and generator when the schedule started.
    cpu0: (f64, f64),
    /// The proxy's CPU seconds then.
    proxy_cpu0: f64,
}

impl<'p> TransportRun<'p> {
    /// Starts the embedded server (unless `opts.target`) and samples it idle.
    pub async fn start(
        plan: &'p TransportPlan<'p>,
        opts: &Options,
        files: &super::RunFiles,
        ctrl_c: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let scenario = plan.scenario;
        let server_log = files.server_log.as_path();
        if scenario.faults.restart.is_some() {
            // A restart needs a server load-gen owns and clients that reach it directly (a
            // proxy would stay up and hide which process a connection reached).
            if opts.target.is_some() || opts.servers[0] != ServerKind::Pushbench {
                anyhow::bail!(
                    "the scenario's restart fault needs the embedded push-server: load-gen cannot restart {}",
                    opts.target.as_ref().map_or_else(
                        || opts.servers[0].profile().name.to_owned(),
                        |t| format!("--target {}", t.http)
                    )
                );
            }
            if opts.via.iter().any(|v| v.proxies(plan.transport)) {
                anyhow::bail!("the scenario's restart fault cannot run behind --via: the proxy would stay up while the server restarts");
            }
        }
        debug_assert!(
            scenario.networks.len() <= 1,
            "a run goes over one link: Scenario::over"
        );
        let link = match scenario.networks.first() {
            Some(network) => {
                // The link puts the server in a namespace of its own: only a server load-gen
                // starts can go there, and a proxy in front would stand outside it.
                if opts.target.is_some() || opts.servers[0] != ServerKind::Pushbench {
                    anyhow::bail!("the scenario's network needs the embedded push-server: load-gen cannot put another server behind the emulated link yet");
                }
                if opts.via.iter().any(|v| v.proxies(plan.transport)) {
                    anyhow::bail!("the scenario's network cannot run with --via yet: the proxy would stand outside the emulated link");
                }
                crate::link::available().map_err(anyhow::Error::msg)?;
                let mut link = Link::start(
                    LinkSpec::of(&network.link),
                    scenario.seed,
                    opts.pinning.as_ref(),
                )?;
                if opts.capture {
                    link.capture(&files.capture)?;
                }
                Some(link)
            }
            None => None,
        };
        let cpus = opts.pinning.as_ref().map(|p| &p.server[..]);
        let server = match (&opts.target, opts.servers[0]) {
            (Some(_), _) => None,
            (None, ServerKind::Pushbench) => Some(
                ServerProcess::start_in(
                    link.as_ref().map(|l| l.server.clone()),
                    opts.server_exe.as_deref(),
                    &opts.server_args,
                    cpus,
                    server_log,
                )
                .await?,
            ),
            (None, ServerKind::File(p)) => {
                anyhow::bail!(
                    "the {} profile needs --target: load-gen does not start that server",
                    p.name
                )
            }
            (None, ServerKind::Nchan) => {
                let install = crate::nchan::find().map_err(anyhow::Error::msg)?;
                // Beside the run's server log, one per repeat like the log.
                let log_name = server_log.file_name().unwrap_or_default().to_string_lossy();
                let conf =
                    server_log.with_file_name(log_name.replace(".server.log", ".nginx.conf"));
                Some(
                    ServerProcess::start_nchan(
                        &install,
                        scenario.long_poll_timeout,
                        cpus,
                        &conf,
                        server_log,
                    )
                    .await?,
                )
            }
        };
        let server_target = match (&opts.target, &server) {
            (Some(t), _) => t.clone(),
            (None, Some(s)) => Target {
                http: s.http,
                tcp: s.tcp,
                host: s.http.to_string(),
                // Publishers stand beside the server, as a back end does.
                ns: link.as_ref().map(|l| l.server.clone()),
                tls: None,
            },
            (None, None) => unreachable!("a server was started above"),
        };
        let via = opts.via.first().copied().unwrap_or(Via::Direct);
        let heartbeat = server_heartbeat(&opts.server_args);
        let mut proxy_quiet = None;
        let proxy = if via.proxies(plan.transport) {
            let nginx = crate::nginx::find().map_err(|e| anyhow::anyhow!("--via {via}: {e}"))?;
            let log_name = server_log.file_name().unwrap_or_default().to_string_lossy();
            let beside =
                |ext: &str| server_log.with_file_name(log_name.replace(".server.log", ext));
            let settings = |port, prefix: &Path| proxy::Settings {
                upstream: server_target.http,
                port,
                prefix: prefix.to_owned(),
                heartbeat,
                long_poll_timeout: scenario.long_poll_timeout,
                connections: plan.clients.len() + 256,
            };
            let read_timeout = match via {
                Via::NginxTuned => settings(0, Path::new("")).tuned_read_timeout(),
                _ => proxy::DEFAULT_READ_TIMEOUT,
            };
            proxy_quiet = proxy::quiet_stream(
                plan.transport,
                opts.servers[0].profile().name,
                heartbeat,
                read_timeout,
            );
            // On the server's cores: the proxy is part of what serves the clients, and
            // load-gen's cores stay its own.
            Some(
                ServerProcess::start_nginx(
                    &nginx,
                    cpus,
                    &beside(".proxy.conf"),
                    &beside(".proxy.log"),
                    |port, prefix| proxy::config(via, &settings(port, prefix)),
                )
                .await?,
            )
        } else {
            None
        };
        // Subscribers go through the proxy when there is one; publishers never do.
        let target = match &proxy {
            Some(p) => Target {
                http: p.http,
                tcp: server_target.tcp,
                host: p.http.to_string(),
                ns: None,
                tls: None,
            },
            // Over an emulated link, from its far side.
            None => Target {
                ns: link.as_ref().map(|l| l.clients.clone()),
                ..server_target.clone()
            },
        };
        let http2 = scenario.http.first() == Some(&HttpVersion::H2);
        // Over TLS: the server's TLS ports, the same host.
        let target = match (scenario.tls.first() == Some(&true), &server) {
            (false, _) => target,
            (true, Some(s)) if proxy.is_none() => {
                let https = s.https.context("the server has no HTTPS port")?;
                let tls = crate::tls::TlsClient::new(&https.ip().to_string(), http2)
                    .map_err(anyhow::Error::msg)?;
                Target {
                    http: https,
                    tcp: s.tcp_tls,
                    host: https.to_string(),
                    tls: Some(tls),
                    ..target
                }
            }
            (true, _) => anyhow::bail!(
                "TLS runs the embedded push-server directly (not --via, not --target)"
            ),
        };
        let pid = server.as_ref().map(|s| s.pid);
        let stop = ctrl_c.child_token();
        let headers = client::request_headers(scenario.request_headers, &target.host);
        let (start, start_rx) = watch::channel(None);
        let shared = Arc::new(client::Shared {
            target,
            publish_target: server_target,
            profile: opts.servers[0].profile(),
            cancel: stop.clone(),
            ready: Default::default(),
            subscribed: Default::default(),
            fewest_subscribed: Default::default(),
            start: start_rx,
            encoding: plan.encoding,
            poll_interval: scenario.poll_interval,
            poll_new_connection: scenario.poll_new_connection,
            long_poll_timeout: scenario.long_poll_timeout,
            http2,
            h2_pool: scenario.multiplex.filter(|_| http2).map(|streams| {
                let stream = !matches!(plan.transport, Transport::ShortPoll | Transport::LongPoll);
                crate::http2::Pool::new(plan.clients.len(), streams, stream)
            }),
            header_block: client::header_block(&headers),
            headers,
            pacer: Pacer::start(opts.pacer_spin, opts.pacer_early)
                .context("starting the pacer thread")?,
            mismatch: Default::default(),
            drop: scenario
                .faults
                .drop
                .map(|fault| (fault, scenario.warmup + scenario.duration)),
            reconnect: scenario.reconnect,
            seed: scenario.seed,
            epochs: scenario
                .faults
                .restart
                .map(|_| Arc::new(Epochs::new(plan.subscribers.len()))),
        });
        Ok(TransportRun {
            plan,
            server,
            via: if proxy.is_some() { via } else { Via::Direct },
            proxy,
            proxy_quiet,
            idle: pid.and_then(process::sample).unwrap_or_default(),
            pid,
            stop,
            ctrl_c: ctrl_c.clone(),
            shared,
            start,
            warnings: Vec::new(),
            ticker_pid: Arc::new(AtomicU32::new(pid.unwrap_or(0))),
            restarted: None,
            timeline: None,
            link,
        })
    }

    /// The proxy's CPU and RSS now, if there is one and it is alive.
    fn proxy_sample(&self) -> Option<ProcSample> {
        self.proxy.as_ref().and_then(|p| process::sample(p.pid))
    }

    /// Waits while fewer than `n` subscribers are ready, until the connect deadline.
    async fn await_ready(&self, n: usize, deadline: Instant) {
        while self.shared.ready.load(Relaxed) < n
            && Instant::now() < deadline
            && !self.stop.is_cancelled()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Over TLS, what the server's TLS settles on with the subscribers' settings, and what a
    /// handshake costs each side in CPU: from connections of its own, before the subscribers'
    /// (so none of their bytes), and from beside the server, as the publishers connect, so they
    /// do not cross an emulated link (whose capture holds the subscribers' bytes only). `None`
    /// without TLS.
    pub async fn probe_tls(&self) -> anyhow::Result<Option<pushbench_results::model::TlsFacts>> {
        let target = &self.shared.target;
        let Some(tls) = &target.tls else {
            return Ok(None);
        };
        let plain = &self.shared.publish_target;
        // The ports this transport's subscribers use: raw TCP's, or HTTPS; and their plain twins.
        let http = self.plan.transport != pushbench_wire::Transport::RawTcp;
        let (addr, plain_addr) = match http {
            true => (target.http, plain.http),
            false => (
                target.tcp.context("the server has no TLS raw TCP port")?,
                plain.tcp.context("the server has no raw TCP port")?,
            ),
        };
        let beside = plain.ns.as_deref();
        let io = crate::net::connect_from(beside, addr, 0).await?;
        let mut conn = crate::net::Conn::tls(io, tls, http)
            .await
            .with_context(|| format!("a TLS handshake with {addr}"))?;
        let negotiated = conn.negotiated().context("a TLS connection without TLS")?;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut conn).await;
        // A handshake's CPU: as many plain connections as TLS ones, each opened and closed in
        // turn; the difference is the handshake's (and the TLS close's), on each side.
        let with_tls = self.connections_cpu(addr, Some((tls, http))).await?;
        let without = self.connections_cpu(plain_addr, None).await?;
        let per = |a: Option<f64>, b: Option<f64>| {
            a.zip(b)
                .map(|(a, b)| (a - b) * 1e6 / PROBE_CONNECTIONS as f64)
        };
        Ok(Some(pushbench_results::model::TlsFacts {
            version: negotiated.version,
            cipher_suite: negotiated.cipher_suite,
            alpn: negotiated.alpn,
            certificate: "self-signed, generated by push-server at start (rcgen)".into(),
            handshake_server_us: per(with_tls.0, without.0),
            handshake_client_us: per(Some(with_tls.1), Some(without.1)),
        }))
    }

    /// Server and load-gen CPU seconds spent on [`PROBE_CONNECTIONS`] connections to `addr`
    /// (over TLS if `tls`), opened and closed one after another; the server's `None` without
    /// its pid (`--target`).
    async fn connections_cpu(
        &self,
        addr: std::net::SocketAddr,
        tls: Option<(&crate::tls::TlsClient, bool)>,
    ) -> anyhow::Result<(Option<f64>, f64)> {
        let beside = self.shared.publish_target.ns.as_deref();
        let server = || self.pid.and_then(crate::process::sample).map(|s| s.cpu_s);
        let (server_before, own_before) = (server(), crate::process::sample_self().cpu_s);
        for i in 0..PROBE_CONNECTIONS as usize {
            let io = crate::net::connect_from(beside, addr, i).await?;
            let mut conn = match tls {
                Some((tls, http)) => crate::net::Conn::tls(io, tls, http).await?,
                None => crate::net::Conn::plain(io),
            };
            tokio::io::AsyncWriteExt::shutdown(&mut conn).await?;
            // The server's close, so its side of the connection is done too (bounded: a
            // server that keeps it open only costs the probe a second).
            let mut rest = [0u8; 64];
            let closed = tokio::io::AsyncReadExt::read(&mut conn, &mut rest);
            let _ = tokio::time::timeout(Duration::from_secs(1), closed).await;
        }
        let own = crate::process::sample_self().cpu_s - own_before;
        Ok((server().zip(server_before).map(|(a, b)| a - b), own))
    }

    /// Spawns every subscriber, a wave at a time, and waits for them to subscribe.
    pub async fn connect(&mut self) -> Connected {
        let deadline = Instant::now() + self.plan.connect_timeout;
        // Memory an earlier transport's run freed would otherwise be reused by these clients
        // and hide their cost; returned to the kernel first, what connecting adds is theirs.
        // load-gen allocates with mimalloc (see `main.rs`), so it is mimalloc's free memory
        // that is given back (glibc's `malloc_trim` did this before).
        // SAFETY: mi_collect only releases free memory; it touches no live allocation.
        unsafe {
            libmimalloc_sys::mi_collect(true);
        }
        let generator_before = process::sample_self().rss_bytes;
        let clients = self.plan.subscribers();
        let total = clients.len();
        let mut handles = Vec::with_capacity(total);
        for (n, client) in clients.into_iter().enumerate() {
            handles.push(tokio::spawn(client::run_subscriber(
                self.plan.transport,
                self.shared.clone(),
                client,
            )));
            if (n + 1) % CONNECT_WAVE == 0 {
                // Let all but the last wave finish before starting another.
                self.await_ready(n + 1 - CONNECT_WAVE, deadline).await;
            }
        }
        self.await_ready(total, deadline).await;
        let ready = self.shared.ready.load(Relaxed);
        if ready < total {
            self.warnings.push(format!(
                "{}: only {ready} of {total} subscribers were ready when the schedule started",
                self.plan.transport
            ));
        }
        Connected {
            handles,
            ready,
            server: self.pid.and_then(process::sample).unwrap_or_default(),
            proxy: self.proxy_sample().unwrap_or_default(),
            generator_rss: (generator_before, process::sample_self().rss_bytes),
        }
    }

    /// Starts the clock and the publishers, and runs the schedule to its end (or Ctrl-C).
    pub async fn publish(
        &mut self,
        connected: Connected,
        hlog: &Path,
        progress: bool,
    ) -> anyhow::Result<Published> {
        let plan = self.plan;
        // The clock starts now: every intended time is measured from here.
        let clock = Clock::starting_at(Instant::now() + Duration::from_millis(20));
        let recorder = Arc::new(Recorder::new(
            clock,
            plan.stripes,
            plan.warmup_ns,
            plan.end_ns,
            Fanout::new(plan.subscribers.clone()),
            plan.scheduled_messages(),
        ));
        self.start.send_replace(Some(recorder.clone()));
        let mut cpu0 = (
            self.pid.and_then(process::sample).unwrap_or_default().cpu_s,
            process::sample_self().cpu_s,
        );
        let proxy_cpu0 = self.proxy_sample().unwrap_or_default().cpu_s;
        let tasks: Vec<JoinHandle<Traffic>> = plan
            .publishers()
            .into_iter()
            .map(|p| tokio::spawn(publish::run(self.shared.clone(), p, recorder.clone())))
            .collect();
        let bar = progress.then(|| {
            let s = plan.scenario;
            ticker::progress_bar(plan.transport, (s.warmup + s.duration).as_secs())
        });
        let ticker = ticker::spawn(
            recorder.clone(),
            hlog.to_path_buf(),
            self.ticker_pid.clone(),
            Duration::from_nanos(plan.warmup_ns),
            bar,
        )?;
        let faults = &plan.scenario.faults;
        if faults.drop.is_some() || faults.restart.is_some() || faults.outage.is_some() {
            let stop = CancellationToken::new();
            let task = tokio::spawn(restart::timeline(
                self.shared.clone(),
                recorder.clone(),
                stop.clone(),
            ));
            self.timeline = Some((stop, task));
        }
        if let (Some(outage), Some(link)) = (faults.outage, &self.link) {
            let (from, until) = (outage.at, outage.at + outage.length);
            let ns = |d: Duration| d.as_nanos() as u64;
            link.cut(clock.at(ns(from)), clock.at(ns(until)));
            let _ = recorder
                .outage
                .set(crate::metrics::OutageWatch::new(ns(from), ns(until)));
        }
        if let Some(fault) = plan.scenario.faults.restart {
            let due = tokio::select! {
                _ = self.stop.cancelled() => false,
                _ = tokio::time::sleep_until(clock.at(fault.at.as_nanos() as u64).into()) => true,
            };
            if due {
                self.restart(
                    fault,
                    &recorder,
                    &mut cpu0.0,
                    connected.ready,
                    clock.at(plan.end_ns),
                )
                .await?;
            }
        }
        // The schedule ends at warm-up + duration; upstream schedules end with it.
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = tokio::time::sleep_until(clock.at(plan.end_ns).into()) => {}
        }
        Ok(Published {
            connected,
            recorder,
            ticker,
            publishers: tasks,
            cpu0,
            proxy_cpu0,
        })
    }

    /// The restart fault: stops the server as `fault` says, moves the clients to its next life
    /// and starts it again on the same ports, then watches the reconnect storm (the new
    /// process's CPU) until all `clients` are back or the schedule ends at `end`. The old
    /// process's CPU until the signal stays in the run's (`cpu0` moves by it); what it spent
    /// shutting down is not sampled.
    async fn restart(
        &mut self,
        fault: crate::scenario::RestartFault,
        recorder: &Recorder,
        cpu0: &mut f64,
        clients: usize,
        end: Instant,
    ) -> anyhow::Result<()> {
        let epochs = self
            .shared
            .epochs
            .clone()
            .expect("a restart fault has epochs");
        let server = self
            .server
            .as_mut()
            .expect("checked at start: an embedded server");
        let old_cpu = process::sample(server.pid).unwrap_or_default().cpu_s;
        let at_ns = recorder.clock.now_ns();
        epochs.stopping();
        let clean_exit = server.halt(fault.how).await?;
        let exited_ns = recorder.clock.now_ns();
        epochs.next_life();
        let new = server
            .relaunch()
            .await
            .context("starting push-server again after the restart fault stopped it")?;
        let listening_ns = recorder.clock.now_ns();
        epochs.up();
        *cpu0 -= old_cpu;
        self.pid = Some(new.pid);
        self.ticker_pid.store(new.pid, Relaxed);
        self.server = Some(new);
        let peak_cpu = restart::watch_storm(
            self.pid.expect("set above"),
            &epochs,
            clients,
            end,
            &self.stop,
        )
        .await;
        self.restarted = Some(restart::Restarted {
            how: fault.how,
            at_ns,
            exited_ns,
            listening_ns,
            clean_exit,
            clients,
            peak_cpu,
        });
        Ok(())
    }

    /// Waits for every expected delivery (up to the scenario's drain time), then stops the
    /// clients and the server and sums what everyone counted.
    pub async fn drain_and_collect(mut self, p: Published) -> anyhow::Result<Measured> {
        let plan = self.plan;
        let recorder = &p.recorder;
        let deadline = tokio::time::Instant::now() + plan.scenario.drain;
        drain(recorder, &plan.subscribers, deadline, &self.stop).await;
        // What was published when the drain ended is what subscribers were owed; anything a
        // publisher still sends after this is a late publish, not a transport's loss.
        let unsettled = recorder.scheduled.load(Relaxed);
        let published_at_end: Vec<u64> = published(recorder).collect();
        let outstanding = owed(published_at_end.iter().copied(), &plan.subscribers)
            .saturating_sub(recorder.delivered.load(Relaxed));
        if outstanding > 0 && !self.ctrl_c.is_cancelled() {
            self.warnings.push(format!(
                "{}: {outstanding} deliveries still outstanding when the {:?} drain ended",
                plan.transport, plan.scenario.drain
            ));
        }
        let wall_s = recorder.clock.now_ns() as f64 / 1e9;
        // Asked before anything is stopped: a server that died or stopped answering fails the
        // run, whatever the clients counted.
        // A profile that does not match the server stopped the run early: that is the failure.
        let mismatch = self.shared.mismatch.get().cloned();
        let failure = match &mut self.server {
            Some(s) => s
                .failure()
                .map(|why| format!("{} {why}", self.shared.profile.process)),
            None => answering(&self.shared.publish_target, plan.transport)
                .await
                .err()
                .map(|e| format!("the server stopped answering: {e}")),
        }
        .or_else(|| {
            let proxy = self.proxy.as_mut()?;
            proxy.failure().map(|why| format!("the nginx proxy {why}"))
        });
        let failure = mismatch.or(failure);
        // A dead server has no `/proc` entry: its CPU is unknown, not the negative of its start.
        let server_end = self.pid.and_then(process::sample);
        let proxy_measured = self.proxy.as_ref().map(|_| ProxyMeasured {
            via: self.via,
            connected: p.connected.proxy,
            // A dead proxy's CPU is unknown, as a dead server's is.
            cpu_s: self
                .proxy_sample()
                .map_or(0.0, |end| end.cpu_s - p.proxy_cpu0),
            quiet: self.proxy_quiet.clone(),
            hop_by_hop: self
                .shared
                .profile
                .subscribe(plan.transport)
                .map(|s| s.headers)
                .unwrap_or_default()
                .iter()
                .filter(|(name, _)| proxy::HOP_BY_HOP.contains(name))
                .copied()
                .collect(),
        });
        let timeline = match self.timeline.take() {
            Some((stop, task)) => {
                stop.cancel();
                task.await.context("the timeline sampler")?
            }
            None => Vec::new(),
        };
        let generator_cpu_s = process::sample_self().cpu_s - p.cpu0.1;
        let rss_peak = p.ticker.stop().await?;

        self.stop.cancel();
        let mut traffic = Vec::with_capacity(p.publishers.len());
        for h in p.publishers {
            traffic.push(h.await.context("publisher task")?);
        }
        let (publishers, upstream) = match plan.upstream {
            Upstream::PerTopic => (traffic, Vec::new()),
            _ => (Vec::new(), traffic),
        };
        let mut subscribers = Vec::with_capacity(p.connected.handles.len());
        let mut seq = SeqCounts::default();
        for h in p.connected.handles {
            let (traffic, tracker, topic_index) = h.await.context("subscriber task")?;
            seq.add(&tracker.finish(published_at_end[topic_index]));
            subscribers.push(traffic);
        }
        // Shared connections (`multiplex`) outlive their subscribers: their books close now.
        if let Some(pool) = &self.shared.h2_pool {
            let pooled = pool.close_all().await;
            match subscribers.first_mut() {
                Some(first) => *first += &pooled,
                None => subscribers.push(pooled),
            }
        }
        // Every client has stopped: nothing is published any more.
        let published_now: Vec<u64> = published(recorder).collect();
        let published_late: u64 = published_now
            .iter()
            .zip(&published_at_end)
            .map(|(now, then)| now.saturating_sub(*then))
            .sum();
        // Loss is counted over the schedule: a message the server never accepted is lost to
        // every subscriber of its topic. One published after the drain ended is not among them
        // (it was accepted; its deliveries were not owed). Cut short by Ctrl-C, the rest of the
        // schedule was never due.
        let never_published: Vec<u64> = if self.ctrl_c.is_cancelled() {
            vec![0; published_at_end.len()]
        } else {
            plan.scheduled_per_topic()
                .iter()
                .zip(&published_now)
                .map(|(scheduled, published)| scheduled.saturating_sub(*published))
                .collect()
        };
        let publish_failed: u64 = never_published.iter().sum();
        let lost_unpublished = owed(never_published.iter().copied(), &plan.subscribers);
        seq.lost += lost_unpublished;
        if publish_failed > 0 {
            self.warnings.push(format!(
                "{}: {publish_failed} scheduled messages were never published ({unsettled} still unsent when the {:?} drain ended, {published_late} of those went out later); their {lost_unpublished} deliveries are counted as lost",
                plan.transport, plan.scenario.drain
            ));
        }
        if let Some(proxy) = self.proxy.take() {
            if !proxy.stop().await? && failure.is_none() {
                self.warnings.push(format!(
                    "{}: the nginx proxy did not exit cleanly on SIGTERM",
                    plan.transport
                ));
            }
        }
        let clean_exit = match self.server.take() {
            Some(s) => s.stop().await?,
            None => true,
        };
        let link = match self.link.take() {
            Some(l) => Some(l.stop()?),
            None => None,
        };
        if !clean_exit && failure.is_none() {
            self.warnings.push(format!(
                "{}: {} did not exit cleanly on SIGTERM",
                plan.transport, self.shared.profile.process
            ));
        }
        let totals = recorder.totals();
        Ok(Measured {
            interrupted: self.ctrl_c.is_cancelled(),
            clients_ready: p.connected.ready,
            failure,
            messages: Messages {
                published: published_at_end.iter().sum(),
                expected: owed(published_at_end.iter().copied(), &plan.subscribers)
                    + lost_unpublished,
                unpublished: unsettled,
                publish_failed,
                seq,
                fanout_incomplete: recorder.fanout.incomplete(),
            },
            measured_deliveries: totals.latency.len(),
            latency: Percentiles::of(&totals.latency),
            actual_send_latency: Percentiles::of(&totals.actual),
            fanout_latency: Percentiles::of(&totals.fanout),
            publish_lag: Percentiles::of(&totals.publish_lag),
            replay_latency: Percentiles::of(&totals.replay),
            reconnect_time: Percentiles::of(&totals.reconnect),
            restart: self.restarted.as_ref().map(|r| {
                let storm = self
                    .shared
                    .epochs
                    .as_ref()
                    .map(|e| e.storm())
                    .unwrap_or_default();
                r.figures(&storm, &subscribers)
            }),
            timeline,
            link: link.map(|l| {
                crate::link::figures(
                    plan.scenario
                        .networks
                        .first()
                        .expect("a link has its network"),
                    &l,
                )
            }),
            outage: recorder.outage.get().map(|w| {
                let after = |ns: u64| {
                    (ns != 0 && ns != u64::MAX).then(|| ns.saturating_sub(w.until_ns) as f64 / 1e6)
                };
                pushbench_results::model::OutageResult {
                    at_s: w.from_ns as f64 / 1e9,
                    for_s: (w.until_ns - w.from_ns) as f64 / 1e9,
                    first_delivery_ms: after(w.first_after.load(Relaxed)),
                    caught_up_ms: after(w.caught_up.load(Relaxed)),
                }
            }),
            subscribers: subscribers.iter().sum(),
            upstream: upstream.iter().sum(),
            publishers: publishers.iter().sum(),
            server_sampled: server_end.is_some(),
            server_idle: self.idle,
            server_connected: p.connected.server,
            server_cpu_s: server_end.map_or(0.0, |end| end.cpu_s - p.cpu0.0),
            server_rss_peak: rss_peak,
            proxy: proxy_measured,
            generator_cpu_s,
            generator_rss_end: process::sample_self().rss_bytes,
            generator_rss_connect: p.connected.generator_rss,
            wall_s,
            warnings: self.warnings,
            // Last: the figures above are read from it first.
            totals,
        })
    }
}

/// The stream heartbeat of the server: push-server's `--heartbeat-ms` among `args`, else its
/// default, which the Nchan configuration shares. A tuned proxy's read timeout stays above it.
pub(super) fn server_heartbeat(args: &[String]) -> Duration {
    let mut args = args.iter().map(String::as_str);
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--heartbeat-ms") {
            Some("") => args.next(),
            Some(rest) => rest.strip_prefix('='),
            None => continue,
        };
        if let Some(ms) = value.and_then(|v| v.parse().ok()) {
            return Duration::from_millis(ms);
        }
    }
    pushbench_server::config::Config::default().heartbeat
}

/// Whether the server still accepts connections on the port `transport` uses (and its HTTP
/// port, which every publisher uses).
async fn answering(target: &Target, transport: Transport) -> Result<(), String> {
    let mut ports = vec![target.http];
    if transport == Transport::RawTcp {
        ports.extend(target.tcp);
    }
    for addr in ports {
        match tokio::time::timeout(ANSWER_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("connecting to {addr}: {e}")),
            Err(_) => {
                return Err(format!(
                    "connecting to {addr}: no answer within {ANSWER_TIMEOUT:?}"
                ))
            }
        }
    }
    Ok(())
}

/// How long the end-of-run check waits for the server to accept a connection.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Deliveries owed so far: every subscriber of a topic gets every message published to it.
fn owed(published: impl IntoIterator<Item = u64>, subscribers: &[u32]) -> u64 {
    published
        .into_iter()
        .zip(subscribers)
        .map(|(p, s)| p * *s as u64)
        .sum()
}

/// Each topic's published count now.
fn published(recorder: &Recorder) -> impl Iterator<Item = u64> + '_ {
    recorder.topic_published.iter().map(|p| p.load(Relaxed))
}

/// Waits until every scheduled message is settled (sent, failed or given up) and every delivery
/// owed for what was published has arrived, or until `deadline` or `stop`. Settling comes
/// first: a send due just before the end may not have moved the published count yet, and
/// judging deliveries before it would count its message as lost.
async fn drain(
    recorder: &Recorder,
    subscribers: &[u32],
    deadline: tokio::time::Instant,
    stop: &CancellationToken,
) {
    while (recorder.scheduled.load(Relaxed) > 0
        || recorder.delivered.load(Relaxed) < owed(published(recorder), subscribers))
        && tokio::time::Instant::now() < deadline
        && !stop.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(subscribers: Vec<u32>, scheduled: u64) -> Arc<Recorder> {
        let clock = Clock::starting_at(Instant::now());
        Arc::new(Recorder::new(
            clock,
            1,
            0,
            u64::MAX,
            Fanout::new(subscribers),
            scheduled,
        ))
    }

    /// The race behind false loss: a client's last upstream message, due just before the end,
    /// goes out after the drain has started. Nothing is published or delivered yet when the drain
    /// begins, so a drain that only compares deliveries with the published count ends at once
    /// and the message is later counted as lost. The drain must wait for it to be settled.
    #[tokio::test(start_paused = true)]
    async fn the_drain_waits_for_a_send_due_just_before_the_end() {
        let r = recorder(vec![2], 1);
        let late = {
            let r = r.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                r.topic_published[0].fetch_add(1, Relaxed);
                r.settle(1);
                tokio::time::sleep(Duration::from_millis(20)).await;
                r.delivered.fetch_add(2, Relaxed);
            })
        };
        let start = tokio::time::Instant::now();
        drain(
            &r,
            &[2],
            start + Duration::from_secs(5),
            &CancellationToken::new(),
        )
        .await;
        assert!(
            start.elapsed() >= Duration::from_millis(50),
            "{:?}",
            start.elapsed()
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(owed(published(&r), &[2]), 2);
        assert_eq!(r.delivered.load(Relaxed), 2);
        late.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_publisher_that_never_settles_cannot_hold_the_drain_past_its_deadline() {
        let r = recorder(vec![1], 3);
        let start = tokio::time::Instant::now();
        drain(
            &r,
            &[1],
            start + Duration::from_secs(2),
            &CancellationToken::new(),
        )
        .await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(3));
        let stop = CancellationToken::new();
        stop.cancel();
        let start = tokio::time::Instant::now();
        drain(&r, &[1], start + Duration::from_secs(2), &stop).await;
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
