//! Merges results folders of one scenario (shards or repeats) into one [`Run`].
//!
//! Histograms are added, never averaged: per transport and tag, the measured histograms of every
//! folder are added and percentiles are read from the sum; intervals are added by their whole
//! second since the transport started, for the over-time chart. Counters (messages, bytes,
//! requests, CPU seconds, ...) are summed and every per-message figure is recomputed from the
//! sums by [`crate::derive::figures`], as for a single run.
//!
//! Rates and sizes need to know what ran at the same time. A folder's `shard` (`K/N`, from
//! `load-gen run --shard`) says which slice of the workload it holds; folders without one hold
//! the whole workload. Folders with the same slice are repeats of it. So throughput is, per
//! slice, the repeats' measured-window deliveries over their measured time together (their
//! mean rate), summed over slices; clients and topics are summed over slices and averaged over
//! repeats. Two shards of 0/2 and 1/2 give the whole run's rate; two whole runs give their mean
//! rate. Server RSS figures are the largest of any folder (each had its own server) except RSS
//! per connection, which is pooled: all the added memory over all the connections.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::derive;
use crate::error::Error;
use crate::folder::Run;
use crate::hlog::{TransportLog, ACTUAL, FANOUT, LATENCY, PUBLISH_LAG, RECONNECT, REPLAY};
use crate::model::{ByteCounts, KernelBytes, Percentiles, ProxyCost, Status, TransportResult};

/// Merges runs of one scenario (shards or repeats): see the module doc.
pub fn merge(mut runs: Vec<Run>) -> Result<Run, Error> {
    if runs.len() <= 1 {
        return runs.pop().ok_or(Error::NoRuns);
    }
    let first = &runs[0];
    for r in &runs[1..] {
        if r.summary.scenario != first.summary.scenario {
            return Err(Error::Mismatch {
                first: first.summary.scenario.clone(),
                other: r.summary.scenario.clone(),
                path: r.sources[0].clone(),
            });
        }
    }
    let mut notes: Vec<String> = runs.iter().flat_map(|r| r.notes.clone()).collect();
    if runs.iter().any(|r| r.warmup_s != first.warmup_s) {
        notes.push(
            "the folders' warm-ups differ; each folder's own warm-up cut its interval logs".into(),
        );
    }
    let label = |r: &Run| {
        r.sources[0].file_name().map_or_else(
            || r.sources[0].display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    };

    let mut names: Vec<String> = Vec::new();
    for r in &runs {
        for t in &r.summary.transports {
            if !names.contains(&t.transport) {
                names.push(t.transport.clone());
            }
        }
    }
    names.sort_by_key(|n| crate::transport_order(n));

    let mut transports = Vec::new();
    let mut logs = BTreeMap::new();
    for name in &names {
        let parts: Vec<(&Run, &TransportResult)> = runs
            .iter()
            .filter_map(|r| {
                r.summary
                    .transports
                    .iter()
                    .find(|t| &t.transport == name)
                    .map(|t| (r, t))
            })
            .collect();
        let mut log: Option<TransportLog> = None;
        let mut missing_logs = 0;
        for (r, _) in &parts {
            match (r.logs.get(name), &mut log) {
                (Some(l), None) => log = Some(l.clone()),
                (Some(l), Some(into)) => into.add(l),
                (None, _) => missing_logs += 1,
            }
        }
        if missing_logs > 0 {
            notes.push(format!(
                "{name}: {missing_logs} of {} folders have no interval log; its latency figures come from the others",
                parts.len()
            ));
        }
        let parts: Vec<Part> = parts
            .iter()
            .map(|(r, t)| Part {
                slice: r.summary.shard.as_deref(),
                label: label(r),
                result: t,
            })
            .collect();
        transports.push(combine(&parts, log.as_ref().map(|l| &l.measured)));
        if let Some(l) = log {
            logs.insert(name.clone(), l);
        }
    }

    // Slices of the workload: which shards were given, and how often each.
    let mut slices: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for r in &runs {
        *slices.entry(r.summary.shard.clone()).or_default() += 1;
    }
    let shards: Vec<&String> = slices.keys().flatten().collect();
    if slices.contains_key(&None) && !shards.is_empty() {
        notes.push(
            "whole runs and shards were merged together: the whole runs count as one more slice of the workload"
                .into(),
        );
    }
    let counts: Vec<usize> = shards
        .iter()
        .filter_map(|s| s.split_once('/').and_then(|(_, n)| n.parse().ok()))
        .collect();
    let complete_shards = !shards.is_empty()
        && !slices.contains_key(&None)
        && counts.iter().all(|n| *n == shards.len());
    let repeats = slices.values().copied().max().unwrap_or(1);
    notes.push(match (shards.is_empty(), repeats) {
        (true, _) => format!(
            "{} whole runs merged as repeats: latency from their added histograms, throughput their mean rate",
            runs.len()
        ),
        (false, 1) => format!(
            "shards {} merged: histograms added, counters and rates summed",
            shards.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
        (false, _) => format!(
            "shards {} merged, some repeated: histograms added, rates averaged over repeats and summed over shards",
            shards.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
    });
    if !shards.is_empty() && !complete_shards {
        notes.push(format!(
            "not every shard of the run is here ({} given): the figures cover part of the workload",
            shards.len()
        ));
    }

    let mut summary = first.summary.clone();
    summary.shard = match (complete_shards, shards.is_empty()) {
        (true, _) | (false, true) => None,
        (false, false) => Some(
            shards
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("+"),
        ),
    };
    summary.started_utc = runs
        .iter()
        .map(|r| r.summary.started_utc.clone())
        .min()
        .unwrap_or_default();
    summary.complete = runs.iter().all(|r| r.summary.complete);
    summary.warnings = runs
        .iter()
        .flat_map(|r| {
            let l = label(r);
            r.summary.warnings.iter().map(move |w| format!("[{l}] {w}"))
        })
        .collect();
    summary.transports = transports;
    Ok(Run {
        sources: runs.iter().flat_map(|r| r.sources.clone()).collect(),
        summary,
        scenario_toml: first.scenario_toml.clone(),
        warmup_s: first.warmup_s,
        logs,
        notes,
    })
}

/// One transport's result from several folders (see the module doc).
/// One transport's result from one folder (or one repeat), to be combined with others.
#[derive(Debug, Clone)]
pub struct Part<'a> {
    /// Which slice of the workload it ran (`K/N` shard), `None` for the whole workload; parts of
    /// the same slice are repeats of each other.
    pub slice: Option<&'a str>,
    /// Where it came from, prefixed to its warnings and errors.
    pub label: String,
    /// The result.
    pub result: &'a TransportResult,
}

/// One transport's result from several parts (see the module doc). `measured` holds the parts'
/// measured-window histograms added, by tag; without it the merged result has no percentiles.
pub fn combine(
    parts: &[Part],
    measured: Option<&BTreeMap<String, Histogram<u64>>>,
) -> TransportResult {
    let mut out = parts[0].result.clone();
    // A combination is no single repeat, and the spread of the parts' own repeats is not the
    // combination's.
    out.repeat = None;
    out.repeats = None;
    let sum_u =
        |f: &dyn Fn(&TransportResult) -> u64| parts.iter().map(|p| f(p.result)).sum::<u64>();
    let sum_f =
        |f: &dyn Fn(&TransportResult) -> f64| parts.iter().map(|p| f(p.result)).sum::<f64>();
    let max_u = |f: &dyn Fn(&TransportResult) -> u64| parts.iter().map(|p| f(p.result)).max();

    // Per slice of the workload (shard, or the whole run): its repeats.
    let mut slices: BTreeMap<Option<&str>, Vec<&TransportResult>> = BTreeMap::new();
    for p in parts {
        slices.entry(p.slice).or_default().push(p.result);
    }
    // Summed over slices, averaged over each slice's repeats.
    let per_slice = |f: &dyn Fn(&TransportResult) -> f64| -> f64 {
        slices
            .values()
            .map(|ts| ts.iter().map(|t| f(t)).sum::<f64>() / ts.len() as f64)
            .sum()
    };
    // Each slice's mean rate: measured-window deliveries over measured time, summed over slices.
    let throughput: f64 = slices
        .values()
        .map(|ts| {
            let time: f64 = ts.iter().map(|t| t.measured_s).sum();
            let deliveries: f64 = ts
                .iter()
                .map(|t| t.throughput_msgs_per_s * t.measured_s)
                .sum();
            if time > 0.0 {
                deliveries / time
            } else {
                0.0
            }
        })
        .sum();

    out.status = Status::merged(parts.iter().map(|p| p.result.status));
    let errors: Vec<String> = parts
        .iter()
        .filter_map(|p| {
            p.result
                .error
                .as_ref()
                .map(|e| format!("[{}] {e}", p.label))
        })
        .collect();
    out.error = (!errors.is_empty()).then(|| errors.join("; "));
    out.clients = per_slice(&|t| t.clients as f64).round() as usize;
    out.clients_ready = per_slice(&|t| t.clients_ready as f64).round() as usize;
    out.topics = per_slice(&|t| t.topics as f64).round() as usize;
    out.measured_s = parts
        .iter()
        .map(|p| p.result.measured_s)
        .fold(0.0, f64::max);

    if let Some(measured) = measured {
        let of = |tag: &str| measured.get(tag).map(Percentiles::of).unwrap_or_default();
        out.latency = of(LATENCY);
        out.actual_send_latency = of(ACTUAL);
        out.fanout_latency = of(FANOUT);
        out.publish_lag = of(PUBLISH_LAG);
        out.replay_latency = of(REPLAY);
        out.reconnect_time = of(RECONNECT);
    } else {
        out.latency = Percentiles::default();
        out.actual_send_latency = Percentiles::default();
        out.fanout_latency = Percentiles::default();
        out.publish_lag = Percentiles::default();
        out.replay_latency = Percentiles::default();
        out.reconnect_time = Percentiles::default();
    }
    out.measured_deliveries = sum_u(&|t| t.measured_deliveries);

    let m = &mut out.messages;
    m.published = sum_u(&|t| t.messages.published);
    m.expected = sum_u(&|t| t.messages.expected);
    m.fanout_incomplete = sum_u(&|t| t.messages.fanout_incomplete);
    m.unpublished = sum_u(&|t| t.messages.unpublished);
    m.publish_failed = sum_u(&|t| t.messages.publish_failed);
    m.seq = Default::default();
    for p in parts {
        m.seq.add(&p.result.messages.seq);
    }

    let mut bytes = ByteCounts::default();
    let mut kernel = KernelBytes::default();
    for p in parts {
        bytes += p.result.bytes;
        kernel += p.result.kernel;
    }
    out.bytes = bytes;
    out.kernel = kernel;
    out.publisher = parts.iter().map(|p| &p.result.publisher).sum();
    out.requests = sum_u(&|t| t.requests);
    out.empty_polls = sum_u(&|t| t.empty_polls);
    out.connections_opened = sum_u(&|t| t.connections_opened);
    out.client_errors = sum_u(&|t| t.client_errors);
    out.connections_dropped = sum_u(&|t| t.connections_dropped);
    out.heartbeat_timeouts = sum_u(&|t| t.heartbeat_timeouts);
    out.restart = merge_restarts(parts.iter().filter_map(|p| p.result.restart.as_ref()));
    // The link's figures are per run of its threads: the first folder's, as for the timeline.
    out.link = parts.iter().find_map(|p| p.result.link.clone());
    out.outage = parts.iter().find_map(|p| p.result.outage.clone());
    // Timelines of different folders do not line up in time: the first folder's stands for
    // all (the report's chart says which it shows only when there is one).
    out.timeline = parts
        .iter()
        .map(|p| &p.result.timeline)
        .find(|t| !t.is_empty())
        .cloned()
        .unwrap_or_default();
    out.last_client_error = parts
        .iter()
        .rev()
        .find_map(|p| p.result.last_client_error.clone());

    let s = &mut out.server;
    s.cpu_s = sum_f(&|t| t.server.cpu_s);
    s.rss_idle_bytes = max_u(&|t| t.server.rss_idle_bytes).unwrap_or(0);
    s.rss_connected_bytes = max_u(&|t| t.server.rss_connected_bytes).unwrap_or(0);
    s.rss_peak_bytes = max_u(&|t| t.server.rss_peak_bytes).unwrap_or(0);
    let pooled: Vec<(f64, f64)> = parts
        .iter()
        .map(|p| p.result)
        .filter_map(|t| {
            t.server
                .rss_per_connection_bytes
                .map(|per| (per * t.clients_ready as f64, t.clients_ready as f64))
        })
        .collect();
    let conns: f64 = pooled.iter().map(|p| p.1).sum();
    s.rss_per_connection_bytes = (!pooled.is_empty() && conns > 0.0)
        .then(|| pooled.iter().map(|p| p.0).sum::<f64>() / conns);

    let g = &mut out.generator;
    g.cpu_s = sum_f(&|t| t.generator.cpu_s);
    g.cores_used = parts
        .iter()
        .map(|p| p.result.generator.cores_used)
        .fold(0.0, f64::max);
    g.rss_end_bytes = max_u(&|t| t.generator.rss_end_bytes).unwrap_or(0);
    let s = &mut out.server;
    s.cores_used = parts
        .iter()
        .map(|p| p.result.server.cores_used)
        .fold(0.0, f64::max);
    // Each part went through its own proxy, configured alike: costs add up as the server's do,
    // and what broke in any part is what the proxy does.
    out.proxy = parts[0].result.proxy.as_ref().map(|first| ProxyCost {
        via: first.via.clone(),
        cpu_s: sum_f(&|t| t.proxy.as_ref().map_or(0.0, |p| p.cpu_s)),
        cores_used: parts
            .iter()
            .filter_map(|p| p.result.proxy.as_ref())
            .map(|p| p.cores_used)
            .fold(0.0, f64::max),
        rss_connected_bytes: max_u(&|t| t.proxy.as_ref().map_or(0, |p| p.rss_connected_bytes))
            .unwrap_or(0),
        broken: parts
            .iter()
            .find_map(|p| p.result.proxy.as_ref()?.broken.clone()),
        ..Default::default()
    });
    out.generator_bound = parts.iter().any(|p| p.result.generator_bound);
    out.server_bound = parts.iter().any(|p| p.result.server_bound);
    out.publish_path_slow = parts.iter().any(|p| p.result.publish_path_slow);
    out.warnings = parts
        .iter()
        .flat_map(|p| {
            p.result
                .warnings
                .iter()
                .map(move |w| format!("[{}] {w}", p.label))
        })
        .collect();
    derive::figures(&mut out);
    // Throughput is not the merged counters over the longest window: it depends on which
    // folders ran at the same time (see the module doc).
    out.throughput_msgs_per_s = throughput;
    out
}

/// Restarts of several folders: counts added, times and peaks the worst folder's (the slowest
/// way back is what a deploy must plan for), a time absent if any folder never reached it.
fn merge_restarts<'a>(
    mut restarts: impl Iterator<Item = &'a crate::model::Restart>,
) -> Option<crate::model::Restart> {
    let mut out = restarts.next()?.clone();
    for r in restarts {
        out.at_s = out.at_s.min(r.at_s);
        out.clean_exit &= r.clean_exit;
        out.stop_ms = out.stop_ms.max(r.stop_ms);
        out.down_ms = out.down_ms.max(r.down_ms);
        out.clients += r.clients;
        out.back += r.back;
        out.never_back += r.never_back;
        out.back_99_ms = out.back_99_ms.zip(r.back_99_ms).map(|(a, b)| a.max(b));
        out.back_all_ms = out.back_all_ms.zip(r.back_all_ms).map(|(a, b)| a.max(b));
        out.connections += r.connections;
        out.peak_accept_per_s = out.peak_accept_per_s.max(r.peak_accept_per_s);
        out.peak_cpu = out.peak_cpu.max(r.peak_cpu);
        out.interrupted += r.interrupted;
        out.forgotten += r.forgotten;
    }
    Some(out)
}
