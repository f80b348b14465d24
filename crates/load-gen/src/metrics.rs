//! Where measurements land while a transport runs.
//!
//! - [`Clock`]: the generator's one monotonic clock. Publishers stamp intended and actual send
//!   times with it; subscribers read it on arrival. Latency never crosses clocks.
//! - [`Recorder`]: HDR histograms in a few lock-striped slots, one per runtime worker thread (not
//!   per connection: a histogram is ~190 KB and a run may hold 10 000 connections; and a thread's
//!   own slot stays in its core's cache). Each slot keeps this second's histograms, split by
//!   whether the message's intended time is inside the measured window. Every second the ticker
//!   swaps them for empty ones (the slot's lock is held for the swap only, so recording never
//!   waits for a merge), writes them to the `.hlog` and adds the measured part to the totals.
//!   A delivery is recorded once per histogram, not once for the interval and again for the
//!   total.
//! - [`Fanout`]: per topic, when the *last* subscriber got each message.
//!
//! Values are recorded in microseconds with the `.hlog` bounds
//! ([`pushbench_results::hlog::histogram`]); larger values saturate at the top rather than being
//! dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use pushbench_results::hlog::{histogram, MAX_US};
use pushbench_wire::probe::Probe;

/// The generator's one clock: nanoseconds since the run's start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose zero is `start`.
    pub fn starting_at(start: Instant) -> Self {
        Clock { start }
    }

    /// The instant of zero.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Nanoseconds since zero (0 before it).
    pub fn now_ns(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_nanos() as u64
    }

    /// The instant `ns` after zero.
    pub fn at(&self, ns: u64) -> Instant {
        self.start + std::time::Duration::from_nanos(ns)
    }
}

/// The histograms pushbench keeps, by the tag they carry in the interval log.
#[derive(Debug, Clone)]
pub struct Histos {
    /// Intended publish time → decoded at a subscriber.
    pub latency: Histogram<u64>,
    /// Actual send time → decoded at a subscriber.
    pub actual: Histogram<u64>,
    /// Intended publish time → the last subscriber of the topic has it.
    pub fanout: Histogram<u64>,
    /// Actual send time − intended send time at the publisher: how far behind schedule the
    /// generator ran.
    pub publish_lag: Histogram<u64>,
    /// Intended publish time → decoded, for messages published while their subscriber was
    /// away (see [`Recorder::replayed`]).
    pub replay: Histogram<u64>,
    /// A subscriber's connection ended → subscribed again (see [`Recorder::reconnected`]).
    pub reconnect: Histogram<u64>,
}

impl Histos {
    /// Empty histograms.
    pub fn new() -> Self {
        Histos {
            latency: histogram(),
            actual: histogram(),
            fanout: histogram(),
            publish_lag: histogram(),
            replay: histogram(),
            reconnect: histogram(),
        }
    }

    /// The histograms with their interval-log tags: `hlog::TAGS` for messages intended in the
    /// measured window, `hlog::OUTSIDE_TAGS` for the others.
    pub fn tagged(&self, tags: [&'static str; 6]) -> [(&'static str, &Histogram<u64>); 6] {
        [
            (tags[0], &self.latency),
            (tags[1], &self.actual),
            (tags[2], &self.fanout),
            (tags[3], &self.publish_lag),
            (tags[4], &self.replay),
            (tags[5], &self.reconnect),
        ]
    }

    /// Adds every histogram of `other` into this one. Empty ones are skipped: adding walks the
    /// whole counts array (~23,000 entries) whatever it holds.
    pub fn add(&mut self, other: &Histos) {
        for (h, o) in [
            (&mut self.latency, &other.latency),
            (&mut self.actual, &other.actual),
            (&mut self.fanout, &other.fanout),
            (&mut self.publish_lag, &other.publish_lag),
            (&mut self.replay, &other.replay),
            (&mut self.reconnect, &other.reconnect),
        ] {
            if !o.is_empty() {
                h.add(o).expect("same bounds");
            }
        }
    }

    /// Empties every histogram (those already empty are left alone: clearing one writes its
    /// whole counts array).
    pub fn reset(&mut self) {
        for h in [
            &mut self.latency,
            &mut self.actual,
            &mut self.fanout,
            &mut self.publish_lag,
            &mut self.replay,
            &mut self.reconnect,
        ] {
            if !h.is_empty() {
                h.reset();
            }
        }
    }
}

impl Default for Histos {
    fn default() -> Self {
        Self::new()
    }
}

fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record((ns / 1000).clamp(1, MAX_US));
}

#[derive(Debug)]
struct Slot {
    /// This interval's messages whose intended time is in the measured window.
    measured: Histos,
    /// This interval's other messages (warm-up, drain).
    unmeasured: Histos,
}

impl Slot {
    fn new() -> Self {
        Slot {
            measured: Histos::new(),
            unmeasured: Histos::new(),
        }
    }
}

/// Hands each thread that records its own stripe number, in order of first use. The runtime's
/// workers are the only threads that record, so with a stripe per worker no two share a lock.
fn thread_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed);
    }
    STRIPE.with(|s| *s)
}

/// Messages the fan-out tracker keeps waiting per topic before counting the oldest incomplete.
const FANOUT_WINDOW: usize = 65_536;

#[derive(Debug, Default)]
struct FanoutTopic {
    /// Sequence number of `pending[0]`.
    base: u64,
    /// Per message: subscribers still to receive it, latest arrival so far.
    pending: VecDeque<(u32, u64)>,
}

/// Per topic, when the last subscriber received each message.
#[derive(Debug)]
pub struct Fanout {
    subscribers: Vec<u32>,
    topics: Vec<Mutex<FanoutTopic>>,
    incomplete: AtomicU64,
}

impl Fanout {
    /// `subscribers[t]` is how many subscribers topic `t` has.
    pub fn new(subscribers: Vec<u32>) -> Self {
        let topics = subscribers
            .iter()
            .map(|_| {
                Mutex::new(FanoutTopic {
                    base: 1,
                    pending: VecDeque::new(),
                })
            })
            .collect();
        Fanout {
            subscribers,
            topics,
            incomplete: AtomicU64::new(0),
        }
    }

    /// One subscriber of `topic` received each of `seqs` at `recv_ns` (never twice for one
    /// subscriber and message). Calls `done(i, last_arrival_ns)` for each `seqs[i]` that every
    /// subscriber now has. One lock per batch, not per message.
    pub fn arrive(
        &self,
        topic: usize,
        seqs: impl Iterator<Item = u64>,
        recv_ns: u64,
        mut done: impl FnMut(usize, u64),
    ) {
        let subs = self.subscribers[topic];
        let mut t = self.topics[topic].lock().expect("fanout lock");
        for (i, seq) in seqs.enumerate() {
            if seq < t.base {
                continue;
            }
            let idx = (seq - t.base) as usize;
            while t.pending.len() <= idx {
                t.pending.push_back((subs, 0));
            }
            let entry = &mut t.pending[idx];
            entry.0 = entry.0.saturating_sub(1);
            entry.1 = entry.1.max(recv_ns);
            if entry.0 == 0 {
                done(i, entry.1);
            }
        }
        // Completed messages leave from the front; past the window, the oldest incomplete one
        // is given up on (counted), which may let completed ones behind it leave too.
        loop {
            while matches!(t.pending.front(), Some((0, _))) {
                t.pending.pop_front();
                t.base += 1;
            }
            if t.pending.len() <= FANOUT_WINDOW {
                break;
            }
            t.pending.pop_front();
            t.base += 1;
            self.incomplete.fetch_add(1, Relaxed);
        }
    }

    /// Messages that some subscriber never received, so they have no fan-out latency.
    pub fn incomplete(&self) -> u64 {
        // Only messages still missing a subscriber; completed ones stuck behind an incomplete
        // one are done.
        let waiting: usize = self
            .topics
            .iter()
            .map(|t| {
                let t = t.lock().expect("fanout lock");
                t.pending.iter().filter(|(left, _)| *left > 0).count()
            })
            .sum();
        self.incomplete.load(Relaxed) + waiting as u64
    }
}

/// Latency histograms for one transport's run, shared by all its tasks.
#[derive(Debug)]
pub struct Recorder {
    slots: Vec<Mutex<Slot>>,
    /// Empty slots to swap in at each interval, one per stripe; only the ticker uses them.
    spares: Mutex<Vec<Slot>>,
    /// Measured messages of the intervals already taken.
    total: Mutex<Histos>,
    /// The run's clock.
    pub clock: Clock,
    /// Messages whose intended time falls in `measure_from_ns..measure_until_ns` count in the
    /// totals; the warm-up before it shows only in the interval log.
    measure_from_ns: u64,
    measure_until_ns: u64,
    /// Per topic, the last subscriber's arrival.
    pub fanout: Fanout,
    /// Distinct messages delivered so far, for progress and for knowing when the drain is done.
    pub delivered: AtomicU64,
    /// Per topic, the highest sequence number known to be published: from `/publish` answers,
    /// or counted for upstream frames, which get no answer.
    pub topic_published: Vec<AtomicU64>,
    /// Scheduled messages not yet settled, over every publisher of the run (HTTP publishers and
    /// clients publishing through their own socket alike): each is settled once sent, once its
    /// send failed, or when its publisher stops. The drain waits for this to reach 0 before
    /// judging deliveries, so a send due just before the end is never mistaken for a loss.
    pub scheduled: AtomicU64,
    /// With an outage of the emulated link: what was delivered after it.
    pub outage: std::sync::OnceLock<OutageWatch>,
}

/// Deliveries around a cut of the link from `from_ns` until `until_ns` (run-clock time).
#[derive(Debug)]
pub struct OutageWatch {
    /// The cut.
    pub from_ns: u64,
    /// The link's return.
    pub until_ns: u64,
    /// The first delivery decoded after the return (`u64::MAX`: none yet).
    pub first_after: AtomicU64,
    /// The last delivery of a message meant for the outage (0: none yet).
    pub caught_up: AtomicU64,
}

impl OutageWatch {
    /// A watch over a cut from `from_ns` until `until_ns`.
    pub fn new(from_ns: u64, until_ns: u64) -> Self {
        OutageWatch {
            from_ns,
            until_ns,
            first_after: AtomicU64::new(u64::MAX),
            caught_up: AtomicU64::new(0),
        }
    }

    fn saw(&self, batch: &[(u64, Probe)], recv_ns: u64) {
        if recv_ns >= self.until_ns {
            self.first_after.fetch_min(recv_ns, Relaxed);
        }
        if batch
            .iter()
            .any(|(_, p)| (self.from_ns..self.until_ns).contains(&p.intended_ns))
        {
            self.caught_up.fetch_max(recv_ns, Relaxed);
        }
    }
}

impl Recorder {
    /// A recorder with `slots` lock stripes (one per recording thread is best), measuring intended
    /// times in `from_ns..until_ns`, expecting `scheduled` messages to be published.
    pub fn new(
        clock: Clock,
        slots: usize,
        from_ns: u64,
        until_ns: u64,
        fanout: Fanout,
        scheduled: u64,
    ) -> Self {
        Recorder {
            scheduled: AtomicU64::new(scheduled),
            topic_published: fanout
                .subscribers
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            slots: (0..slots.max(1)).map(|_| Mutex::new(Slot::new())).collect(),
            spares: Mutex::new((0..slots.max(1)).map(|_| Slot::new()).collect()),
            total: Mutex::new(Histos::new()),
            clock,
            measure_from_ns: from_ns,
            measure_until_ns: until_ns,
            fanout,
            delivered: AtomicU64::new(0),
            outage: std::sync::OnceLock::new(),
        }
    }

    /// `n` scheduled messages are settled: sent, failed, or given up.
    pub fn settle(&self, n: u64) {
        let _ = self
            .scheduled
            .fetch_update(Relaxed, Relaxed, |left| Some(left.saturating_sub(n)));
    }

    fn measured(&self, intended_ns: u64) -> bool {
        (self.measure_from_ns..self.measure_until_ns).contains(&intended_ns)
    }

    /// The calling thread's slot.
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slots[thread_stripe() % self.slots.len()]
            .lock()
            .expect("slot lock")
    }

    /// A subscriber of `topic` decoded new (not duplicate) messages, `(seq, probe)` each, which
    /// were all in hand at `recv_ns`. Batched so a poll answer or a read that carried ten
    /// messages takes each lock once.
    pub fn messages(&self, topic: usize, batch: &[(u64, Probe)], recv_ns: u64) {
        if batch.is_empty() {
            return;
        }
        self.delivered.fetch_add(batch.len() as u64, Relaxed);
        if let Some(watch) = self.outage.get() {
            watch.saw(batch, recv_ns);
        }
        let mut fanout_done: [Option<u64>; 64] = [None; 64];
        let mut fanout_late = Vec::new();
        self.fanout.arrive(
            topic,
            batch.iter().map(|(seq, _)| *seq),
            recv_ns,
            |i, last| match fanout_done.get_mut(i) {
                Some(slot) => *slot = Some(last),
                None => fanout_late.push((i, last)),
            },
        );
        let mut slot = self.slot();
        let slot = &mut *slot;
        let mut record_fanout = |i: usize, last: u64| {
            let probe = batch[i].1;
            let h = self.interval_set(slot, probe.intended_ns);
            record(&mut h.fanout, last.saturating_sub(probe.intended_ns));
        };
        for (i, done) in fanout_done.iter().enumerate() {
            if let Some(last) = done {
                record_fanout(i, *last);
            }
        }
        for (i, last) in fanout_late {
            record_fanout(i, last);
        }
        for (_, probe) in batch {
            let h = self.interval_set(slot, probe.intended_ns);
            record(&mut h.latency, recv_ns.saturating_sub(probe.intended_ns));
            record(&mut h.actual, recv_ns.saturating_sub(probe.sent_ns));
        }
    }

    /// Where a message meant for `intended_ns` is recorded this interval.
    fn interval_set<'s>(&self, slot: &'s mut Slot, intended_ns: u64) -> &'s mut Histos {
        if self.measured(intended_ns) {
            &mut slot.measured
        } else {
            &mut slot.unmeasured
        }
    }

    /// A subscriber that was away from `left_ns` to `back_ns` (its connection ended, then it
    /// subscribed again) decoded `batch` at `recv_ns`: the messages meant to be published in
    /// that time are replays, what resuming delivered late.
    pub fn replayed(&self, batch: &[(u64, Probe)], recv_ns: u64, left_ns: u64, back_ns: u64) {
        let mut replays = batch
            .iter()
            .filter(|(_, p)| (left_ns..=back_ns).contains(&p.intended_ns))
            .peekable();
        if replays.peek().is_none() {
            return;
        }
        let mut slot = self.slot();
        for (_, probe) in replays {
            let h = self.interval_set(&mut slot, probe.intended_ns);
            record(&mut h.replay, recv_ns.saturating_sub(probe.intended_ns));
        }
    }

    /// A subscriber whose connection ended at `left_ns` was subscribed again at `back_ns`;
    /// measured when it left inside the measured window.
    pub fn reconnected(&self, left_ns: u64, back_ns: u64) {
        let mut slot = self.slot();
        let h = self.interval_set(&mut slot, left_ns);
        record(&mut h.reconnect, back_ns.saturating_sub(left_ns));
    }

    /// A publisher sent a message at `sent_ns` that the schedule meant for `intended_ns`.
    pub fn published(&self, intended_ns: u64, sent_ns: u64) {
        let mut slot = self.slot();
        let h = self.interval_set(&mut slot, intended_ns);
        record(&mut h.publish_lag, sent_ns.saturating_sub(intended_ns));
    }

    /// Moves what every stripe recorded since the last call into `inside` (messages intended in
    /// the measured window) and `outside` (the others), both emptied first, and starts new
    /// intervals; `inside` also goes into the totals. Each stripe's lock is held only to swap
    /// its histograms for empty ones, so recording threads never wait for the merging. The
    /// caller keeps its histograms from second to second rather than allocating them each time.
    pub fn take_interval(&self, inside: &mut Histos, outside: &mut Histos) {
        inside.reset();
        outside.reset();
        let mut spares = self.spares.lock().expect("spares lock");
        for slot in &self.slots {
            let mut taken = spares.pop().unwrap_or_else(Slot::new);
            std::mem::swap(&mut *slot.lock().expect("slot lock"), &mut taken);
            inside.add(&taken.measured);
            outside.add(&taken.unmeasured);
            self.total.lock().expect("total lock").add(&taken.measured);
            taken.measured.reset();
            taken.unmeasured.reset();
            spares.push(taken);
        }
    }

    /// The totals over the measured window so far, merged (the current interval included).
    pub fn totals(&self) -> Histos {
        let mut merged = self.total.lock().expect("total lock").clone();
        for slot in &self.slots {
            merged.add(&slot.lock().expect("slot lock").measured);
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanout_reports_the_last_arrival_once_everyone_has_it() {
        let f = Fanout::new(vec![3]);
        let arrive = |seqs: &[u64], at: u64| {
            let mut done = Vec::new();
            f.arrive(0, seqs.iter().copied(), at, |i, last| {
                done.push((seqs[i], last))
            });
            done
        };
        assert_eq!(arrive(&[1, 2], 10), []);
        assert_eq!(arrive(&[1], 30), []);
        assert_eq!(arrive(&[2, 1], 20), [(1, 30)]);
        assert_eq!(f.incomplete(), 1);
    }

    #[test]
    fn a_message_one_subscriber_never_gets_counts_once_as_incomplete() {
        // Two subscribers; the second never receives message 1 (a gap), then both get 2..=100.
        let f = Fanout::new(vec![2]);
        let mut done = 0;
        f.arrive(0, 1..=100, 10, |_, _| {});
        f.arrive(0, 2..=100, 20, |_, _| done += 1);
        assert_eq!(done, 99);
        assert_eq!(f.incomplete(), 1);
    }

    #[test]
    fn warm_up_stays_out_of_the_totals_but_in_the_intervals() {
        let clock = Clock::starting_at(Instant::now());
        let r = Recorder::new(
            clock,
            2,
            1_000_000_000,
            2_000_000_000,
            Fanout::new(vec![1]),
            0,
        );
        let probe = |intended_ns| Probe {
            intended_ns,
            sent_ns: intended_ns,
            publisher: 0,
            seq: None,
        };
        r.messages(0, &[(1, probe(500_000_000))], 505_000_000);
        r.messages(0, &[(2, probe(1_500_000_000))], 1_502_000_000);
        r.published(1_400_000_000, 1_400_050_000);
        let totals = r.totals();
        assert_eq!(totals.latency.len(), 1);
        assert_eq!(totals.latency.max(), 2000);
        assert_eq!(totals.fanout.len(), 1);
        assert_eq!(totals.publish_lag.len(), 1);
        let (mut inside, mut outside) = (Histos::new(), Histos::new());
        r.take_interval(&mut inside, &mut outside);
        // The warm-up's message is kept apart from the measured one.
        assert_eq!(inside.latency.len(), 1);
        assert_eq!(outside.latency.len(), 1);
        assert!(outside.latency.equivalent(outside.latency.max(), 5000));
        assert_eq!(inside.actual.len(), 1);
        assert_eq!(inside.publish_lag.len(), 1);
        r.take_interval(&mut inside, &mut outside);
        assert_eq!(inside.latency.len() + outside.latency.len(), 0);
        // Taking the interval moved the measured message into the totals, once.
        r.messages(0, &[(3, probe(1_600_000_000))], 1_603_000_000);
        let totals = r.totals();
        assert_eq!(totals.latency.len(), 2);
        assert!(totals.latency.equivalent(totals.latency.max(), 3000));
        assert_eq!(totals.actual.len(), 2);
    }
}
