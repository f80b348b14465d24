//! `multipart/mixed` streaming (RFC 2046 §5.1), as Nchan's `multipart-mixed` subscriber sends
//! it: one response whose body is a run of parts, one per message, each opened by the boundary
//! from the response's `Content-Type` and carrying its own headers:
//!
//! ```text
//! --BOUNDARY\r\n
//! Last-Modified: Tue, 01 Dec 2026 03:27:59 GMT\r\n
//! Etag: 0\r\n
//! \r\n
//! BODY\r\n
//! --BOUNDARY
//! ```
//!
//! A part ends where the next delimiter (`\r\n--BOUNDARY`) starts, so a server writes each
//! message together with the delimiter after it and the part is complete on arrival. The part's
//! `Last-Modified` and `Etag` are where a client resumes from: sent back as `If-Modified-Since`
//! and `If-None-Match` on a reconnect.

use bytes::{Buf, Bytes, BytesMut};

/// The boundary parameter of a `multipart/*` content type, unquoted; `None` when there is none.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty() && value.len() <= 70).then_some(value)
    })
}

/// One part: a message body, framed with its headers and the delimiter that closes it, as
/// [`PartParser`] reads it (the stream's first delimiter, `--BOUNDARY`, comes before the first).
pub fn frame(boundary: &str, etag: u64, last_modified: &str, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 2 * boundary.len() + 80);
    out.extend_from_slice(b"\r\nLast-Modified: ");
    out.extend_from_slice(last_modified.as_bytes());
    out.extend_from_slice(b"\r\nEtag: ");
    out.extend_from_slice(etag.to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary.as_bytes());
    out.freeze()
}

/// What a part carried: its body and the validators to resume from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The message.
    pub body: Bytes,
    /// `Last-Modified`, if the part had one.
    pub last_modified: Option<String>,
    /// `Etag`, if the part had one.
    pub etag: Option<String>,
}

/// A body that is not `multipart/mixed` with the boundary given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("multipart/mixed: {0}")]
pub struct MultipartError(pub &'static str);

/// Where the parser is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the first delimiter: a preamble, ignored.
    Preamble,
    /// Just after a delimiter: `\r\n` opens a part, `--` ends the body.
    Delimiter,
    /// In a part's headers.
    Headers,
    /// In a part's body, looking for the next delimiter.
    Body,
    /// After the closing delimiter: an epilogue, ignored.
    Done,
}

/// Pulls parts out of a `multipart/mixed` body across arbitrary read boundaries. Each byte is
/// scanned about once, however many reads a large part arrives in.
#[derive(Debug)]
pub struct PartParser {
    buf: BytesMut,
    /// `\r\n--BOUNDARY`: what ends a part's body.
    delimiter: Vec<u8>,
    at: At,
    /// Where the search in `buf` resumes.
    scanned: usize,
    last_modified: Option<String>,
    etag: Option<String>,
}

impl PartParser {
    /// A parser for a body delimited by `boundary`.
    pub fn new(boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        PartParser {
            buf: BytesMut::new(),
            delimiter,
            at: At::Preamble,
            scanned: 0,
            last_modified: None,
            etag: None,
        }
    }

    /// Adds bytes read from the body.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.at != At::Done {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Whether the closing delimiter (`--BOUNDARY--`) has come: the server ended the stream.
    pub fn is_done(&self) -> bool {
        self.at == At::Done
    }

    /// The next complete part; `None` until one is complete.
    pub fn next_part(&mut self) -> Result<Option<Part>, MultipartError> {
        loop {
            match self.at {
                At::Preamble => {
                    // The first delimiter may open the body without the CRLF before it.
                    let dash_boundary = &self.delimiter[2..];
                    if self.buf.starts_with(dash_boundary) {
                        self.buf.advance(dash_boundary.len());
                    } else {
                        let Some(at) = self.find(&self.delimiter.clone()) else {
                            return Ok(None);
                        };
                        self.buf.advance(at + self.delimiter.len());
                    }
                    self.at = At::Delimiter;
                }
                At::Delimiter => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    match &self.buf[..2] {
                        b"\r\n" => self.at = At::Headers,
                        b"--" => {
                            self.at = At::Done;
                            self.buf.clear();
                            return Ok(None);
                        }
                        _ => {
                            return Err(MultipartError(
                                "a delimiter is followed by neither CRLF nor --",
                            ))
                        }
                    }
                    self.buf.advance(2);
                    // Transport padding (RFC 2046: linear white space) is not used by the servers
                    // driven here; a delimiter line is exactly the boundary.
                }
                At::Headers => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    self.last_modified = None;
                    self.etag = None;
                    if self.buf.starts_with(b"\r\n") {
                        // No headers: the body starts after this blank line.
                        self.buf.advance(2);
                        self.at = At::Body;
                        continue;
                    }
                    let Some(end) = self.find(b"\r\n\r\n") else {
                        return Ok(None);
                    };
                    let head = self.buf.split_to(end + 4);
                    for line in head[..end].split(|&b| b == b'\n') {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        let Some(colon) = line.iter().position(|&b| b == b':') else {
                            continue;
                        };
                        let value = || {
                            Some(
                                String::from_utf8_lossy(&line[colon + 1..])
                                    .trim()
                                    .to_owned(),
                            )
                        };
                        let name = &line[..colon];
                        if name.eq_ignore_ascii_case(b"last-modified") {
                            self.last_modified = value();
                        } else if name.eq_ignore_ascii_case(b"etag") {
                            self.etag = value();
                        }
                    }
                    self.at = At::Body;
                }
                At::Body => {
                    let delimiter = std::mem::take(&mut self.delimiter);
                    let found = self.find(&delimiter);
                    self.delimiter = delimiter;
                    let Some(end) = found else {
                        return Ok(None);
                    };
                    let body = self.buf.split_to(end).freeze();
                    self.buf.advance(self.delimiter.len());
                    self.at = At::Delimiter;
                    return Ok(Some(Part {
                        body,
                        last_modified: self.last_modified.take(),
                        etag: self.etag.take(),
                    }));
                }
                At::Done => return Ok(None),
            }
        }
    }

    /// Where `needle` starts in the buffer, searching from where the last search stopped; on a
    /// miss, remembers where to resume (a needle may straddle two reads).
    fn find(&mut self, needle: &[u8]) -> Option<usize> {
        let from = self.scanned.min(self.buf.len());
        match memchr::memmem::find(&self.buf[from..], needle) {
            Some(at) => {
                self.scanned = 0;
                Some(from + at)
            }
            None => {
                self.scanned = self.buf.len().saturating_sub(needle.len() - 1);
                None
            }
        }
    }

    /// Bytes held that do not yet form a complete part.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NCHAN: &[u8] = b"--HBO9ZfVONqcvcwt0rWDeqDdELosaZkIs\r\n\
Last-Modified: Tue, 01 Dec 2026 03:27:59 GMT\r\n\
Etag: 0\r\n\
Content-Type: application/x-www-form-urlencoded\r\n\
\r\n\
hello-1\r\n\
--HBO9ZfVONqcvcwt0rWDeqDdELosaZkIs\r\n\
Last-Modified: Tue, 01 Dec 2026 03:27:59 GMT\r\n\
Etag: 1\r\n\
\r\n\
hello\r\n--2\r\n\
--HBO9ZfVONqcvcwt0rWDeqDdELosaZkIs";

    fn parts(body: &[u8], boundary: &str, read: usize) -> Vec<Part> {
        let mut p = PartParser::new(boundary);
        let mut got = Vec::new();
        for chunk in body.chunks(read) {
            p.push(chunk);
            while let Some(part) = p.next_part().unwrap() {
                got.push(part);
            }
        }
        got
    }

    #[test]
    fn nchan_parts_come_out_whole_whatever_the_reads() {
        for read in [1, 2, 5, 17, NCHAN.len()] {
            let got = parts(NCHAN, "HBO9ZfVONqcvcwt0rWDeqDdELosaZkIs", read);
            assert_eq!(got.len(), 2, "read {read}");
            assert_eq!(got[0].body, &b"hello-1"[..]);
            assert_eq!(got[0].etag.as_deref(), Some("0"));
            assert_eq!(
                got[0].last_modified.as_deref(),
                Some("Tue, 01 Dec 2026 03:27:59 GMT")
            );
            // A CRLF and dashes inside a body are not a delimiter unless the boundary follows.
            assert_eq!(got[1].body, &b"hello\r\n--2"[..]);
            assert_eq!(got[1].etag.as_deref(), Some("1"));
        }
    }

    #[test]
    fn framed_parts_round_trip_and_the_close_delimiter_ends_the_body() {
        let mut body = b"preamble\r\n--b".to_vec();
        for i in 0..3u64 {
            body.extend_from_slice(&frame(
                "b",
                i,
                "Sat, 01 Jan 2000 00:00:00 GMT",
                format!("m{i}").as_bytes(),
            ));
        }
        body.extend_from_slice(b"--\r\nepilogue");
        let mut p = PartParser::new("b");
        p.push(&body);
        let mut got = Vec::new();
        while let Some(part) = p.next_part().unwrap() {
            got.push(part);
        }
        assert_eq!(
            got.iter().map(|p| &p.body[..]).collect::<Vec<_>>(),
            [b"m0", b"m1", b"m2"]
        );
        assert_eq!(got[2].etag.as_deref(), Some("2"));
        assert!(p.is_done());
        p.push(b"more");
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn a_part_without_headers_is_its_body() {
        assert_eq!(
            parts(b"--b\r\n\r\nbare\r\n--b", "b", 1)[0].body,
            &b"bare"[..]
        );
    }

    #[test]
    fn a_delimiter_followed_by_garbage_is_an_error() {
        let mut p = PartParser::new("b");
        p.push(b"--bXY");
        assert!(p.next_part().is_err());
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/mixed; boundary=abc/def"),
            Some("abc/def")
        );
        assert_eq!(
            boundary("Multipart/Mixed;charset=x; BOUNDARY=\"a b\""),
            Some("a b")
        );
        assert_eq!(boundary("text/plain; boundary=abc"), None);
        assert_eq!(boundary("multipart/mixed"), None);
        assert_eq!(boundary("multipart/mixed; boundary="), None);
    }
}
