//! Heartbeats for idle connections, spread over the interval.
//!
//! Every streaming connection gets a heartbeat (an SSE comment, a blank line, a WebSocket ping,
//! a raw-TCP heartbeat frame) once per `--heartbeat-ms`. One timer for the whole server keeps
//! idle connections free of timer entries, but a single tick woke every connection at once: at
//! 19,000 connections that burst of writes held up deliveries and lifted every streaming
//! transport's p99 from about 8 ms to 200–390 ms in that second. So connections are dealt
//! round-robin into [`slots`] slots, and the clock ticks one slot at a time, `interval / slots`
//! apart: each connection still hears one tick per interval, and each tick wakes only its
//! slot's share. A new connection is dealt among the slots due between half an interval and a
//! whole one from now, so its first heartbeat comes no sooner than half an interval after it
//! connected (as with one timer per connection, nothing is sent to a connection that has just
//! been greeted), and a burst of connections spreads over half the slots.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, ReusableBoxFuture};

use crate::woken::OnWake;

/// Most slots per interval: at 19,000 connections, about 19 heartbeats per tick. With 128
/// slots (about 150 per tick) the WebSocket clients' bursts of pongs every 117 ms held
/// load-gen's publishers up to 1.1 ms at p99.
const MAX_SLOTS: usize = 1024;
/// Least time between two ticks: tokio's timers have millisecond resolution.
const MIN_SPACING: Duration = Duration::from_millis(10);

/// How many slots an interval is cut into.
pub fn slots(interval: Duration) -> usize {
    let fit = interval.as_nanos() / MIN_SPACING.as_nanos();
    (fit as usize).clamp(1, MAX_SLOTS)
}

/// The connections' side: hands each new connection the slot it listens to.
#[derive(Debug)]
pub struct Heartbeats {
    slots: Vec<watch::Receiver<u64>>,
    /// Connections dealt so far.
    dealt: AtomicUsize,
    /// Ticks so far: the next tick is slot `ticked % slots`.
    ticked: Arc<AtomicUsize>,
}

impl Heartbeats {
    /// A receiver that changes once per interval, first between half an interval and a whole
    /// one from now (module doc).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        let n = self.slots.len();
        let far = n - n / 2;
        let offset = n / 2 + self.dealt.fetch_add(1, Relaxed) % far;
        let slot = (self.ticked.load(Relaxed) + offset) % n;
        let mut rx = self.slots[slot].clone();
        rx.mark_unchanged();
        rx
    }
}

/// One connection's heartbeat: yields once per tick of its slot, and ends when the clock stops,
/// which it does at shutdown ([`Clock::run`]).
///
/// A streaming connection waits on this alone besides its socket and its subscription, and
/// keeps the one wait armed across every event it serves. Before, each event's `select!` made a
/// heartbeat wait and a shutdown wait anew, registering in and leaving the slot's waiter list
/// and the server-wide shutdown token's: on SSE at 200 subscribers × 100 messages/s
/// (`scenarios/efficiency.toml`) those waits took 5.9% of push-server's CPU samples (`perf`),
/// and 2.5% with this one wait kept armed and shutdown told through the clock. (Keeping both
/// waits armed instead left 4.9%: the shutdown wait was still polled on every wake.) What was
/// left was the armed wait being polled at every message, each poll locking the slot's waiter
/// list to look; behind [`OnWake`] it is polled only when the slot has ticked.
pub type Beat = OnWake<Ticks>;

/// A connection's heartbeat (see [`Beat`]), listening to the slot `rx` belongs to.
pub fn beat(rx: watch::Receiver<u64>) -> Beat {
    OnWake::new(Ticks {
        wait: Some(ReusableBoxFuture::new(changed(rx))),
    })
}

/// The ticks of one slot, as a stream.
pub struct Ticks {
    /// The armed wait for the next tick; `None` once the clock has stopped.
    wait: Option<ReusableBoxFuture<'static, Option<watch::Receiver<u64>>>>,
}

impl std::fmt::Debug for Ticks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticks")
            .field("stopped", &self.wait.is_none())
            .finish()
    }
}

/// Waits for `rx`'s next tick and hands the receiver back; `None` once the clock has stopped.
async fn changed(mut rx: watch::Receiver<u64>) -> Option<watch::Receiver<u64>> {
    rx.changed().await.ok()?;
    Some(rx)
}

impl Stream for Ticks {
    type Item = ();

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let Some(wait) = self.wait.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(wait.poll(cx)) {
            Some(rx) => {
                wait.set(changed(rx));
                Poll::Ready(Some(()))
            }
            None => {
                self.wait = None;
                Poll::Ready(None)
            }
        }
    }
}

/// The clock's side: ticks the slots in turn.
#[derive(Debug)]
pub struct Clock {
    slots: Vec<watch::Sender<u64>>,
    spacing: Duration,
    ticked: Arc<AtomicUsize>,
}

impl Clock {
    /// Ticks until `shutdown`, one slot every `interval / slots`, then drops the slots: every
    /// connection's [`Beat`] then ends, which is how streams learn of the shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.spacing);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        for slot in self.slots.iter().cycle() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {
                    slot.send_modify(|n| *n += 1);
                    self.ticked.fetch_add(1, Relaxed);
                }
            }
        }
    }
}

/// A clock and its receivers for one heartbeat every `interval`.
pub fn new(interval: Duration) -> (Clock, Heartbeats) {
    let n = slots(interval);
    let (senders, receivers) = (0..n).map(|_| watch::channel(0u64)).unzip();
    let ticked = Arc::new(AtomicUsize::new(0));
    let clock = Clock {
        slots: senders,
        spacing: interval / n as u32,
        ticked: ticked.clone(),
    };
    let heartbeats = Heartbeats {
        slots: receivers,
        dealt: AtomicUsize::new(0),
        ticked,
    };
    (clock, heartbeats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_intervals_get_the_most_slots_and_short_ones_fewer() {
        assert_eq!(slots(Duration::from_secs(15)), MAX_SLOTS);
        assert_eq!(slots(Duration::from_millis(50)), 5);
        assert_eq!(slots(Duration::from_millis(5)), 1);
    }

    /// Runs `ticks` ticks of a 4-slot, 40 ms clock; before tick `i`, `joining(i)` connections
    /// subscribe. Returns, per tick, the connections it woke, and per connection the ticks at
    /// which it heard one.
    async fn ticks_heard(
        ticks: usize,
        joining: impl Fn(usize) -> usize,
    ) -> (Vec<usize>, Vec<Vec<usize>>) {
        let (clock, heartbeats) = new(Duration::from_millis(40)); // 4 slots, 10 ms apart
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(clock.run(shutdown.clone()));
        let mut connections = Vec::new();
        let mut heard: Vec<Vec<usize>> = Vec::new();
        let mut woken_per_tick = Vec::new();
        for tick in 0..ticks {
            for _ in 0..joining(tick) {
                connections.push(heartbeats.subscribe());
                heard.push(Vec::new());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            tokio::task::yield_now().await;
            let mut woken = 0;
            for (i, rx) in connections.iter_mut().enumerate() {
                if rx.has_changed().unwrap() {
                    rx.mark_unchanged();
                    heard[i].push(tick);
                    woken += 1;
                }
            }
            woken_per_tick.push(woken);
        }
        shutdown.cancel();
        task.await.unwrap();
        (woken_per_tick, heard)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_connections_first_hears_half_an_interval_on_and_then_once_per_interval() {
        let (woken, heard) = ticks_heard(8, |tick| if tick == 0 { 8 } else { 0 }).await;
        // Dealt over the two slots due half an interval or more from now, never all on one.
        assert_eq!(woken, [0, 0, 4, 4, 0, 0, 4, 4]);
        for ticks in &heard {
            assert!(ticks == &[2, 6] || ticks == &[3, 7], "{ticks:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn connections_arriving_over_time_spread_over_every_slot() {
        let (woken, heard) = ticks_heard(12, |tick| if tick < 4 { 2 } else { 0 }).await;
        // Two joining before each of the first four ticks: from tick 4 on, every tick wakes
        // two, and each connection hears one every four ticks.
        assert_eq!(woken[4..], [2; 8]);
        for ticks in &heard {
            assert!(ticks.windows(2).all(|w| w[1] - w[0] == 4), "{ticks:?}");
        }
    }
}
