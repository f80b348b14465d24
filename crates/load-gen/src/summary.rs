//! The comparison table printed at the end of a run.

use std::fmt::Write as _;

use pushbench_results::{Status, Summary};

fn ms(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0}", us as f64 / 1000.0)
    } else {
        format!("{:.2}", us as f64 / 1000.0)
    }
}

fn bytes(n: f64) -> String {
    if n >= 1024.0 * 1024.0 {
        format!("{:.1}M", n / (1024.0 * 1024.0))
    } else if n >= 1024.0 {
        format!("{:.1}K", n / 1024.0)
    } else {
        format!("{n:.0}")
    }
}

/// The comparison table printed at the end of a run.
pub fn table(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<11} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9}  notes",
        "transport",
        "p50 ms",
        "p99 ms",
        "p99.9",
        "max ms",
        "msg/s",
        "lost",
        "dup+ro",
        "B/msg",
        "req/msg",
        "srv ms/1k",
        "RSS/conn"
    );
    for t in &summary.transports {
        let mut notes = Vec::new();
        if t.status != Status::Complete {
            notes.push(t.status.to_string());
        }
        if t.generator_bound {
            notes.push("GENERATOR-BOUND".into());
        }
        if t.messages.seq.lost + t.messages.seq.gap_notified > 0 {
            notes.push("LOSS".into());
        }
        let _ =
            writeln!(
            out,
            "{:<11} {:>8} {:>8} {:>8} {:>8} {:>9.0} {:>7} {:>7} {:>8} {:>8.2} {:>9.1} {:>9}  {}",
            t.transport,
            ms(t.latency.p50_us),
            ms(t.latency.p99_us),
            ms(t.latency.p999_us),
            ms(t.latency.max_us),
            t.throughput_msgs_per_s,
            t.messages.seq.lost + t.messages.seq.gap_notified,
            t.messages.seq.duplicated + t.messages.seq.reordered,
            bytes(t.bytes_per_message.total),
            t.requests_per_message,
            t.server.cpu_ms_per_1000_msgs,
            t.server.rss_per_connection_bytes.map_or_else(|| "-".into(), bytes),
            notes.join(" ")
        );
    }
    let warnings: Vec<&String> = summary
        .warnings
        .iter()
        .chain(summary.transports.iter().flat_map(|t| &t.warnings))
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nWARNINGS:");
        for w in warnings {
            let _ = writeln!(out, "  ! {w}");
        }
    }
    out
}
