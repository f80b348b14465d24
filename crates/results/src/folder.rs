//! A results folder on disk, written by load-gen and by a merge, read by the report:
//!
//! | file | what | written by |
//! |---|---|---|
//! | `summary.json` ([`SUMMARY_JSON`]) | the [`Summary`]: every figure of every transport | [`write_summary`], after each transport and at the end |
//! | `setup.json` ([`SETUP_JSON`]) | the machine and versions alone ([`Setup`], also inside the summary) | [`write_setup`] |
//! | `scenario.toml` ([`SCENARIO_TOML`]) | the scenario file as run, shown in the report | load-gen, copied verbatim |
//! | `<transport>.hlog` ([`hlog_path`]) | the interval log ([`crate::hlog`]) | load-gen each second, or [`write_run`] |
//! | `<transport>.server.log` | the embedded push-server's log | push-server |
//!
//! Everything the report needs is in `summary.json` and the interval logs; the scenario file is
//! kept for the reader only. Folders written before `summary.json` carried each transport's
//! `warmup_s` are still read: their logs are cut at load-gen's default warm-up, with a note.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::hlog::{self, TransportLog};
use crate::model::{Setup, Status, Summary, SCHEMA};

/// The summary's file name.
pub const SUMMARY_JSON: &str = "summary.json";
/// The setup's file name.
pub const SETUP_JSON: &str = "setup.json";
/// The scenario file's name in a results folder.
pub const SCENARIO_TOML: &str = "scenario.toml";

/// load-gen's default warm-up, assumed for folders whose summary does not record it.
pub const DEFAULT_WARMUP_S: f64 = 2.0;

/// A transport's interval log in `dir`.
pub fn hlog_path(dir: &Path, transport: &str) -> PathBuf {
    dir.join(format!("{transport}.hlog"))
}

/// One results folder, or several merged into one.
#[derive(Debug, Clone)]
pub struct Run {
    /// The folders it was read from: one, or every folder merged into it.
    pub sources: Vec<PathBuf>,
    /// The figures; recomputed from sums and added histograms when merged.
    pub summary: Summary,
    /// The scenario file's text, when the folder has one (shown in the report).
    pub scenario_toml: Option<String>,
    /// Warm-up before each transport's measured window, in seconds (from `summary.json`).
    pub warmup_s: f64,
    /// Interval logs and measured-window histograms, by transport name; a transport without a
    /// `.hlog` has no entry.
    pub logs: BTreeMap<String, TransportLog>,
    /// How the data was read or merged, for the reader (missing logs, how shards were combined).
    pub notes: Vec<String>,
}

/// Writes `summary.json` into `dir`.
pub fn write_summary(summary: &Summary, dir: &Path) -> Result<(), Error> {
    let path = dir.join(SUMMARY_JSON);
    let json = serde_json::to_vec_pretty(summary).expect("a summary serialises");
    std::fs::write(&path, json).map_err(Error::io(&path))
}

/// Writes `setup.json` into `dir`.
pub fn write_setup(setup: &Setup, dir: &Path) -> Result<(), Error> {
    let path = dir.join(SETUP_JSON);
    let json = serde_json::to_vec_pretty(setup).expect("a setup serialises");
    std::fs::write(&path, json).map_err(Error::io(&path))
}

/// Reads one results folder.
pub fn load(dir: &Path) -> Result<Run, Error> {
    let path = dir.join(SUMMARY_JSON);
    let text = std::fs::read(&path).map_err(Error::io(&path))?;
    let summary: Summary = serde_json::from_slice(&text).map_err(|error| Error::Summary {
        path: path.clone(),
        error,
    })?;
    if summary.schema != SCHEMA {
        return Err(Error::Schema {
            path,
            found: summary.schema,
            expected: SCHEMA,
        });
    }
    let mut notes = Vec::new();
    let warmup_s = match summary.transports.iter().find_map(|t| t.warmup_s) {
        Some(w) => w,
        None => {
            notes.push(format!(
                "{}: summary.json does not record the warm-up (written by an older load-gen): assumed the default {DEFAULT_WARMUP_S} s when cutting the interval logs",
                dir.display()
            ));
            DEFAULT_WARMUP_S
        }
    };
    let scenario_path = dir.join(SCENARIO_TOML);
    let scenario_toml = match std::fs::read_to_string(&scenario_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&scenario_path)(e)),
    };
    let mut logs = BTreeMap::new();
    for t in &summary.transports {
        let path = hlog_path(dir, &t.transport);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let mut log = hlog::read(&bytes, &path)?;
                log.compute_measured(warmup_s);
                logs.insert(t.transport.clone(), log);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if t.status != Status::Failed {
                    notes.push(format!(
                        "{}: no interval log ({}), so no latency curve or timeline",
                        t.transport,
                        path.display()
                    ));
                }
            }
            Err(e) => return Err(Error::io(&path)(e)),
        }
    }
    Ok(Run {
        sources: vec![dir.to_path_buf()],
        summary,
        scenario_toml,
        warmup_s,
        logs,
        notes,
    })
}

/// Writes a run as a results folder: `summary.json`, `scenario.toml` and the interval logs, so a
/// merged run can be reported on, compared and merged again like any other.
pub fn write_run(run: &Run, dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    write_summary(&run.summary, dir)?;
    if let Some(text) = &run.scenario_toml {
        let path = dir.join(SCENARIO_TOML);
        std::fs::write(&path, text).map_err(Error::io(&path))?;
    }
    for (transport, log) in &run.logs {
        hlog::write(log, &hlog_path(dir, transport))?;
    }
    Ok(())
}
