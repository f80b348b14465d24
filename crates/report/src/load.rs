//! Reads a results folder (`summary.json`, `scenario.toml`, one `.hlog` per transport) and merges
//! several into one.
//!
//! # The measured window in the interval logs
//!
//! `summary.json`'s percentiles cover messages whose *intended* send time fell in the measured
//! window (after warm-up). The `.hlog` interval logs hold every message, warm-up included, in
//! intervals of about a second by *arrival* time, so the window cannot be cut out of them
//! exactly. The report takes an interval as measured when at least half of it lies after the
//! warm-up (`start + length / 2 ≥ warmup`, warm-up read from the folder's `scenario.toml`), and
//! every interval after that, drain included: nothing is published after the window, so the
//! drain holds only the window's stragglers. load-gen's intervals start about 20 ms before whole
//! seconds of the run clock, so this rule is off from the exact window by at most one interval's
//! worth of edge effects, and agrees closely with `summary.json` (the tests check the counts).
//!
//! For one folder the report shows `summary.json`'s exact percentiles in its table and uses the
//! interval logs only for the percentile curve and the over-time chart.
//!
//! # Merging shards and repeats
//!
//! [`merge`] adds histograms, never averages percentiles: per transport and tag, the measured
//! histograms of every folder are added and percentiles are read from the sum; intervals are
//! added by their whole second since the transport started, for the over-time chart. Counters
//! (messages, bytes, requests, CPU seconds, ...) are summed and every per-message figure is
//! recomputed from the sums.
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
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use crate::error::Error;
use crate::model::{ByteCounts, BytesPerMessage, Percentiles, Summary, TransportResult, SCHEMA};
use crate::style;

/// Tag of the intended-send latency histograms in the interval logs.
pub const LATENCY: &str = "latency";
/// Tag of the actual-send latency histograms.
pub const ACTUAL: &str = "actual";
/// Tag of the fan-out latency histograms.
pub const FANOUT: &str = "fanout";
/// Tag of the publish-lag histograms.
pub const PUBLISH_LAG: &str = "publish-lag";
/// Every tag load-gen writes, in its order.
pub const TAGS: [&str; 4] = [LATENCY, ACTUAL, FANOUT, PUBLISH_LAG];

/// load-gen's default warm-up, assumed when a folder has no `scenario.toml`.
const DEFAULT_WARMUP_S: f64 = 2.0;

/// One results folder, or several merged into one.
#[derive(Debug, Clone)]
pub struct Run {
    /// The folders it was read from: one, or every folder merged into it.
    pub sources: Vec<PathBuf>,
    /// The figures; recomputed from sums and added histograms when merged.
    pub summary: Summary,
    /// The scenario file's text, when the folder has one (shown in the report).
    pub scenario_toml: Option<String>,
    /// Warm-up before each transport's measured window, in seconds (from `scenario.toml`).
    pub warmup_s: f64,
    /// Interval logs and measured-window histograms, by transport name; a transport without a
    /// `.hlog` has no entry.
    pub logs: BTreeMap<String, TransportLog>,
    /// How the data was read or merged, for the reader (missing logs, how shards were combined).
    pub notes: Vec<String>,
}

/// What a transport's `.hlog` holds.
#[derive(Debug, Clone, Default)]
pub struct TransportLog {
    /// The intervals, in time order.
    pub intervals: Vec<Interval>,
    /// The measured window's histograms by tag: the intervals that count (see the module doc),
    /// added.
    pub measured: BTreeMap<String, Histogram<u64>>,
    /// When the transport's clock started, seconds since the Unix epoch (the log's StartTime).
    pub start_epoch_s: Option<f64>,
}

/// One interval of a log: every tag's histogram for about a second.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Seconds since the transport's clock started.
    pub start_s: f64,
    /// Seconds.
    pub length_s: f64,
    /// Histograms by tag, values in µs.
    pub histograms: BTreeMap<String, Histogram<u64>>,
}

/// An empty histogram that grows to hold whatever is added to it.
pub fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is valid")
}

fn add_into(into: &mut BTreeMap<String, Histogram<u64>>, tag: &str, h: &Histogram<u64>) {
    into.entry(tag.to_string())
        .or_insert_with(histogram)
        .add(h)
        .expect("an auto-resizing histogram takes any value");
}

impl TransportLog {
    /// The measured-window histogram of `tag` (empty when the log has none).
    pub fn measured(&self, tag: &str) -> Histogram<u64> {
        self.measured.get(tag).cloned().unwrap_or_else(histogram)
    }

    /// Adds the intervals that count as measured after `warmup_s` into [`Self::measured`].
    fn compute_measured(&mut self, warmup_s: f64) {
        self.measured.clear();
        for i in &self.intervals {
            if i.start_s + i.length_s / 2.0 >= warmup_s {
                for (tag, h) in &i.histograms {
                    add_into(&mut self.measured, tag, h);
                }
            }
        }
    }

    /// Adds another log of the same transport: intervals by whole second since start, measured
    /// histograms by tag.
    fn add(&mut self, other: &TransportLog) {
        let mut by_second: BTreeMap<i64, Interval> = BTreeMap::new();
        for i in self
            .intervals
            .drain(..)
            .chain(other.intervals.iter().cloned())
        {
            let key = i.start_s.round() as i64;
            match by_second.get_mut(&key) {
                None => {
                    by_second.insert(key, i);
                }
                Some(into) => {
                    let end = (into.start_s + into.length_s).max(i.start_s + i.length_s);
                    into.start_s = into.start_s.min(i.start_s);
                    into.length_s = end - into.start_s;
                    for (tag, h) in &i.histograms {
                        add_into(&mut into.histograms, tag, h);
                    }
                }
            }
        }
        self.intervals = by_second.into_values().collect();
        for (tag, h) in &other.measured {
            add_into(&mut self.measured, tag, h);
        }
        self.start_epoch_s = match (self.start_epoch_s, other.start_epoch_s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Reads one results folder.
pub fn load(dir: &Path) -> Result<Run, Error> {
    let path = dir.join("summary.json");
    let text = std::fs::read(&path).map_err(Error::io(&path))?;
    let summary: Summary = serde_json::from_slice(&text).map_err(|error| Error::Summary {
        path: path.clone(),
        error,
    })?;
    if summary.schema != SCHEMA {
        return Err(Error::Schema {
            path,
            found: summary.schema,
            expected: SCHEMA,
        });
    }
    let mut notes = Vec::new();
    let scenario_path = dir.join("scenario.toml");
    let (scenario_toml, warmup_s) = match std::fs::read_to_string(&scenario_path) {
        Ok(text) => {
            let warmup = warmup_of(&text).map_err(|reason| Error::Scenario {
                path: scenario_path.clone(),
                reason,
            })?;
            (Some(text), warmup)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            notes.push(format!(
                "{} has no scenario.toml: assumed load-gen's default warm-up of {DEFAULT_WARMUP_S} s when cutting the interval logs",
                dir.display()
            ));
            (None, DEFAULT_WARMUP_S)
        }
        Err(e) => return Err(Error::io(&scenario_path)(e)),
    };
    let mut logs = BTreeMap::new();
    for t in &summary.transports {
        let path = dir.join(format!("{}.hlog", t.transport));
        match std::fs::read(&path) {
            Ok(bytes) => {
                let mut log = read_log(&bytes, &path)?;
                log.compute_measured(warmup_s);
                logs.insert(t.transport.clone(), log);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if t.status != "failed" {
                    notes.push(format!(
                        "{}: no interval log ({}), so no latency curve or timeline",
                        t.transport,
                        path.display()
                    ));
                }
            }
            Err(e) => return Err(Error::io(&path)(e)),
        }
    }
    Ok(Run {
        sources: vec![dir.to_path_buf()],
        summary,
        scenario_toml,
        warmup_s,
        logs,
        notes,
    })
}

impl Run {
    /// A duration setting of the scenario file (`poll_interval`, `duration`, ...), in seconds;
    /// `None` when the folder has no scenario file or the key is absent.
    pub fn scenario_duration_s(&self, key: &str) -> Option<f64> {
        let table: toml::Table = self.scenario_toml.as_deref()?.parse().ok()?;
        parse_duration_s(table.get(key)?.as_str()?)
    }
}

/// The `warmup` of a scenario file, in seconds (load-gen's default when absent).
fn warmup_of(toml_text: &str) -> Result<f64, String> {
    let table: toml::Table = toml_text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    match table.get("warmup") {
        None => Ok(DEFAULT_WARMUP_S),
        Some(toml::Value::String(s)) => parse_duration_s(s)
            .ok_or_else(|| format!("warmup = {s:?} is not a duration like \"2s\" or \"500ms\"")),
        Some(v) => Err(format!("warmup = {v} is not a duration string")),
    }
}

/// Parses load-gen's duration strings: a decimal number and `ms`, `s` or `m`.
fn parse_duration_s(s: &str) -> Option<f64> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        _ => return None,
    };
    Some(n * scale)
}

/// Parses an interval log. Interval times become seconds since the log's start.
fn read_log(bytes: &[u8], path: &Path) -> Result<TransportLog, Error> {
    let bad = |reason: String| Error::Hlog {
        path: path.to_path_buf(),
        reason,
    };
    let mut start = None;
    let mut base = None;
    let mut first_absolute = None;
    let mut by_start: BTreeMap<i64, Interval> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| bad(format!("{e:?}")))?;
        let h = match entry {
            LogEntry::StartTime(d) => {
                start = Some(d.as_secs_f64());
                continue;
            }
            LogEntry::BaseTime(d) => {
                base = Some(d.as_secs_f64());
                continue;
            }
            LogEntry::Interval(h) => h,
        };
        let ts = h.start_timestamp().as_secs_f64();
        // See hdrhistogram's interval_log docs: with a BaseTime timestamps are deltas from it;
        // with only a StartTime they are deltas unless they look like Unix time.
        let start_s = match (base, start) {
            (Some(b), s) => ts + b - s.unwrap_or(b),
            (None, Some(s)) if ts < s - 365.0 * 86_400.0 => ts,
            (None, Some(s)) => ts - s,
            (None, None) => ts - *first_absolute.get_or_insert(ts),
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(h.encoded_histogram())
            .map_err(|e| bad(format!("interval at {ts:.3} s: {e}")))?;
        let hist: Histogram<u64> = deserializer
            .deserialize(&mut &decoded[..])
            .map_err(|e| bad(format!("interval at {ts:.3} s: {e}")))?;
        let tag = h.tag().map_or(LATENCY, |t| t.as_str()).to_string();
        let interval = by_start
            .entry((start_s * 1000.0).round() as i64)
            .or_insert_with(|| Interval {
                start_s,
                length_s: h.duration().as_secs_f64(),
                histograms: BTreeMap::new(),
            });
        interval.length_s = interval.length_s.max(h.duration().as_secs_f64());
        add_into(&mut interval.histograms, &tag, &hist);
    }
    Ok(TransportLog {
        intervals: by_start.into_values().collect(),
        measured: BTreeMap::new(),
        start_epoch_s: start.or(base),
    })
}

/// Writes a transport's intervals as an interval log load-gen could have written.
fn write_log(log: &TransportLog, path: &Path) -> Result<(), Error> {
    let fail = |reason: String| Error::HlogWrite {
        path: path.to_path_buf(),
        reason,
    };
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(log.start_epoch_s.unwrap_or(0.0));
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment("pushbench report: interval logs of several runs, added per second")
            .add_comment("tags: latency (from intended send), actual (from actual send), fanout (last subscriber), publish-lag")
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)
            .map_err(|e| fail(e.to_string()))?;
        for i in &log.intervals {
            for (tag, h) in &i.histograms {
                let tag = Tag::new(tag).ok_or_else(|| fail(format!("bad tag {tag:?}")))?;
                writer
                    .write_histogram(
                        h,
                        Duration::from_secs_f64(i.start_s.max(0.0)),
                        Duration::from_secs_f64(i.length_s.max(0.001)),
                        Some(tag),
                    )
                    .map_err(|e| fail(format!("{e:?}")))?;
            }
        }
    }
    std::fs::write(path, out).map_err(Error::io(path))
}

/// Writes a run as a results folder: `summary.json`, `scenario.toml` and the interval logs, so a
/// merged run can be reported on, compared and merged again like any other.
pub fn write_run(run: &Run, dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let path = dir.join("summary.json");
    let json = serde_json::to_vec_pretty(&run.summary).expect("a summary serialises");
    std::fs::write(&path, json).map_err(Error::io(&path))?;
    if let Some(text) = &run.scenario_toml {
        let path = dir.join("scenario.toml");
        std::fs::write(&path, text).map_err(Error::io(&path))?;
    }
    for (transport, log) in &run.logs {
        write_log(log, &dir.join(format!("{transport}.hlog")))?;
    }
    Ok(())
}

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
    names.sort_by_key(|n| style::order(n));

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
        transports.push(merge_transport(&parts, log.as_ref(), &label));
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
fn merge_transport(
    parts: &[(&Run, &TransportResult)],
    log: Option<&TransportLog>,
    label: &dyn Fn(&Run) -> String,
) -> TransportResult {
    let mut out = parts[0].1.clone();
    let sum_u = |f: &dyn Fn(&TransportResult) -> u64| parts.iter().map(|(_, t)| f(t)).sum::<u64>();
    let sum_f = |f: &dyn Fn(&TransportResult) -> f64| parts.iter().map(|(_, t)| f(t)).sum::<f64>();
    let max_u = |f: &dyn Fn(&TransportResult) -> u64| parts.iter().map(|(_, t)| f(t)).max();

    // Per slice of the workload (shard, or the whole run): its repeats.
    let mut slices: BTreeMap<Option<String>, Vec<&TransportResult>> = BTreeMap::new();
    for (r, t) in parts {
        slices.entry(r.summary.shard.clone()).or_default().push(t);
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

    let statuses: Vec<&str> = parts.iter().map(|(_, t)| t.status.as_str()).collect();
    out.status = if statuses.iter().all(|s| *s == statuses[0]) {
        statuses[0].to_string()
    } else {
        "partial".into()
    };
    let errors: Vec<String> = parts
        .iter()
        .filter_map(|(r, t)| t.error.as_ref().map(|e| format!("[{}] {e}", label(r))))
        .collect();
    out.error = (!errors.is_empty()).then(|| errors.join("; "));
    out.clients = per_slice(&|t| t.clients as f64).round() as usize;
    out.clients_ready = per_slice(&|t| t.clients_ready as f64).round() as usize;
    out.topics = per_slice(&|t| t.topics as f64).round() as usize;
    out.measured_s = parts.iter().map(|(_, t)| t.measured_s).fold(0.0, f64::max);

    if let Some(log) = log {
        out.latency = Percentiles::of(&log.measured(LATENCY));
        out.actual_send_latency = Percentiles::of(&log.measured(ACTUAL));
        out.fanout_latency = Percentiles::of(&log.measured(FANOUT));
        out.publish_lag = Percentiles::of(&log.measured(PUBLISH_LAG));
    } else {
        out.latency = Percentiles::default();
        out.actual_send_latency = Percentiles::default();
        out.fanout_latency = Percentiles::default();
        out.publish_lag = Percentiles::default();
    }
    out.throughput_msgs_per_s = throughput;
    out.measured_deliveries = sum_u(&|t| t.measured_deliveries);

    let m = &mut out.messages;
    m.published = sum_u(&|t| t.messages.published);
    m.expected = sum_u(&|t| t.messages.expected);
    m.fanout_incomplete = sum_u(&|t| t.messages.fanout_incomplete);
    m.seq = Default::default();
    for (_, t) in parts {
        m.seq.add(&t.messages.seq);
    }
    let delivered = m.seq.delivered;

    let mut bytes = ByteCounts::default();
    let mut kernel = crate::model::KernelBytes::default();
    for (_, t) in parts {
        bytes += t.bytes;
        kernel += t.kernel;
    }
    out.bytes = bytes;
    out.kernel = kernel;
    out.kernel_difference = [
        parts.iter().map(|(_, t)| t.kernel_difference[0]).sum(),
        parts.iter().map(|(_, t)| t.kernel_difference[1]).sum(),
    ];
    out.bytes_per_message = BytesPerMessage::of(&bytes, delivered);
    let payload = bytes.payload_up + bytes.payload_down;
    out.overhead_ratio = if payload == 0 {
        0.0
    } else {
        (bytes.up() + bytes.down() - payload) as f64 / payload as f64
    };
    out.publisher = parts.iter().map(|(_, t)| &t.publisher).sum();
    out.requests = sum_u(&|t| t.requests);
    out.requests_per_message = if delivered == 0 {
        0.0
    } else {
        out.requests as f64 / delivered as f64
    };
    out.empty_polls = sum_u(&|t| t.empty_polls);
    out.connections_opened = sum_u(&|t| t.connections_opened);
    out.client_errors = sum_u(&|t| t.client_errors);
    out.last_client_error = parts
        .iter()
        .rev()
        .find_map(|(_, t)| t.last_client_error.clone());

    let per_1000 = |cpu_s: f64| {
        if delivered == 0 {
            0.0
        } else {
            cpu_s * 1e6 / delivered as f64
        }
    };
    let s = &mut out.server;
    s.cpu_s = sum_f(&|t| t.server.cpu_s);
    s.cpu_ms_per_1000_msgs = per_1000(s.cpu_s);
    s.rss_idle_bytes = max_u(&|t| t.server.rss_idle_bytes).unwrap_or(0);
    s.rss_connected_bytes = max_u(&|t| t.server.rss_connected_bytes).unwrap_or(0);
    s.rss_peak_bytes = max_u(&|t| t.server.rss_peak_bytes).unwrap_or(0);
    let pooled: Vec<(f64, f64)> = parts
        .iter()
        .filter_map(|(_, t)| {
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
        .map(|(_, t)| t.generator.cores_used)
        .fold(0.0, f64::max);
    g.cpu_ms_per_1000_msgs = per_1000(g.cpu_s);
    g.rss_end_bytes = max_u(&|t| t.generator.rss_end_bytes).unwrap_or(0);
    out.generator_bound = parts.iter().any(|(_, t)| t.generator_bound);
    out.warnings = parts
        .iter()
        .flat_map(|(r, t)| {
            let l = label(r);
            t.warnings.iter().map(move |w| format!("[{l}] {w}"))
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_load_gens() {
        assert_eq!(parse_duration_s("2s"), Some(2.0));
        assert_eq!(parse_duration_s("500ms"), Some(0.5));
        assert_eq!(parse_duration_s("1.5m"), Some(90.0));
        assert_eq!(parse_duration_s("5"), None);
        assert_eq!(parse_duration_s("5h"), None);
        assert_eq!(warmup_of("warmup = \"1s\"\n").unwrap(), 1.0);
        assert_eq!(warmup_of("rate = 5\n").unwrap(), DEFAULT_WARMUP_S);
        assert!(warmup_of("warmup = 5\n").is_err());
    }

    fn interval(start_s: f64, values: &[u64]) -> Interval {
        let mut h = histogram();
        for v in values {
            h.record(*v).unwrap();
        }
        Interval {
            start_s,
            length_s: 1.0,
            histograms: BTreeMap::from([(LATENCY.to_string(), h)]),
        }
    }

    #[test]
    fn measured_window_takes_intervals_mostly_after_warm_up() {
        let mut log = TransportLog {
            intervals: vec![
                interval(0.0, &[1]),
                interval(0.98, &[2, 2]),
                interval(1.98, &[3, 3, 3]),
            ],
            ..Default::default()
        };
        log.compute_measured(1.0);
        assert_eq!(log.measured(LATENCY).len(), 5);
        assert_eq!(log.measured(FANOUT).len(), 0);
    }

    #[test]
    fn logs_add_by_whole_second() {
        let mut a = TransportLog {
            intervals: vec![interval(0.0, &[1]), interval(0.98, &[2])],
            start_epoch_s: Some(100.0),
            ..Default::default()
        };
        let b = TransportLog {
            intervals: vec![
                interval(0.01, &[5]),
                interval(1.01, &[6]),
                interval(2.0, &[7]),
            ],
            start_epoch_s: Some(90.0),
            ..Default::default()
        };
        a.add(&b);
        let counts: Vec<u64> = a
            .intervals
            .iter()
            .map(|i| i.histograms[LATENCY].len())
            .collect();
        assert_eq!(counts, [2, 2, 1]);
        assert_eq!(a.start_epoch_s, Some(90.0));
    }

    #[test]
    fn merged_logs_round_trip_through_a_file() {
        let mut log = TransportLog {
            intervals: vec![interval(0.0, &[10, 20]), interval(1.0, &[30])],
            start_epoch_s: Some(1_795_250_572.743),
            ..Default::default()
        };
        log.compute_measured(0.0);
        let dir = std::env::temp_dir().join(format!("pushbench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.hlog");
        write_log(&log, &path).unwrap();
        let back = read_log(&std::fs::read(&path).unwrap(), &path).unwrap();
        assert_eq!(back.intervals.len(), 2);
        assert_eq!(back.intervals[1].start_s, 1.0);
        assert_eq!(back.intervals[0].histograms[LATENCY].len(), 2);
        assert!((back.start_epoch_s.unwrap() - 1_795_250_572.743).abs() < 0.01);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
