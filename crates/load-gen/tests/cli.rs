//! The `load-gen` binary: scenario errors are clear and name file, line and field.

mod common;

use common::children_of;

use std::process::Command;

fn validate(name: &str, text: &str) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("pushbench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_load-gen"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `cmd` and asserts it succeeded, showing its stderr when not.
fn succeed(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The one run folder `load-gen run` wrote under `results`.
fn only_folder(results: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

const GOOD: &str = "description = \"d\"\ntransports = [\"sse\"]\nclients = 2\nrate = 1\nmessage_size = 8\nduration = \"1s\"\n";

#[test]
fn every_shipped_scenario_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = succeed(
        Command::new(env!("CARGO_BIN_EXE_load-gen"))
            .arg("validate")
            .args(&files),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches(": ok").count(),
        files.len()
    );
}

#[test]
fn mistakes_name_file_line_and_field() {
    let (code, out, _) = validate("good.toml", GOOD);
    assert_eq!(code, 0);
    assert!(out.contains("good.toml: ok"));
    let cases = [
        (
            GOOD.replace("clients = 2", "clients = 0"),
            ":3: field `clients`: expected at least 1, got 0",
        ),
        (
            GOOD.replace("\"sse\"", "\"websockets\""),
            ":2: field `transports`: unknown transport \"websockets\"",
        ),
        (
            GOOD.replace("\"1s\"", "\"1\""),
            ":6: field `duration`: \"1\" is not a duration",
        ),
        (
            format!("{GOOD}colour = \"blue\"\n"),
            ":7: field `colour`: unknown field",
        ),
        (
            GOOD.replace("rate = 1", "rate = \"fast\""),
            ":4: field `rate`",
        ),
        (
            GOOD.replace("clients = 2\n", ""),
            "field `clients`: missing required field",
        ),
    ];
    for (text, want) in cases {
        let (code, _, err) = validate("bad.toml", &text);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

/// Ctrl-C keeps what ran: the finished transports, the interrupted one marked partial, the run
/// marked incomplete, and the exit code says so.
#[test]
fn ctrl_c_keeps_partial_results() {
    interrupted_run_keeps_partial_results(libc::SIGINT, 130);
}

/// SIGTERM (`kill`) stops a run as Ctrl-C does, and stops the embedded server with it: once
/// a run ignored it and left its server running.
#[test]
fn sigterm_keeps_partial_results_and_leaves_no_server() {
    interrupted_run_keeps_partial_results(libc::SIGTERM, 143);
}

fn interrupted_run_keeps_partial_results(signal: libc::c_int, code: i32) {
    let dir =
        std::env::temp_dir().join(format!("pushbench-signal-{signal}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        "description = \"d\"\ntransports = [\"sse\", \"websocket\", \"raw-tcp\"]\nclients = 2\nrate = 20\nmessage_size = 16\nduration = \"30s\"\nwarmup = \"0s\"\ndrain = \"1s\"\n",
    )
    .unwrap();
    let results = dir.join("results");
    let child = Command::new(env!("CARGO_BIN_EXE_load-gen"))
        .arg("run")
        .arg(&scenario)
        .arg("--quiet")
        // The single-threaded event loop (the default on two cores) must handle Ctrl-C too.
        .args(["--threads", "1"])
        .arg("--results")
        .arg(&results)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first transport is under way (its server log exists), bounded.
    let started = std::time::Instant::now();
    loop {
        let under_way = std::fs::read_dir(&results)
            .ok()
            .and_then(|mut d| d.next())
            .map(|run| run.unwrap().path().join("sse.hlog").exists())
            .unwrap_or(false);
        if under_way {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = child.id();
    let servers = || children_of(pid);
    assert_eq!(servers().len(), 1, "one embedded server under way");
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
    let server = servers()[0];
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{server}")).exists(),
        "the embedded server {server} is still running"
    );
    let run = only_folder(&results);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], false);
    let transports = summary["transports"].as_array().unwrap();
    assert_eq!(transports.len(), 1, "nothing runs after Ctrl-C");
    assert_eq!(transports[0]["transport"], "sse");
    assert_eq!(transports[0]["status"], "partial");
    assert!(transports[0]["messages"]["delivered"].as_u64().unwrap() > 0);
    assert_eq!(transports[0]["generator"]["threads"], 1);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sse"),
        "the table is printed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every key path of a JSON value, array elements folded into `[]`.
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{prefix}.{k}");
                out.insert(path.clone());
                key_paths(v, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                key_paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn summary_json_keeps_the_previous_versions_keys_and_records_the_core_split() {
    let results = std::env::temp_dir().join(format!("pushbench-cli-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    // Two transports keep the test short: every transport's entry has the same keys.
    succeed(
        Command::new(env!("CARGO_BIN_EXE_load-gen"))
            .args([
                "run",
                "--quiet",
                "--transports",
                "sse,short-poll",
                "--results",
            ])
            .arg(&results)
            .arg(format!("{root}/scenarios/quick.toml")),
    );
    let dir = only_folder(&results);
    let keys = |path: std::path::PathBuf| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut set = std::collections::BTreeSet::new();
        key_paths(&v, "", &mut set);
        set
    };
    let now = keys(dir.join("summary.json"));
    let before = keys(
        std::path::Path::new(root).join("crates/results/tests/fixtures/quick-v0/summary.json"),
    );
    // Nothing the previous version wrote may disappear or be renamed.
    assert_eq!(
        before.difference(&now).collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
    // Keys added since, each on purpose: saturation attributed per process, the core split
    // (present when the machine has two cores or more), which server software ran, and
    // HTTP/2's control phase (zero over HTTP/1.1).
    let added = [
        ".transports[].server.cores_used",
        ".transports[].server_bound",
        ".transports[].publish_path_slow",
        ".transports[].messages.unpublished",
        ".transports[].messages.publish_failed",
        ".transports[].generator.rss_per_connection_bytes",
        ".transports[].bytes.control_up",
        ".transports[].bytes.control_down",
        ".transports[].publisher.bytes.control_up",
        ".transports[].publisher.bytes.control_down",
        ".transports[].bytes_per_message.control",
        ".setup.pinning",
        ".setup.pinning.server",
        ".setup.pinning.generator",
        ".setup.server_software",
        ".setup.server_threads",
        ".setup.tcp_congestion_control",
    ];
    // quick.toml repeats every transport: each run's full entry under `runs`, and each
    // aggregate's medians and intervals under `repeats`.
    let repeated = |key: &str| key.starts_with(".runs") || key.starts_with(".transports[].repeat");
    assert!(now.iter().any(|k| repeated(k)), "no repeats in {now:?}");
    for key in now.difference(&before) {
        assert!(
            added.contains(&key.as_str()) || repeated(key),
            "unexpected new key {key}"
        );
    }
    // The interval logs' measured part is exactly the summary's measured window. quick.toml's
    // warm-up is half a second, and the logs once took a whole second as their first interval
    // and kept warm-up messages under the same tags, so the report's charts and merges drew the
    // warm-up's latencies as measured ones.
    let run = pushbench_results::folder::load(&dir).unwrap();
    for t in &run.summary.transports {
        let log = &run.logs[&t.transport];
        assert!(log.split, "{}: the log is not split", t.transport);
        let logged = log.measured(pushbench_results::hlog::LATENCY);
        assert_eq!(logged.len(), t.latency.count, "{}", t.transport);
        assert_eq!(logged.value_at_quantile(0.99), t.latency.p99_us);
    }
    // The split is recorded in setup.json too, and the two sides share no core.
    let setup: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("setup.json")).unwrap()).unwrap();
    // So is the kernel's congestion control, as the kernel says it.
    assert_eq!(
        setup["tcp_congestion_control"].as_str(),
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
            .ok()
            .as_deref()
            .map(str::trim)
    );
    if load_gen::affinity::available().len() >= 2 {
        let cores = |side: &str| -> Vec<u64> {
            setup["pinning"][side]
                .as_array()
                .unwrap_or_else(|| panic!("no pinning.{side} in {setup}"))
                .iter()
                .map(|c| c.as_u64().unwrap())
                .collect()
        };
        let (server, generator) = (cores("server"), cores("generator"));
        assert!(!server.is_empty() && !generator.is_empty());
        assert!(server.iter().all(|c| !generator.contains(c)));
        // The embedded server runs one thread per core it is pinned to.
        assert_eq!(setup["server_threads"].as_u64(), Some(server.len() as u64));
    } else {
        assert!(setup.get("pinning").is_none());
    }
    let _ = std::fs::remove_dir_all(&results);
}
