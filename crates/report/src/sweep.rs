//! A sweep's capacities for the terminal: per transport the highest step that met the
//! objective, its ratio to raw-tcp's, the deliveries per second and server CPU per delivery at
//! that step, and whether the figure is a limit or a lower bound.

use std::fmt::Write as _;

use pushbench_results::sweep::{Ended, Param, RatioBound, SweepResult};

use crate::style::{ms, num, thousands};

/// What a step value counts, for the table's heading.
fn unit(param: Param) -> &'static str {
    match param {
        Param::Rate => "messages/s per publisher",
        Param::Clients => "subscribers",
        Param::MessageSize => "payload bytes",
    }
}

/// Whether the capacity is the transport's limit, in words.
fn ended(e: Ended) -> &'static str {
    match e {
        Ended::Broke => "limit: the next two steps broke the objective",
        Ended::GeneratorBound => "lower bound: load-gen ran out of CPU beyond it",
        Ended::StepsExhausted => "lower bound: met every step up to the last",
        Ended::Interrupted => "lower bound: the sweep was interrupted",
    }
}

/// The capacity table, one line per transport.
pub fn capacity_table(r: &SweepResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "capacity: highest {} ({}) with p99 <= {} ms and at most {} lost, over {} of {} steps",
        r.param.key(),
        unit(r.param),
        ms(r.slo.p99_us as f64),
        r.slo.loss,
        r.steps.len(),
        r.values.len()
    );
    let _ = writeln!(
        out,
        "\n{:<11} {:>10} {:>9} {:>13} {:>12}  ",
        "transport", "capacity", "x raw-tcp", "delivered/s", "server µs/msg"
    );
    for c in &r.capacity {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<11} {:>10} {:>9} {:>13} {:>12}  {}",
            c.transport,
            or_dash(c.capacity.map(num)),
            or_dash(c.ratio_to_raw_tcp.map(|v| {
                let bound = match c.ratio_is {
                    Some(RatioBound::AtLeast) => ">=",
                    Some(RatioBound::AtMost) => "<=",
                    Some(RatioBound::Unknown) => "?",
                    _ => "",
                };
                format!("{bound}{v:.2}")
            })),
            or_dash(c.delivered_per_s.map(thousands)),
            or_dash(c.server_cpu_us_per_delivery.map(|v| format!("{v:.1}"))),
            if c.capacity.is_none() {
                "never met the objective"
            } else {
                ended(c.ended)
            }
        );
    }
    if r.capacity
        .iter()
        .any(|c| c.ratio_is != Some(RatioBound::Exact) && c.ratio_is.is_some())
    {
        let _ = writeln!(
            out,
            "\n>= / <=: one of the two capacities is a lower bound, so the ratio is a bound too; \
             ?: both are, and the ratio says nothing."
        );
    }
    out
}
