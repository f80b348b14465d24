//! The one list of figures a reader compares transports by, used by the HTML summary table,
//! `compare` (HTML and terminal) and the table load-gen prints at the end of a run, so the three
//! cannot drift apart. Each figure knows its names, unit, formatter and which way is better; a
//! transport that did not run, or has nothing to show for a figure (no deliveries, no held
//! connection), has no value rather than a zero.
//!
//! [`flags`] are the notes beside a row (partial, a [`SATURATION`] word, LOSS, bytes ≠ kernel),
//! the same in every table.

use std::fmt::Write as _;

use pushbench_results::model::{Percentiles, Repeats, Spread};
use pushbench_results::{Status, Summary, TransportResult};

use crate::style;

/// Which end of a figure is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Smaller is better (latency, bytes, cost).
    Lower,
    /// Larger is better (throughput).
    Higher,
}

/// One figure of a transport.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    /// Column heading in the terminal (at most 8 characters).
    pub short: &'static str,
    /// Column heading in HTML.
    pub name: &'static str,
    /// Unit of the values, shown under the HTML heading.
    pub unit: &'static str,
    /// The value, when the transport has one (see [`Figure::of`]).
    value: fn(&TransportResult) -> Option<f64>,
    /// Formats a value for any table.
    pub fmt: fn(f64) -> String,
    /// Which end is good.
    pub better: Better,
    /// Shown in the terminal table too (it has room for fewer columns than a page).
    pub terminal: bool,
    /// Its spread over repeats, for the figures `repeat = N` summarises.
    spread: Option<fn(&Repeats) -> Spread>,
}

impl Figure {
    /// The figure of `t`; `None` when `t` did not run or has nothing to show for it. With
    /// repeats, the median over them (the value its interval is about).
    pub fn of(&self, t: &TransportResult) -> Option<f64> {
        if !t.status.ran() {
            return None;
        }
        let value = (self.value)(t)?;
        Some(self.spread(t).map_or(value, |s| s.median))
    }

    /// The figure's median and confidence interval over `t`'s repeats, when it has them.
    pub fn spread(&self, t: &TransportResult) -> Option<Spread> {
        Some((self.spread?)(t.repeats.as_ref()?))
    }
}

fn delivered(t: &TransportResult) -> bool {
    t.messages.seq.delivered > 0
}

fn latency(t: &TransportResult, us: u64) -> Option<f64> {
    (t.latency.count > 0).then_some(us as f64)
}

fn kib(b: f64) -> f64 {
    b / 1024.0
}

/// Every figure, in table order. Latencies are in µs and shown in ms.
pub const FIGURES: [Figure; 14] = [
    Figure {
        short: "p50 ms",
        name: "p50",
        unit: "ms",
        value: |t| latency(t, t.latency.p50_us),
        fmt: style::ms,
        better: Better::Lower,
        terminal: true,
        spread: Some(|r| r.p50_us),
    },
    Figure {
        short: "p90 ms",
        name: "p90",
        unit: "ms",
        value: |t| latency(t, t.latency.p90_us),
        fmt: style::ms,
        better: Better::Lower,
        terminal: false,
        spread: None,
    },
    Figure {
        short: "p99 ms",
        name: "p99",
        unit: "ms",
        value: |t| latency(t, t.latency.p99_us),
        fmt: style::ms,
        better: Better::Lower,
        terminal: true,
        spread: Some(|r| r.p99_us),
    },
    Figure {
        short: "p99.9 ms",
        name: "p99.9",
        unit: "ms",
        value: |t| latency(t, t.latency.p999_us),
        fmt: style::ms,
        better: Better::Lower,
        terminal: true,
        spread: Some(|r| r.p999_us),
    },
    Figure {
        short: "max ms",
        name: "max",
        unit: "ms",
        value: |t| latency(t, t.latency.max_us),
        fmt: style::ms,
        better: Better::Lower,
        terminal: true,
        spread: None,
    },
    Figure {
        short: "fan99 ms",
        name: "fan-out p99",
        unit: "ms",
        value: |t| (t.fanout_latency.count > 0).then_some(t.fanout_latency.p99_us as f64),
        fmt: style::ms,
        better: Better::Lower,
        terminal: false,
        spread: None,
    },
    Figure {
        short: "msg/s",
        name: "throughput",
        unit: "msg/s",
        value: |t| Some(t.throughput_msgs_per_s),
        fmt: style::num,
        better: Better::Higher,
        terminal: true,
        spread: Some(|r| r.throughput_msgs_per_s),
    },
    Figure {
        short: "lost",
        name: "lost + gaps",
        unit: "msgs",
        value: |t| Some((t.messages.seq.lost + t.messages.seq.gap_notified) as f64),
        fmt: style::thousands,
        better: Better::Lower,
        terminal: true,
        spread: None,
    },
    Figure {
        short: "dup+ro",
        name: "dup + reordered",
        unit: "msgs",
        value: |t| Some((t.messages.seq.duplicated + t.messages.seq.reordered) as f64),
        fmt: style::thousands,
        better: Better::Lower,
        terminal: true,
        spread: None,
    },
    Figure {
        short: "B/msg",
        name: "wire bytes",
        unit: "B/msg",
        value: |t| delivered(t).then_some(t.bytes_per_message.total),
        fmt: style::num,
        better: Better::Lower,
        terminal: true,
        spread: Some(|r| r.bytes_per_message),
    },
    Figure {
        short: "overhd %",
        name: "overhead",
        unit: "% of payload",
        value: |t| delivered(t).then_some(t.overhead_ratio * 100.0),
        fmt: style::num,
        better: Better::Lower,
        terminal: false,
        spread: None,
    },
    Figure {
        short: "req/msg",
        name: "requests",
        unit: "per msg",
        value: |t| delivered(t).then_some(t.requests_per_message),
        fmt: style::num,
        better: Better::Lower,
        terminal: true,
        spread: None,
    },
    Figure {
        short: "cpu/1k",
        name: "server CPU",
        unit: "ms / 1,000 msgs",
        value: |t| delivered(t).then_some(t.server.cpu_ms_per_1000_msgs),
        fmt: style::num,
        better: Better::Lower,
        terminal: true,
        spread: Some(|r| r.cpu_ms_per_1000_msgs),
    },
    Figure {
        short: "KiB/conn",
        name: "server RSS",
        unit: "KiB / conn",
        value: |t| t.server.rss_per_connection_bytes.map(kib),
        fmt: style::num,
        better: Better::Lower,
        terminal: true,
        spread: None,
    },
];

/// The figure named `name` in [`FIGURES`]; panics on a name not in the list (a programming
/// error, caught by any test that draws or ranks).
pub fn figure(name: &str) -> &'static Figure {
    FIGURES
        .iter()
        .find(|f| f.name == name)
        .expect("a figure of the list")
}

/// A note beside a transport's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// The words shown.
    pub text: String,
    /// Serious (red in HTML) or informative (grey).
    pub serious: bool,
}

/// The words that mark a transport whose run ran out of something, and what each means.
pub const SATURATION: [(&str, &str); 3] = [
    (
        "GENERATOR-BOUND",
        "load-gen kept its cores more than 90% busy, so the figures may describe load-gen more \
         than the server",
    ),
    (
        "SERVER-BOUND",
        "push-server kept its cores more than 90% busy, so latency includes its queueing",
    ),
    (
        "PUBLISH-SLOW",
        "publishers fell behind their schedule while neither process was busy: the publish \
         path itself was slow",
    ),
];

/// The [`SATURATION`] words that apply to `t`.
pub fn saturation(t: &TransportResult) -> Vec<&'static str> {
    [t.generator_bound, t.server_bound, t.publish_path_slow]
        .iter()
        .zip(SATURATION)
        .filter(|(on, _)| **on)
        .map(|(_, (word, _))| word)
        .collect()
}

/// The notes for a transport's row, most serious first.
pub fn flags(t: &TransportResult) -> Vec<Flag> {
    let mut f = Vec::new();
    let mut add = |text: String, serious: bool| f.push(Flag { text, serious });
    if t.status != Status::Complete {
        add(t.status.to_string(), true);
    }
    for word in saturation(t) {
        add(word.into(), true);
    }
    if t.messages.seq.lost + t.messages.seq.gap_notified > 0 {
        add("LOSS".into(), true);
    }
    if t.kernel_difference != [0, 0] {
        add("bytes ≠ kernel".into(), false);
    }
    if t.connections_dropped > 0 {
        // The scenario's drop fault at work, not a failure: what it cost shows in the figures.
        add(format!("{} dropped", t.connections_dropped), false);
    }
    if let Some(kind) = t
        .proxy
        .as_ref()
        .and_then(|p| broken_kind(p.broken.as_deref()?))
    {
        add(kind.into(), true);
    }
    f
}

/// The failure mode a proxy diagnosis starts with (`BUFFERED`, `BROKEN UPGRADE`, ...).
fn broken_kind(diagnosis: &str) -> Option<&str> {
    diagnosis.split_once(':').map(|(kind, _)| kind)
}

/// What a `--via` proxy did to one transport's run.
#[derive(Debug, Clone, Copy)]
pub struct ProxyRow<'a> {
    /// The proxied run.
    pub run: &'a TransportResult,
    /// The same transport on the same server reached directly, when the run has it.
    pub direct: Option<&'a TransportResult>,
}

impl ProxyRow<'_> {
    /// What the proxy added to latency at p50 and p99, in µs (negative when the direct run was
    /// slower, which is noise); `None` without a direct run or deliveries on both.
    pub fn added_us(&self) -> Option<(i64, i64)> {
        let d = self.direct?;
        let (a, b) = (&self.run.latency, &d.latency);
        (self.run.status.ran() && d.status.ran() && a.count > 0 && b.count > 0).then(|| {
            (
                a.p50_us as i64 - b.p50_us as i64,
                a.p99_us as i64 - b.p99_us as i64,
            )
        })
    }

    /// The proxy's verdict: the failure mode it caused, `delivers` (a complete run with every
    /// delivery), `LOSS` (complete, but deliveries missing), or the run's status.
    pub fn verdict(&self) -> String {
        let p = self.run.proxy.as_ref();
        let m = &self.run.messages;
        match p.and_then(|p| p.broken.as_deref()) {
            Some(b) => broken_kind(b).unwrap_or(b).to_owned(),
            None if self.run.status == Status::Complete && m.seq.delivered < m.expected => {
                "LOSS".into()
            }
            None if self.run.status == Status::Complete => "delivers".into(),
            None => self.run.status.to_string(),
        }
    }
}

/// Every proxied run of `transports`, with its direct counterpart (`sse@pushbench` for
/// `sse@pushbench+nginx`).
pub fn proxy_rows<'a>(transports: &[&'a TransportResult]) -> Vec<ProxyRow<'a>> {
    transports
        .iter()
        .filter_map(|t| {
            let p = t.proxy.as_ref()?;
            let direct_name = t.transport.strip_suffix(&format!("+{}", p.via))?;
            Some(ProxyRow {
                run: t,
                direct: transports
                    .iter()
                    .find(|d| d.transport == direct_name)
                    .copied(),
            })
        })
        .collect()
}

/// The width of a terminal table's first column: its longest transport name, at least the
/// heading's (`transport`) and a little more.
fn name_width<'a>(names: impl IntoIterator<Item = &'a str>) -> usize {
    names
        .into_iter()
        .map(str::len)
        .chain([11])
        .max()
        .unwrap_or(11)
}

/// The terminal's table of [`proxy_rows`]: added latency, the proxy's and the server's CPU per
/// 1,000 messages, and the verdict. Empty without a proxied run.
pub fn proxy_table(transports: &[&TransportResult]) -> String {
    let rows = proxy_rows(transports);
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let width = name_width(rows.iter().map(|r| r.run.transport.as_str()));
    let _ = writeln!(
        out,
        "\nThrough a proxy (latency added against the direct run; CPU ms per 1,000 messages):"
    );
    let _ = writeln!(
        out,
        "{:<width$} {:>9} {:>9} {:>9} {:>9}  verdict",
        "transport", "+p50 ms", "+p99 ms", "proxy cpu", "srv cpu"
    );
    let ms = |us: i64| format!("{:+.3}", us as f64 / 1000.0);
    for r in &rows {
        let (p50, p99) = r
            .added_us()
            .map_or(("-".into(), "-".into()), |(a, b)| (ms(a), ms(b)));
        let cpu = |ran: bool, v: f64| {
            if ran {
                style::num(v)
            } else {
                "-".into()
            }
        };
        let delivered = r.run.messages.seq.delivered > 0;
        let proxy_cpu = r.run.proxy.as_ref().map_or(0.0, |p| p.cpu_ms_per_1000_msgs);
        let _ = writeln!(
            out,
            "{:<width$} {p50:>9} {p99:>9} {:>9} {:>9}  {}",
            r.run.transport,
            cpu(delivered, proxy_cpu),
            cpu(delivered, r.run.server.cpu_ms_per_1000_msgs),
            r.verdict()
        );
    }
    out
}

/// The columns of [`resilience_rows`]: heading and unit.
pub const RESILIENCE_COLUMNS: [(&str, &str); 8] = [
    ("dropped", "connections"),
    ("delivered", "of owed"),
    ("lost", "messages"),
    ("dup", "messages"),
    ("back p50", "ms"),
    ("back p99", "ms"),
    ("replay p50", "ms"),
    ("replay p99", "ms"),
];

/// What one transport delivered through dropped connections, its cells formatted in the order of
/// [`RESILIENCE_COLUMNS`].
#[derive(Debug, Clone)]
pub struct ResilienceRow<'a> {
    /// The transport's run.
    pub run: &'a TransportResult,
    /// The cells.
    pub cells: [String; 8],
}

/// One row per transport whose subscribers reconnected (a drop fault, errors): connections the
/// fault dropped, the share of owed messages delivered, lost (gap-notified included) and
/// duplicated, the time from a connection's end to being subscribed again, and the latency of
/// the messages published while away. None when no subscriber reconnected.
pub fn resilience_rows<'a>(transports: &[&'a TransportResult]) -> Vec<ResilienceRow<'a>> {
    let ms = |p: &Percentiles, us: u64| {
        if p.is_empty() {
            "-".to_string()
        } else {
            style::ms(us as f64)
        }
    };
    transports
        .iter()
        .filter(|t| t.connections_dropped > 0 || !t.reconnect_time.is_empty())
        .map(|t| {
            let m = &t.messages;
            let share = delivered_share(m);
            let (back, replay) = (&t.reconnect_time, &t.replay_latency);
            ResilienceRow {
                run: t,
                cells: [
                    t.connections_dropped.to_string(),
                    share,
                    (m.seq.lost + m.seq.gap_notified).to_string(),
                    m.seq.duplicated.to_string(),
                    ms(back, back.p50_us),
                    ms(back, back.p99_us),
                    ms(replay, replay.p50_us),
                    ms(replay, replay.p99_us),
                ],
            }
        })
        .collect()
}

/// [`resilience_rows`] as a terminal table; empty when there are none.
pub fn resilience_table(transports: &[&TransportResult]) -> String {
    let rows = resilience_rows(transports);
    cells_table(
        "Through dropped connections (back: connection end to subscribed again; replay: \
         published while away, to delivered; times in ms):",
        &RESILIENCE_COLUMNS,
        rows.iter()
            .map(|r| (r.run.transport.as_str(), &r.cells[..])),
    )
}

/// The columns of [`restart_rows`]: heading and unit.
pub const RESTART_COLUMNS: [(&str, &str); 10] = [
    ("down", "ms"),
    ("back 99%", "ms"),
    ("back all", "ms"),
    ("never back", "clients"),
    ("delivered", "of owed"),
    ("lost", "messages"),
    ("dup", "messages"),
    ("refused", "resumes"),
    ("accepts", "peak /s"),
    ("CPU", "peak cores"),
];

/// What one transport did through a server restart, its cells in the order of
/// [`RESTART_COLUMNS`].
#[derive(Debug, Clone)]
pub struct RestartRow<'a> {
    /// The transport's run.
    pub run: &'a TransportResult,
    /// The cells.
    pub cells: [String; 10],
}

/// One row per transport whose run restarted the server (`faults.restart`): how long it was
/// down, when 99% and all of its subscribers were back (from the signal), how many never came
/// back, the share of owed messages delivered, lost (messages published while it was down
/// among them) and duplicated, the resumes the new process refused, and the reconnect storm's
/// peak accept rate and CPU.
pub fn restart_rows<'a>(transports: &[&'a TransportResult]) -> Vec<RestartRow<'a>> {
    transports
        .iter()
        .filter_map(|t| Some((*t, t.restart.as_ref()?)))
        .map(|(t, r)| {
            let m = &t.messages;
            let ms = |v: f64| style::ms(v * 1000.0);
            let by = |v: Option<f64>| v.map_or_else(|| "never".to_string(), ms);
            RestartRow {
                run: t,
                cells: [
                    ms(r.down_ms),
                    by(r.back_99_ms),
                    by(r.back_all_ms),
                    r.never_back.to_string(),
                    delivered_share(m),
                    (m.seq.lost + m.seq.gap_notified).to_string(),
                    m.seq.duplicated.to_string(),
                    r.forgotten.to_string(),
                    format!("{:.0}", r.peak_accept_per_s),
                    format!("{:.2}", r.peak_cpu),
                ],
            }
        })
        .collect()
}

/// [`restart_rows`] as a terminal table; empty when there are none.
pub fn restart_table(transports: &[&TransportResult]) -> String {
    let rows = restart_rows(transports);
    cells_table(
        "Through a server restart (times from the signal, in ms; refused: resumes the new \
         process could not honour, each followed by a fresh subscription):",
        &RESTART_COLUMNS,
        rows.iter()
            .map(|r| (r.run.transport.as_str(), &r.cells[..])),
    )
}

/// The columns of [`outage_rows`]: heading and unit.
pub const OUTAGE_COLUMNS: [(&str, &str); 7] = [
    ("first", "ms after"),
    ("caught up", "ms after"),
    ("delivered", "of owed"),
    ("lost", "messages"),
    ("gap", "notified"),
    ("dup", "messages"),
    ("timed out", "connections"),
];

/// One row per transport whose link was cut (`faults.outage`), its cells in the order of
/// [`OUTAGE_COLUMNS`]: from the link's return to the first delivery and to the last delivery of
/// a message meant for the outage, the share of owed messages delivered, lost, gap-notified and
/// duplicated, and the connections the clients' heartbeat timeout gave up on.
pub fn outage_rows<'a>(transports: &[&'a TransportResult]) -> Vec<(&'a str, [String; 7])> {
    transports
        .iter()
        .filter_map(|t| Some((*t, t.outage.as_ref()?)))
        .map(|(t, o)| {
            let m = &t.messages;
            let ms =
                |v: Option<f64>| v.map_or_else(|| "never".to_string(), |v| style::ms(v * 1000.0));
            (
                t.transport.as_str(),
                [
                    ms(o.first_delivery_ms),
                    ms(o.caught_up_ms),
                    delivered_share(m),
                    m.seq.lost.to_string(),
                    m.seq.gap_notified.to_string(),
                    m.seq.duplicated.to_string(),
                    t.heartbeat_timeouts.to_string(),
                ],
            )
        })
        .collect()
}

/// [`outage_rows`] as a terminal table; empty when there are none.
pub fn outage_table(transports: &[&TransportResult]) -> String {
    let rows = outage_rows(transports);
    cells_table(
        "Through a link outage (times from the link's return, in ms):",
        &OUTAGE_COLUMNS,
        rows.iter().map(|(name, cells)| (*name, &cells[..])),
    )
}

/// The share of the messages owed to subscribers that arrived.
fn delivered_share(m: &pushbench_results::model::Messages) -> String {
    if m.expected == 0 {
        "-".to_string()
    } else {
        format!("{:.2}%", 100.0 * m.seq.delivered as f64 / m.expected as f64)
    }
}

/// A terminal table under `title`: the transport, then a right-aligned cell per column; empty
/// without rows.
fn cells_table<'a>(
    title: &str,
    columns: &[(&str, &str)],
    rows: impl Iterator<Item = (&'a str, &'a [String])> + Clone,
) -> String {
    let mut out = String::new();
    if rows.clone().next().is_none() {
        return out;
    }
    let width = name_width(rows.clone().map(|(name, _)| name));
    let _ = writeln!(out, "\n{title}");
    let _ = write!(out, "{:<width$}", "transport");
    for (heading, _) in columns {
        let _ = write!(out, " {heading:>10}");
    }
    out.push('\n');
    for (name, cells) in rows {
        let _ = write!(out, "{name:<width$}");
        for cell in cells {
            let _ = write!(out, " {cell:>10}");
        }
        out.push('\n');
    }
    out
}

/// Rows whose value is the best of the column (within 1%); none when every row is.
pub fn best_rows(values: &[Option<f64>], better: Better) -> Vec<bool> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let mut marks = vec![false; values.len()];
    if present.len() < 2 {
        return marks;
    }
    let target = match better {
        Better::Lower => present.iter().copied().fold(f64::INFINITY, f64::min),
        Better::Higher => present.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    for (m, v) in marks.iter_mut().zip(values) {
        *m = v.is_some_and(|v| (v - target).abs() <= target.abs() * 0.01);
    }
    if marks.iter().filter(|m| **m).count() == present.len() {
        marks.fill(false);
    }
    marks
}

/// How precise a run's latency figures can be: the largest publish lag of any transport (how
/// late load-gen sent, which every latency includes) and raw TCP's latency at the same load
/// (what the network stack alone costs). A difference between transports smaller than these is
/// not theirs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    /// Publish lag p50 and p99, µs, of the transport where they were largest.
    pub lag_p50_us: u64,
    /// See `lag_p50_us`.
    pub lag_p99_us: u64,
    /// raw-tcp's latency p50 and p99, µs, when it ran.
    pub raw_tcp_us: Option<(u64, u64)>,
}

impl Floor {
    /// The floor of `summary`, from the transports that ran.
    pub fn of(summary: &Summary) -> Option<Floor> {
        let ran: Vec<&TransportResult> = summary
            .transports
            .iter()
            .filter(|t| t.status.ran() && t.publish_lag.count > 0)
            .collect();
        if ran.is_empty() {
            return None;
        }
        Some(Floor {
            lag_p50_us: ran.iter().map(|t| t.publish_lag.p50_us).max().unwrap_or(0),
            lag_p99_us: ran.iter().map(|t| t.publish_lag.p99_us).max().unwrap_or(0),
            raw_tcp_us: ran
                .iter()
                .find(|t| {
                    pushbench_results::transport_of(&t.transport) == "raw-tcp"
                        && t.latency.count > 0
                })
                .map(|t| (t.latency.p50_us, t.latency.p99_us)),
        })
    }

    /// One sentence for a reader.
    pub fn sentence(&self) -> String {
        let mut s = format!(
            "Measurement floor: publishers sent {} ms late at p50 and {} ms at p99 (the worst \
             transport), and every latency includes that",
            style::ms(self.lag_p50_us as f64),
            style::ms(self.lag_p99_us as f64)
        );
        if let Some((p50, p99)) = self.raw_tcp_us {
            s.push_str(&format!(
                "; raw TCP, the floor of any transport, took {} ms at p50 and {} ms at p99 at \
                 the same load",
                style::ms(p50 as f64),
                style::ms(p99 as f64)
            ));
        }
        s.push_str(". Differences smaller than these are not the transports'.");
        s
    }
}

/// `[low – high]` of a spread, in the figure's format.
pub fn interval_text(f: &Figure, s: &Spread) -> String {
    format!("[{} – {}]", (f.fmt)(s.low), (f.fmt)(s.high))
}

/// With repeats: each transport's intervals for the figures shown, under the table.
fn spreads(out: &mut String, transports: &[&TransportResult], shown: &[&Figure]) {
    let Some(r) = transports.iter().find_map(|t| t.repeats.as_ref()) else {
        return;
    };
    let _ = writeln!(
        out,
        "\nOver {} repeats, the median of each run's figure with its {:.1}% interval:",
        r.runs,
        r.confidence * 100.0
    );
    for t in transports {
        let cells: Vec<String> = shown
            .iter()
            .filter_map(|f| {
                let s = f.spread(t)?;
                Some(format!(
                    "{} {} {}",
                    f.short,
                    (f.fmt)(s.median),
                    interval_text(f, &s)
                ))
            })
            .collect();
        if !cells.is_empty() {
            let width = transports
                .iter()
                .map(|t| t.transport.len())
                .max()
                .unwrap_or(11);
            let _ = writeln!(out, "  {:<width$} {}", t.transport, cells.join("  "));
        }
    }
}

/// Transports of a summary in report order.
pub fn ordered(summary: &Summary) -> Vec<&TransportResult> {
    let mut t: Vec<&TransportResult> = summary.transports.iter().collect();
    t.sort_by_key(|t| style::order(&t.transport));
    t
}

/// Transports of a summary in report order, grouped by the link they ran over (`<transport>~
/// <network>`), the links in the order the run met them; one group, `None`, on loopback or one
/// link.
pub fn by_network(summary: &Summary) -> Vec<(Option<&str>, Vec<&TransportResult>)> {
    let mut groups: Vec<(Option<&str>, Vec<&TransportResult>)> = summary
        .transports
        .iter()
        .map(|t| pushbench_results::network_of(&t.transport))
        .fold(Vec::new(), |mut seen, n| {
            if !seen.iter().any(|(m, _)| *m == n) {
                seen.push((n, Vec::new()));
            }
            seen
        });
    for t in ordered(summary) {
        let n = pushbench_results::network_of(&t.transport);
        if let Some((_, ts)) = groups.iter_mut().find(|(m, _)| *m == n) {
            ts.push(t);
        }
    }
    groups
}

/// The comparison table for the terminal: the figures marked for it, then the notes, then
/// every warning of the run.
pub fn terminal_table(summary: &Summary) -> String {
    let shown: Vec<&Figure> = FIGURES.iter().filter(|f| f.terminal).collect();
    let mut out = String::new();
    let transports = ordered(summary);
    // Wide enough for side-by-side names such as `short-poll@pushbench`.
    let width = name_width(transports.iter().map(|t| t.transport.as_str()));
    let _ = write!(out, "{:<width$}", "transport");
    for f in &shown {
        let _ = write!(out, " {:>8}", f.short);
    }
    out.push_str("  notes\n");
    for t in &transports {
        let _ = write!(out, "{:<width$}", t.transport);
        for f in &shown {
            let cell = f.of(t).map_or_else(|| "-".to_string(), f.fmt);
            let _ = write!(out, " {cell:>8}");
        }
        let notes: Vec<String> = flags(t).into_iter().map(|f| f.text).collect();
        let _ = writeln!(out, "  {}", notes.join(" "));
    }
    spreads(&mut out, &transports, &shown);
    out.push_str(&proxy_table(&transports));
    out.push_str(&resilience_table(&transports));
    out.push_str(&restart_table(&transports));
    out.push_str(&outage_table(&transports));
    if let Some(floor) = Floor::of(summary) {
        let _ = writeln!(out, "\n{}", floor.sentence());
    }
    let warnings: Vec<&String> = summary
        .warnings
        .iter()
        .chain(transports.iter().flat_map(|t| &t.warnings))
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nWARNINGS:");
        for w in warnings {
            let _ = writeln!(out, "  ! {w}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str) -> TransportResult {
        let mut t = TransportResult {
            transport: name.into(),
            status: Status::Complete,
            throughput_msgs_per_s: 100.0,
            ..Default::default()
        };
        t.latency.count = 10;
        t.latency.p50_us = 1500;
        t.messages.seq.delivered = 10;
        t
    }

    #[test]
    fn the_resilience_table_shows_only_transports_that_reconnected() {
        let quiet = result("raw-tcp");
        assert_eq!(resilience_table(&[&quiet]), "");
        let mut t = result("sse");
        t.connections_dropped = 40;
        t.messages.expected = 1000;
        t.messages.seq.delivered = 999;
        t.messages.seq.lost = 1;
        t.reconnect_time = Percentiles {
            count: 40,
            p50_us: 80_000,
            p99_us: 150_000,
            ..Default::default()
        };
        let table = resilience_table(&[&quiet, &t]);
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("sse")).collect();
        assert_eq!(rows.len(), 1, "{table}");
        let cells: Vec<&str> = rows[0].split_whitespace().collect();
        assert_eq!(
            cells[..6],
            ["sse", "40", "99.90%", "1", "0", "80.0"],
            "{table}"
        );
        assert_eq!(cells[7..], ["-", "-"], "no replays: {table}");
        assert!(!table.contains("raw-tcp"));
    }

    #[test]
    fn the_restart_table_times_the_way_back_and_says_who_never_came() {
        let quiet = result("raw-tcp");
        assert_eq!(restart_table(&[&quiet]), "");
        let mut t = result("websocket");
        t.messages.expected = 1000;
        t.messages.seq.delivered = 990;
        t.messages.seq.lost = 10;
        t.restart = Some(pushbench_results::model::Restart {
            down_ms: 12.5,
            clients: 100,
            back: 99,
            never_back: 1,
            back_99_ms: Some(480.0),
            back_all_ms: None,
            forgotten: 99,
            peak_accept_per_s: 1230.0,
            peak_cpu: 0.8,
            ..Default::default()
        });
        let table = restart_table(&[&quiet, &t]);
        let row = table
            .lines()
            .find(|l| l.starts_with("websocket"))
            .unwrap_or_else(|| panic!("{table}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "websocket",
                "12.5",
                "480",
                "never",
                "1",
                "99.00%",
                "10",
                "0",
                "99",
                "1230",
                "0.80"
            ],
            "{table}"
        );
        assert!(!table.contains("raw-tcp"));
    }

    #[test]
    fn the_outage_table_times_from_the_links_return() {
        let quiet = result("raw-tcp");
        assert_eq!(outage_table(&[&quiet]), "");
        let mut t = result("sse");
        t.messages.expected = 100;
        t.messages.seq.delivered = 100;
        t.heartbeat_timeouts = 3;
        t.outage = Some(pushbench_results::model::OutageResult {
            at_s: 1.5,
            for_s: 1.0,
            first_delivery_ms: Some(641.8),
            caught_up_ms: None,
        });
        let table = outage_table(&[&quiet, &t]);
        let row = table.lines().find(|l| l.starts_with("sse")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            ["sse", "642", "never", "100.00%", "0", "0", "0", "3"],
            "{table}"
        );
    }

    #[test]
    fn dropped_connections_are_noted_but_not_as_a_failure() {
        let mut t = result("sse");
        assert!(flags(&t).is_empty());
        t.connections_dropped = 42;
        assert_eq!(
            flags(&t),
            [Flag {
                text: "42 dropped".into(),
                serious: false
            }]
        );
    }

    #[test]
    fn a_proxied_run_that_lost_deliveries_is_not_called_delivering() {
        let mut run = result("long-poll@nchan+nginx");
        run.proxy = Some(pushbench_results::model::ProxyCost {
            via: "nginx".into(),
            ..Default::default()
        });
        run.messages.expected = 10;
        let row = ProxyRow {
            run: &run,
            direct: None,
        };
        assert_eq!(row.verdict(), "delivers");
        run.messages.expected = 14;
        let row = ProxyRow {
            run: &run,
            direct: None,
        };
        assert_eq!(row.verdict(), "LOSS");
        run.proxy.as_mut().unwrap().broken = Some("FELL BEHIND: the polls did not keep up".into());
        let row = ProxyRow {
            run: &run,
            direct: None,
        };
        assert_eq!(row.verdict(), "FELL BEHIND");
    }

    #[test]
    fn best_rows_mark_ties_but_not_everyone() {
        assert_eq!(
            best_rows(&[Some(1.0), Some(1.005), Some(2.0), None], Better::Lower),
            [true, true, false, false]
        );
        assert_eq!(
            best_rows(&[Some(0.0), Some(0.0)], Better::Lower),
            [false, false]
        );
        assert_eq!(
            best_rows(&[Some(3.0), Some(2.0)], Better::Higher),
            [true, false]
        );
    }

    #[test]
    fn a_failed_transport_has_no_figures_and_says_so() {
        let mut t = result("sse");
        assert_eq!(FIGURES[0].of(&t), Some(1500.0));
        t.status = Status::Failed;
        assert!(FIGURES.iter().all(|f| f.of(&t).is_none()));
        assert_eq!(flags(&t)[0].text, "failed");
    }

    #[test]
    fn the_floor_is_the_worst_lag_and_raw_tcp_latency() {
        let mut a = result("sse");
        a.publish_lag.count = 5;
        a.publish_lag.p50_us = 40;
        a.publish_lag.p99_us = 90;
        let mut b = result("raw-tcp");
        b.publish_lag.count = 5;
        b.publish_lag.p50_us = 60;
        b.publish_lag.p99_us = 70;
        b.latency.p99_us = 2500;
        let summary = Summary {
            transports: vec![a, b],
            ..Default::default()
        };
        let floor = Floor::of(&summary).unwrap();
        assert_eq!(
            floor,
            Floor {
                lag_p50_us: 60,
                lag_p99_us: 90,
                raw_tcp_us: Some((1500, 2500)),
            }
        );
        assert!(
            floor.sentence().contains("0.090 ms at p99"),
            "{}",
            floor.sentence()
        );
        assert_eq!(Floor::of(&Summary::default()), None);
    }

    #[test]
    fn the_terminal_table_has_a_column_per_terminal_figure_and_every_warning() {
        let mut sse = result("sse");
        sse.generator_bound = true;
        sse.warnings.push("sse: GENERATOR-BOUND: busy".into());
        let summary = Summary {
            transports: vec![sse, result("short-poll")],
            ..Default::default()
        };
        let table = terminal_table(&summary);
        let lines: Vec<&str> = table.lines().collect();
        let head = lines[0];
        for f in FIGURES.iter().filter(|f| f.terminal) {
            assert!(head.contains(f.short), "{head}");
        }
        assert!(!head.contains("fan99"));
        // Report order: short-poll before sse.
        assert!(lines[1].starts_with("short-poll"));
        assert!(lines[2].starts_with("sse") && lines[2].ends_with("GENERATOR-BOUND"));
        assert!(lines[2].contains("1.50"), "{}", lines[2]);
        assert!(table.contains("  ! sse: GENERATOR-BOUND: busy"));
    }
}
