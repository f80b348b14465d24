//! Chart 6, `throughput-latency.png`: delivered throughput beside p99 (and p50) latency, so
//! a transport that keeps up by batching shows what each message waits.

use super::bars::{bars, two_panels, Panel};
use super::frame::{Area, DrawResult};
use super::transports;
use crate::style;
use pushbench_results::Run;

/// Chart 6: delivered throughput beside p99 (and p50) latency.
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
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
