//! Chart 6, `throughput-latency.png`: delivered throughput beside p99 (and p50) latency, so
//! a transport that keeps up by batching shows what each message waits. With repeats, the bars
//! are medians with their intervals as whiskers.

use super::bars::{figure_bars, two_panels, Panel};
use super::frame::{Area, DrawResult};
use super::transports;
use crate::figures::figure;
use crate::style;
use pushbench_results::Run;

/// Chart 6: delivered throughput beside p99 (and p50) latency.
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
    let thr = figure_bars(run, figure("throughput"), 1.0, "");
    let mut lat = figure_bars(run, figure("p99"), 0.001, "no deliveries");
    let p50 = figure("p50");
    for (bar, t) in lat.iter_mut().zip(transports(run)) {
        if bar.value.is_some() {
            bar.tick = p50.of(t).map(|us| us / 1000.0);
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
