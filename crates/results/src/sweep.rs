//! Sweeps: one scenario run at a rising series of steps (rate, clients or message size), each
//! transport judged against a service-level objective at every step, and its capacity (the
//! highest step it met the objective at) read off the steps.
//!
//! load-gen's runner runs the steps, each into a results folder of its own, and after every step
//! writes `sweep.json` ([`SweepResult`]) beside them; the rules here decide which transports go
//! on ([`Progress`]) and what their capacity is ([`capacities`]). The terminal prints
//! [`SweepResult::capacity`].
//!
//! # Rules
//! - A step **meets** the objective when the run completed, its p99 is within the objective's
//!   p99 and it lost no more messages than the objective allows.
//! - A step is **invalid** when load-gen, not the server, ran out of CPU (`generator_bound`):
//!   it says nothing about the transport, so it neither meets nor breaks.
//! - A transport **stops** after two consecutive steps that break the objective (one may be
//!   noise), or after two consecutive invalid steps (load-gen cannot drive it further; its
//!   capacity is then a lower bound).
//! - Its **capacity** is the highest valid step that met the objective.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{Status, TransportResult};

/// Schema name of `sweep.json`.
pub const SCHEMA: &str = "pushbench-sweep/1";

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// Messages per second (per topic, or per client when every client publishes).
    Rate,
    /// Subscribers.
    Clients,
    /// Payload bytes.
    MessageSize,
}

impl Param {
    /// The scenario key.
    pub fn key(self) -> &'static str {
        match self {
            Param::Rate => "rate",
            Param::Clients => "clients",
            Param::MessageSize => "message_size",
        }
    }
}

/// The service-level objective every step is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Highest acceptable p99 latency, in µs.
    pub p99_us: u64,
    /// Most messages a step may lose.
    pub loss: u64,
}

impl Slo {
    /// An objective of `p99` at most and `loss` messages lost at most.
    pub fn new(p99: Duration, loss: u64) -> Slo {
        Slo {
            p99_us: u64::try_from(p99.as_micros()).unwrap_or(u64::MAX),
            loss,
        }
    }
}

/// How one transport fared at one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the objective.
    Meets,
    /// Outside it.
    Breaks,
    /// load-gen ran out of CPU: not the transport's figure.
    Invalid,
}

/// One transport at one step: the verdict, why, and the figures it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTransport {
    /// Transport name.
    pub transport: String,
    /// Against the objective.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
    /// p50 latency, µs.
    pub p50_us: u64,
    /// p99 latency, µs.
    pub p99_us: u64,
    /// Messages lost.
    pub lost: u64,
    /// Deliveries per second in the measured window.
    pub delivered_per_s: f64,
    /// Server CPU per delivery, µs.
    pub server_cpu_us_per_delivery: f64,
    /// Server RSS per held connection, bytes (transports that hold one).
    #[serde(default)]
    pub server_rss_per_connection_bytes: Option<f64>,
    /// load-gen's RSS per held connection, bytes.
    #[serde(default)]
    pub generator_rss_per_connection_bytes: Option<f64>,
}

/// Judges one transport's run at a step against `slo`.
pub fn judge(t: &TransportResult, slo: &Slo) -> StepTransport {
    let lost = t.messages.seq.lost;
    let (verdict, reason) = if t.generator_bound {
        (
            Verdict::Invalid,
            "load-gen ran out of CPU (generator-bound): not the transport's limit".to_string(),
        )
    } else if t.status != Status::Complete {
        (
            Verdict::Breaks,
            format!(
                "the run did not complete: {}",
                t.error.as_deref().unwrap_or("no reason given")
            ),
        )
    } else if t.latency.count == 0 {
        (Verdict::Breaks, "nothing was delivered".to_string())
    } else if t.latency.p99_us > slo.p99_us {
        (
            Verdict::Breaks,
            format!("p99 {} µs > {} µs", t.latency.p99_us, slo.p99_us),
        )
    } else if lost > slo.loss {
        (Verdict::Breaks, format!("lost {lost} > {}", slo.loss))
    } else {
        (Verdict::Meets, "within the objective".to_string())
    };
    StepTransport {
        transport: t.transport.clone(),
        verdict,
        reason,
        p50_us: t.latency.p50_us,
        p99_us: t.latency.p99_us,
        lost,
        delivered_per_s: t.throughput_msgs_per_s,
        server_cpu_us_per_delivery: t.server.cpu_ms_per_1000_msgs,
        server_rss_per_connection_bytes: t.server.rss_per_connection_bytes,
        generator_rss_per_connection_bytes: t.generator.rss_per_connection_bytes,
    }
}

/// One step of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The swept parameter's value.
    pub value: f64,
    /// The step's results folder, relative to the sweep's.
    pub folder: String,
    /// Every transport run at this step.
    pub transports: Vec<StepTransport>,
}

/// Why a transport's sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// Two consecutive steps broke the objective: the capacity is its limit.
    Broke,
    /// Two consecutive steps were invalid: the capacity is a lower bound.
    GeneratorBound,
    /// The steps ran out first: the capacity is a lower bound.
    StepsExhausted,
    /// The sweep was interrupted.
    Interrupted,
}

/// What a ratio of two capacities says when either may be a lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioBound {
    /// Both are limits: the ratio is the ratio.
    Exact,
    /// Only the transport's is a lower bound: the true ratio is at least this.
    AtLeast,
    /// Only raw-tcp's is a lower bound: the true ratio is at most this.
    AtMost,
    /// Both are lower bounds: the ratio says nothing either way.
    Unknown,
}

impl Ended {
    /// Whether a capacity that ended this way is the transport's limit, not a lower bound.
    pub fn is_limit(self) -> bool {
        self == Ended::Broke
    }
}

/// A transport's capacity under the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// Transport name.
    pub transport: String,
    /// The highest valid step that met the objective; `None` if none did.
    pub capacity: Option<f64>,
    /// Why the sweep ended for it, so whether `capacity` is a limit or a lower bound.
    pub ended: Ended,
    /// `capacity` divided by raw-tcp's, when both exist.
    pub ratio_to_raw_tcp: Option<f64>,
    /// How far the ratio can be trusted, given which capacities are limits and which lower
    /// bounds.
    pub ratio_is: Option<RatioBound>,
    /// Deliveries per second at the capacity step.
    pub delivered_per_s: Option<f64>,
    /// Server CPU per delivery at the capacity step, µs.
    pub server_cpu_us_per_delivery: Option<f64>,
}

/// `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// [`SCHEMA`].
    pub schema: String,
    /// Scenario name.
    pub scenario: String,
    /// What varied.
    pub param: Param,
    /// Every step value the scenario asked for, in order.
    pub values: Vec<f64>,
    /// The objective.
    pub slo: Slo,
    /// The steps run so far.
    pub steps: Vec<Step>,
    /// Per transport, in the scenario's order.
    pub capacity: Vec<Capacity>,
    /// Whether every transport's sweep ended (false while running or after Ctrl-C).
    pub complete: bool,
}

/// Which transports are still being swept.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Per transport: consecutive breaking steps, consecutive invalid steps, and why it ended.
    state: BTreeMap<String, (u32, u32, Option<Ended>)>,
}

impl Progress {
    /// Every transport in `transports` still going.
    pub fn new<'a>(transports: impl IntoIterator<Item = &'a str>) -> Progress {
        Progress {
            state: transports
                .into_iter()
                .map(|t| (t.to_string(), (0, 0, None)))
                .collect(),
        }
    }

    /// Counts one step's verdicts and stops the transports the rules stop.
    pub fn record(&mut self, step: &Step) {
        for t in &step.transports {
            let Some((broke, invalid, ended)) = self.state.get_mut(&t.transport) else {
                continue;
            };
            match t.verdict {
                Verdict::Meets => (*broke, *invalid) = (0, 0),
                Verdict::Breaks => (*broke, *invalid) = (*broke + 1, 0),
                Verdict::Invalid => *invalid += 1,
            }
            if ended.is_none() {
                if *broke >= 2 {
                    *ended = Some(Ended::Broke);
                } else if *invalid >= 2 {
                    *ended = Some(Ended::GeneratorBound);
                }
            }
        }
    }

    /// Whether `transport` is still swept.
    pub fn running(&self, transport: &str) -> bool {
        matches!(self.state.get(transport), Some((_, _, None)))
    }

    /// Why `transport`'s sweep ended: its own rule, else `otherwise` (the steps ran out, or
    /// the sweep was interrupted).
    pub fn ended(&self, transport: &str, otherwise: Ended) -> Ended {
        self.state
            .get(transport)
            .and_then(|s| s.2)
            .unwrap_or(otherwise)
    }
}

/// Each transport's capacity from the steps run, in `transports`' order.
pub fn capacities(
    transports: &[String],
    steps: &[Step],
    progress: &Progress,
    otherwise: Ended,
) -> Vec<Capacity> {
    let best = |name: &str| -> Option<(f64, &StepTransport)> {
        steps
            .iter()
            .filter_map(|s| {
                s.transports
                    .iter()
                    .find(|t| t.transport == name && t.verdict == Verdict::Meets)
                    .map(|t| (s.value, t))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };
    let floor = best("raw-tcp").map(|(v, _)| v);
    let floor_is_limit = progress.ended("raw-tcp", otherwise).is_limit();
    transports
        .iter()
        .map(|name| {
            let at = best(name);
            let ended = progress.ended(name, otherwise);
            let ratio_to_raw_tcp = match (at, floor) {
                (Some((v, _)), Some(f)) if f > 0.0 => Some(v / f),
                _ => None,
            };
            Capacity {
                transport: name.clone(),
                capacity: at.map(|(v, _)| v),
                ended,
                ratio_to_raw_tcp,
                ratio_is: ratio_to_raw_tcp.map(|_| match (ended.is_limit(), floor_is_limit) {
                    (true, true) => RatioBound::Exact,
                    (false, true) => RatioBound::AtLeast,
                    (true, false) => RatioBound::AtMost,
                    (false, false) => RatioBound::Unknown,
                }),
                delivered_per_s: at.map(|(_, t)| t.delivered_per_s),
                server_cpu_us_per_delivery: at.map(|(_, t)| t.server_cpu_us_per_delivery),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, p99_us: u64, lost: u64, generator_bound: bool) -> TransportResult {
        let mut t = TransportResult {
            transport: name.to_string(),
            status: Status::Complete,
            generator_bound,
            throughput_msgs_per_s: 1000.0,
            ..Default::default()
        };
        t.latency.count = 100;
        t.latency.p50_us = p99_us / 2;
        t.latency.p99_us = p99_us;
        t.messages.seq.lost = lost;
        t.server.cpu_ms_per_1000_msgs = 10.0;
        t
    }

    fn step(value: f64, runs: &[TransportResult], slo: &Slo) -> Step {
        Step {
            value,
            folder: format!("step-{value}"),
            transports: runs.iter().map(|t| judge(t, slo)).collect(),
        }
    }

    const SLO: Slo = Slo {
        p99_us: 50_000,
        loss: 0,
    };

    #[test]
    fn a_step_meets_only_within_p99_and_loss_and_generator_bound_steps_are_invalid() {
        assert_eq!(
            judge(&result("sse", 50_000, 0, false), &SLO).verdict,
            Verdict::Meets
        );
        let slow = judge(&result("sse", 50_001, 0, false), &SLO);
        assert_eq!(slow.verdict, Verdict::Breaks);
        assert!(
            slow.reason.contains("p99 50001 µs > 50000 µs"),
            "{}",
            slow.reason
        );
        assert_eq!(
            judge(&result("sse", 10, 1, false), &SLO).verdict,
            Verdict::Breaks
        );
        // Out of CPU on load-gen's side says nothing about the transport, even when slow.
        assert_eq!(
            judge(&result("sse", 900_000, 5, true), &SLO).verdict,
            Verdict::Invalid
        );
        let mut failed = result("sse", 10, 0, false);
        failed.status = Status::Failed;
        assert_eq!(judge(&failed, &SLO).verdict, Verdict::Breaks);
    }

    #[test]
    fn a_transport_stops_after_two_consecutive_breaking_steps() {
        let mut p = Progress::new(["sse", "raw-tcp"]);
        // sse breaks, recovers (noise), then breaks twice; raw-tcp always meets.
        let p99s = [60_000, 10_000, 60_000, 70_000];
        for (i, p99) in p99s.into_iter().enumerate() {
            assert!(p.running("sse"), "step {i}");
            let s = step(
                i as f64,
                &[
                    result("sse", p99, 0, false),
                    result("raw-tcp", 1_000, 0, false),
                ],
                &SLO,
            );
            p.record(&s);
        }
        assert!(!p.running("sse"));
        assert_eq!(p.ended("sse", Ended::StepsExhausted), Ended::Broke);
        assert!(p.running("raw-tcp"));
        assert_eq!(
            p.ended("raw-tcp", Ended::StepsExhausted),
            Ended::StepsExhausted
        );
    }

    #[test]
    fn invalid_steps_neither_break_nor_count_and_two_of_them_stop_the_transport() {
        let mut p = Progress::new(["websocket"]);
        let runs = [
            result("websocket", 60_000, 0, false), // breaks
            result("websocket", 90_000, 0, true),  // invalid: not a second break
            result("websocket", 10_000, 0, false), // meets
            result("websocket", 10_000, 0, true),  // invalid
            result("websocket", 10_000, 0, true),  // invalid again: stop
        ];
        let mut steps = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            assert!(p.running("websocket"), "step {i}");
            let s = step((i + 1) as f64 * 10.0, std::slice::from_ref(r), &SLO);
            p.record(&s);
            steps.push(s);
        }
        assert!(!p.running("websocket"));
        let c = capacities(&["websocket".into()], &steps, &p, Ended::StepsExhausted);
        // The capacity is the highest valid step that met, a lower bound here.
        assert_eq!(c[0].capacity, Some(30.0));
        assert_eq!(c[0].ended, Ended::GeneratorBound);
    }

    #[test]
    fn capacity_is_the_highest_meeting_step_with_its_ratio_to_raw_tcp() {
        let mut p = Progress::new(["sse", "raw-tcp", "short-poll"]);
        let mut steps = Vec::new();
        for (value, sse, raw) in [
            (10.0, 1_000, 500),
            (20.0, 2_000, 600),
            (40.0, 80_000, 700),
            (80.0, 90_000, 40_000),
            (160.0, 99_000, 60_000),
        ] {
            let s = step(
                value,
                &[
                    result("sse", sse, 0, false),
                    result("raw-tcp", raw, 0, false),
                    result("short-poll", 100_000, 0, false),
                ],
                &SLO,
            );
            p.record(&s);
            steps.push(s);
        }
        let names: Vec<String> = ["sse", "raw-tcp", "short-poll"].map(String::from).into();
        let c = capacities(&names, &steps, &p, Ended::StepsExhausted);
        assert_eq!(c[0].capacity, Some(20.0));
        assert_eq!(c[0].ended, Ended::Broke);
        assert_eq!(c[1].capacity, Some(80.0));
        assert_eq!(c[0].ratio_to_raw_tcp, Some(0.25));
        assert_eq!(c[1].ratio_to_raw_tcp, Some(1.0));
        // sse's is a limit, raw-tcp's a lower bound (it met every step): at most a quarter.
        assert_eq!(c[0].ratio_is, Some(RatioBound::AtMost));
        assert_eq!(c[1].ratio_is, Some(RatioBound::Unknown));
        assert_eq!(c[0].server_cpu_us_per_delivery, Some(10.0));
        // Never met: no capacity, no ratio.
        assert_eq!(c[2].capacity, None);
        assert_eq!(c[2].ratio_to_raw_tcp, None);
    }
}
