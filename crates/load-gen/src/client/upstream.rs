//! Publishing through a subscriber's own socket: in bidirectional workloads the WebSocket and
//! raw TCP clients send their messages on the connection they read from, as a browser or game
//! client would. Both use this one piece for the schedule, the probe and the accounting; each
//! only frames and writes the payload its own way.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use pushbench_wire::probe::{self, Probe};

use super::State;
use crate::metrics::{Clock, Recorder};
use crate::pacer::{Pacer, Wake};
use crate::schedule::Schedule;

/// What one client publishes upstream, and when.
pub struct Upstream {
    /// The client's open-loop schedule (the same one its HTTP counterpart POSTs on).
    pub schedule: std::iter::Peekable<Schedule>,
    /// The probe's publisher field: the client's number.
    publisher: u32,
    /// The payload being sent, reused from message to message.
    payload: String,
    /// The pacer's alarm for the next message, kept across the client's reads so each message
    /// sets one alarm, not one per read.
    alarm: Option<(Instant, Wake)>,
    /// A message taken from the schedule whose send has not completed: settled as failed if the
    /// session ends first.
    in_flight: bool,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("publisher", &self.publisher)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Client `publisher`'s upstream on `schedule`.
    pub fn new(schedule: Schedule, publisher: usize) -> Self {
        Upstream {
            schedule: schedule.peekable(),
            publisher: publisher as u32,
            payload: String::new(),
            alarm: None,
            in_flight: false,
        }
    }

    /// Settles what this client will no longer send: a message whose send did not complete and
    /// the rest of its schedule when it stops for good, or only the former when its session
    /// failed and it will reconnect.
    pub fn settle_unsent(&mut self, recorder: &Recorder, stopping: bool) {
        let mut n = u64::from(std::mem::take(&mut self.in_flight));
        if stopping {
            n += self.schedule.by_ref().count() as u64;
        }
        recorder.settle(n);
    }

    /// The next message's payload, stamped with its intended and actual send times; its publish
    /// lag is recorded now, as it goes out.
    pub fn next_payload(&mut self, recorder: &Recorder) -> &str {
        let planned = self
            .schedule
            .next()
            .expect("called only when a message is due");
        let sent_ns = recorder.clock.now_ns();
        probe::write(
            &mut self.payload,
            Probe {
                intended_ns: planned.intended_ns,
                sent_ns,
                publisher: self.publisher,
                seq: None,
            },
            planned.size,
        );
        recorder.published(planned.intended_ns, sent_ns);
        self.in_flight = true;
        &self.payload
    }
}

/// Completes when `upstream`'s next message is due on `clock`, woken by `pacer`; never without
/// an upstream or once its schedule has ended. Cancel-safe: a client's `select!` drops this
/// whenever a read comes first, and the alarm waits in `upstream` for the next call.
pub async fn due(upstream: &mut Option<Upstream>, pacer: &Pacer, clock: Clock) {
    let Some(up) = upstream else {
        return std::future::pending().await;
    };
    let Some(next) = up.schedule.peek() else {
        return std::future::pending().await;
    };
    let at = clock.at(next.intended_ns);
    let alarm = match &mut up.alarm {
        Some((t, alarm)) if *t == at => alarm,
        slot => &mut slot.insert((at, pacer.sleep_until(at))).1,
    };
    alarm.await;
    up.alarm = None;
}

impl State {
    /// An upstream message of `len` payload bytes went out on the socket: counted as payload,
    /// as published by this client, and as published to its topic (no answer will say so).
    pub fn upstream_sent(&mut self, up: &mut Upstream, recorder: &Recorder, len: usize) {
        self.conn.payload_up += len as u64;
        self.report.published += 1;
        recorder.topic_published[self.topic_index].fetch_add(1, Relaxed);
        // Settled after the published count moved, so the drain never sees one without the
        // other.
        up.in_flight = false;
        recorder.settle(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Fanout;
    use crate::scenario::{Pattern, SizeDist};

    /// What the WebSocket and raw TCP clients do with their own upstream, step by step: a send
    /// counts as published before it is settled (so a drain that sees it settled sees it owed),
    /// a send cut off by a failed session is settled as failed, and a client that stops for good
    /// releases the rest of its schedule.
    #[test]
    fn a_socket_client_settles_each_send_after_counting_it_and_releases_the_rest() {
        let clock = Clock::starting_at(Instant::now());
        let recorder = Recorder::new(clock, 1, 0, u64::MAX, Fanout::new(vec![2]), 4);
        // Four messages, 1 ms apart.
        let schedule = Schedule::new(
            1,
            0,
            1,
            1000.0,
            Pattern::Constant,
            SizeDist::Fixed(16),
            4_000_000,
        );
        let mut up = Upstream::new(schedule, 0);
        let mut st = State::new(0, 0);
        let scheduled = || recorder.scheduled.load(Relaxed);
        let published = || recorder.topic_published[0].load(Relaxed);

        let len = up.next_payload(&recorder).len();
        assert_eq!((scheduled(), published()), (4, 0), "taken, not yet sent");
        st.upstream_sent(&mut up, &recorder, len);
        assert_eq!((scheduled(), published()), (3, 1));

        let _ = up.next_payload(&recorder);
        up.settle_unsent(&recorder, false);
        assert_eq!(
            (scheduled(), published()),
            (2, 1),
            "the failed send is settled"
        );
        up.settle_unsent(&recorder, false);
        assert_eq!(scheduled(), 2, "nothing in flight: nothing more to settle");

        up.settle_unsent(&recorder, true);
        assert_eq!(scheduled(), 0, "a stopped client releases its schedule");
        assert_eq!(st.report.published, 1);
        assert_eq!(st.conn.payload_up, 16);
    }
}
