//! Hidden-iframe ("htmlfile") streaming: a chunked `text/html` document that the browser renders
//! as it arrives, one `<script>p(ENVELOPE)</script>` per message.
//!
//! The prelude defines `p`, which hands each envelope to `parent.pushbench_iframe` when the page
//! that holds the iframe defines it, then pads the document so browsers start running scripts
//! before the response ends. Heartbeats are `<script>p(0)</script>`, which the page ignores.
//! Text envelopes are escaped so `</script>` can never occur inside one (see [`crate::envelope`]).

use bytes::{Bytes, BytesMut};

const CALL_OPEN: &[u8] = b"<script>p(";
const CALL_CLOSE: &[u8] = b")</script>\n";
const HEARTBEAT_ARG: &[u8] = b"0";

/// What the server writes when there is nothing to say.
pub const HEARTBEAT: &[u8] = b"<script>p(0)</script>\n";

/// Padding written after the prelude when the request does not ask for another amount.
pub const DEFAULT_PADDING: usize = 1024;

/// The start of the document: `p` and `padding` bytes of filler inside an HTML comment.
pub fn prelude(padding: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(padding + 256);
    out.extend_from_slice(
        b"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><script>\
var p=function(m){if(m&&parent&&parent.pushbench_iframe)parent.pushbench_iframe(m)};\
</script></head><body>\n",
    );
    if padding > 0 {
        out.extend_from_slice(b"<!--");
        out.resize(out.len() + padding, b' ');
        out.extend_from_slice(b"-->\n");
    }
    out.freeze()
}

/// Frames one text envelope as a script call.
pub fn frame(envelope: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(envelope.len() + CALL_OPEN.len() + CALL_CLOSE.len());
    out.extend_from_slice(CALL_OPEN);
    out.extend_from_slice(envelope);
    out.extend_from_slice(CALL_CLOSE);
    out.freeze()
}

/// Pulls envelopes out of the streamed document across arbitrary chunk boundaries. Each byte
/// is scanned about once, however many reads a large message arrives in.
#[derive(Debug, Default)]
pub struct ScriptParser {
    buf: BytesMut,
    /// Where the search for the end of the current call resumes (0: no call open yet).
    close_from: usize,
}

impl ScriptParser {
    /// A parser with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The argument of the next complete `p(...)` call that is not a heartbeat.
    pub fn next_envelope(&mut self) -> Option<Bytes> {
        loop {
            let open = memchr::memmem::find(&self.buf, CALL_OPEN)?;
            let body_start = open + CALL_OPEN.len();
            let from = self.close_from.max(body_start);
            let Some(close) = memchr::memmem::find(&self.buf[from..], CALL_CLOSE) else {
                // Resume just before the end: the closing marker may straddle two reads.
                self.close_from = self.buf.len().saturating_sub(CALL_CLOSE.len() - 1);
                return None;
            };
            let close = from + close;
            self.close_from = 0;
            let call = self.buf.split_to(close + CALL_CLOSE.len()).freeze();
            let arg = call.slice(body_start..close);
            if arg != HEARTBEAT_ARG {
                return Some(arg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_come_out_whole_whatever_the_chunking() {
        let mut doc = prelude(16).to_vec();
        doc.extend_from_slice(HEARTBEAT);
        doc.extend_from_slice(&frame(br#"{"seq":1}"#));
        doc.extend_from_slice(&frame(br#"{"seq":2}"#));
        for chunk_size in [1, 3, 7, doc.len()] {
            let mut p = ScriptParser::new();
            let mut got = Vec::new();
            for chunk in doc.chunks(chunk_size) {
                p.push(chunk);
                while let Some(e) = p.next_envelope() {
                    got.push(e);
                }
            }
            assert_eq!(got, vec![&br#"{"seq":1}"#[..], &br#"{"seq":2}"#[..]]);
        }
    }

    #[test]
    fn padding_is_the_asked_size() {
        assert_eq!(prelude(100).len(), prelude(0).len() + 100 + 8);
    }
}
