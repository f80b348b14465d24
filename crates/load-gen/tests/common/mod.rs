//! What the in-process runner tests share: load-gen's own executable (its `push-server`
//! subcommand is the embedded server), run options, and a scratch folder per test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use load_gen::client::Target;
use load_gen::process::ServerProcess;
use load_gen::runner::{self, Options};

pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_load-gen"))
}

/// Options for a run writing under `results`, against `target` or an embedded server.
pub fn options(results: &Path, target: Option<Target>) -> Options {
    Options {
        target,
        results_root: results.to_owned(),
        transports: None,
        server_args: Vec::new(),
        server_exe: Some(exe()),
        progress: false,
        shard: runner::Shard::ALL,
        pacer_spin: load_gen::pacer::SPIN,
        pacer_early: load_gen::pacer::EARLY,
        pinning: None,
        repeat: None,
        servers: vec![load_gen::profile::ServerKind::Pushbench],
        via: vec![load_gen::proxy::Via::Direct],
        capture: false,
    }
}

/// An empty folder of its own for test `name`.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pushbench-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A push-server child for a `--target` run, logging into `results`, and the target it is.
pub async fn target_server(results: &Path) -> (ServerProcess, Target) {
    let server = ServerProcess::start(Some(&exe()), &[], None, &results.join("server.log"))
        .await
        .unwrap();
    let target = Target {
        http: server.http,
        tcp: server.tcp,
        host: server.http.to_string(),
        ns: None,
        tls: None,
    };
    (server, target)
}

/// A transport's run completed and delivered every message it expected exactly once, in order.
pub fn assert_delivered_once(t: &pushbench_results::TransportResult) {
    let m = &t.messages;
    assert_eq!(
        t.status,
        pushbench_results::Status::Complete,
        "{}: {:?}",
        t.transport,
        t.warnings
    );
    assert!(m.published > 0, "{}: {m:?}", t.transport);
    assert_eq!(m.publish_failed, 0, "{}: {m:?}", t.transport);
    assert_eq!(m.seq.delivered, m.expected, "{}: {m:?}", t.transport);
    assert_eq!(
        (m.seq.lost, m.seq.duplicated, m.seq.reordered),
        (0, 0, 0),
        "{}: {m:?}",
        t.transport
    );
}

/// The processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so read after its last `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

/// What tshark prints reading the capture at `path` with `args`.
pub fn tshark(path: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(args)
        .output()
        .expect("tshark (Debian's tshark package)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// TCP payload bytes in the capture at `path`: clients to server, server to clients, and server
/// to clients after the client had closed (its FIN or RST already sent: a server's answer to a
/// held poll as it shuts down, which no client reads and the summary does not count), by
/// tshark, retransmissions left out (the summary counts what the sockets moved once).
pub fn captured_payload(path: &std::path::Path) -> (u64, u64, u64) {
    let fields = tshark(
        path,
        &[
            "-Y",
            "tcp && !tcp.analysis.retransmission",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "ip.src",
            "-e",
            "tcp.len",
            "-e",
            "tcp.flags.fin",
            "-e",
            "tcp.flags.reset",
        ],
    );
    let (mut up, mut down, mut after_close) = (0, 0, 0);
    let mut closed = std::collections::HashSet::new();
    for line in fields.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (stream, src, len) = (f[0], f[1], f[2].parse::<u64>().unwrap());
        let flag = |v: &str| v == "1" || v == "True";
        match src {
            "198.18.0.2" => {
                up += len;
                if flag(f[3]) || flag(f[4]) {
                    closed.insert(stream.to_owned());
                }
            }
            "198.18.0.1" if closed.contains(stream) => after_close += len,
            "198.18.0.1" => down += len,
            other => panic!("a packet from {other} on the link"),
        }
    }
    (up, down, after_close)
}

/// Whether tcpdump and tshark are here for the capture check; without them it is skipped with a
/// note, or fails when `PUSHBENCH_REQUIRE_CAPTURE` is set (as in CI).
pub fn can_capture() -> bool {
    let found = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let (tcpdump, tshark) = (found("tcpdump"), found("tshark"));
    if tcpdump && tshark {
        return true;
    }
    let why = "the capture check needs tcpdump and tshark (apt-get install tcpdump tshark)";
    assert!(
        std::env::var_os("PUSHBENCH_REQUIRE_CAPTURE").is_none(),
        "{why}"
    );
    eprintln!("skipped: {why}");
    false
}

/// A scenario over an emulated link with `rtt` (20 Mbit/s down, 5 up), on `transports`, with
/// `extra` keys.
pub fn link_scenario(transports: &str, rtt: &str, extra: &str) -> load_gen::scenario::Scenario {
    let text = format!(
        r#"description = "over an emulated link"
transports = {transports}
clients = 4
topics = 2
rate = 5
message_size = 64
warmup = "500ms"
duration = "3s"
drain = "2s"
poll_interval = "200ms"
network = {{ rtt = "{rtt}", down = "20Mbit", up = "5Mbit" }}
{extra}"#
    );
    load_gen::scenario::Scenario::parse(&text, std::path::Path::new("link.toml")).unwrap()
}
