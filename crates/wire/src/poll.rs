//! Short and long polling: the response body is a JSON array of text envelopes.
//!
//! ```text
//! [{"topic":"t","seq":4,"data":"..."},{"topic":"t","seq":5,"data":"..."}]
//! ```
//!
//! An empty array means nothing arrived (short poll: nothing after the asked sequence; long poll:
//! the timeout passed). A gap envelope, when present, comes first. The client asks again with
//! `after=` the last sequence it got.

use bytes::{Bytes, BytesMut};

use crate::envelope::{decode_text, decode_text_prefix, Decoded, EnvelopeError};

/// A poll body as pieces: `[`, the envelopes themselves separated by `,`, and `]`. The
/// envelopes are the shared, already-encoded bytes; a server writes the pieces with one vectored
/// write and copies nothing.
pub fn parts<'a>(envelopes: impl IntoIterator<Item = &'a Bytes>) -> Vec<Bytes> {
    let mut out = vec![Bytes::from_static(b"[")];
    for (i, env) in envelopes.into_iter().enumerate() {
        if i > 0 {
            out.push(Bytes::from_static(b","));
        }
        out.push(env.clone());
    }
    out.push(Bytes::from_static(b"]"));
    out
}

/// Bytes of the poll body carrying `envelopes`: the brackets, the envelopes and a comma between
/// each two.
pub fn body_len<'a>(envelopes: impl IntoIterator<Item = &'a Bytes>) -> usize {
    let (count, bytes) = envelopes
        .into_iter()
        .fold((0usize, 0), |(n, len), e| (n + 1, len + e.len()));
    2 + bytes + count.saturating_sub(1)
}

/// Joins already-encoded text envelopes into one contiguous poll body (what [`parts`] sends),
/// in one allocation of the exact size.
pub fn body<'a, I>(envelopes: I) -> Bytes
where
    I: IntoIterator<Item = &'a Bytes>,
    I::IntoIter: Clone,
{
    let envelopes = envelopes.into_iter();
    let mut out = BytesMut::with_capacity(body_len(envelopes.clone()));
    out.extend_from_slice(b"[");
    for (i, env) in envelopes.enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(env);
    }
    out.extend_from_slice(b"]");
    out.freeze()
}

/// Splits a poll body into the bytes of each envelope, in order, as they were carried (see
/// [`elements`]).
pub fn split(body: &[u8]) -> Result<Vec<&[u8]>, EnvelopeError> {
    elements(body)?.collect()
}

/// The envelopes of a poll body one at a time, without collecting them: a polling client reads
/// thousands of bodies a second. One pass that tracks nesting outside strings and jumps from
/// quote to quote inside them (payloads are most of the bytes); each envelope is checked when it
/// is decoded. Fails at once if the body is not an array; a malformed element or a truncated
/// body is an `Err` item, after which the iterator ends.
pub fn elements(body: &[u8]) -> Result<Elements<'_>, EnvelopeError> {
    let inner = body
        .trim_ascii()
        .strip_prefix(b"[")
        .and_then(|b| b.strip_suffix(b"]"))
        .ok_or_else(|| malformed("not a JSON array"))?;
    Ok(Elements { inner, i: 0 })
}

fn malformed(why: &str) -> EnvelopeError {
    EnvelopeError::Json(format!("poll body: {why}"))
}

/// Iterator returned by [`elements`].
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    inner: &'a [u8],
    i: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<&'a [u8], EnvelopeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = self.inner;
        let (mut depth, mut start) = (0usize, 0usize);
        let mut i = self.i;
        let result = loop {
            if i >= inner.len() {
                break if depth == 0 {
                    None
                } else {
                    Some(Err(malformed("truncated")))
                };
            }
            match inner[i] {
                b'"' => {
                    // The closing quote is the next one not escaped by an odd run of backslashes.
                    let mut j = i + 1;
                    let closed = loop {
                        let Some(q) = memchr::memchr(b'"', &inner[j..]) else {
                            break false;
                        };
                        let q = q + j;
                        let backslashes = inner[j..q]
                            .iter()
                            .rev()
                            .take_while(|&&b| b == b'\\')
                            .count();
                        j = q + 1;
                        if backslashes % 2 == 0 {
                            break true;
                        }
                    };
                    if !closed {
                        break Some(Err(malformed("truncated")));
                    }
                    i = j;
                    continue;
                }
                b'{' | b'[' => {
                    if depth == 0 {
                        start = i;
                    }
                    depth += 1;
                }
                b'}' | b']' => {
                    if depth == 0 {
                        break Some(Err(malformed("unbalanced brackets")));
                    }
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break Some(Ok(&inner[start..i]));
                    }
                }
                b',' | b' ' | b'\n' | b'\r' | b'\t' => {}
                _ if depth == 0 => break Some(Err(malformed("elements must be objects"))),
                _ => {}
            }
            i += 1;
        };
        // After an error there is nothing more to read.
        self.i = match result {
            Some(Ok(_)) => i,
            _ => inner.len(),
        };
        result
    }
}

/// The envelopes of a poll body decoded one at a time, each with the bytes it took. An envelope
/// of [`crate::envelope::encode_text`]'s shape without escapes (what push-server sends) is read
/// in one pass by [`decode_text_prefix`]; anything else is split off by [`elements`]' scan and
/// decoded in general. Errors as [`elements`].
pub fn envelopes(body: &[u8]) -> Result<Envelopes<'_>, EnvelopeError> {
    Ok(Envelopes {
        elements: elements(body)?,
    })
}

/// Iterator returned by [`envelopes`].
#[derive(Debug, Clone)]
pub struct Envelopes<'a> {
    elements: Elements<'a>,
}

impl<'a> Iterator for Envelopes<'a> {
    type Item = Result<(&'a [u8], Decoded<'a>), EnvelopeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let e = &mut self.elements;
        let inner = e.inner;
        while matches!(inner.get(e.i), Some(b',' | b' ' | b'\n' | b'\r' | b'\t')) {
            e.i += 1;
        }
        if let Some((used, decoded)) = decode_text_prefix(&inner[e.i..]) {
            let raw = &inner[e.i..e.i + used];
            e.i += used;
            return Some(Ok((raw, decoded)));
        }
        Some(match e.next()? {
            Ok(raw) => decode_text(raw).map(|d| (raw, d)),
            Err(err) => Err(err),
        })
    }
}

/// Decodes a poll body into its envelopes, in order.
pub fn parse(body: &[u8]) -> Result<Vec<Decoded<'_>>, EnvelopeError> {
    split(body)?.into_iter().map(decode_text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{encode_text, encode_text_gap};

    #[test]
    fn body_round_trips() {
        assert_eq!(&body([])[..], b"[]");
        assert!(parse(b"[]").unwrap().is_empty());
        let a = encode_text_gap("t", 1, 3);
        let b = encode_text("t", 3, "x,]");
        let c = encode_text("t", 4, "y");
        let joined = body([&a, &b, &c]);
        assert_eq!(joined.len(), a.len() + b.len() + c.len() + 4);
        assert_eq!(body_len([&a, &b, &c]), joined.len());
        assert_eq!(body_len([]), 2);
        let pieces: Vec<u8> = parts([&a, &b, &c]).concat();
        assert_eq!(pieces, joined);
        let parsed = parse(&joined).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[1], decode_text(&b).unwrap());
        assert!(parse(b"[1]").is_err());
        assert!(parse(b"[{").is_err());
        assert_eq!(split(b" [ ] ").unwrap().len(), 0);
        // Quotes, escaped quotes and escaped backslashes inside strings do not end them early.
        let tricky = encode_text("t", 9, "a\"],[{\\\"}\\");
        let both = body([&tricky, &c]);
        assert_eq!(split(&both).unwrap(), vec![&tricky[..], &c[..]]);
        assert!(split(br#"[{"a":"unterminated}]"#).is_err());
        assert!(parse(b"{").is_err());
        assert!(split(b"[{}}]").is_err());
        assert!(split(b"[{},x]").is_err());
        // The iterator yields what is whole before the fault, then the fault, then nothing.
        let mut it = elements(b"[{\"a\":1},{\"b\":]").unwrap();
        assert_eq!(it.next().unwrap().unwrap(), b"{\"a\":1}");
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn envelopes_read_the_fast_shape_and_everything_else_alike() {
        let gap = encode_text_gap("t", 1, 3);
        let plain = encode_text("t", 3, "x,]");
        let escaped = encode_text("t", 4, "a\"],[{\\\"}\\");
        let plain2 = encode_text("t", 5, "y");
        let joined = body([&gap, &plain, &escaped, &plain2]);
        let got: Vec<(&[u8], Decoded<'_>)> = envelopes(&joined)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<&[u8]> = vec![&gap, &plain, &escaped, &plain2];
        assert_eq!(got.iter().map(|(raw, _)| *raw).collect::<Vec<_>>(), want);
        for (raw, decoded) in &got {
            assert_eq!(*decoded, decode_text(raw).unwrap());
        }
        // Spaces and newlines between elements, as another server might send.
        let spaced = format!(
            "[\n {} ,\n {}\n]",
            std::str::from_utf8(&plain).unwrap(),
            std::str::from_utf8(&plain2).unwrap()
        );
        assert_eq!(envelopes(spaced.as_bytes()).unwrap().count(), 2);
        assert_eq!(envelopes(b"[]").unwrap().count(), 0);
        // A fault after a good envelope: the good one, then the error, then nothing.
        let mut truncated = joined[..joined.len() - 3].to_vec();
        truncated.push(b']');
        let items: Vec<_> = envelopes(&truncated).unwrap().collect();
        assert_eq!(items.len(), 4);
        assert!(items[..3].iter().all(Result::is_ok));
        assert!(items[3].is_err());
    }
}
