//! End to end on loopback: push-server runs in this process on `127.0.0.1:0`, and for each
//! transport a real client on a real socket receives what a publisher sends, 1 KiB payloads of
//! seeded printable ASCII.
//!
//! - `e2e/<transport>`: one message, from the publisher's write to the subscriber holding the
//!   decoded envelope, one after the other (a round trip through the server, not a rate).
//! - `e2e_throughput/<transport>`: 1,000 messages written back to back while the subscriber
//!   reads; the time until it has decoded the last one (`elem/s` is messages per second).
//!
//! The publisher is the same for every transport and the cheapest there is: publish frames on a
//! raw TCP connection, which push-server answers with nothing, so the time ends exactly when the
//! subscriber has the message and the publishing cost is one small constant for all. The server
//! runs on one tokio worker thread, the clients on the bench's own thread, as two processes on
//! two cores would. Clients are lean (pushbench-wire's parsers over a `TcpStream`, hand-written
//! HTTP/1.1 requests with only `host`, tokio-tungstenite for WebSocket), so the differences are the
//! transports' own. Every envelope is decoded and its sequence number checked.
//!
//! Where it is deliberately unfair:
//!
//! - **short-poll** polls again the moment an answer comes back, on one keep-alive connection,
//!   with no interval: the figure is the cost of the request itself (usually one or two), while
//!   a real short-poll client adds half its interval on average, and the empty polls this one
//!   spins through cost the server CPU that the figure does not show.
//! - **long-poll** includes its poll mechanics: after each answer the client asks again at once
//!   (the next request is written inside the measured time) and the server subscribes anew per
//!   request. In `e2e_throughput` one answer carries every message queued, so polling batches.
//! - The streaming transports (xhr-stream, iframe, SSE), WebSocket and raw TCP hold one
//!   connection opened before the measurement: connection setup is not in any figure.
//! - Loopback has no latency or loss and both ends share one machine; absolute times shift with
//!   whatever else runs on it (compare transports within one run).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::StreamExt;
use pushbench_server::Config;
use pushbench_wire::envelope::{self, Decoded, Encoding};
use pushbench_wire::testdata::printable as payload;
use pushbench_wire::{chunked, iframe, poll, raw_tcp, sse, xhr_stream, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const PAYLOAD_LEN: usize = 1024;
const SEED: u64 = 0x5eed_0003;
/// Messages per iteration of `e2e_throughput`.
const BURST: u64 = 1000;
/// How long one iteration may take before the bench fails instead of hanging.
const STEP: Duration = Duration::from_secs(10);

/// push-server on its own single-threaded runtime (one worker thread).
struct Server {
    http: SocketAddr,
    tcp: SocketAddr,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), String>>,
    rt: Runtime,
}

impl Server {
    fn start() -> Server {
        let config = Config {
            // Room for a whole burst in the ring and in every subscriber's queue.
            ring_size: 4096,
            send_queue: 4096,
            // No heartbeats during a measurement.
            heartbeat: Duration::from_secs(3600),
            ..Config::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("push-server")
            .enable_all()
            .build()
            .unwrap();
        let (http, tcp) = rt.block_on(async {
            (
                TcpListener::bind("127.0.0.1:0").await.unwrap(),
                TcpListener::bind("127.0.0.1:0").await.unwrap(),
            )
        });
        let (http_addr, tcp_addr) = (http.local_addr().unwrap(), tcp.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = rt.spawn(pushbench_server::run(http, tcp, config, async {
            let _ = stopped.await;
        }));
        Server {
            http: http_addr,
            tcp: tcp_addr,
            stop,
            handle,
            rt,
        }
    }

    fn shutdown(self) {
        let _ = self.stop.send(());
        let handle = self.handle;
        self.rt
            .block_on(async { tokio::time::timeout(STEP, handle).await })
            .expect("push-server stops in time")
            .expect("push-server does not panic")
            .expect("push-server shuts down cleanly");
    }
}

/// A client socket with its read buffer.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

/// The parts of a response head the clients need.
struct Head {
    status: u16,
    content_length: Option<usize>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    async fn read_more(&mut self) {
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(64 * 1024);
        }
        let n = self.stream.read_buf(&mut self.buf).await.unwrap();
        assert!(n > 0, "push-server closed the connection");
    }

    async fn get(&mut self, target: &str) {
        let request = format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
        self.stream.write_all(request.as_bytes()).await.unwrap();
    }

    async fn head(&mut self) -> Head {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = response.parse(&self.buf).unwrap() {
                let content_length = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap());
                let head = Head {
                    status: response.code.unwrap(),
                    content_length,
                };
                self.buf.advance(len);
                return head;
            }
            self.read_more().await;
        }
    }

    async fn body(&mut self, len: usize) -> Bytes {
        while self.buf.len() < len {
            self.read_more().await;
        }
        self.buf.split_to(len).freeze()
    }
}

/// Decodes one envelope, checks it is the next message, and moves `last` on.
fn deliver(last: &mut u64, bytes: &[u8], encoding: Encoding) {
    match envelope::decode(encoding, bytes).unwrap() {
        Decoded::Message(m) => {
            assert_eq!(m.seq, *last + 1, "messages arrive in order, none lost");
            *last = m.seq;
            black_box(&m.payload);
        }
        Decoded::Gap(g) => panic!("no gaps expected, got {g:?}"),
    }
}

/// The streaming transports' parsers, each handing out whole envelopes.
enum Parser {
    Ndjson(xhr_stream::LineParser),
    Scripts(iframe::ScriptParser),
    Events(sse::EventParser, Vec<sse::Event>),
}

impl Parser {
    fn push(&mut self, data: &[u8], last: &mut u64) {
        match self {
            Parser::Ndjson(p) => {
                p.push(data);
                while let Some(line) = p.next_line() {
                    deliver(last, &line, Encoding::Text);
                }
            }
            Parser::Scripts(p) => {
                p.push(data);
                while let Some(env) = p.next_envelope() {
                    deliver(last, &env, Encoding::Text);
                }
            }
            Parser::Events(p, events) => {
                p.push(data, events);
                for event in events.drain(..) {
                    deliver(last, event.data.as_bytes(), Encoding::Text);
                }
            }
        }
    }
}

/// One subscriber on one transport; `last` is the last sequence number it decoded.
enum Sub {
    Poll {
        conn: Conn,
        long: bool,
        topic: String,
        last: u64,
        /// A long poll is already waiting at the server.
        waiting: bool,
    },
    Stream {
        conn: Conn,
        chunks: chunked::ChunkedDecoder,
        data: BytesMut,
        parser: Parser,
        last: u64,
    },
    Ws {
        ws: Box<WebSocketStream<TcpStream>>,
        last: u64,
    },
    Raw {
        conn: Conn,
        last: u64,
    },
}

impl Sub {
    /// Subscribes to a fresh topic from its start (`after=0`), so nothing published after this
    /// returns can be missed, whenever the server gets round to the subscription.
    async fn open(transport: Transport, server: &Server, topic: &str) -> Sub {
        match transport {
            Transport::ShortPoll | Transport::LongPoll => {
                let long = transport == Transport::LongPoll;
                let mut sub = Sub::Poll {
                    conn: Conn::connect(server.http).await,
                    long,
                    topic: topic.to_owned(),
                    last: 0,
                    waiting: false,
                };
                if long {
                    sub.ask().await;
                }
                sub
            }
            Transport::XhrStream | Transport::Iframe | Transport::Sse => {
                let mut conn = Conn::connect(server.http).await;
                conn.get(&format!(
                    "{}?topic={topic}&after=0",
                    transport.path().unwrap()
                ))
                .await;
                let head = conn.head().await;
                assert_eq!(head.status, 200);
                let parser = match transport {
                    Transport::XhrStream => Parser::Ndjson(xhr_stream::LineParser::new()),
                    Transport::Iframe => Parser::Scripts(iframe::ScriptParser::new()),
                    _ => Parser::Events(sse::EventParser::new(), Vec::new()),
                };
                Sub::Stream {
                    conn,
                    chunks: chunked::ChunkedDecoder::new(),
                    data: BytesMut::with_capacity(64 * 1024),
                    parser,
                    last: 0,
                }
            }
            Transport::WebSocket => {
                let stream = TcpStream::connect(server.http).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let url = format!("ws://{}/ws?topic={topic}&after=0", server.http);
                let (ws, response) = tokio_tungstenite::client_async(url, stream).await.unwrap();
                assert_eq!(response.status().as_u16(), 101);
                Sub::Ws {
                    ws: Box::new(ws),
                    last: 0,
                }
            }
            Transport::RawTcp => {
                let mut conn = Conn::connect(server.tcp).await;
                let subscribe = raw_tcp::subscribe(topic, Some(0), Encoding::Text);
                conn.stream.write_all(&subscribe).await.unwrap();
                loop {
                    match raw_tcp::decode(&mut conn.buf, 1 << 24).unwrap() {
                        Some(raw_tcp::Frame::Subscribed { after: 0 }) => break,
                        Some(other) => panic!("expected a subscribed frame, got {other:?}"),
                        None => conn.read_more().await,
                    }
                }
                Sub::Raw { conn, last: 0 }
            }
            Transport::MultipartMixed => unreachable!("push-server does not serve {transport}"),
        }
    }

    /// Sends the next poll, after the last message received.
    async fn ask(&mut self) {
        let Sub::Poll {
            conn,
            long,
            topic,
            last,
            waiting,
        } = self
        else {
            unreachable!("only polls ask")
        };
        let target = if *long {
            format!("/long-poll?topic={topic}&after={last}&timeout=60000")
        } else {
            format!("/poll?topic={topic}&after={last}")
        };
        conn.get(&target).await;
        *waiting = true;
    }

    /// Receives and decodes the next `n` messages.
    async fn recv(&mut self, n: u64) {
        tokio::time::timeout(STEP, self.recv_inner(n))
            .await
            .expect("messages arrive in time");
    }

    async fn recv_inner(&mut self, n: u64) {
        match self {
            Sub::Poll { .. } => self.recv_polls(n).await,
            Sub::Stream {
                conn,
                chunks,
                data,
                parser,
                last,
            } => {
                let target = *last + n;
                loop {
                    if !conn.buf.is_empty() {
                        let used = chunks.decode(&conn.buf, data).unwrap();
                        conn.buf.advance(used);
                        parser.push(data, last);
                        data.clear();
                    }
                    if *last >= target {
                        break;
                    }
                    conn.read_more().await;
                }
            }
            Sub::Ws { ws, last } => {
                let target = *last + n;
                while *last < target {
                    match ws.next().await.expect("websocket open").unwrap() {
                        WsMessage::Text(t) => deliver(last, t.as_bytes(), Encoding::Text),
                        WsMessage::Ping(_) | WsMessage::Pong(_) => {}
                        other => panic!("unexpected websocket message {other:?}"),
                    }
                }
            }
            Sub::Raw { conn, last } => {
                let target = *last + n;
                loop {
                    while let Some(frame) = raw_tcp::decode(&mut conn.buf, 1 << 24).unwrap() {
                        match frame {
                            raw_tcp::Frame::Envelope(e) => deliver(last, &e, Encoding::Text),
                            raw_tcp::Frame::Heartbeat => {}
                            other => panic!("unexpected raw tcp frame {other:?}"),
                        }
                    }
                    if *last >= target {
                        break;
                    }
                    conn.read_more().await;
                }
            }
        }
    }

    async fn recv_polls(&mut self, n: u64) {
        let target = match self {
            Sub::Poll { last, .. } => *last + n,
            _ => unreachable!(),
        };
        loop {
            let Sub::Poll {
                conn,
                long,
                last,
                waiting,
                ..
            } = self
            else {
                unreachable!()
            };
            let long = *long;
            if *last >= target {
                // A long-poll client asks again at once, so the next message finds it waiting.
                if long {
                    self.ask().await;
                }
                return;
            }
            if !*waiting {
                self.ask().await;
                continue;
            }
            *waiting = false;
            let head = conn.head().await;
            assert_eq!(head.status, 200);
            let body = conn
                .body(head.content_length.expect("a sized poll answer"))
                .await;
            for env in poll::split(&body).unwrap() {
                deliver(last, env, Encoding::Text);
            }
        }
    }
}

/// Publishes over raw TCP: one frame, or a burst of them in one write.
struct Publisher {
    conn: Conn,
    one: Bytes,
    burst: Bytes,
}

impl Publisher {
    async fn connect(server: &Server, topic: &str, payload: &str) -> Publisher {
        let one = raw_tcp::publish(topic, payload.as_bytes());
        let burst = one.repeat(BURST as usize).into();
        Publisher {
            conn: Conn::connect(server.tcp).await,
            one,
            burst,
        }
    }

    async fn send(&mut self, burst: bool) {
        let frames = if burst { &self.burst } else { &self.one };
        self.conn.stream.write_all(frames).await.unwrap();
    }
}

fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `group_name` over every transport; `burst` selects one message or [`BURST`] per iteration.
fn run_group(c: &mut Criterion, group_name: &str, burst: bool) {
    let server = Server::start();
    let rt = client_runtime();
    let payload = payload(PAYLOAD_LEN, SEED);
    let messages = if burst { BURST } else { 1 };
    let mut group = c.benchmark_group(group_name);
    if burst {
        group
            .throughput(Throughput::Elements(BURST))
            .sample_size(10)
            .measurement_time(Duration::from_secs(4));
    } else {
        group
            .sample_size(50)
            .measurement_time(Duration::from_secs(5));
    }
    for transport in Transport::ALL {
        let topic = format!("{group_name}.{}", transport.name());
        let (mut publisher, mut sub) = rt.block_on(async {
            (
                Publisher::connect(&server, &topic, &payload).await,
                Sub::open(transport, &server, &topic).await,
            )
        });
        group.bench_function(transport.name(), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        tokio::join!(publisher.send(burst), sub.recv(messages));
                    }
                    start.elapsed()
                })
            })
        });
        rt.block_on(async move { drop((publisher, sub)) });
    }
    group.finish();
    drop(rt);
    server.shutdown();
}

fn e2e(c: &mut Criterion) {
    run_group(c, "e2e", false);
}

fn e2e_throughput(c: &mut Criterion) {
    run_group(c, "e2e_throughput", true);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = e2e, e2e_throughput
}
criterion_main!(benches);
