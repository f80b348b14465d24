//! The application message, identical on every transport.
//!
//! A text envelope is one line of JSON with a fixed field order:
//!
//! ```text
//! {"topic":"ticker","seq":42,"data":"..."}
//! {"topic":"ticker","gap":{"first_missing":3,"first_available":17}}
//! ```
//!
//! `data` is escaped so the line is also safe inside an HTML `<script>` element and a JavaScript
//! string (`<`, `>`, `&`, U+2028 and U+2029 become `\uXXXX`), which is what lets xhr-stream, iframe,
//! SSE, polling and WebSocket text frames carry the very same bytes.
//!
//! A binary envelope is for WebSocket binary frames and raw TCP:
//!
//! ```text
//! message: b'M' | seq: u64 BE | topic_len: u8 | topic | payload
//! gap:     b'G' | first_missing: u64 BE | first_available: u64 BE | topic_len: u8 | topic
//! ```
//!
//! Payloads are UTF-8 text on every path, so any subscriber can receive any message whatever
//! encoding it chose.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;

/// Longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 64;

/// How a subscriber wants envelopes encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// One line of JSON (see the module doc).
    #[default]
    Text,
    /// The compact binary form (see the module doc).
    Binary,
}

impl Encoding {
    /// Parses `text` or `binary`.
    pub fn parse(s: &str) -> Option<Encoding> {
        match s {
            "text" => Some(Encoding::Text),
            "binary" => Some(Encoding::Binary),
            _ => None,
        }
    }
}

/// A message as a subscriber decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// Topic the message was published to.
    pub topic: Cow<'a, str>,
    /// Per-topic sequence number, from 1.
    pub seq: u64,
    /// The publisher's payload, unescaped.
    pub payload: Cow<'a, str>,
}

/// The server no longer holds messages a subscriber asked for: `first_missing..first_available`
/// are lost to it, and delivery continues at `first_available`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap<'a> {
    /// Topic the gap is in.
    pub topic: Cow<'a, str>,
    /// First sequence number the subscriber asked for and will not get.
    pub first_missing: u64,
    /// First sequence number the server still holds; delivery resumes here.
    pub first_available: u64,
}

/// One decoded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A published message.
    Message(Message<'a>),
    /// An explicit notice of messages the subscriber will not get.
    Gap(Gap<'a>),
}

/// Why bytes could not be decoded as an envelope. Never fatal to the process: a client counts it
/// as a protocol error, a server answers 4xx or closes the one connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The text envelope is not the JSON shape in the module doc.
    #[error("malformed text envelope: {0}")]
    Json(String),
    /// The binary envelope is shorter than its header says or has an unknown kind byte.
    #[error("malformed binary envelope: {0}")]
    Binary(&'static str),
    /// A payload or topic is not UTF-8.
    #[error("envelope text is not UTF-8")]
    Utf8,
}

/// Checks a topic name: 1 to 64 bytes of `A-Z a-z 0-9 _ - . :`. Returns the reason on failure.
pub fn validate_topic(topic: &str) -> Result<(), &'static str> {
    if topic.is_empty() {
        return Err("topic is empty");
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err("topic is longer than 64 bytes");
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
    {
        return Err("topic may only hold A-Z a-z 0-9 _ - . :");
    }
    Ok(())
}

/// Bytes that [`escape_json_into`] must rewrite: controls, `"`, `\\`, `<`, `>`, `&`, and `0xE2`
/// (the first byte of U+2028 and U+2029, checked further when met).
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xe2] = true;
    t
};

/// Appends `s` as the inside of a JSON string, escaped for HTML and JavaScript too. Runs of bytes
/// that need nothing are found with a table lookup and copied whole.
pub fn escape_json_into(out: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 16);
    let mut start = 0;
    while let Some(offset) = bytes[start..]
        .iter()
        .position(|&b| NEEDS_ESCAPE[b as usize])
    {
        let i = start + offset;
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        let (escape, width): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            b'<' => (b"\\u003c", 1),
            b'>' => (b"\\u003e", 1),
            b'&' => (b"\\u0026", 1),
            // U+2028 and U+2029 end a line in older JavaScript: E2 80 A8 and E2 80 A9.
            0xe2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xa8) => {
                (b"\\u2028", 3)
            }
            0xe2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xa9) => {
                (b"\\u2029", 3)
            }
            0xe2 => (&bytes[i..i + 1], 1),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.put_u8(HEX[(b >> 4) as usize]);
                out.put_u8(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
        };
        out.extend_from_slice(escape);
        start = i + width;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `n` in decimal without going through `fmt`.
pub(crate) fn put_decimal(out: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// Encodes a message as a text envelope (no trailing newline).
pub fn encode_text(topic: &str, seq: u64, payload: &str) -> Bytes {
    // Room for a little escaping; a payload that needs more grows the buffer once or twice.
    let mut out = BytesMut::with_capacity(payload.len() + payload.len() / 8 + topic.len() + 48);
    out.extend_from_slice(b"{\"topic\":\"");
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(b"\",\"seq\":");
    put_decimal(&mut out, seq);
    out.extend_from_slice(b",\"data\":\"");
    escape_json_into(&mut out, payload);
    out.extend_from_slice(b"\"}");
    out.freeze()
}

/// Encodes a gap notice as a text envelope.
pub fn encode_text_gap(topic: &str, first_missing: u64, first_available: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(topic.len() + 80);
    out.extend_from_slice(b"{\"topic\":\"");
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(b"\",\"gap\":{\"first_missing\":");
    put_decimal(&mut out, first_missing);
    out.extend_from_slice(b",\"first_available\":");
    put_decimal(&mut out, first_available);
    out.extend_from_slice(b"}}");
    out.freeze()
}

/// Encodes a message as a binary envelope. `topic` must have passed [`validate_topic`].
pub fn encode_binary(topic: &str, seq: u64, payload: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + topic.len() + 10);
    out.put_u8(b'M');
    out.put_u64(seq);
    out.put_u8(topic.len() as u8);
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(payload.as_bytes());
    out.freeze()
}

/// Encodes a gap notice as a binary envelope.
pub fn encode_binary_gap(topic: &str, first_missing: u64, first_available: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(topic.len() + 18);
    out.put_u8(b'G');
    out.put_u64(first_missing);
    out.put_u64(first_available);
    out.put_u8(topic.len() as u8);
    out.extend_from_slice(topic.as_bytes());
    out.freeze()
}

/// Encodes a message in the given encoding.
pub fn encode(encoding: Encoding, topic: &str, seq: u64, payload: &str) -> Bytes {
    match encoding {
        Encoding::Text => encode_text(topic, seq, payload),
        Encoding::Binary => encode_binary(topic, seq, payload),
    }
}

/// Encodes a gap notice in the given encoding.
pub fn encode_gap(
    encoding: Encoding,
    topic: &str,
    first_missing: u64,
    first_available: u64,
) -> Bytes {
    match encoding {
        Encoding::Text => encode_text_gap(topic, first_missing, first_available),
        Encoding::Binary => encode_binary_gap(topic, first_missing, first_available),
    }
}

#[derive(Deserialize)]
struct TextEnvelope<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    seq: Option<u64>,
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
    gap: Option<TextGap>,
}

#[derive(Deserialize)]
struct TextGap {
    first_missing: u64,
    first_available: u64,
}

/// The exact shape [`encode_text`] writes, read without a JSON parser when the payload needs no
/// unescaping; `None` sends the caller to the general path.
fn decode_text_fast(bytes: &[u8]) -> Option<Decoded<'_>> {
    match decode_text_prefix(bytes) {
        Some((used, decoded)) if used == bytes.len() => Some(decoded),
        _ => None,
    }
}

/// Reads one envelope of [`encode_text`]'s exact shape, with no escapes in it, from the front of
/// `bytes`; returns the bytes it took and the envelope. Finding the end needs no scan of its own:
/// with no escapes, the payload ends at its first quote. `None` when the front is anything else
/// (the caller then splits and decodes in general).
pub fn decode_text_prefix(bytes: &[u8]) -> Option<(usize, Decoded<'_>)> {
    const HEAD: &[u8] = b"{\"topic\":\"";
    const SEQ: &[u8] = b"\",\"seq\":";
    const DATA: &[u8] = b",\"data\":\"";
    let rest = bytes.strip_prefix(HEAD)?;
    let topic_end = memchr::memchr2(b'"', b'\\', rest)?;
    let (topic, rest) = rest.split_at(topic_end);
    let rest = rest.strip_prefix(SEQ)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let seq = rest[..digits].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    let rest = rest[digits..].strip_prefix(DATA)?;
    let payload_end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest.get(payload_end..payload_end + 2) != Some(b"\"}") {
        return None;
    }
    let used = HEAD.len() + topic.len() + SEQ.len() + digits + DATA.len() + payload_end + 2;
    Some((
        used,
        Decoded::Message(Message {
            topic: Cow::Borrowed(std::str::from_utf8(topic).ok()?),
            seq,
            payload: Cow::Borrowed(std::str::from_utf8(&rest[..payload_end]).ok()?),
        }),
    ))
}

/// Decodes one text envelope.
pub fn decode_text(bytes: &[u8]) -> Result<Decoded<'_>, EnvelopeError> {
    if let Some(decoded) = decode_text_fast(bytes) {
        return Ok(decoded);
    }
    let env: TextEnvelope<'_> =
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(e.to_string()))?;
    match (env.seq, env.data, env.gap) {
        (Some(seq), Some(payload), None) => Ok(Decoded::Message(Message {
            topic: env.topic,
            seq,
            payload,
        })),
        (None, None, Some(gap)) => Ok(Decoded::Gap(Gap {
            topic: env.topic,
            first_missing: gap.first_missing,
            first_available: gap.first_available,
        })),
        _ => Err(EnvelopeError::Json(
            "expected either \"seq\" and \"data\" or \"gap\"".into(),
        )),
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], EnvelopeError> {
    if bytes.len() < n {
        return Err(EnvelopeError::Binary("truncated"));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn take_u64(bytes: &mut &[u8]) -> Result<u64, EnvelopeError> {
    let raw = take(bytes, 8)?;
    Ok(u64::from_be_bytes(raw.try_into().expect("8 bytes")))
}

fn take_topic<'a>(bytes: &mut &'a [u8]) -> Result<&'a str, EnvelopeError> {
    let len = take(bytes, 1)?[0] as usize;
    std::str::from_utf8(take(bytes, len)?).map_err(|_| EnvelopeError::Utf8)
}

/// Decodes one binary envelope.
pub fn decode_binary(mut bytes: &[u8]) -> Result<Decoded<'_>, EnvelopeError> {
    let kind = take(&mut bytes, 1)?[0];
    match kind {
        b'M' => {
            let seq = take_u64(&mut bytes)?;
            let topic = take_topic(&mut bytes)?;
            let payload = std::str::from_utf8(bytes).map_err(|_| EnvelopeError::Utf8)?;
            Ok(Decoded::Message(Message {
                topic: Cow::Borrowed(topic),
                seq,
                payload: Cow::Borrowed(payload),
            }))
        }
        b'G' => {
            let first_missing = take_u64(&mut bytes)?;
            let first_available = take_u64(&mut bytes)?;
            let topic = take_topic(&mut bytes)?;
            if !bytes.is_empty() {
                return Err(EnvelopeError::Binary("trailing bytes after gap"));
            }
            Ok(Decoded::Gap(Gap {
                topic: Cow::Borrowed(topic),
                first_missing,
                first_available,
            }))
        }
        _ => Err(EnvelopeError::Binary("unknown kind byte")),
    }
}

/// Decodes one envelope in the given encoding.
pub fn decode(encoding: Encoding, bytes: &[u8]) -> Result<Decoded<'_>, EnvelopeError> {
    match encoding {
        Encoding::Text => decode_text(bytes),
        Encoding::Binary => decode_binary(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_envelope_has_the_documented_bytes() {
        assert_eq!(
            &encode_text("t", 42, "hi")[..],
            br#"{"topic":"t","seq":42,"data":"hi"}"#
        );
        assert_eq!(
            &encode_text_gap("t", 3, 17)[..],
            br#"{"topic":"t","gap":{"first_missing":3,"first_available":17}}"#
        );
    }

    #[test]
    fn escaping_keeps_the_line_safe_for_html_and_javascript() {
        let nasty = "a\"b\\c\nd</script>&\u{2028}\u{2029}\u{1}é";
        let enc = encode_text("t", 1, nasty);
        let text = std::str::from_utf8(&enc).unwrap();
        assert!(!text.contains('\n'));
        assert!(!text.contains('<'));
        assert!(!text.contains('\u{2028}'));
        assert!(text.contains("\\u0001"));
        match decode_text(&enc).unwrap() {
            Decoded::Message(m) => assert_eq!(m.payload, nasty),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escaping_round_trips_every_kind_of_character() {
        // Seeded mix of plain ASCII, characters that need escaping, and multi-byte characters
        // that start with 0xE2 but are not line separators (€, ←) next to ones that are.
        let alphabet: Vec<char> =
            "ab \"\\<>&\n\r\t\u{1}\u{1f}é€←\u{2028}\u{2029}\u{2027}\u{202a}😀"
                .chars()
                .collect();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200 {
            let text: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            let enc = encode_text("t", 1, &text);
            let line = std::str::from_utf8(&enc).unwrap();
            assert!(
                !line.contains(['\n', '<', '\u{2028}', '\u{2029}']),
                "{line}"
            );
            let json: serde_json::Value = serde_json::from_slice(&enc).unwrap();
            assert_eq!(json["data"], text.as_str());
            let Decoded::Message(m) = decode_text(&enc).unwrap() else {
                panic!()
            };
            assert_eq!(m.payload, text);
        }
    }

    #[test]
    fn text_and_binary_round_trip() {
        for enc in [Encoding::Text, Encoding::Binary] {
            let m = encode(enc, "room.1", u64::MAX, "payload");
            assert_eq!(
                decode(enc, &m).unwrap(),
                Decoded::Message(Message {
                    topic: "room.1".into(),
                    seq: u64::MAX,
                    payload: "payload".into()
                })
            );
            let g = encode_gap(enc, "room.1", 5, 9);
            assert_eq!(
                decode(enc, &g).unwrap(),
                Decoded::Gap(Gap {
                    topic: "room.1".into(),
                    first_missing: 5,
                    first_available: 9
                })
            );
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_json_parser() {
        for payload in [
            "plain",
            "",
            "with \"quotes\"",
            "back\\slash",
            "é ü",
            "</script>",
        ] {
            let enc = encode_text("t.1", 77, payload);
            let fast = decode_text_fast(&enc);
            let slow: TextEnvelope<'_> = serde_json::from_slice(&enc).unwrap();
            assert_eq!(slow.data.as_deref(), Some(payload));
            if let Some(Decoded::Message(m)) = fast {
                assert_eq!((m.seq, &*m.topic, &*m.payload), (77, "t.1", payload));
            } else {
                // Only payloads that need unescaping leave the fast path.
                assert!(payload.contains(['"', '\\', '<']), "{payload:?}");
            }
            assert_eq!(
                decode_text(&enc).unwrap(),
                Decoded::Message(Message {
                    topic: "t.1".into(),
                    seq: 77,
                    payload: payload.into()
                })
            );
        }
        // Not our exact shape: the general parser decides.
        assert!(decode_text_fast(br#"{"seq":1,"topic":"t","data":"x"}"#).is_none());
        assert!(decode_text(br#"{"seq":1,"topic":"t","data":"x"}"#).is_ok());
    }

    #[test]
    fn malformed_envelopes_are_errors_not_panics() {
        assert!(decode_text(b"{").is_err());
        assert!(decode_text(br#"{"topic":"t"}"#).is_err());
        assert!(decode_text(br#"{"topic":"t","seq":1}"#).is_err());
        assert!(decode_binary(b"").is_err());
        assert!(decode_binary(b"M\0\0").is_err());
        assert!(decode_binary(b"X").is_err());
        assert!(decode_binary(b"M\0\0\0\0\0\0\0\x01\x05ab").is_err());
        assert!(decode_binary(b"M\0\0\0\0\0\0\0\x01\x01a\xff").is_err());
    }

    #[test]
    fn topics_are_validated() {
        assert!(validate_topic("ticker.EURUSD:1_a-b").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("a b").is_err());
        assert!(validate_topic(&"a".repeat(65)).is_err());
    }
}
