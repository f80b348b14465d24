//! One transport's run, from server start to server stop, in phases: [`TransportRun::start`]
//! (the server, or `--target`), [`TransportRun::connect`] (every subscriber subscribed),
//! [`TransportRun::publish`] (the clock starts, the open-loop schedule runs to its end),
//! and [`TransportRun::drain_and_collect`] (stragglers arrive, then clients and server
//! stop, counters are summed into a [`Measured`]). The state between phases lives in the
//! struct's fields, each saying why it is there.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pushbench_results::model::{Messages, Percentiles, SeqCounts};
use pushbench_results::Traffic;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::outcome::Measured;
use super::plan::{TransportPlan, CONNECT_WAVE};
use super::{ticker, Options};
use crate::client::{self, publish, Target};
use crate::metrics::{Clock, Fanout, Recorder};
use crate::pacer::Pacer;
use crate::process::{self, ProcSample, ServerProcess};
use crate::seqtrack::SeqTracker;

/// A transport's run in progress.
pub struct TransportRun<'p> {
    /// What to run.
    plan: &'p TransportPlan<'p>,
    /// The embedded server, when load-gen started one (`None` with `--target`); stopped at the
    /// end so its CPU time and RSS are this transport's alone.
    server: Option<ServerProcess>,
    /// The server's pid, for `/proc` samples (none for `--target`).
    pid: Option<u32>,
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
    /// Push publishers' traffic (counted apart from subscribers').
    publishers: Vec<Traffic>,
    /// HTTP upstream publishers' traffic (counted with subscribers').
    upstream: Vec<Traffic>,
    /// CPU seconds of server and generator when the schedule started.
    cpu0: (f64, f64),
}

impl<'p> TransportRun<'p> {
    /// Starts the embedded server (unless `opts.target`) and samples it idle.
    pub async fn start(
        plan: &'p TransportPlan<'p>,
        opts: &Options,
        server_log: &Path,
        ctrl_c: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let scenario = plan.scenario;
        let server = match &opts.target {
            Some(_) => None,
            None => Some(
                ServerProcess::start(
                    opts.server_exe.as_deref(),
                    &opts.server_args,
                    opts.pinning.as_ref().map(|p| &p.server[..]),
                    server_log,
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
        let stop = ctrl_c.child_token();
        let headers = client::request_headers(scenario.request_headers, &target.host);
        let (start, start_rx) = watch::channel(None);
        let shared = Arc::new(client::Shared {
            target,
            cancel: stop.clone(),
            ready: Default::default(),
            start: start_rx,
            encoding: plan.encoding,
            poll_interval: scenario.poll_interval,
            poll_new_connection: scenario.poll_new_connection,
            long_poll_timeout: scenario.long_poll_timeout,
            header_block: client::header_block(&headers),
            headers,
            pacer: Pacer::start(opts.pacer_spin).context("starting the pacer thread")?,
        });
        Ok(TransportRun {
            plan,
            server,
            idle: pid.and_then(process::sample).unwrap_or_default(),
            pid,
            stop,
            ctrl_c: ctrl_c.clone(),
            shared,
            start,
            warnings: Vec::new(),
        })
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

    /// Spawns every subscriber, a wave at a time, and waits for them to subscribe.
    pub async fn connect(&mut self) -> Connected {
        let deadline = Instant::now() + self.plan.connect_timeout;
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
        ));
        self.start.send_replace(Some(recorder.clone()));
        let cpu0 = (
            self.pid.and_then(process::sample).unwrap_or_default().cpu_s,
            process::sample_self().cpu_s,
        );
        let tasks: Vec<JoinHandle<Traffic>> = plan
            .publishers()
            .into_iter()
            .map(|p| tokio::spawn(publish::run(self.shared.clone(), p, recorder.clone())))
            .collect();
        let bar = progress.then(|| {
            let s = plan.scenario;
            ticker::progress_bar(plan.transport, (s.warmup + s.duration).as_secs())
        });
        let ticker = ticker::spawn(recorder.clone(), hlog.to_path_buf(), self.pid, bar)?;
        // The schedule ends at warm-up + duration; upstream schedules end with it.
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = tokio::time::sleep_until(clock.at(plan.end_ns).into()) => {}
        }
        let mut traffic = Vec::with_capacity(tasks.len());
        for h in tasks {
            traffic.push(h.await.context("publisher task")?);
        }
        let (publishers, upstream) = match plan.upstream {
            super::plan::Upstream::PerTopic => (traffic, Vec::new()),
            _ => (Vec::new(), traffic),
        };
        Ok(Published {
            connected,
            recorder,
            ticker,
            publishers,
            upstream,
            cpu0,
        })
    }

    /// Deliveries owed so far: every subscriber of a topic gets every message published to it.
    fn expected(&self, recorder: &Recorder) -> u64 {
        recorder
            .topic_published
            .iter()
            .zip(&self.plan.subscribers)
            .map(|(p, s)| p.load(Relaxed) * *s as u64)
            .sum()
    }

    /// Waits for every expected delivery (up to the scenario's drain time), then stops the
    /// clients and the server and sums what everyone counted.
    pub async fn drain_and_collect(mut self, p: Published) -> anyhow::Result<Measured> {
        let plan = self.plan;
        let recorder = &p.recorder;
        let drain_until = Instant::now() + plan.scenario.drain;
        while recorder.delivered.load(Relaxed) < self.expected(recorder)
            && Instant::now() < drain_until
            && !self.stop.is_cancelled()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let outstanding = self
            .expected(recorder)
            .saturating_sub(recorder.delivered.load(Relaxed));
        if outstanding > 0 && !self.ctrl_c.is_cancelled() {
            self.warnings.push(format!(
                "{}: {outstanding} deliveries still outstanding when the {:?} drain ended",
                plan.transport, plan.scenario.drain
            ));
        }
        let wall_s = recorder.clock.now_ns() as f64 / 1e9;
        let server_end = self.pid.and_then(process::sample).unwrap_or_default();
        let generator_cpu_s = process::sample_self().cpu_s - p.cpu0.1;
        let rss_peak = p.ticker.stop().await?;

        self.stop.cancel();
        let mut subscribers = Vec::with_capacity(p.connected.handles.len());
        let mut seq = SeqCounts::default();
        for h in p.connected.handles {
            let (traffic, tracker, topic_index) = h.await.context("subscriber task")?;
            seq.add(&tracker.finish(recorder.topic_published[topic_index].load(Relaxed)));
            subscribers.push(traffic);
        }
        let clean_exit = match self.server.take() {
            Some(s) => s.stop().await?,
            None => true,
        };
        if !clean_exit {
            self.warnings.push(format!(
                "{}: push-server did not exit cleanly on SIGTERM",
                plan.transport
            ));
        }
        let totals = recorder.totals();
        Ok(Measured {
            totals: totals.clone(),
            interrupted: self.ctrl_c.is_cancelled(),
            clients_ready: p.connected.ready,
            messages: Messages {
                published: recorder
                    .topic_published
                    .iter()
                    .map(|p| p.load(Relaxed))
                    .sum(),
                expected: self.expected(recorder),
                seq,
                fanout_incomplete: recorder.fanout.incomplete(),
            },
            measured_deliveries: totals.latency.len(),
            latency: Percentiles::of(&totals.latency),
            actual_send_latency: Percentiles::of(&totals.actual),
            fanout_latency: Percentiles::of(&totals.fanout),
            publish_lag: Percentiles::of(&totals.publish_lag),
            subscribers: subscribers.iter().sum(),
            upstream: p.upstream.iter().sum(),
            publishers: p.publishers.iter().sum(),
            server_sampled: self.pid.is_some(),
            server_idle: self.idle,
            server_connected: p.connected.server,
            server_cpu_s: server_end.cpu_s - p.cpu0.0,
            server_rss_peak: rss_peak,
            generator_cpu_s,
            generator_rss_end: process::sample_self().rss_bytes,
            wall_s,
            warnings: self.warnings,
        })
    }
}
