//! The open-loop publish schedule: when each message is *meant* to be sent, fixed by the scenario
//! and its seed before the run starts, whatever the server or the generator does during it.
//!
//! Each publishing stream (one per topic for push workloads, one per client for bidirectional
//! ones) gets its own generator, seeded from the scenario seed and the stream's index, so a
//! stream's times and sizes are the same on every run and for every transport. Times are
//! produced lazily, so memory stays flat however long the run.

use crate::scenario::{Pattern, SizeDist};

/// SplitMix64: tiny, fast and stable across dependency upgrades, which keeps seeded schedules
/// reproducible between pushbench versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for stream `stream` of a run seeded with `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so `ln` is finite.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `min..=max`.
    pub fn range(&mut self, min: usize, max: usize) -> usize {
        min + (self.next_u64() % (max - min + 1) as u64) as usize
    }
}

/// One stream's planned messages: intended send time (ns since the run's start) and payload size.
#[derive(Debug, Clone)]
pub struct Schedule {
    rng: Rng,
    pattern: Pattern,
    size: SizeDist,
    /// Mean gap between messages, in ns.
    period_ns: f64,
    next_ns: f64,
    end_ns: u64,
}

/// One planned message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// When the schedule means it to be sent, ns since the run started.
    pub intended_ns: u64,
    /// Payload bytes.
    pub size: usize,
}

impl Schedule {
    /// Stream `index` of `streams`, each at `rate` messages per second until `end_ns`. Constant
    /// streams are spread evenly over one period so that publishers do not fire in lockstep.
    pub fn new(
        seed: u64,
        index: u64,
        streams: u64,
        rate: f64,
        pattern: Pattern,
        size: SizeDist,
        end_ns: u64,
    ) -> Self {
        let period_ns = 1e9 / rate;
        let mut rng = Rng::new(seed, index);
        let first = match pattern {
            Pattern::Constant => period_ns * index as f64 / streams.max(1) as f64,
            Pattern::Poisson => -rng.unit().ln() * period_ns,
        };
        Schedule {
            rng,
            pattern,
            size,
            period_ns,
            next_ns: first,
            end_ns,
        }
    }
}

impl Iterator for Schedule {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        let intended_ns = self.next_ns as u64;
        if intended_ns >= self.end_ns {
            return None;
        }
        self.next_ns += match self.pattern {
            Pattern::Constant => self.period_ns,
            Pattern::Poisson => -self.rng.unit().ln() * self.period_ns,
        };
        let size = match self.size {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, max } => self.rng.range(min, max),
        };
        Some(Planned { intended_ns, size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_streams_are_evenly_spread_and_end_on_time() {
        let s: Vec<_> = Schedule::new(
            1,
            1,
            4,
            10.0,
            Pattern::Constant,
            SizeDist::Fixed(8),
            1_000_000_000,
        )
        .collect();
        assert_eq!(s.len(), 10);
        assert_eq!(s[0].intended_ns, 25_000_000);
        assert_eq!(s[1].intended_ns, 125_000_000);
        assert!(s.iter().all(|p| p.size == 8));
    }

    #[test]
    fn poisson_is_seeded_and_has_the_asked_mean_rate() {
        let plan = |seed| -> Vec<Planned> {
            Schedule::new(
                seed,
                0,
                1,
                1000.0,
                Pattern::Poisson,
                SizeDist::Uniform { min: 10, max: 20 },
                10_000_000_000,
            )
            .collect()
        };
        let a = plan(7);
        assert_eq!(a, plan(7));
        assert_ne!(a, plan(8));
        // 10 000 expected; a Poisson count's standard deviation is 100.
        assert!((9_500..10_500).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].intended_ns <= w[1].intended_ns));
        assert!(a.iter().all(|p| (10..=20).contains(&p.size)));
        assert!(a.iter().any(|p| p.size == 10) && a.iter().any(|p| p.size == 20));
    }
}
