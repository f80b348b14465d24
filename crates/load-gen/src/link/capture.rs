//! `--capture`: tcpdump records every packet on the clients' TUN device into a pcap file, so
//! what the link carried can be read packet by packet (`tshark -r`, Wireshark), and the
//! summary's byte counts checked against a capture load-gen had no hand in.
//!
//! tcpdump runs inside the clients' namespace, started before the first packet and stopped
//! after the link's threads, so the file holds every packet the clients sent into the link and
//! every packet the link delivered to them: what their sockets, and so the summary, count.
//! (The server's side would also show what was still crossing when the run ended, such as the
//! answers a stopping server gives to held polls.) It runs in immediate mode: libpcap otherwise hands packets over a buffer block at a
//! time, and the last, partly filled block is lost when the capture is stopped (measured with
//! dumpcap: the final WebSocket frames and close frames of every connection were missing). Like
//! the server, it dies with load-gen however load-gen ends.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::Netns;

/// How long tcpdump may take to start capturing.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A running capture.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    /// Reads tcpdump's stderr to the end; returns what it said after it started (its counts).
    said: std::thread::JoinHandle<Vec<String>>,
    /// The pcap file.
    pub path: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `device` inside `ns`, writing `path`; returns once it is capturing.
    pub fn start(ns: &Netns, device: &str, path: &Path) -> anyhow::Result<Capture> {
        let fd = ns.raw_fd();
        let mut command = Command::new("tcpdump");
        // SAFETY: between fork and exec, setns and prctl only: async-signal-safe, on a copied
        // descriptor that `ns` keeps open until the child has started.
        unsafe {
            command.pre_exec(move || {
                Netns::enter_in_child(fd)?;
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            // 64 MiB of kernel buffer: in immediate mode every packet takes a buffer block of
            // its own, and the link's real-time threads can keep tcpdump off the cores for
            // milliseconds (with the default 2 MiB a run under load lost 4 packets).
            .args([
                "-i",
                device,
                "-n",
                "--immediate-mode",
                "-U",
                "-B",
                "65536",
                "-w",
            ])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("starting tcpdump for --capture (Debian's tcpdump package)")?;
        // tcpdump says "tcpdump: listening on <device>" once it is; packets before would be missed.
        let stderr = child.stderr.take().expect("stderr is piped");
        let (started, listening) = mpsc::channel();
        let said = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut started = Some(started);
            // Read to the end: a closed pipe would kill tcpdump (SIGPIPE) at its next word.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if started.is_some() && line.contains("listening on") {
                    let _ = started.take().map(|s| s.send(()));
                    lines.clear();
                } else {
                    lines.push(line);
                }
            }
            lines
        });
        if listening.recv_timeout(TIMEOUT).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            let said = said.join().unwrap_or_default();
            bail!(
                "tcpdump did not start capturing on {device}: {}",
                said.join("\n")
            );
        }
        Ok(Capture {
            child,
            said,
            path: path.to_owned(),
        })
    }

    /// Stops the capture (SIGINT: tcpdump closes the file and counts); returns the file and how
    /// many packets the kernel dropped on their way to tcpdump (the file lacks them). Call it
    /// after the last packet crossed.
    pub fn stop(mut self) -> anyhow::Result<(PathBuf, u64)> {
        // SAFETY: kill sends a signal to our own child, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let status = self.child.wait().context("waiting for tcpdump")?;
        let counts: Vec<String> = self
            .said
            .join()
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.contains("packets"))
            .collect();
        if !status.success() {
            bail!(
                "tcpdump ended with {status}; the capture {} may be incomplete",
                self.path.display()
            );
        }
        let dropped = counts
            .iter()
            .find_map(|l| l.strip_suffix(" packets dropped by kernel"))
            .and_then(|n| n.trim().parse::<u64>().ok());
        match dropped {
            Some(n) => Ok((self.path, n)),
            None => bail!(
                "tcpdump did not say what it captured into {} ({:?})",
                self.path.display(),
                counts
            ),
        }
    }
}
