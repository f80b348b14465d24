//! What a transport's run counted ([`Measured`]) becomes its [`TransportResult`]: counters
//! copied in, every derived figure computed by `pushbench_results::derive`, and the warnings a
//! reader must not miss (saturation, loss, errors, byte counts the kernel disagrees with).
//!
//! Saturation is attributed to the process that ran out: SERVER-BOUND when push-server kept its
//! cores at least [`CPU_LIMIT`] busy, GENERATOR-BOUND when load-gen did, and PUBLISH-SLOW when
//! publishers fell more than [`LAG_LIMIT_US`] behind at p99 while neither did. Each process is
//! measured against its own capacity: its pinned cores, or, unpinned, every core for the server
//! and its threads for load-gen.

use pushbench_results::model::{
    GeneratorCost, Messages, Percentiles, Pinning, ProxyCost, ServerCost,
};
use pushbench_results::{derive, Status, Traffic, TransportResult};

use super::plan::TransportPlan;
use crate::process::ProcSample;

/// p99 publish lag above which publishers are behind their schedule. The pacer keeps it near
/// 0.1 ms on an idle machine, so 1 ms behind is a publish path in trouble.
pub const LAG_LIMIT_US: u64 = 1_000;
/// Fraction of its cores above which a process is saturated.
pub const CPU_LIMIT: f64 = 0.9;

/// How many cores each process could use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// push-server's cores.
    pub server: f64,
    /// load-gen's cores.
    pub generator: f64,
    /// load-gen's event-loop threads (recorded in the result).
    pub threads: usize,
}

impl Capacity {
    /// The capacity of a run pinned as `pinning` (or not), with `threads` load-gen threads.
    pub fn of(pinning: Option<&Pinning>, threads: usize) -> Self {
        match pinning {
            Some(p) => Capacity {
                server: p.server.len() as f64,
                generator: p.generator.len() as f64,
                threads,
            },
            None => Capacity {
                server: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
                generator: threads as f64,
                threads,
            },
        }
    }
}

/// Everything one transport's run counted, before any figure is derived.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Ctrl-C cut the run short.
    pub interrupted: bool,
    /// Subscribers that had subscribed when the schedule started.
    pub clients_ready: usize,
    /// Published, expected and per-subscriber sequence accounting.
    pub messages: Messages,
    /// Why the run failed although it ran to its end: the server died or stopped answering.
    pub failure: Option<String>,
    /// Deliveries of messages intended inside the measured window.
    pub measured_deliveries: u64,
    /// Intended send → decoded, measured window.
    pub latency: Percentiles,
    /// Actual send → decoded.
    pub actual_send_latency: Percentiles,
    /// Intended send → last subscriber.
    pub fanout_latency: Percentiles,
    /// Actual − intended send at publishers.
    pub publish_lag: Percentiles,
    /// Published while the subscriber was away → decoded.
    pub replay_latency: Percentiles,
    /// Connection ended → subscribed again.
    pub reconnect_time: Percentiles,
    /// What the restart fault did, if there was one.
    pub restart: Option<pushbench_results::model::Restart>,
    /// With faults: subscribed and delivered over time.
    pub timeline: Vec<pushbench_results::model::TimelinePoint>,
    /// What the emulated link did, if the scenario had one.
    pub link: Option<pushbench_results::model::LinkResult>,
    /// How the transport came through the link's outage, if there was one.
    pub outage: Option<pushbench_results::model::OutageResult>,
    /// Subscribers' traffic, summed.
    pub subscribers: Traffic,
    /// HTTP upstream publishers' traffic (bidirectional workloads), summed.
    pub upstream: Traffic,
    /// Push publishers' traffic, summed.
    pub publishers: Traffic,
    /// Whether the server's `/proc` was sampled at start and end (an embedded server that lived).
    pub server_sampled: bool,
    /// The server before any client connected.
    pub server_idle: ProcSample,
    /// The server with every client connected.
    pub server_connected: ProcSample,
    /// Server CPU seconds from the schedule's start to the end of the drain.
    pub server_cpu_s: f64,
    /// Largest server RSS the ticker saw.
    pub server_rss_peak: u64,
    /// The proxy's cost, when the subscribers went through one.
    pub proxy: Option<ProxyMeasured>,
    /// Generator CPU seconds over the same span.
    pub generator_cpu_s: f64,
    /// load-gen's RSS at the end.
    pub generator_rss_end: u64,
    /// load-gen's RSS before its clients connected and once they had.
    pub generator_rss_connect: (u64, u64),
    /// The span's wall time, seconds on the run clock.
    pub wall_s: f64,
    /// Warnings gathered while running.
    pub warnings: Vec<String>,
    /// The measured window's histograms, for adding up repeats.
    pub totals: crate::metrics::Histos,
}

/// What a `--via` proxy cost.
#[derive(Debug, Clone)]
pub struct ProxyMeasured {
    /// Which one.
    pub via: crate::proxy::Via,
    /// Its RSS with every client connected.
    pub connected: ProcSample,
    /// Its CPU seconds over the server's span.
    pub cpu_s: f64,
    /// The hop-by-hop headers the profile selects this transport with.
    pub hop_by_hop: Vec<(&'static str, &'static str)>,
    /// Why this transport's streams can be quiet longer than the proxy's read timeout
    /// ([`crate::proxy::quiet_stream`]).
    pub quiet: Option<String>,
}

/// The result of `plan`'s run from what it counted, each process measured against `capacity`.
pub fn result(plan: &TransportPlan, m: Measured, capacity: Capacity) -> TransportResult {
    let transport = plan.transport;
    let mut warnings = m.warnings;
    // Subscriber traffic includes the upstream publishing that rides beside it.
    let mut clients = m.subscribers.clone();
    clients += &m.upstream;
    let busy = |cpu_s: f64| {
        if m.wall_s > 0.0 {
            cpu_s / m.wall_s
        } else {
            0.0
        }
    };
    let (generator_cores, server_cores) = (busy(m.generator_cpu_s), busy(m.server_cpu_s));
    // Publishes the server refused or dropped are its doing, whatever load-gen's CPU did
    // meanwhile (clients reconnecting to a dead server spin through their attempts). Publishes
    // still unsent at the end are not: a generator that fell behind leaves those.
    let publishes_failed = m.failure.is_some() || m.publishers.errors > 0 || m.upstream.errors > 0;
    let generator_bound = !publishes_failed && generator_cores > CPU_LIMIT * capacity.generator;
    let server_bound = m.server_sampled && server_cores > CPU_LIMIT * capacity.server;
    let lagging = m.publish_lag.p99_us > LAG_LIMIT_US;
    let lag = format!(
        "publishers ran {:.1} ms behind schedule at p99 (limit {} ms)",
        m.publish_lag.p99_us as f64 / 1000.0,
        LAG_LIMIT_US / 1000
    );
    let also_lag = |who: &str| {
        if lagging {
            format!("; {lag}, {who}")
        } else {
            String::new()
        }
    };
    if generator_bound {
        warnings.push(format!(
            "{transport}: GENERATOR-BOUND: load-gen used {generator_cores:.2} of its {} core(s) (limit {:.0}%), so its figures may describe load-gen more than the server{}",
            capacity.generator,
            CPU_LIMIT * 100.0,
            also_lag("as load-gen could not keep up")
        ));
    }
    if server_bound {
        warnings.push(format!(
            "{transport}: SERVER-BOUND: the server used {server_cores:.2} of its {} core(s) (limit {:.0}%), so latency includes its queueing{}",
            capacity.server,
            CPU_LIMIT * 100.0,
            also_lag("waiting for the server to take publishes")
        ));
    }
    let publish_path_slow = lagging && !generator_bound && !server_bound;
    if publish_path_slow {
        warnings.push(format!(
            "{transport}: PUBLISH-SLOW: {lag} while neither load-gen ({generator_cores:.2} of {} cores) nor the server ({server_cores:.2} of {}) was busy on average: the publish path was slow, or bursts of work (a fan-out to many subscribers on load-gen's event loop) held publishes without filling a core",
            capacity.generator, capacity.server
        ));
    }
    if let Some(link) = m.link.as_ref().filter(|l| l.link_bound) {
        warnings.push(format!(
            "{transport}: LINK-BOUND: the emulated link sent packets {:.2} ms (down) and {:.2} ms (up) after their due time at p99 (limit {:?}): latency includes the emulator's own delay",
            link.down.late_p99_us as f64 / 1000.0,
            link.up.late_p99_us as f64 / 1000.0,
            crate::link::LINK_BOUND_LATE
        ));
    }
    if let Some(link) = m.link.as_ref().filter(|l| l.capture_dropped > 0) {
        warnings.push(format!(
            "{transport}: the packet capture lacks {} packets the kernel dropped before tcpdump read them (the run's figures do not)",
            link.capture_dropped
        ));
    }
    let seq = m.messages.seq;
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
    if clients.errors + m.publishers.errors > 0 {
        warnings.push(format!(
            "{transport}: {} client and {} publisher errors; last: {}",
            clients.errors,
            m.publishers.errors,
            m.subscribers
                .last_error
                .clone()
                .or(m.publishers.last_error.clone())
                .or(m.upstream.last_error.clone())
                .unwrap_or_default()
        ));
    }
    let kernel_difference = derive::kernel_difference(&clients.bytes, &clients.kernel);
    if kernel_difference != [0, 0] {
        warnings.push(format!(
            "{transport}: user-space byte counts differ from TCP_INFO by {} up and {} down",
            kernel_difference[0], kernel_difference[1]
        ));
    }
    let failure = m.failure.or_else(|| {
        // Cut short by Ctrl-C while connecting is partial, not failed.
        (m.clients_ready == 0 && !plan.clients.is_empty() && !m.interrupted).then(|| {
            format!(
                "no subscriber could subscribe; last error: {}",
                m.subscribers.last_error.as_deref().unwrap_or("none")
            )
        })
    });
    // Through a proxy, a failure or a loss is read against the proxy's configuration: what
    // it broke is named with the setting responsible, and replaces the bare symptom.
    let broken = m.proxy.as_ref().and_then(|p| {
        crate::proxy::diagnose(
            p.via,
            transport,
            &crate::proxy::Evidence {
                failure: failure.as_deref(),
                clients_ready: m.clients_ready,
                clients: plan.clients.len(),
                undelivered: m.messages.expected.saturating_sub(m.messages.seq.delivered),
                client_errors: clients.errors,
                last_error: m
                    .subscribers
                    .last_error
                    .as_deref()
                    .or(m.upstream.last_error.as_deref()),
                p50_us: m.latency.p50_us,
                hop_by_hop: p.hop_by_hop.clone(),
                quiet: p.quiet.as_deref(),
            },
        )
    });
    let failure = match (&broken, failure) {
        (Some(b), Some(_)) => Some(b.clone()),
        (_, f) => f,
    };
    if let Some(f) = &failure {
        warnings.insert(0, format!("{transport}: FAILED: {f}"));
    } else if let Some(b) = &broken {
        warnings.insert(0, format!("{transport}: {b}"));
    }
    let (idle, connected) = (m.server_idle.rss_bytes, m.server_connected.rss_bytes);
    let mut result = TransportResult {
        transport: transport.name().into(),
        status: match (&failure, m.interrupted) {
            (Some(_), _) => Status::Failed,
            (None, true) => Status::Partial,
            (None, false) => Status::Complete,
        },
        error: failure,
        clients: plan.clients.len(),
        clients_ready: m.clients_ready,
        topics: plan.topics.len(),
        measured_s: plan.scenario.duration.as_secs_f64(),
        warmup_s: Some(plan.scenario.warmup.as_secs_f64()),
        measured_deliveries: m.measured_deliveries,
        latency: m.latency,
        actual_send_latency: m.actual_send_latency,
        fanout_latency: m.fanout_latency,
        publish_lag: m.publish_lag,
        replay_latency: m.replay_latency,
        reconnect_time: m.reconnect_time,
        messages: m.messages,
        bytes: clients.bytes,
        kernel: clients.kernel,
        tls_traffic: clients.tls,
        h2_traffic: clients.h2,
        publisher: m.publishers,
        requests: clients.requests,
        empty_polls: m.subscribers.empty_polls,
        connections_opened: clients.connections,
        client_errors: clients.errors,
        connections_dropped: clients.drops,
        heartbeat_timeouts: clients.heartbeat_timeouts,
        last_client_error: m.subscribers.last_error.or(m.upstream.last_error),
        restart: m.restart,
        timeline: m.timeline,
        link: m.link,
        outage: m.outage,
        server: ServerCost {
            cpu_s: m.server_cpu_s,
            cores_used: server_cores,
            rss_idle_bytes: idle,
            rss_connected_bytes: connected,
            rss_peak_bytes: m.server_rss_peak.max(connected),
            rss_per_connection_bytes: (m.clients_ready > 0
                && plan.holds_connections()
                && m.server_sampled)
                .then(|| connected.saturating_sub(idle) as f64 / m.clients_ready as f64),
            ..Default::default()
        },
        generator: GeneratorCost {
            cpu_s: m.generator_cpu_s,
            cores_used: generator_cores,
            rss_end_bytes: m.generator_rss_end,
            rss_per_connection_bytes: (m.clients_ready > 0 && plan.holds_connections()).then(
                || {
                    let (before, after) = m.generator_rss_connect;
                    after.saturating_sub(before) as f64 / m.clients_ready as f64
                },
            ),
            threads: capacity.threads as u32,
            ..Default::default()
        },
        proxy: m.proxy.map(|p| ProxyCost {
            via: p.via.to_string(),
            cpu_s: p.cpu_s,
            cores_used: busy(p.cpu_s),
            rss_connected_bytes: p.connected.rss_bytes,
            broken,
            ..Default::default()
        }),
        generator_bound,
        server_bound,
        publish_path_slow,
        warnings,
        ..Default::default()
    };
    derive::figures(&mut result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::plan::Shard;
    use crate::scenario::Scenario;
    use pushbench_wire::Transport;

    const CAP: Capacity = Capacity {
        server: 1.0,
        generator: 1.0,
        threads: 1,
    };

    fn scenario() -> Scenario {
        Scenario::parse(
            "description = \"d\"\ntransports = [\"sse\"]\nclients = 4\ntopics = 2\nrate = 1\nmessage_size = 8\nduration = \"2s\"\n",
            std::path::Path::new("s.toml"),
        )
        .unwrap()
    }

    #[test]
    fn a_clean_run_has_no_warnings_and_derived_figures() {
        let s = scenario();
        let plan = TransportPlan::new(&s, Shard::ALL, Transport::Sse, "x", 1);
        let mut m = Measured {
            clients_ready: 4,
            measured_deliveries: 40,
            wall_s: 5.0,
            generator_cpu_s: 1.0,
            server_sampled: true,
            ..Default::default()
        };
        m.messages.seq.delivered = 40;
        m.subscribers.requests = 4;
        m.server_idle.rss_bytes = 1000;
        m.server_connected.rss_bytes = 5000;
        m.generator_rss_connect = (10_000, 12_000);
        let r = result(&plan, m, CAP);
        assert_eq!(r.status, Status::Complete);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(!r.generator_bound);
        assert_eq!(r.requests_per_message, 0.1);
        assert_eq!(r.throughput_msgs_per_s, 20.0);
        assert_eq!(r.server.rss_per_connection_bytes, Some(1000.0));
        assert_eq!(r.generator.rss_per_connection_bytes, Some(500.0));
        assert_eq!(r.generator.cores_used, 0.2);
    }

    #[test]
    fn lag_cpu_loss_and_byte_mismatches_are_flagged() {
        let s = scenario();
        let plan = TransportPlan::new(&s, Shard::ALL, Transport::LongPoll, "x", 2);
        let mut m = Measured {
            interrupted: true,
            clients_ready: 4,
            wall_s: 1.0,
            generator_cpu_s: 1.9,
            ..Default::default()
        };
        m.publish_lag.p99_us = LAG_LIMIT_US + 1;
        m.messages.seq.lost = 3;
        m.upstream.bytes.payload_up = 10;
        let cap = Capacity {
            generator: 2.0,
            ..CAP
        };
        let r = result(&plan, m, cap);
        assert_eq!(r.status, Status::Partial);
        assert!(r.generator_bound && !r.server_bound && !r.publish_path_slow);
        let all = r.warnings.join("\n");
        assert!(
            all.contains("GENERATOR-BOUND: load-gen used 1.90 of its 2 core(s)"),
            "{all}"
        );
        assert!(all.contains("behind schedule at p99"), "{all}");
        assert!(all.contains("3 messages lost"), "{all}");
        assert!(all.contains("TCP_INFO by 10 up"), "{all}");
        assert_eq!(
            r.bytes.payload_up, 10,
            "upstream counts as subscriber traffic"
        );
        assert_eq!(
            r.server.rss_per_connection_bytes, None,
            "polling holds none"
        );
    }

    #[test]
    fn saturation_is_attributed_to_the_process_that_ran_out() {
        let s = scenario();
        let plan = TransportPlan::new(&s, Shard::ALL, Transport::Sse, "x", 1);
        let run = |server_cpu_s: f64, generator_cpu_s: f64, lag_us: u64| {
            let mut m = Measured {
                clients_ready: 4,
                wall_s: 10.0,
                server_cpu_s,
                generator_cpu_s,
                server_sampled: true,
                ..Default::default()
            };
            m.publish_lag.p99_us = lag_us;
            result(&plan, m, CAP)
        };
        // The server kept its one core 95% busy and publishes queued behind it.
        let r = run(9.5, 1.0, 5_000);
        assert!(r.server_bound && !r.generator_bound && !r.publish_path_slow);
        assert_eq!(r.server.cores_used, 0.95);
        let w = r.warnings.join("\n");
        assert!(
            w.contains("SERVER-BOUND: the server used 0.95 of its 1 core(s)"),
            "{w}"
        );
        assert!(w.contains("5.0 ms behind schedule"), "{w}");
        // Lag with both processes mostly idle: the publish path.
        let r = run(1.0, 1.0, 5_000);
        assert!(r.publish_path_slow && !r.server_bound && !r.generator_bound);
        assert!(r.warnings[0].contains("PUBLISH-SLOW"), "{:?}", r.warnings);
        // Busy but within limits, on schedule: nothing to say.
        let r = run(8.9, 8.9, 900);
        assert!(!r.server_bound && !r.generator_bound && !r.publish_path_slow);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn a_server_that_failed_fails_the_run_and_load_gen_is_not_blamed() {
        let s = scenario();
        let plan = TransportPlan::new(&s, Shard::ALL, Transport::Sse, "x", 1);
        let mut m = Measured {
            clients_ready: 4,
            wall_s: 1.0,
            // Clients spinning through reconnects to a dead server.
            generator_cpu_s: 1.0,
            failure: Some("push-server exited during the run (signal: 9 (SIGKILL))".into()),
            ..Default::default()
        };
        m.messages.publish_failed = 3;
        let r = result(&plan, m, CAP);
        assert_eq!(r.status, Status::Failed);
        assert_eq!(
            r.error.as_deref(),
            Some("push-server exited during the run (signal: 9 (SIGKILL))")
        );
        assert!(r.warnings[0].starts_with("sse: FAILED: push-server exited"));
        assert!(!r.generator_bound, "{:?}", r.warnings);

        // Publish errors clear load-gen too; messages a generator that fell behind left unsent
        // do not.
        let busy = |errors: u64| {
            let mut m = Measured {
                clients_ready: 4,
                wall_s: 1.0,
                generator_cpu_s: 1.0,
                ..Default::default()
            };
            m.messages.publish_failed = 3;
            m.publishers.errors = errors;
            result(&plan, m, CAP)
        };
        assert!(!busy(3).generator_bound);
        let r = busy(0);
        assert_eq!(r.status, Status::Complete);
        assert!(r.generator_bound, "{:?}", r.warnings);

        // Nobody could subscribe: failed, with the clients' last error.
        let mut m = Measured {
            wall_s: 1.0,
            ..Default::default()
        };
        m.subscribers.last_error = Some("connection refused".into());
        let r = result(&plan, m, CAP);
        assert_eq!(r.status, Status::Failed);
        assert!(r.error.unwrap().contains("connection refused"));
    }
}
