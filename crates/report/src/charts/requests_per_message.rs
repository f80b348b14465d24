//! Chart 4, `requests-per-message.png`: how often a subscriber had to ask, and how often it
//! got nothing back.

use super::axis::Axis;
use super::bars::{bars, two_panels, Panel};
use super::frame::{Area, DrawResult};
use crate::style;
use pushbench_results::Run;

/// Chart 4: requests per delivered message and the share of polls that came back empty.
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
    let req = bars(run, |t| Some(t.requests_per_message), "");
    let empty = bars(
        run,
        |t| {
            let polls = matches!(
                pushbench_results::transport_of(&t.transport),
                "short-poll" | "long-poll"
            );
            (polls && t.requests > 0).then(|| 100.0 * t.empty_polls as f64 / t.requests as f64)
        },
        "n/a: does not poll",
    );
    let percent = |v: f64| format!("{}%", style::num(v));
    two_panels(
        area,
        (
            &Panel {
                title: "Requests per delivered message",
                axis: "requests per message",
                lower_is_better: true,
                fmt: &style::num,
                fixed: None,
            },
            &req,
        ),
        (
            &Panel {
                title: "Empty polls",
                axis: "% of requests answered with nothing",
                lower_is_better: true,
                fmt: &percent,
                fixed: Some(Axis::linear(0.0, 100.0, 4, &percent)),
            },
            &empty,
        ),
    )
}
