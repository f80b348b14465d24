//! What a transport's run counted ([`Measured`]) becomes its [`TransportResult`]: counters
//! copied in, every derived figure computed by `pushbench_results::derive`, and the warnings a
//! reader must not miss (generator-bound, loss, errors, byte counts the kernel disagrees with).

use pushbench_results::model::{GeneratorCost, Messages, Percentiles, ServerCost};
use pushbench_results::{derive, Status, Traffic, TransportResult};

use super::plan::TransportPlan;
use crate::process::ProcSample;

/// p99 publish lag above which the generator is considered behind its schedule.
pub const LAG_LIMIT_US: u64 = 10_000;
/// Fraction of its threads' cores above which the generator is considered saturated.
pub const CPU_LIMIT: f64 = 0.9;

/// Everything one transport's run counted, before any figure is derived.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Ctrl-C cut the run short.
    pub interrupted: bool,
    /// Subscribers that had subscribed when the schedule started.
    pub clients_ready: usize,
    /// Published, expected and per-subscriber sequence accounting.
    pub messages: Messages,
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
    /// Subscribers' traffic, summed.
    pub subscribers: Traffic,
    /// HTTP upstream publishers' traffic (bidirectional workloads), summed.
    pub upstream: Traffic,
    /// Push publishers' traffic, summed.
    pub publishers: Traffic,
    /// Whether the server's `/proc` was sampled (an embedded server).
    pub server_sampled: bool,
    /// The server before any client connected.
    pub server_idle: ProcSample,
    /// The server with every client connected.
    pub server_connected: ProcSample,
    /// Server CPU seconds from the schedule's start to the end of the drain.
    pub server_cpu_s: f64,
    /// Largest server RSS the ticker saw.
    pub server_rss_peak: u64,
    /// Generator CPU seconds over the same span.
    pub generator_cpu_s: f64,
    /// load-gen's RSS at the end.
    pub generator_rss_end: u64,
    /// The span's wall time, seconds on the run clock.
    pub wall_s: f64,
    /// Warnings gathered while running.
    pub warnings: Vec<String>,
}

/// The result of `plan`'s run from what it counted, on `threads` generator threads.
pub fn result(plan: &TransportPlan, m: Measured, threads: usize) -> TransportResult {
    let transport = plan.transport;
    let mut warnings = m.warnings;
    // Subscriber traffic includes the upstream publishing that rides beside it.
    let mut clients = m.subscribers.clone();
    clients += &m.upstream;
    let cores_used = if m.wall_s > 0.0 {
        m.generator_cpu_s / m.wall_s
    } else {
        0.0
    };
    let mut generator_bound = false;
    if m.publish_lag.p99_us > LAG_LIMIT_US {
        generator_bound = true;
        warnings.push(format!(
            "{transport}: GENERATOR-BOUND: publishers ran {} ms behind schedule at p99 (limit {} ms); the server may have been slow to accept publishes, or the generator busy",
            m.publish_lag.p99_us / 1000,
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
    let (idle, connected) = (m.server_idle.rss_bytes, m.server_connected.rss_bytes);
    let mut result = TransportResult {
        transport: transport.name().into(),
        status: if m.interrupted {
            Status::Partial
        } else {
            Status::Complete
        },
        error: None,
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
        messages: m.messages,
        bytes: clients.bytes,
        kernel: clients.kernel,
        publisher: m.publishers,
        requests: clients.requests,
        empty_polls: m.subscribers.empty_polls,
        connections_opened: clients.connections,
        client_errors: clients.errors,
        last_client_error: m.subscribers.last_error.or(m.upstream.last_error),
        server: ServerCost {
            cpu_s: m.server_cpu_s,
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
            cores_used,
            rss_end_bytes: m.generator_rss_end,
            threads: threads as u32,
            ..Default::default()
        },
        generator_bound,
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
        let r = result(&plan, m, 1);
        assert_eq!(r.status, Status::Complete);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(!r.generator_bound);
        assert_eq!(r.requests_per_message, 0.1);
        assert_eq!(r.throughput_msgs_per_s, 20.0);
        assert_eq!(r.server.rss_per_connection_bytes, Some(1000.0));
        assert_eq!(r.generator.cores_used, 0.2);
    }

    #[test]
    fn lag_cpu_loss_and_byte_mismatches_are_flagged() {
        let s = scenario();
        let plan = TransportPlan::new(&s, Shard::ALL, Transport::LongPoll, "x", 2);
        let mut m = Measured {
            interrupted: true,
            wall_s: 1.0,
            generator_cpu_s: 1.9,
            ..Default::default()
        };
        m.publish_lag.p99_us = LAG_LIMIT_US + 1;
        m.messages.seq.lost = 3;
        m.upstream.bytes.payload_up = 10;
        let r = result(&plan, m, 2);
        assert_eq!(r.status, Status::Partial);
        assert!(r.generator_bound);
        let all = r.warnings.join("\n");
        assert!(all.contains("behind schedule"), "{all}");
        assert!(all.contains("1.90 cores of its 2 thread(s)"), "{all}");
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
}
