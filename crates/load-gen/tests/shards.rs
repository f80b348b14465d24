//! The flow `deploy/k8s/` runs on a cluster, run here with processes: one push-server, four
//! load-gen shards driving it at the same time (`--shard K/4 --target ...`, as the Indexed Job's
//! pods do), then `load-gen report` over the four folders. The merged run must be exactly the
//! four added up: every latency histogram the sum of the shards', every counter their sum.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use pushbench_results::folder;
use pushbench_results::hlog::{LATENCY, TAGS};
use pushbench_test_support::TempDir;

const SHARDS: usize = 4;

/// push-server as the Deployment runs it, on free loopback ports; killed when dropped.
struct Server {
    child: Child,
    http: String,
    tcp: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_load-gen"))
            .args([
                "push-server",
                "--http",
                "127.0.0.1:0",
                "--tcp",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("push-server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // push-server listening http=127.0.0.1:PORT tcp=127.0.0.1:PORT
        let addr = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
                .to_string()
        };
        Server {
            http: addr("http="),
            tcp: addr("tcp="),
            child,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The only folder under `dir`.
fn only_folder(dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

#[test]
fn four_shards_against_one_server_merge_into_their_sum() {
    let tmp = TempDir::new("shards");
    let scenario = tmp.path().join("sharded.toml");
    std::fs::write(
        &scenario,
        "description = \"four shards of 8 topics\"\n\
         transports = [\"sse\", \"websocket\", \"raw-tcp\"]\n\
         clients = 40\ntopics = 8\nrate = 20\nmessage_size = 64\n\
         duration = \"1s\"\nwarmup = \"500ms\"\ndrain = \"2s\"\nseed = 7\n",
    )
    .unwrap();
    let server = Server::start();
    let target = format!("http://{}", server.http);
    // All four at once, each into its own results folder, as the Job's pods write to theirs.
    let shards: Vec<(PathBuf, Child)> = (0..SHARDS)
        .map(|k| {
            let results = tmp.path().join(format!("shard{k}"));
            let child = Command::new(env!("CARGO_BIN_EXE_load-gen"))
                .args([
                    "run",
                    "--quiet",
                    "--target",
                    &target,
                    "--target-tcp",
                    &server.tcp,
                ])
                .arg(format!("--shard={k}/{SHARDS}"))
                .arg("--results")
                .arg(&results)
                .arg(&scenario)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (results, child)
        })
        .collect();
    let mut folders = Vec::new();
    for (results, child) in shards {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a shard failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        folders.push(only_folder(&results));
    }
    let merged_dir = tmp.path().join("merged");
    let status = Command::new(env!("CARGO_BIN_EXE_load-gen"))
        .arg("report")
        .args(&folders)
        .arg("--out")
        .arg(&merged_dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let parts: Vec<folder::Run> = folders.iter().map(|f| folder::load(f).unwrap()).collect();
    let merged = folder::load(&merged_dir).unwrap();
    assert_eq!(
        merged.summary.shard, None,
        "four shards of four are a whole run"
    );
    assert_eq!(merged.summary.transports.len(), 3);
    for t in &merged.summary.transports {
        let name = t.transport.as_str();
        let of = |run: &folder::Run| {
            run.summary
                .transports
                .iter()
                .find(|p| p.transport == name)
                .unwrap()
                .clone()
        };
        let shards: Vec<_> = parts.iter().map(of).collect();
        let sum = |f: &dyn Fn(&pushbench_results::TransportResult) -> u64| -> u64 {
            shards.iter().map(f).sum()
        };
        // Every shard delivered what it owed, so the sums below are of complete runs.
        for s in &shards {
            assert_eq!(s.messages.seq.lost, 0, "{name}");
            assert!(s.messages.seq.delivered > 0, "{name}");
        }
        assert_eq!(t.clients, shards.iter().map(|s| s.clients).sum::<usize>());
        assert_eq!(
            t.messages.published,
            sum(&|s| s.messages.published),
            "{name}"
        );
        assert_eq!(
            t.messages.seq.delivered,
            sum(&|s| s.messages.seq.delivered),
            "{name}"
        );
        assert_eq!(t.messages.seq.lost, 0, "{name}");
        assert_eq!(t.latency.count, sum(&|s| s.latency.count), "{name}");
        assert_eq!(
            t.bytes.payload_down,
            sum(&|s| s.bytes.payload_down),
            "{name}"
        );
        assert_eq!(
            t.bytes.framing_down,
            sum(&|s| s.bytes.framing_down),
            "{name}"
        );
        assert_eq!(t.bytes.headers_up, sum(&|s| s.bytes.headers_up), "{name}");
        // Each histogram of the merged log is the sum of the shards' (same counts at every
        // recorded value), and the summary's percentiles are read from that sum.
        for tag in TAGS {
            let mut expected = pushbench_results::hlog::sum_histogram();
            for p in &parts {
                expected.add(p.logs[name].measured(tag)).unwrap();
            }
            let got = merged.logs[name].measured(tag);
            assert_eq!(got.len(), expected.len(), "{name} {tag}");
            for v in expected.iter_recorded() {
                assert_eq!(
                    got.count_at(v.value_iterated_to()),
                    v.count_at_value(),
                    "{name} {tag} at {} µs",
                    v.value_iterated_to()
                );
            }
        }
        let sum_latency = merged.logs[name].measured(LATENCY);
        assert_eq!(
            t.latency.p99_us,
            sum_latency.value_at_quantile(0.99),
            "{name}"
        );
    }
}
