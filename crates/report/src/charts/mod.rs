//! The six PNG charts (and one each for several links and for faults), each [`WIDTH`] × [`HEIGHT`] pixels, drawn with plotters' bitmap backend;
//! all text goes through [`crate::text`] and the embedded font.
//!
//! Every chart shows every transport that ran, in one colour per transport throughout
//! ([`crate::style::colour`]). A value axis turns logarithmic when its values span more than
//! [`LOG_SPAN`]: polling and streaming differ by orders of magnitude in latency and in requests
//! per message. Log axes are drawn by plotting `log10(value)` on a linear scale and labelling
//! the ticks with the values, so one coordinate type serves every chart. Charts with a row per
//! transport write the names beside the rows with a swatch of the transport's colour, so no
//! legend has to be matched by eye, and mark the best value in each panel.
//!
//! # Layout
//! - `axis`: value axes, linear or logarithmic, and their 1-2-5 ticks.
//! - `frame`: the plot inside an area, its grid, axes and labels, the header, legends and
//!   row labels, and the colours and text styles every chart shares.
//! - `bars`: panels of one bar per transport; charts 4 to 6 are two of them side by side.
//! - One module per chart, named for it, each with a `draw(run, area)` that [`draw_all`] calls
//!   below the header: `latency_percentiles`, `latency_over_time`, `bytes_per_message`,
//!   `requests_per_message`, `server_cost`, `throughput_latency`, and for runs with faults
//!   `faults_over_time`.
//! - `latency_by_network`: for a run over several links, small multiples of p50/p99, one
//!   panel per link ([`NETWORKS_CHART`]).
//! - `capacity`: a sweep's chart ([`draw_capacity`]), latency against throughput over its steps.

mod axis;
mod bars;
mod bytes_per_message;
mod capacity;
mod faults_over_time;
mod frame;
mod latency_by_network;
mod latency_over_time;
mod latency_percentiles;
mod requests_per_message;
mod server_cost;
mod throughput_latency;

use std::path::Path;

use plotters::prelude::*;

use crate::error::Error;
use crate::style;
pub use capacity::{draw_capacity, CAPACITY_PNG};
use frame::{header, Area, DrawResult};
use pushbench_results::{Run, TransportResult};

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 1200;
/// Height of every chart, in pixels.
pub const HEIGHT: u32 = 700;
/// Above this ratio between the largest and smallest value a bar axis is logarithmic.
pub const LOG_SPAN: f64 = 30.0;
/// The same for latency lines, which bunch up at the bottom sooner than bars lose their length.
pub const LOG_SPAN_LINES: f64 = 10.0;

/// One chart: its file in the results folder, its title, and a line on how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chart {
    /// File name, e.g. `latency-percentiles.png`.
    pub file: &'static str,
    /// Heading in the report.
    pub title: &'static str,
    /// What it shows and how to read it.
    pub caption: &'static str,
}

/// Every chart, in the order the report shows them.
pub const CHARTS: [Chart; 6] = [
    Chart {
        file: "latency-percentiles.png",
        title: "Latency by percentile",
        caption: "Intended publish time to decoded at a subscriber, measured window only, in the \
                  HdrHistogram convention: each step right on the x axis is one more nine \
                  (90%, 99%, 99.9%), so the tail gets as much room as the median and the right \
                  end of a line is its worst case. Lower is better; a line that turns up sharply \
                  has a tail.",
    },
    Chart {
        file: "latency-over-time.png",
        title: "Latency over time",
        caption: "p99 (top) and p50 (bottom) of each second of each transport's run, from the \
                  interval logs, with warm-up and drain shaded (they are not in the other \
                  figures). Look for spikes (stalls, reconnects) and for a warm-up that had not \
                  settled.",
    },
    Chart {
        file: "bytes-per-message.png",
        title: "Wire bytes per delivered message",
        caption: "Everything the subscribers' sockets moved, divided by delivered messages: down \
                  (server to client) to the right of zero, up (client to server) to the left, \
                  split into the message itself, the transport's framing, per-request HTTP heads \
                  and connection setup. The right column gives the total and the overhead over \
                  the payload.",
    },
    Chart {
        file: "requests-per-message.png",
        title: "Requests per delivered message, and empty polls",
        caption: "How often a subscriber had to ask. Streaming transports ask once per \
                  connection; polling asks per message or per interval, and an empty poll is a \
                  request answered with nothing.",
    },
    Chart {
        file: "server-cost.png",
        title: "Server cost",
        caption: "push-server's CPU time per 1,000 delivered messages, and the memory each \
                  held-open subscriber connection added (polling clients hold no connection \
                  while idle, so they have no figure).",
    },
    Chart {
        file: "throughput-latency.png",
        title: "Throughput beside latency",
        caption: "Messages delivered per second in the measured window, next to p99 latency \
                  (bar) and p50 (white tick): a batching transport can keep up with the rate \
                  while each message waits.",
    },
];

/// The chart of a run with faults (`faults`), drawn after [`CHARTS`] when a transport has a
/// timeline.
pub const FAULTS_CHART: Chart = Chart {
    file: "faults-over-time.png",
    title: "Subscribed and delivering, through the faults",
    caption: "The fewest of each transport's subscribers subscribed in each 100 ms, as a share of its clients \
              (top), and messages delivered per second (bottom), every 100 ms of its run. \
              Dropped connections show as a shortfall from 100% that reconnects fill; a \
              restart (the vertical line) as a plunge and a climb back, with the deliveries the \
              outage held back arriving as a burst once clients resume. The legend gives each \
              transport's fewest subscribed in the measured window.",
};

/// The chart of a run over several links (`networks`), drawn after [`CHARTS`].
pub const NETWORKS_CHART: Chart = Chart {
    file: "latency-by-network.png",
    title: "Latency on each network",
    caption: "One panel per emulated link, with its round trip and rates: each transport's p99 \
              latency as a bar and its p50 as a white tick, every panel on the same axis, the \
              lowest p99 in each panel starred when it stands out. \
              Read across a row of panels for what the network does to one transport, and \
              down a panel for which transport suits that network.",
};

/// Draws every chart into `dir`; returns them in [`CHARTS`] order, then [`NETWORKS_CHART`] for
/// a run over several links and [`FAULTS_CHART`] for a run with faults.
pub fn draw_all(run: &Run, dir: &Path) -> Result<Vec<Chart>, Error> {
    type DrawFn = fn(&Run, &Area) -> DrawResult;
    let mut draw: Vec<(Chart, DrawFn)> = CHARTS
        .into_iter()
        .zip([
            latency_percentiles::draw as DrawFn,
            latency_over_time::draw,
            bytes_per_message::draw,
            requests_per_message::draw,
            server_cost::draw,
            throughput_latency::draw,
        ])
        .collect();
    if !latency_by_network::by_network(run).is_empty() {
        draw.push((NETWORKS_CHART, latency_by_network::draw));
    }
    if run
        .summary
        .transports
        .iter()
        .any(|t| !t.timeline.is_empty())
    {
        draw.push((FAULTS_CHART, faults_over_time::draw));
    }
    for (chart, f) in &draw {
        let path = dir.join(chart.file);
        let fail = |e: Box<dyn std::error::Error>| Error::Chart {
            chart: chart.file.to_string(),
            reason: e.to_string(),
        };
        let root = BitMapBackend::new(&path, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.into()))?;
        let body = header(&root, run, chart).map_err(fail)?;
        f(run, &body).map_err(fail)?;
        root.present().map_err(|e| fail(e.into()))?;
    }
    Ok(draw.into_iter().map(|(chart, _)| chart).collect())
}

/// Transports in report order.
fn transports(run: &Run) -> Vec<&TransportResult> {
    let mut t: Vec<&TransportResult> = run.summary.transports.iter().collect();
    t.sort_by_key(|t| style::order(&t.transport));
    t
}
