//! An emulated network link between the server and the clients, packet by packet.
//!
//! [`Link::start`] makes two network namespaces ([`netns`]), one for the server and one for
//! the clients, each with a TUN device (MTU 1500, no offloads) and an address from the
//! benchmarking range 198.18.0.0/15 ([`SERVER`], [`CLIENT`]), and no route anywhere else.
//! Threads of load-gen's own ([`shaper`]) carry each IP packet from one device to the other:
//! after the link's one-way delay, at its rate, through its drop-tail queue, with its seeded
//! random loss, each direction on its own. The kernel's TCP runs unchanged at both ends, so handshakes, slow
//! start, retransmissions and head-of-line blocking are real. With the run's cores split, each
//! thread runs on the cores of the side whose kernel work it does ([`shaper::Cores`]).
//!
//! The server process is started inside the server's namespace; clients create their sockets
//! inside the clients' ([`Netns::enter`]); publishers stand beside the server, in its namespace,
//! as a back end would. [`Link::capture`] records the clients' side with tcpdump ([`capture`]).
//! [`Link::stop`] ends the threads (and the capture) and returns what they did; the namespaces
//! and devices go when the last descriptor and process holding them do.

pub mod capture;
pub mod netns;
pub mod shaper;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
pub use netns::Netns;
use shaper::{Cut, Direction, PipeStats, Wire};

use crate::schedule::Rng;

/// The server's address on the link.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The server's TUN device, in the server's namespace.
pub const SERVER_DEVICE: &str = "pbs0";
/// The clients' TUN device, in the clients' namespace.
pub const CLIENT_DEVICE: &str = "pbc0";
/// The clients' address on the link.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// A link's two directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    /// Server to clients.
    pub down: Direction,
    /// Clients to server.
    pub up: Direction,
}

impl LinkSpec {
    /// The link a scenario's `network` describes: half the round trip each way, the loss each
    /// way, and each rate-limited direction's queue as given, or twice its bandwidth-delay
    /// product (at least 64 KiB), so one TCP flow can fill it.
    pub fn of(n: &crate::scenario::Network) -> LinkSpec {
        let dir = |rate: Option<u64>| Direction {
            delay: n.rtt / 2,
            jitter: n.jitter,
            rate_bps: rate,
            queue_bytes: n.queue.unwrap_or_else(|| {
                let bdp = rate.unwrap_or(0) as f64 * n.rtt.as_secs_f64() / 8.0;
                (2.0 * bdp).max(64.0 * 1024.0) as u64
            }),
            loss: n.loss,
        };
        LinkSpec {
            down: dir(n.down),
            up: dir(n.up),
        }
    }
}

/// Whether this process can make a link: root, and a TUN device to open. The reason if not.
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("a scenario with `network` needs root: load-gen makes network namespaces and TUN devices for the emulated link".into());
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map(drop)
        .map_err(|e| {
            format!("a scenario with `network` needs /dev/net/tun for the emulated link: {e}")
        })
}

/// A running link.
#[derive(Debug)]
pub struct Link {
    /// The server's side.
    pub server: Arc<Netns>,
    /// The clients' side.
    pub clients: Arc<Netns>,
    stop: Arc<AtomicBool>,
    cut: Arc<Cut>,
    threads: Vec<JoinHandle<std::io::Result<PipeStats>>>,
    started: Instant,
    capture: Option<capture::Capture>,
    /// The devices, held past the threads: a TUN device goes when its last descriptor closes,
    /// and a capture of it must stop first or it ends with an error and loses its last packets.
    _devices: Devices,
}

/// The link's two TUN devices, only held.
struct Devices(#[allow(dead_code)] [Arc<tun_rs::SyncDevice>; 2]);

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{SERVER_DEVICE}, {CLIENT_DEVICE}]")
    }
}

impl Drop for Link {
    /// A link dropped without [`Link::stop`] (an error, a panic) still stops its threads.
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

/// What the link did.
#[derive(Debug, Clone)]
pub struct LinkStats {
    /// Server to clients.
    pub down: PipeStats,
    /// Clients to server.
    pub up: PipeStats,
    /// How long it ran.
    pub wall: Duration,
    /// The packet capture of the clients' device, with [`Link::capture`], and the packets the
    /// kernel dropped before tcpdump read them (missing from the file).
    pub capture: Option<(std::path::PathBuf, u64)>,
}

impl Link {
    /// Makes the namespaces and devices and starts carrying packets, losses drawn from `seed`.
    /// With the run's cores split between server and load-gen (`pinning`), each direction's
    /// threads run on the cores of the side whose kernel work they do ([`shaper::Cores`]).
    /// Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and `/dev/net/tun`.
    pub fn start(
        spec: LinkSpec,
        seed: u64,
        pinning: Option<&pushbench_results::model::Pinning>,
    ) -> anyhow::Result<Link> {
        let server = Arc::new(Netns::new().context("making the server's network namespace")?);
        let clients = Arc::new(Netns::new().context("making the clients' network namespace")?);
        let device = |ns: &Netns, name: &str, here: Ipv4Addr, peer: Ipv4Addr| {
            ns.enter(|| {
                tun_rs::DeviceBuilder::new()
                    .name(name)
                    .mtu(1500)
                    .ipv4(here, 32, Some(peer))
                    .build_sync()
            })?
            .with_context(|| format!("making the TUN device {name} (needs /dev/net/tun)"))
        };
        let server_dev = Arc::new(device(&server, SERVER_DEVICE, SERVER, CLIENT)?);
        let client_dev = Arc::new(device(&clients, CLIENT_DEVICE, CLIENT, SERVER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Cut::new());
        let now = Instant::now();
        let pipe = |name: &str,
                    from: &Arc<tun_rs::SyncDevice>,
                    to: &Arc<tun_rs::SyncDevice>,
                    dir: Direction,
                    stream: u64,
                    cpus: shaper::Cores| {
            let (from, to, cut, stop) = (from.clone(), to.clone(), cut.clone(), stop.clone());
            let wire = Wire::new(dir, Rng::new(seed, stream), now);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || shaper::run(&from, &to, wire, cut, stop, cpus))
                .context("starting a link thread")
        };
        let (down, up) = directions_cores(pinning);
        // Loss streams apart from the publish schedules' and the faults'.
        let threads = vec![
            pipe(
                "link-down",
                &server_dev,
                &client_dev,
                spec.down,
                3 << 40,
                down,
            )?,
            pipe(
                "link-up",
                &client_dev,
                &server_dev,
                spec.up,
                (3 << 40) + 1,
                up,
            )?,
        ];
        Ok(Link {
            server,
            clients,
            stop,
            cut,
            threads,
            started: now,
            capture: None,
            _devices: Devices([server_dev, client_dev]),
        })
    }

    /// Records every packet on the clients' device into `path` (pcap) until [`Link::stop`]:
    /// what the clients' kernel sent, and what the link delivered to it, which is what the
    /// summary counts. Returns once the recording has started. Needs `tcpdump`.
    pub fn capture(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
        self.capture = Some(capture::Capture::start(&self.clients, CLIENT_DEVICE, path)?);
        Ok(())
    }

    /// Cuts the link from `from` until `until`: every packet dropped, both ways.
    pub fn cut(&self, from: Instant, until: Instant) {
        self.cut.set(from, until);
    }

    /// Stops carrying packets; returns what each direction did.
    pub fn stop(mut self) -> anyhow::Result<LinkStats> {
        self.stop.store(true, Relaxed);
        let mut stats = Vec::new();
        for t in std::mem::take(&mut self.threads) {
            let s = t
                .join()
                .map_err(|_| anyhow::anyhow!("a link thread panicked"))?
                .context("carrying packets")?;
            stats.push(s);
        }
        let up = stats.pop().expect("two threads");
        let down = stats.pop().expect("two threads");
        let wall = self.started.elapsed();
        // After the threads: every packet they carried is in the file.
        let capture = self.capture.take().map(|c| c.stop()).transpose()?;
        Ok(LinkStats {
            down,
            up,
            wall,
            capture,
        })
    }
}

/// Where each direction's threads run under `pinning` (server to clients, clients to server):
/// the server's side on the server's cores, the clients' on load-gen's.
fn directions_cores(
    pinning: Option<&pushbench_results::model::Pinning>,
) -> (shaper::Cores, shaper::Cores) {
    let Some(p) = pinning else {
        return Default::default();
    };
    let (server, clients) = (Some(p.server.clone()), Some(p.generator.clone()));
    (
        shaper::Cores {
            sender: server.clone(),
            receiver: clients.clone(),
        },
        shaper::Cores {
            sender: clients,
            receiver: server,
        },
    )
}

/// A late packet at p99 beyond this flags the run as link-bound.
pub const LINK_BOUND_LATE: Duration = Duration::from_millis(1);

/// The summary's figures of what the link `network` did.
pub fn figures(
    network: &crate::scenario::NamedNetwork,
    stats: &LinkStats,
) -> pushbench_results::model::LinkResult {
    use pushbench_results::model::{LinkDirection, LinkResult};
    let dir = |p: &PipeStats| LinkDirection {
        packets: p.packets,
        bytes: p.bytes,
        lost: p.lost,
        queue_drops: p.queue_drops,
        cut_drops: p.cut_drops,
        late_p99_us: p.late_us.value_at_quantile(0.99),
        late_max_us: p.late_us.max(),
    };
    let (down, up) = (dir(&stats.down), dir(&stats.up));
    let cpu_s = (stats.down.cpu + stats.up.cpu).as_secs_f64();
    let bound = LINK_BOUND_LATE.as_micros() as u64;
    LinkResult {
        network: network.name.clone(),
        rtt_ms: network.link.rtt.as_secs_f64() * 1e3,
        down_bps: network.link.down,
        up_bps: network.link.up,
        loss: network.link.loss,
        link_bound: down.late_p99_us > bound || up.late_p99_us > bound,
        capture_dropped: stats.capture.as_ref().map_or(0, |c| c.1),
        packets_per_cpu_s: if cpu_s > 0.0 {
            (down.packets + up.packets) as f64 / cpu_s
        } else {
            0.0
        },
        cpu_s,
        down,
        up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Network;

    fn stats(late_us: &[u64]) -> PipeStats {
        let mut late = hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for &l in late_us {
            late.record(l).unwrap();
        }
        PipeStats {
            packets: late_us.len() as u64,
            bytes: 1500 * late_us.len() as u64,
            lost: 1,
            queue_drops: 2,
            cut_drops: 0,
            late_us: late,
            cpu: Duration::from_millis(10),
        }
    }

    #[test]
    fn a_link_that_ran_late_at_p99_is_flagged() {
        let on_time = stats(&[5; 200]);
        let mut late = vec![5; 197];
        late.extend([1_500, 2_000, 3_000]);
        let s = LinkStats {
            down: on_time.clone(),
            up: on_time.clone(),
            wall: Duration::from_secs(1),
            capture: None,
        };
        let lan = crate::scenario::NamedNetwork {
            name: "lan".into(),
            link: crate::scenario::NETWORK_PROFILES[0].1,
        };
        let f = figures(&lan, &s);
        assert!(!f.link_bound);
        assert_eq!(f.packets_per_cpu_s, 400.0 / 0.02);
        assert_eq!((f.down.lost, f.down.queue_drops), (1, 2));
        let f = figures(
            &lan,
            &LinkStats {
                up: stats(&late),
                ..s
            },
        );
        assert!(f.link_bound, "{f:?}");
        assert!(f.up.late_p99_us >= 1_500 && f.up.late_max_us >= 3_000);
    }

    #[test]
    fn each_side_does_its_own_kernel_work_on_its_own_cores() {
        let pinning = pushbench_results::model::Pinning {
            server: vec![1],
            generator: vec![0],
        };
        let (down, up) = directions_cores(Some(&pinning));
        // Server to clients: read off the server's device on its cores, written into the
        // clients' (their TCP receive path) on load-gen's.
        assert_eq!((down.sender, down.receiver), (Some(vec![1]), Some(vec![0])));
        assert_eq!((up.sender, up.receiver), (Some(vec![0]), Some(vec![1])));
        let (down, up) = directions_cores(None);
        assert_eq!((down, up), Default::default());
    }

    #[test]
    fn each_direction_gets_half_the_round_trip_and_a_queue_for_its_rate() {
        let spec = LinkSpec::of(&Network {
            rtt: Duration::from_millis(100),
            jitter: Duration::from_millis(5),
            down: Some(10_000_000),
            up: None,
            loss: 0.01,
            queue: None,
        });
        assert_eq!(spec.down.delay, Duration::from_millis(50));
        assert_eq!(spec.up.jitter, Duration::from_millis(5));
        // Twice 10 Mbit/s × 100 ms.
        assert_eq!(spec.down.queue_bytes, 250_000);
        assert_eq!(spec.up.queue_bytes, 64 * 1024);
        assert_eq!((spec.down.loss, spec.up.loss), (0.01, 0.01));
        let given = LinkSpec::of(&Network {
            queue: Some(3000),
            ..Network {
                rtt: Duration::ZERO,
                jitter: Duration::ZERO,
                down: Some(1_000_000),
                up: Some(1_000_000),
                loss: 0.0,
                queue: None,
            }
        });
        assert_eq!(given.up.queue_bytes, 3000);
    }
}
