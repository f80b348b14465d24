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
