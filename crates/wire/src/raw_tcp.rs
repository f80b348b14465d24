//! Raw TCP: length-prefixed frames both ways on push-server's second port. The floor every other
//! transport is compared with: a 5-byte header per message and nothing else.
//!
//! ```text
//! frame:     len: u32 BE (bytes after this field) | kind: u8 | body
//! subscribe  b'S' (client): encoding: b't' | b'b' | has_after: 0 | 1 | after: u64 BE | topic
//! publish    b'P' (client): topic_len: u8 | topic | payload (UTF-8)
//! subscribed b'A' (server): after: u64 BE; the subscription is live and starts after `after`
//! envelope   b'E' (server): one envelope (message or gap) in the subscribed encoding
//! heartbeat  b'H' (server): empty
//! error      b'X' (server): a UTF-8 reason; the server closes the connection after it
//! ```
//!
//! Without `has_after` a subscription starts with the next message published; with it, it starts
//! after sequence `after` (0: from the first message the server still holds).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::envelope::{validate_topic, Encoding};

/// Bytes in front of every frame body: the length and the kind.
pub const HEADER_LEN: usize = 5;

/// One frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client: start receiving `topic`.
    Subscribe {
        /// Topic to receive.
        topic: String,
        /// Start after this sequence; `None` starts with the next message published.
        after: Option<u64>,
        /// How envelopes should be encoded.
        encoding: Encoding,
    },
    /// Client: publish `payload` to `topic`.
    Publish {
        /// Topic to publish to.
        topic: String,
        /// The message body, UTF-8.
        payload: Bytes,
    },
    /// Server: the subscription is in place and delivers what follows sequence `after`.
    Subscribed {
        /// The sequence number the subscription starts after.
        after: u64,
    },
    /// Server: one envelope.
    Envelope(Bytes),
    /// Server: nothing to say, still here.
    Heartbeat,
    /// Server: why it is closing the connection.
    Error(String),
}

/// Why a frame could not be decoded. The connection it came on cannot be trusted further and is
/// closed; the process carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length field exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame's body does not match its kind's layout.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

fn header(out: &mut BytesMut, kind: u8, body_len: usize) {
    out.reserve(HEADER_LEN + body_len);
    out.put_u32((body_len + 1) as u32);
    out.put_u8(kind);
}

/// Encodes a subscribe frame.
pub fn subscribe(topic: &str, after: Option<u64>, encoding: Encoding) -> Bytes {
    let mut out = BytesMut::new();
    header(&mut out, b'S', 10 + topic.len());
    out.put_u8(match encoding {
        Encoding::Text => b't',
        Encoding::Binary => b'b',
    });
    out.put_u8(after.is_some() as u8);
    out.put_u64(after.unwrap_or(0));
    out.extend_from_slice(topic.as_bytes());
    out.freeze()
}

/// Encodes a publish frame.
pub fn publish(topic: &str, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    header(&mut out, b'P', 1 + topic.len() + payload.len());
    out.put_u8(topic.len() as u8);
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(payload);
    out.freeze()
}

/// Encodes a subscribed frame.
pub fn subscribed(after: u64) -> Bytes {
    let mut out = BytesMut::new();
    header(&mut out, b'A', 8);
    out.put_u64(after);
    out.freeze()
}

/// Frames one envelope.
pub fn envelope(envelope: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    header(&mut out, b'E', envelope.len());
    out.extend_from_slice(envelope);
    out.freeze()
}

/// A heartbeat frame.
pub const HEARTBEAT: &[u8] = &[0, 0, 0, 1, b'H'];

/// What an error frame's reason holds when the subscribe frame's `after` is beyond the topic's
/// newest message: the server is not the one the client saw before (a restarted one whose hub
/// forgot the topic). HTTP says the same with 409; raw TCP has no status, so clients look for
/// this.
pub const AFTER_AHEAD: &str = "is ahead of the topic's last sequence number";

/// Encodes an error frame.
pub fn error(reason: &str) -> Bytes {
    let mut out = BytesMut::new();
    header(&mut out, b'X', reason.len());
    out.extend_from_slice(reason.as_bytes());
    out.freeze()
}

/// Whether `buf` begins with a whole frame, well-formed or not (an oversized length never is).
pub fn holds_frame(buf: &[u8]) -> bool {
    buf.len() >= 4
        && buf.len() - 4 >= u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")) as usize
}

/// Takes one complete frame off the front of `buf`; `Ok(None)` when more bytes are needed.
/// `max_len` bounds the length field so a hostile peer cannot make the reader buffer without end.
pub fn decode(buf: &mut BytesMut, max_len: usize) -> Result<Option<Frame>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
    if len > max_len {
        return Err(FrameError::TooLarge { len, max: max_len });
    }
    if len == 0 {
        return Err(FrameError::Malformed("zero length"));
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    let mut body = buf.split_to(len).freeze();
    let kind = body.get_u8();
    let frame = match kind {
        b'S' => {
            if body.len() < 10 {
                return Err(FrameError::Malformed("subscribe shorter than its header"));
            }
            let encoding = match body.get_u8() {
                b't' => Encoding::Text,
                b'b' => Encoding::Binary,
                _ => {
                    return Err(FrameError::Malformed(
                        "subscribe encoding is neither t nor b",
                    ))
                }
            };
            let has_after = body.get_u8();
            let after = body.get_u64();
            let topic = topic_of(&body)?;
            Frame::Subscribe {
                topic,
                after: match has_after {
                    0 => None,
                    1 => Some(after),
                    _ => {
                        return Err(FrameError::Malformed(
                            "subscribe has_after is neither 0 nor 1",
                        ))
                    }
                },
                encoding,
            }
        }
        b'P' => {
            if body.is_empty() {
                return Err(FrameError::Malformed("publish without topic length"));
            }
            let topic_len = body.get_u8() as usize;
            if body.len() < topic_len {
                return Err(FrameError::Malformed("publish topic runs past the frame"));
            }
            let topic = topic_of(&body.split_to(topic_len))?;
            if std::str::from_utf8(&body).is_err() {
                return Err(FrameError::Malformed("publish payload is not UTF-8"));
            }
            Frame::Publish {
                topic,
                payload: body,
            }
        }
        b'A' => {
            if body.len() != 8 {
                return Err(FrameError::Malformed("subscribed frame is not 8 bytes"));
            }
            Frame::Subscribed {
                after: body.get_u64(),
            }
        }
        b'E' => Frame::Envelope(body),
        b'H' => Frame::Heartbeat,
        b'X' => Frame::Error(String::from_utf8_lossy(&body).into_owned()),
        _ => return Err(FrameError::Malformed("unknown frame kind")),
    };
    Ok(Some(frame))
}

fn topic_of(bytes: &[u8]) -> Result<String, FrameError> {
    let topic =
        std::str::from_utf8(bytes).map_err(|_| FrameError::Malformed("topic is not UTF-8"))?;
    validate_topic(topic).map_err(FrameError::Malformed)?;
    Ok(topic.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_round_trips_byte_by_byte() {
        let frames = [
            (
                subscribe("t", Some(7), Encoding::Binary),
                Frame::Subscribe {
                    topic: "t".into(),
                    after: Some(7),
                    encoding: Encoding::Binary,
                },
            ),
            (
                subscribe("t", None, Encoding::Text),
                Frame::Subscribe {
                    topic: "t".into(),
                    after: None,
                    encoding: Encoding::Text,
                },
            ),
            (
                publish("t", b"hello"),
                Frame::Publish {
                    topic: "t".into(),
                    payload: Bytes::from_static(b"hello"),
                },
            ),
            (
                envelope(b"env"),
                Frame::Envelope(Bytes::from_static(b"env")),
            ),
            (Bytes::from_static(HEARTBEAT), Frame::Heartbeat),
            (error("bye"), Frame::Error("bye".into())),
        ];
        let stream: Vec<u8> = frames.iter().flat_map(|(b, _)| b.to_vec()).collect();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in stream {
            buf.put_u8(byte);
            while let Some(f) = decode(&mut buf, 1024).unwrap() {
                got.push(f);
            }
        }
        let want: Vec<Frame> = frames.into_iter().map(|(_, f)| f).collect();
        assert_eq!(got, want);
        assert_eq!(envelope(b"env").len(), HEADER_LEN + 3);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut big = BytesMut::from(&[0u8, 0, 4, 1][..]);
        assert_eq!(
            decode(&mut big, 1024),
            Err(FrameError::TooLarge {
                len: 1025,
                max: 1024
            })
        );
        for bad in [
            &b"\0\0\0\0"[..],
            b"\0\0\0\x01Z",
            b"\0\0\0\x02S\0",
            b"\0\0\0\x03P\x05a",
            b"\0\0\0\x04P\x01 x",
            b"\0\0\0\x04P\x01a\xff",
        ] {
            let mut buf = BytesMut::from(bad);
            assert!(
                matches!(decode(&mut buf, 1024), Err(FrameError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
