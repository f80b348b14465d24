//! The server under test as a child process, and what `/proc` says about it and about us.
//!
//! In the embedded default, load-gen runs push-server as its own child (the same executable,
//! subcommand `push-server`, so one `cargo run` builds both) on free loopback ports, reads the
//! ports from its one stdout line, and stops it with SIGTERM at the end, on error and on Ctrl-C
//! (`kill_on_drop` covers panics). With `--server nchan` it starts nginx with the Nchan module
//! instead ([`ServerProcess::start_nchan`]). CPU time and RSS come from `/proc` and count the
//! server's child processes too (nginx serves from a worker process under its master).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::link::{self, Netns};
use crate::scenario::StopHow;
use std::sync::Arc;

/// A running server child: push-server, or nginx with Nchan.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Its process id, for `/proc` sampling.
    pub pid: u32,
    /// Its HTTP port.
    pub http: SocketAddr,
    /// Its raw TCP port, if it has one.
    pub tcp: Option<SocketAddr>,
    /// Its HTTPS port, if it has one (push-server always does, with a self-signed certificate).
    pub https: Option<SocketAddr>,
    /// Its raw TCP port over TLS, if it has one.
    pub tcp_tls: Option<SocketAddr>,
    /// A directory of the server's own (nginx's prefix), removed when it stops.
    scratch: Option<PathBuf>,
    /// The server's child processes once it was ready (nginx's worker): one that goes away
    /// during the run means a worker died, even if the master replaced it.
    workers: Vec<u32>,
    /// Set once [`ServerProcess::stop`] saw the server exit cleanly on SIGTERM, its children
    /// with it.
    stopped: bool,
    /// How push-server was started, so a restart fault can start it again on the same ports.
    launch: Option<Launch>,
}

/// What starts push-server: load-gen's executable, the flags after the ports, the cores, the log.
#[derive(Debug, Clone)]
struct Launch {
    exe: PathBuf,
    args: Vec<String>,
    cpus: Option<Vec<usize>>,
    log: PathBuf,
    /// The server's side of an emulated link, where it runs and listens on [`link::SERVER`].
    ns: Option<Arc<Netns>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // `kill_on_drop` reaches only the child itself; nginx's worker would outlive its master
        // (killed, crashed, or stopped by a timeout). Linux keeps a process group's id while
        // any member lives, so this reaches only what is left of the server's group.
        // A server without children (push-server) whose process is reaped has no group left,
        // and its id may be reused: only a live one, or a group with workers, is signalled.
        let reaped = self.child.try_wait().ok().flatten().is_some();
        if !self.stopped && (!reaped || !self.workers.is_empty()) {
            kill_group(self.pid);
        }
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// SIGKILL to the process group `pid` leads (our children are started with `process_group(0)`).
fn kill_group(pid: u32) {
    // SAFETY: signalling a process group this process created; ESRCH when it is gone.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
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
        Self::start_in(None, exe, args, cpus, log).await
    }

    /// [`ServerProcess::start`] inside the network namespace `ns` (the server's side of an
    /// emulated link), listening on the link's server address; loopback without one.
    pub async fn start_in(
        ns: Option<Arc<Netns>>,
        exe: Option<&Path>,
        args: &[String],
        cpus: Option<&[usize]>,
        log: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let exe = match exe {
            Some(e) => e.to_owned(),
            None => std::env::current_exe().context("finding load-gen's own executable")?,
        };
        let launch = Launch {
            exe,
            args: args.to_vec(),
            cpus: cpus.map(<[usize]>::to_vec),
            log: log.to_owned(),
            ns,
        };
        let host = match launch.ns {
            Some(_) => link::SERVER,
            None => std::net::Ipv4Addr::LOCALHOST,
        };
        let any = SocketAddr::from((host, 0));
        Self::launch(launch, [any; 4], true).await
    }

    /// Starts push-server as `launch` says, listening on `ports` (HTTP, raw TCP, HTTPS, raw TCP
    /// over TLS; port 0: any), its log started afresh or (a restarted server's) appended to its
    /// predecessor's. The TLS ports are always open, so a scenario's `tls` list runs on one
    /// server; their certificate is generated at start.
    async fn launch(
        launch: Launch,
        ports: [SocketAddr; 4],
        fresh_log: bool,
    ) -> anyhow::Result<ServerProcess> {
        let [http, tcp, https, tcp_tls] = ports;
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(fresh_log)
            .append(!fresh_log)
            .open(&launch.log)
            .with_context(|| format!("creating the server log {}", launch.log.display()))?;
        let log = &launch.log;
        let mut command = Command::new(&launch.exe);
        let cpus = launch.cpus.clone();
        let ns = launch.ns.as_ref().map(|ns| ns.raw_fd());
        if cpus.is_some() || ns.is_some() {
            // SAFETY: between fork and exec the closure makes at most three system calls (setns,
            // prctl and sched_setaffinity, all async-signal-safe) on data copied before the fork;
            // the namespace's descriptor stays open in `launch` until the child has started.
            unsafe {
                command.pre_exec(move || {
                    if let Some(fd) = ns {
                        Netns::enter_in_child(fd)?;
                        // Dies with load-gen, however load-gen ends: a server left running would
                        // keep the link's namespace, and its device, alive.
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    }
                    match &cpus {
                        Some(cpus) => crate::affinity::pin_current_thread(cpus),
                        None => Ok(()),
                    }
                });
            }
        }
        let mut child = command
            .arg("push-server")
            .arg("--http")
            .arg(http.to_string())
            .arg("--tcp")
            .arg(tcp.to_string())
            .arg("--https")
            .arg(https.to_string())
            .arg("--tcp-tls")
            .arg(tcp_tls.to_string())
            .args(&launch.args)
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
        let (https, tcp_tls) = (field("https=")?, field("tcp-tls=")?);
        Ok(ServerProcess {
            child,
            pid,
            http,
            tcp: Some(tcp),
            https: Some(https),
            tcp_tls: Some(tcp_tls),
            scratch: None,
            workers: Vec::new(),
            stopped: false,
            launch: Some(launch),
        })
    }

    /// Starts nginx with the Nchan module on a free loopback port, as configured by
    /// [`crate::nchan::config`] with push-server's defaults and `long_poll_timeout`. The
    /// configuration is written to `conf`; nginx's messages go to `log`. With `cpus`, nginx and
    /// its worker run only on those cores.
    pub async fn start_nchan(
        install: &crate::nchan::Install,
        long_poll_timeout: Duration,
        cpus: Option<&[usize]>,
        conf: &Path,
        log: &Path,
    ) -> anyhow::Result<ServerProcess> {
        Self::start_nginx(&install.nginx, cpus, conf, log, |port, prefix| {
            crate::nchan::config(&crate::nchan::Settings::new(
                install.module.clone(),
                port,
                prefix.to_owned(),
                long_poll_timeout,
            ))
        })
        .await
    }

    /// Starts nginx on a free loopback port with the configuration `config(port, prefix)`
    /// writes (Nchan, or a `--via` proxy), its scratch files under a prefix of its own that is
    /// removed when it stops. The configuration is kept in `conf`; nginx's messages go to `log`.
    pub async fn start_nginx(
        nginx: &Path,
        cpus: Option<&[usize]>,
        conf: &Path,
        log: &Path,
        config: impl FnOnce(u16, &Path) -> String,
    ) -> anyhow::Result<ServerProcess> {
        // A port the kernel just handed out and took back: nginx binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port for nginx")?
            .port();
        let scratch =
            std::env::temp_dir().join(format!("pushbench-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        let written = std::fs::write(conf, config(port, &scratch))
            .with_context(|| format!("writing {}", conf.display()));
        let started = match written {
            Ok(()) => Self::spawn_nginx(nginx, cpus, conf, log, port, &scratch).await,
            Err(e) => Err(e),
        };
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        started
    }

    async fn spawn_nginx(
        nginx: &Path,
        cpus: Option<&[usize]>,
        conf: &Path,
        log: &Path,
        port: u16,
        scratch: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("creating the server log {}", log.display()))?;
        let mut command = Command::new(nginx);
        if let Some(cpus) = cpus {
            let cpus = cpus.to_vec();
            // SAFETY: as in `start`: one async-signal-safe call on data copied before the fork.
            unsafe {
                command.pre_exec(move || crate::affinity::pin_current_thread(&cpus));
            }
        }
        let child = command
            .arg("-p")
            .arg(scratch)
            .arg("-c")
            .arg(std::path::absolute(conf).unwrap_or_else(|_| conf.to_owned()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", nginx.display()))?;
        let pid = child.id().context("nginx exited at once")?;
        let http = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = ServerProcess {
            child,
            pid,
            http,
            tcp: None,
            https: None,
            tcp_tls: None,
            // Removed by `start_nginx` if this fails, by `drop` once it runs.
            scratch: Some(scratch.to_owned()),
            workers: Vec::new(),
            stopped: false,
            launch: None,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            // Ready when it listens and its worker is there: the master listens before it forks
            // the worker, and an idle sample taken earlier would leave the worker's memory out.
            let workers = children(pid);
            if !workers.is_empty() && tokio::net::TcpStream::connect(http).await.is_ok() {
                server.workers = workers;
                return Ok(server);
            }
            let log_text = || std::fs::read_to_string(log).unwrap_or_default();
            if let Some(status) = server.child.try_wait().ok().flatten() {
                server.scratch = None;
                bail!(
                    "nginx exited ({status}) before it listened: {}",
                    log_text().trim()
                );
            }
            if tokio::time::Instant::now() > deadline {
                server.scratch = None;
                bail!(
                    "nginx did not listen on {http} within 15 s: {}",
                    log_text().trim()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How it ended, if it has: a server that exits before it is stopped has failed.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Why the server failed, if it has: it exited, or one of the worker processes it started
    /// with died (nginx's master replaces a dead worker, whose requests and CPU are lost).
    pub fn failure(&mut self) -> Option<String> {
        if let Some(status) = self.exited() {
            return Some(format!("exited during the run ({status})"));
        }
        let now = children(self.pid);
        self.workers
            .iter()
            .find(|w| !now.contains(w))
            .map(|w| format!("lost its worker process {w} during the run"))
    }

    /// SIGTERM, then wait up to 10 s (then kill). Returns whether it exited cleanly.
    pub async fn stop(mut self) -> anyhow::Result<bool> {
        self.halt(StopHow::Term).await
    }

    /// Stops the server as `how` says and waits for it (and its children) to exit: SIGTERM
    /// and up to 10 s (then SIGKILL), or SIGKILL to its process group at once. Returns whether
    /// it exited cleanly (a kill never is).
    pub async fn halt(&mut self, how: StopHow) -> anyhow::Result<bool> {
        if let Some(status) = self.exited() {
            // Reaped already: its pid may belong to another process by now.
            return Ok(status.success());
        }
        if how == StopHow::Kill {
            kill_group(self.pid);
            self.child.wait().await?;
            self.stopped = true;
            return Ok(false);
        }
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        // nginx's master waits for its worker; a server without children just exits.
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                let clean = status?.success();
                // A master that died of a signal on the way out may have left its worker.
                self.stopped = clean;
                Ok(clean)
            }
            Err(_) => {
                kill_group(self.pid);
                let _ = self.child.wait().await;
                self.stopped = true;
                Ok(false)
            }
        }
    }

    /// Starts push-server again as it was started, on the ports it listened on (the previous
    /// process must have exited: [`ServerProcess::halt`]).
    pub async fn relaunch(&self) -> anyhow::Result<ServerProcess> {
        let launch = self
            .launch
            .clone()
            .context("only the embedded push-server can be restarted")?;
        let tcp = self.tcp.context("push-server without a raw TCP port")?;
        let https = self.https.context("push-server without an HTTPS port")?;
        let tcp_tls = self
            .tcp_tls
            .context("push-server without a TLS raw TCP port")?;
        Self::launch(launch, [self.http, tcp, https, tcp_tls], false).await
    }

    /// Stops the server and its children with SIGSTOP (tests use this to make it stall).
    pub fn pause(&self) {
        // SAFETY: signalling the process group our child leads.
        unsafe {
            libc::kill(-(self.pid as i32), libc::SIGSTOP);
        }
    }

    /// Resumes a server stopped with [`ServerProcess::pause`].
    pub fn resume(&self) {
        // SAFETY: signalling the process group our child leads.
        unsafe {
            libc::kill(-(self.pid as i32), libc::SIGCONT);
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

/// Reads `/proc/<pid>` and its child processes' (a server's workers); `None` if the process is
/// gone or `/proc` is unreadable.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let mut total = sample_one(pid)?;
    for child in children(pid) {
        // A child that exits between listing and reading just stops counting.
        if let Some(c) = sample_one(child) {
            total.cpu_s += c.cpu_s;
            total.rss_bytes += c.rss_bytes;
        }
    }
    Some(total)
}

/// The child processes of `pid`, from `/proc/<pid>/task/*/children`, or, on a kernel without
/// that file, from every process's parent in `/proc/*/stat`.
fn children(pid: u32) -> Vec<u32> {
    let listed = std::fs::read_dir(format!("/proc/{pid}/task")).map(|tasks| {
        tasks
            .flatten()
            .map(|t| std::fs::read_to_string(t.path().join("children")))
            .collect::<Result<Vec<String>, _>>()
    });
    if let Ok(Ok(lists)) = listed {
        return lists
            .iter()
            .flat_map(|l| l.split_whitespace().filter_map(|p| p.parse().ok()))
            .collect();
    }
    let Ok(all) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    all.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                // The parent is the second field after the command name, which may hold spaces.
                stat.rfind(')')
                    .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// Reads `/proc/<pid>` for that process alone.
fn sample_one(pid: u32) -> Option<ProcSample> {
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
    // Not `sample`: the embedded server is load-gen's child, and its cost is not load-gen's.
    sample_one(std::process::id()).unwrap_or_default()
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

    #[test]
    fn a_servers_children_count_with_it() {
        use std::io::BufRead;
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(sh.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let sleeper: u32 = line.trim().parse().unwrap();
        let (alone, with) = (sample_one(sh.id()).unwrap(), sample(sh.id()).unwrap());
        let kids = children(sh.id());
        let _ = std::process::Command::new("kill")
            .arg(sleeper.to_string())
            .status();
        let _ = sh.wait();
        assert_eq!(kids, [sleeper]);
        assert!(with.rss_bytes > alone.rss_bytes, "{alone:?} {with:?}");
    }
}
