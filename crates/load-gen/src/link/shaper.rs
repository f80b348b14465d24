//! One direction of the emulated link: IP packets read from one TUN device are written to the
//! other after the link's delay, at its rate, through its drop-tail queue, with its random loss.
//! The model of Mahimahi's delay and link shells, in two threads per direction (see [`run`]).
//!
//! [`Wire`] is the schedule alone (when each packet leaves, or why it is dropped), so it can be
//! tested without devices; [`run`] moves the packets by it and measures itself: how late each
//! packet left against its schedule, and its own CPU time.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tun_rs::SyncDevice;

use crate::schedule::Rng;

/// What one direction does to the packets crossing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Direction {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Each packet's delay varies uniformly by up to this much either way; packets still leave
    /// in the order they came (a packet is never due before the one ahead of it).
    pub jitter: Duration,
    /// Bits per second; `None`: as fast as the packets come.
    pub rate_bps: Option<u64>,
    /// Bytes the queue in front of the link holds (waiting to be serialised) before it drops.
    pub queue_bytes: u64,
    /// Probability that a packet is lost, independently of the others.
    pub loss: f64,
}

/// Why a packet did not cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The random loss took it.
    Loss,
    /// The queue was full (drop-tail).
    Queue,
}

/// The schedule of one direction.
#[derive(Debug)]
pub struct Wire {
    dir: Direction,
    rng: Rng,
    /// When the link finishes serialising the packets admitted so far.
    busy_until: Instant,
    /// When the last packet admitted is due at the far end.
    last_due: Instant,
}

impl Wire {
    /// A direction that draws its losses from `rng`, idle at `now`.
    pub fn new(dir: Direction, rng: Rng, now: Instant) -> Self {
        Wire {
            dir,
            rng,
            busy_until: now,
            last_due: now,
        }
    }

    /// A packet of `len` bytes arrives at `now`: when it is due at the far end, or why it is
    /// dropped. Packets leave in the order they came.
    pub fn admit(&mut self, now: Instant, len: usize) -> Result<Instant, Dropped> {
        if self.dir.loss > 0.0 && self.rng.unit() < self.dir.loss {
            return Err(Dropped::Loss);
        }
        let start = self.busy_until.max(now);
        if let Some(rate) = self.dir.rate_bps {
            // What is still waiting to be serialised, in bytes: the queue's fill.
            let backlog = (start - now).as_secs_f64() * rate as f64 / 8.0;
            if backlog + len as f64 > self.dir.queue_bytes as f64 {
                return Err(Dropped::Queue);
            }
            let serialise = Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
            self.busy_until = start + serialise;
        } else {
            self.busy_until = start;
        }
        let mut delay = self.dir.delay;
        if !self.dir.jitter.is_zero() {
            let spread = self.dir.jitter.as_secs_f64() * (2.0 * self.rng.unit() - 1.0);
            delay = Duration::from_secs_f64((delay.as_secs_f64() + spread).max(0.0));
        }
        self.last_due = (self.busy_until + delay).max(self.last_due);
        Ok(self.last_due)
    }
}

/// When the link is cut (the scenario's outage): every packet that reaches it meanwhile, either
/// way, is dropped. Shared by both directions and set once the run's clock has started.
#[derive(Debug)]
pub struct Cut {
    base: Instant,
    /// From and until, in ns since `base`; `from` is `u64::MAX` while no cut is set.
    from: AtomicU64,
    until: AtomicU64,
}

impl Cut {
    /// No cut yet.
    pub fn new() -> Self {
        Cut {
            base: Instant::now(),
            from: AtomicU64::new(u64::MAX),
            until: AtomicU64::new(0),
        }
    }

    /// Cuts the link from `from` until `until`.
    pub fn set(&self, from: Instant, until: Instant) {
        let ns = |t: Instant| t.saturating_duration_since(self.base).as_nanos() as u64;
        self.until.store(ns(until), Relaxed);
        self.from.store(ns(from), Relaxed);
    }

    /// Whether the link is cut at `now`.
    pub fn covers(&self, now: Instant) -> bool {
        let ns = now.saturating_duration_since(self.base).as_nanos() as u64;
        (self.from.load(Relaxed)..self.until.load(Relaxed)).contains(&ns)
    }
}

impl Default for Cut {
    fn default() -> Self {
        Self::new()
    }
}

/// What one direction did over a run.
#[derive(Debug, Clone)]
pub struct PipeStats {
    /// Packets written to the far end.
    pub packets: u64,
    /// Their bytes (IP headers included).
    pub bytes: u64,
    /// Packets the random loss took.
    pub lost: u64,
    /// Packets the full queue dropped.
    pub queue_drops: u64,
    /// Packets dropped while the link was cut.
    pub cut_drops: u64,
    /// How late packets left against their schedule, in µs.
    pub late_us: Histogram<u64>,
    /// The CPU time of its two threads.
    pub cpu: Duration,
}

/// Moves packets from `input` to `output` by `wire` until `stop`, its threads on `cores`;
/// returns what it did.
///
/// Two threads: this one writes each packet out when it is due, and one it starts reads and
/// schedules them as they come. Apart, because writing a packet into the far end's TUN device
/// also runs that end's receiving TCP stack (tens of µs a packet on this machine), and a burst
/// to 1,000 subscribers, read and written by one thread, left reading, and so the schedule,
/// behind the writing. And apart on two cores when the run is pinned: on one, a broadcast's
/// 1,000 packets a millisecond over `lan` were read and written at half the rate they came
/// (see [`Cores`]).
pub fn run(
    input: &SyncDevice,
    output: &SyncDevice,
    wire: Wire,
    cut: Arc<Cut>,
    stop: Arc<AtomicBool>,
    cores: Cores,
) -> io::Result<PipeStats> {
    let queue = Queue::default();
    std::thread::scope(|s| {
        let reader = std::thread::Builder::new()
            .name("link-read".into())
            .spawn_scoped(s, || {
                pin(&cores.sender);
                read(input, wire, &cut, &queue, &stop)
            })?;
        pin(&cores.receiver);
        let written = write(output, &queue, &stop);
        // The reader stops on the same flag; a writer that failed stops it too.
        stop.store(true, Relaxed);
        let read = reader
            .join()
            .map_err(|_| io::Error::other("the link's reader panicked"))??;
        let mut stats = written?;
        stats.lost = read.lost;
        stats.queue_drops = read.queue_drops;
        stats.cut_drops = read.cut_drops;
        stats.cpu += read.cpu;
        Ok(stats)
    })
}

/// Where a direction's two threads run: each on the cores of the host whose kernel work it
/// does, as a NIC's interrupts run on the host it is in. Reading a packet off the sender's
/// device finishes the sender's transmit; writing it into the receiver's device runs the
/// receiver's TCP stack. `None`: wherever the thread that starts the link may run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cores {
    /// The reader's cores: the sending side's.
    pub sender: Option<Vec<usize>>,
    /// The writer's cores: the receiving side's.
    pub receiver: Option<Vec<usize>>,
}

/// Best effort: a thread left unpinned still carries the packets, and its lateness shows it.
fn pin(cores: &Option<Vec<usize>>) {
    if let Some(c) = cores {
        let _ = crate::affinity::pin_current_thread(c);
    }
}

/// Packets scheduled and not yet written, in the order they are due.
#[derive(Default)]
struct Queue {
    packets: std::sync::Mutex<VecDeque<(Instant, Vec<u8>)>>,
    /// Signalled when a packet joins an empty queue.
    arrived: std::sync::Condvar,
}

// How long a thread with nothing to do waits before looking at `stop` again.
const IDLE: Duration = Duration::from_millis(20);
// A packet due within this much is written now, and the writer sleeps until this much before
// the next one is due: a sleeping thread is woken a few hundred µs late on a busy or virtual
// machine (measured on this project's 2-core VM, connects over a 50 ms link, 700 packets:
// sleeping to the due time left packets 140-260 µs late at p50). Spinning the last stretch
// instead never lets the thread sleep under load, when the next packet is always that close:
// with a 300 µs spin, 1,000 clients over `lte` at 20 messages/s (more than the link carries)
// kept the two real-time threads busy for 12 of the run's 15 s.
const EARLY: Duration = Duration::from_micros(250);

/// The reader: each packet as it comes, timed, dropped or scheduled.
fn read(
    input: &SyncDevice,
    mut wire: Wire,
    cut: &Cut,
    queue: &Queue,
    stop: &AtomicBool,
) -> io::Result<PipeStats> {
    input.set_nonblocking(true)?;
    realtime_priority();
    let mut stats = PipeStats::empty();
    // Long enough for any packet the kernel hands a 1500-byte-MTU device.
    const ROOM: usize = 65_536;
    let mut buf = vec![0; ROOM];
    while !stop.load(Relaxed) {
        wait_readable(input.as_raw_fd(), IDLE)?;
        loop {
            match input.recv(&mut buf) {
                Ok(n) => {
                    let now = Instant::now();
                    if cut.covers(now) {
                        stats.cut_drops += 1;
                        continue;
                    }
                    match wire.admit(now, n) {
                        Ok(due) => {
                            let mut q = queue.packets.lock().expect("link queue");
                            q.push_back((due, buf[..n].to_vec()));
                            // Due no earlier than any before it: only an idle writer needs waking.
                            if q.len() == 1 {
                                queue.arrived.notify_one();
                            }
                        }
                        Err(Dropped::Loss) => stats.lost += 1,
                        Err(Dropped::Queue) => stats.queue_drops += 1,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    stats.cpu = thread_cpu();
    Ok(stats)
}

/// The writer: each packet when it is due, and how late that was.
fn write(output: &SyncDevice, queue: &Queue, stop: &AtomicBool) -> io::Result<PipeStats> {
    realtime_priority();
    let mut stats = PipeStats::empty();
    let mut q = queue.packets.lock().expect("link queue");
    while !stop.load(Relaxed) {
        let now = Instant::now();
        let wait = match q.front() {
            None => IDLE,
            Some((due, _)) if *due <= now + EARLY => Duration::ZERO,
            Some((due, _)) => *due - now - EARLY,
        };
        if !wait.is_zero() {
            q = queue.arrived.wait_timeout(q, wait).expect("link queue").0;
            continue;
        }
        let (due, packet) = q.pop_front().expect("a packet is due");
        drop(q);
        // A packet the far end cannot take now (its queue is full) is lost there, as on a
        // real interface.
        if output.send(&packet).is_ok() {
            stats.packets += 1;
            stats.bytes += packet.len() as u64;
        }
        // Early by up to EARLY counts as on time.
        let late = Instant::now().saturating_duration_since(due);
        let _ = stats.late_us.record(late.as_micros().max(1) as u64);
        q = queue.packets.lock().expect("link queue");
    }
    stats.cpu = thread_cpu();
    Ok(stats)
}

impl PipeStats {
    fn empty() -> Self {
        PipeStats {
            packets: 0,
            bytes: 0,
            lost: 0,
            queue_drops: 0,
            cut_drops: 0,
            late_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds"),
            cpu: Duration::ZERO,
        }
    }
}

/// Puts the calling thread in the real-time class (`SCHED_FIFO`): a packet due now must leave
/// now, not when the generator's threads (which share its cores) next yield. The thread sleeps
/// whenever nothing is due, so it cannot starve them. Best effort: without the privilege it
/// runs at normal priority, and its lateness (`late_us`) shows what that cost.
fn realtime_priority() {
    let param = libc::sched_param { sched_priority: 50 };
    // SAFETY: sched_param is plain data; pid 0 is the calling thread.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
    }
}

/// Waits up to `wait` for `fd` to be readable, to the nanosecond (poll's millisecond timeout
/// would make every packet up to a millisecond late).
fn wait_readable(fd: i32, wait: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: wait.as_secs() as libc::time_t,
        tv_nsec: wait.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one pollfd and a timespec on the stack; no signal mask change.
    let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// The calling thread's CPU time so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_covers_its_window_only() {
        let cut = Cut::new();
        let t0 = Instant::now();
        assert!(!cut.covers(t0 + ms(5)), "no cut set");
        cut.set(t0 + ms(10), t0 + ms(20));
        assert!(!cut.covers(t0 + ms(9)));
        assert!(cut.covers(t0 + ms(10)) && cut.covers(t0 + ms(19)));
        assert!(!cut.covers(t0 + ms(20)));
    }

    #[test]
    fn jitter_spreads_the_delay_both_ways_and_never_reorders() {
        let t0 = Instant::now();
        let dir = Direction {
            delay: ms(50),
            jitter: ms(10),
            rate_bps: None,
            queue_bytes: 0,
            loss: 0.0,
        };
        // Packets 25 ms apart, more than the spread: each gets its own delay.
        let mut w = Wire::new(dir, Rng::new(3, 9), t0);
        let (mut low, mut high) = (false, false);
        for i in 0..200u64 {
            let at = t0 + ms(25 * i);
            let delay = w.admit(at, 100).unwrap() - at;
            assert!(delay >= ms(40) && delay <= ms(60), "{delay:?}");
            low |= delay < ms(45);
            high |= delay > ms(55);
        }
        assert!(low && high, "the spread reached neither end");
        // Packets 0.5 ms apart: none overtakes the one before (it waits for it instead).
        let mut w = Wire::new(dir, Rng::new(3, 9), t0);
        let mut last = t0;
        for i in 0..2_000u64 {
            let at = t0 + Duration::from_micros(500 * i);
            let due = w.admit(at, 100).unwrap();
            assert!(due >= last, "packet {i} would overtake the one before");
            assert!(due - at <= ms(60));
            last = due;
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_packet_leaves_after_its_serialisation_and_the_delay_in_order() {
        let t0 = Instant::now();
        // 1 Mbit/s: 1,250 bytes take 10 ms to serialise.
        let dir = Direction {
            delay: ms(25),
            jitter: Duration::ZERO,
            rate_bps: Some(1_000_000),
            queue_bytes: 4_000,
            loss: 0.0,
        };
        let mut w = Wire::new(dir, Rng::new(1, 1), t0);
        assert_eq!(w.admit(t0, 1250), Ok(t0 + ms(35)));
        // Back to back: it waits for the first to be serialised.
        assert_eq!(w.admit(t0, 1250), Ok(t0 + ms(45)));
        // A third fits (2,500 bytes waiting + 1,250 = 3,750), a fourth does not.
        assert_eq!(w.admit(t0, 1250), Ok(t0 + ms(55)));
        assert_eq!(w.admit(t0, 1250), Err(Dropped::Queue));
        // Once the link is idle again, a packet goes at once.
        assert_eq!(w.admit(t0 + ms(100), 125), Ok(t0 + ms(126)));
    }

    #[test]
    fn without_a_rate_only_the_delay_counts_and_the_loss_is_the_configured_share() {
        let t0 = Instant::now();
        let dir = Direction {
            delay: ms(50),
            jitter: Duration::ZERO,
            rate_bps: None,
            queue_bytes: 0,
            loss: 0.01,
        };
        let mut w = Wire::new(dir, Rng::new(7, 3), t0);
        let mut lost = 0;
        for i in 0..100_000u64 {
            match w.admit(t0 + Duration::from_micros(i), 1500) {
                Ok(due) => assert_eq!(due, t0 + Duration::from_micros(i) + ms(50)),
                Err(Dropped::Loss) => lost += 1,
                Err(Dropped::Queue) => panic!("no queue without a rate"),
            }
        }
        assert!((800..1200).contains(&lost), "{lost} of 100,000");
    }
}
