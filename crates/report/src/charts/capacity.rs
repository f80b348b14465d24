//! A sweep's chart, `capacity.png`: latency against delivered throughput, one line per
//! transport through its steps (p99 thick, p50 thin), both axes logarithmic, with the
//! objective's p99 drawn across. Where a transport's p99 line crosses the objective is its knee;
//! the legend gives each transport's capacity.

use std::path::Path;

use plotters::prelude::*;

use super::axis::{ms_label, Axis};
use super::frame::{at, frame, plot, plot_box, titled, Area, DrawResult, BODY, HEADING, MUTED};
use super::{HEIGHT, LOG_SPAN_LINES, WIDTH};
use crate::error::Error;
use crate::style::{self, colour};
use crate::text::{self, H, V};
use pushbench_results::sweep::{SweepResult, Verdict};

/// The chart's file in the sweep's folder.
pub const CAPACITY_PNG: &str = "capacity.png";

/// A transport and its valid steps as (deliveries/s, p50 ms, p99 ms).
type Line<'a> = (&'a str, Vec<(f64, f64, f64)>);

/// Per transport that delivered at a valid step, its line.
fn lines(r: &SweepResult) -> Vec<Line<'_>> {
    let mut names: Vec<&str> = r.capacity.iter().map(|c| c.transport.as_str()).collect();
    names.sort_by_key(|n| style::order(n));
    names
        .into_iter()
        .map(|name| {
            let points = r
                .steps
                .iter()
                .filter_map(|s| s.transports.iter().find(|t| t.transport == name))
                .filter(|t| t.verdict != Verdict::Invalid && t.delivered_per_s > 0.0)
                .map(|t| {
                    (
                        t.delivered_per_s,
                        t.p50_us as f64 / 1000.0,
                        t.p99_us as f64 / 1000.0,
                    )
                })
                .collect();
            (name, points)
        })
        .filter(|(_, p): &Line| !p.is_empty())
        .collect()
}

/// Draws `capacity.png` into `dir`.
pub fn draw_capacity(r: &SweepResult, dir: &Path) -> Result<(), Error> {
    let path = dir.join(CAPACITY_PNG);
    let fail = |e: Box<dyn std::error::Error>| Error::Chart {
        chart: CAPACITY_PNG.to_string(),
        reason: e.to_string(),
    };
    let root = BitMapBackend::new(&path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.into()))?;
    let line = format!(
        "{}: objective p99 ≤ {} ms and at most {} lost; {} of {} steps of {} run",
        r.scenario,
        style::num(r.slo.p99_us as f64 / 1000.0),
        r.slo.loss,
        r.steps.len(),
        r.values.len(),
        r.param.key(),
    );
    let body = titled(&root, "Latency against throughput", &line).map_err(fail)?;
    draw(r, &body).map_err(fail)?;
    root.present().map_err(|e| fail(e.into()))?;
    Ok(())
}

fn draw(r: &SweepResult, area: &Area) -> DrawResult {
    let lines = lines(r);
    if lines.is_empty() {
        return super::frame::nothing(area, "no step delivered anything");
    }
    let slo_ms = r.slo.p99_us as f64 / 1000.0;
    let x = Axis::for_values(
        lines.iter().flat_map(|l| l.1.iter().map(|p| p.0)),
        1.0,
        &|v| style::num(v),
    );
    let y = Axis::for_values(
        lines
            .iter()
            .flat_map(|l| l.1.iter().flat_map(|p| [p.1, p.2]))
            .chain([slo_ms]),
        LOG_SPAN_LINES,
        &ms_label,
    );
    let (left, right) = area.split_horizontally(WIDTH as i32 - 300);
    let mut chart = plot(&left, (100, 24, 12, 64), x.range(0.03), y.range(0.06))?;
    frame(
        &left,
        &mut chart,
        Some((&x, "messages delivered per second")),
        Some((&y, "latency, ms")),
    )?;
    // The objective, across the whole plot.
    let (l, rt, _, _) = plot_box(&left, &chart);
    let (_, py) = at(&left, &chart, 0.0, y.t(slo_ms));
    left.draw(&PathElement::new(
        vec![(l, py), (rt, py)],
        RGBColor(0xC0, 0x39, 0x2B).stroke_width(2),
    ))?;
    text::draw(
        &left,
        &format!("objective: p99 ≤ {} ms", style::num(slo_ms)),
        (l + 8, py - 6),
        BODY.colour(RGBColor(0xC0, 0x39, 0x2B)),
        H::Left,
        V::Bottom,
    )?;
    for (name, points) in &lines {
        for (width, pick) in [(4, 2usize), (1, 1)] {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .map(|p| (x.t(p.0), y.t(if pick == 2 { p.2 } else { p.1 })))
                .collect();
            chart.draw_series(LineSeries::new(
                pts.clone(),
                colour(name).stroke_width(width),
            ))?;
            chart.draw_series(
                pts.into_iter()
                    .map(|p| Circle::new(p, width + 2, colour(name).filled())),
            )?;
        }
    }
    // Legend: each transport's capacity.
    text::draw(&right, "capacity", (14, 10), HEADING, H::Left, V::Top)?;
    text::draw(
        &right,
        &format!("highest {} meeting it", r.param.key()),
        (14, 34),
        BODY.colour(MUTED),
        H::Left,
        V::Top,
    )?;
    for (i, c) in r.capacity.iter().enumerate() {
        let yy = 80 + i as i32 * 30;
        right.draw(&PathElement::new(
            vec![(14, yy), (42, yy)],
            colour(&c.transport).stroke_width(4),
        ))?;
        text::draw(&right, &c.transport, (52, yy), BODY, H::Left, V::Middle)?;
        let value = c.capacity.map_or_else(|| "none".to_string(), style::num);
        text::draw(&right, &value, (280, yy), BODY, H::Right, V::Middle)?;
    }
    let note_y = 96 + r.capacity.len() as i32 * 30;
    for (i, note) in [
        "thick: p99, thin: p50",
        "one point per step; steps where",
        "load-gen ran out of CPU left out",
    ]
    .iter()
    .enumerate()
    {
        text::draw(
            &right,
            note,
            (14, note_y + i as i32 * 22),
            BODY.colour(MUTED),
            H::Left,
            V::Top,
        )?;
    }
    Ok(())
}
