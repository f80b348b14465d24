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
    if r.param == Param::Clients {
        memory_table(r, &mut out);
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

/// For a `clients` sweep: the server's memory per held connection at every step, in KiB
/// (load-gen's in brackets).
fn memory_table(r: &SweepResult, out: &mut String) {
    let _ = write!(
        out,
        "\nKiB per connection, server (load-gen)\n{:<11}",
        "clients"
    );
    for s in &r.steps {
        let _ = write!(out, " {:>14}", num(s.value));
    }
    let _ = writeln!(out);
    for c in &r.capacity {
        let mut row = format!("{:<11}", c.transport);
        let mut any = false;
        for s in &r.steps {
            let cell = s
                .transports
                .iter()
                .find(|t| t.transport == c.transport)
                .and_then(|t| {
                    let server = t.server_rss_per_connection_bytes?;
                    any = true;
                    let generator = t
                        .generator_rss_per_connection_bytes
                        .map_or_else(|| "-".to_string(), |g| format!("{:.1}", g / 1024.0));
                    Some(format!("{:.1} ({generator})", server / 1024.0))
                })
                .unwrap_or_else(|| "-".into());
            let _ = write!(row, " {cell:>14}");
        }
        if any {
            let _ = writeln!(out, "{row}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_results::sweep::{Capacity, Slo, Step, StepTransport, Verdict};

    fn result(param: Param) -> SweepResult {
        let at = |value: f64, kib: f64| Step {
            value,
            folder: String::new(),
            transports: vec![StepTransport {
                transport: "sse".into(),
                verdict: Verdict::Meets,
                reason: String::new(),
                p50_us: 1000,
                p99_us: 2000,
                lost: 0,
                delivered_per_s: value,
                server_cpu_us_per_delivery: 10.0,
                server_rss_per_connection_bytes: Some(kib * 1024.0),
                generator_rss_per_connection_bytes: Some(2048.0),
            }],
        };
        SweepResult {
            schema: String::new(),
            scenario: "s".into(),
            param,
            values: vec![1000.0, 2000.0],
            slo: Slo::new(std::time::Duration::from_millis(50), 0),
            steps: vec![at(1000.0, 13.5), at(2000.0, 13.0)],
            capacity: vec![Capacity {
                transport: "sse".into(),
                capacity: Some(2000.0),
                ended: Ended::StepsExhausted,
                ratio_to_raw_tcp: None,
                ratio_is: None,
                delivered_per_s: Some(2000.0),
                server_cpu_us_per_delivery: Some(10.0),
            }],
            complete: true,
        }
    }

    #[test]
    fn a_clients_sweep_also_prints_memory_per_connection_at_every_step() {
        let table = capacity_table(&result(Param::Clients));
        assert!(table.contains("KiB per connection"), "{table}");
        assert!(
            table.contains("13.5 (2.0)") && table.contains("13.0 (2.0)"),
            "{table}"
        );
        assert!(table.contains("lower bound: met every step up to the last"));
        let table = capacity_table(&result(Param::Rate));
        assert!(!table.contains("KiB per connection"), "{table}");
    }
}
