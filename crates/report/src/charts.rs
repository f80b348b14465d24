//! The six PNG charts, each [`WIDTH`] × [`HEIGHT`] pixels, drawn with plotters' bitmap backend;
//! all text goes through [`crate::text`] and the embedded font.
//!
//! Every chart shows every transport that ran, in one colour per transport throughout
//! ([`crate::style::colour`]). A value axis turns logarithmic when its values span more than
//! [`LOG_SPAN`]: polling and streaming differ by orders of magnitude in latency and in requests
//! per message. Log axes are drawn by plotting `log10(value)` on a linear scale and labelling
//! the ticks with the values, so one coordinate type serves every chart. Charts with a row per
//! transport write the names beside the rows with a swatch of the transport's colour, so no
//! legend has to be matched by eye, and mark the best value in each panel.

use std::ops::Range;
use std::path::Path;

use hdrhistogram::Histogram;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::Error;
use crate::load::{Run, LATENCY};
use crate::model::TransportResult;
use crate::style::{self, colour};
use crate::text::{self, Style, H, V};

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 1200;
/// Height of every chart, in pixels.
pub const HEIGHT: u32 = 700;
/// Above this ratio between the largest and smallest value a bar axis is logarithmic.
pub const LOG_SPAN: f64 = 30.0;
/// The same for latency lines, which bunch up at the bottom sooner than bars lose their length.
pub const LOG_SPAN_LINES: f64 = 10.0;

/// One chart: its file in the results folder, its title, and a line on how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chart {
    /// File name, e.g. `latency-percentiles.png`.
    pub file: &'static str,
    /// Heading in the report.
    pub title: &'static str,
    /// What it shows and how to read it.
    pub caption: &'static str,
}

/// Every chart, in the order the report shows them.
pub const CHARTS: [Chart; 6] = [
    Chart {
        file: "latency-percentiles.png",
        title: "Latency by percentile",
        caption: "Intended publish time to decoded at a subscriber, measured window only, in the \
                  HdrHistogram convention: each step right on the x axis is one more nine \
                  (90%, 99%, 99.9%), so the tail gets as much room as the median and the right \
                  end of a line is its worst case. Lower is better; a line that turns up sharply \
                  has a tail.",
    },
    Chart {
        file: "latency-over-time.png",
        title: "Latency over time",
        caption: "p99 (top) and p50 (bottom) of each second of each transport's run, from the \
                  interval logs, with warm-up and drain shaded (they are not in the other \
                  figures). Look for spikes (stalls, reconnects) and for a warm-up that had not \
                  settled.",
    },
    Chart {
        file: "bytes-per-message.png",
        title: "Wire bytes per delivered message",
        caption: "Everything the subscribers' sockets moved, divided by delivered messages: down \
                  (server to client) to the right of zero, up (client to server) to the left, \
                  split into the message itself, the transport's framing, per-request HTTP heads \
                  and connection setup. The right column gives the total and the overhead over \
                  the payload.",
    },
    Chart {
        file: "requests-per-message.png",
        title: "Requests per delivered message, and empty polls",
        caption: "How often a subscriber had to ask. Streaming transports ask once per \
                  connection; polling asks per message or per interval, and an empty poll is a \
                  request answered with nothing.",
    },
    Chart {
        file: "server-cost.png",
        title: "Server cost",
        caption: "push-server's CPU time per 1,000 delivered messages, and the memory each \
                  held-open subscriber connection added (polling clients hold no connection \
                  while idle, so they have no figure).",
    },
    Chart {
        file: "throughput-latency.png",
        title: "Throughput beside latency",
        caption: "Messages delivered per second in the measured window, next to p99 latency \
                  (bar) and p50 (white tick): a batching transport can keep up with the rate \
                  while each message waits.",
    },
];

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Plot<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;
/// A transport's percentile curve (x = 1/(1−p), ms) and its p99 in ms.
type Curve<'a> = (&'a TransportResult, Vec<(f64, f64)>, f64);
/// A transport's (interval middle s, p50 ms, p99 ms) points.
type Timeline<'a> = (&'a TransportResult, Vec<(f64, f64, f64)>);

const GRID: RGBColor = RGBColor(0xE2, 0xE2, 0xE2);
const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
const MUTED: RGBColor = RGBColor(0x5A, 0x5A, 0x5A);
const SHADE: RGBColor = RGBColor(0xEF, 0xEF, 0xEF);

const TITLE: Style = Style::new(24.0).bold();
const HEADING: Style = Style::new(17.0).bold();
const BODY: Style = Style::new(15.0);
const SMALL: Style = Style::new(13.5);
const TICK: Style = Style::new(14.0);

/// Draws every chart into `dir`; returns them in [`CHARTS`] order.
pub fn draw_all(run: &Run, dir: &Path) -> Result<Vec<Chart>, Error> {
    type DrawFn = fn(&Run, &Area) -> DrawResult;
    let draw: [DrawFn; 6] = [
        latency_percentiles,
        latency_over_time,
        bytes_per_message,
        requests_per_message,
        server_cost,
        throughput_latency,
    ];
    for (chart, f) in CHARTS.iter().zip(draw) {
        let path = dir.join(chart.file);
        let fail = |e: Box<dyn std::error::Error>| Error::Chart {
            chart: chart.file.to_string(),
            reason: e.to_string(),
        };
        let root = BitMapBackend::new(&path, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.into()))?;
        let body = header(&root, run, chart).map_err(fail)?;
        f(run, &body).map_err(fail)?;
        root.present().map_err(|e| fail(e.into()))?;
    }
    Ok(CHARTS.to_vec())
}

/// Draws the title and the scenario line; returns the area below them.
fn header<'a>(
    root: &Area<'a>,
    run: &Run,
    chart: &Chart,
) -> Result<Area<'a>, Box<dyn std::error::Error>> {
    text::draw(root, chart.title, (24, 14), TITLE, H::Left, V::Top)?;
    let mut line = format!(
        "{}: {}",
        run.summary.scenario,
        run.summary.description.lines().next().unwrap_or("")
    );
    if run.sources.len() > 1 {
        line.push_str(&format!(" · {} runs merged", run.sources.len()));
    }
    text::draw(root, &line, (24, 48), BODY.colour(MUTED), H::Left, V::Top)?;
    Ok(root.split_vertically(76).1)
}

/// Transports in report order.
fn transports(run: &Run) -> Vec<&TransportResult> {
    let mut t: Vec<&TransportResult> = run.summary.transports.iter().collect();
    t.sort_by_key(|t| style::order(&t.transport));
    t
}

/// The 1-2-5 value at or below `v`.
fn nice_below(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [5.0, 2.0, 1.0]
        .iter()
        .map(|s| s * p)
        .find(|x| *x <= v * 1.0001)
        .unwrap_or(p / 2.0)
}

/// The 1-2-5 value at or above `v`.
fn nice_above(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|s| s * p)
        .find(|x| *x >= v * 0.9999)
        .unwrap_or(10.0 * p)
}

/// Tick values 1, 2, 5 × 10^k in `lo..=hi`, or only 10^k when the range spans more than
/// `dense_decades`.
fn log_ticks(lo: f64, hi: f64, dense_decades: f64) -> Vec<f64> {
    let steps: &[f64] = if (hi / lo).log10() <= dense_decades {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut out = Vec::new();
    let mut k = lo.log10().floor() as i32 - 1;
    while 10f64.powi(k) <= hi * 1.0001 {
        for s in steps {
            let v = s * 10f64.powi(k);
            if v >= lo * 0.9999 && v <= hi * 1.0001 {
                out.push(v);
            }
        }
        k += 1;
    }
    out
}

/// A value axis: linear from zero, or logarithmic between 1-2-5 bounds, with labelled ticks.
#[derive(Debug, Clone)]
struct Axis {
    /// Smallest value shown.
    lo: f64,
    /// Largest value shown.
    hi: f64,
    log: bool,
    /// Tick values and their labels.
    ticks: Vec<(f64, String)>,
    /// Whether the title says "(log scale)" (not where the ticks say it already).
    say_log: bool,
}

impl Axis {
    /// A linear axis over `lo..hi` with about `n` ticks at round steps.
    fn linear(lo: f64, hi: f64, n: usize, fmt: &dyn Fn(f64) -> String) -> Axis {
        let step = nice_above((hi - lo) / n.max(1) as f64);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let ticks = (first..=last)
            .map(|i| i as f64 * step)
            .map(|v| (v, fmt(v)))
            .collect();
        Axis {
            lo,
            hi,
            log: false,
            ticks,
            say_log: false,
        }
    }

    /// A logarithmic axis over `lo..hi` with 1-2-5 ticks (powers of ten only beyond
    /// `dense_decades`).
    fn logarithmic(lo: f64, hi: f64, dense_decades: f64, fmt: &dyn Fn(f64) -> String) -> Axis {
        Axis {
            lo,
            hi,
            log: true,
            ticks: log_ticks(lo, hi, dense_decades)
                .into_iter()
                .map(|v| (v, fmt(v)))
                .collect(),
            say_log: true,
        }
    }

    /// An axis for non-negative `values`: linear from zero, or logarithmic when they span more
    /// than `span` (largest / smallest positive).
    fn for_values(
        values: impl IntoIterator<Item = f64>,
        span: f64,
        fmt: &dyn Fn(f64) -> String,
    ) -> Axis {
        let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        let max = v.iter().copied().fold(0.0, f64::max);
        let min_pos = v
            .iter()
            .copied()
            .filter(|x| *x > 0.0)
            .fold(f64::INFINITY, f64::min);
        if max <= 0.0 {
            Axis::linear(0.0, 1.0, 4, fmt)
        } else if max / min_pos > span {
            // A 1-2-5 step clearly below the smallest value, so its bar still has length.
            // Tall line charts have room for 1-2-5 ticks over more decades than bar panels.
            let dense = if span == LOG_SPAN_LINES { 3.5 } else { 2.2 };
            Axis::logarithmic(nice_below(min_pos / 1.5), nice_above(max), dense, fmt)
        } else {
            let step = nice_above(max / 5.0);
            Axis::linear(0.0, (max / step).ceil() * step, 5, fmt)
        }
    }

    /// Where `v` goes on the plot's linear coordinate.
    fn t(&self, v: f64) -> f64 {
        if self.log {
            v.max(self.lo * 1e-3).log10()
        } else {
            v
        }
    }

    /// The plot coordinate range, with `extra` of its length added at the top (room for
    /// labels).
    fn range(&self, extra: f64) -> Range<f64> {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        a..b + (b - a) * extra
    }

    /// The axis title, saying when it is logarithmic.
    fn describe(&self, what: &str) -> String {
        if self.say_log {
            format!("{what} (log scale)")
        } else {
            what.to_string()
        }
    }
}

/// Builds a plot inside `area` with the given margins (left, right, top, bottom), in pixels.
fn plot<'a, 'b>(
    area: &'a Area<'b>,
    margins: (u32, u32, u32, u32),
    x: Range<f64>,
    y: Range<f64>,
) -> Result<Plot<'a, 'b>, Box<dyn std::error::Error>> {
    Ok(ChartBuilder::on(area)
        .margin_left(margins.0)
        .margin_right(margins.1)
        .margin_top(margins.2)
        .margin_bottom(margins.3)
        .build_cartesian_2d(x, y)?)
}

/// The plot's rectangle in `area`'s pixels: left, right, top, bottom.
fn plot_box(area: &Area, chart: &Plot) -> (i32, i32, i32, i32) {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let base = area.get_base_pixel();
    (
        xr.start - base.0,
        xr.end - base.0,
        yr.start - base.1,
        yr.end - base.1,
    )
}

/// A point of the plot in `area`'s pixels.
fn at(area: &Area, chart: &Plot, x: f64, y: f64) -> (i32, i32) {
    let (px, py) = chart.backend_coord(&(x, y));
    let base = area.get_base_pixel();
    (px - base.0, py - base.1)
}

/// Grid lines, axis lines, tick labels and axis titles. `x`/`y` are `None` for a categorical
/// axis (rows), which gets no grid.
fn frame(
    area: &Area,
    chart: &mut Plot,
    x: Option<(&Axis, &str)>,
    y: Option<(&Axis, &str)>,
) -> DrawResult {
    let (left, right, top, bottom) = plot_box(area, chart);
    if let Some((ax, title)) = x {
        // Right edge of the last label drawn: a label that would touch it is left out.
        let mut last_end = i32::MIN;
        for (v, label) in &ax.ticks {
            let (px, _) = at(area, chart, ax.t(*v), 0.0);
            if px < left - 1 || px > right + 1 {
                continue;
            }
            area.draw(&PathElement::new(vec![(px, top), (px, bottom)], GRID))?;
            area.draw(&PathElement::new(
                vec![(px, bottom), (px, bottom + 5)],
                AXIS,
            ))?;
            let half = (text::width(label, TICK) / 2.0).ceil() as i32;
            if px - half > last_end + 10 {
                text::draw(area, label, (px, bottom + 8), TICK, H::Center, V::Top)?;
                last_end = px + half;
            }
        }
        if !title.is_empty() {
            text::draw(
                area,
                &ax.describe(title),
                ((left + right) / 2, bottom + 32),
                BODY,
                H::Center,
                V::Top,
            )?;
        }
    }
    if let Some((ax, title)) = y {
        let mut widest = 0.0f32;
        for (v, label) in &ax.ticks {
            let (_, py) = at(area, chart, 0.0, ax.t(*v));
            if py < top - 1 || py > bottom + 1 {
                continue;
            }
            area.draw(&PathElement::new(vec![(left, py), (right, py)], GRID))?;
            area.draw(&PathElement::new(vec![(left - 5, py), (left, py)], AXIS))?;
            text::draw(area, label, (left - 8, py), TICK, H::Right, V::Middle)?;
            widest = widest.max(text::width(label, TICK));
        }
        if !title.is_empty() {
            text::draw_vertical(
                area,
                &ax.describe(title),
                (left - 14 - widest as i32 - 12, (top + bottom) / 2),
                BODY,
                H::Center,
                V::Middle,
            )?;
        }
    }
    area.draw(&PathElement::new(
        vec![(left, top), (left, bottom), (right, bottom)],
        AXIS.stroke_width(1),
    ))?;
    Ok(())
}

/// A message in the middle of an area that has nothing to show.
fn nothing(area: &Area, what: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    text::draw(
        area,
        what,
        (w as i32 / 2, h as i32 / 2),
        Style::new(20.0).colour(MUTED),
        H::Center,
        V::Middle,
    )?;
    Ok(())
}

/// A legend of transports, one per line: a line in the transport's colour, the name, a value.
fn legend(area: &Area, title: &str, entries: &[(&str, String)]) -> DrawResult {
    text::draw(area, title, (14, 10), HEADING, H::Left, V::Top)?;
    for (i, (name, value)) in entries.iter().enumerate() {
        let y = 56 + i as i32 * 30;
        area.draw(&PathElement::new(
            vec![(14, y), (42, y)],
            colour(name).stroke_width(4),
        ))?;
        text::draw(area, name, (52, y), BODY, H::Left, V::Middle)?;
        text::draw(area, value, (250, y), BODY, H::Right, V::Middle)?;
    }
    Ok(())
}

/// Percentile curve points (x = 1/(1−p), y = ms) of a histogram in µs, up to `x_max`.
fn percentile_curve(h: &Histogram<u64>, x_max: f64) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        if q >= 1.0 {
            break;
        }
        let x = 1.0 / (1.0 - q);
        if x > x_max {
            break;
        }
        pts.push((x, v.value_iterated_to() as f64 / 1000.0));
    }
    // The largest value, at the percentile of the last sample.
    let last_x = (h.len() as f64).clamp(1.0, x_max);
    if pts.last().is_none_or(|p| p.0 < last_x) {
        pts.push((last_x, h.max() as f64 / 1000.0));
    }
    pts
}

/// `x` = 1/(1−p) as a percentile: 1 → 0%, 2 → 50%, 10 → 90%, 1000 → 99.9%.
fn nines_label(x: f64) -> String {
    if x <= 1.0 {
        "0%".into()
    } else if (x - 2.0).abs() < 1e-9 {
        "50%".into()
    } else {
        let p = 100.0 * (1.0 - 1.0 / x);
        let digits = (x.log10().round() as i32 - 2).max(0) as usize;
        format!("{p:.digits$}%")
    }
}

/// Milliseconds for an axis label.
fn ms_label(v: f64) -> String {
    style::num(v)
}

/// Chart 1: latency percentile distribution, every transport overlaid.
fn latency_percentiles(run: &Run, area: &Area) -> DrawResult {
    let mut series = Vec::new();
    for t in transports(run) {
        if let Some(log) = run.logs.get(&t.transport) {
            let h = log.measured(LATENCY);
            if !h.is_empty() {
                series.push((t, h));
            }
        }
    }
    if series.is_empty() {
        return nothing(area, "no latency recorded (no interval logs)");
    }
    let count = series.iter().map(|(_, h)| h.len()).max().unwrap_or(1) as f64;
    let x_max = 10f64.powf(count.log10().ceil()).clamp(100.0, 1_000_000.0);
    let curves: Vec<Curve> = series
        .iter()
        .map(|(t, h)| {
            (
                *t,
                percentile_curve(h, x_max),
                h.value_at_quantile(0.99) as f64 / 1000.0,
            )
        })
        .collect();
    // The axis starts near the lowest 10th percentile, not the lowest sample: a few
    // near-zero latencies would otherwise squeeze the part worth reading (the curves hug the
    // bottom edge below it).
    let floor = series
        .iter()
        .map(|(_, h)| h.value_at_quantile(0.1) as f64 / 1000.0)
        .fold(f64::INFINITY, f64::min);
    let y = Axis::for_values(
        curves
            .iter()
            .flat_map(|c| c.1.iter().map(|p| p.1))
            .map(|v| v.max(floor)),
        LOG_SPAN_LINES,
        &ms_label,
    );
    let x = Axis {
        lo: 1.0,
        hi: x_max,
        log: true,
        ticks: [1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]
            .into_iter()
            .filter(|v| *v <= x_max)
            .map(|v| (v, nines_label(v)))
            .collect(),
        say_log: false,
    };
    let (left, right) = area.split_horizontally(WIDTH as i32 - 280);
    let mut chart = plot(&left, (100, 24, 12, 64), x.range(0.0), y.range(0.06))?;
    frame(
        &left,
        &mut chart,
        Some((&x, "percentile (each step right is one more nine)")),
        Some((&y, "latency, ms")),
    )?;
    for (t, pts, _) in &curves {
        let y_lo = if y.log { y.lo } else { 0.0 };
        let pts: Vec<(f64, f64)> = pts.iter().map(|p| (x.t(p.0), y.t(p.1.max(y_lo)))).collect();
        chart.draw_series(LineSeries::new(pts, colour(&t.transport).stroke_width(3)))?;
    }
    // Legend in the order of the lines at the 99th percentile, top to bottom.
    let mut order: Vec<(&str, f64)> = curves
        .iter()
        .map(|c| (c.0.transport.as_str(), c.2))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    let entries: Vec<(&str, String)> = order
        .iter()
        .map(|(n, p99)| (*n, format!("{} ms", style::num(*p99))))
        .collect();
    legend(&right, "p99 latency", &entries)?;
    text::draw(
        &right,
        "lower is better",
        (14, 56 + entries.len() as i32 * 30 + 8),
        SMALL.colour(MUTED),
        H::Left,
        V::Top,
    )?;
    Ok(())
}

/// Middle of each interval with its latency p50 and p99, in ms.
fn timeline(run: &Run, transport: &str) -> Vec<(f64, f64, f64)> {
    run.logs.get(transport).map_or_else(Vec::new, |log| {
        log.intervals
            .iter()
            .filter_map(|i| {
                let h = i.histograms.get(LATENCY)?;
                (!h.is_empty()).then(|| {
                    (
                        i.start_s + i.length_s / 2.0,
                        h.value_at_quantile(0.5) as f64 / 1000.0,
                        h.value_at_quantile(0.99) as f64 / 1000.0,
                    )
                })
            })
            .collect()
    })
}

/// Chart 2: p99 and p50 per interval over each transport's run.
fn latency_over_time(run: &Run, area: &Area) -> DrawResult {
    let lines: Vec<Timeline> = transports(run)
        .into_iter()
        .map(|t| (t, timeline(run, &t.transport)))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return nothing(area, "no interval logs to draw");
    }
    let x_end = run
        .logs
        .values()
        .flat_map(|l| l.intervals.iter().map(|i| i.start_s + i.length_s))
        .fold(1.0, f64::max)
        .ceil();
    let measured_end = run.warmup_s
        + transports(run)
            .iter()
            .map(|t| t.measured_s)
            .fold(0.0, f64::max);
    let x = Axis::linear(0.0, x_end, 8, &|v| style::num(v));
    // The top panel shares the bottom one's time axis: grid lines, no labels.
    let mut x_unlabelled = x.clone();
    for t in &mut x_unlabelled.ticks {
        t.1.clear();
    }
    let (plots, side) = area.split_horizontally(WIDTH as i32 - 280);
    let (top, bottom) = plots.split_vertically(306);
    for (panel, p99) in [(&top, true), (&bottom, false)] {
        let pick = |p: &(f64, f64, f64)| if p99 { p.2 } else { p.1 };
        let y = Axis::for_values(
            lines.iter().flat_map(|(_, l)| l.iter().map(pick)),
            LOG_SPAN_LINES,
            &ms_label,
        );
        let margins = if p99 {
            (100, 24, 30, 10)
        } else {
            (100, 24, 14, 64)
        };
        let mut chart = plot(panel, margins, x.range(0.0), y.range(0.08))?;
        let (y0, y1) = (chart.y_range().start, chart.y_range().end);
        let shade = |from: f64, to: f64| Rectangle::new([(from, y0), (to, y1)], SHADE.filled());
        chart.draw_series(std::iter::once(shade(0.0, run.warmup_s.min(x_end))))?;
        if measured_end < x_end {
            chart.draw_series(std::iter::once(shade(measured_end, x_end)))?;
        }
        let name = if p99 {
            "p99 latency, ms"
        } else {
            "p50 latency, ms"
        };
        let x_title = if p99 {
            ""
        } else {
            "seconds since the transport's run started"
        };
        let x_axis = if p99 { &x_unlabelled } else { &x };
        frame(panel, &mut chart, Some((x_axis, x_title)), Some((&y, name)))?;
        for (t, l) in &lines {
            let c = colour(&t.transport);
            let pts: Vec<(f64, f64)> = l.iter().map(|p| (p.0, y.t(pick(p)))).collect();
            chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
        }
        if p99 {
            let (_, _, plot_top, _) = plot_box(panel, &chart);
            let label = |from: f64, to: f64, s: &str| -> DrawResult {
                let (px, _) = at(panel, &chart, (from + to) / 2.0, y0);
                text::draw(
                    panel,
                    s,
                    (px, plot_top - 5),
                    SMALL.colour(MUTED),
                    H::Center,
                    V::Bottom,
                )?;
                Ok(())
            };
            label(0.0, run.warmup_s, "warm-up")?;
            if measured_end < x_end {
                label(measured_end, x_end, "drain")?;
            }
        }
    }
    let mut order: Vec<(&str, f64)> = lines
        .iter()
        .map(|(t, l)| {
            (
                t.transport.as_str(),
                l.iter().map(|p| p.2).fold(0.0, f64::max),
            )
        })
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    let entries: Vec<(&str, String)> = order
        .iter()
        .map(|(n, worst)| (*n, format!("{} ms", style::num(*worst))))
        .collect();
    legend(&side, "worst second's p99", &entries)?;
    Ok(())
}

/// A transport's name with a swatch of its colour, ending at `x`, centred on `y`.
fn row_label(area: &Area, x: i32, y: i32, name: &str) -> DrawResult {
    text::draw(area, name, (x - 22, y), BODY, H::Right, V::Middle)?;
    area.draw(&Rectangle::new(
        [(x - 14, y - 7), (x, y + 7)],
        colour(name).filled(),
    ))?;
    Ok(())
}

/// Phases of wire bytes, from the payload outwards, in greys kept apart from the transport
/// colours on purpose.
const PHASES: [(&str, RGBColor); 4] = [
    ("payload (the envelope)", RGBColor(0x3C, 0x3C, 0x3C)),
    ("framing", RGBColor(0x8A, 0x8A, 0x8A)),
    ("HTTP heads per request", RGBColor(0xBC, 0xBC, 0xBC)),
    ("connection setup", RGBColor(0xE4, 0xE4, 0xE4)),
];

/// Chart 3: wire bytes per delivered message, stacked by phase, up to the left and down to the
/// right.
fn bytes_per_message(run: &Run, area: &Area) -> DrawResult {
    let rows = transports(run);
    if rows.is_empty() {
        return nothing(area, "no transports");
    }
    let per = |t: &TransportResult, x: u64| {
        let d = t.messages.seq.delivered;
        if d == 0 {
            0.0
        } else {
            x as f64 / d as f64
        }
    };
    let split: Vec<([f64; 4], [f64; 4])> = rows
        .iter()
        .map(|t| {
            let b = &t.bytes;
            (
                [
                    per(t, b.payload_up),
                    per(t, b.framing_up),
                    per(t, b.headers_up),
                    per(t, b.setup_up),
                ],
                [
                    per(t, b.payload_down),
                    per(t, b.framing_down),
                    per(t, b.headers_down),
                    per(t, b.setup_down),
                ],
            )
        })
        .collect();
    let max_down = split
        .iter()
        .map(|s| s.1.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let max_up = split
        .iter()
        .map(|s| s.0.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let right_end = (max_down * 1.2).max(1.0);
    // The up side gets at least a fifth of the width, for its labels.
    let left_end = (max_up * 1.3).max(right_end * 0.25);

    // Phase legend under the title.
    let (key, rest) = area.split_vertically(36);
    let mut x = 24;
    for (name, c) in PHASES {
        key.draw(&Rectangle::new([(x, 8), (x + 18, 26)], c.filled()))?;
        key.draw(&Rectangle::new([(x, 8), (x + 18, 26)], AXIS))?;
        text::draw(&key, name, (x + 26, 17), BODY, H::Left, V::Middle)?;
        x += 26 + text::width(name, BODY) as i32 + 30;
    }
    let (left, totals) = rest.split_horizontally(WIDTH as i32 - 200);
    let n = rows.len();
    let mut chart = plot(
        &left,
        (150, 12, 30, 64),
        -left_end..right_end,
        -0.5..(n as f64 - 0.5),
    )?;
    let step = nice_above((left_end + right_end) / 10.0);
    let ticks = ((-left_end / step).ceil() as i64..=(right_end / step).floor() as i64)
        .map(|i| {
            let v = i as f64 * step;
            (v, style::num(v.abs()))
        })
        .collect();
    let x_axis = Axis {
        lo: -left_end,
        hi: right_end,
        log: false,
        ticks,
        say_log: false,
    };
    frame(&left, &mut chart, Some((&x_axis, "")), None)?;
    let (pl, pr, pt, pb) = plot_box(&left, &chart);
    let (zero, _) = at(&left, &chart, 0.0, 0.0);
    text::draw(
        &left,
        "bytes per delivered message",
        ((pl + pr) / 2, pb + 32),
        BODY,
        H::Center,
        V::Top,
    )?;
    let above = pt - 6;
    text::draw(
        &left,
        "← up: client → server",
        (zero - 10, above),
        SMALL.colour(MUTED),
        H::Right,
        V::Bottom,
    )?;
    text::draw(
        &left,
        "down: server → client →",
        (zero + 10, above),
        SMALL.colour(MUTED),
        H::Left,
        V::Bottom,
    )?;
    left.draw(&PathElement::new(
        vec![(zero, pt), (zero, pb)],
        AXIS.stroke_width(2),
    ))?;
    text::draw(
        &totals,
        "total · overhead",
        (10, above),
        HEADING,
        H::Left,
        V::Bottom,
    )?;
    for (i, (t, (up, down))) in rows.iter().zip(&split).enumerate() {
        let yc = (n - 1 - i) as f64;
        let (y0, y1) = (yc - 0.3, yc + 0.3);
        for (side, parts) in [(-1.0, up), (1.0, down)] {
            let mut end = 0.0;
            for (k, v) in parts.iter().enumerate() {
                if *v <= 0.0 {
                    continue;
                }
                let next = end + side * v;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(end, y0), (next, y1)],
                    PHASES[k].1.filled(),
                )))?;
                end = next;
            }
            let sum: f64 = parts.iter().sum();
            let (px, py) = at(&left, &chart, end, yc);
            let label = format!("{} B", style::num(sum));
            if side > 0.0 {
                text::draw(&left, &label, (px + 6, py), BODY, H::Left, V::Middle)?;
            } else {
                text::draw(&left, &label, (px - 6, py), BODY, H::Right, V::Middle)?;
            }
        }
        let (total_up, total_down): (f64, f64) = (up.iter().sum(), down.iter().sum());
        if total_up + total_down > 0.0 {
            // An outline keeps the palest phase visible against the white.
            chart.draw_series(std::iter::once(Rectangle::new(
                [(-total_up, y0), (total_down, y1)],
                AXIS,
            )))?;
        }
        let (_, py) = at(&left, &chart, 0.0, yc);
        row_label(&left, 140, py, &t.transport)?;
        let tb = totals.get_base_pixel().1 - left.get_base_pixel().1;
        text::draw(
            &totals,
            &format!(
                "{} · +{}%",
                style::bytes(t.bytes_per_message.total),
                style::num(t.overhead_ratio * 100.0)
            ),
            (10, py - tb),
            BODY,
            H::Left,
            V::Middle,
        )?;
    }
    Ok(())
}

/// One row of a bar panel.
#[derive(Debug, Clone)]
struct Bar {
    /// Transport name.
    name: String,
    /// The value, or `None` when it does not apply.
    value: Option<f64>,
    /// Shown instead of a bar when `value` is `None`.
    missing: &'static str,
    /// A second value drawn as a black tick across the bar (p50 beside p99).
    tick: Option<f64>,
}

/// What a bar panel shows.
struct Panel<'a> {
    title: &'a str,
    /// Axis title, with its unit.
    axis: &'a str,
    /// Whether smaller values are better (for marking the best).
    lower_is_better: bool,
    /// Formats a value for its label.
    fmt: &'a dyn Fn(f64) -> String,
    /// A fixed axis (shares of 100%) instead of one fitted to the values.
    fixed: Option<Axis>,
}

/// Indices of the best values: within 1% of the best, and only if not every value is.
fn best(values: &[Option<f64>], lower_is_better: bool) -> Vec<usize> {
    let present: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    if present.len() < 2 {
        return Vec::new();
    }
    let target = if lower_is_better {
        present.iter().map(|p| p.1).fold(f64::INFINITY, f64::min)
    } else {
        present
            .iter()
            .map(|p| p.1)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let winners: Vec<usize> = present
        .iter()
        .filter(|p| (p.1 - target).abs() <= target.abs() * 0.01)
        .map(|p| p.0)
        .collect();
    if winners.len() == present.len() {
        Vec::new()
    } else {
        winners
    }
}

/// A panel of horizontal bars, one per transport in its colour, values at the bar ends and the
/// best marked.
fn bar_panel(area: &Area, p: &Panel, bars: &[Bar]) -> DrawResult {
    text::draw(area, p.title, (24, 6), HEADING, H::Left, V::Top)?;
    let hint = if p.lower_is_better {
        "lower is better"
    } else {
        "higher is better"
    };
    text::draw(area, hint, (24, 30), SMALL.colour(MUTED), H::Left, V::Top)?;
    let body = area.split_vertically(54).1;
    let n = bars.len();
    let values: Vec<Option<f64>> = bars.iter().map(|b| b.value).collect();
    let mut winners = best(&values, p.lower_is_better);
    if winners.len() > 2 {
        // A tie among many is no news on a chart (the table still marks it).
        winners.clear();
    }
    let axis = p.fixed.clone().unwrap_or_else(|| {
        Axis::for_values(
            bars.iter().flat_map(|b| b.value.into_iter().chain(b.tick)),
            LOG_SPAN,
            &|v| style::num(v),
        )
    });
    // Room on the right for the value labels.
    let mut chart = plot(
        &body,
        (140, 20, 4, 64),
        axis.range(0.42),
        -0.5..(n as f64 - 0.5),
    )?;
    frame(&body, &mut chart, Some((&axis, p.axis)), None)?;
    let base = axis.t(axis.lo);
    for (i, bar) in bars.iter().enumerate() {
        let yc = (n - 1 - i) as f64;
        let c = colour(&bar.name);
        let (_, py) = at(&body, &chart, base, yc);
        row_label(&body, 130, py, &bar.name)?;
        let (label, end) = match bar.value {
            Some(v) if v > 0.0 || !axis.log => {
                let end = axis.t(v).max(base);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(base, yc - 0.32), (end, yc + 0.32)],
                    c.filled(),
                )))?;
                ((p.fmt)(v), end)
            }
            Some(v) => ((p.fmt)(v), base),
            None => (bar.missing.to_string(), base),
        };
        if let Some(t) = bar.tick {
            let (tx, ty) = at(&body, &chart, axis.t(t).max(base), yc);
            // White with a black edge: visible on every bar colour, black included.
            body.draw(&Rectangle::new(
                [(tx - 2, ty - 16), (tx + 2, ty + 16)],
                WHITE.filled(),
            ))?;
            body.draw(&Rectangle::new(
                [(tx - 3, ty - 17), (tx + 3, ty + 17)],
                BLACK,
            ))?;
        }
        let (px, py) = at(&body, &chart, end, yc);
        let is_best = winners.contains(&i);
        let (label, style) = if is_best {
            (format!("{label}  ★ best"), BODY.bold())
        } else if bar.value.is_none() {
            (label, BODY.colour(MUTED))
        } else {
            (label, BODY)
        };
        text::draw(&body, &label, (px + 7, py), style, H::Left, V::Middle)?;
    }
    Ok(())
}

fn two_panels(area: &Area, left: (&Panel, &[Bar]), right: (&Panel, &[Bar])) -> DrawResult {
    let (a, b) = area.split_horizontally(WIDTH as i32 / 2);
    bar_panel(&a, left.0, left.1)?;
    bar_panel(&b, right.0, right.1)?;
    Ok(())
}

/// One bar per transport; failed transports get no value.
fn bars(
    run: &Run,
    value: impl Fn(&TransportResult) -> Option<f64>,
    missing: &'static str,
) -> Vec<Bar> {
    transports(run)
        .into_iter()
        .map(|t| {
            let failed = !t.status.ran();
            Bar {
                name: t.transport.clone(),
                value: if failed { None } else { value(t) },
                missing: if failed { "failed" } else { missing },
                tick: None,
            }
        })
        .collect()
}

/// Chart 4: requests per delivered message and the share of polls that came back empty.
fn requests_per_message(run: &Run, area: &Area) -> DrawResult {
    let req = bars(run, |t| Some(t.requests_per_message), "");
    let empty = bars(
        run,
        |t| {
            let polls = matches!(t.transport.as_str(), "short-poll" | "long-poll");
            (polls && t.requests > 0).then(|| 100.0 * t.empty_polls as f64 / t.requests as f64)
        },
        "n/a: does not poll",
    );
    let percent = |v: f64| format!("{}%", style::num(v));
    two_panels(
        area,
        (
            &Panel {
                title: "Requests per delivered message",
                axis: "requests per message",
                lower_is_better: true,
                fmt: &style::num,
                fixed: None,
            },
            &req,
        ),
        (
            &Panel {
                title: "Empty polls",
                axis: "% of requests answered with nothing",
                lower_is_better: true,
                fmt: &percent,
                fixed: Some(Axis::linear(0.0, 100.0, 4, &percent)),
            },
            &empty,
        ),
    )
}

/// Chart 5: server CPU per 1,000 messages and server RSS per connection.
fn server_cost(run: &Run, area: &Area) -> DrawResult {
    let cpu = bars(run, |t| Some(t.server.cpu_ms_per_1000_msgs), "");
    let rss = bars(
        run,
        |t| t.server.rss_per_connection_bytes.map(|b| b / 1024.0),
        "n/a: holds no connection",
    );
    two_panels(
        area,
        (
            &Panel {
                title: "Server CPU per 1,000 messages",
                axis: "CPU ms (user + system) per 1,000 delivered",
                lower_is_better: true,
                fmt: &|v| format!("{} ms", style::num(v)),
                fixed: None,
            },
            &cpu,
        ),
        (
            &Panel {
                title: "Server memory per connection",
                axis: "RSS added per subscriber connection, KiB",
                lower_is_better: true,
                fmt: &|v| format!("{} KiB", style::num(v)),
                fixed: None,
            },
            &rss,
        ),
    )
}

/// Chart 6: delivered throughput beside p99 (and p50) latency.
fn throughput_latency(run: &Run, area: &Area) -> DrawResult {
    let thr = bars(run, |t| Some(t.throughput_msgs_per_s), "");
    let mut lat = bars(
        run,
        |t| (t.latency.count > 0).then_some(t.latency.p99_us as f64 / 1000.0),
        "no deliveries",
    );
    for (bar, t) in lat.iter_mut().zip(transports(run)) {
        if bar.value.is_some() {
            bar.tick = Some(t.latency.p50_us as f64 / 1000.0);
        }
    }
    two_panels(
        area,
        (
            &Panel {
                title: "Delivered throughput",
                axis: "messages delivered per second",
                lower_is_better: false,
                fmt: &|v| format!("{}/s", style::num(v)),
                fixed: None,
            },
            &thr,
        ),
        (
            &Panel {
                title: "p99 latency (white tick: p50)",
                axis: "latency, ms",
                lower_is_better: true,
                fmt: &|v| format!("{} ms", style::num(v)),
                fixed: None,
            },
            &lat,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_are_labelled_like_hdrhistogram() {
        let labels: Vec<String> = [1.0, 2.0, 10.0, 100.0, 1e3, 1e4]
            .iter()
            .map(|x| nines_label(*x))
            .collect();
        assert_eq!(labels, ["0%", "50%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn axes_go_logarithmic_over_wide_ranges() {
        let a = Axis::for_values([0.0003, 1.0], LOG_SPAN, &style::num);
        assert!(a.log);
        assert_eq!(a.lo, 0.0002);
        assert_eq!(a.ticks.first().map(|t| t.0), Some(0.001));
        assert!(a.ticks.iter().any(|t| t.1 == "1"));
        let b = Axis::for_values([2.0, 5.0], LOG_SPAN, &style::num);
        assert!(!b.log);
        assert_eq!((b.lo, b.hi), (0.0, 5.0));
        assert_eq!(b.ticks.len(), 6);
    }

    #[test]
    fn best_is_marked_only_when_it_stands_out() {
        assert_eq!(best(&[Some(3.0), Some(1.0), None], true), vec![1]);
        assert_eq!(best(&[Some(3.0), Some(3.0)], false), Vec::<usize>::new());
        assert_eq!(best(&[Some(3.0), Some(1.0)], false), vec![0]);
    }
}
