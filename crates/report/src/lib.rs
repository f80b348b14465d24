//! What a reader sees of a run: the HTML report, its PNG charts, and the comparison of two runs.
//! The results themselves (model, folder, merge) belong to `pushbench_results`; this crate only
//! presents them.
//!
//! # Layout
//! - [`figures`]: the one list of figures (name, unit, which way is better, formatter) and row
//!   flags, used by the HTML summary table, [`compare`] and the terminal table load-gen prints.
//! - [`charts`]: a small plotting kit (axes, frame and legend, bar panels) and one file per PNG
//!   chart; [`text`] sets their text in the embedded font; [`style`] holds the colour of each
//!   transport and number formatting, shared with the HTML.
//! - [`html`]: `report.html`, one self-contained page with the charts inlined;
//!   [`html::verdict`] decides which transport answers each question, apart from the markup.
//! - [`compare`]: two runs side by side, per transport and figure the ratio B/A, for the
//!   terminal and as `compare.html`.
//! - [`sweep`]: a sweep's capacity table for the terminal.
//! - [`error`]: what can fail.
//!
//! Data flows one way: results folder(s) → `pushbench_results::folder::load` (→
//! `pushbench_results::merge::merge`) → [`Run`] → [`charts`], [`html`] and [`figures`] →
//! `report.html`, the PNGs beside it and the terminal table. [`report_folders`] is the whole
//! path in one call, as `load-gen report` and the end of `load-gen run` use it.

pub mod charts;
pub mod compare;
pub mod error;
pub mod figures;
pub mod html;
pub mod style;
pub mod sweep;
pub mod text;

use std::path::{Path, PathBuf};

pub use error::Error;
pub use pushbench_results::Run;
use pushbench_results::{folder, merge};

/// The report's page in a results folder.
pub const REPORT_HTML: &str = "report.html";

/// What [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// `report.html`.
    pub html: PathBuf,
    /// The PNG charts, in the order the page shows them.
    pub charts: Vec<PathBuf>,
}

/// Writes the PNG charts and `report.html` of `run` into `dir`.
pub fn write_report(run: &Run, dir: &Path) -> Result<Written, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let charts = charts::draw_all(run, dir)?;
    let page = html::page(run, &charts, dir)?;
    let path = dir.join(REPORT_HTML);
    std::fs::write(&path, page).map_err(Error::io(&path))?;
    Ok(Written {
        html: path,
        charts: charts.iter().map(|c| dir.join(c.file)).collect(),
    })
}

/// Reads one or more results folders and writes their report.
///
/// One folder: the report goes into it. Several (shards or repeats of one scenario): they are
/// merged ([`merge::merge`]) and written, with a merged `summary.json`, `scenario.toml` and
/// interval logs, into `out`, so the merged folder can be reported on, compared and merged
/// again like any other. `out` defaults to the first folder's name with `-merged` in its
/// parent. Returns the run as reported and where it was written.
pub fn report_folders(dirs: &[PathBuf], out: Option<&Path>) -> Result<(Run, Written), Error> {
    let runs = dirs
        .iter()
        .map(|d| folder::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = runs.len() > 1;
    let run = merge::merge(runs)?;
    let out = match out {
        Some(o) => o.to_path_buf(),
        None if merged => default_merged_dir(&dirs[0]),
        None => dirs[0].clone(),
    };
    if merged {
        let same = |d: &Path| match (d.canonicalize(), out.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if let Some(d) = dirs.iter().find(|d| same(d)) {
            return Err(Error::OutIsInput { path: d.clone() });
        }
        folder::write_run(&run, &out)?;
    }
    let written = write_report(&run, &out)?;
    Ok((run, written))
}

/// `results/<first>-merged` for a merge whose first folder is `results/<first>`.
pub fn default_merged_dir(first: &Path) -> PathBuf {
    let name = first
        .file_name()
        .map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
    first
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{name}-merged"))
}
