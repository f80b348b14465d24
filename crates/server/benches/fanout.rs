//! Hub fan-out: one 1 KiB publish delivered to 1, 100 and 10,000 subscribers of a topic, per
//! transport, inside push-server's [`Hub`] with no sockets.
//!
//! One iteration publishes one message, then every subscriber takes it with `try_next()` and
//! takes the bytes its transport would write: `message.framed(Framing::X)` for the streams,
//! WebSocket and raw TCP, the text envelope for polls. The first subscriber frames the
//! message; every other one clones a `Bytes` (a reference count), so the cost is one framing plus
//! N cheap clones. Throughput is deliveries, so `elem/s` reads as messages delivered per second.
//!
//! Ids: `fanout/<transport>/x<N>`, and the contrast `fanout_naive/sse/x<N>`, which encodes and
//! frames the message again for every subscriber, as a server without shared framing would: the
//! gap between the two at x10000 is what sharing saves.
//!
//! Where it is deliberately unfair:
//!
//! - Only the hub's share of a delivery is here: no task wake-ups, no syscalls. What each
//!   connection does next is left out, and it is not the same for every transport: the streams,
//!   WebSocket and raw TCP write the shared frames with vectored writes (no copy), hyper copies
//!   a poll's answer into its own buffer.
//! - Polls are modelled as the server runs them, so they pay per subscriber what the streams do
//!   not: `long-poll` builds each waiting poll's answer (`poll::body`, a copy of the envelope)
//!   and subscribes the next poll; `short-poll` answers one `hub.poll` per subscriber, each
//!   finding exactly the new message (no empty polls, the best case for short polling).
//! - Every subscriber keeps up, so nobody is resynchronised from the ring or sent a gap.
//! - The subscribers live in one thread and take the message one after the other; in the server
//!   they are tasks spread over the runtime's workers.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pushbench_server::hub::{Event, Framing, Hub, Message, Start, Subscription};
use pushbench_server::Config;
use pushbench_wire::envelope::{self, Encoding};
use pushbench_wire::{poll, sse};

const TOPIC: &str = "bench.fanout";
const SUBSCRIBERS: [usize; 3] = [1, 100, 10_000];
const PAYLOAD_LEN: usize = 1024;
const SEED: u64 = 0x5eed_0002;

/// `len` bytes of seeded printable ASCII (`pushbench_wire::testdata`), as `Bytes`.
fn payload(len: usize, seed: u64) -> Bytes {
    Bytes::from(pushbench_wire::testdata::printable(len, seed))
}

/// The hub's limits: a short ring (the bench never resumes from it, and a long one would only hold
/// memory) and a send queue every subscriber stays well inside.
fn hub() -> Hub {
    Hub::new(&Config {
        ring_size: 64,
        send_queue: 64,
        ..Config::default()
    })
}

fn message(event: Option<Event>) -> Arc<Message> {
    match event {
        Some(Event::Message(m)) => m,
        other => panic!("every subscriber keeps up, got {other:?}"),
    }
}

/// Takes what the transport's writer would hold: a shared `Bytes` clone.
fn take(m: &Message, framing: Framing) {
    drop(black_box(m.framed(framing).clone()));
}

fn fanout(c: &mut Criterion) {
    let payload = payload(PAYLOAD_LEN, SEED);
    let mut group = c.benchmark_group("fanout");
    for n in SUBSCRIBERS {
        group.throughput(Throughput::Elements(n as u64));
        let id = |t: &str| BenchmarkId::new(t, format!("x{n}"));

        // The streams and raw TCP: a subscription each, the shared frame each.
        for (name, how) in [
            ("xhr-stream", Framing::XhrStream),
            ("iframe", Framing::Iframe),
            ("sse", Framing::Sse),
            ("websocket", Framing::WebSocketText),
            ("raw-tcp", Framing::RawTcpText),
        ] {
            let hub = hub();
            let mut subs: Vec<Subscription> = (0..n)
                .map(|_| hub.subscribe(TOPIC, Start::Live).unwrap())
                .collect();
            group.bench_function(id(name), |b| {
                b.iter(|| {
                    hub.publish(TOPIC, payload.clone()).unwrap();
                    for sub in &mut subs {
                        take(&message(sub.try_next()), how);
                    }
                })
            });
        }

        // Long polling: each waiting poll is a subscription; it takes the message, builds its
        // answer, and the client's next poll subscribes again after it.
        {
            let hub = hub();
            let mut subs: Vec<Subscription> = (0..n)
                .map(|_| hub.subscribe(TOPIC, Start::After(0)).unwrap())
                .collect();
            group.bench_function(id("long-poll"), |b| {
                b.iter(|| {
                    hub.publish(TOPIC, payload.clone()).unwrap();
                    for sub in &mut subs {
                        let m = message(sub.try_next());
                        black_box(poll::body([m.envelope(Encoding::Text)]));
                        *sub = hub.subscribe(TOPIC, Start::After(m.seq)).unwrap();
                    }
                })
            });
        }

        // Short polling: every subscriber asks once and finds exactly the new message.
        {
            let hub = hub();
            group.bench_function(id("short-poll"), |b| {
                b.iter(|| {
                    let seq = hub.publish(TOPIC, payload.clone()).unwrap().seq;
                    for _ in 0..n {
                        let events = hub.poll(TOPIC, seq - 1).unwrap();
                        let envelopes: Vec<Bytes> = events
                            .into_iter()
                            .map(|e| message(Some(e)).envelope(Encoding::Text).clone())
                            .collect();
                        black_box(poll::body(&envelopes));
                    }
                })
            });
        }
    }
    group.finish();

    // The contrast: what a server that frames per subscriber would pay.
    let mut group = c.benchmark_group("fanout_naive");
    for n in SUBSCRIBERS {
        group.throughput(Throughput::Elements(n as u64));
        let hub = hub();
        let mut subs: Vec<Subscription> = (0..n)
            .map(|_| hub.subscribe(TOPIC, Start::Live).unwrap())
            .collect();
        group.bench_function(BenchmarkId::new("sse", format!("x{n}")), |b| {
            b.iter(|| {
                hub.publish(TOPIC, payload.clone()).unwrap();
                for sub in &mut subs {
                    let m = message(sub.try_next());
                    let text = std::str::from_utf8(&m.payload).unwrap();
                    let env = envelope::encode_text(&m.topic, m.seq, text);
                    black_box(sse::frame(m.seq, &env));
                }
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // x10000 iterations take about a millisecond shared and 20 ms naive: 20 samples in 2 s.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = fanout
}
criterion_main!(benches);
