//! What every chart draws in and around: the plot and its pixel geometry, grid and axes, the
//! header, legends and row labels, and the colours and text styles the charts share.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::Axis;
use super::Chart;
use crate::style::{self, colour};
use crate::text::{self, Style, H, V};
use pushbench_results::Run;

/// The area a chart (or a part of one) is drawn into.
pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
/// A plot inside an [`Area`]: both axes linear (log axes plot `log10(value)`, see [`Axis`]).
pub(super) type Plot<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
/// What drawing returns: plotters' errors and ours, boxed, become [`crate::Error::Chart`].
pub(super) type DrawResult = Result<(), Box<dyn std::error::Error>>;

const GRID: RGBColor = RGBColor(0xE2, 0xE2, 0xE2);
pub(super) const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(super) const MUTED: RGBColor = RGBColor(0x5A, 0x5A, 0x5A);
pub(super) const SHADE: RGBColor = RGBColor(0xEF, 0xEF, 0xEF);

const TITLE: Style = Style::new(24.0).bold();
pub(super) const HEADING: Style = Style::new(17.0).bold();
pub(super) const BODY: Style = Style::new(15.0);
pub(super) const SMALL: Style = Style::new(13.5);
const TICK: Style = Style::new(14.0);

/// Draws the title and the scenario line; returns the area below them.
pub(super) fn header<'a>(
    root: &Area<'a>,
    run: &Run,
    chart: &Chart,
) -> Result<Area<'a>, Box<dyn std::error::Error>> {
    let mut line = format!(
        "{}: {}",
        run.summary.scenario,
        run.summary.description.lines().next().unwrap_or("")
    );
    if run.sources.len() > 1 {
        line.push_str(&format!(" · {} runs merged", run.sources.len()));
    }
    titled(root, chart.title, &line)
}

/// Draws a title and a line under it; returns the area below them.
pub(super) fn titled<'a>(
    root: &Area<'a>,
    title: &str,
    line: &str,
) -> Result<Area<'a>, Box<dyn std::error::Error>> {
    text::draw(root, title, (24, 14), TITLE, H::Left, V::Top)?;
    text::draw(root, line, (24, 48), BODY.colour(MUTED), H::Left, V::Top)?;
    Ok(root.split_vertically(76).1)
}
/// Builds a plot inside `area` with the given margins (left, right, top, bottom), in pixels.
pub(super) fn plot<'a, 'b>(
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
pub(super) fn plot_box(area: &Area, chart: &Plot) -> (i32, i32, i32, i32) {
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
pub(super) fn at(area: &Area, chart: &Plot, x: f64, y: f64) -> (i32, i32) {
    let (px, py) = chart.backend_coord(&(x, y));
    let base = area.get_base_pixel();
    (px - base.0, py - base.1)
}

/// Grid lines, axis lines, tick labels and axis titles. `x`/`y` are `None` for a categorical
/// axis (rows), which gets no grid.
pub(super) fn frame(
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
pub(super) fn nothing(area: &Area, what: &str) -> DrawResult {
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

/// A legend of transports, one per line: a line in the transport's colour, the name and a
/// latency in ms. Highest first, so the legend lists the lines in the order they stand at the
/// top of the plot.
pub(super) fn legend(area: &Area, title: &str, ms: Vec<(&str, f64)>) -> DrawResult {
    legend_of(area, title, ms, &|v| format!("{} ms", style::num(v)))
}

/// [`legend`] with values as `fmt` writes them.
pub(super) fn legend_of(
    area: &Area,
    title: &str,
    mut ms: Vec<(&str, f64)>,
    fmt: &dyn Fn(f64) -> String,
) -> DrawResult {
    ms.sort_by(|a, b| b.1.total_cmp(&a.1));
    text::draw(area, title, (14, 10), HEADING, H::Left, V::Top)?;
    // 30 px a line, less when that many would not fit (a run over several links has 21).
    let height = area.dim_in_pixel().1 as i32;
    let pitch = ((height - 70) / ms.len().max(1) as i32).clamp(12, 30);
    let size = if pitch < 20 { SMALL } else { BODY };
    for (i, (name, value)) in ms.iter().enumerate() {
        let y = 56 + i as i32 * pitch;
        area.draw(&PathElement::new(
            vec![(14, y), (42, y)],
            colour(name).stroke_width(4),
        ))?;
        match name_parts(name) {
            // Side by side: the server small beneath the transport, within the line's height.
            (transport, Some(setup)) if pitch >= 30 => {
                text::draw(area, transport, (52, y - 6), BODY, H::Left, V::Middle)?;
                text::draw(area, &setup, (52, y + 9), SMALL, H::Left, V::Middle)?;
            }
            (transport, Some(setup)) => {
                let line = format!("{transport} · {setup}");
                text::draw(area, &line, (52, y), SMALL, H::Left, V::Middle)?;
            }
            (transport, None) => text::draw(area, transport, (52, y), size, H::Left, V::Middle)?,
        }
        text::draw(area, &fmt(*value), (250, y), size, H::Right, V::Middle)?;
    }
    Ok(())
}

/// A result's name as the charts write it: its transport, and what else the name says (the
/// server and proxy of a side-by-side run, the link of a run over several) joined with ` · `.
fn name_parts(name: &str) -> (&str, Option<String>) {
    let setup: Vec<&str> = [
        pushbench_results::server_of(name),
        pushbench_results::network_of(name),
    ]
    .into_iter()
    .flatten()
    .collect();
    let transport = pushbench_results::transport_of(name);
    (transport, (!setup.is_empty()).then(|| setup.join(" · ")))
}

/// A transport's name with a swatch of its colour, ending at `x`, centred on `y`, in a row
/// `pitch` pixels tall.
pub(super) fn row_label(area: &Area, x: i32, y: i32, pitch: i32, name: &str) -> DrawResult {
    // Side by side (`sse@nchan`) or over several links (`sse~3g`): the transport, and the
    // server and link small beneath it, so the label fits the margin the single names were
    // sized for; on one small line when the rows are too close for two.
    match name_parts(name) {
        (transport, None) => text::draw(area, transport, (x - 22, y), BODY, H::Right, V::Middle)?,
        (transport, Some(setup)) if pitch < 30 => {
            let line = format!("{transport} · {setup}");
            text::draw(area, &line, (x - 22, y), SMALL, H::Right, V::Middle)?;
        }
        (transport, Some(setup)) => {
            text::draw(area, transport, (x - 22, y - 7), BODY, H::Right, V::Middle)?;
            text::draw(area, &setup, (x - 22, y + 8), SMALL, H::Right, V::Middle)?;
        }
    }
    area.draw(&Rectangle::new(
        [(x - 14, y - 7), (x, y + 7)],
        colour(name).filled(),
    ))?;
    Ok(())
}

/// Two panels over one time axis, `0..x_end` seconds, with a legend column beside them: the
/// top panel's axis has the grid lines but no labels (it shares the bottom one's). Returns the
/// bottom axis, the top axis, the top and bottom panels, and the side column.
pub(super) fn panels_over_time<'a>(
    area: &Area<'a>,
    x_end: f64,
) -> (Axis, Axis, Area<'a>, Area<'a>, Area<'a>) {
    let x = Axis::linear(0.0, x_end, 8, &|v| style::num(v));
    let mut x_unlabelled = x.clone();
    for t in &mut x_unlabelled.ticks {
        t.1.clear();
    }
    let (plots, side) = area.split_horizontally(super::WIDTH as i32 - 280);
    let (top, bottom) = plots.split_vertically(306);
    (x, x_unlabelled, top, bottom, side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_its_transport_and_what_else_it_says() {
        assert_eq!(name_parts("sse"), ("sse", None));
        assert_eq!(name_parts("sse@nchan"), ("sse", Some("nchan".into())));
        assert_eq!(name_parts("sse~3g"), ("sse", Some("3g".into())));
        assert_eq!(
            name_parts("sse@pushbench+nginx~lte"),
            ("sse", Some("pushbench+nginx · lte".into()))
        );
    }
}
