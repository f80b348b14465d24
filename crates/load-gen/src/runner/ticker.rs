//! The once-a-second work of a transport's run: moves the interval histograms into the `.hlog`,
//! samples the server's RSS and moves the progress bar.
//!
//! It runs on a thread of its own at the lowest scheduling class (`SCHED_IDLE`), not on the
//! event loop: merging and compressing the interval's histograms takes about half a
//! millisecond, and on the event loop that stalled every client and publisher once a second,
//! which showed as publish lag and as latency that was load-gen's, not the transport's. Here it
//! runs when load-gen's cores have nothing else to do; under full load its intervals may
//! stretch, and each interval's log entry carries its real length.
//!
//! One interval ends exactly at the end of the warm-up ([`next_cut`]), so the warm-up's seconds
//! read apart in the log whatever its length. Each interval is written split: messages intended
//! in the measured window under the plain tags, the others under `hlog::OUTSIDE_TAGS`, so the
//! plain tags added up are exactly the summary's histograms (see `pushbench_results::hlog`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use hdrhistogram::serialization::V2DeflateSerializer;
use indicatif::{ProgressBar, ProgressStyle};
use pushbench_results::hlog;
use pushbench_wire::Transport;

use crate::metrics::{Histos, Recorder};
use crate::process;

/// A running ticker: tell it to stop, then await its peak server RSS.
#[derive(Debug)]
pub struct Ticker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<anyhow::Result<u64>>,
}

impl Ticker {
    /// Writes a last interval, closes the log and returns the largest server RSS it saw.
    pub async fn stop(self) -> anyhow::Result<u64> {
        let _ = self.stop.send(());
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .context("joining the ticker")?
            .map_err(|_| anyhow::anyhow!("the ticker thread panicked"))?
    }
}

/// A progress bar over the transport's warm-up and measured window.
pub fn progress_bar(transport: Transport, seconds: u64) -> ProgressBar {
    let bar = ProgressBar::new(seconds.max(1));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>11} [{bar:30}] {pos}/{len} s  {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(transport.name());
    bar
}

/// Puts the calling thread in the idle scheduling class, so it runs only when its cores would
/// otherwise idle. Best effort: without it the ticker still works, at normal priority.
fn idle_priority() {
    // SAFETY: sched_param is plain data; pid 0 is the calling thread.
    unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

/// When the interval that is open at `elapsed` (run-clock time) closes: every whole second
/// before the warm-up ends, at the warm-up's end, then every second after it.
pub fn next_cut(elapsed: Duration, warmup: Duration) -> Duration {
    const SECOND: Duration = Duration::from_secs(1);
    let whole_seconds = |d: Duration| Duration::from_secs(d.as_secs());
    if elapsed < warmup {
        (whole_seconds(elapsed) + SECOND).min(warmup)
    } else {
        warmup + whole_seconds(elapsed - warmup) + SECOND
    }
}

/// Starts the ticker, writing the interval log to `path`; `pid` is the server to sample (0:
/// none; a restart replaces it) and `warmup` the run-clock time at which the measured window
/// opens.
pub fn spawn(
    recorder: Arc<Recorder>,
    path: PathBuf,
    pid: Arc<AtomicU32>,
    warmup: Duration,
    bar: Option<ProgressBar>,
) -> anyhow::Result<Ticker> {
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("load-gen-ticker".into())
        .spawn(move || -> anyhow::Result<u64> {
            idle_priority();
            let mut file = std::io::BufWriter::new(file);
            let mut serializer = V2DeflateSerializer::new();
            // The log's zero is the run clock's zero, so interval times read as seconds into
            // the run.
            let base = SystemTime::now()
                - Instant::now()
                    .checked_duration_since(recorder.clock.start())
                    .unwrap_or_default();
            let mut writer = hlog::Writer::begin(
                &mut file,
                &mut serializer,
                base,
                "pushbench load-gen interval log; values in microseconds",
                true,
            )?;
            let mut peak = 0u64;
            let mut last_s = 0.0f64;
            let (mut inside, mut outside) = (Histos::new(), Histos::new());
            let start = recorder.clock.start();
            let mut next = start + next_cut(Duration::ZERO, warmup);
            loop {
                let wait = next.saturating_duration_since(Instant::now());
                let stop = !matches!(
                    stopped.recv_timeout(wait),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                // From the cut just due, not from now: a late wake-up (the thread runs at idle
                // priority) shortens the next interval instead of shifting every later cut.
                next = start + next_cut(next.saturating_duration_since(start), warmup);
                let now_s = recorder.clock.now_ns() as f64 / 1e9;
                recorder.take_interval(&mut inside, &mut outside);
                let histograms = inside.tagged(hlog::TAGS);
                let outside_histograms = outside.tagged(hlog::OUTSIDE_TAGS);
                writer
                    .interval(
                        last_s,
                        now_s - last_s,
                        histograms.into_iter().chain(outside_histograms),
                    )
                    .map_err(|e| anyhow::anyhow!("writing the interval log: {e}"))?;
                last_s = now_s;
                let pid = Some(pid.load(Relaxed)).filter(|&p| p != 0);
                if let Some(s) = pid.and_then(process::sample) {
                    peak = peak.max(s.rss_bytes);
                }
                if let Some(bar) = &bar {
                    bar.set_position(now_s as u64);
                    bar.set_message(format!("{} delivered", recorder.delivered.load(Relaxed)));
                }
                if stop {
                    break;
                }
            }
            drop(writer);
            std::io::Write::flush(&mut file)?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            Ok(peak)
        })
        .context("starting the ticker thread")?;
    Ok(Ticker { stop, thread })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_interval_ends_where_the_warmup_ends() {
        // Sub-second warm-up: the first interval is the warm-up, then whole seconds after it.
        assert_eq!(next_cut(ms(0), ms(500)), ms(500));
        assert_eq!(next_cut(ms(500), ms(500)), ms(1500));
        assert_eq!(next_cut(ms(1499), ms(500)), ms(1500));
        assert_eq!(next_cut(ms(1500), ms(500)), ms(2500));
        // Longer, uneven warm-up: whole seconds, a short interval up to its end, then seconds.
        assert_eq!(next_cut(ms(0), ms(2300)), ms(1000));
        assert_eq!(next_cut(ms(1000), ms(2300)), ms(2000));
        assert_eq!(next_cut(ms(2000), ms(2300)), ms(2300));
        assert_eq!(next_cut(ms(2300), ms(2300)), ms(3300));
        // No warm-up: every second from the start.
        assert_eq!(next_cut(ms(0), ms(0)), ms(1000));
        assert_eq!(next_cut(ms(1000), ms(0)), ms(2000));
    }
}
