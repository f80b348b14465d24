//! Bar panels: one horizontal bar per transport in its colour, its value at the end and the
//! best marked; two panels side by side make a chart.

use plotters::prelude::*;

use super::axis::Axis;
use super::frame::{at, frame, plot, row_label, Area, DrawResult, BODY, HEADING, MUTED, SMALL};
use super::{transports, LOG_SPAN, WIDTH};
use crate::style::{self, colour};
use crate::text::{self, H, V};
use pushbench_results::{Run, TransportResult};

/// One row of a bar panel.
#[derive(Debug, Clone)]
pub(super) struct Bar {
    /// The result's name; its colour follows it.
    pub(super) name: String,
    /// The value, or `None` when it does not apply.
    pub(super) value: Option<f64>,
    /// Shown instead of a bar when `value` is `None`.
    missing: &'static str,
    /// A second value drawn as a white tick across the bar (p50 beside p99).
    pub(super) tick: Option<f64>,
    /// With repeats: the interval around the value (the median), drawn as a whisker.
    pub(super) whisker: Option<(f64, f64)>,
}

/// What a bar panel shows.
pub(super) struct Panel<'a> {
    /// Heading above the panel.
    pub(super) title: &'a str,
    /// Axis title, with its unit.
    pub(super) axis: &'a str,
    /// Whether smaller values are better (for marking the best).
    pub(super) lower_is_better: bool,
    /// Formats a value for its label.
    pub(super) fmt: &'a dyn Fn(f64) -> String,
    /// A fixed axis (shares of 100%) instead of one fitted to the values.
    pub(super) fixed: Option<Axis>,
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
pub(super) fn bar_panel(area: &Area, p: &Panel, bars: &[Bar]) -> DrawResult {
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
    // With repeats, a best that is within another's interval is no best: the verdict calls it
    // a tie within noise, and so does the chart.
    let overlaps = |a: (f64, f64), b: (f64, f64)| a.0 <= b.1 && b.0 <= a.1;
    let tied = winners.iter().any(|&w| {
        bars[w].whisker.is_some_and(|ww| {
            bars.iter()
                .enumerate()
                .any(|(i, b)| i != w && b.whisker.is_some_and(|bw| overlaps(ww, bw)))
        })
    });
    if tied {
        winners.clear();
    }
    let axis = p.fixed.clone().unwrap_or_else(|| {
        Axis::for_values(
            bars.iter().flat_map(|b| {
                b.value
                    .into_iter()
                    .chain(b.tick)
                    .chain(b.whisker.into_iter().flat_map(|(lo, hi)| [lo, hi]))
            }),
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
    let pitch = (at(&body, &chart, base, 0.0).1 - at(&body, &chart, base, 1.0).1).abs();
    for (i, bar) in bars.iter().enumerate() {
        let yc = (n - 1 - i) as f64;
        let c = colour(&bar.name);
        let (_, py) = at(&body, &chart, base, yc);
        row_label(&body, 130, py, pitch, &bar.name)?;
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
        if let Some((lo, hi)) = bar.whisker {
            let (x0, wy) = at(&body, &chart, axis.t(lo).max(base), yc);
            let (x1, _) = at(&body, &chart, axis.t(hi).max(base), yc);
            // White with a black edge, like the tick: readable on every bar colour and on white.
            let rect = |x0: i32, y0: i32, x1: i32, y1: i32, c: RGBColor| {
                body.draw(&Rectangle::new([(x0, y0), (x1, y1)], c.filled()))
            };
            rect(x0, wy - 2, x1, wy + 2, BLACK)?;
            for x in [x0, x1] {
                rect(x - 2, wy - 10, x + 2, wy + 10, BLACK)?;
            }
            rect(x0, wy - 1, x1, wy + 1, WHITE)?;
            for x in [x0, x1] {
                rect(x - 1, wy - 9, x + 1, wy + 9, WHITE)?;
            }
        }
        // The label goes past the bar and its whisker.
        let end = bar.whisker.map_or(end, |(_, hi)| end.max(axis.t(hi)));
        let (px, py) = at(&body, &chart, end, yc);
        let is_best = winners.contains(&i);
        let (label, style) = if is_best {
            // A narrow panel (small multiples) has room for the star alone.
            let mark = if body.dim_in_pixel().0 < WIDTH / 2 {
                "★"
            } else {
                "★ best"
            };
            (format!("{label}  {mark}"), BODY.bold())
        } else if bar.value.is_none() {
            (label, BODY.colour(MUTED))
        } else {
            (label, BODY)
        };
        text::draw(&body, &label, (px + 7, py), style, H::Left, V::Middle)?;
    }
    Ok(())
}

/// Two bar panels side by side, each half the chart's width.
pub(super) fn two_panels(
    area: &Area,
    left: (&Panel, &[Bar]),
    right: (&Panel, &[Bar]),
) -> DrawResult {
    let (a, b) = area.split_horizontally(WIDTH as i32 / 2);
    bar_panel(&a, left.0, left.1)?;
    bar_panel(&b, right.0, right.1)?;
    Ok(())
}

/// One bar per transport for `figure` (scaled by `scale` for the chart's unit): its value, the
/// median over repeats when there are any, with their interval as a whisker.
pub(super) fn figure_bars(
    run: &Run,
    figure: &crate::figures::Figure,
    scale: f64,
    missing: &'static str,
) -> Vec<Bar> {
    let mut out = bars(run, |t| figure.of(t).map(|v| v * scale), missing);
    for (bar, t) in out.iter_mut().zip(transports(run)) {
        if bar.value.is_some() {
            bar.whisker = figure.spread(t).map(|s| (s.low * scale, s.high * scale));
        }
    }
    out
}

/// One bar per transport; failed transports get no value.
pub(super) fn bars(
    run: &Run,
    value: impl Fn(&TransportResult) -> Option<f64>,
    missing: &'static str,
) -> Vec<Bar> {
    bars_of(&transports(run), value, missing)
}

/// One bar for each of `ts`; failed ones get no value.
pub(super) fn bars_of(
    ts: &[&TransportResult],
    value: impl Fn(&TransportResult) -> Option<f64>,
    missing: &'static str,
) -> Vec<Bar> {
    ts.iter()
        .map(|t| {
            let failed = !t.status.ran();
            Bar {
                name: t.transport.clone(),
                value: if failed { None } else { value(t) },
                missing: if failed { "failed" } else { missing },
                tick: None,
                whisker: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_is_marked_only_when_it_stands_out() {
        assert_eq!(best(&[Some(3.0), Some(1.0), None], true), vec![1]);
        assert_eq!(best(&[Some(3.0), Some(3.0)], false), Vec::<usize>::new());
        assert_eq!(best(&[Some(3.0), Some(1.0)], false), vec![0]);
    }
}
