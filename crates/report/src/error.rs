//! What can go wrong while reading results and writing reports.

use std::path::PathBuf;

/// A report could not be made. Every variant is fatal for the report being made; none affects
/// the results folder it reads.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written (missing `summary.json`, a read-only folder).
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// `summary.json` is not JSON of the results model.
    #[error("{path}: not a pushbench summary: {error}")]
    Summary {
        /// The file.
        path: PathBuf,
        /// What serde said (in the message, so not also a `source`).
        error: serde_json::Error,
    },
    /// `summary.json` has another schema than [`crate::model::SCHEMA`].
    #[error("{path}: schema {found:?}, this report reads {expected:?}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// Its `schema`.
        found: String,
        /// What this build reads.
        expected: &'static str,
    },
    /// A `.hlog` interval log could not be parsed or decoded.
    #[error("{path}: bad interval log: {reason}")]
    Hlog {
        /// The file.
        path: PathBuf,
        /// Which line or histogram, and why.
        reason: String,
    },
    /// `scenario.toml` could not be read for the warm-up.
    #[error("{path}: {reason}")]
    Scenario {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Folders given to merge hold different scenarios.
    #[error("cannot merge runs of different scenarios: {first:?} and {other:?} ({path})")]
    Mismatch {
        /// The first folder's scenario.
        first: String,
        /// The differing one.
        other: String,
        /// The folder that differs.
        path: PathBuf,
    },
    /// A merge was asked to write into one of the folders it reads, which would overwrite that
    /// run's own `summary.json`.
    #[error("{path}: a merged report cannot be written into one of the folders it merges; give --out another folder")]
    OutIsInput {
        /// The folder.
        path: PathBuf,
    },
    /// No folder was given.
    #[error("no results folder given")]
    NoRuns,
    /// plotters failed to draw or encode a chart.
    #[error("drawing {chart}: {reason}")]
    Chart {
        /// The chart's file name.
        chart: String,
        /// plotters' message.
        reason: String,
    },
    /// A histogram could not be serialised into a merged interval log.
    #[error("writing {path}: {reason}")]
    HlogWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }
}
