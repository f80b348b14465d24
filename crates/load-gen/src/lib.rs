//! load-gen: drives one scenario's workload through every push transport, one after the other,
//! and measures each the same way.
//!
//! # Layout
//! - [`scenario`]: TOML scenario files in three parts: the model, validation (ranges, rules
//!   between fields, defaults) and diagnostics (errors that name file, line and field).
//! - [`runner`]: [`runner::plan`] turns a scenario into a pure per-transport plan (shard,
//!   clients, publishers, encodings); [`runner::transport`] runs it in phases (start the server,
//!   connect, publish, drain, collect); [`runner::outcome`] turns what was counted into a
//!   `pushbench_results::TransportResult`; [`runner::ticker`] writes the `.hlog` each second;
//!   [`runner::restart`] derives a restart fault's figures and samples the faults'
//!   timeline;
//!   [`runner::sweep`] runs a scenario's `sweep` step by step and writes `sweep.json`.
//! - [`schedule`]: the seeded open-loop publish schedule (intended send times and sizes);
//!   [`pacer`]: the thread that wakes publishers at those times to within tens of µs.
//! - [`client`]: one subscriber client per transport (module names match `pushbench-wire` and
//!   push-server), the reconnect loop (waits and the scenario's dropped connections in
//!   [`client::fault`]; a restarted server's lives and their renumbering in
//!   [`client::restart`]), upstream publishing, and the HTTP publisher; [`http1`] and [`net`] are
//!   the byte-counting HTTP client and sockets beneath them, [`http2`] hyper's HTTP/2 client
//!   over the same sockets with its frames classified by phase (`http = "2"`), [`tls`] the TLS
//!   they speak with `tls = true` (its records counted as they pass, for the bytes by phase).
//! - [`metrics`]: the run clock, HDR histograms and fan-out tracking; [`seqtrack`]: loss,
//!   duplicate and reorder detection from sequence numbers.
//! - [`profile`]: what is server-specific (paths, transport-selecting headers, resume, framing),
//!   built in for push-server and Nchan; [`nchan`]: Nchan's nginx configuration; [`proxy`]: the
//!   `--via` reverse proxy's configurations and what each breaks; [`nginx`]: what the two share.
//! - [`link`]: the emulated network link (`network`, `networks`): two network namespaces, TUN
//!   devices and the threads that carry packets between them with delay, rate, queue and loss;
//!   `--capture`'s tcpdump of the clients' side.
//! - [`process`]: the server child (push-server, or nginx with Nchan), the proxy child, and
//!   `/proc` sampling;
//!   [`setup`]: machine info; [`affinity`]: disjoint cores for the server and load-gen.
//!
//! Data flows scenario → [`runner::plan`] → publishers ([`client::publish`], or upstream inside
//! the WebSocket and raw TCP clients) → push-server's hub → transport → [`client`] →
//! [`metrics`] → [`runner::outcome`] → `pushbench_results` (`summary.json` and `.hlog` files in
//! `results/<UTC timestamp>-<scenario>/`) → `pushbench_report`, which draws the report and
//! prints the terminal table.

pub mod affinity;
pub mod client;
pub mod http1;
pub mod http2;
pub mod link;
pub mod metrics;
pub mod nchan;
pub mod net;
pub mod nginx;
pub mod pacer;
pub mod process;
pub mod profile;
pub mod proxy;
pub mod runner;
pub mod scenario;
pub mod schedule;
pub mod seqtrack;
pub mod setup;
pub mod tls;
