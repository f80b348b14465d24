//! Server-Sent Events: `text/event-stream`, one event per message with `id:` = sequence number.
//!
//! ```text
//! retry: 2000            (once, at the start)
//! id: 42
//! data: {"topic":"t","seq":42,"data":"..."}
//!
//! event: gap             (when the server no longer holds what was asked for)
//! data: {"topic":"t","gap":{"first_missing":3,"first_available":17}}
//!
//! :                      (heartbeat comment)
//! ```
//!
//! A browser's `EventSource` resends the last `id:` as `Last-Event-ID` when it reconnects, which is
//! how SSE resumes without loss. [`EventParser`] is a full parser of the format (all three line
//! endings, comments, multi-line data), not only of what push-server writes, so it can read other
//! servers too.

use bytes::{Bytes, BytesMut};

/// A comment line and the blank line that ends it: keeps the connection warm, dispatches nothing.
pub const HEARTBEAT: &[u8] = b":\n\n";

/// The `retry:` field that opens every stream.
pub fn retry(millis: u64) -> Bytes {
    Bytes::from(format!("retry: {millis}\n\n"))
}

/// Frames one text envelope as an event whose id is its sequence number.
pub fn frame(seq: u64, envelope: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(envelope.len() + 32);
    out.extend_from_slice(b"id: ");
    crate::envelope::put_decimal(&mut out, seq);
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(envelope);
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

/// Frames a gap envelope as an event of type `gap`, without an id so `Last-Event-ID` keeps
/// naming the last message actually received.
pub fn gap_frame(envelope: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(envelope.len() + 24);
    out.extend_from_slice(b"event: gap\ndata: ");
    out.extend_from_slice(envelope);
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id seen on the stream so far, as `EventSource.lastEventId` would hold it.
    pub last_event_id: String,
}

/// An incremental `text/event-stream` parser following the WHATWG processing model.
#[derive(Debug, Default)]
pub struct EventParser {
    buf: BytesMut,
    /// A `\r` ended the last chunk: a `\n` at the start of the next one belongs to it.
    skip_lf: bool,
    event: String,
    data: String,
    has_data: bool,
    last_event_id: String,
    retry: Option<u64>,
}

impl EventParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last `retry:` value seen, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Feeds a chunk and appends every event it completes to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<Event>) {
        if chunk.is_empty() {
            // Nothing to decide yet: a pending CR's LF may still come in the next chunk.
            return;
        }
        if self.skip_lf {
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
            self.skip_lf = false;
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let terminator = chunk[end];
            self.buf.extend_from_slice(&chunk[..end]);
            let line = self.buf.split().freeze();
            self.line(&line, out);
            chunk = &chunk[end + 1..];
            if terminator == b'\r' {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
        }
        self.buf.extend_from_slice(chunk);
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            if self.has_data {
                out.push(Event {
                    event: if self.event.is_empty() {
                        "message".to_owned()
                    } else {
                        std::mem::take(&mut self.event)
                    },
                    data: std::mem::take(&mut self.data),
                    last_event_id: self.last_event_id.clone(),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = value.into_owned(),
            b"id" if !value.contains('\0') => self.last_event_id = value.into_owned(),
            b"retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(stream: &[u8], size: usize) -> (Vec<Event>, Option<u64>) {
        let mut p = EventParser::new();
        let mut out = Vec::new();
        for c in stream.chunks(size) {
            p.push(c, &mut out);
        }
        (out, p.retry())
    }

    #[test]
    fn what_the_server_writes_parses_back_at_any_chunking() {
        let mut stream = retry(2000).to_vec();
        stream.extend_from_slice(&frame(7, b"{\"seq\":7}"));
        stream.extend_from_slice(HEARTBEAT);
        stream.extend_from_slice(&gap_frame(b"{\"gap\":1}"));
        stream.extend_from_slice(&frame(9, b"{\"seq\":9}"));
        for size in [1, 2, 5, stream.len()] {
            let (events, retry) = parse_in_chunks(&stream, size);
            assert_eq!(retry, Some(2000));
            assert_eq!(events.len(), 3, "chunk size {size}");
            assert_eq!(events[0].data, "{\"seq\":7}");
            assert_eq!(events[0].last_event_id, "7");
            assert_eq!(events[1].event, "gap");
            assert_eq!(events[1].last_event_id, "7");
            assert_eq!(events[2].event, "message");
            assert_eq!(events[2].last_event_id, "9");
        }
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_changes_nothing() {
        let mut p = EventParser::new();
        let mut out = Vec::new();
        p.push(b"data: a\r", &mut out);
        p.push(b"", &mut out);
        p.push(b"\ndata: b\n\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, "a\nb");
    }

    #[test]
    fn other_servers_line_endings_and_multiline_data() {
        let stream = b"data:a\r\ndata: b\r\rid: 3\revent: x\rdata\r\n\r\n: c\n\n";
        for size in 1..stream.len() {
            let (events, _) = parse_in_chunks(stream, size);
            assert_eq!(events.len(), 2, "chunk size {size}");
            assert_eq!(events[0].data, "a\nb");
            assert_eq!(events[1].data, "");
            assert_eq!(events[1].event, "x");
            assert_eq!(events[1].last_event_id, "3");
        }
    }
}
