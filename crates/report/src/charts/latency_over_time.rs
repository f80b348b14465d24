//! Chart 2, `latency-over-time.png`: p99 and p50 of each interval of each transport's run,
//! from the interval logs, with warm-up and drain shaded.

use plotters::prelude::*;

use super::axis::{ms_label, Axis};
use super::frame::{
    at, frame, legend, nothing, panels_over_time, plot, plot_box, Area, DrawResult, MUTED, SHADE,
    SMALL,
};
use super::{transports, LOG_SPAN_LINES};
use crate::style::colour;
use crate::text::{self, H, V};
use pushbench_results::hlog::LATENCY;
use pushbench_results::{Run, TransportResult};

/// A transport's (interval middle s, p50 ms, p99 ms) points.
type Timeline<'a> = (&'a TransportResult, Vec<(f64, f64, f64)>);

/// Middle of each interval with its latency p50 and p99, in ms.
fn timeline(run: &Run, transport: &str) -> Vec<(f64, f64, f64)> {
    run.logs.get(transport).map_or_else(Vec::new, |log| {
        log.intervals
            .iter()
            .filter_map(|i| {
                // The warm-up too: split logs keep it under its own tag.
                let h = i.everything(LATENCY)?;
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
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
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
    let (x, x_unlabelled, top, bottom, side) = panels_over_time(area, x_end);
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
    let worst = lines
        .iter()
        .map(|(t, l)| {
            (
                t.transport.as_str(),
                l.iter().map(|p| p.2).fold(0.0, f64::max),
            )
        })
        .collect();
    legend(&side, "worst second's p99", worst)?;
    Ok(())
}
