//! Chart 1, `latency-percentiles.png`: every transport's latency distribution on one
//! HdrHistogram-style "nines" axis.

use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::axis::{ms_label, Axis};
use super::frame::{frame, legend, nothing, plot, Area, DrawResult, MUTED, SMALL};
use super::{transports, LOG_SPAN_LINES, WIDTH};
use crate::style::colour;
use crate::text::{self, H, V};
use pushbench_results::hlog::LATENCY;
use pushbench_results::{Run, TransportResult};

/// A transport's percentile curve (x = 1/(1−p), ms) and its p99 in ms.
type Curve<'a> = (&'a TransportResult, Vec<(f64, f64)>, f64);

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

/// Chart 1: latency percentile distribution, every transport overlaid.
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
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
    // The legend lists the lines in the order they cross the 99th percentile, top to bottom.
    let p99s = curves
        .iter()
        .map(|c| (c.0.transport.as_str(), c.2))
        .collect();
    legend(&right, "p99 latency", p99s)?;
    text::draw(
        &right,
        "lower is better",
        (14, 56 + curves.len() as i32 * 30 + 8),
        SMALL.colour(MUTED),
        H::Left,
        V::Top,
    )?;
    Ok(())
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
}
