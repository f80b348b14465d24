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
