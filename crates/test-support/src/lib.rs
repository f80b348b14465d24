//! Helpers shared by the integration tests of the results and report crates (a dev-dependency
//! only): the checked-in results folders under `crates/results/tests/fixtures/` (their README
//! says what each is) and temporary folders that clean up after themselves.

use std::path::{Path, PathBuf};

/// A checked-in results folder, by name (`quick-a`, `quick-b`, `quick-v0`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../results/tests/fixtures")
        .join(name)
}

/// A fresh, empty folder under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty folder whose name holds `tag` and the process id, so tests running at the
    /// same time do not share one.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("pushbench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        TempDir(dir)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
