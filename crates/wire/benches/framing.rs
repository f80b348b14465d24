//! Framing: what one message costs each transport to encode on the server and to decode on the
//! client, with no sockets, at 64 B, 1 KiB, 16 KiB and 64 KiB of payload.
//!
//! Every payload is seeded pseudo-random printable ASCII, so about one byte in 19 (`"` `\` `<` `>`
//! `&`) must be escaped in a text envelope and unescaped again by the client's JSON parser: the
//! realistic text path, not the best case. Throughput is payload bytes, so the figures of
//! different transports compare directly.
//!
//! Groups (ids read `GROUP/SIZE`, or `GROUP/VARIANT/SIZE`):
//!
//! - `<transport>_encode`: topic, sequence number and payload in, the bytes the server hands to
//!   the socket out: the text envelope (JSON with escaping) plus the transport's framing. `poll`
//!   stands for short and long polling, which share the response body; `*_binary_*` are the
//!   binary envelopes WebSocket and raw TCP can carry instead.
//! - `<transport>_decode`: those bytes in, the decoded envelope out, through the parser the
//!   transport's client runs (pushbench-wire's, or tungstenite's for WebSocket).
//! - `http_chunked_decode`: one message's frame as one HTTP/1.1 chunk, de-chunked as load-gen does.
//! - `envelope_encode`, `envelope_decode`: the envelope alone, text against binary, and the text
//!   decoder's fast path (`text-unescaped`: load-gen's probe payload, which needs no unescaping).
//! - `websocket_mask`: the XOR mask every client-to-server WebSocket frame must carry;
//!   `websocket_client_encode`: a whole masked frame as a client sends it upstream.
//! - `parse_chunked`: the streaming parsers (SSE event stream, NDJSON lines, iframe script calls,
//!   HTTP/1.1 chunked coding) over a stream of at least 64 KiB and 4 messages, fed in 1,448-byte
//!   reads (one Ethernet TCP segment each), so messages straddle reads at arbitrary points.
//!
//! Where it is deliberately unfair:
//!
//! - HTTP/1.1's chunked coding is left out of the xhr-stream, iframe and SSE figures (hyper writes
//!   the chunk-size line as a separate slice, without copying the frame; HTTP/2 has none). The
//!   client's side of it is measured on its own, per message in `http_chunked_decode` (add it to
//!   those three for HTTP/1.1) and across reads in `parse_chunked/http-chunked`.
//! - Nothing of HTTP (heads, requests) is here: that is what polling pays per message on top,
//!   and the end-to-end benches in push-server show it.
//! - Decoding starts from bytes already in memory. Clients with a read buffer (streams,
//!   WebSocket, raw TCP) copy them into it first, as they would from the socket; the poll decoder
//!   works in place on the collected body, so it skips that one copy.
//! - Encoding is measured once per message; push-server frames a message once per transport
//!   however many subscribers it has (see the fan-out benches), except WebSocket, where
//!   tungstenite copies the shared payload into each connection's write buffer.
//! - Parsers keep their state between iterations, as they do on a long-lived stream.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pushbench_wire::envelope::{self, Decoded};
use pushbench_wire::probe::{self, Probe};
use pushbench_wire::testdata::printable as payload;
use pushbench_wire::{chunked, iframe, poll, raw_tcp, sse, websocket, xhr_stream};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes, WebSocket};

/// Payload sizes and the labels benchmark ids use for them.
const SIZES: [(usize, &str); 4] = [
    (64, "64B"),
    (1024, "1KiB"),
    (16 * 1024, "16KiB"),
    (64 * 1024, "64KiB"),
];

const TOPIC: &str = "bench.ticker";
/// A seven-digit sequence number, as a topic has after a while.
const SEQ: u64 = 1_234_567;
const SEED: u64 = 0x5eed_0001;
/// Bytes per read in the `parse_chunked` group: one TCP segment on Ethernet with timestamps.
const READ: usize = 1448;
/// Raw TCP's frame limit for the decoder, comfortably above the largest message.
const MAX_FRAME: usize = 1 << 20;

/// What the decode benches keep: the sequence number, so the decoder's work cannot be skipped.
fn seq_of(decoded: Decoded<'_>) -> u64 {
    match decoded {
        Decoded::Message(m) => {
            black_box(&m.payload);
            m.seq
        }
        Decoded::Gap(_) => panic!("no gaps here"),
    }
}

fn text(p: &str) -> Bytes {
    envelope::encode_text(TOPIC, SEQ, p)
}

fn binary(p: &str) -> Bytes {
    envelope::encode_binary(TOPIC, SEQ, p)
}

/// A socket that swallows writes: tungstenite's write path without the kernel.
struct Discard;

impl Read for Discard {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A socket that reads the same bytes over and over: tungstenite's read path without the kernel.
struct Repeat {
    bytes: Bytes,
    at: usize,
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at = (self.at + n) % self.bytes.len();
        Ok(n)
    }
}

impl Write for Repeat {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// push-server's WebSocket settings (see `pushbench_server::websocket`).
fn server_ws<S: Read + Write>(stream: S) -> WebSocket<S> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024);
    WebSocket::from_raw_socket(stream, Role::Server, Some(config))
}

/// load-gen's WebSocket settings (see load-gen's `client::websocket`).
fn client_ws<S: Read + Write>(stream: S) -> WebSocket<S> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    WebSocket::from_raw_socket(stream, Role::Client, Some(config))
}

/// The bytes a server-to-client WebSocket frame carrying `message` has on the wire.
fn ws_frame(message: WsMessage) -> Bytes {
    struct Capture(Vec<u8>);
    impl Read for Capture {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut ws = server_ws(Capture(Vec::new()));
    ws.send(message).unwrap();
    Bytes::from(ws.into_inner().0)
}

fn ws_text(p: &str) -> WsMessage {
    WsMessage::Text(Utf8Bytes::try_from(text(p)).expect("text envelopes are UTF-8"))
}

/// Runs `routine` at every size in a group named `name`, with payload-byte throughput.
fn sized<R>(c: &mut Criterion, name: &str, mut routine: impl FnMut(&str) -> R)
where
    R: FnMut(&mut criterion::Bencher<'_>),
{
    let mut group = c.benchmark_group(name);
    for (len, label) in SIZES {
        let p = payload(len, SEED);
        group.throughput(Throughput::Bytes(len as u64));
        let mut run = routine(&p);
        group.bench_function(BenchmarkId::from_parameter(label), |b| run(b));
    }
    group.finish();
}

/// `<transport>_encode`: envelope plus framing, as push-server builds it once per message.
fn encode(c: &mut Criterion) {
    sized(c, "poll_encode", |p| {
        let p = p.to_owned();
        move |b| b.iter(|| poll::body(std::iter::once(&text(black_box(&p)))))
    });
    sized(c, "xhr_stream_encode", |p| {
        let p = p.to_owned();
        move |b| b.iter(|| xhr_stream::frame(&text(black_box(&p))))
    });
    sized(c, "iframe_encode", |p| {
        let p = p.to_owned();
        move |b| b.iter(|| iframe::frame(&text(black_box(&p))))
    });
    sized(c, "sse_encode", |p| {
        let p = p.to_owned();
        move |b| b.iter(|| sse::frame(SEQ, &text(black_box(&p))))
    });
    sized(c, "websocket_encode", |p| {
        let p = p.to_owned();
        let mut ws = server_ws(Discard);
        // The UTF-8 check on the envelope is push-server's (once per message, `ws_text`); the
        // frame header and the copy into the write buffer are tungstenite's, per connection.
        move |b| b.iter(|| ws.send(ws_text(black_box(&p))).unwrap())
    });
    sized(c, "raw_tcp_encode", |p| {
        let p = p.to_owned();
        move |b| b.iter(|| raw_tcp::envelope(&text(black_box(&p))))
    });
    sized(c, "websocket_binary_encode", |p| {
        let p = p.to_owned();
        let mut ws = server_ws(Discard);
        move |b| b.iter(|| ws.send(WsMessage::Binary(binary(black_box(&p)))).unwrap())
    });
    sized(c, "raw_tcp_binary_encode", |p| {
        let p = p.to_owned();
        move |b| b.iter(|| raw_tcp::envelope(&binary(black_box(&p))))
    });
}

/// `<transport>_decode`: the framed bytes back to an envelope, through each client's parser.
fn decode(c: &mut Criterion) {
    sized(c, "poll_decode", |p| {
        let body = poll::body(std::iter::once(&text(p)));
        move |b| {
            b.iter(|| {
                let mut envelopes = poll::parse(black_box(&body)).unwrap();
                seq_of(envelopes.pop().unwrap())
            })
        }
    });
    sized(c, "xhr_stream_decode", |p| {
        let frame = xhr_stream::frame(&text(p));
        let mut parser = xhr_stream::LineParser::new();
        move |b| {
            b.iter(|| {
                parser.push(black_box(&frame));
                let line = parser.next_line().unwrap();
                seq_of(envelope::decode_text(&line).unwrap())
            })
        }
    });
    sized(c, "iframe_decode", |p| {
        let frame = iframe::frame(&text(p));
        let mut parser = iframe::ScriptParser::new();
        move |b| {
            b.iter(|| {
                parser.push(black_box(&frame));
                let env = parser.next_envelope().unwrap();
                seq_of(envelope::decode_text(&env).unwrap())
            })
        }
    });
    sized(c, "sse_decode", |p| {
        let frame = sse::frame(SEQ, &text(p));
        let mut parser = sse::EventParser::new();
        let mut events = Vec::new();
        move |b| {
            b.iter(|| {
                parser.push(black_box(&frame), &mut events);
                let event = events.pop().unwrap();
                seq_of(envelope::decode_text(event.data.as_bytes()).unwrap())
            })
        }
    });
    sized(c, "websocket_decode", |p| {
        let mut ws = client_ws(Repeat {
            bytes: ws_frame(ws_text(p)),
            at: 0,
        });
        move |b| {
            b.iter(|| match ws.read().unwrap() {
                WsMessage::Text(t) => seq_of(envelope::decode_text(t.as_bytes()).unwrap()),
                other => panic!("expected a text frame, got {other:?}"),
            })
        }
    });
    sized(c, "raw_tcp_decode", |p| {
        let frame = raw_tcp::envelope(&text(p));
        let mut buf = BytesMut::with_capacity(frame.len());
        move |b| {
            b.iter(|| {
                buf.extend_from_slice(black_box(&frame));
                match raw_tcp::decode(&mut buf, MAX_FRAME).unwrap() {
                    Some(raw_tcp::Frame::Envelope(e)) => seq_of(envelope::decode_text(&e).unwrap()),
                    other => panic!("expected an envelope frame, got {other:?}"),
                }
            })
        }
    });
    sized(c, "http_chunked_decode", |p| {
        let event = sse::frame(SEQ, &text(p));
        let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
        chunk.extend_from_slice(&event);
        chunk.extend_from_slice(b"\r\n");
        let mut decoder = chunked::ChunkedDecoder::new();
        let mut data = BytesMut::with_capacity(chunk.len());
        move |b| {
            b.iter(|| {
                data.clear();
                decoder.decode(black_box(&chunk), &mut data).unwrap();
                data.len()
            })
        }
    });
    sized(c, "websocket_binary_decode", |p| {
        let mut ws = client_ws(Repeat {
            bytes: ws_frame(WsMessage::Binary(binary(p))),
            at: 0,
        });
        move |b| {
            b.iter(|| match ws.read().unwrap() {
                WsMessage::Binary(e) => seq_of(envelope::decode_binary(&e).unwrap()),
                other => panic!("expected a binary frame, got {other:?}"),
            })
        }
    });
    sized(c, "raw_tcp_binary_decode", |p| {
        let frame = raw_tcp::envelope(&binary(p));
        let mut buf = BytesMut::with_capacity(frame.len());
        move |b| {
            b.iter(|| {
                buf.extend_from_slice(black_box(&frame));
                match raw_tcp::decode(&mut buf, MAX_FRAME).unwrap() {
                    Some(raw_tcp::Frame::Envelope(e)) => {
                        seq_of(envelope::decode_binary(&e).unwrap())
                    }
                    other => panic!("expected an envelope frame, got {other:?}"),
                }
            })
        }
    });
}

/// `envelope_encode` and `envelope_decode`: the envelope alone, text against binary.
fn envelopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope_encode");
    for (len, label) in SIZES {
        let p = payload(len, SEED);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::new("text", label), |b| {
            b.iter(|| text(black_box(&p)))
        });
        group.bench_function(BenchmarkId::new("binary", label), |b| {
            b.iter(|| binary(black_box(&p)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("envelope_decode");
    for (len, label) in SIZES {
        let p = payload(len, SEED);
        let mut probe_payload = String::new();
        let fields = Probe {
            intended_ns: 12_345_678_901,
            sent_ns: 12_345_679_555,
            publisher: 3,
            seq: None,
        };
        probe::write(&mut probe_payload, fields, len);
        let (escaped, unescaped, bin) = (text(&p), text(&probe_payload), binary(&p));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::new("text", label), |b| {
            b.iter(|| seq_of(envelope::decode_text(black_box(&escaped)).unwrap()))
        });
        group.bench_function(BenchmarkId::new("text-unescaped", label), |b| {
            b.iter(|| seq_of(envelope::decode_text(black_box(&unescaped)).unwrap()))
        });
        group.bench_function(BenchmarkId::new("binary", label), |b| {
            b.iter(|| seq_of(envelope::decode_binary(black_box(&bin)).unwrap()))
        });
    }
    group.finish();
}

/// `websocket_mask` and `websocket_client_encode`: what the client side of WebSocket pays.
fn websocket_client(c: &mut Criterion) {
    sized(c, "websocket_mask", |p| {
        let mut bytes = p.as_bytes().to_vec();
        move |b| b.iter(|| websocket::apply_mask(black_box(&mut bytes), [0x37, 0xfa, 0x21, 0x3d]))
    });
    // A client publishes the bare payload upstream; tungstenite draws a fresh mask key per frame
    // from its RNG (not seeded: the key's value does not change the work).
    sized(c, "websocket_client_encode", |p| {
        let p = Utf8Bytes::from(p);
        let mut ws = client_ws(Discard);
        move |b| b.iter(|| ws.send(WsMessage::Text(black_box(&p).clone())).unwrap())
    });
}

/// A stream of back-to-back frames of consecutive messages: at least 64 KiB and 4 messages.
fn stream_of(p: &str, frame: impl Fn(u64, &Bytes) -> Bytes) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut count = 0;
    while out.len() < 64 * 1024 || count < 4 {
        let seq = SEQ + count as u64;
        out.extend_from_slice(&frame(seq, &envelope::encode_text(TOPIC, seq, p)));
        count += 1;
    }
    (out, count)
}

/// `parse_chunked/<parser>/<size>`: the streaming parsers with messages cut across reads.
fn parse_chunked(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_chunked");
    for (len, label) in SIZES {
        let p = payload(len, SEED);

        let (stream, count) = stream_of(&p, |seq, env| sse::frame(seq, env));
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_function(BenchmarkId::new("sse", label), |b| {
            b.iter(|| {
                let mut parser = sse::EventParser::new();
                let mut events = Vec::with_capacity(count);
                for read in black_box(&stream).chunks(READ) {
                    parser.push(read, &mut events);
                }
                assert_eq!(events.len(), count);
                events
            })
        });

        let (stream, count) = stream_of(&p, |_, env| xhr_stream::frame(env));
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_function(BenchmarkId::new("ndjson", label), |b| {
            b.iter(|| {
                let mut parser = xhr_stream::LineParser::new();
                let mut lines = Vec::with_capacity(count);
                for read in black_box(&stream).chunks(READ) {
                    parser.push(read);
                    lines.extend(std::iter::from_fn(|| parser.next_line()));
                }
                assert_eq!(lines.len(), count);
                lines
            })
        });

        let (stream, count) = stream_of(&p, |_, env| iframe::frame(env));
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_function(BenchmarkId::new("iframe", label), |b| {
            b.iter(|| {
                let mut parser = iframe::ScriptParser::new();
                let mut envelopes = Vec::with_capacity(count);
                for read in black_box(&stream).chunks(READ) {
                    parser.push(read);
                    envelopes.extend(std::iter::from_fn(|| parser.next_envelope()));
                }
                assert_eq!(envelopes.len(), count);
                envelopes
            })
        });

        // SSE events, one chunk each, as hyper writes a streamed body.
        let (body, _) = stream_of(&p, |seq, env| {
            let event = sse::frame(seq, env);
            let mut chunk = format!("{:x}\r\n", event.len()).into_bytes();
            chunk.extend_from_slice(&event);
            chunk.extend_from_slice(b"\r\n");
            Bytes::from(chunk)
        });
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("http-chunked", label), |b| {
            let mut data = BytesMut::with_capacity(body.len());
            b.iter(|| {
                let mut decoder = chunked::ChunkedDecoder::new();
                data.clear();
                for read in black_box(&body).chunks(READ) {
                    decoder.decode(read, &mut data).unwrap();
                }
                assert_eq!(
                    data.len() as u64 + decoder.framing_bytes(),
                    body.len() as u64
                );
                decoder.framing_bytes()
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // About 1.5 s per benchmark: the whole file stays near three minutes on two cores.
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = encode, decode, envelopes, websocket_client, parse_chunked
}
criterion_main!(benches);
