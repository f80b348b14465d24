//! Per-subscriber sequence accounting: every message carries its topic's sequence number, so
//! loss, duplicates and reordering are counted, never assumed.
//!
//! The tracker keeps the highest sequence seen and a 128-entry window of which recent numbers
//! arrived. A number above `highest + 1` opens holes (counted missing until they arrive); one
//! below `highest` is a duplicate if its bit is set, otherwise a late (reordered) arrival that
//! fills a hole. Holes the server announced with a gap notice are counted apart: the server said
//! so, rather than losing them silently. Memory per subscriber is fixed.

pub use pushbench_results::model::SeqCounts;

const WINDOW: u64 = 128;

/// One subscriber's view of one topic.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    highest: u64,
    /// Bit i set: sequence `highest - i` has arrived (or was covered by a gap notice).
    seen: u128,
    /// Holes below `highest` not yet filled.
    missing: u64,
    counts: SeqCounts,
}

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next number, or a later one (holes opened).
    InOrder,
    /// Filled an earlier hole.
    Reordered,
    /// Already seen: not to be counted as a delivery.
    Duplicate,
}

impl SeqTracker {
    /// A tracker for a subscription that starts after sequence `after`.
    pub fn starting_after(after: u64) -> Self {
        SeqTracker {
            highest: after,
            seen: 1,
            ..Default::default()
        }
    }

    /// The highest sequence number seen.
    pub fn highest(&self) -> u64 {
        self.highest
    }

    fn advance(&mut self, to: u64) {
        let shift = to - self.highest;
        self.seen = if shift >= WINDOW {
            0
        } else {
            self.seen << shift
        };
        self.highest = to;
    }

    /// Records a message with sequence `seq`.
    pub fn arrive(&mut self, seq: u64) -> Arrival {
        if seq > self.highest {
            self.missing += seq - self.highest - 1;
            self.advance(seq);
            self.seen |= 1;
            self.counts.delivered += 1;
            return Arrival::InOrder;
        }
        let offset = self.highest - seq;
        if offset < WINDOW && self.seen & (1 << offset) != 0 {
            self.counts.duplicated += 1;
            return Arrival::Duplicate;
        }
        if offset < WINDOW {
            self.seen |= 1 << offset;
        }
        // Beyond the window a late arrival and a duplicate look alike; late is the likelier.
        self.missing = self.missing.saturating_sub(1);
        self.counts.reordered += 1;
        self.counts.delivered += 1;
        Arrival::Reordered
    }

    /// Records a gap notice: `first_missing..first_available` will not come.
    pub fn gap(&mut self, first_missing: u64, first_available: u64) {
        if first_available <= first_missing || first_available - 1 <= self.highest {
            return;
        }
        let from = first_missing.max(self.highest + 1);
        let covered = first_available - from;
        self.counts.gap_notified += covered;
        // Holes between what we had and the gap's start are still plain losses.
        self.missing += from - self.highest - 1;
        self.advance(first_available - 1);
        let marked = covered.min(WINDOW);
        self.seen |= if marked == WINDOW {
            u128::MAX
        } else {
            (1u128 << marked) - 1
        };
    }

    /// Final counts, given that the topic's last published sequence number was `last_published`.
    pub fn finish(&self, last_published: u64) -> SeqCounts {
        let mut c = self.counts;
        c.lost = self.missing + last_published.saturating_sub(self.highest);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(arrivals: &[u64], last: u64) -> SeqCounts {
        let mut t = SeqTracker::starting_after(0);
        for &s in arrivals {
            t.arrive(s);
        }
        t.finish(last)
    }

    #[test]
    fn a_clean_stream_counts_only_deliveries() {
        assert_eq!(
            run(&[1, 2, 3, 4], 4),
            SeqCounts {
                delivered: 4,
                ..Default::default()
            }
        );
    }

    #[test]
    fn injected_loss_is_caught_in_the_middle_and_at_the_end() {
        let c = run(&[1, 2, 4, 5], 7);
        assert_eq!((c.delivered, c.lost), (4, 3));
    }

    #[test]
    fn injected_duplicates_are_caught_and_not_counted_as_deliveries() {
        let c = run(&[1, 2, 2, 3, 1], 3);
        assert_eq!(
            (c.delivered, c.duplicated, c.lost, c.reordered),
            (3, 2, 0, 0)
        );
    }

    #[test]
    fn injected_reordering_is_caught_and_fills_its_hole() {
        let c = run(&[1, 3, 2, 4], 4);
        assert_eq!(
            (c.delivered, c.reordered, c.lost, c.duplicated),
            (4, 1, 0, 0)
        );
        // A late arrival far behind still fills its hole.
        let mut seqs: Vec<u64> = (2..=300).collect();
        seqs.push(1);
        let c = run(&seqs, 300);
        assert_eq!((c.delivered, c.reordered, c.lost), (300, 1, 0));
    }

    #[test]
    fn gap_notices_are_counted_apart_from_silent_loss() {
        let mut t = SeqTracker::starting_after(0);
        t.arrive(1);
        t.gap(2, 10);
        for s in 10..=12 {
            t.arrive(s);
        }
        let c = t.finish(12);
        assert_eq!((c.delivered, c.gap_notified, c.lost), (4, 8, 0));
        // A message the gap covered that shows up anyway is a duplicate, not a delivery.
        assert_eq!(t.arrive(5), Arrival::Duplicate);
    }

    #[test]
    fn a_subscription_starting_later_does_not_count_earlier_messages() {
        let mut t = SeqTracker::starting_after(5);
        t.arrive(6);
        t.arrive(7);
        assert_eq!(
            t.finish(7),
            SeqCounts {
                delivered: 2,
                ..Default::default()
            }
        );
    }
}
