//! Chart 7, `faults-over-time.png`, drawn only for runs with faults: each transport's
//! subscribers subscribed (as a share of its clients) and deliveries per second over its run,
//! from the summary's timeline, with the warm-up shaded and the restart, if any, marked.

use plotters::prelude::*;

use super::axis::Axis;
use super::frame::{frame, legend_of, panels_over_time, plot, Area, DrawResult, MUTED, SHADE};
use super::transports;
use crate::style::{self, colour};
use pushbench_results::{Run, TransportResult};

/// A transport's points: (seconds, % of clients subscribed, deliveries per second since the
/// point before).
type Line<'a> = (&'a TransportResult, Vec<(f64, f64, f64)>);

/// `t`'s timeline as chart points; empty without one.
pub(super) fn points(t: &TransportResult) -> Vec<(f64, f64, f64)> {
    let clients = t.clients.max(1) as f64;
    t.timeline
        .windows(2)
        .filter(|w| w[1].t_s > w[0].t_s)
        .map(|w| {
            let rate = w[1].delivered.saturating_sub(w[0].delivered) as f64 / (w[1].t_s - w[0].t_s);
            (w[1].t_s, 100.0 * w[1].subscribed as f64 / clients, rate)
        })
        .collect()
}

/// Chart 7: subscribed share (top) and deliveries per second (bottom) over each run.
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
    let lines: Vec<Line> = transports(run)
        .into_iter()
        .map(|t| (t, points(t)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let x_end = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.0))
        .fold(1.0, f64::max)
        .ceil();
    // Where the faults struck: the restart's signal, the outage's start and end.
    let marks: Vec<f64> = lines
        .iter()
        .find_map(|(t, _)| {
            let restart = t.restart.as_ref().map(|r| vec![r.at_s]);
            restart.or_else(|| t.outage.as_ref().map(|o| vec![o.at_s, o.at_s + o.for_s]))
        })
        .unwrap_or_default();
    let (x, x_unlabelled, top, bottom, side) = panels_over_time(area, x_end);
    for (panel, share) in [(&top, true), (&bottom, false)] {
        let pick = |p: &(f64, f64, f64)| if share { p.1 } else { p.2 };
        let y = if share {
            Axis::linear(0.0, 100.0, 5, &|v| format!("{v:.0}%"))
        } else {
            Axis::for_values(
                lines.iter().flat_map(|(_, l)| l.iter().map(pick)),
                f64::INFINITY,
                &|v| style::num(v),
            )
        };
        let margins = if share {
            (100, 24, 30, 10)
        } else {
            (100, 24, 14, 64)
        };
        let mut chart = plot(panel, margins, x.range(0.0), y.range(0.04))?;
        let (y0, y1) = (chart.y_range().start, chart.y_range().end);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y0), (run.warmup_s.min(x_end), y1)],
            SHADE.filled(),
        )))?;
        for &at in &marks {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(at, y0), (at, y1)],
                MUTED.stroke_width(2),
            )))?;
        }
        let (name, x_title, x_axis) = if share {
            ("subscribed, % of clients", "", &x_unlabelled)
        } else {
            (
                "deliveries per second",
                "seconds since the transport's run started (shaded: warm-up; lines: restart, outage)",
                &x,
            )
        };
        frame(panel, &mut chart, Some((x_axis, x_title)), Some((&y, name)))?;
        for (t, l) in &lines {
            let pts: Vec<(f64, f64)> = l.iter().map(|p| (p.0, y.t(pick(p)))).collect();
            chart.draw_series(LineSeries::new(pts, colour(&t.transport).stroke_width(2)))?;
        }
    }
    let lowest = lines
        .iter()
        .map(|(t, l)| {
            let measured = l.iter().filter(|p| p.0 >= run.warmup_s);
            (
                t.transport.as_str(),
                measured
                    .map(|p| p.1)
                    .fold(f64::INFINITY, f64::min)
                    .min(100.0),
            )
        })
        .collect();
    legend_of(&side, "fewest subscribed", lowest, &|v| format!("{v:.1}%"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_results::model::TimelinePoint;

    #[test]
    fn points_are_the_subscribed_share_and_the_delivery_rate_between_samples() {
        let mut t = TransportResult {
            clients: 200,
            ..Default::default()
        };
        assert!(points(&t).is_empty());
        let p = |t_s, subscribed, delivered| TimelinePoint {
            t_s,
            subscribed,
            delivered,
        };
        t.timeline = vec![p(0.0, 200, 0), p(0.1, 100, 40), p(0.3, 150, 40)];
        let pts = points(&t);
        assert_eq!(pts.len(), 2);
        assert_eq!((pts[0].0, pts[0].1), (0.1, 50.0));
        assert!((pts[0].2 - 400.0).abs() < 1e-6);
        assert_eq!((pts[1].1, pts[1].2), (75.0, 0.0));
    }
}
