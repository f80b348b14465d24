//! XHR streaming: a chunked `application/x-ndjson` response, one text envelope per line.
//!
//! Lines holding only whitespace are heartbeats or the padding prelude some old browsers need
//! before they fire progress events; parsers skip them.

use bytes::{Bytes, BytesMut};

/// What the server writes when there is nothing to say, to keep proxies and clients from timing out.
pub const HEARTBEAT: &[u8] = b"\n";

/// Frames one text envelope as an NDJSON line.
pub fn frame(envelope: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(envelope.len() + 1);
    out.extend_from_slice(envelope);
    out.extend_from_slice(b"\n");
    out.freeze()
}

/// `padding` spaces and a newline: written first so browsers that buffer the first kilobytes of a
/// response start firing progress events. Empty when `padding` is 0.
pub fn prelude(padding: usize) -> Bytes {
    if padding == 0 {
        return Bytes::new();
    }
    let mut out = vec![b' '; padding];
    out.push(b'\n');
    Bytes::from(out)
}

/// Splits a byte stream into NDJSON lines across arbitrary chunk boundaries.
#[derive(Debug, Default)]
pub struct LineParser {
    buf: BytesMut,
    /// Where the search for the next newline resumes, so a long line arriving in many chunks is
    /// scanned once.
    scanned: usize,
}

impl LineParser {
    /// A parser with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete non-blank line, without its newline; `None` until one is complete.
    pub fn next_line(&mut self) -> Option<Bytes> {
        loop {
            let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                return None;
            };
            let line = self.buf.split_to(self.scanned + at + 1).freeze();
            self.scanned = 0;
            let content = line.slice(..line.len() - 1);
            if !content.iter().all(u8::is_ascii_whitespace) {
                return Some(content);
            }
        }
    }

    /// Bytes held that do not yet form a complete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_and_blank_lines_are_skipped() {
        let mut p = LineParser::new();
        p.push(&prelude(8));
        p.push(b"{\"a\"");
        assert_eq!(p.next_line(), None);
        assert_eq!(p.pending(), 4);
        p.push(b":1}\n");
        p.push(HEARTBEAT);
        p.push(&frame(b"{}"));
        assert_eq!(p.next_line().unwrap(), &b"{\"a\":1}"[..]);
        assert_eq!(p.next_line().unwrap(), &b"{}"[..]);
        assert_eq!(p.next_line(), None);
        assert_eq!(prelude(0).len(), 0);
        assert_eq!(prelude(3).len(), 4);
    }
}
