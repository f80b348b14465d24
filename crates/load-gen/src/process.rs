//! The server under test as a child process, and what `/proc` says about it and about us.
//!
//! In the embedded default, load-gen runs push-server as its own child (the same executable,
//! subcommand `push-server`, so one `cargo run` builds both) on free loopback ports, reads the
//! ports from its one stdout line, and stops it with SIGTERM at the end, on error and on Ctrl-C
//! (`kill_on_drop` covers panics). CPU time and RSS come from `/proc/<pid>/stat` and `status`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running push-server child.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Its process id, for `/proc` sampling.
    pub pid: u32,
    /// Its HTTP port.
    pub http: SocketAddr,
    /// Its raw TCP port.
    pub tcp: SocketAddr,
}

impl ServerProcess {
    /// Starts push-server with `args` (after the port flags), logging to `log`. `exe` is a
    /// load-gen executable (default: this one), run with its `push-server` subcommand.
    /// With `cpus`, the server and every thread it starts run only on those cores.
    pub async fn start(
        exe: Option<&Path>,
        args: &[String],
        cpus: Option<&[usize]>,
        log: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let exe = match exe {
            Some(e) => e.to_owned(),
            None => std::env::current_exe().context("finding load-gen's own executable")?,
        };
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("creating the server log {}", log.display()))?;
        let mut command = Command::new(exe);
        if let Some(cpus) = cpus {
            let cpus = cpus.to_vec();
            // SAFETY: between fork and exec the closure only makes one system call
            // (sched_setaffinity, async-signal-safe) on data copied before the fork.
            unsafe {
                command.pre_exec(move || crate::affinity::pin_current_thread(&cpus));
            }
        }
        let mut child = command
            .arg("push-server")
            .args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .env(
                "RUST_LOG",
                std::env::var("PUSHBENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .kill_on_drop(true)
            // Its own process group: Ctrl-C reaches load-gen, which stops the server in order.
            .process_group(0)
            .spawn()
            .context("starting push-server")?;
        let pid = child.id().context("push-server exited at once")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(15),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            let _ = child.kill().await;
            bail!(
                "push-server did not report its ports within 15 s; see {}",
                log.display()
            );
        }
        let field = |name: &str| -> anyhow::Result<SocketAddr> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .with_context(|| format!("no {name} in push-server's line {line:?}"))?
                .parse()
                .with_context(|| format!("bad address in push-server's line {line:?}"))
        };
        let (http, tcp) = (field("http=")?, field("tcp=")?);
        Ok(ServerProcess {
            child,
            pid,
            http,
            tcp,
        })
    }

    /// How it ended, if it has: a server that exits before it is stopped has failed.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then wait up to 10 s (then kill). Returns whether it exited cleanly.
    pub async fn stop(mut self) -> anyhow::Result<bool> {
        if let Some(status) = self.exited() {
            // Reaped already: its pid may belong to another process by now.
            return Ok(status.success());
        }
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => Ok(status?.success()),
            Err(_) => {
                self.child.kill().await?;
                Ok(false)
            }
        }
    }

    /// Stops the process with SIGSTOP (tests use this to make the server stall).
    pub fn pause(&self) {
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGSTOP);
        }
    }

    /// Resumes a process stopped with [`ServerProcess::pause`].
    pub fn resume(&self) {
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGCONT);
        }
    }
}

/// One reading of a process's cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// User + system CPU time so far, in seconds.
    pub cpu_s: f64,
    /// Resident set size now, in bytes.
    pub rss_bytes: u64,
}

/// CPU time of every live thread of `pid`, in ns, from `/proc/<pid>/task/*/schedstat` (the
/// scheduler's nanosecond runtime; `/proc/<pid>/stat` counts in 10 ms ticks, too coarse for a
/// short run's CPU per 1,000 messages). `None` where schedstat is unavailable.
fn thread_cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread may exit between listing and reading: it just stops counting.
        if let Ok(stat) = std::fs::read_to_string(path) {
            total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// Reads `/proc/<pid>`; `None` if the process is gone or `/proc` is unreadable.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let cpu_s = match thread_cpu_ns(pid) {
        Some(ns) => ns as f64 / 1e9,
        None => {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command name, which is in parentheses and may contain spaces.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            // SAFETY: sysconf has no preconditions.
            let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
            (utime + stime) as f64 / ticks
        }
    };
    Some(ProcSample {
        cpu_s,
        rss_bytes: rss_kb * 1024,
    })
}

/// This process's own CPU time and RSS.
pub fn sample_self() -> ProcSample {
    sample(std::process::id()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        // Spin until our CPU time has grown by 50 ms, however busy the machine is: the reading
        // must follow real work (schedstat has ns resolution; ticks would round). Bounded, so a
        // reading that never moves fails instead of hanging.
        let before = sample_self();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        let mut after = sample_self();
        while after.cpu_s - before.cpu_s < 0.05 && t.elapsed() < Duration::from_secs(20) {
            for _ in 0..100_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            after = sample_self();
        }
        assert!(x > 0);
        assert!(after.rss_bytes > 1024 * 1024);
        assert!(after.cpu_s - before.cpu_s >= 0.05, "{before:?} {after:?}");
    }
}
