//! Chart 5, `server-cost.png`: push-server's CPU per 1,000 delivered messages and the memory
//! each held-open connection added. With repeats, CPU is the median with its interval as a
//! whisker.

use super::bars::{bars, figure_bars, two_panels, Panel};
use super::frame::{Area, DrawResult};
use crate::figures::figure;
use crate::style;
use pushbench_results::Run;

/// Chart 5: server CPU per 1,000 messages and server RSS per connection.
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
    let cpu = figure_bars(run, figure("server CPU"), 1.0, "");
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
