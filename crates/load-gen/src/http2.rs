//! load-gen's HTTP/2 client (`http = "2"`): hyper's HTTP/2 client over the counted connection
//! (in plaintext with prior knowledge, or over TLS with ALPN `h2`), with the plaintext frame
//! stream classified as it passes in each direction, so every byte still has a phase:
//!
//! - HEADERS, CONTINUATION and PUSH_PROMISE frames, whole: the request and response heads
//!   (HPACK-compressed; a session puts them under setup for a stream, headers for a poll);
//! - DATA frames: the 9-byte frame header, a padded frame's pad length and padding are
//!   framing; the rest is the body, whose envelopes the session counts as payload and the
//!   rest of which (SSE fields, NDJSON newlines, JSON brackets) is framing too;
//! - the client preface and every other frame (SETTINGS, WINDOW_UPDATE, PING, RST_STREAM,
//!   GOAWAY, PRIORITY, and any unknown type): the `control` phase.
//!
//! Under TLS the socket's ciphertext is still what is counted and cross-checked against the
//! kernel; the classifier sees the plaintext above it, so TLS's record overhead is what neither
//! claims, and goes to framing as over HTTP/1.1.
//!
//! Requests are GETs, or an extended CONNECT (RFC 8441) for a WebSocket, sent once the
//! server's SETTINGS allow it ([`Requester::connect`]); its stream's DATA frames then carry the
//! WebSocket's frames, classified as any body is.
//!
//! hyper drives the connection from a task of its own, which owns the socket: what the socket
//! moved is read when that task lets the socket go ([`H2::close`]).

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use pushbench_results::model::ByteCounts;
use pushbench_results::Traffic;

use crate::http1::{BodyKind, Head, HttpError};
use crate::net::{Conn, Totals};

/// The client connection preface (RFC 9113 §3.4), sent before the client's first frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;
/// DATA's PADDED flag: the payload starts with a pad length, and that much padding ends it.
const PADDED: u8 = 0x8;

/// What one direction of an HTTP/2 connection carried, by the phase each byte belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameBytes {
    /// HEADERS, CONTINUATION and PUSH_PROMISE frames, their frame headers included.
    pub headers: u64,
    /// DATA frames' 9-byte headers, pad lengths and padding.
    pub data_framing: u64,
    /// DATA frames' payload: the response (or request) bodies.
    pub data: u64,
    /// The client preface and every other frame.
    pub control: u64,
    /// DATA frames.
    pub data_frames: u64,
    /// HEADERS frames (one per request or response head, trailers aside).
    pub headers_frames: u64,
}

impl FrameBytes {
    /// All bytes classified.
    pub fn total(&self) -> u64 {
        self.headers + self.data_framing + self.data + self.control
    }
}

/// Where the classifier is in the byte stream.
#[derive(Debug, Clone, Copy)]
enum At {
    /// This many bytes of the client preface still to come.
    Preface(usize),
    /// Inside a 9-byte frame header, this many bytes of it seen.
    Header(usize),
    /// Inside the payload of a frame that is not DATA: this many bytes left.
    Other { left: u32, headers: bool },
    /// At a padded DATA frame's pad length byte; the payload's length after it.
    PadLength { left: u32 },
    /// Inside a DATA frame's data, then its padding.
    Data { data: u32, padding: u32 },
}

/// A passive parser of one direction's HTTP/2 frame stream, fed as bytes pass, in any pieces.
#[derive(Debug, Clone)]
pub struct Classifier {
    at: At,
    header: [u8; 9],
    counts: FrameBytes,
}

impl Classifier {
    /// For what the client sends: the preface, then frames.
    pub fn client() -> Classifier {
        Classifier {
            at: At::Preface(PREFACE.len()),
            header: [0; 9],
            counts: FrameBytes::default(),
        }
    }

    /// For what the server sends: frames from the first byte.
    pub fn server() -> Classifier {
        Classifier {
            at: At::Header(0),
            header: [0; 9],
            counts: FrameBytes::default(),
        }
    }

    /// What was classified so far.
    pub fn counts(&self) -> FrameBytes {
        self.counts
    }

    /// Classifies `bytes`, the next of the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let c = &mut self.counts;
            match &mut self.at {
                At::Preface(left) => {
                    let n = (*left).min(bytes.len());
                    c.control += n as u64;
                    *left -= n;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        self.at = At::Header(0);
                    }
                }
                At::Header(seen) => {
                    let n = (9 - *seen).min(bytes.len());
                    self.header[*seen..*seen + n].copy_from_slice(&bytes[..n]);
                    *seen += n;
                    bytes = &bytes[n..];
                    if *seen == 9 {
                        self.frame_begins();
                    }
                }
                At::Other { left, headers } => {
                    let n = (*left as usize).min(bytes.len());
                    match headers {
                        true => c.headers += n as u64,
                        false => c.control += n as u64,
                    }
                    *left -= n as u32;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        self.at = At::Header(0);
                    }
                }
                At::PadLength { left } => {
                    c.data_framing += 1;
                    // A pad length past the payload is a protocol error the peer will act on;
                    // here the rest of the frame is simply padding.
                    let padding = u32::from(bytes[0]).min(*left - 1);
                    self.at = At::Data {
                        data: *left - 1 - padding,
                        padding,
                    };
                    bytes = &bytes[1..];
                    self.maybe_frame_ends();
                }
                At::Data { data, padding } => {
                    let n = (*data as usize).min(bytes.len());
                    c.data += n as u64;
                    *data -= n as u32;
                    bytes = &bytes[n..];
                    let p = (*padding as usize).min(bytes.len());
                    c.data_framing += p as u64;
                    *padding -= p as u32;
                    bytes = &bytes[p..];
                    self.maybe_frame_ends();
                }
            }
        }
    }

    /// A whole frame header has been read: count it and move into the payload.
    fn frame_begins(&mut self) {
        let h = &self.header;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let (kind, flags) = (h[3], h[4]);
        let c = &mut self.counts;
        match kind {
            DATA => {
                c.data_frames += 1;
                c.data_framing += 9;
                self.at = match flags & PADDED != 0 && len > 0 {
                    true => At::PadLength { left: len },
                    false => At::Data {
                        data: len,
                        padding: 0,
                    },
                };
                self.maybe_frame_ends();
            }
            HEADERS | CONTINUATION | PUSH_PROMISE => {
                c.headers_frames += u64::from(kind == HEADERS);
                c.headers += 9;
                self.at = At::Other {
                    left: len,
                    headers: true,
                };
                self.maybe_frame_ends();
            }
            _ => {
                c.control += 9;
                self.at = At::Other {
                    left: len,
                    headers: false,
                };
                self.maybe_frame_ends();
            }
        }
    }

    /// Back to the next frame header once the current frame's payload is all read.
    fn maybe_frame_ends(&mut self) {
        let done = match self.at {
            At::Other { left, .. } => left == 0,
            At::Data { data, padding } => data == 0 && padding == 0,
            At::PadLength { .. } | At::Preface(_) | At::Header(_) => false,
        };
        if done {
            self.at = At::Header(0);
        }
    }
}

/// What one HTTP/2 connection moved, read when it closed.
#[derive(Debug, Clone)]
pub struct Closed {
    /// The socket's counts (ciphertext under TLS), `TCP_INFO` and TLS records.
    pub totals: Totals,
    /// The client's frames, classified.
    pub up: FrameBytes,
    /// The server's frames, classified.
    pub down: FrameBytes,
    /// TLS close_notify alerts sent and received (0 or 1 each; none without TLS): hyper shuts
    /// its side with one, and the server answers likewise. Each is a record whose 2 bytes of
    /// alert are framing, like its 22 bytes of record overhead.
    pub close_notify: [u64; 2],
}

#[derive(Debug)]
struct Tally {
    up: Classifier,
    down: Classifier,
}

/// The connection as hyper's task holds it: every byte through it classified; when hyper lets
/// it go, what it moved is sent to [`H2::close`].
struct Tap {
    conn: Conn,
    tally: Arc<Mutex<Tally>>,
    closed: Option<oneshot::Sender<Closed>>,
    close_notify: [u64; 2],
    /// Once the client has shut its side: until when it reads on for the server's end.
    closing: Option<Pin<Box<tokio::time::Sleep>>>,
    settings: Arc<ServerSettings>,
}

/// Whether the server allows extended CONNECT (RFC 8441's SETTINGS_ENABLE_CONNECT_PROTOCOL),
/// for a request that must wait for it. Only hyper's `Connection` answers, from h2's state,
/// which hyper's own connection task (the one doing the socket's reads and writes) updates as
/// it applies the server's SETTINGS, before it writes their acknowledgement; nothing wakes the
/// `Connection`'s poller then. So while a request waits, every read and write of the socket
/// wakes the task polling the `Connection` to ask again, and it tells the waiters.
#[derive(Debug, Default)]
struct ServerSettings {
    connect_protocol: AtomicBool,
    ended: AtomicBool,
    /// Requests waiting for the setting; none, and the connection's i/o wakes nothing.
    waiting: AtomicUsize,
    /// The task polling hyper's `Connection`.
    driver: futures_util::task::AtomicWaker,
    notify: tokio::sync::Notify,
}

/// How long an extended CONNECT waits for the server to allow it.
const SETTINGS_WAIT: Duration = Duration::from_secs(10);

impl ServerSettings {
    /// The connection read or wrote: if a request waits for the setting, the driver looks.
    fn io(&self) {
        if self.waiting.load(Relaxed) > 0 && !self.connect_protocol.load(Relaxed) {
            self.driver.wake();
        }
    }

    /// Polls hyper's `Connection` (which hands the requests to hyper's connection task) to
    /// its end, noting after each poll whether the server now allows extended CONNECT, and
    /// when the connection has ended.
    async fn drive<T, B, E>(
        self: Arc<Self>,
        mut connection: hyper::client::conn::http2::Connection<T, B, E>,
    ) -> Result<(), hyper::Error>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
        B: hyper::body::Body + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        E: hyper::rt::bounds::Http2ClientConnExec<B, T> + Unpin,
    {
        let result = std::future::poll_fn(|cx| {
            self.driver.register(cx.waker());
            let r = Pin::new(&mut connection).poll(cx);
            if !self.connect_protocol.load(Relaxed)
                && connection.is_extended_connect_protocol_enabled()
            {
                self.connect_protocol.store(true, Relaxed);
                self.notify.notify_waiters();
            }
            r
        })
        .await;
        self.ended.store(true, Relaxed);
        self.notify.notify_waiters();
        result
    }

    /// Waits until the connection allows extended CONNECT: woken as the server's SETTINGS are
    /// applied, not on a timer, so opening a WebSocket over HTTP/2 costs the round trip a
    /// browser's does and no more (a reconnect's time is measured).
    async fn wait(&self) -> Result<(), HttpError> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Relaxed);
            }
        }
        self.waiting.fetch_add(1, Relaxed);
        let _waiting = Waiting(&self.waiting);
        // The setting may have been applied since the driver last looked.
        self.driver.wake();
        let deadline = tokio::time::Instant::now() + SETTINGS_WAIT;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.connect_protocol.load(Relaxed) {
                return Ok(());
            }
            let ended = self.ended.load(Relaxed);
            if ended || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(HttpError::Malformed(format!(
                    "the server did not allow extended CONNECT (RFC 8441's SETTINGS_ENABLE_CONNECT_PROTOCOL) {}",
                    match ended {
                        true => "before the connection ended".to_owned(),
                        false => format!("within {SETTINGS_WAIT:?}"),
                    }
                )));
            }
        }
    }
}

impl Tap {
    fn sent(&self, bufs: &[IoSlice<'_>], mut n: usize) {
        let mut tally = self.tally.lock().expect("never held across a panic");
        for b in bufs {
            let take = n.min(b.len());
            tally.up.feed(&b[..take]);
            n -= take;
            if n == 0 {
                break;
            }
        }
    }
}

impl Tap {
    /// Reads what has arrived and not been read: hyper lets the socket go once its side is
    /// done, and the server's last frames (its GOAWAY) and FIN may be waiting, which the
    /// kernel has counted. Read (decrypted, classified), they are counted here too, as a
    /// capture shows them. Never waits: only what is there already.
    fn drain(&mut self) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut buf = [0u8; 4096];
        for _ in 0..64 {
            let mut read = ReadBuf::new(&mut buf);
            match Pin::new(&mut *self).poll_read(&mut cx, &mut read) {
                Poll::Ready(Ok(())) if !read.filled().is_empty() => continue,
                _ => break,
            }
        }
        // Under TLS the server's close_notify ends the plaintext; its FIN is read from the
        // socket beneath.
        if self.conn.negotiated().is_some() {
            let mut read = ReadBuf::new(&mut buf);
            let _ = Pin::new(&mut *self.conn).poll_read(&mut cx, &mut read);
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.drain();
        if let Some(closed) = self.closed.take() {
            let tally = self.tally.lock().expect("never held across a panic");
            let _ = closed.send(Closed {
                totals: self.conn.totals(),
                up: tally.up.counts(),
                down: tally.down.counts(),
                close_notify: self.close_notify,
            });
        }
    }
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let (before, room) = (buf.filled().len(), buf.remaining());
        self.settings.io();
        let r = Pin::new(&mut self.conn).poll_read(cx, buf);
        if buf.filled().len() > before {
            let mut tally = self.tally.lock().expect("never held across a panic");
            tally.down.feed(&buf.filled()[before..]);
        } else if matches!(r, Poll::Ready(Ok(()))) && room > 0 && self.conn.negotiated().is_some() {
            // TLS ends the plaintext only at a close_notify (a bare FIN is an error).
            self.close_notify[1] = 1;
        }
        r
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.settings.io();
        let r = Pin::new(&mut self.conn).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.sent(&[IoSlice::new(buf)], n);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.settings.io();
        let r = Pin::new(&mut self.conn).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.sent(bufs, n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.conn.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn).poll_flush(cx)
    }

    /// Shuts the client's side, then reads on to the server's end (bounded by
    /// [`CLOSE_READ`]): hyper shuts a connection after its GOAWAY and lets the socket go at
    /// once, while the server's GOAWAY and FIN are still coming, which the kernel counts as
    /// they arrive. Read here, with the task woken as they come, they are counted in user space
    /// too (classified, and the FIN noted as the end of the stream).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let tls = self.conn.negotiated().is_some();
        if self.closing.is_none() {
            std::task::ready!(Pin::new(&mut self.conn).poll_shutdown(cx))?;
            // tokio-rustls sends close_notify before shutting the socket.
            self.close_notify[0] = u64::from(tls);
            self.closing = Some(Box::pin(tokio::time::sleep(CLOSE_READ)));
        }
        let mut buf = [0u8; 2048];
        loop {
            if let Some(deadline) = &mut self.closing {
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(()));
                }
            }
            let mut read = ReadBuf::new(&mut buf);
            // Under TLS, the plaintext ends at the server's close_notify; its FIN is read from
            // the socket beneath.
            let beneath_tls = tls && self.close_notify[1] > 0;
            let r = match beneath_tls {
                true => Pin::new(&mut *self.conn).poll_read(cx, &mut read),
                false => Pin::new(&mut *self).poll_read(cx, &mut read),
            };
            match r {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                // The socket's end; or, under TLS, the plaintext's (close_notify): read on
                // beneath for the socket's.
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    if !tls || beneath_tls {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Ok(())) => {}
            }
        }
    }
}

/// How long a closing connection reads on for the server's end (see [`Tap::poll_shutdown`]).
const CLOSE_READ: Duration = Duration::from_secs(1);

/// How long [`H2::close`] waits for hyper to let the socket go (it sends GOAWAY first).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// One HTTP/2 client connection.
pub struct H2 {
    requester: Requester,
    tally: Arc<Mutex<Tally>>,
    closed: oneshot::Receiver<Closed>,
}

impl std::fmt::Debug for H2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2")
            .field("origin", &self.requester.origin)
            .finish()
    }
}

/// What sends requests on an HTTP/2 connection; a clone sends on the same connection.
#[derive(Debug, Clone)]
pub struct Requester {
    send: SendRequest<Empty<Bytes>>,
    settings: Arc<ServerSettings>,
    /// `http://host:port` or `https://host:port`: requests carry absolute URIs, from which
    /// HTTP/2's `:scheme` and `:authority` come.
    origin: Arc<str>,
}

impl Requester {
    /// Sends `GET target` (path and query) with `headers`; returns the response head, its body
    /// to read. Waits for the connection to take one more stream.
    pub async fn get(
        &mut self,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, HttpError> {
        self.send(Request::get(format!("{}{target}", self.origin)), headers)
            .await
    }

    /// Sends an extended CONNECT (RFC 8441) for `target` with `:protocol` `protocol`, once the
    /// server has allowed it (SETTINGS_ENABLE_CONNECT_PROTOCOL, which a client must see before
    /// it may send one); returns the response head. Answered 200, the stream is the protocol's
    /// byte stream (`hyper::upgrade::on`).
    pub async fn connect(
        &mut self,
        target: &str,
        protocol: &'static str,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, HttpError> {
        self.settings.wait().await?;
        let req = Request::connect(format!("{}{target}", self.origin))
            .extension(hyper::ext::Protocol::from_static(protocol));
        self.send(req, headers).await
    }

    async fn send(
        &mut self,
        mut req: http::request::Builder,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, HttpError> {
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| HttpError::Malformed(format!("request: {e}")))?;
        self.send.ready().await.map_err(hyper_error)?;
        self.send.send_request(req).await.map_err(hyper_error)
    }

    /// Whether the connection can take no more requests (the server went away, or it broke).
    pub fn is_closed(&self) -> bool {
        self.send.is_closed()
    }
}

/// hyper's error as the HTTP/1.1 client's: an i/o error whose source chain keeps the cause (a
/// dropped connection's, or the heartbeat timeout's).
pub fn hyper_error(e: hyper::Error) -> HttpError {
    HttpError::Io(io::Error::other(e))
}

/// A response head as the sessions read one: status, cache validators, multipart boundary. Its
/// bytes are counted with the connection's frames, not here (`len` is 0).
pub fn head(parts: &http::response::Parts) -> Head {
    let (mut validators, mut boundary) = (None, None);
    for (name, value) in &parts.headers {
        crate::http1::note_header(
            name.as_str(),
            value.as_bytes(),
            &mut validators,
            &mut boundary,
        );
    }
    Head {
        status: parts.status.as_u16(),
        len: 0,
        body: BodyKind::UntilClose,
        keep_alive: true,
        validators,
        boundary,
    }
}

/// The whole of `body` (a poll's answer, a refusal's reason).
pub async fn read_all(body: Incoming) -> Result<Bytes, HttpError> {
    use http_body_util::BodyExt;
    Ok(body.collect().await.map_err(hyper_error)?.to_bytes())
}

/// Reads the next DATA frame's payload of `body` into `out`, its end pushed onto `ends` (a
/// frame is HTTP/2's chunk). Returns whether the body has ended.
pub async fn read_data(
    body: &mut Incoming,
    out: &mut bytes::BytesMut,
    ends: &mut Vec<usize>,
) -> Result<bool, HttpError> {
    use http_body_util::BodyExt;
    loop {
        match body.frame().await {
            None => return Ok(true),
            Some(Err(e)) => return Err(hyper_error(e)),
            Some(Ok(frame)) => {
                // Trailers carry no data: read on.
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                    ends.push(out.len());
                    return Ok(false);
                }
            }
        }
    }
}

impl H2 {
    /// Speaks HTTP/2 on `conn`, to `authority` (`host:port`): the preface and SETTINGS go out
    /// now, the server's SETTINGS are read by hyper's task. Over TLS, the handshake must have
    /// settled on `h2`.
    pub async fn handshake(conn: Conn, authority: &str) -> Result<H2, HttpError> {
        let scheme = match conn.negotiated() {
            None => "http",
            Some(n) if n.alpn.as_deref() == Some("h2") => "https",
            Some(n) => {
                return Err(HttpError::Malformed(format!(
                    "the server chose {:?} over TLS, not h2",
                    n.alpn
                )))
            }
        };
        let tally = Arc::new(Mutex::new(Tally {
            up: Classifier::client(),
            down: Classifier::server(),
        }));
        let (tx, closed) = oneshot::channel();
        let settings = Arc::new(ServerSettings::default());
        let tap = Tap {
            conn,
            tally: tally.clone(),
            closed: Some(tx),
            close_notify: [0, 0],
            closing: None,
            settings: settings.clone(),
        };
        let (send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(tap))
            .await
            .map_err(hyper_error)?;
        let driven = settings.clone();
        tokio::spawn(async move {
            if let Err(e) = driven.drive(connection).await {
                tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
            }
        });
        Ok(H2 {
            requester: Requester {
                send,
                settings,
                origin: format!("{scheme}://{authority}").into(),
            },
            tally,
            closed,
        })
    }

    /// What sends requests on this connection.
    pub fn requester(&mut self) -> &mut Requester {
        &mut self.requester
    }

    /// Whether the connection can take no more requests.
    pub fn is_closed(&self) -> bool {
        self.requester.is_closed()
    }

    /// Lets the connection go (hyper ends it with GOAWAY once no stream is open and no clone of
    /// its [`Requester`] is left) and returns what it moved; `None` if hyper's task did not let
    /// the socket go within [`CLOSE_WAIT`].
    pub async fn close(self) -> Option<Closed> {
        drop(self.requester);
        drop(self.tally);
        tokio::time::timeout(CLOSE_WAIT, self.closed)
            .await
            .ok()?
            .ok()
    }
}

/// Closes the books on one HTTP/2 connection into `report`: `b` holds what its clients counted
/// (the TLS handshake as setup, the envelopes as payload); its HEADERS frames are setup if
/// `heads_are_setup` (a stream's one request), else headers (polls); its other frames but DATA
/// are control; what no phase claims is framing. `None` (hyper did not let the socket go in
/// time): the connection is not counted, and the run's kernel cross-check shows the bytes
/// missing.
pub fn close_books(
    mut b: ByteCounts,
    report: &mut Traffic,
    closed: Option<Closed>,
    heads_are_setup: bool,
) {
    let Some(c) = closed else {
        return;
    };
    let (up, down) = (c.up, c.down);
    match heads_are_setup {
        true => {
            b.setup_up += up.headers;
            b.setup_down += down.headers;
        }
        false => {
            b.headers_up += up.headers;
            b.headers_down += down.headers;
        }
    }
    b.control_up += up.control;
    b.control_down += down.control;
    report.h2.data_frames_down += down.data_frames;
    report.h2.data_frames_up += up.data_frames;
    report.h2.headers_frames_up += up.headers_frames;
    report.h2.headers_up += up.headers;
    report.tls.close_notify_up += c.close_notify[0];
    report.tls.close_notify_down += c.close_notify[1];
    crate::net::close_books(b, report, &c.totals);
}

/// HTTP/2 connections a run's subscribers share (`multiplex`), as a browser page's requests
/// share one: subscriber `i` is on connection `i / streams`, opened by the first of them to
/// need it (the rest wait for it rather than open their own), and replaced once the server
/// closes it or it breaks. Each connection's books are its own: its handshake, heads, control
/// and framing, and the envelopes its subscribers decoded, closed when it is replaced or at
/// the end of the run ([`Pool::close_all`]).
pub struct Pool {
    streams: usize,
    heads_are_setup: bool,
    slots: Vec<tokio::sync::Mutex<Option<Pooled>>>,
    /// The books of every connection closed so far.
    closed: Mutex<Traffic>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("streams", &self.streams)
            .field("connections", &self.slots.len())
            .finish()
    }
}

/// A pooled connection and what its clients counted on it.
#[derive(Debug)]
pub struct Pooled {
    h2: H2,
    books: ByteCounts,
    payload_down: Arc<AtomicU64>,
}

/// A subscriber's share of a pooled connection.
#[derive(Debug)]
pub struct Lease {
    /// Sends on the pooled connection.
    pub requester: Requester,
    payload_down: Arc<AtomicU64>,
}

impl Lease {
    /// Hands what the subscriber counted on the connection (`conn`: the envelopes it decoded)
    /// to the connection's books, and lets go of it.
    pub fn release(self, conn: &mut ByteCounts) {
        let mine = std::mem::take(conn);
        self.payload_down.fetch_add(mine.payload_down, Relaxed);
    }
}

impl Pool {
    /// Connections for `clients` subscribers, `streams` on each; a stream transport's heads
    /// count as setup (`heads_are_setup`), a poll's as headers.
    pub fn new(clients: usize, streams: usize, heads_are_setup: bool) -> Pool {
        let n = clients.div_ceil(streams.max(1)).max(1);
        Pool {
            streams: streams.max(1),
            heads_are_setup,
            slots: (0..n).map(|_| tokio::sync::Mutex::new(None)).collect(),
            closed: Mutex::new(Traffic::default()),
        }
    }

    /// The slot of subscriber `client`'s connection, locked: a live connection, or none yet
    /// (one the server has closed is retired first). Whoever holds it opens the connection the
    /// others then share.
    pub async fn slot(&self, client: usize) -> tokio::sync::MutexGuard<'_, Option<Pooled>> {
        let mut slot = self.slots[(client / self.streams) % self.slots.len()]
            .lock()
            .await;
        if slot.as_ref().is_some_and(|p| p.h2.is_closed()) {
            if let Some(p) = slot.take() {
                self.retire(p).await;
            }
        }
        slot
    }

    async fn retire(&self, p: Pooled) {
        let mut books = p.books;
        books.payload_down += p.payload_down.load(Relaxed);
        let closed = p.h2.close().await;
        let mut report = self.closed.lock().expect("never held across a panic");
        close_books(books, &mut report, closed, self.heads_are_setup);
    }

    /// Closes every connection (once no subscriber holds a lease) and returns the books of all
    /// the pool's connections.
    pub async fn close_all(&self) -> Traffic {
        for slot in &self.slots {
            let taken = slot.lock().await.take();
            if let Some(p) = taken {
                self.retire(p).await;
            }
        }
        std::mem::take(&mut *self.closed.lock().expect("never held across a panic"))
    }
}

impl Pooled {
    /// `h2`, with what its opener counted on it so far (`books`: the TLS handshake).
    pub fn new(h2: H2, books: ByteCounts) -> Pooled {
        Pooled {
            h2,
            books,
            payload_down: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A share of it.
    pub fn lease(&self) -> Lease {
        Lease {
            requester: self.h2.requester.clone(),
            payload_down: self.payload_down.clone(),
        }
    }
}

/// A subscriber's HTTP/2 connection: its own, or a share of a pooled one.
#[derive(Debug)]
pub enum H2Conn {
    /// Its own connection.
    Own(H2),
    /// A share of one of the run's pooled connections.
    Leased(Lease),
}

impl H2Conn {
    /// What sends requests on it.
    pub fn requester(&mut self) -> &mut Requester {
        match self {
            H2Conn::Own(h2) => h2.requester(),
            H2Conn::Leased(lease) => &mut lease.requester,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Every split of `stream` into two pieces classifies as the whole does.
    fn in_any_two_pieces(mut make: impl FnMut() -> Classifier, stream: &[u8]) -> FrameBytes {
        let mut whole = make();
        whole.feed(stream);
        for cut in 0..=stream.len() {
            let mut c = make();
            c.feed(&stream[..cut]);
            c.feed(&stream[cut..]);
            assert_eq!(c.counts(), whole.counts(), "cut at {cut}");
        }
        let mut bytewise = make();
        for b in stream {
            bytewise.feed(std::slice::from_ref(b));
        }
        assert_eq!(bytewise.counts(), whole.counts());
        assert_eq!(whole.counts().total(), stream.len() as u64);
        whole.counts()
    }

    #[test]
    fn frames_go_to_their_phases_however_the_bytes_are_split() {
        let mut up = PREFACE.to_vec();
        up.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100])); // SETTINGS
        up.extend(frame(HEADERS, 0x4, 1, &[0x82; 20])); // HEADERS, END_HEADERS
        up.extend(frame(0x8, 0, 0, &[0, 1, 0, 0])); // WINDOW_UPDATE
        let c = in_any_two_pieces(Classifier::client, &up);
        assert_eq!(
            c,
            FrameBytes {
                headers: 29,
                data_framing: 0,
                data: 0,
                control: 24 + 15 + 13,
                data_frames: 0,
                headers_frames: 1,
            }
        );

        // A HEADERS continued, a plain DATA, a padded one (pad length 3), an empty one, PING.
        let mut down = frame(HEADERS, 0, 1, &[0x88; 10]);
        down.extend(frame(CONTINUATION, 0x4, 1, &[0x40; 5]));
        down.extend(frame(DATA, 0, 1, b"hello"));
        down.extend(frame(DATA, PADDED, 1, b"\x03abc\0\0\0"));
        down.extend(frame(DATA, 0x1, 1, b""));
        down.extend(frame(0x6, 0, 0, &[7; 8]));
        let c = in_any_two_pieces(Classifier::server, &down);
        assert_eq!(
            c,
            FrameBytes {
                headers: 19 + 14,
                data_framing: 9 + 9 + 1 + 3 + 9,
                data: 5 + 3,
                control: 17,
                data_frames: 3,
                headers_frames: 1,
            }
        );
    }

    /// A pad length longer than the frame: the frame still ends where its length says.
    #[test]
    fn a_pad_length_past_the_frame_does_not_swallow_the_next_frame() {
        let mut down = frame(DATA, PADDED, 1, b"\xffab");
        down.extend(frame(DATA, 0, 1, b"xyz"));
        let c = in_any_two_pieces(Classifier::server, &down);
        assert_eq!(c.data, 3);
        assert_eq!(c.data_framing, 9 + 3 + 9);
        assert_eq!(c.data_frames, 2);
    }
}
