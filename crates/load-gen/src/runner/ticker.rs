//! The once-a-second work of a transport's run: moves the interval histograms into the `.hlog`,
//! samples the server's RSS and moves the progress bar.
//!
//! It runs on a thread of its own at the lowest scheduling class (`SCHED_IDLE`), not on the
//! event loop: merging and compressing the interval's histograms takes about half a
//! millisecond, and on the event loop that stalled every client and publisher once a second,
//! which showed as publish lag and as latency that was load-gen's, not the transport's. Here it
//! runs when load-gen's cores have nothing else to do; under full load its intervals may
//! stretch, and each interval's log entry carries its real length.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
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

/// Starts the ticker, writing the interval log to `path`; `pid` is the server to sample.
pub fn spawn(
    recorder: Arc<Recorder>,
    path: PathBuf,
    pid: Option<u32>,
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
            )?;
            let mut peak = 0u64;
            let mut last_s = 0.0f64;
            let mut interval = Histos::new();
            let mut next = Instant::now() + Duration::from_secs(1);
            loop {
                let wait = next.saturating_duration_since(Instant::now());
                let stop = !matches!(
                    stopped.recv_timeout(wait),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                next += Duration::from_secs(1);
                let now_s = recorder.clock.now_ns() as f64 / 1e9;
                recorder.take_interval(&mut interval);
                writer
                    .interval(last_s, now_s - last_s, interval.tagged())
                    .map_err(|e| anyhow::anyhow!("writing the interval log: {e}"))?;
                last_s = now_s;
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
