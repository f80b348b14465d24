//! `load-gen run` on a scenario with a sweep: every step is a real run against the embedded
//! server, `sweep.json` records the verdicts and capacities, and the terminal prints them.

use std::path::Path;
use std::process::Command;

use pushbench_results::sweep::{Ended, SweepResult, Verdict};
use pushbench_test_support::TempDir;

/// Runs a two-transport sweep over rates 10, 20 and 40 with objective `slo`; returns what
/// `sweep.json` says and what the terminal printed.
fn sweep(dir: &Path, slo: &str) -> (SweepResult, String) {
    let scenario = dir.join("swept.toml");
    std::fs::write(
        &scenario,
        format!(
            "description = \"a short sweep\"\ntransports = [\"sse\", \"raw-tcp\"]\nclients = 4\n\
             rate = 10\nmessage_size = 32\nduration = \"300ms\"\nwarmup = \"200ms\"\n\
             drain = \"1s\"\nsweep = {{ rate = [10, 20, 40] }}\nslo = {slo}\n"
        ),
    )
    .unwrap();
    let results = dir.join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_load-gen"))
        .args(["run", "--quiet", "--results"])
        .arg(&results)
        .arg(&scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-swept-sweep"))
        .expect("a sweep folder");
    let result: SweepResult =
        serde_json::from_slice(&std::fs::read(folder.join("sweep.json")).unwrap()).unwrap();
    let png = std::fs::read(folder.join("capacity.png")).expect("the sweep's chart");
    assert!(png.starts_with(b"\x89PNG"), "capacity.png is a PNG");
    for step in &result.steps {
        assert!(
            folder.join(&step.folder).join("summary.json").exists(),
            "{step:?}"
        );
    }
    (result, stdout)
}

#[test]
fn a_sweep_every_transport_meets_runs_every_step_and_reports_the_last_as_a_lower_bound() {
    let tmp = TempDir::new("sweep-loose");
    let (r, stdout) = sweep(tmp.path(), r#"{ p99 = "10s" }"#);
    assert!(r.complete);
    assert_eq!(
        r.steps.iter().map(|s| s.value).collect::<Vec<_>>(),
        [10.0, 20.0, 40.0]
    );
    for s in &r.steps {
        assert_eq!(s.transports.len(), 2);
        assert!(
            s.transports.iter().all(|t| t.verdict == Verdict::Meets),
            "{s:?}"
        );
    }
    for c in &r.capacity {
        assert_eq!(c.capacity, Some(40.0), "{c:?}");
        assert_eq!(c.ratio_to_raw_tcp, Some(1.0));
        assert_eq!(c.ended, Ended::StepsExhausted);
        assert!(c.delivered_per_s.unwrap() > 0.0);
    }
    assert!(stdout.contains("capacity: highest rate"), "{stdout}");
    assert!(
        stdout.contains("lower bound: met every step up to the last"),
        "{stdout}"
    );
}

#[test]
fn a_sweep_stops_a_transport_after_two_breaking_steps() {
    let tmp = TempDir::new("sweep-tight");
    // No delivery takes 1 µs or less: every step breaks, so both stop after the second.
    let (r, stdout) = sweep(tmp.path(), r#"{ p99 = "0.001ms" }"#);
    assert!(r.complete);
    assert_eq!(r.steps.len(), 2, "{:?}", r.steps);
    for s in &r.steps {
        assert!(
            s.transports.iter().all(|t| t.verdict == Verdict::Breaks),
            "{s:?}"
        );
    }
    for c in &r.capacity {
        assert_eq!(c.capacity, None);
        assert_eq!(c.ended, Ended::Broke);
    }
    assert!(stdout.contains("never met the objective"), "{stdout}");
}

#[test]
fn report_on_a_sweep_folder_redraws_its_chart_and_prints_the_table() {
    let tmp = TempDir::new("sweep-report");
    let (_, _) = sweep(tmp.path(), r#"{ p99 = "10s" }"#);
    let folder = std::fs::read_dir(tmp.path().join("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    std::fs::remove_file(folder.join("capacity.png")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_load-gen"))
        .arg("report")
        .arg(&folder)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("capacity: highest rate"), "{stdout}");
    assert!(folder.join("capacity.png").exists());
}
