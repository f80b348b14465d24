//! The transports pushbench compares, by the names users type in scenarios and see in reports.

use std::fmt;
use std::str::FromStr;

/// One way of pushing messages from server to client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// `GET /poll`: everything after a sequence number, at once, possibly nothing.
    ShortPoll,
    /// `GET /long-poll`: held until a message arrives or the timeout passes.
    LongPoll,
    /// `GET /stream`: chunked NDJSON, one line per message.
    XhrStream,
    /// `GET /iframe`: chunked `text/html`, one `<script>` call per message.
    Iframe,
    /// `GET /sse`: `text/event-stream`.
    Sse,
    /// `GET /ws`: RFC 6455 WebSocket.
    WebSocket,
    /// Length-prefixed frames on a second TCP port: the floor.
    RawTcp,
    /// A `multipart/mixed` body, one part per message ([`crate::multipart`]): Nchan serves it,
    /// push-server does not. Last, so push-server's per-transport arrays (indexed by
    /// [`Transport::index`] and sized by [`Transport::ALL`]) never reach it.
    MultipartMixed,
}

impl Transport {
    /// Every transport push-server serves, in the order reports list them.
    pub const ALL: [Transport; 7] = [
        Transport::ShortPoll,
        Transport::LongPoll,
        Transport::XhrStream,
        Transport::Iframe,
        Transport::Sse,
        Transport::WebSocket,
        Transport::RawTcp,
    ];

    /// Every transport load-gen can drive, in the order reports list them: [`Transport::ALL`]
    /// and those only other servers serve.
    pub const KNOWN: [Transport; 8] = [
        Transport::ShortPoll,
        Transport::LongPoll,
        Transport::XhrStream,
        Transport::MultipartMixed,
        Transport::Iframe,
        Transport::Sse,
        Transport::WebSocket,
        Transport::RawTcp,
    ];

    /// The name used in scenario files, results and stats.
    pub const fn name(self) -> &'static str {
        match self {
            Transport::ShortPoll => "short-poll",
            Transport::LongPoll => "long-poll",
            Transport::XhrStream => "xhr-stream",
            Transport::Iframe => "iframe",
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
            Transport::RawTcp => "raw-tcp",
            Transport::MultipartMixed => "multipart-mixed",
        }
    }

    /// The HTTP path push-server serves the transport on; `None` for raw TCP, which has its own
    /// port, and for a transport push-server does not serve.
    pub const fn path(self) -> Option<&'static str> {
        match self {
            Transport::ShortPoll => Some("/poll"),
            Transport::LongPoll => Some("/long-poll"),
            Transport::XhrStream => Some("/stream"),
            Transport::Iframe => Some("/iframe"),
            Transport::Sse => Some("/sse"),
            Transport::WebSocket => Some("/ws"),
            Transport::RawTcp | Transport::MultipartMixed => None,
        }
    }

    /// Position in [`Transport::ALL`] (for the transports push-server serves), for
    /// per-transport counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The transport served at an HTTP path, if any.
    pub fn from_path(path: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.path() == Some(path))
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A transport name that is not one of [`Transport::KNOWN`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport {0:?}; expected one of short-poll, long-poll, xhr-stream, multipart-mixed, iframe, sse, websocket, raw-tcp")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transport::KNOWN
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownTransport(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indexes_match_order() {
        for (i, t) in Transport::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
            if let Some(p) = t.path() {
                assert_eq!(Transport::from_path(p), Some(t));
            }
        }
        for t in Transport::KNOWN {
            assert_eq!(t.name().parse::<Transport>().unwrap(), t);
            assert!(t.index() < Transport::ALL.len() || !Transport::ALL.contains(&t));
        }
        let mut known = Transport::KNOWN.to_vec();
        known.sort();
        assert!(
            known.windows(2).all(|w| w[0] != w[1])
                && Transport::ALL.iter().all(|t| known.contains(t))
        );
        assert!("websockets".parse::<Transport>().is_err());
        assert_eq!(Transport::from_path("/nope"), None);
    }
}
