//! load-gen's runs over the emulated link (`network`): delivery, captures, outages, cores.
//! The link against the kernel's own TCP alone is `link_tcp.rs`. Needs root and /dev/net/tun,
//! as CI has.

mod common;

use std::time::{Duration, Instant};

use load_gen::link::shaper::Direction;
use load_gen::link::{Link, LinkSpec};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A scenario over a link with `rtt`, on `transports`.
fn scenario(transports: &str, rtt: &str) -> load_gen::scenario::Scenario {
    common::link_scenario(transports, rtt, "")
}

/// Over a 100 ms round trip at low load, a raw TCP message takes the one-way delay: the
/// publisher stands beside the server, the subscriber across the link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tcp_latency_at_low_load_is_half_the_round_trip() {
    let results = common::tempdir("link-raw-tcp");
    let s = scenario(r#"["raw-tcp"]"#, "100ms");
    let opts = common::options(&results, None);
    let (summary, _) = load_gen::runner::run(&s, &opts, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    let t = &summary.transports[0];
    common::assert_delivered_once(t);
    let p50 = t.latency.p50_us;
    eprintln!("raw-tcp over 100 ms: p50 {p50} µs, link {:?}", t.link);
    assert!(
        (50_000..=55_000).contains(&p50),
        "p50 {p50} µs over a 100 ms round trip"
    );
    // The link's own figures: what it carried, and its CPU (how late it ran is this
    // machine's, and only reported).
    let link = t.link.as_ref().expect("the link's figures");
    assert!(link.down.packets > 0 && link.up.packets > 0, "{link:?}");
    assert!(link.cpu_s > 0.0 && link.packets_per_cpu_s > 0.0, "{link:?}");
    assert_eq!(link.down.lost + link.up.lost, 0, "{link:?}");
    assert_eq!(t.kernel_difference, [0, 0]);
    std::fs::remove_dir_all(&results).unwrap();
}

/// Every transport delivers every message once across the link, and a packet capture of the
/// link (`--capture`, read by tshark) holds exactly the bytes the summary counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_delivers_over_the_link() {
    let results = common::tempdir("link-all");
    let s = scenario(r#"["all"]"#, "20ms");
    let mut opts = common::options(&results, None);
    opts.server_args = vec!["--sse-retry-ms=100".into()];
    opts.capture = common::can_capture();
    let (summary, dir) =
        load_gen::runner::run(&s, &opts, tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
    for t in &summary.transports {
        assert_eq!(t.error, None, "{}", t.transport);
        if opts.capture {
            let link = t.link.as_ref().expect("the link's figures");
            assert_eq!(
                link.capture_dropped, 0,
                "{}: the capture is whole",
                t.transport
            );
            let (up, down, after_close) =
                common::captured_payload(&dir.join(format!("{}.pcap", t.transport)));
            eprintln!(
                "{}: captured {up} up, {down} down (and {after_close} after the client closed); counted {} up, {} down",
                t.transport,
                t.bytes.up(),
                t.bytes.down()
            );
            assert_eq!(
                (up, down),
                (t.bytes.up(), t.bytes.down()),
                "{}",
                t.transport
            );
        }
        common::assert_delivered_once(t);
        // Messages cross the link: not sooner than its one-way delay.
        assert!(
            t.latency.p50_us >= 10_000,
            "{}: {:?}",
            t.transport,
            t.latency
        );
        assert_eq!(t.kernel_difference, [0, 0], "{}", t.transport);
        assert!(t.link.is_some(), "{}", t.transport);
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// Over TLS too, a capture of the link holds exactly the ciphertext the summary counts, and
/// every message arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_of_tls_runs_holds_exactly_the_counted_bytes() {
    let results = common::tempdir("link-tls");
    let s = common::link_scenario(
        r#"["long-poll", "sse", "websocket", "raw-tcp"]"#,
        "20ms",
        "tls = true\n",
    );
    let mut opts = common::options(&results, None);
    opts.capture = common::can_capture();
    let (summary, dir) =
        load_gen::runner::run(&s, &opts, tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
    assert_eq!(summary.transports.len(), 4);
    for t in &summary.transports {
        let name = &t.transport;
        assert_eq!(t.error, None, "{name}");
        assert!(name.ends_with(":tls") && t.tls.is_some(), "{name}");
        common::assert_delivered_once(t);
        assert_eq!(t.kernel_difference, [0, 0], "{name}");
        if opts.capture {
            let (up, down, _) = common::captured_payload(&dir.join(format!("{name}.pcap")));
            assert_eq!((up, down), (t.bytes.up(), t.bytes.down()), "{name}");
        }
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// load-gen killed outright (SIGKILL: no handler runs) in the middle of a run over a link
/// leaves nothing: its server dies with it, and with the last process in them the namespaces
/// and their devices go.
#[test]
fn a_run_killed_mid_way_leaves_no_server_and_no_namespace() {
    let dir = common::tempdir("link-killed");
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        "description = \"d\"\ntransports = [\"raw-tcp\"]\nclients = 2\nrate = 20\nmessage_size = 16\nduration = \"30s\"\nwarmup = \"0s\"\nnetwork = { rtt = \"20ms\" }\n",
    )
    .unwrap();
    let results = dir.join("results");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_load-gen"))
        .arg("run")
        .arg(&scenario)
        .arg("--quiet")
        .arg("--results")
        .arg(&results)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !std::fs::read_dir(&results)
        .ok()
        .and_then(|mut d| d.next())
        .is_some_and(|run| run.unwrap().path().join("raw-tcp.hlog").exists())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        std::thread::sleep(ms(50));
    }
    std::thread::sleep(ms(500));
    let servers = common::children_of(child.id());
    assert_eq!(servers.len(), 1, "one embedded server under way");
    let server = servers[0];
    let namespace = std::fs::read_link(format!("/proc/{server}/ns/net")).unwrap();
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(namespace, own, "the server runs in a namespace of its own");
    child.kill().unwrap();
    child.wait().unwrap();
    // Bounded: the kernel delivers the server's death signal at once.
    let started = Instant::now();
    let in_namespace = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter(|e| {
                std::fs::read_link(e.path().join("ns/net")).ok().as_ref() == Some(&namespace)
            })
            .count()
    };
    while std::path::Path::new(&format!("/proc/{server}")).exists() || in_namespace() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server (pid {server}) outlived load-gen"
        );
        std::thread::sleep(ms(20));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The link cut for a second mid-run: connections are not closed, TCP retransmits once the link
/// is back, and every message arrives once, late; the run says how late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_an_outage_tcp_delivers_everything_once_after_the_link_returns() {
    let results = common::tempdir("link-outage");
    let text = r#"description = "a one-second outage"
transports = ["long-poll", "sse", "websocket", "raw-tcp"]
clients = 4
topics = 2
rate = 10
message_size = 64
warmup = "500ms"
duration = "3s"
drain = "5s"
network = { rtt = "20ms" }
faults = { outage = { at = "1500ms", for = "1s" } }
"#;
    let s = load_gen::scenario::Scenario::parse(text, std::path::Path::new("outage.toml")).unwrap();
    let opts = common::options(&results, None);
    let (summary, _) = load_gen::runner::run(&s, &opts, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    for t in &summary.transports {
        let name = &t.transport;
        common::assert_delivered_once(t);
        let o = t.outage.as_ref().expect("the outage's figures");
        eprintln!("{name}: {o:?}");
        assert_eq!((o.at_s, o.for_s), (1.5, 1.0), "{name}");
        // The first message after the return comes with TCP's next retransmission: not
        // before the link is back, and within its backed-off timer (a few seconds at most).
        let first = o.first_delivery_ms.expect("a delivery after the return");
        let caught_up = o.caught_up_ms.expect("the outage's messages delivered");
        assert!(first < 5_000.0 && caught_up >= first, "{name}: {o:?}");
        let link = t.link.as_ref().unwrap();
        assert!(
            link.down.cut_drops + link.up.cut_drops > 0,
            "{name}: {link:?}"
        );
        // The timeline shows deliveries stopping during the cut.
        let during: Vec<_> = t
            .timeline
            .windows(2)
            .filter(|w| w[0].t_s >= 1.6 && w[1].t_s <= 2.5)
            .map(|w| w[1].delivered - w[0].delivered)
            .collect();
        assert!(
            !during.is_empty() && during.iter().all(|&d| d == 0),
            "{name}: {during:?}"
        );
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// `--capture` on loopback is refused before anything runs: there is no link to record.
#[tokio::test]
async fn a_capture_without_a_link_is_refused() {
    let results = common::tempdir("link-capture-loopback");
    let text = r#"description = "loopback"
transports = ["sse"]
clients = 1
rate = 1
message_size = 64
duration = "1s"
"#;
    let s = load_gen::scenario::Scenario::parse(text, std::path::Path::new("lo.toml")).unwrap();
    let mut opts = common::options(&results, None);
    opts.capture = true;
    let e = load_gen::runner::run(&s, &opts, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--capture records the emulated link, and lo has no `network`"
    );
    std::fs::remove_dir_all(&results).unwrap();
}

/// Through an outage longer than the clients' heartbeat timeout, every subscriber gives up on
/// its silent connection, reconnects once the link is back and resumes where it was: nothing
/// the server's ring still holds is lost, and the given-up connections are counted apart from
/// errors. Across every transport, long-poll with its hold added to the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_timeout_replaces_connections_an_outage_silenced_and_loses_nothing() {
    let results = common::tempdir("link-heartbeat");
    let text = r#"description = "an outage longer than the heartbeat timeout"
transports = ["all"]
clients = 4
topics = 2
rate = 10
message_size = 64
warmup = "500ms"
duration = "4s"
drain = "8s"
poll_interval = "200ms"
long_poll_timeout = "1s"
network = { rtt = "20ms" }
reconnect = { delay = "50ms", max_delay = "200ms", heartbeat_timeout = "800ms" }
faults = { outage = { at = "1500ms", for = "2s" } }
"#;
    let s = load_gen::scenario::Scenario::parse(text, std::path::Path::new("hb.toml")).unwrap();
    let mut opts = common::options(&results, None);
    // Heartbeats well inside the timeout, so only the outage silences a connection.
    opts.server_args = vec!["--heartbeat-ms=200".into(), "--sse-retry-ms=50".into()];
    let (summary, _) = load_gen::runner::run(&s, &opts, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    for t in &summary.transports {
        let name = &t.transport;
        eprintln!(
            "{name}: {} heartbeat timeouts, {} errors, outage {:?}",
            t.heartbeat_timeouts, t.client_errors, t.outage
        );
        common::assert_delivered_once(t);
        assert!(
            t.heartbeat_timeouts >= 4,
            "{name}: every client gives up on its silent connection at least once ({} times)",
            t.heartbeat_timeouts
        );
        let o = t.outage.as_ref().expect("the outage's figures");
        assert!(o.caught_up_ms.is_some(), "{name}: {o:?}");
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// The cores each thread of the link named `comm` may run on, for every such thread of this
/// process.
fn threads_cores(comm: &str) -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if name.trim() != comm {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if let Some(list) = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        {
            out.push(list.trim().to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn split_cores_put_each_sides_kernel_work_on_its_own_cores() {
    let cpus = load_gen::affinity::available();
    if cpus.len() < 2 {
        eprintln!("skipped: one core, nothing to split");
        return;
    }
    let pinning = load_gen::affinity::split(&cpus, None).unwrap().unwrap();
    let dir = Direction {
        delay: ms(1),
        jitter: Duration::ZERO,
        rate_bps: None,
        queue_bytes: 64 * 1024,
        loss: 0.0,
    };
    let link = Link::start(LinkSpec { down: dir, up: dir }, 1, Some(&pinning)).unwrap();
    let list = |c: &[usize]| {
        let s: Vec<String> = c.iter().map(|c| c.to_string()).collect();
        s.join(",")
    };
    // Each direction's writer is the thread Link::start spawned (named for the direction) and
    // its reader is `link-read`: down is read on the server's cores and written on the clients',
    // up the other way round. Allowed lists as the kernel prints them (ranges for runs).
    let printed = |c: &[usize]| {
        if c.len() > 1 && c.windows(2).all(|w| w[1] == w[0] + 1) {
            format!("{}-{}", c[0], c[c.len() - 1])
        } else {
            list(c)
        }
    };
    let (server, clients) = (printed(&pinning.server), printed(&pinning.generator));
    // The threads pin themselves as they start.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = (vec![], vec![], vec![]);
    while Instant::now() < deadline {
        seen = (
            threads_cores("link-down"),
            threads_cores("link-up"),
            threads_cores("link-read"),
        );
        if seen.0 == [clients.clone()] && seen.1 == [server.clone()] && seen.2.len() == 2 {
            break;
        }
        std::thread::sleep(ms(20));
    }
    let mut readers = vec![server.clone(), clients.clone()];
    readers.sort();
    assert_eq!(
        seen,
        (vec![clients], vec![server], readers),
        "writers down, up; readers"
    );
    link.stop().unwrap();
}
