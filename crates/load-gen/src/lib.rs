//! load-gen: drives one scenario's workload through every push transport, one after the other,
//! and measures each the same way.
//!
//! # Layout
//! - [`scenario`]: TOML scenario files in three parts: the model, validation (ranges, rules
//!   between fields, defaults) and diagnostics (errors that name file, line and field).
//! - [`schedule`]: the seeded open-loop publish schedule (intended send times and sizes).
//! - [`client`]: one subscriber client per transport (module names match `pushbench-wire` and
//!   push-server), the reconnect loop, and the HTTP publisher; [`http1`] and [`net`] are the
//!   byte-counting HTTP client and sockets beneath them.
//! - [`metrics`]: the run clock, HDR histograms, fan-out tracking and byte counts;
//!   [`seqtrack`]: loss, duplicate and reorder detection from sequence numbers.
//! - [`process`]: the embedded push-server child and `/proc` sampling; [`setup`]: machine info.
//! - [`runner`]: runs each transport from server start to stop; [`summary`]: turns what was
//!   measured into `summary.json` and the terminal table.
//!
//! Data flows scenario → schedule → publishers → push-server → clients → metrics → summary and
//! `.hlog` files in `results/<UTC timestamp>-<scenario>/`, which the report reads next.

pub mod client;
pub mod http1;
pub mod metrics;
pub mod net;
pub mod process;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod seqtrack;
pub mod setup;
pub mod summary;
