//! Runs a scenario's sweep: the scenario once per step with the swept key set to the step's
//! value, each step an ordinary run (`super::run`) of the transports still going, into a folder
//! of its own inside the sweep's folder. After every step it judges each transport against the
//! objective, stops the ones the rules stop and rewrites `sweep.json` and `capacity.png`
//! (latency against throughput), so an interrupted sweep keeps what ran (the rules:
//! `pushbench_results::sweep`).

use std::path::PathBuf;

use anyhow::Context;
use pushbench_results::folder;
use pushbench_results::sweep::{capacities, judge, Ended, Progress, Step, SweepResult, SCHEMA};
use tokio_util::sync::CancellationToken;

use super::{run, utc_now, Options};
use crate::scenario::{Scenario, Sweep};

/// The file a sweep's folder holds beside its steps' folders.
pub const SWEEP_JSON: &str = "sweep.json";

/// Runs every step of `sweep`; returns the result and the sweep's folder,
/// `<results>/<stamp>-<scenario>-sweep/`.
pub async fn sweep(
    scenario: &Scenario,
    sweep: &Sweep,
    opts: &Options,
    cancel: CancellationToken,
) -> anyhow::Result<(SweepResult, PathBuf)> {
    if opts.servers.len() > 1 {
        anyhow::bail!("a sweep runs against one server: give --server one name");
    }
    // A step's results are judged by bare transport name; a proxied run is named
    // `<transport>@<server>+<via>`.
    if opts.via != [crate::proxy::Via::Direct] {
        anyhow::bail!("a sweep reaches its server directly: --via is not supported in sweeps");
    }
    let (stamp, _) = utc_now();
    let dir = opts
        .results_root
        .join(format!("{stamp}-{}-sweep", scenario.name));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(folder::SCENARIO_TOML), &scenario.source)?;
    // Only what the server serves: a transport it skips would never be judged.
    let served = opts.servers[0].profile().transports();
    let transports: Vec<_> = opts
        .transports
        .clone()
        .unwrap_or_else(|| scenario.transports.clone())
        .into_iter()
        .filter(|t| served.contains(t))
        .collect();
    let names: Vec<String> = transports.iter().map(|t| t.name().to_string()).collect();
    let mut progress = Progress::new(names.iter().map(String::as_str));
    let mut result = SweepResult {
        schema: SCHEMA.into(),
        scenario: scenario.name.clone(),
        param: sweep.param,
        values: sweep.values.clone(),
        slo: sweep.slo,
        steps: Vec::new(),
        capacity: Vec::new(),
        complete: false,
    };
    for &value in &sweep.values {
        let running: Vec<_> = transports
            .iter()
            .copied()
            .filter(|t| progress.running(t.name()))
            .collect();
        if running.is_empty() || cancel.is_cancelled() {
            break;
        }
        let mut step_scenario = scenario.at_step(sweep.param, value);
        step_scenario.name = format!("{}-{}{value}", scenario.name, sweep.param.key());
        let step_opts = Options {
            results_root: dir.clone(),
            transports: Some(running),
            ..opts.clone()
        };
        if opts.progress {
            eprintln!("step {} = {value}", sweep.param.key());
        }
        let (summary, step_dir) = run(&step_scenario, &step_opts, cancel.clone())
            .await
            .with_context(|| format!("step {} = {value}", sweep.param.key()))?;
        let step = Step {
            value,
            folder: step_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            transports: summary
                .transports
                .iter()
                .map(|t| judge(t, &sweep.slo))
                .collect(),
        };
        progress.record(&step);
        result.steps.push(step);
        result.capacity = capacities(&names, &result.steps, &progress, Ended::Interrupted);
        write(&result, &dir)?;
    }
    let otherwise = if cancel.is_cancelled() {
        Ended::Interrupted
    } else {
        Ended::StepsExhausted
    };
    result.capacity = capacities(&names, &result.steps, &progress, otherwise);
    result.complete = !cancel.is_cancelled();
    write(&result, &dir)?;
    Ok((result, dir))
}

/// Writes `sweep.json` and the chart of the steps so far.
fn write(result: &SweepResult, dir: &std::path::Path) -> anyhow::Result<()> {
    let path = dir.join(SWEEP_JSON);
    std::fs::write(&path, serde_json::to_vec_pretty(result)?)
        .with_context(|| format!("writing {}", path.display()))?;
    pushbench_report::charts::draw_capacity(result, dir)?;
    Ok(())
}
