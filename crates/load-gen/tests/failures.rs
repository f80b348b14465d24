//! A run whose server dies is a failed run: never complete, its unpublished messages counted as
//! lost over the schedule, no negative CPU, no blame on load-gen, and a non-zero exit.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{exe, options, target_server, tempdir};
use load_gen::runner;
use load_gen::scenario::Scenario;
use pushbench_results::{Status, TransportResult};
use tokio_util::sync::CancellationToken;

/// Four websocket subscribers on one topic, 50 messages/s for 3 s: 150 scheduled.
const SCENARIO: &str = "description = \"test\"\nseed = 3\ntransports = [\"websocket\"]\nclients = 4\nrate = 50\npattern = \"constant\"\nmessage_size = 64\nduration = \"3s\"\nwarmup = \"0s\"\ndrain = \"1s\"\n";
const SCHEDULED: u64 = 150;
const SUBSCRIBERS: u64 = 4;

fn sigkill(pid: u32) {
    // SAFETY: signalling a server process this test started (directly or through the runner).
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
}

/// The children of this process running load-gen's `push-server` subcommand.
fn embedded_servers() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(me) && String::from_utf8_lossy(&cmdline).contains("push-server")
        })
        .collect()
}

/// What every dead-server run must say, whoever started the server.
fn assert_failed_with_loss_over_the_schedule(t: &TransportResult, error: &str) {
    assert_eq!(t.status, Status::Failed, "{:?}", t.warnings);
    let said = t.error.as_deref().unwrap_or_default();
    assert!(
        said.contains(error),
        "error {said:?} does not say {error:?}"
    );
    let m = &t.messages;
    assert!(m.publish_failed > 0, "{m:?}");
    assert_eq!(
        m.published + m.publish_failed,
        SCHEDULED,
        "every scheduled message is published or failed: {m:?}"
    );
    assert!(
        m.seq.lost >= m.publish_failed * SUBSCRIBERS,
        "each unpublished message is lost to all {SUBSCRIBERS} subscribers: {m:?}"
    );
    assert_eq!(m.expected, SCHEDULED * SUBSCRIBERS, "{m:?}");
    assert!(
        !t.generator_bound,
        "the generator is not blamed for a dead server"
    );
    assert!(t.server.cpu_s >= 0.0 && t.server.cpu_ms_per_1000_msgs >= 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_killed_mid_run_fails_the_run() {
    let results = tempdir("target");
    let (server, target) = target_server(&results).await;
    let s = Scenario::parse(SCENARIO, Path::new("t.toml")).unwrap();
    let opts = options(&results, Some(target));
    let run = tokio::spawn(async move { runner::run(&s, &opts, CancellationToken::new()).await });
    // Killed once the schedule is under way: the hlog appears when the clock starts.
    wait_for_hlog(&results).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    sigkill(server.pid);
    let (summary, _) = run.await.unwrap().unwrap();
    assert!(!summary.complete);
    assert_failed_with_loss_over_the_schedule(&summary.transports[0], "stopped answering");
    std::fs::remove_dir_all(&results).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_server_killed_mid_run_fails_the_run() {
    let results = tempdir("embedded");
    let s = Scenario::parse(SCENARIO, Path::new("t.toml")).unwrap();
    let opts = options(&results, None);
    let run = tokio::spawn(async move { runner::run(&s, &opts, CancellationToken::new()).await });
    wait_for_hlog(&results).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let servers = embedded_servers();
    assert_eq!(servers.len(), 1, "one embedded server: {servers:?}");
    sigkill(servers[0]);
    let (summary, _) = run.await.unwrap().unwrap();
    assert!(!summary.complete);
    assert_failed_with_loss_over_the_schedule(&summary.transports[0], "push-server exited");
    std::fs::remove_dir_all(&results).unwrap();
}

async fn wait_for_hlog(results: &Path) {
    for _ in 0..2000 {
        let started = std::fs::read_dir(results)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .any(|run| run.path().join("websocket.hlog").exists());
        if started {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the run never started");
}

/// With nothing listening at all, the run fails and says so in its exit status.
#[test]
fn a_run_against_no_server_exits_non_zero_with_the_transport_failed() {
    let dir = tempdir("none");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    // A port that was free a moment ago and has no listener now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(exe())
        .arg("run")
        .arg(&scenario)
        .args(["--quiet", "--target", &format!("http://127.0.0.1:{port}")])
        .arg("--results")
        .arg(dir.join("results"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("websocket: failed"), "{stderr}");
    let run = std::fs::read_dir(dir.join("results"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["transports"][0]["status"], "failed");
    std::fs::remove_dir_all(&dir).unwrap();
}
