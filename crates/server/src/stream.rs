//! What the three streaming HTTP transports (xhr-stream, iframe, SSE) share: a `200` whose body is
//! an optional prelude, then one frame per event, heartbeats when idle, and a clean end of stream
//! on shutdown. Each transport module only says how its frames look ([`Spec`]) and opens a
//! [`Stream`]; the router then serves it one of two ways, with the same bytes on the wire:
//!
//! - **Directly** ([`Stream::serve`]), when the stream is the first request of an HTTP/1.1
//!   connection, as every EventSource, XHR and iframe subscriber opens it: the response head, then
//!   chunks written straight to the socket, every frame ready at once in one vectored write. hyper
//!   keeps an 8 KiB write buffer and an 8 KiB read buffer for the life of every connection, which
//!   a connection that only receives pushes never uses: at 19,000 idle SSE subscribers this path
//!   holds 2.8 KiB per connection, against 13.7 KiB through hyper.
//! - **Through hyper** ([`Stream::into_response`]): over HTTP/2, and when a keep-alive
//!   connection asks for a stream after other requests.
//!
//! Either way a subscriber that stops reading stops being served: its subscription falls behind
//! the shared queue and later resumes from the ring or gets a gap, while nothing it does slows
//! anyone else.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use futures_util::{stream, StreamExt};
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::direct::Sink;
use crate::heartbeat;
use crate::http::reply::Body;
use crate::hub::{frame_gap, Event, Framing, Subscription};
use crate::shared::Shared;
use crate::stats::ConnTag;
use crate::vectored::{self, BATCH};

/// How one streaming transport frames its response.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Counted under this transport in `/stats`.
    pub transport: Transport,
    /// How messages and gaps are framed.
    pub framing: Framing,
    /// The `content-type` header.
    pub content_type: &'static str,
    /// Written before the first event (padding, `retry:`, the iframe document head).
    pub prelude: Bytes,
    /// Written at every heartbeat tick.
    pub heartbeat: &'static [u8],
}

/// One subscriber's stream, opened and not yet served.
#[derive(Debug)]
pub struct Stream {
    shared: Arc<Shared>,
    spec: Spec,
    sub: Subscription,
    heartbeat: watch::Receiver<u64>,
    prelude: Option<Bytes>,
}

/// Ends the chunked body of a stream that ends (at shutdown).
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

impl Stream {
    /// A stream of `sub`, framed as `spec` says.
    pub fn open(shared: &Arc<Shared>, sub: Subscription, mut spec: Spec) -> Stream {
        // Taken out of the spec, so it is freed once sent (an iframe's is over 1 KiB).
        let prelude = std::mem::take(&mut spec.prelude);
        Stream {
            shared: shared.clone(),
            heartbeat: shared.heartbeats.subscribe(),
            prelude: Some(prelude).filter(|p| !p.is_empty()),
            spec,
            sub,
        }
    }

    /// The transport it is counted under.
    pub fn transport(&self) -> Transport {
        self.spec.transport
    }

    /// The response's header fields besides hyper's own (`date`, `transfer-encoding`), in the
    /// order both ways of serving write them.
    fn header_fields(&self) -> [(HeaderName, &'static str); 3] {
        [
            (CONTENT_TYPE, self.spec.content_type),
            // Push data must never be cached.
            (CACHE_CONTROL, "no-store"),
            // Tells nginx (and proxies that copy it) not to buffer the stream.
            (HeaderName::from_static("x-accel-buffering"), "no"),
        ]
    }

    /// The `200` for hyper to send, its body streaming the frames.
    pub fn into_response(self) -> Response<Body> {
        let fields = self.header_fields();
        let frames = stream::unfold(self, |mut st| async move {
            let bytes = st.next().await?;
            Some((Ok(Frame::data(bytes)), st))
        });
        let mut r = Response::new(StreamBody::new(frames).boxed_unsync());
        *r.status_mut() = StatusCode::OK;
        for (name, value) in fields {
            r.headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        r
    }

    /// Serves the stream on `io` as the answer to an HTTP/1.1 request whose head has been read,
    /// until shutdown (then ends the body cleanly) or until the client closes.
    pub async fn serve<T: AsyncRead + AsyncWrite + Unpin>(mut self, io: &mut T) -> io::Result<()> {
        let mut out = vec![Bytes::from(self.head(SystemTime::now()))];
        if let Some(prelude) = self.prelude.take() {
            chunked(&mut out, vec![prelude]);
        }
        vectored::write_all(io, &mut out).await?;
        // A subscriber has nothing to say: reading tells at once when it has gone, instead of
        // at the next write, and anything it does send (a pipelined request this stream will
        // never let through) ends the stream rather than being read and dropped for ever.
        let mut input = [0u8; 1];
        // Armed once for the stream, polled only when it ticks; its end is the shutdown (see
        // `heartbeat::Beat`).
        let mut beat = heartbeat::beat(self.heartbeat.clone());
        loop {
            let first = tokio::select! {
                biased;
                tick = beat.next() => tick.map(|()| Bytes::from_static(self.spec.heartbeat)),
                _ = io.read(&mut input) => return Ok(()),
                event = self.sub.next() => Some(self.frame(event)),
            };
            let Some(first) = first else {
                io.write_all(LAST_CHUNK).await?;
                return io.shutdown().await;
            };
            let mut frames = vec![first];
            while frames.len() < BATCH {
                let Some(event) = self.sub.try_next() else {
                    break;
                };
                frames.push(self.frame(event));
            }
            chunked(&mut out, frames);
            vectored::write_all(io, &mut out).await?;
        }
    }

    /// [`Self::serve`] with the publishes writing the messages into `socket` while it keeps
    /// up, the task woken only for heartbeats, input, shutdown and when it falls behind (see
    /// [`crate::direct`]). The same bytes on the wire, counted into `tag`.
    pub async fn serve_direct(mut self, socket: TcpStream, tag: Arc<ConnTag>) -> io::Result<()> {
        let sink = Arc::new(Sink::new(
            socket,
            tag,
            self.shared.stats.clone(),
            self.spec.transport,
            self.spec.framing,
            true,
        ));
        let mut io = sink.io();
        let mut out = vec![Bytes::from(self.head(SystemTime::now()))];
        if let Some(prelude) = self.prelude.take() {
            chunked(&mut out, vec![prelude]);
        }
        vectored::write_all(&mut io, &mut out).await?;
        let _attached = self.sub.attach(sink.clone());
        let mut heartbeat = Vec::new();
        chunked(
            &mut heartbeat,
            vec![Bytes::from_static(self.spec.heartbeat)],
        );
        let mut input = [0u8; 1];
        let mut beat = heartbeat::beat(self.heartbeat.clone());
        loop {
            // The task's turn: what a publish left unwritten (`io` writes it first), then what
            // the subscription holds past the last message a publish wrote.
            let written = sink.stop();
            self.sub.skip_to(written);
            let mut held = None;
            loop {
                if self.shared.shutdown.is_cancelled() {
                    return end(&mut io).await;
                }
                let mut frames: Vec<Bytes> = held.take().into_iter().collect();
                while frames.len() < BATCH {
                    let Some(event) = self.sub.try_next() else {
                        break;
                    };
                    frames.push(self.frame(event));
                }
                chunked(&mut out, frames);
                if !out.is_empty() {
                    vectored::write_all(&mut io, &mut out).await?;
                    continue;
                }
                io.flush().await?;
                match sink.resume_after(&mut self.sub) {
                    Ok(()) => break,
                    Err(event) => held = Some(self.frame(event)),
                }
            }
            // The publishes' turn: the task sleeps until its heartbeat, its socket or a publish
            // that could not write wakes it.
            loop {
                tokio::select! {
                    biased;
                    tick = beat.next() => match tick {
                        Some(()) if sink.try_write(&heartbeat) => {}
                        Some(()) => break,
                        None => {
                            sink.stop();
                            return end(&mut io).await;
                        }
                    },
                    _ = io.read(&mut input) => return Ok(()),
                    () = sink.taken_over() => break,
                }
            }
        }
    }

    /// The response head hyper would write for [`Self::into_response`] on HTTP/1.1.
    fn head(&self, now: SystemTime) -> String {
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        for (name, value) in self.header_fields() {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let date = httpdate::fmt_http_date(now);
        let _ = write!(head, "transfer-encoding: chunked\r\ndate: {date}\r\n\r\n");
        head
    }

    /// The next bytes to send, or `None` when the server shuts down.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(prelude) = self.prelude.take() {
            return Some(prelude);
        }
        let bytes = tokio::select! {
            biased;
            _ = self.shared.shutdown.cancelled() => return None,
            event = self.sub.next() => self.frame(event),
            _ = self.heartbeat.changed() => Bytes::from_static(self.spec.heartbeat),
        };
        Some(bytes)
    }

    fn frame(&self, event: Event) -> Bytes {
        let stats = &self.shared.stats;
        match event {
            Event::Message(m) => {
                stats.delivered(self.spec.transport, 1);
                m.framed(self.spec.framing).clone()
            }
            Event::Gap {
                first_missing,
                first_available,
            } => {
                stats.gap(self.spec.transport);
                frame_gap(
                    self.spec.framing,
                    self.sub.topic(),
                    first_missing,
                    first_available,
                )
            }
        }
    }
}

/// Ends a directly served stream at shutdown: what a publish began (the sink's io writes it
/// first), then the last chunk.
async fn end<T: AsyncWrite + Unpin>(io: &mut T) -> io::Result<()> {
    io.write_all(LAST_CHUNK).await?;
    io.shutdown().await
}

/// Room for a chunk's size line: 16 hex digits and CRLF.
pub const SIZE_LINE: usize = 18;

/// The size line of a chunk of `len` bytes, as hyper writes it (upper-case hex), in `buf`.
pub fn size_line(buf: &mut [u8; SIZE_LINE], len: usize) -> &[u8] {
    let mut cursor = io::Cursor::new(&mut buf[..]);
    let _ = io::Write::write_fmt(&mut cursor, format_args!("{len:X}\r\n"));
    let n = cursor.position() as usize;
    &buf[..n]
}

/// Appends `frames` to `out` as HTTP/1.1 chunks, as hyper frames them (size in upper-case hex):
/// the frames themselves are shared, only the size lines are new bytes, one allocation for the
/// batch. Empty frames are skipped, since an empty chunk would end the body.
fn chunked(out: &mut Vec<Bytes>, frames: Vec<Bytes>) {
    let mut lines = BytesMut::with_capacity(frames.len() * 12);
    let mut ends = Vec::with_capacity(frames.len());
    for frame in &frames {
        if !frame.is_empty() {
            lines.extend_from_slice(size_line(&mut [0; SIZE_LINE], frame.len()));
            ends.push(lines.len());
        }
    }
    let lines = lines.freeze();
    let crlf = Bytes::from_static(b"\r\n");
    let mut start = 0;
    for (frame, end) in frames.into_iter().filter(|f| !f.is_empty()).zip(ends) {
        out.push(lines.slice(start..end));
        out.push(frame);
        out.push(crlf.clone());
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_framed_as_hyper_frames_them_and_empty_frames_skipped() {
        let mut out = Vec::new();
        let frames = vec![
            Bytes::from_static(b"data: a\n\n"),
            Bytes::new(),
            Bytes::from(vec![b'x'; 300]),
        ];
        chunked(&mut out, frames);
        let wire: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
        let mut expected = b"9\r\ndata: a\n\n\r\n12C\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 300]);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(wire, expected);
    }
}
