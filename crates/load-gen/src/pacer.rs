//! The publishers' alarm clock: one OS thread that wakes each publisher at its intended send
//! time to within tens of microseconds. tokio's timer wheel has 1 ms resolution and fires on
//! the event loop's next turn, so a publisher sleeping on it goes out 0.7–1.7 ms late, and that
//! lateness lands in every latency figure (measured from the intended time) as noise larger
//! than the transports' own differences.
//!
//! How: alarms sit in a heap ordered by deadline. The thread, with its timer slack lowered to
//! 1 ns (`PR_SET_TIMERSLACK`), sleeps on a condition variable until a spin margin ([`SPIN`] by
//! default) before the earliest
//! deadline (a new, earlier alarm wakes it), then spins until the deadline and completes the
//! alarm's oneshot, which wakes the publisher's task directly: no timer-wheel hop. The hand-off
//! to the event loop itself takes tens of microseconds, so the alarm fires up to [`EARLY`]
//! before the publisher's time and the woken task waits out the rest by yielding on the event
//! loop, letting every other ready task run in between ([`Wake`]; the margin shrinks at high
//! alarm rates, [`early_for`]). The spins are the price of precision; they run
//! on load-gen's own threads, so they count as generator CPU.
//! At rates where alarms are closer together than the margin, the thread spins most of the time.
//!
//! A publisher never fires early: a deadline is met at or after its instant, never before, so no
//! latency is shortened by an early send.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long before a deadline the thread stops sleeping and spins, by default: covers the
/// kernel's wake-up latency for a timed futex wait with minimal slack. On this project's 2-core
/// VM, 100 µs left publish lag p99 at 110–380 µs, 200–300 µs brought it to 60–140 µs
/// (README, "Precision"); `load-gen run --pacer-spin-us` changes it.
pub const SPIN: Duration = Duration::from_micros(250);

/// How long before its deadline a task is woken at most, to wait out the rest by yielding, by
/// default. The hand-off from the pacer thread to the event loop took 40–50 µs at the median and
/// up to about 250 µs on this project's 2-core VM; with 200 µs early, publish lag p99 was
/// 1–85 µs (README, "Precision"). `load-gen run --pacer-early-us` changes it.
pub const EARLY: Duration = Duration::from_micros(200);

/// One pending alarm: ordered by deadline, then by arrival so equal deadlines keep their order.
struct Alarm {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Alarm {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Alarm {}
impl PartialOrd for Alarm {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Alarm {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

#[derive(Default)]
struct Alarms {
    heap: BinaryHeap<Reverse<Alarm>>,
    /// Alarms set so far: the sequence of the next one, and the count behind the rate.
    next_seq: u64,
}

struct Inner {
    /// How long before its deadline an alarm wakes its task at most, which spins the rest on the
    /// event loop: covers the hand-off from this thread to the loop.
    early: Duration,
    /// When the pacer started, for the alarm rate that limits the early spin.
    started: Instant,
    alarms: Mutex<Alarms>,
    /// Signalled when an alarm earlier than every other is added, or on stop.
    changed: Condvar,
    stop: AtomicBool,
}

/// The alarm thread. Cloning shares it; the thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct Pacer {
    inner: Arc<Inner>,
    _thread: Arc<Stopper>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").finish_non_exhaustive()
    }
}

/// Stops and joins the thread when the last [`Pacer`] goes.
struct Stopper {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        self.inner.changed.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Pacer {
    /// Starts the alarm thread, spinning for `spin` before each deadline and waking tasks up
    /// to `early` before theirs.
    pub fn start(spin: Duration, early: Duration) -> std::io::Result<Pacer> {
        let inner = Arc::new(Inner {
            early,
            started: Instant::now(),
            alarms: Mutex::new(Alarms::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = std::thread::Builder::new()
            .name("load-gen-pacer".into())
            .spawn({
                let inner = inner.clone();
                move || run(&inner, spin)
            })?;
        Ok(Pacer {
            _thread: Arc::new(Stopper {
                inner: inner.clone(),
                thread: Some(thread),
            }),
            inner,
        })
    }

    /// Completes at `deadline` (never before): woken by the alarm thread a little early, it
    /// spins the rest on the caller's thread (see [`early_for`]).
    pub fn sleep_until(&self, deadline: Instant) -> Wake {
        let (wake, woken) = oneshot::channel();
        let mut a = self.inner.alarms.lock().expect("pacer lock");
        let early = early_for(self.inner.early, a.next_seq, self.inner.started.elapsed());
        let at = deadline.checked_sub(early).unwrap_or(deadline);
        let earliest = a.heap.peek().is_none_or(|Reverse(e)| at < e.at);
        let seq = a.next_seq;
        a.next_seq += 1;
        a.heap.push(Reverse(Alarm { at, seq, wake }));
        if earliest {
            self.inner.changed.notify_one();
        }
        Wake {
            fired: woken,
            deadline,
            due: false,
        }
    }
}

/// A pending alarm ([`Pacer::sleep_until`]): completes at its deadline once the pacer has fired
/// it, or at once if the pacer has stopped (the run is ending, so there is nothing left to wait
/// for).
///
/// Fired early on purpose, it waits out the last stretch by yielding: it asks to be polled again
/// at once and returns `Pending`, so every other task that is ready (a subscriber's read) runs
/// in between and the event loop keeps polling its sockets. A busy spin here would hold the loop
/// and delay deliveries, which would then be measured as the transports' latency.
#[derive(Debug)]
pub struct Wake {
    fired: oneshot::Receiver<()>,
    deadline: Instant,
    /// The pacer has fired: only the deadline is left to wait for.
    due: bool,
}

impl std::future::Future for Wake {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        use std::task::Poll;
        if !self.due {
            match std::pin::Pin::new(&mut self.fired).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => self.due = true,
                // The pacer stopped: nothing to wait for.
                Poll::Ready(Err(_)) => return Poll::Ready(()),
            }
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The share of one core the early spin on the event loop may take: at low rates every alarm
/// gets the whole margin, at high rates it shrinks so the loop keeps its time for clients.
pub const EARLY_BUDGET: f64 = 0.05;

/// How early to wake an alarm's task, given `set` alarms over `elapsed`: `max`, or less when the
/// alarm rate times the margin would exceed [`EARLY_BUDGET`] of a core.
pub fn early_for(max: Duration, set: u64, elapsed: Duration) -> Duration {
    let rate = set as f64 / elapsed.as_secs_f64().max(1.0);
    if rate <= 0.0 {
        return max;
    }
    max.min(Duration::from_secs_f64(EARLY_BUDGET / rate))
}

/// Lowers this thread's timer slack so timed waits end when asked, not up to 50 µs later.
fn lower_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

fn run(inner: &Inner, spin: Duration) {
    lower_timer_slack();

    let mut due = Vec::new();
    loop {
        {
            let mut a = inner.alarms.lock().expect("pacer lock");
            loop {
                if inner.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Some(Reverse(first)) = a.heap.peek() else {
                    a = inner.changed.wait(a).expect("pacer lock");
                    continue;
                };
                let now = Instant::now();
                if first.at <= now + spin {
                    break;
                }
                let nap = first.at - now - spin;
                a = inner.changed.wait_timeout(a, nap).expect("pacer lock").0;
            }
            // Spin to the earliest deadline with the lock released, so publishers can add alarms.
            let first_at = a.heap.peek().map(|Reverse(e)| e.at).expect("checked above");
            drop(a);
            while Instant::now() < first_at {
                std::hint::spin_loop();
            }
            let mut a = inner.alarms.lock().expect("pacer lock");
            let now = Instant::now();
            while a.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
                due.push(a.heap.pop().expect("peeked").0);
            }
        }
        for alarm in due.drain(..) {
            let _ = alarm.wake.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn alarms_fire_in_deadline_order_and_never_early() {
        let pacer = Pacer::start(SPIN, EARLY).unwrap();
        let start = Instant::now();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Added out of order; two share a deadline.
        for (i, ms) in [(0, 30u64), (1, 10), (2, 20), (3, 20), (4, 0)] {
            let at = start + Duration::from_millis(ms);
            let sleep = pacer.sleep_until(at);
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                sleep.await;
                assert!(Instant::now() >= at, "alarm {i} fired early");
                order.lock().unwrap().push(i);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 5);
        assert_eq!(order[0], 4);
        assert_eq!(order[1], 1);
        assert_eq!(order[4], 0);
    }

    #[tokio::test]
    async fn an_earlier_alarm_added_while_the_thread_sleeps_is_not_missed() {
        let pacer = Pacer::start(SPIN, EARLY).unwrap();
        let late = pacer.sleep_until(Instant::now() + Duration::from_secs(3600));
        let early = pacer.sleep_until(Instant::now() + Duration::from_millis(5));
        tokio::time::timeout(Duration::from_secs(10), early)
            .await
            .expect("the early alarm fired");
        drop(late);
    }

    #[test]
    fn the_early_spin_shrinks_with_the_alarm_rate() {
        let max = Duration::from_micros(200);
        // 100 alarms a second: 5% of a core allows 500 µs, so the whole margin.
        assert_eq!(early_for(max, 1_000, Duration::from_secs(10)), max);
        // 10,000 a second: 5 µs each.
        assert_eq!(
            early_for(max, 100_000, Duration::from_secs(10)),
            Duration::from_micros(5)
        );
        // Before a second has passed the rate is taken over one second.
        assert_eq!(early_for(max, 10, Duration::from_millis(1)), max);
        assert_eq!(early_for(max, 0, Duration::ZERO), max);
    }

    #[tokio::test]
    async fn a_stopped_pacer_releases_its_sleepers() {
        let pacer = Pacer::start(SPIN, EARLY).unwrap();
        let sleep = pacer.sleep_until(Instant::now() + Duration::from_secs(3600));
        drop(pacer);
        tokio::time::timeout(Duration::from_secs(10), sleep)
            .await
            .expect("released when the pacer stopped");
    }
}
