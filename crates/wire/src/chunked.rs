//! HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), decoded incrementally: what the streaming
//! transports' bodies look like on the wire, and the framing bytes they add per message.
//!
//! Clients need this to count framing exactly (a chunk-size line and CRLF per chunk), which a
//! general HTTP client does not expose.

use bytes::BytesMut;

/// Why a chunked body could not be decoded; the connection cannot be used further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A chunk-size line that is not hexadecimal, or is absurdly long.
    #[error("bad chunk size line")]
    BadSize,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits (and possibly extensions) up to the CRLF.
    Size {
        value: u64,
        digits: u8,
        in_ext: bool,
        cr: bool,
    },
    /// Inside chunk data.
    Data {
        remaining: u64,
    },
    /// Expecting CR then LF after chunk data.
    DataCr,
    DataLf,
    /// After the last (zero) chunk: trailer lines up to an empty line.
    Trailer {
        line_len: usize,
        cr: bool,
    },
    /// The body is complete.
    Done,
}

/// Incremental decoder; counts the bytes that were framing rather than data.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    framing: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
                in_ext: false,
                cr: false,
            },
            framing: 0,
        }
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes consumed so far that were chunk framing (size lines, CRLFs, trailers).
    pub fn framing_bytes(&self) -> u64 {
        self.framing
    }

    /// Whether the terminating chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as it can, appending chunk data to `out`. Returns how many
    /// bytes of `input` were consumed: all of them unless the body ended inside `input`.
    pub fn decode(&mut self, input: &[u8], out: &mut BytesMut) -> Result<usize, ChunkedError> {
        self.decode_inner(input, out, None)
    }

    /// [`ChunkedDecoder::decode`], also pushing onto `ends` the length of `out` where each chunk
    /// completed: for servers that send one message per chunk (Nchan's `chunked` subscriber),
    /// whose messages have no framing of their own.
    pub fn decode_marked(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        ends: &mut Vec<usize>,
    ) -> Result<usize, ChunkedError> {
        self.decode_inner(input, out, Some(ends))
    }

    fn decode_inner(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        mut ends: Option<&mut Vec<usize>>,
    ) -> Result<usize, ChunkedError> {
        let mut i = 0;
        while i < input.len() {
            match &mut self.state {
                State::Done => break,
                State::Data { remaining } => {
                    let take = (*remaining).min((input.len() - i) as u64) as usize;
                    out.extend_from_slice(&input[i..i + take]);
                    *remaining -= take as u64;
                    i += take;
                    if *remaining == 0 {
                        self.state = State::DataCr;
                        if let Some(ends) = ends.as_deref_mut() {
                            ends.push(out.len());
                        }
                    }
                    continue;
                }
                State::Size {
                    value,
                    digits,
                    in_ext,
                    cr,
                } => {
                    let b = input[i];
                    if *cr {
                        if b != b'\n' {
                            return Err(ChunkedError::BadSize);
                        }
                        if *digits == 0 {
                            return Err(ChunkedError::BadSize);
                        }
                        self.state = if *value == 0 {
                            State::Trailer {
                                line_len: 0,
                                cr: false,
                            }
                        } else {
                            State::Data { remaining: *value }
                        };
                    } else if b == b'\r' {
                        *cr = true;
                    } else if *in_ext || b == b';' {
                        *in_ext = true;
                    } else {
                        let d = (b as char).to_digit(16).ok_or(ChunkedError::BadSize)? as u64;
                        if *digits >= 15 {
                            return Err(ChunkedError::BadSize);
                        }
                        *value = *value * 16 + d;
                        *digits += 1;
                    }
                }
                State::DataCr => {
                    if input[i] != b'\r' {
                        return Err(ChunkedError::MissingCrlf);
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if input[i] != b'\n' {
                        return Err(ChunkedError::MissingCrlf);
                    }
                    self.state = State::Size {
                        value: 0,
                        digits: 0,
                        in_ext: false,
                        cr: false,
                    };
                }
                State::Trailer { line_len, cr } => {
                    let b = input[i];
                    if *cr {
                        if b != b'\n' {
                            return Err(ChunkedError::MissingCrlf);
                        }
                        if *line_len == 0 {
                            self.state = State::Done;
                        } else {
                            *line_len = 0;
                            *cr = false;
                        }
                    } else if b == b'\r' {
                        *cr = true;
                    } else {
                        *line_len += 1;
                    }
                }
            }
            self.framing += 1;
            i += 1;
        }
        Ok(i)
    }
}

/// The framing bytes one chunk of `len` data bytes costs: hex size, CRLF, data CRLF.
pub fn chunk_overhead(len: usize) -> usize {
    let mut hex_digits = 1;
    let mut n = len >> 4;
    while n > 0 {
        hex_digits += 1;
        n >>= 4;
    }
    hex_digits + 4
}

/// The bytes that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"5\r\nhello\r\n");
        b.extend_from_slice(b"1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n");
        b.extend_from_slice(b"0\r\nx-trailer: 1\r\n\r\n");
        b
    }

    #[test]
    fn marked_decoding_reports_every_chunk_end_across_splits() {
        let b = body();
        for split in 1..b.len() {
            let mut d = ChunkedDecoder::new();
            let (mut out, mut ends) = (BytesMut::new(), Vec::new());
            let used = d.decode_marked(&b[..split], &mut out, &mut ends).unwrap();
            d.decode_marked(&b[used..], &mut out, &mut ends).unwrap();
            assert!(d.is_done());
            assert_eq!(ends, [5, 31], "split at {split}");
            assert_eq!(&out[..5], b"hello");
        }
    }

    #[test]
    fn decodes_at_any_split_and_counts_framing() {
        let body = body();
        for size in 1..=body.len() {
            let mut d = ChunkedDecoder::new();
            let mut out = BytesMut::new();
            for c in body.chunks(size) {
                assert_eq!(d.decode(c, &mut out).unwrap(), c.len());
            }
            assert!(d.is_done());
            assert_eq!(&out[..], b"helloabcdefghijklmnopqrstuvwxyz");
            assert_eq!(d.framing_bytes() as usize, body.len() - out.len());
        }
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let mut input = LAST_CHUNK.to_vec();
        input.extend_from_slice(b"HTTP/1.1 200 OK");
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.decode(&input, &mut BytesMut::new()).unwrap(),
            LAST_CHUNK.len()
        );
        assert!(d.is_done());
    }

    #[test]
    fn overhead_matches_hyper_style_chunks() {
        assert_eq!(chunk_overhead(5), "5\r\n\r\n".len());
        assert_eq!(chunk_overhead(0x1a), "1a\r\n\r\n".len());
        assert_eq!(chunk_overhead(4096), "1000\r\n\r\n".len());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.decode(b"zz\r\n", &mut BytesMut::new()),
            Err(ChunkedError::BadSize)
        );
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.decode(b"1\r\nab", &mut BytesMut::new()),
            Err(ChunkedError::MissingCrlf)
        );
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.decode(b"\r\n", &mut BytesMut::new()),
            Err(ChunkedError::BadSize)
        );
    }
}
