//! Repeated runs of one transport (`repeat = N`): the aggregate result and the spread of each
//! headline figure.
//!
//! The aggregate is [`crate::merge::combine`] over the runs, as for repeats merged from
//! folders: histograms added, counters summed, throughput their mean rate. Beside it,
//! [`Repeats`] gives p50, p99, p99.9, throughput, bytes per message and CPU per 1,000 messages
//! as the median over the runs with a distribution-free confidence interval from order
//! statistics: with `n` runs, the interval `[x(k), x(n+1-k)]` of the sorted values covers the
//! true median with probability `1 − 2·P(B < k)`, `B ~ Binomial(n, ½)`; `k` is the largest with
//! coverage of at least 95%. Fewer than 6 runs cannot reach 95%; they get the whole range and
//! its coverage (5 runs: 93.75%), recorded in [`Repeats::confidence`].

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::merge::{combine, Part};
use crate::model::{Repeats, Spread, TransportResult};

/// The confidence intervals aim for.
pub const CONFIDENCE: f64 = 0.95;

/// P(B ≤ k) for B ~ Binomial(n, ½).
fn binomial_cdf_half(n: usize, k: usize) -> f64 {
    let mut term = 0.5f64.powi(n as i32); // C(n, 0) / 2^n
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        if i > 0 {
            term *= (n - i + 1) as f64 / i as f64;
        }
        sum += term;
    }
    sum
}

/// The median of `values` and its confidence interval, with the coverage that interval has.
pub fn spread(values: &[f64]) -> (Spread, f64) {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return (Spread::default(), 0.0);
    }
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    // The largest k (1-based) whose interval [x(k), x(n+1-k)] still covers 95%; at least 1.
    let coverage = |k: usize| 1.0 - 2.0 * binomial_cdf_half(n, k - 1);
    let mut k = 1;
    while k < n.div_ceil(2) && coverage(k + 1) >= CONFIDENCE {
        k += 1;
    }
    let achieved = if n == 1 { 0.0 } else { coverage(k) };
    (
        Spread {
            median,
            low: v[k - 1],
            high: v[n - k],
        },
        achieved,
    )
}

/// The spread of each headline figure over `runs` (the runs that did not fail).
pub fn summarise(runs: &[&TransportResult]) -> Repeats {
    let ran: Vec<&&TransportResult> = runs.iter().filter(|t| t.status.ran()).collect();
    let of =
        |f: &dyn Fn(&TransportResult) -> f64| spread(&ran.iter().map(|t| f(t)).collect::<Vec<_>>());
    let (p50_us, confidence) = of(&|t| t.latency.p50_us as f64);
    Repeats {
        runs: ran.len(),
        confidence,
        p50_us,
        p99_us: of(&|t| t.latency.p99_us as f64).0,
        p999_us: of(&|t| t.latency.p999_us as f64).0,
        throughput_msgs_per_s: of(&|t| t.throughput_msgs_per_s).0,
        bytes_per_message: of(&|t| t.bytes_per_message.total).0,
        cpu_ms_per_1000_msgs: of(&|t| t.server.cpu_ms_per_1000_msgs).0,
    }
}

/// One transport's aggregate over its repeated `runs` (at least one): combined as repeats,
/// with percentiles from `measured` (the runs' measured-window histograms added, by tag) and
/// the spread of the headline figures.
pub fn aggregate(
    runs: &[TransportResult],
    measured: Option<&BTreeMap<String, Histogram<u64>>>,
) -> TransportResult {
    let parts: Vec<Part> = runs
        .iter()
        .map(|t| Part {
            slice: None,
            label: format!("repeat {}", t.repeat.unwrap_or(0) + 1),
            result: t,
        })
        .collect();
    let mut out = combine(&parts, measured);
    out.repeats = Some(summarise(&runs.iter().collect::<Vec<_>>()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binomial_tail_is_exact() {
        assert_eq!(binomial_cdf_half(5, 0), 1.0 / 32.0);
        assert_eq!(binomial_cdf_half(5, 5), 1.0);
        assert!((binomial_cdf_half(10, 1) - 11.0 / 1024.0).abs() < 1e-12);
    }

    #[test]
    fn few_runs_get_their_whole_range_and_say_how_sure_that_is() {
        let (s, c) = spread(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(
            s,
            Spread {
                median: 3.0,
                low: 1.0,
                high: 5.0
            }
        );
        assert_eq!(c, 1.0 - 2.0 / 32.0);
        let (s, c) = spread(&[7.0]);
        assert_eq!((s.median, s.low, s.high, c), (7.0, 7.0, 7.0, 0.0));
        let (s, _) = spread(&[1.0, 2.0, 3.0, 10.0]);
        assert_eq!(s.median, 2.5);
    }

    #[test]
    fn more_runs_narrow_the_interval_at_95_percent() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        let (s, c) = spread(&values);
        // n = 20: k = 6 gives 95.9% coverage, k = 7 only 88.5%.
        assert_eq!((s.low, s.high), (6.0, 15.0));
        assert!((CONFIDENCE..0.97).contains(&c), "{c}");
        assert_eq!(s.median, 10.5);
    }

    #[test]
    fn overlapping_intervals_are_a_tie() {
        let a = Spread {
            median: 1.0,
            low: 0.9,
            high: 1.1,
        };
        let b = Spread {
            median: 1.2,
            low: 1.05,
            high: 1.3,
        };
        let c = Spread {
            median: 2.0,
            low: 1.8,
            high: 2.2,
        };
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn an_aggregate_sums_counters_and_spreads_the_figures() {
        let run = |k: usize, p50: u64, delivered: u64| {
            let mut t = TransportResult {
                transport: "sse".into(),
                status: crate::Status::Complete,
                repeat: Some(k),
                measured_s: 1.0,
                measured_deliveries: delivered,
                throughput_msgs_per_s: delivered as f64,
                ..Default::default()
            };
            t.latency.p50_us = p50;
            t.messages.seq.delivered = delivered;
            t
        };
        let runs = [run(0, 400, 100), run(1, 500, 100), run(2, 450, 100)];
        let agg = aggregate(&runs, None);
        assert_eq!(agg.messages.seq.delivered, 300);
        assert_eq!(agg.throughput_msgs_per_s, 100.0);
        assert_eq!(agg.repeat, None);
        let r = agg.repeats.unwrap();
        assert_eq!(r.runs, 3);
        assert_eq!(
            r.p50_us,
            Spread {
                median: 450.0,
                low: 400.0,
                high: 500.0
            }
        );
        assert_eq!(r.confidence, 0.75);
    }
}
