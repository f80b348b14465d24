//! Chart 3, `bytes-per-message.png`: wire bytes per delivered message, stacked by phase, up to
//! the left and down to the right, with the total and overhead beside each row.

use plotters::prelude::*;

use super::axis::{nice_above, Axis};
use super::frame::{
    at, frame, nothing, plot, plot_box, row_label, Area, DrawResult, AXIS, BODY, HEADING, MUTED,
    SMALL,
};
use super::{transports, WIDTH};
use crate::style;
use crate::text::{self, H, V};
use pushbench_results::{Run, TransportResult};

/// Phases of wire bytes, from the payload outwards, in greys kept apart from the transport
/// colours on purpose.
const PHASES: [(&str, RGBColor); 5] = [
    ("payload (the envelope)", RGBColor(0x3C, 0x3C, 0x3C)),
    ("framing", RGBColor(0x8A, 0x8A, 0x8A)),
    ("HTTP heads per request", RGBColor(0xBC, 0xBC, 0xBC)),
    ("connection setup", RGBColor(0xE4, 0xE4, 0xE4)),
    ("HTTP/2 control", RGBColor(0xF4, 0xF4, 0xF4)),
];

/// Chart 3: wire bytes per delivered message, stacked by phase, up to the left and down to the
/// right.
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
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
    let split: Vec<([f64; 5], [f64; 5])> = rows
        .iter()
        .map(|t| {
            let b = &t.bytes;
            (
                [
                    per(t, b.payload_up),
                    per(t, b.framing_up),
                    per(t, b.headers_up),
                    per(t, b.setup_up),
                    per(t, b.control_up),
                ],
                [
                    per(t, b.payload_down),
                    per(t, b.framing_down),
                    per(t, b.headers_down),
                    per(t, b.setup_down),
                    per(t, b.control_down),
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
    // A phase no row has (HTTP/2's control, in a run without HTTP/2) is left out of the key.
    let present = |k: usize| split.iter().any(|(up, down)| up[k] + down[k] > 0.0);
    for (k, &(name, c)) in PHASES.iter().enumerate() {
        if !present(k) && k == PHASES.len() - 1 {
            continue;
        }
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
        let pitch = (py - at(&left, &chart, 0.0, yc + 1.0).1).abs();
        row_label(&left, 140, py, pitch, &t.transport)?;
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
