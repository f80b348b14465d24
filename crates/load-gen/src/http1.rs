//! A deliberately small HTTP/1.1 client: one request at a time on a kept-alive connection, every
//! byte attributed to a phase (request head, response head, chunk framing, body).
//!
//! Written by hand because byte accounting by phase is the point: a general client (hyper,
//! reqwest) decodes chunked bodies and parses heads out of sight. Heads are parsed with httparse,
//! the parser hyper itself uses; chunked bodies with `pushbench_wire::chunked`.

use bytes::{Buf, Bytes, BytesMut};
use pushbench_wire::chunked::{ChunkedDecoder, ChunkedError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::Conn;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Free space made in the read buffer before each read.
const READ_ROOM: usize = 4096;

/// Why an exchange failed; the connection is not reused after any of these.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before a complete response.
    #[error("connection closed by the server")]
    Closed,
    /// The response is not HTTP/1.1 as this client understands it.
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl From<ChunkedError> for HttpError {
    fn from(e: ChunkedError) -> Self {
        HttpError::Malformed(e.to_string())
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `content-length`.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Neither: the body runs until the server closes the connection (RFC 9112 §6.3), as
    /// Nchan's event streams do.
    UntilClose,
}

/// A response's cache validators, which a poll sends back to resume (`If-Modified-Since`,
/// `If-None-Match`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// `Etag`.
    pub etag: Option<String>,
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Bytes of status line and headers, blank line included.
    pub len: usize,
    /// How the body ends.
    pub body: BodyKind,
    /// Whether the server will keep the connection open afterwards.
    pub keep_alive: bool,
    /// `Last-Modified` and `Etag`, when the server sent either (push-server sends neither, so
    /// its answers allocate nothing here).
    pub validators: Option<Box<Validators>>,
    /// The boundary of a `multipart/*` answer's `Content-Type` (nothing is allocated for
    /// other answers).
    pub boundary: Option<Box<str>>,
}

/// Takes what a client keeps of one response header: the cache validators, a multipart
/// boundary. Returns whether the header was one of those.
pub fn note_header(
    name: &str,
    value: &[u8],
    validators: &mut Option<Box<Validators>>,
    boundary: &mut Option<Box<str>>,
) -> bool {
    let text = || Some(String::from_utf8_lossy(value).into_owned());
    if name.eq_ignore_ascii_case("last-modified") {
        validators.get_or_insert_default().last_modified = text();
    } else if name.eq_ignore_ascii_case("etag") {
        validators.get_or_insert_default().etag = text();
    } else if name.eq_ignore_ascii_case("content-type")
        && value.len() > 10
        && value[..10].eq_ignore_ascii_case(b"multipart/")
    {
        *boundary = std::str::from_utf8(value)
            .ok()
            .and_then(pushbench_wire::multipart::boundary)
            .map(Box::from);
    } else {
        return false;
    }
    true
}

/// One client connection.
#[derive(Debug)]
pub struct Http1 {
    /// The connection (its socket counted).
    pub io: Conn,
    buf: BytesMut,
    host: String,
    /// Header lines every request carries (`name: value\r\n` each), rendered once per run.
    extra: std::sync::Arc<str>,
    request: Vec<u8>,
}

impl Http1 {
    /// A client on a connected socket; `host` goes in the `host` header, `extra` (header lines,
    /// see [`crate::client::header_block`]) after it in every request.
    pub fn new(io: Conn, host: &str, extra: std::sync::Arc<str>) -> Self {
        Http1 {
            io,
            buf: BytesMut::with_capacity(4096),
            host: host.to_owned(),
            extra,
            request: Vec::with_capacity(256),
        }
    }

    /// Writes one request; returns the bytes of its head. `headers` come after the run's header
    /// block and replace its lines of the same name. A body gets a `content-length`.
    pub async fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<usize, HttpError> {
        // Plain appends, not `write!`: this runs once per poll, and formatting costs show.
        let r = &mut self.request;
        r.clear();
        for part in [
            method,
            " ",
            target,
            " HTTP/1.1\r\nhost: ",
            &self.host,
            "\r\n",
        ] {
            r.extend_from_slice(part.as_bytes());
        }
        if headers.is_empty() {
            r.extend_from_slice(self.extra.as_bytes());
        } else {
            // A header given for this request replaces the block's line of the same name
            // (an `EventSource` sends `accept: text/event-stream`, not the block's `*/*`).
            for line in self.extra.split_inclusive("\r\n") {
                let name = line.split(':').next().unwrap_or("");
                if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
                    r.extend_from_slice(line.as_bytes());
                }
            }
        }
        for (k, v) in headers {
            for part in [k, ": ", v, "\r\n"] {
                r.extend_from_slice(part.as_bytes());
            }
        }
        if !body.is_empty() || method == "POST" {
            let mut len = itoa::Buffer::new();
            for part in ["content-length: ", len.format(body.len()), "\r\n"] {
                r.extend_from_slice(part.as_bytes());
            }
        }
        r.extend_from_slice(b"\r\n");
        let head = r.len();
        r.extend_from_slice(body);
        self.io.write_all(&self.request).await?;
        Ok(head)
    }

    async fn fill(&mut self) -> Result<(), HttpError> {
        // Room for a whole small response in one read. A read that fills the buffer exactly
        // leaves the socket marked readable, so a nearly full buffer costs an extra `recv` per
        // response; `reserve` reclaims the consumed front of the buffer rather than growing it.
        self.buf.reserve(READ_ROOM);
        if self.io.read_buf(&mut self.buf).await? == 0 {
            return Err(HttpError::Closed);
        }
        Ok(())
    }

    /// Reads the response head.
    pub async fn read_head(&mut self) -> Result<Head, HttpError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.unwrap_or(0);
                    // A 1xx, 204 or 304 answer has no body whatever its headers say.
                    let mut body = if (100..200).contains(&status) || matches!(status, 204 | 304) {
                        BodyKind::Length(0)
                    } else {
                        BodyKind::UntilClose
                    };
                    let bodiless = matches!(body, BodyKind::Length(0));
                    let mut keep_alive = resp.version == Some(1);
                    let mut validators: Option<Box<Validators>> = None;
                    let mut boundary = None;
                    for h in resp.headers.iter() {
                        if note_header(h.name, h.value, &mut validators, &mut boundary) {
                            continue;
                        }
                        if bodiless && !h.name.eq_ignore_ascii_case("connection") {
                            continue;
                        }
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let n = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|s| s.trim().parse().ok())
                                .ok_or_else(|| HttpError::Malformed("bad content-length".into()))?;
                            body = BodyKind::Length(n);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                            && h.value.eq_ignore_ascii_case(b"chunked")
                        {
                            body = BodyKind::Chunked;
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            keep_alive = !h.value.eq_ignore_ascii_case(b"close");
                        }
                    }
                    if matches!(body, BodyKind::UntilClose) {
                        keep_alive = false;
                    }
                    self.buf.advance(len);
                    return Ok(Head {
                        status,
                        len,
                        body,
                        keep_alive,
                        validators,
                        boundary,
                    });
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(HttpError::Malformed("response head over 64 KiB".into()));
                    }
                    self.fill().await?;
                }
                Err(e) => return Err(HttpError::Malformed(e.to_string())),
            }
        }
    }

    /// Reads a whole body; returns it and the bytes of chunk framing around it.
    pub async fn read_body(&mut self, head: &Head) -> Result<(Bytes, u64), HttpError> {
        match head.body {
            BodyKind::Length(n) => {
                let n = n as usize;
                while self.buf.len() < n {
                    self.fill().await?;
                }
                Ok((self.buf.split_to(n).freeze(), 0))
            }
            BodyKind::Chunked => {
                let mut decoder = ChunkedDecoder::new();
                let mut out = BytesMut::new();
                while !self.read_chunk(&mut decoder, &mut out).await? {}
                Ok((out.freeze(), decoder.framing_bytes()))
            }
            BodyKind::UntilClose => {
                let mut out = BytesMut::new();
                while !self.read_some(&mut out).await? {}
                Ok((out.freeze(), 0))
            }
        }
    }

    /// Reads more of a streamed body: chunk data (with each chunk's end offset in `out` pushed
    /// onto `ends`) when `chunked`, else whatever arrived of a body that runs until close.
    /// Returns whether the body is complete.
    pub async fn read_stream(
        &mut self,
        chunked: bool,
        decoder: &mut ChunkedDecoder,
        out: &mut BytesMut,
        ends: &mut Vec<usize>,
    ) -> Result<bool, HttpError> {
        if !chunked {
            return self.read_some(out).await;
        }
        if self.buf.is_empty() {
            self.fill().await?;
        }
        let used = decoder.decode_marked(&self.buf, out, ends)?;
        self.buf.advance(used);
        Ok(decoder.is_done())
    }

    /// For a body that runs until close: moves whatever body bytes are available (reading if
    /// none are) to `out`. Returns whether the server has closed: the body is complete.
    pub async fn read_some(&mut self, out: &mut BytesMut) -> Result<bool, HttpError> {
        if self.buf.is_empty() {
            match self.fill().await {
                Err(HttpError::Closed) => return Ok(true),
                other => other?,
            }
        }
        out.extend_from_slice(&self.buf);
        self.buf.clear();
        Ok(false)
    }

    /// Decodes whatever chunked body bytes are available (reading if none are), appending data
    /// to `out`. Returns whether the body is complete.
    pub async fn read_chunk(
        &mut self,
        decoder: &mut ChunkedDecoder,
        out: &mut BytesMut,
    ) -> Result<bool, HttpError> {
        if self.buf.is_empty() {
            self.fill().await?;
        }
        let used = decoder.decode(&self.buf, out)?;
        self.buf.advance(used);
        Ok(decoder.is_done())
    }
}
