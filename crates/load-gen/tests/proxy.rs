//! `--via nginx` and `--via nginx-tuned`: a real nginx reverse proxy between the subscribers
//! and the server. The tuned proxy delivers every transport; the default one breaks what nginx's
//! defaults break, and each run says so by name (with the setting responsible) instead of
//! reporting it as slow. CI installs nginx (`.ci/run`) and sets `PUSHBENCH_REQUIRE_NCHAN=1`, so
//! there a missing install fails instead of skipping.

mod common;

use std::path::Path;

use common::{assert_delivered_once, options, tempdir};
use load_gen::profile::ServerKind;
use load_gen::proxy::Via;
use load_gen::runner;
use load_gen::scenario::Scenario;
use pushbench_results::{Status, TransportResult};
use tokio_util::sync::CancellationToken;

/// Six subscribers on two topics, 40 messages/s per topic for 1.5 s.
const SCENARIO: &str = "description = \"proxy\"\nseed = 5\nclients = 6\ntopics = 2\nrate = 40\npattern = \"constant\"\nmessage_size = 100\nduration = \"1500ms\"\nwarmup = \"200ms\"\ndrain = \"2s\"\npoll_interval = \"50ms\"\n";

/// The tests here start nginx and look for what this process left behind: one at a time.
static NGINX: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scenario(transports: &str) -> Scenario {
    Scenario::parse(
        &format!("transports = {transports}\n{SCENARIO}"),
        Path::new("proxy.toml"),
    )
    .unwrap()
}

/// Whether nginx (and, with `nchan`, the module) is here; a note and `false` where it is not
/// and not required.
fn installed(nchan: bool) -> bool {
    let found = if nchan {
        load_gen::nchan::find().map(|_| ())
    } else {
        load_gen::nginx::find().map(|_| ())
    };
    match found {
        Ok(()) => true,
        Err(e) if std::env::var_os("PUSHBENCH_REQUIRE_NCHAN").is_some() => panic!("{e}"),
        Err(e) => {
            eprintln!("skipped: {e}");
            false
        }
    }
}

/// The nginx processes still running whose parent is this test process.
fn nginx_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1));
            parent == Some(me.as_str())
                && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "nginx")
        })
        .collect()
}

fn named<'a>(summary: &'a pushbench_results::Summary, name: &str) -> &'a TransportResult {
    summary
        .transports
        .iter()
        .find(|t| t.transport == name)
        .unwrap_or_else(|| {
            panic!(
                "no {name} among {:?}",
                summary
                    .transports
                    .iter()
                    .map(|t| &t.transport)
                    .collect::<Vec<_>>()
            )
        })
}

fn broken(t: &TransportResult) -> &str {
    t.proxy
        .as_ref()
        .and_then(|p| p.broken.as_deref())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tuned_proxy_delivers_every_transport_and_the_default_breaks_the_upgrade() {
    if !installed(false) {
        return;
    }
    let _serial = NGINX.lock().await;
    let results = tempdir("proxy");
    let scenario = scenario(
        "[\"short-poll\", \"long-poll\", \"xhr-stream\", \"iframe\", \"sse\", \"websocket\", \"raw-tcp\"]",
    );
    let mut opts = options(&results, None);
    opts.via = vec![Via::Nginx, Via::NginxTuned];
    let (summary, dir) = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap();
    let software = summary.setup.server_software.as_deref().unwrap_or_default();
    assert!(
        software.starts_with("pushbench, via nginx, nginx-tuned (nginx/"),
        "{software}"
    );
    // Raw TCP is not HTTP: it does not go through a proxy, and says so.
    for via in ["nginx", "nginx-tuned"] {
        let note = format!("raw-tcp is not HTTP: it does not go through --via {via}; skipped");
        assert!(summary.warnings.contains(&note), "{:?}", summary.warnings);
    }
    assert_eq!(summary.transports.len(), 12);
    for t in &summary.transports {
        let proxy = t.proxy.as_ref().expect("every run went through a proxy");
        assert!(
            t.transport.ends_with(&format!("+{}", proxy.via)),
            "{}",
            t.transport
        );
        let conf =
            std::fs::read_to_string(dir.join(format!("{}.proxy.conf", t.transport))).unwrap();
        assert!(conf.contains("proxy_pass http://"), "{conf}");
        if t.transport == "websocket@pushbench+nginx" {
            continue;
        }
        assert_delivered_once(t);
        assert_eq!(t.kernel_difference, [0, 0], "{}", t.transport);
        assert_eq!(proxy.broken, None, "{}", t.transport);
        // The proxy's CPU is its own, measured apart from the server's.
        assert!(proxy.cpu_s > 0.0, "{}: {proxy:?}", t.transport);
        assert!(t.server.cpu_s > 0.0, "{}", t.transport);
    }
    // nginx passes neither Upgrade nor Connection on by default: the server refuses a plain GET.
    let ws = named(&summary, "websocket@pushbench+nginx");
    assert_eq!(ws.status, Status::Failed, "{:?}", ws.warnings);
    assert!(broken(ws).starts_with("BROKEN UPGRADE"), "{}", broken(ws));
    assert!(
        broken(ws).contains("proxy_set_header Upgrade"),
        "{}",
        broken(ws)
    );
    assert!(broken(ws).contains("400"), "{}", broken(ws));
    assert_eq!(ws.error.as_deref(), Some(broken(ws)));
    // push-server answers its streams with X-Accel-Buffering: no, so the default proxy's
    // buffering does not hold them (each delivered once, above).
    assert_eq!(nginx_children(), Vec::<u32>::new(), "nginx left running");
    let _ = std::fs::remove_dir_all(results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_proxy_buffers_nchans_streams_and_drops_its_te_header() {
    if !installed(true) {
        return;
    }
    let _serial = NGINX.lock().await;
    let results = tempdir("proxy-nchan");
    let scenario = scenario("[\"xhr-stream\", \"sse\"]");
    let mut opts = options(&results, None);
    opts.servers = vec![ServerKind::Nchan];
    opts.via = vec![Via::Nginx, Via::NginxTuned];
    let (summary, _) = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap();
    // Nchan sends no X-Accel-Buffering: nginx holds its event stream, the response head too,
    // until a buffer fills, so no subscriber is ready when the schedule starts.
    let sse = named(&summary, "sse@nchan+nginx");
    assert_eq!(sse.status, Status::Failed, "{:?}", sse.warnings);
    assert!(broken(sse).starts_with("BUFFERED"), "{}", broken(sse));
    assert!(broken(sse).contains("proxy_buffering"), "{}", broken(sse));
    assert_delivered_once(named(&summary, "sse@nchan+nginx-tuned"));
    // Nchan picks its chunked subscriber by `TE: chunked`, a hop-by-hop header neither proxy
    // passes on: both configurations break it, and say which header.
    for name in ["xhr-stream@nchan+nginx", "xhr-stream@nchan+nginx-tuned"] {
        let t = named(&summary, name);
        assert_eq!(t.status, Status::Failed, "{name}: {:?}", t.warnings);
        assert!(
            broken(t).starts_with("HOP-BY-HOP HEADER DROPPED") && broken(t).contains("te: chunked"),
            "{name}: {}",
            broken(t)
        );
    }
    assert_eq!(nginx_children(), Vec::<u32>::new(), "nginx left running");
    let _ = std::fs::remove_dir_all(results);
}

#[tokio::test]
async fn a_sweep_through_a_proxy_is_refused_before_anything_runs() {
    let results = tempdir("proxy-sweep");
    let scenario = Scenario::parse(
        &format!("transports = [\"sse\"]\n{SCENARIO}sweep = {{ rate = [20, 40] }}\nslo = {{ p99 = \"2s\", loss = 0 }}\n"),
        Path::new("proxy.toml"),
    )
    .unwrap();
    let sweep = scenario.sweep.clone().expect("the scenario sweeps");
    let mut opts = options(&results, None);
    opts.via = vec![Via::NginxTuned];
    let err = runner::sweep::sweep(&scenario, &sweep, &opts, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--via is not supported in sweeps"), "{err}");
    assert_eq!(std::fs::read_dir(&results).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(results);
}

/// nginx's default `proxy_read_timeout` (60 s) ends what is quiet longer: a long poll held 70 s
/// is answered 504, and an SSE stream whose heartbeat comes every 130 s is cut mid-body. Both
/// runs say IDLE DISCONNECTS and name the setting, not just "the server ended the stream". One
/// message at the start, then a minute of silence: this test takes two minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_proxy_ends_what_is_quiet_longer_than_its_read_timeout() {
    if !installed(false) {
        return;
    }
    let _serial = NGINX.lock().await;
    let results = tempdir("proxy-idle");
    let text = "transports = [\"long-poll\", \"sse\"]\ndescription = \"idle\"\nseed = 5\nclients = 2\ntopics = 1\nrate = 0.01\npattern = \"constant\"\nmessage_size = 100\nduration = \"63s\"\nwarmup = \"0s\"\ndrain = \"1s\"\nlong_poll_timeout = \"70s\"\nreconnect = { heartbeat_timeout = \"0s\" }\n";
    let scenario = Scenario::parse(text, Path::new("idle.toml")).unwrap();
    let mut opts = options(&results, None);
    opts.via = vec![Via::Nginx];
    // A connection's first heartbeat comes between half an interval and a whole one after it
    // connected: at 130 s, not before 65 s, so the stream is quiet past the proxy's 60 s. The
    // clients keep no heartbeat timeout of their own (as a browser's EventSource), which would
    // replace the quiet stream first.
    opts.server_args = vec!["--heartbeat-ms=130000".into()];
    let (summary, _) = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.transports.len(), 2);
    for t in &summary.transports {
        let name = &t.transport;
        assert_eq!(t.messages.published, 1, "{name}: {:?}", t.messages);
        assert!(t.client_errors >= 2, "{name}: {:?}", t.last_client_error);
        let b = broken(t);
        assert!(
            b.starts_with("IDLE DISCONNECTS") && b.contains("proxy_read_timeout, 60 s by default"),
            "{name}: {b}"
        );
    }
    let sse = summary
        .transports
        .iter()
        .find(|t| t.transport.starts_with("sse"))
        .unwrap();
    assert!(
        broken(sse).contains("its heartbeat on sse (130 s) is longer than the read timeout (60 s)"),
        "{}",
        broken(sse)
    );
    let long_poll = &summary.transports[0];
    assert!(
        broken(long_poll).contains("answered 504"),
        "{}",
        broken(long_poll)
    );
    assert_eq!(nginx_children(), Vec::<u32>::new(), "nginx left running");
    let _ = std::fs::remove_dir_all(results);
}
