//! The first request head of an HTTP connection, read before hyper is given the connection.
//!
//! Two things need it. A stream subscription (SSE, xhr-stream, iframe) asked for on a fresh
//! HTTP/1.1 connection is served directly, without hyper's per-connection buffers (see
//! [`crate::stream`]), and so is a connection whose requests are polls (see [`super::polls`],
//! which reads each next head with [`read_head`]). And a connection must send its first complete request head (for
//! HTTP/2, the preface and its SETTINGS frame) within `--idle-timeout-ms` of being accepted or be
//! closed: hyper-util's protocol detection and hyper's HTTP/2 handshake wait without any deadline,
//! so a connection that sent nothing held its slot, and `--max-connections` of them locked
//! everyone out.
//!
//! The head is parsed with `httparse` (hyper's own parser). Anything that is not a stream
//! subscription or a poll, malformed heads included, is handed to hyper with the bytes read so far
//! replayed first ([`Rewind`]), so hyper answers it exactly as if it had read it itself.

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Request, Version};
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Read size for a head; most are a few hundred bytes, a browser's about 500.
const READ_CHUNK: usize = 1024;

/// Most header fields the direct path parses; a request with more goes to hyper.
const MAX_HEADERS: usize = 64;

/// What the first request on a connection is.
#[derive(Debug)]
pub enum First {
    /// The client closed before sending a complete head.
    Closed,
    /// `GET` of a streaming transport over HTTP/1.1 with nothing after its head, and the bytes
    /// it came in (for hyper, should the stream be refused).
    Stream(Box<Request<()>>, Bytes),
    /// `GET` of a poll over HTTP/1.1 with nothing after its head: the buffer it came in and
    /// where its request target is in it.
    Poll(BytesMut, Range<usize>),
    /// Anything else, with the bytes read so far.
    Other(Bytes),
}

/// Reads until `io` holds a complete head, or more than `max_head` bytes of an incomplete one
/// (which hyper then refuses with 431).
pub async fn read<T: AsyncRead + Unpin>(io: &mut T, max_head: usize) -> io::Result<First> {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    Ok(match read_head(io, &mut buf, max_head).await? {
        Head::Closed => First::Closed,
        Head::Stream(request) => First::Stream(request, buf.freeze()),
        Head::Poll(target) => First::Poll(buf, target),
        Head::Other => First::Other(buf.freeze()),
    })
}

/// What a request head read into a buffer is.
#[derive(Debug)]
pub enum Head {
    /// The client closed before sending a complete head.
    Closed,
    /// As [`First::Stream`].
    Stream(Box<Request<()>>),
    /// As [`First::Poll`]: where the request target is in the buffer.
    Poll(Range<usize>),
    /// Anything else: hyper's, with the bytes in the buffer.
    Other,
}

/// Reads into `buf` until it holds a complete head, or more than `max_head` bytes of an
/// incomplete one. Cancel-safe: the bytes read so far stay in `buf`, and reading on parses them
/// with what follows.
pub async fn read_head<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut BytesMut,
    max_head: usize,
) -> io::Result<Head> {
    loop {
        if buf.capacity() == buf.len() {
            buf.reserve(READ_CHUNK);
        }
        // A read shorter than the room left (a head nearly always is) tells tokio the socket is
        // drained, so the next read waits for readiness instead of asking the kernel again.
        if io.read_buf(buf).await? == 0 {
            return Ok(Head::Closed);
        }
        match parse(buf) {
            Parsed::Partial if buf.len() <= max_head => {}
            Parsed::Partial | Parsed::Other => return Ok(Head::Other),
            Parsed::Stream(request) => return Ok(Head::Stream(request)),
            Parsed::Poll(target) => return Ok(Head::Poll(target)),
        }
    }
}

enum Parsed {
    Partial,
    Stream(Box<Request<()>>),
    Poll(Range<usize>),
    Other,
}

/// What an HTTP/2 client sends first (RFC 9113 §3.4), before its SETTINGS frame.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame header: 3 bytes of length, type, flags, 4 bytes of stream id.
const H2_FRAME_HEADER: usize = 9;

fn parse(buf: &[u8]) -> Parsed {
    if buf.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(buf) {
        return Parsed::Partial;
    }
    if let Some(frame) = buf.strip_prefix(H2_PREFACE) {
        // The preface must be followed by the client's SETTINGS within the same deadline:
        // hyper's HTTP/2 handshake waits for it without one.
        if frame.len() < H2_FRAME_HEADER {
            return Parsed::Partial;
        }
        let len = u32::from_be_bytes([0, frame[0], frame[1], frame[2]]) as usize;
        let is_settings = frame[3] == 0x4;
        return if is_settings && frame.len() < H2_FRAME_HEADER + len {
            Parsed::Partial
        } else {
            Parsed::Other
        };
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    match head.parse(buf) {
        Ok(httparse::Status::Partial) => Parsed::Partial,
        // A body or a pipelined request follows: hyper's business.
        Ok(httparse::Status::Complete(len)) if len == buf.len() => {
            if !plain_get(&head) {
                Parsed::Other
            } else if let Some(target) = poll_target(&head, buf) {
                Parsed::Poll(target)
            } else {
                stream_request(&head).map_or(Parsed::Other, Parsed::Stream)
            }
        }
        // More fields than the direct path parses: hyper's business, but only once the head is
        // whole, so the deadline and the pending limit still apply to it until then.
        Err(httparse::Error::TooManyHeaders) if !buf.windows(4).any(|w| w == b"\r\n\r\n") => {
            Parsed::Partial
        }
        Ok(httparse::Status::Complete(_)) | Err(_) => Parsed::Other,
    }
}

/// A `GET` over HTTP/1.1 without a body and without `Connection` or `Expect`: what the direct
/// paths serve. Anything else is hyper's, which answers it in kind.
fn plain_get(head: &httparse::Request<'_, '_>) -> bool {
    head.method == Some("GET")
        && head.version == Some(1)
        && !head.headers.iter().any(|field| {
            let name = field.name;
            // A GET announcing a body is unusual enough to leave to hyper.
            name.eq_ignore_ascii_case("content-length") && field.value != b"0"
                || name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("expect")
                || name.eq_ignore_ascii_case("connection")
        })
}

/// Where in `buf` the target of a poll (`/poll`, `/long-poll`) is.
fn poll_target(head: &httparse::Request<'_, '_>, buf: &[u8]) -> Option<Range<usize>> {
    let target = head.path?;
    let path = target.split('?').next().unwrap_or(target);
    if !matches!(
        Transport::from_path(path)?,
        Transport::ShortPoll | Transport::LongPoll
    ) {
        return None;
    }
    // httparse hands out the target as a slice of `buf`.
    let start = target.as_ptr() as usize - buf.as_ptr() as usize;
    Some(start..start + target.len())
}

fn stream_request(head: &httparse::Request<'_, '_>) -> Option<Box<Request<()>>> {
    let target = head.path?;
    let path = target.split('?').next().unwrap_or(target);
    if !matches!(
        Transport::from_path(path)?,
        Transport::Sse | Transport::XhrStream | Transport::Iframe
    ) {
        return None;
    }
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(target)
        .version(Version::HTTP_11);
    for field in head.headers.iter() {
        request = request.header(field.name, field.value);
    }
    request.body(()).ok().map(Box::new)
}

/// `inner`, with `pre` read first: the bytes [`read`] took before hyper got the connection.
#[derive(Debug)]
pub struct Rewind<T> {
    pre: Bytes,
    inner: T,
}

impl<T> Rewind<T> {
    /// `inner` with `pre` to be read again.
    pub fn new(inner: T, pre: Bytes) -> Self {
        Rewind { pre, inner }
    }

    /// The connection, and what of `pre` was not read again yet.
    pub fn into_parts(self) -> (T, Bytes) {
        (self.inner, self.pre)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pre.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.pre.len().min(buf.remaining());
        buf.put_slice(&self.pre[..n]);
        self.pre.advance(n);
        if self.pre.is_empty() {
            // Let the allocation go now rather than with the connection.
            self.pre = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn first(chunks: &[&[u8]], max_head: usize) -> First {
        let mut input = chunked_reader(chunks);
        read(&mut input, max_head).await.unwrap()
    }

    /// A reader that returns `chunks` one read at a time, then end of file.
    fn chunked_reader(chunks: &[&[u8]]) -> impl AsyncRead + Unpin {
        struct Chunks(std::collections::VecDeque<Vec<u8>>);
        impl AsyncRead for Chunks {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                if let Some(mut chunk) = self.0.pop_front() {
                    let n = chunk.len().min(buf.remaining());
                    buf.put_slice(&chunk[..n]);
                    if n < chunk.len() {
                        self.0.push_front(chunk.split_off(n));
                    }
                }
                Poll::Ready(Ok(()))
            }
        }
        Chunks(chunks.iter().map(|c| c.to_vec()).collect())
    }

    #[tokio::test]
    async fn a_stream_subscription_is_recognised_across_reads() {
        let head: &[u8] =
            b"GET /sse?topic=a&after=3 HTTP/1.1\r\nhost: x\r\nlast-event-id: 7\r\n\r\n";
        let First::Stream(request, bytes) = first(&[&head[..20], &head[20..]], 8192).await else {
            panic!("a stream subscription");
        };
        assert_eq!(request.uri(), "/sse?topic=a&after=3");
        assert_eq!(request.headers()["last-event-id"], "7");
        assert_eq!(&bytes[..], head);
        for path in ["/stream", "/iframe"] {
            let head = format!("GET {path}?topic=a HTTP/1.1\r\nhost: x\r\n\r\n");
            assert!(matches!(
                first(&[head.as_bytes()], 8192).await,
                First::Stream(..)
            ));
        }
    }

    #[tokio::test]
    async fn a_poll_is_recognised_with_its_target_and_read_on_in_the_same_buffer() {
        let head: &[u8] = b"GET /long-poll?topic=a&after=3 HTTP/1.1\r\nhost: x\r\n\r\n";
        let First::Poll(mut buf, target) = first(&[&head[..9], &head[9..]], 8192).await else {
            panic!("a poll");
        };
        assert_eq!(&buf[target], b"/long-poll?topic=a&after=3");
        // The next request on the connection is read into the same buffer.
        buf.clear();
        let mut next = chunked_reader(&[b"GET /poll HTTP/1.1\r\n\r\n"]);
        match read_head(&mut next, &mut buf, 8192).await.unwrap() {
            Head::Poll(target) => assert_eq!(&buf[target], b"/poll"),
            other => panic!("{other:?}"),
        }
        buf.clear();
        let mut next = chunked_reader(&[b"POST /publish?topic=a HTTP/1.1\r\n\r\n"]);
        assert!(matches!(
            read_head(&mut next, &mut buf, 8192).await.unwrap(),
            Head::Other
        ));
    }

    #[tokio::test]
    async fn everything_else_goes_to_hyper_with_every_byte_read() {
        let others: [&[u8]; 8] = [
            b"GET /poll?topic=a HTTP/1.1\r\nconnection: close\r\n\r\n",
            b"GET /sse?topic=a HTTP/1.0\r\n\r\n",
            b"HEAD /sse?topic=a HTTP/1.1\r\n\r\n",
            b"POST /publish?topic=a HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi",
            b"GET /sse?topic=a HTTP/1.1\r\n\r\nGET /poll?topic=a HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0",
            b"GET /sse?topic=a HTTP/1.1\r\nbad header\r\n\r\n",
            b"GET /sse?topic=a HTTP/1.1\r\nconnection: close\r\n\r\n",
        ];
        for head in others {
            match first(&[head], 8192).await {
                First::Other(bytes) => assert_eq!(&bytes[..], head),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(head)),
            }
        }
    }

    #[tokio::test]
    async fn an_oversized_head_goes_to_hyper_and_a_closed_one_is_closed() {
        let long = format!("GET /sse?topic=a HTTP/1.1\r\nx: {}\r\n", "y".repeat(300));
        match first(&[long.as_bytes()], 100).await {
            First::Other(bytes) => assert_eq!(bytes.len(), long.len()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            first(&[b"GET /sse?topic=a HTTP/1.1\r\n"], 8192).await,
            First::Closed
        ));
    }

    #[tokio::test]
    async fn a_head_with_many_fields_is_read_whole_before_hyper_gets_it() {
        let fields = "a: b\r\n".repeat(MAX_HEADERS + 1);
        let head = format!("GET /sse?topic=a HTTP/1.1\r\n{fields}");
        // Unfinished, it is still being read (and closed when the peer is).
        assert!(matches!(
            first(&[head.as_bytes()], 8192).await,
            First::Closed
        ));
        let whole = format!("{head}\r\n");
        match first(&[whole.as_bytes()], 8192).await {
            First::Other(bytes) => assert_eq!(&bytes[..], whole.as_bytes()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_http2_preface_is_handed_over_only_with_its_settings() {
        let settings: &[u8] =
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\x06\x04\0\0\0\0\0\0\x03\0\0\0\x64";
        // Cut anywhere before its end, it is still being read (and closed when the peer is).
        for cut in [3, 24, 30, settings.len() - 1] {
            assert!(
                matches!(first(&[&settings[..cut]], 8192).await, First::Closed),
                "cut at {cut}"
            );
        }
        match first(&[&settings[..10], &settings[10..]], 8192).await {
            First::Other(bytes) => assert_eq!(&bytes[..], settings),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn rewind_replays_then_reads_on() {
        let inner = chunked_reader(&[b" world"]);
        let mut io = Rewind::new(inner, Bytes::from_static(b"hello"));
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"hello world");
    }
}
