//! The payload load-gen publishes: the intended send time travels inside the message, so a
//! subscriber computes latency without a lookup table and memory stays flat however long the run.
//!
//! ```text
//! <intended_ns>:<sent_ns>:<publisher>:xxxx...
//! <intended_ns>:<sent_ns>:<publisher>:<seq>:xxxx...
//! ```
//!
//! `intended_ns` is when the open-loop schedule meant the message to go, `sent_ns` when the
//! publisher actually got round to sending it, both in nanoseconds since the run started on the
//! generator's one monotonic clock; `publisher` names who published it (in bidirectional workloads a client also receives, and
//! load-gen counts, its own messages, as every member of a chat room does); the `x` padding
//! brings the payload up to the scenario's message size. `seq`, the message's number in its
//! topic from 1, is there only for servers that deliver the published body alone (Nchan): with
//! push-server the envelope carries the server's own sequence number and the probe does not.

/// A probe's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// When the schedule meant the message to be published, in ns since the run started.
    pub intended_ns: u64,
    /// When the publisher started sending it, in ns since the run started.
    pub sent_ns: u64,
    /// Index of the publishing client.
    pub publisher: u32,
    /// The message's number in its topic, counted by the publisher (for servers whose messages
    /// carry no sequence number of their own).
    pub seq: Option<u64>,
}

/// Writes a probe payload of at least `size` bytes (more only when `size` is smaller than the
/// fields themselves) into `out`, replacing what it held.
pub fn write(out: &mut String, probe: Probe, size: usize) {
    use std::fmt::Write;
    out.clear();
    write!(
        out,
        "{}:{}:{}:",
        probe.intended_ns, probe.sent_ns, probe.publisher
    )
    .expect("writing to a String");
    if let Some(seq) = probe.seq {
        write!(out, "{seq}:").expect("writing to a String");
    }
    while out.len() < size {
        out.push('x');
    }
}

/// Reads the fields back; `None` when the payload is not a probe. A byte loop rather than
/// `split` and `parse`: a subscriber runs this for every message it receives.
pub fn parse(payload: &str) -> Option<Probe> {
    let mut rest = payload.as_bytes();
    let intended_ns = field(&mut rest)?;
    let sent_ns = field(&mut rest)?;
    let publisher = u32::try_from(field(&mut rest)?).ok()?;
    // The padding is `x`, so a fourth field of digits can only be the sequence number.
    let seq = field(&mut rest);
    Some(Probe {
        intended_ns,
        sent_ns,
        publisher,
        seq,
    })
}

/// Where a probe's fields (`<intended_ns>:<sent_ns>:<publisher>:`) start in `bytes`, however a
/// server framed or escaped the message around them. load-gen looks for this in a stream its
/// decoder has found nothing in: a probe there means the server delivered the message and the
/// target profile names the wrong framing.
pub fn find(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find(|&i| {
        let starts_number = bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit());
        let mut rest = &bytes[i..];
        starts_number && (0..3).all(|_| field(&mut rest).is_some())
    })
}

/// A decimal `u64` of at least one digit followed by `:`, taken off the front of `rest`.
fn field(rest: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for (i, &b) in rest.iter().enumerate() {
        if b == b':' {
            if i == 0 {
                return None;
            }
            *rest = &rest[i + 1..];
            return Some(n);
        }
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size() {
        let p = Probe {
            intended_ns: 123_456_789,
            sent_ns: 123_456_999,
            publisher: 7,
            seq: None,
        };
        let mut s = String::new();
        write(&mut s, p, 64);
        assert_eq!(s.len(), 64);
        assert_eq!(parse(&s), Some(p));
        write(&mut s, p, 1);
        assert_eq!(s, "123456789:123456999:7:");
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("1:2:3"), None);
        assert_eq!(parse("1::3:"), None);
        assert_eq!(parse("+1:2:3:"), None);
        assert_eq!(parse("1:2:4294967296:"), None, "publisher is a u32");
        assert_eq!(parse("18446744073709551616:2:3:"), None, "u64 overflow");
        assert_eq!(
            parse("18446744073709551615:0:4294967295:xx"),
            Some(Probe {
                intended_ns: u64::MAX,
                sent_ns: 0,
                publisher: u32::MAX,
                seq: None,
            })
        );
    }

    #[test]
    fn a_probe_is_found_inside_any_framing() {
        let mut probe = String::new();
        let p = Probe {
            intended_ns: 20_000_000,
            sent_ns: 20_000_100,
            publisher: 3,
            seq: Some(1),
        };
        write(&mut probe, p, 40);
        let sse = format!("id: 1700000000:0\ndata: {{\"seq\":1,\"payload\":\"{probe}\"}}\n\n");
        let at = find(sse.as_bytes()).unwrap();
        assert_eq!(&sse[at..at + 18], "20000000:20000100:");
        assert_eq!(find(probe.as_bytes()), Some(0));
        // Two fields (an SSE id of Nchan's), a clock, a heartbeat: no probe.
        for text in [
            "id: 1700000000:0\n\n",
            "12:30:45",
            ": heartbeat\n",
            "<script>p(0)</script>",
        ] {
            assert_eq!(find(text.as_bytes()), None, "{text}");
        }
        // A number's tail is not a probe's start.
        assert_eq!(find(b"a12:3:4:"), Some(1));
    }

    #[test]
    fn sequence_number_round_trip() {
        let p = Probe {
            intended_ns: 5,
            sent_ns: 6,
            publisher: 0,
            seq: Some(42),
        };
        let mut s = String::new();
        write(&mut s, p, 32);
        assert_eq!(s.len(), 32);
        assert!(s.starts_with("5:6:0:42:x"));
        assert_eq!(parse(&s), Some(p));
        write(&mut s, p, 1);
        assert_eq!(s, "5:6:0:42:");
        assert_eq!(
            parse("5:6:0:42"),
            Some(Probe { seq: None, ..p }),
            "no colon: padding"
        );
        assert_eq!(parse("5:6:0:4x2:"), Some(Probe { seq: None, ..p }));
    }
}
