//! What a client does to its own connections when the scenario asks for faults (`faults`), and
//! how long it waits before reconnecting (`reconnect`).
//!
//! A drop is carried out by the socket itself ([`crate::net::Counted::drop_at`]): at the
//! client's next drop time the socket fails its pending read or its next write with
//! [`DroppedByFault`], after a clean `shutdown` or with `SO_LINGER` 0, so every transport's
//! session ends through its usual error path, its bytes counted as for any connection, and
//! [`super::run_subscriber`] reconnects and resumes where it was.

use std::time::Duration;

use crate::scenario::{DropFault, Reconnect};
use crate::schedule::Rng;

/// The error inside the `io::Error` a dropped connection fails with.
#[derive(Debug)]
pub struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the scenario's drop fault")
    }
}

impl std::error::Error for DroppedByFault {}

/// Whether `e`, or anything it was caused by, is a connection dropped by the fault.
pub fn is_dropped(e: &(dyn std::error::Error + 'static)) -> bool {
    caused_by::<DroppedByFault>(e)
}

/// Whether `e`, or anything it was caused by (an `io::Error`'s inner error included), is a `T`.
pub fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.is::<T>()
            || e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<T>())
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Random streams of the scenario's seed, apart from the publish schedules' (which use the
/// stream numbers below 2^32).
const DROP_STREAMS: u64 = 1 << 40;
const BACKOFF_STREAMS: u64 = 2 << 40;

/// When one client drops its connection: times since the run's start, the first uniformly
/// within the first `every`, each next `every` ± `jitter` after the one before, none from
/// `until` on.
#[derive(Debug, Clone)]
pub struct DropSchedule {
    fault: DropFault,
    until: Duration,
    next: Option<Duration>,
    rng: Rng,
}

impl DropSchedule {
    /// Client `client`'s drops in a run seeded with `seed` that drops until `until`.
    pub fn new(fault: DropFault, until: Duration, seed: u64, client: usize) -> Self {
        let mut rng = Rng::new(seed, DROP_STREAMS + client as u64);
        let first = fault.every.mul_f64(rng.unit());
        DropSchedule {
            fault,
            until,
            next: Some(first).filter(|t| *t < until),
            rng,
        }
    }

    /// The next drop, or `None` when there are no more.
    pub fn next(&self) -> Option<Duration> {
        self.next
    }

    /// Moves on to the drop after the next.
    pub fn advance(&mut self) {
        let Some(at) = self.next else { return };
        // Uniform in [-1, 1).
        let spread = 2.0 * self.rng.unit() - 1.0;
        let jitter = self.fault.jitter.as_secs_f64() * spread;
        let gap = Duration::from_secs_f64((self.fault.every.as_secs_f64() + jitter).max(0.0));
        self.next = Some(at + gap).filter(|t| *t < self.until);
    }

    /// Skips the drops due before `now`: a connection opened after its drop time (a client
    /// that was reconnecting) is not dropped for it.
    pub fn skip_until(&mut self, now: Duration) {
        while self.next.is_some_and(|t| t < now) {
            self.advance();
        }
    }
}

/// The waits between one client's reconnect attempts (see [`Reconnect`]).
#[derive(Debug, Clone)]
pub struct Backoff {
    config: Reconnect,
    /// Attempts since the client was last subscribed.
    failed: u32,
    rng: Rng,
}

impl Backoff {
    /// Client `client`'s waits in a run seeded with `seed`.
    pub fn new(config: Reconnect, seed: u64, client: usize) -> Self {
        Backoff {
            config,
            failed: 0,
            rng: Rng::new(seed, BACKOFF_STREAMS + client as u64),
        }
    }

    /// The wait before the next attempt: `delay`, doubled for every attempt since the client
    /// was last subscribed, at most `max_delay`, spread by `jitter`.
    pub fn next_wait(&mut self) -> Duration {
        let base = self
            .config
            .delay
            .saturating_mul(1 << self.failed.min(30))
            .min(self.config.max_delay);
        self.failed = self.failed.saturating_add(1);
        let spread = 1.0 + self.config.jitter * (2.0 * self.rng.unit() - 1.0);
        base.mul_f64(spread.max(0.0))
    }

    /// The client is subscribed again: the next wait starts over from `delay`.
    pub fn subscribed(&mut self) {
        self.failed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::DropHow;

    fn fault(every_ms: u64, jitter_ms: u64) -> DropFault {
        DropFault {
            every: Duration::from_millis(every_ms),
            jitter: Duration::from_millis(jitter_ms),
            how: DropHow::Close,
        }
    }

    #[test]
    fn a_client_drops_every_so_often_on_its_own_phase_until_the_end() {
        let until = Duration::from_secs(60);
        let mut firsts = Vec::new();
        for client in 0..50 {
            let mut s = DropSchedule::new(fault(15_000, 5_000), until, 1, client);
            let mut times = Vec::new();
            while let Some(t) = s.next() {
                times.push(t);
                s.advance();
            }
            assert!(times[0] < Duration::from_secs(15), "{times:?}");
            for pair in times.windows(2) {
                let gap = pair[1] - pair[0];
                assert!(
                    (Duration::from_secs(10)..=Duration::from_secs(20)).contains(&gap),
                    "{times:?}"
                );
            }
            assert!(times.iter().all(|t| *t < until));
            assert!((3..=6).contains(&times.len()), "{times:?}");
            firsts.push(times[0]);
        }
        // Phases are spread, and the same seed gives the same drops.
        firsts.sort();
        assert!(
            firsts[49] - firsts[0] > Duration::from_secs(10),
            "{firsts:?}"
        );
        let again = DropSchedule::new(fault(15_000, 5_000), until, 1, 7);
        assert_eq!(
            again.next(),
            DropSchedule::new(fault(15_000, 5_000), until, 1, 7).next()
        );
        let mut s = DropSchedule::new(fault(1_000, 0), until, 1, 3);
        s.skip_until(Duration::from_millis(10_500));
        assert!(s.next().unwrap() >= Duration::from_millis(10_500));
        assert!(s.next().unwrap() < Duration::from_millis(11_500));
    }

    #[test]
    fn waits_double_up_to_the_longest_and_start_over_once_subscribed() {
        let config = Reconnect {
            delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
            jitter: 0.0,
            heartbeat_timeout: None,
        };
        let mut b = Backoff::new(config, 1, 0);
        let waits: Vec<u128> = (0..6).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        b.subscribed();
        assert_eq!(b.next_wait(), Duration::from_millis(100));
        // With jitter every wait stays within its spread, and they differ.
        let mut b = Backoff::new(
            Reconnect {
                jitter: 0.5,
                ..config
            },
            1,
            0,
        );
        let waits: Vec<Duration> = (0..20)
            .map(|_| {
                b.subscribed();
                b.next_wait()
            })
            .collect();
        assert!(waits
            .iter()
            .all(|w| (Duration::from_millis(50)..=Duration::from_millis(150)).contains(w)));
        assert!(waits.iter().any(|w| *w != waits[0]));
    }

    #[test]
    fn a_drop_is_recognised_through_the_errors_that_wrap_it() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, DroppedByFault);
        assert!(is_dropped(&io));
        let client = super::super::ClientError::Io(io);
        assert!(is_dropped(&client));
        let ws = super::super::ClientError::Ws(tokio_tungstenite::tungstenite::Error::Io(
            std::io::Error::new(std::io::ErrorKind::ConnectionAborted, DroppedByFault),
        ));
        assert!(is_dropped(&ws));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        assert!(!is_dropped(&other));
    }
}
