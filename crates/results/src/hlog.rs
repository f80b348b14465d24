//! The `.hlog` interval logs: one per transport, in HdrHistogram's standard interval-log format
//! (readable by HdrHistogram's own tools), written by load-gen every second of a run and by a
//! merge, read back by the report.
//!
//! # What the logs hold
//!
//! Four histograms per interval, by tag ([`TAGS`]), values in microseconds from 1 µs to
//! [`MAX_US`] at 3 significant digits (larger values saturate at the top, never dropped):
//! [`LATENCY`] (intended send → decoded at a subscriber), [`ACTUAL`] (actual send → decoded),
//! [`FANOUT`] (intended send → the last subscriber of the topic has it) and [`PUBLISH_LAG`]
//! (actual − intended send at the publisher).
//!
//! # Time
//!
//! The log's `StartTime` and `BaseTime` are the Unix time of the transport's clock zero (when
//! its schedule started); each interval's timestamp is seconds since that zero, so interval
//! times read as "seconds into the transport's run". Intervals are cut by *arrival* time (one
//! of them ends where the warm-up ends), and `summary.json`'s percentiles cover messages whose
//! *intended* time fell in the measured window.
//!
//! # The measured window
//!
//! Logs that carry the [`WINDOW_MARK`] comment are *split*: each tag holds the messages intended
//! inside the measured window, and the tag with [`OUTSIDE`] appended (`latency-outside`, ...)
//! those intended outside it (the warm-up). The measured histograms are then the plain tags
//! added over every interval, exactly the summary's. Logs without the mark (load-gen before the
//! split, or other tools) hold every message under the plain tags, and
//! [`TransportLog::compute_measured`] takes an interval as measured when at least half of it
//! lies after the warm-up (`start + length / 2 ≥ warmup`), which is off from the exact window by
//! the messages arriving near its edges.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriter, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use crate::error::Error;

/// Tag of the intended-send latency histograms.
pub const LATENCY: &str = "latency";
/// Tag of the actual-send latency histograms.
pub const ACTUAL: &str = "actual";
/// Tag of the fan-out latency histograms.
pub const FANOUT: &str = "fanout";
/// Tag of the publish-lag histograms.
pub const PUBLISH_LAG: &str = "publish-lag";
/// Tag of the replay latency histograms: messages published while their subscriber was away
/// (between a connection's end and its reconnected subscription).
pub const REPLAY: &str = "replay";
/// Tag of the reconnect time histograms: a connection's end to the subscription that followed.
pub const RECONNECT: &str = "reconnect";
/// Every tag, in the order load-gen writes them.
pub const TAGS: [&str; 6] = [LATENCY, ACTUAL, FANOUT, PUBLISH_LAG, REPLAY, RECONNECT];
/// Appended to a tag for the messages intended outside the measured window, in split logs.
pub const OUTSIDE: &str = "-outside";
/// [`TAGS`] with [`OUTSIDE`] appended, in the same order.
pub const OUTSIDE_TAGS: [&str; 6] = [
    "latency-outside",
    "actual-outside",
    "fanout-outside",
    "publish-lag-outside",
    "replay-outside",
    "reconnect-outside",
];
/// The comment line that marks a split log (see the module doc).
pub const WINDOW_MARK: &str =
    "window: each tag holds messages intended inside the measured window, TAG-outside the others";

/// Highest recordable value: one hour in µs.
pub const MAX_US: u64 = 3_600_000_000;

/// A histogram with pushbench's recording bounds (1 µs to [`MAX_US`], 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// An empty histogram that grows to hold whatever is added to it: for sums of histograms read
/// from logs, whose bounds are whatever their writer used.
pub fn sum_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is valid")
}

/// Adds `h` into the histogram of `tag` in `into`.
pub fn add_into(into: &mut BTreeMap<String, Histogram<u64>>, tag: &str, h: &Histogram<u64>) {
    into.entry(tag.to_string())
        .or_insert_with(sum_histogram)
        .add(h)
        .expect("an auto-resizing histogram takes any value");
}

/// Writes one interval log, interval by interval, as load-gen and a merge both do.
pub struct Writer<'w, W: Write> {
    inner: IntervalLogWriter<'w, 'w, W, V2DeflateSerializer>,
}

impl<W: Write> std::fmt::Debug for Writer<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl<'w, W: Write> Writer<'w, W> {
    /// Starts a log whose clock zero is `start` (Unix time), with `comment` as its first line;
    /// `split` marks it as holding the measured window under the plain tags (module doc).
    pub fn begin(
        out: &'w mut W,
        serializer: &'w mut V2DeflateSerializer,
        start: SystemTime,
        comment: &str,
        split: bool,
    ) -> std::io::Result<Self> {
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(comment)
            .add_comment("tags: latency (from intended send), actual (from actual send), fanout (last subscriber), publish-lag, replay (from intended send, published while the subscriber was away), reconnect (connection end to resubscribed)");
        if split {
            builder.add_comment(WINDOW_MARK);
        }
        let inner = builder
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(out, serializer)?;
        Ok(Writer { inner })
    }

    /// Writes the non-empty histograms of one interval, `start_s` seconds after clock zero.
    pub fn interval<'h>(
        &mut self,
        start_s: f64,
        length_s: f64,
        histograms: impl IntoIterator<Item = (&'h str, &'h Histogram<u64>)>,
    ) -> Result<(), String> {
        for (tag, h) in histograms {
            if h.is_empty() {
                continue;
            }
            let tag = Tag::new(tag).ok_or_else(|| format!("bad tag {tag:?}"))?;
            self.inner
                .write_histogram(
                    h,
                    Duration::from_secs_f64(start_s.max(0.0)),
                    Duration::from_secs_f64(length_s.max(0.001)),
                    Some(tag),
                )
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    }
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
    /// Whether the plain tags hold only the measured window (module doc).
    pub split: bool,
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

impl Interval {
    /// Every message of `tag` in this interval, measured or not (`None` when there is none).
    pub fn everything(&self, tag: &str) -> Option<Histogram<u64>> {
        let mut sum: Option<Histogram<u64>> = None;
        for t in [tag.to_string(), format!("{tag}{OUTSIDE}")] {
            if let Some(h) = self.histograms.get(&t) {
                match &mut sum {
                    None => sum = Some(h.clone()),
                    Some(s) => s
                        .add(h)
                        .expect("an auto-resizing histogram takes any value"),
                }
            }
        }
        sum
    }
}

impl TransportLog {
    /// The measured-window histogram of `tag` (empty when the log has none).
    pub fn measured(&self, tag: &str) -> Histogram<u64> {
        self.measured
            .get(tag)
            .cloned()
            .unwrap_or_else(sum_histogram)
    }

    /// Adds what counts as measured into [`Self::measured`]: in a split log the plain tags of
    /// every interval; otherwise the intervals mostly after `warmup_s` (module doc).
    pub fn compute_measured(&mut self, warmup_s: f64) {
        self.measured.clear();
        for i in &self.intervals {
            if self.split || i.start_s + i.length_s / 2.0 >= warmup_s {
                for (tag, h) in &i.histograms {
                    if !tag.ends_with(OUTSIDE) {
                        add_into(&mut self.measured, tag, h);
                    }
                }
            }
        }
    }

    /// Folds the outside tags into the plain ones, as in a log that was never split.
    fn unsplit(&mut self) {
        unsplit(&mut self.intervals);
        self.split = false;
    }

    /// Adds another log of the same transport: intervals by whole second since start, measured
    /// histograms by tag.
    pub fn add(&mut self, other: &TransportLog) {
        // A split log added to an unsplit one loses its split: the sum can only say what the
        // unsplit one does.
        let mut theirs = other.intervals.clone();
        if self.split != other.split {
            self.unsplit();
            unsplit(&mut theirs);
        }
        let mut by_second: BTreeMap<i64, Interval> = BTreeMap::new();
        for i in self.intervals.drain(..).chain(theirs) {
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

/// Folds each interval's outside tags into its plain ones.
fn unsplit(intervals: &mut [Interval]) {
    for i in intervals {
        let outside: Vec<String> = i
            .histograms
            .keys()
            .filter(|t| t.ends_with(OUTSIDE))
            .cloned()
            .collect();
        for tag in outside {
            if let Some(h) = i.histograms.remove(&tag) {
                add_into(&mut i.histograms, &tag[..tag.len() - OUTSIDE.len()], &h);
            }
        }
    }
}

/// Parses an interval log. Interval times become seconds since the log's start.
pub fn read(bytes: &[u8], path: &Path) -> Result<TransportLog, Error> {
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
    let split = bytes
        .split(|b| *b == b'\n')
        .take_while(|line| line.starts_with(b"#") || line.starts_with(b"\"") || line.is_empty())
        .any(|line| line.strip_prefix(b"#") == Some(WINDOW_MARK.as_bytes()));
    Ok(TransportLog {
        intervals: by_start.into_values().collect(),
        measured: BTreeMap::new(),
        start_epoch_s: start.or(base),
        split,
    })
}

/// Writes a transport's intervals as an interval log load-gen could have written.
pub fn write(log: &TransportLog, path: &Path) -> Result<(), Error> {
    let fail = |reason: String| Error::HlogWrite {
        path: path.to_path_buf(),
        reason,
    };
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(log.start_epoch_s.unwrap_or(0.0));
    {
        let mut writer = Writer::begin(
            &mut out,
            &mut serializer,
            start,
            "pushbench report: interval logs of several runs, added per second",
            log.split,
        )
        .map_err(|e| fail(e.to_string()))?;
        for i in &log.intervals {
            writer
                .interval(
                    i.start_s,
                    i.length_s,
                    i.histograms.iter().map(|(t, h)| (t.as_str(), h)),
                )
                .map_err(fail)?;
        }
    }
    std::fs::write(path, out).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(start_s: f64, values: &[u64]) -> Interval {
        let mut h = sum_histogram();
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

    /// A split log's interval: `inside` under the plain latency tag, `outside` under its
    /// outside tag.
    fn split_interval(start_s: f64, length_s: f64, inside: &[u64], outside: &[u64]) -> Interval {
        let mut i = interval(start_s, inside);
        i.length_s = length_s;
        let mut h = sum_histogram();
        for v in outside {
            h.record(*v).unwrap();
        }
        i.histograms.insert(OUTSIDE_TAGS[0].to_string(), h);
        i
    }

    #[test]
    fn a_split_log_measures_its_plain_tags_whatever_the_warm_up() {
        // A half-second warm-up, then a message intended in it that arrived after it.
        let mut log = TransportLog {
            intervals: vec![
                split_interval(0.0, 0.5, &[], &[1, 1]),
                split_interval(0.5, 1.0, &[2, 2, 2], &[9]),
            ],
            split: true,
            ..Default::default()
        };
        log.compute_measured(0.5);
        assert_eq!(log.measured(LATENCY).len(), 3);
        assert_eq!(log.measured(LATENCY).max(), 2);
        assert!(!log.measured.contains_key(OUTSIDE_TAGS[0]));
        // The over-time view still sees every message.
        assert_eq!(log.intervals[1].everything(LATENCY).unwrap().len(), 4);
        // Unsplit, the same intervals would count the first one's middle (0.25 s) as warm-up
        // but the straggler as measured.
        let mut unsplit = log.clone();
        unsplit.unsplit();
        unsplit.compute_measured(0.5);
        assert_eq!(unsplit.measured(LATENCY).len(), 4);
    }

    #[test]
    fn adding_a_split_log_to_an_unsplit_one_folds_the_tags() {
        let mut a = TransportLog {
            intervals: vec![interval(0.0, &[1])],
            ..Default::default()
        };
        let b = TransportLog {
            intervals: vec![split_interval(0.0, 1.0, &[2], &[3])],
            split: true,
            ..Default::default()
        };
        a.add(&b);
        assert!(!a.split);
        assert_eq!(a.intervals[0].histograms[LATENCY].len(), 3);
        assert!(!a.intervals[0].histograms.contains_key(OUTSIDE_TAGS[0]));
        let mut c = b.clone();
        c.add(&b);
        assert!(c.split);
        assert_eq!(c.intervals[0].histograms[OUTSIDE_TAGS[0]].len(), 2);
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
    fn logs_round_trip_through_a_file() {
        let mut log = TransportLog {
            intervals: vec![interval(0.0, &[10, 20]), interval(1.0, &[30])],
            start_epoch_s: Some(1_795_250_572.743),
            ..Default::default()
        };
        log.compute_measured(0.0);
        let dir = std::env::temp_dir().join(format!("pushbench-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.hlog");
        write(&log, &path).unwrap();
        let back = read(&std::fs::read(&path).unwrap(), &path).unwrap();
        assert!(!back.split);
        log.split = true;
        write(&log, &path).unwrap();
        let back = read(&std::fs::read(&path).unwrap(), &path).unwrap();
        assert!(back.split, "the window mark was not read back");
        assert_eq!(back.intervals.len(), 2);
        assert_eq!(back.intervals[1].start_s, 1.0);
        assert_eq!(back.intervals[0].histograms[LATENCY].len(), 2);
        assert!((back.start_epoch_s.unwrap() - 1_795_250_572.743).abs() < 0.01);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
