//! `--server nchan`: load-gen starts nginx with the Nchan module and drives every transport
//! Nchan serves through the `nchan` profile, counting loss, duplicates and bytes as it does for
//! push-server. CI installs nginx and the module (`.ci/run`) and sets
//! `PUSHBENCH_REQUIRE_NCHAN=1`, so there a missing install fails instead of skipping.

mod common;

use std::path::Path;

use common::{assert_delivered_once, options, tempdir};
use load_gen::profile::{ServerKind, NCHAN};
use load_gen::runner;
use load_gen::scenario::Scenario;
use pushbench_results::Status;
use tokio_util::sync::CancellationToken;

/// Six subscribers on two topics, 40 messages/s per topic for 1.5 s, every Nchan transport
/// (multipart-mixed among them, which push-server does not serve).
const SCENARIO: &str = "description = \"nchan\"\nseed = 5\ntransports = [\"short-poll\", \"long-poll\", \"xhr-stream\", \"multipart-mixed\", \"sse\", \"websocket\"]\nclients = 6\ntopics = 2\nrate = 40\npattern = \"constant\"\nmessage_size = 100\nduration = \"1500ms\"\nwarmup = \"200ms\"\ndrain = \"2s\"\npoll_interval = \"50ms\"\n";

/// The tests that start nginx run one at a time: they look for this process's nginx children
/// and its scratch directories, and must not see (or kill) another test's.
static NGINX: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// [`SCENARIO`] with its transports line replaced by `transports` (and any more keys).
fn scenario_with(transports: &str) -> Scenario {
    let text = SCENARIO.replace(
        "transports = [\"short-poll\", \"long-poll\", \"xhr-stream\", \"multipart-mixed\", \"sse\", \"websocket\"]",
        transports,
    );
    Scenario::parse(&text, Path::new("nchan.toml")).unwrap()
}

/// nginx and the module, or `None` (and a note) where they are not installed and not required.
fn installed() -> Option<load_gen::nchan::Install> {
    match load_gen::nchan::find() {
        Ok(i) => Some(i),
        Err(e) if std::env::var_os("PUSHBENCH_REQUIRE_NCHAN").is_some() => panic!("{e}"),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// Scratch directories nginx runs in, left by this process.
fn leftover_scratch() -> Vec<std::path::PathBuf> {
    let prefix = format!("pushbench-nginx-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nchan_transport_delivers_everything_once() {
    let Some(_) = installed() else { return };
    let _serial = NGINX.lock().await;
    let results = tempdir("nchan");
    let scenario = Scenario::parse(SCENARIO, Path::new("nchan.toml")).unwrap();
    let mut opts = options(&results, None);
    opts.servers = vec![ServerKind::Nchan];
    let (summary, dir) = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap();
    let software = summary.setup.server_software.as_deref().unwrap_or_default();
    assert!(software.starts_with("nchan (nginx/"), "{software}");
    let ran: Vec<String> = summary
        .transports
        .iter()
        .map(|t| t.transport.clone())
        .collect();
    let served: Vec<String> = NCHAN.transports().iter().map(|t| t.to_string()).collect();
    assert_eq!(ran, served);
    for t in &summary.transports {
        let m = &t.messages;
        assert_delivered_once(t);
        assert!(m.published >= 100, "{}: {m:?}", t.transport);
        assert_eq!(m.expected, m.published * 3, "{}: {m:?}", t.transport);
        assert_eq!(
            t.client_errors, 0,
            "{}: {:?}",
            t.transport, t.last_client_error
        );
        // Each delivery's payload is the probe body, counted once, whatever the framing.
        assert_eq!(
            t.bytes.payload_down,
            m.seq.delivered * 100,
            "{}: {:?}",
            t.transport,
            t.bytes
        );
        // The kernel's byte count agrees with the phases load-gen attributed.
        assert_eq!(t.kernel_difference, [0, 0], "{}", t.transport);
        assert!(t.server.cpu_s > 0.0, "{}: {:?}", t.transport, t.server);
        let conf = dir.join(format!("{}.nginx.conf", t.transport));
        assert!(
            std::fs::read_to_string(&conf)
                .unwrap()
                .contains("nchan_subscriber"),
            "{}",
            conf.display()
        );
    }
    assert_eq!(leftover_scratch(), Vec::<std::path::PathBuf>::new());
    let _ = std::fs::remove_dir_all(results);
}

/// Processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok())
                == Some(parent)
        })
        .collect()
}

/// The nginx masters this test process started.
fn nginx_masters() -> Vec<u32> {
    children_of(std::process::id())
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "nginx")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_fails_the_run_and_nothing_is_left_behind() {
    let Some(_) = installed() else { return };
    let _serial = NGINX.lock().await;
    let results = tempdir("nchan-worker");
    let text = SCENARIO
        .replace(
            "transports = [\"short-poll\", \"long-poll\", \"xhr-stream\", \"multipart-mixed\", \"sse\", \"websocket\"]",
            "transports = [\"sse\"]",
        )
        .replace("duration = \"1500ms\"", "duration = \"4s\"");
    let scenario = Scenario::parse(&text, Path::new("nchan.toml")).unwrap();
    let mut opts = options(&results, None);
    opts.servers = vec![ServerKind::Nchan];
    let run =
        tokio::spawn(async move { runner::run(&scenario, &opts, CancellationToken::new()).await });
    // Bounded: the worker appears within the run's first seconds or the test fails below.
    let mut killed = None;
    for _ in 0..200 {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        if let Some(worker) = nginx_masters()
            .first()
            .and_then(|m| children_of(*m).first().copied())
        {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            // SAFETY: signalling the nginx worker this test's run started.
            unsafe { libc::kill(worker as i32, libc::SIGKILL) };
            killed = Some(worker);
            break;
        }
    }
    let killed = killed.expect("nginx's worker never appeared");
    let (summary, _) = run.await.unwrap().unwrap();
    let t = &summary.transports[0];
    assert_eq!(t.status, Status::Failed, "{:?}", t.warnings);
    let error = t.error.as_deref().unwrap_or_default();
    assert!(
        error.contains(&format!("lost its worker process {killed}")),
        "{error}"
    );
    assert_eq!(nginx_masters(), Vec::<u32>::new(), "nginx left running");
    assert_eq!(leftover_scratch(), Vec::<std::path::PathBuf>::new());
    let _ = std::fs::remove_dir_all(results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_servers_run_side_by_side_in_one_folder() {
    let Some(_) = installed() else { return };
    let _serial = NGINX.lock().await;
    let results = tempdir("nchan-both");
    let scenario = scenario_with("transports = [\"sse\", \"iframe\"]");
    let mut opts = options(&results, None);
    opts.servers = vec![ServerKind::Pushbench, ServerKind::Nchan];
    let (summary, dir) = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap();
    let software = summary.setup.server_software.as_deref().unwrap_or_default();
    assert!(
        software.starts_with("pushbench, nchan (nginx/"),
        "{software}"
    );
    let mut names: Vec<&str> = summary
        .transports
        .iter()
        .map(|t| t.transport.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["iframe@pushbench", "sse@nchan", "sse@pushbench"]);
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w == "nchan does not serve iframe: skipped"),
        "{:?}",
        summary.warnings
    );
    for t in &summary.transports {
        assert_delivered_once(t);
        assert!(
            dir.join(format!("{}.hlog", t.transport)).is_file(),
            "{}",
            t.transport
        );
    }
    assert!(dir.join("sse@nchan.nginx.conf").is_file());
    assert!(dir.join("report.html").is_file());
    let _ = std::fs::remove_dir_all(results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_judges_only_what_the_server_serves() {
    let Some(_) = installed() else { return };
    let _serial = NGINX.lock().await;
    let results = tempdir("nchan-sweep");
    let scenario = scenario_with("transports = [\"sse\", \"iframe\"]\nsweep = { rate = [20, 40] }\nslo = { p99 = \"2s\", loss = 0 }");
    let sweep = scenario.sweep.clone().expect("the scenario sweeps");
    let mut opts = options(&results, None);
    opts.servers = vec![ServerKind::Nchan];
    let (result, _) = runner::sweep::sweep(&scenario, &sweep, &opts, CancellationToken::new())
        .await
        .unwrap();
    assert!(result.complete, "{result:?}");
    assert_eq!(result.steps.len(), 2);
    let judged: Vec<&str> = result
        .capacity
        .iter()
        .map(|c| c.transport.as_str())
        .collect();
    assert_eq!(judged, ["sse"]);
    assert_eq!(result.capacity[0].capacity, Some(40.0));
    let _ = std::fs::remove_dir_all(results);
}

#[tokio::test]
async fn a_server_that_serves_none_of_the_transports_is_an_error() {
    let Some(_) = installed() else { return };
    let results = tempdir("nchan-none");
    let scenario = scenario_with("transports = [\"iframe\", \"raw-tcp\"]");
    let mut opts = options(&results, None);
    opts.servers = vec![ServerKind::Nchan];
    let err = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nchan does not serve iframe, raw-tcp: skipped, and nothing else"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(results);
}

#[tokio::test]
async fn a_bidirectional_workload_is_refused_before_anything_starts() {
    let results = tempdir("nchan-all");
    let scenario = scenario_with("transports = [\"websocket\"]\ndirection = \"all\"");
    let mut opts = options(&results, None);
    opts.servers = vec![ServerKind::Nchan];
    let err = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("push workloads only"), "{err}");
    let _ = std::fs::remove_dir_all(results);
}
