//! What can go wrong while reading, merging and writing results folders.

use std::path::PathBuf;

/// A results folder could not be read or written. Every variant is fatal for the load, merge or
/// write at hand; none changes a folder that was only read.
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
    #[error("{path}: schema {found:?}, this build reads {expected:?}")]
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
    /// No folder was given.
    #[error("no results folder given")]
    NoRuns,
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
