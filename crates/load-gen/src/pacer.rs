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
//! alarm's oneshot, which wakes the publisher's task directly: no timer-wheel hop. The spin is
//! the price of precision; it runs on load-gen's own threads, so it counts as generator CPU.
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
    next_seq: u64,
}

struct Inner {
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
    /// Starts the alarm thread, spinning for `spin` before each deadline.
    pub fn start(spin: Duration) -> std::io::Result<Pacer> {
        let inner = Arc::new(Inner {
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

    /// Completes at `at` (never before), woken by the alarm thread.
    pub fn sleep_until(&self, at: Instant) -> Wake {
        let (wake, woken) = oneshot::channel();
        let mut a = self.inner.alarms.lock().expect("pacer lock");
        let earliest = a.heap.peek().is_none_or(|Reverse(e)| at < e.at);
        let seq = a.next_seq;
        a.next_seq += 1;
        a.heap.push(Reverse(Alarm { at, seq, wake }));
        if earliest {
            self.inner.changed.notify_one();
        }
        Wake(woken)
    }
}

/// A pending alarm ([`Pacer::sleep_until`]): completes when the pacer fires it, or at once if the
/// pacer has stopped (the run is ending, so there is nothing left to wait for).
#[derive(Debug)]
pub struct Wake(oneshot::Receiver<()>);

impl std::future::Future for Wake {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
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
        let pacer = Pacer::start(SPIN).unwrap();
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
        let pacer = Pacer::start(SPIN).unwrap();
        let late = pacer.sleep_until(Instant::now() + Duration::from_secs(3600));
        let early = pacer.sleep_until(Instant::now() + Duration::from_millis(5));
        tokio::time::timeout(Duration::from_secs(10), early)
            .await
            .expect("the early alarm fired");
        drop(late);
    }

    #[tokio::test]
    async fn a_stopped_pacer_releases_its_sleepers() {
        let pacer = Pacer::start(SPIN).unwrap();
        let sleep = pacer.sleep_until(Instant::now() + Duration::from_secs(3600));
        drop(pacer);
        tokio::time::timeout(Duration::from_secs(10), sleep)
            .await
            .expect("released when the pacer stopped");
    }
}
