//! Results folders read and merged: the checked-in fixtures are real runs of
//! `scenarios/quick.toml` with every transport (see `fixtures/README.md`).

use pushbench_results::hlog::{LATENCY, TAGS};
use pushbench_results::model::Percentiles;
use pushbench_results::{folder, merge, Run, Status};
use pushbench_test_support::{fixture, TempDir};
use pushbench_wire::Transport;

#[test]
fn fixtures_hold_every_transport() {
    for name in ["quick-a", "quick-b"] {
        let run = folder::load(&fixture(name)).unwrap();
        let names: Vec<&str> = run
            .summary
            .transports
            .iter()
            .map(|t| t.transport.as_str())
            .collect();
        for t in Transport::ALL {
            assert!(names.contains(&t.name()), "{name} lacks {t}");
            assert!(run.logs.contains_key(t.name()), "{name} lacks {t}.hlog");
        }
        assert_eq!(run.warmup_s, 1.0);
    }
}

#[test]
fn measured_window_from_the_logs_matches_the_summary() {
    let run = folder::load(&fixture("quick-a")).unwrap();
    for t in &run.summary.transports {
        let logged = run.logs[&t.transport].measured(LATENCY).len() as f64;
        let exact = t.latency.count as f64;
        assert!(
            (logged - exact).abs() <= exact * 0.05,
            "{}: {logged} samples in the logs' measured window, {exact} in summary.json",
            t.transport
        );
    }
}

#[test]
fn merging_two_runs_adds_their_histograms() {
    let a = folder::load(&fixture("quick-a")).unwrap();
    let b = folder::load(&fixture("quick-b")).unwrap();
    let merged = merge::merge(vec![a.clone(), b.clone()]).unwrap();
    assert_eq!(merged.sources.len(), 2);
    for t in &merged.summary.transports {
        let name = &t.transport;
        for tag in TAGS {
            let mut sum = a.logs[name].measured(tag);
            sum.add(b.logs[name].measured(tag)).unwrap();
            let got = merged.logs[name].measured(tag);
            assert_eq!(got.len(), sum.len(), "{name} {tag}");
            assert_eq!(Percentiles::of(&got), Percentiles::of(&sum), "{name} {tag}");
        }
        assert_eq!(
            t.latency,
            Percentiles::of(&merged.logs[name].measured(LATENCY))
        );
        // Intervals add per second too.
        let count = |r: &Run| -> u64 {
            r.logs[name]
                .intervals
                .iter()
                .filter_map(|i| i.histograms.get(LATENCY))
                .map(|h| h.len())
                .sum()
        };
        assert_eq!(count(&merged), count(&a) + count(&b), "{name} intervals");
        // Counters sum; per-message figures are recomputed from the sums.
        let ta = a
            .summary
            .transports
            .iter()
            .find(|x| &x.transport == name)
            .unwrap();
        let tb = b
            .summary
            .transports
            .iter()
            .find(|x| &x.transport == name)
            .unwrap();
        assert_eq!(
            t.messages.seq.delivered,
            ta.messages.seq.delivered + tb.messages.seq.delivered
        );
        assert_eq!(t.requests, ta.requests + tb.requests);
        assert_eq!(t.bytes.down(), ta.bytes.down() + tb.bytes.down());
        let bpm = t.bytes.up() as f64 + t.bytes.down() as f64;
        assert!((t.bytes_per_message.total - bpm / t.messages.seq.delivered as f64).abs() < 1e-9);
        // Two whole runs are repeats: their mean rate and client count, not the sum.
        let mean = (ta.throughput_msgs_per_s + tb.throughput_msgs_per_s) / 2.0;
        assert!(
            (t.throughput_msgs_per_s - mean).abs() < 1e-6,
            "{name} throughput"
        );
        assert_eq!(t.clients, ta.clients);
    }
}

#[test]
fn merging_shards_adds_their_rates() {
    let mut a = folder::load(&fixture("quick-a")).unwrap();
    let mut b = folder::load(&fixture("quick-b")).unwrap();
    a.summary.shard = Some("0/2".into());
    b.summary.shard = Some("1/2".into());
    let merged = merge::merge(vec![a.clone(), b.clone()]).unwrap();
    assert_eq!(
        merged.summary.shard, None,
        "both shards of 2 make a whole run"
    );
    for (t, (ta, tb)) in merged
        .summary
        .transports
        .iter()
        .zip(a.summary.transports.iter().zip(&b.summary.transports))
    {
        let sum = ta.throughput_msgs_per_s + tb.throughput_msgs_per_s;
        assert!((t.throughput_msgs_per_s - sum).abs() < 1e-6);
        assert_eq!(t.clients, ta.clients + tb.clients);
    }
    b.summary.shard = Some("1/4".into());
    let partial = merge::merge(vec![a, b]).unwrap();
    assert!(partial.summary.shard.is_some());
    assert!(partial
        .notes
        .iter()
        .any(|n| n.contains("part of the workload")));
}

#[test]
fn different_scenarios_do_not_merge() {
    let a = folder::load(&fixture("quick-a")).unwrap();
    let mut b = folder::load(&fixture("quick-b")).unwrap();
    b.summary.scenario = "ticker".into();
    assert!(matches!(
        merge::merge(vec![a, b]),
        Err(pushbench_results::Error::Mismatch { .. })
    ));
}

/// Copies a fixture folder into a fresh temporary one.
fn copy_of(name: &str, tag: &str) -> TempDir {
    let out = TempDir::new(tag);
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, out.path().join(path.file_name().unwrap())).unwrap();
    }
    out
}

#[test]
fn a_folder_without_a_recorded_warm_up_says_what_it_assumed() {
    let dir = copy_of("quick-a", "legacy");
    let path = dir.path().join(folder::SUMMARY_JSON);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for t in json["transports"].as_array_mut().unwrap() {
        t.as_object_mut().unwrap().remove("warmup_s");
    }
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let run = folder::load(dir.path()).unwrap();
    assert_eq!(run.warmup_s, folder::DEFAULT_WARMUP_S);
    assert!(
        run.notes
            .iter()
            .any(|n| n.contains("does not record the warm-up")),
        "{:?}",
        run.notes
    );
}

#[test]
fn a_summary_written_and_read_back_is_the_same() {
    let run = folder::load(&fixture("quick-b")).unwrap();
    let out = TempDir::new("round-trip");
    folder::write_summary(&run.summary, out.path()).unwrap();
    let back: pushbench_results::Summary =
        serde_json::from_slice(&std::fs::read(out.path().join(folder::SUMMARY_JSON)).unwrap())
            .unwrap();
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(&run.summary).unwrap()
    );
    // Status travels as the words every earlier folder used.
    let text = std::fs::read_to_string(out.path().join(folder::SUMMARY_JSON)).unwrap();
    assert!(text.contains("\"status\": \"complete\""));
    // Publishers never poll, so their entry has no empty_polls key.
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(json["transports"][0]["publisher"]
        .get("empty_polls")
        .is_none());
    assert!(json["transports"][0].get("empty_polls").is_some());
}

#[test]
fn a_merge_with_one_status_keeps_it_and_mixed_ones_are_partial() {
    let a = folder::load(&fixture("quick-a")).unwrap();
    let mut b = folder::load(&fixture("quick-b")).unwrap();
    b.summary.transports[0].status = Status::Failed;
    let merged = merge::merge(vec![a, b]).unwrap();
    assert_eq!(merged.summary.transports[0].status, Status::Partial);
    assert_eq!(merged.summary.transports[1].status, Status::Complete);
}

#[test]
fn a_folder_written_by_the_previous_load_gen_loads_unchanged() {
    let dir = fixture("quick-v0");
    let run = folder::load(&dir).unwrap();
    assert_eq!(run.warmup_s, 1.0, "read from summary.json");
    assert!(run.notes.is_empty(), "{:?}", run.notes);
    assert_eq!(run.summary.transports.len(), Transport::ALL.len());
    for t in &run.summary.transports {
        assert_eq!(t.status, Status::Complete);
        assert!(run.logs.contains_key(&t.transport));
    }
    // Every value the previous version wrote is read back and written again unchanged; fields
    // added since take their defaults.
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(folder::SUMMARY_JSON)).unwrap()).unwrap();
    let again = serde_json::to_value(&run.summary).unwrap();
    contains(&again, &original, "");
    for t in &run.summary.transports {
        assert!(!t.server_bound && !t.publish_path_slow);
        assert_eq!(t.server.cores_used, 0.0);
    }
    assert_eq!(run.summary.setup.pinning, None);
}

/// Asserts every key and value of `want` is in `got` (which may hold more keys).
fn contains(got: &serde_json::Value, want: &serde_json::Value, path: &str) {
    match (got, want) {
        (serde_json::Value::Object(g), serde_json::Value::Object(w)) => {
            for (k, v) in w {
                let at = format!("{path}.{k}");
                contains(g.get(k).unwrap_or_else(|| panic!("{at} is gone")), v, &at);
            }
        }
        (serde_json::Value::Array(g), serde_json::Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                contains(g, w, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}
