//! What can go wrong while writing reports.

use std::path::PathBuf;

/// A report could not be made. Every variant is fatal for the report being made; none affects
/// the results folder it reads.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, merging or writing a results folder failed.
    #[error(transparent)]
    Results(#[from] pushbench_results::Error),
    /// A page or chart could not be written (a read-only folder).
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// A merge was asked to write into one of the folders it reads, which would overwrite that
    /// run's own `summary.json`.
    #[error("{path}: a merged report cannot be written into one of the folders it merges; give --out another folder")]
    OutIsInput {
        /// The folder.
        path: PathBuf,
    },
    /// plotters failed to draw or encode a chart.
    #[error("drawing {chart}: {reason}")]
    Chart {
        /// The chart's file name.
        chart: String,
        /// plotters' message.
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
