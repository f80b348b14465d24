//! `latency-by-network.png`, for a scenario run over several links (`networks`): small
//! multiples, one panel per link, each a bar per transport of its p99 with its p50 as a white
//! tick, all on one axis so the panels compare by eye.

use super::axis::Axis;
use super::bars::{bar_panel, bars_of, Panel};
use super::frame::{Area, DrawResult};
use super::LOG_SPAN;
use crate::figures::figure;
use crate::style;
use pushbench_results::{Run, TransportResult};

/// The links of `run` in the order they ran, each with its results; empty unless the run went
/// over more than one.
pub(super) fn by_network(run: &Run) -> Vec<(String, Vec<&TransportResult>)> {
    crate::figures::by_network(&run.summary)
        .into_iter()
        .filter_map(|(n, ts)| Some((n?.to_owned(), ts)))
        .collect()
}

/// A panel's heading: the link's name and what it is (`3g: 300 ms, 1.6/0.768 Mbit/s`).
fn heading(network: &str, ts: &[&TransportResult]) -> String {
    let Some(link) = ts.iter().find_map(|t| t.link.as_ref()) else {
        return network.to_owned();
    };
    let rate = |bps: Option<u64>| bps.map_or("∞".to_owned(), |b| style::num(b as f64 / 1e6));
    let mut s = format!(
        "{network}: {} ms, {}/{} Mbit/s",
        style::num(link.rtt_ms),
        rate(link.down_bps),
        rate(link.up_bps)
    );
    if link.loss > 0.0 {
        s.push_str(&format!(", {}% loss", style::num(link.loss * 100.0)));
    }
    s
}

/// The chart: one panel per link, up to three in a row.
pub(super) fn draw(run: &Run, area: &Area) -> DrawResult {
    let groups = by_network(run);
    let (p99, p50) = (figure("p99"), figure("p50"));
    let ms = |t: &TransportResult, f: &crate::figures::Figure| f.of(t).map(|us| us / 1000.0);
    let axis = Axis::for_values(
        groups
            .iter()
            .flat_map(|(_, ts)| ts.iter())
            .flat_map(|t| [ms(t, p99), ms(t, p50)])
            .flatten(),
        LOG_SPAN,
        &|v| style::num(v),
    );
    let columns = groups.len().clamp(1, 3);
    let rows = groups.len().div_ceil(columns).max(1);
    let cells = area.split_evenly((rows, columns));
    for ((network, ts), cell) in groups.iter().zip(cells) {
        let mut bars = bars_of(ts, |t| ms(t, p99), "no deliveries");
        for (bar, t) in bars.iter_mut().zip(ts) {
            // Within a panel the link is the panel's: rows are named for the rest.
            bar.name = bar
                .name
                .strip_suffix(&format!("~{network}"))
                .unwrap_or(&bar.name)
                .to_owned();
            if bar.value.is_some() {
                bar.tick = ms(t, p50);
            }
        }
        let title = heading(network, ts);
        bar_panel(
            &cell,
            &Panel {
                title: &title,
                axis: "p99 latency, ms (white tick: p50)",
                lower_is_better: true,
                fmt: &|v| format!("{} ms", style::num(v)),
                fixed: Some(axis.clone()),
            },
            &bars,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_results::model::LinkResult;

    #[test]
    fn links_keep_their_order_and_say_what_they_are() {
        let t = |name: &str| TransportResult {
            transport: name.into(),
            link: Some(LinkResult {
                network: "3g".into(),
                rtt_ms: 300.0,
                down_bps: Some(1_600_000),
                up_bps: Some(768_000),
                loss: 0.01,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut run = Run {
            sources: Vec::new(),
            summary: Default::default(),
            scenario_toml: None,
            warmup_s: 0.0,
            logs: Default::default(),
            notes: Vec::new(),
        };
        run.summary.transports = ["websocket~lan", "sse~lan", "sse~3g", "websocket~3g"]
            .map(t)
            .to_vec();
        let groups = by_network(&run);
        let names: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|(n, ts)| {
                (
                    n.as_str(),
                    ts.iter().map(|t| t.transport.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("lan", vec!["sse~lan", "websocket~lan"]),
                ("3g", vec!["sse~3g", "websocket~3g"])
            ]
        );
        assert_eq!(
            heading("3g", &groups[1].1),
            "3g: 300 ms, 1.6/0.768 Mbit/s, 1% loss"
        );
        run.summary.transports = ["sse", "websocket"].map(t).to_vec();
        assert!(by_network(&run).is_empty());
    }
}
