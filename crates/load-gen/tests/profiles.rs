//! A server described by a profile file, driven with `--target`: push-server through the
//! shipped `profiles/pushbench.toml`, every transport, nothing lost; and a profile file without
//! `--target` is refused before anything starts.

mod common;

use std::path::Path;

use common::{assert_delivered_once, options, target_server, tempdir};
use load_gen::profile::{self, ServerKind};
use load_gen::runner;
use load_gen::scenario::Scenario;
use tokio_util::sync::CancellationToken;

const SCENARIO: &str = "description = \"profile\"\nseed = 2\ntransports = [\"all\"]\nclients = 4\ntopics = 2\nrate = 40\npattern = \"constant\"\nmessage_size = 64\nduration = \"1s\"\nwarmup = \"200ms\"\ndrain = \"1s\"\npoll_interval = \"50ms\"\n";

fn pushbench_file() -> ServerKind {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/pushbench.toml");
    ServerKind::File(Box::leak(Box::new(profile::load(&path).unwrap())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_file_drives_a_target_on_every_transport() {
    let results = tempdir("profile-file");
    let (server, target) = target_server(&results).await;
    let scenario = Scenario::parse(SCENARIO, Path::new("p.toml")).unwrap();
    let mut opts = options(&results, Some(target));
    opts.servers = vec![pushbench_file()];
    let (summary, _) = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap();
    server.stop().await.unwrap();
    assert_eq!(summary.setup.server_software.as_deref(), Some("pushbench"));
    assert_eq!(summary.transports.len(), 7);
    for t in &summary.transports {
        assert_delivered_once(t);
    }
    let _ = std::fs::remove_dir_all(results);
}

#[tokio::test]
async fn a_profile_file_without_a_target_is_refused() {
    let results = tempdir("profile-no-target");
    let scenario = Scenario::parse(SCENARIO, Path::new("p.toml")).unwrap();
    let mut opts = options(&results, None);
    opts.servers = vec![pushbench_file()];
    let err = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("give --target"), "{err}");
    let _ = std::fs::remove_dir_all(results);
}

/// A profile whose framing is not the server's stops its transport's run as soon as the bytes
/// show it, with the bytes in the error, instead of counting every message lost after the run:
/// here the SSE decoder is pointed at push-server's NDJSON stream (it never completes an event)
/// and the NDJSON decoder at its event stream (the first line is not an envelope).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_that_does_not_match_the_server_fails_at_once_with_the_bytes() {
    let results = tempdir("profile-mismatch");
    let (server, target) = target_server(&results).await;
    let profile = r#"name = "mislabelled"
framing = "envelope"
publish = { path = "/publish?topic={topic}", ok = [200] }

[transports.sse]
path = "/stream?topic={topic}&after={after}"
resume = "after"

[transports.xhr-stream]
path = "/sse?topic={topic}&after=0"
resume = "after"
"#;
    let profile = profile::parse(profile, Path::new("mislabelled.toml")).unwrap();
    // 40 s scheduled: a run that waited for its end would publish 1,600 messages.
    let scenario = SCENARIO
        .replace("duration = \"1s\"", "duration = \"40s\"")
        .replace("drain = \"1s\"", "drain = \"20s\"");
    let scenario = Scenario::parse(&scenario, Path::new("p.toml")).unwrap();
    let mut opts = options(&results, Some(target));
    opts.servers = vec![ServerKind::File(Box::leak(Box::new(profile)))];
    let (summary, _) = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap();
    server.stop().await.unwrap();
    assert_eq!(summary.transports.len(), 2);
    for t in &summary.transports {
        let error = t.error.as_deref().unwrap_or_default();
        assert_eq!(t.status, pushbench_results::Status::Failed, "{t:?}");
        assert!(
            error.contains(&format!(
                "the mislabelled profile does not describe what the server sent on {} (framing = \"envelope\")",
                t.transport
            )),
            "{error}"
        );
        // The run stopped early: a small part of the schedule went out.
        assert!(t.messages.published < 400, "{:?}", t.messages);
    }
    let error = |name: &str| {
        let t = summary
            .transports
            .iter()
            .find(|t| t.transport == name)
            .unwrap();
        t.error.clone().unwrap()
    };
    // NDJSON lines into the SSE parser: no event ever completes, and a probe was in the bytes.
    let sse = error("sse");
    assert!(sse.contains("the decoder has found no message"), "{sse}");
    assert!(sse.contains("\\\"seq\\\":1,"), "{sse}");
    // SSE fields into the NDJSON decoder: the first line (`retry:`) is no envelope.
    let xhr = error("xhr-stream");
    assert!(xhr.contains("malformed text envelope"), "{xhr}");
    assert!(xhr.contains("the server sent: \"retry: 2000\""), "{xhr}");
    let _ = std::fs::remove_dir_all(results);
}
