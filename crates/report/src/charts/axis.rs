//! Value axes: linear from zero or logarithmic, with ticks at round 1-2-5 values and their
//! labels.

use std::ops::Range;

use super::LOG_SPAN_LINES;
use crate::style;

/// The 1-2-5 value at or below `v`.
fn nice_below(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [5.0, 2.0, 1.0]
        .iter()
        .map(|s| s * p)
        .find(|x| *x <= v * 1.0001)
        .unwrap_or(p / 2.0)
}

/// The 1-2-5 value at or above `v`.
pub(super) fn nice_above(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|s| s * p)
        .find(|x| *x >= v * 0.9999)
        .unwrap_or(10.0 * p)
}

/// Tick values 1, 2, 5 × 10^k in `lo..=hi`, or only 10^k when the range spans more than
/// `dense_decades`.
fn log_ticks(lo: f64, hi: f64, dense_decades: f64) -> Vec<f64> {
    let steps: &[f64] = if (hi / lo).log10() <= dense_decades {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut out = Vec::new();
    let mut k = lo.log10().floor() as i32 - 1;
    while 10f64.powi(k) <= hi * 1.0001 {
        for s in steps {
            let v = s * 10f64.powi(k);
            if v >= lo * 0.9999 && v <= hi * 1.0001 {
                out.push(v);
            }
        }
        k += 1;
    }
    out
}

/// A value axis: linear from zero, or logarithmic between 1-2-5 bounds, with labelled ticks.
#[derive(Debug, Clone)]
pub(super) struct Axis {
    /// Smallest value shown.
    pub(super) lo: f64,
    /// Largest value shown.
    pub(super) hi: f64,
    /// Whether values are placed at their `log10` (see [`Axis::t`]).
    pub(super) log: bool,
    /// Tick values and their labels.
    pub(super) ticks: Vec<(f64, String)>,
    /// Whether the title says "(log scale)" (not where the ticks say it already).
    pub(super) say_log: bool,
}

impl Axis {
    /// A linear axis over `lo..hi` with about `n` ticks at round steps.
    pub(super) fn linear(lo: f64, hi: f64, n: usize, fmt: &dyn Fn(f64) -> String) -> Axis {
        let step = nice_above((hi - lo) / n.max(1) as f64);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let ticks = (first..=last)
            .map(|i| i as f64 * step)
            .map(|v| (v, fmt(v)))
            .collect();
        Axis {
            lo,
            hi,
            log: false,
            ticks,
            say_log: false,
        }
    }

    /// A logarithmic axis over `lo..hi` with 1-2-5 ticks (powers of ten only beyond
    /// `dense_decades`).
    fn logarithmic(lo: f64, hi: f64, dense_decades: f64, fmt: &dyn Fn(f64) -> String) -> Axis {
        Axis {
            lo,
            hi,
            log: true,
            ticks: log_ticks(lo, hi, dense_decades)
                .into_iter()
                .map(|v| (v, fmt(v)))
                .collect(),
            say_log: true,
        }
    }

    /// An axis for non-negative `values`: linear from zero, or logarithmic when they span more
    /// than `span` (largest / smallest positive).
    pub(super) fn for_values(
        values: impl IntoIterator<Item = f64>,
        span: f64,
        fmt: &dyn Fn(f64) -> String,
    ) -> Axis {
        let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        let max = v.iter().copied().fold(0.0, f64::max);
        let min_pos = v
            .iter()
            .copied()
            .filter(|x| *x > 0.0)
            .fold(f64::INFINITY, f64::min);
        if max <= 0.0 {
            Axis::linear(0.0, 1.0, 4, fmt)
        } else if max / min_pos > span {
            // A 1-2-5 step clearly below the smallest value, so its bar still has length.
            // Tall line charts have room for 1-2-5 ticks over more decades than bar panels.
            let dense = if span == LOG_SPAN_LINES { 3.5 } else { 2.2 };
            Axis::logarithmic(nice_below(min_pos / 1.5), nice_above(max), dense, fmt)
        } else {
            let step = nice_above(max / 5.0);
            Axis::linear(0.0, (max / step).ceil() * step, 5, fmt)
        }
    }

    /// Where `v` goes on the plot's linear coordinate.
    pub(super) fn t(&self, v: f64) -> f64 {
        if self.log {
            v.max(self.lo * 1e-3).log10()
        } else {
            v
        }
    }

    /// The plot coordinate range, with `extra` of its length added at the top (room for
    /// labels).
    pub(super) fn range(&self, extra: f64) -> Range<f64> {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        a..b + (b - a) * extra
    }

    /// The axis title, saying when it is logarithmic.
    pub(super) fn describe(&self, what: &str) -> String {
        if self.say_log {
            format!("{what} (log scale)")
        } else {
            what.to_string()
        }
    }
}

/// Milliseconds for an axis label.
pub(super) fn ms_label(v: f64) -> String {
    style::num(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::LOG_SPAN;

    #[test]
    fn axes_go_logarithmic_over_wide_ranges() {
        let a = Axis::for_values([0.0003, 1.0], LOG_SPAN, &style::num);
        assert!(a.log);
        assert_eq!(a.lo, 0.0002);
        assert_eq!(a.ticks.first().map(|t| t.0), Some(0.001));
        assert!(a.ticks.iter().any(|t| t.1 == "1"));
        let b = Axis::for_values([2.0, 5.0], LOG_SPAN, &style::num);
        assert!(!b.log);
        assert_eq!((b.lo, b.hi), (0.0, 5.0));
        assert_eq!(b.ticks.len(), 6);
    }
}
