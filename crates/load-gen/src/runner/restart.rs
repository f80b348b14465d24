//! The restart fault's figures: the reconnect storm watched while it happens (the new process's
//! CPU), and afterwards, from when each client connected and subscribed again, how long the
//! way back took and how hard it hit the new process. And, for every fault, the timeline of
//! subscribers subscribed and messages delivered that the report draws around it.

use std::time::{Duration, Instant};

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use pushbench_results::model::{Restart, TimelinePoint, TIMELINE_STEP_S};
use pushbench_results::Traffic;
use tokio_util::sync::CancellationToken;

use crate::client::restart::{Epochs, Storm};
use crate::client::Shared;
use crate::metrics::Recorder;
use crate::process;
use crate::scenario::StopHow;

/// The window over which the storm's peaks (CPU, accepts) are taken.
const WINDOW: Duration = Duration::from_millis(100);

/// What the runner saw of a restart, on the run clock (ns).
#[derive(Debug, Clone)]
pub struct Restarted {
    /// How the server was stopped.
    pub how: StopHow,
    /// The signal.
    pub at_ns: u64,
    /// The old process had exited.
    pub exited_ns: u64,
    /// The new process listened.
    pub listening_ns: u64,
    /// The old process exited cleanly.
    pub clean_exit: bool,
    /// Subscribers connected when the schedule started.
    pub clients: usize,
    /// The new process's highest CPU use over [`WINDOW`], in cores.
    pub peak_cpu: f64,
}

/// Samples the new process `pid`'s CPU every [`WINDOW`] until all `clients` are back, `end`
/// passes or `stop`; returns the highest use seen, in cores.
pub async fn watch_storm(
    pid: u32,
    epochs: &Epochs,
    clients: usize,
    end: Instant,
    stop: &CancellationToken,
) -> f64 {
    let mut peak = 0.0f64;
    let mut last = (Instant::now(), process::sample(pid).map(|s| s.cpu_s));
    while epochs.back_count() < clients && Instant::now() < end && !stop.is_cancelled() {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(WINDOW) => {}
        }
        let now = (Instant::now(), process::sample(pid).map(|s| s.cpu_s));
        if let (Some(before), Some(after)) = (last.1, now.1) {
            let wall = now.0.duration_since(last.0).as_secs_f64();
            if wall > 0.0 {
                peak = peak.max((after - before) / wall);
            }
        }
        last = now;
    }
    peak
}

/// Samples deliveries so far and the fewest subscribers subscribed since the sample before,
/// every [`TIMELINE_STEP_S`] on the run clock, from its start until `stop`.
pub async fn timeline(
    shared: Arc<Shared>,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) -> Vec<TimelinePoint> {
    let step = Duration::from_secs_f64(TIMELINE_STEP_S);
    let mut points = Vec::new();
    let mut next = recorder.clock.start();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return points,
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        let now_ns = recorder.clock.now_ns();
        // The low-water mark starts again from the number subscribed now. A session ending
        // between these two loads lowers the new mark after the swap, which is the next step's.
        let now = shared.subscribed.load(Relaxed);
        let fewest = shared.fewest_subscribed.swap(now, Relaxed).min(now);
        points.push(TimelinePoint {
            t_s: now_ns as f64 / 1e9,
            subscribed: if points.is_empty() { now } else { fewest } as u64,
            delivered: recorder.delivered.load(Relaxed),
        });
        next += step;
    }
}

impl Restarted {
    /// The figures, from the clients' connect and subscribe times and the subscribers' traffic.
    pub fn figures(&self, storm: &Storm, subscribers: &[Traffic]) -> Restart {
        let ms = |ns: u64| ns.saturating_sub(self.at_ns) as f64 / 1e6;
        let mut back = storm.back.clone();
        back.sort_unstable();
        let clients = self.clients as u64;
        // The time by which `share` of the clients were back: the k-th return, k rounded up.
        let by = |share: f64| -> Option<f64> {
            let k = ((clients as f64 * share).ceil() as usize).max(1);
            back.get(k - 1).map(|&t| ms(t))
        };
        Restart {
            at_s: self.at_ns as f64 / 1e9,
            how: match self.how {
                StopHow::Term => "term",
                StopHow::Kill => "kill",
            }
            .into(),
            clean_exit: self.clean_exit,
            stop_ms: ms(self.exited_ns),
            down_ms: ms(self.listening_ns),
            clients,
            back: (back.len() as u64).min(clients),
            never_back: clients.saturating_sub(back.len() as u64),
            back_99_ms: by(0.99),
            back_all_ms: (back.len() as u64 >= clients).then(|| by(1.0)).flatten(),
            connections: storm.connects.len() as u64,
            peak_accept_per_s: peak_rate(&storm.connects, WINDOW),
            peak_cpu: self.peak_cpu,
            interrupted: subscribers.iter().map(|t| t.restart_failures).sum(),
            forgotten: subscribers.iter().map(|t| t.forgotten).sum(),
        }
    }
}

/// The most events in any `window` (times in ns, any order), per second.
fn peak_rate(times: &[u64], window: Duration) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let width = window.as_nanos() as u64;
    let mut most = 0;
    let mut start = 0;
    for (end, &t) in sorted.iter().enumerate() {
        while t - sorted[start] >= width {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most as f64 / window.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_peak_rate_is_the_busiest_window() {
        assert_eq!(peak_rate(&[], WINDOW), 0.0);
        // Three within 100 ms (at 10, 50, 109 ms), the fourth 100 ms after the first.
        let times = [110 * MS, 10 * MS, 50 * MS, 109 * MS, 500 * MS];
        assert_eq!(peak_rate(&times, WINDOW), 30.0);
    }

    #[test]
    fn the_way_back_is_timed_from_the_signal_and_counts_who_never_came() {
        let r = Restarted {
            how: StopHow::Kill,
            at_ns: 1_000 * MS,
            exited_ns: 1_002 * MS,
            listening_ns: 1_050 * MS,
            clean_exit: false,
            clients: 200,
            peak_cpu: 0.7,
        };
        // 199 of 200 back, one every ms from 1,100 ms on.
        let storm = Storm {
            connects: (0..210).map(|i| (1_100 + i) * MS).collect(),
            back: (0..199).rev().map(|i| (1_100 + i) * MS).collect(),
        };
        let traffic = Traffic {
            restart_failures: 3,
            forgotten: 2,
            ..Default::default()
        };
        let f = r.figures(&storm, &[traffic.clone(), traffic]);
        assert_eq!((f.stop_ms, f.down_ms), (2.0, 50.0));
        assert_eq!((f.back, f.never_back), (199, 1));
        // The 198th return (99% of 200) came at 1,297 ms: 297 ms after the signal.
        assert_eq!(f.back_99_ms, Some(297.0));
        assert_eq!(f.back_all_ms, None);
        assert_eq!(f.connections, 210);
        assert_eq!(f.peak_accept_per_s, 1000.0);
        assert_eq!((f.interrupted, f.forgotten), (6, 4));
        assert_eq!(f.how, "kill");
        let all = Storm {
            back: (0..200).map(|i| (1_100 + i) * MS).collect(),
            ..storm
        };
        assert_eq!(r.figures(&all, &[]).back_all_ms, Some(299.0));
    }
}
