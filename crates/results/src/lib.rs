//! The results folder's one owner: what a run measured, as load-gen writes it and the report
//! reads it back.
//!
//! # Layout
//! - [`model`]: the types `summary.json` holds ([`Summary`], one [`TransportResult`] per
//!   transport, its [`Status`]), and [`Traffic`], the counters every client keeps.
//! - [`mod@derive`]: every figure computed from counters (bytes and requests per message, overhead,
//!   CPU per 1,000 messages, throughput), used by load-gen's runner and by [`merge`] alike.
//! - [`hlog`]: the `.hlog` interval logs: tags, histogram bounds, the writer and the reader, and
//!   how the measured window is cut out of them.
//! - [`folder`]: the files of a results folder, [`folder::write_summary`] and
//!   [`folder::load`] into a [`Run`].
//! - [`merge`]: several folders of one scenario (shards or repeats) into one [`Run`];
//!   [`repeats`]: one transport's repeated runs in one folder, aggregated with medians and
//!   confidence intervals.
//! - [`sweep`]: `sweep.json`, a scenario run at rising steps, and the rules that judge each step
//!   against an objective and read each transport's capacity off them.
//! - [`error`]: what can fail.
//!
//! Data flows: load-gen's runner fills a [`TransportResult`]'s counters, [`derive::figures`]
//! completes it, [`folder::write_summary`] and [`hlog::Writer`] put it on disk; the report
//! calls [`folder::load`] (and [`merge::merge`]) and draws the [`Run`] it gets.

pub mod derive;
pub mod error;
pub mod folder;
pub mod hlog;
pub mod merge;
pub mod model;
pub mod repeats;
pub mod sweep;

pub use error::Error;
pub use folder::Run;
pub use model::{Status, Summary, Traffic, TransportResult};

use pushbench_wire::Transport;

/// Sort key putting known transports in [`Transport::KNOWN`] order (the report's order),
/// unknown ones (from a newer results folder) after.
pub fn transport_order(transport: &str) -> usize {
    let base = transport_of(transport);
    Transport::KNOWN
        .iter()
        .position(|t| t.name() == base)
        .unwrap_or(Transport::KNOWN.len())
}

/// The transport of a result's name: names are the transport (`sse`), or in a run against
/// several servers `<transport>@<server>` (`sse@nchan`), or over several links
/// `<transport>~<network>` (`sse~3g`), or both (`sse@pushbench~3g`); over TLS the transport
/// has `:tls` after it (`sse:tls@pushbench`).
pub fn transport_of(name: &str) -> &str {
    name.split(['@', '~', ':']).next().unwrap_or(name)
}

/// Whether a result's name is a run over TLS (`sse:tls`).
pub fn is_tls(name: &str) -> bool {
    name.split(['@', '~'])
        .next()
        .is_some_and(|t| t.ends_with(":tls"))
}

/// The server of a result's name, when the run had several (`sse@nchan` → `nchan`), with the
/// proxy it went through (`sse@nchan+nginx` → `nchan+nginx`).
pub fn server_of(name: &str) -> Option<&str> {
    let before_link = name.split_once('~').map_or(name, |(s, _)| s);
    before_link.split_once('@').map(|(_, s)| s)
}

/// The link of a result's name, when the run went over several (`sse~3g` → `3g`).
pub fn network_of(name: &str) -> Option<&str> {
    name.split_once('~').map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_names_sort_by_their_transport() {
        assert_eq!(transport_of("sse@nchan"), "sse");
        assert_eq!(transport_of("sse:tls@pushbench~3g"), "sse");
        assert!(is_tls("sse:tls@pushbench~3g") && !is_tls("sse@pushbench~3g"));
        assert_eq!(server_of("sse@nchan"), Some("nchan"));
        assert_eq!((transport_of("sse"), server_of("sse")), ("sse", None));
        assert_eq!(
            (
                transport_of("sse~3g"),
                server_of("sse~3g"),
                network_of("sse~3g")
            ),
            ("sse", None, Some("3g"))
        );
        assert_eq!(
            (
                transport_of("sse@nchan+nginx~lte"),
                server_of("sse@nchan+nginx~lte"),
                network_of("sse@nchan+nginx~lte")
            ),
            ("sse", Some("nchan+nginx"), Some("lte"))
        );
        assert_eq!(network_of("sse@nchan"), None);
        let mut names = [
            "websocket@nchan",
            "sse@pushbench",
            "short-poll@nchan",
            "sse@nchan",
        ];
        names.sort_by_key(|n| transport_order(n));
        assert_eq!(
            names,
            [
                "short-poll@nchan",
                "sse@pushbench",
                "sse@nchan",
                "websocket@nchan"
            ]
        );
    }
}
