//! Helpers for push-server's integration tests: start a real server on port 0, talk to it over
//! real sockets with a small client per transport, and decode what arrives with pushbench-wire's
//! own parsers.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use pushbench_server::Config;
use pushbench_wire::envelope::{self, Decoded, Encoding};
use pushbench_wire::{iframe, poll, raw_tcp, sse, xhr_stream, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// The transports whose subscribers hold a connection open between messages.
pub const HOLDING: [Transport; 5] = [
    Transport::XhrStream,
    Transport::Iframe,
    Transport::Sse,
    Transport::WebSocket,
    Transport::RawTcp,
];

/// How long any single step may take before the test fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(20);

/// A push-server running inside the test process on two free loopback ports.
pub struct TestServer {
    pub http: SocketAddr,
    pub tcp: SocketAddr,
    /// The HTTPS and TLS raw TCP ports, when started with [`TestServer::start_tls`].
    pub tls: Option<(SocketAddr, SocketAddr)>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), String>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (http_addr, tcp_addr) = (http.local_addr().unwrap(), tcp.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(pushbench_server::run(http, tcp, config, async {
            let _ = stopped.await;
        }));
        TestServer {
            http: http_addr,
            tcp: tcp_addr,
            tls: None,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// [`TestServer::start`] with an HTTPS and a TLS raw TCP port too, with `acceptor`'s
    /// certificate.
    pub async fn start_tls(config: Config, acceptor: tokio_rustls::TlsAcceptor) -> TestServer {
        let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
        let (http, tcp, https, tcp_tls) = (bind().await, bind().await, bind().await, bind().await);
        let addr = |l: &TcpListener| l.local_addr().unwrap();
        let (http_addr, tcp_addr) = (addr(&http), addr(&tcp));
        let tls = Some((addr(&https), addr(&tcp_tls)));
        let ports = pushbench_server::Ports {
            http,
            tcp,
            tls: Some(pushbench_server::TlsPorts {
                https: Some(https),
                tcp: Some(tcp_tls),
                acceptor,
            }),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(pushbench_server::run_ports(ports, config, async {
            let _ = stopped.await;
        }));
        TestServer {
            http: http_addr,
            tcp: tcp_addr,
            tls,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Starts shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) -> Result<(), String> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(STEP, self.handle.take().unwrap())
            .await
            .expect("server stops in time")
            .expect("server task does not panic")
    }

    /// Sends one HTTP/1.1 request on a fresh connection and returns status, headers and body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (u16, http::HeaderMap, Bytes) {
        let resp = self.send(method, path, headers, body).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = tokio::time::timeout(STEP, resp.into_body().collect())
            .await
            .expect("body in time")
            .expect("body reads")
            .to_bytes();
        (status, headers, body)
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> http::Response<Incoming> {
        let stream = TcpStream::connect(self.http).await.unwrap();
        send_on(stream, method, path, headers, body.into()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Bytes) {
        let (status, _, body) = self.request("GET", path, &[], Bytes::new()).await;
        (status, body)
    }

    /// Publishes and returns the assigned sequence number.
    pub async fn publish(&self, topic: &str, payload: &str) -> u64 {
        let (status, _, body) = self
            .request(
                "POST",
                &format!("/publish?topic={topic}"),
                &[],
                payload.to_owned(),
            )
            .await;
        assert_eq!(
            status,
            200,
            "publish answered {}",
            String::from_utf8_lossy(&body)
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["seq"].as_u64().unwrap()
    }

    pub async fn stats(&self) -> pushbench_server::stats::Snapshot {
        let (status, body) = self.get("/stats").await;
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn send_on(
    stream: TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> http::Response<Incoming> {
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body)).unwrap();
    tokio::time::timeout(STEP, sender.send_request(req))
        .await
        .expect("response in time")
        .expect("response")
}

/// What a subscriber received, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Msg {
        seq: u64,
        payload: String,
    },
    Gap {
        first_missing: u64,
        first_available: u64,
    },
}

impl Item {
    pub fn from(decoded: Decoded<'_>) -> Item {
        match decoded {
            Decoded::Message(m) => Item::Msg {
                seq: m.seq,
                payload: m.payload.into_owned(),
            },
            Decoded::Gap(g) => Item::Gap {
                first_missing: g.first_missing,
                first_available: g.first_available,
            },
        }
    }
}

enum Parser {
    Lines(xhr_stream::LineParser),
    Scripts(iframe::ScriptParser),
    Events(sse::EventParser),
}

enum Conn {
    Streaming { body: Incoming, parser: Parser },
    Ws(WebSocketStream<TcpStream>),
    Raw { stream: TcpStream, buf: BytesMut },
    Poll { long: bool, after: Option<u64> },
}

/// One subscriber on one transport.
pub struct Sub {
    pub transport: Transport,
    conn: Conn,
    queue: VecDeque<Item>,
    http: SocketAddr,
    topic: String,
    /// The first request's HTTP status (101 for WebSocket, 200 otherwise).
    pub status: u16,
}

/// A loopback connection with a small receive buffer, so a subscriber that stops reading
/// backs up into the server quickly.
pub async fn small_buffer_connect(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

impl Sub {
    /// Subscribes to `topic` on `transport`, from `after` (or live).
    pub async fn open(
        server: &TestServer,
        transport: Transport,
        topic: &str,
        after: Option<u64>,
    ) -> Sub {
        Sub::open_with(server, transport, topic, after, false, false).await
    }

    /// `sse_header`: resume SSE with `Last-Event-ID` instead of `after=`; `small_buffer`: see
    /// [`small_buffer_connect`].
    pub async fn open_with(
        server: &TestServer,
        transport: Transport,
        topic: &str,
        after: Option<u64>,
        sse_header: bool,
        small_buffer: bool,
    ) -> Sub {
        let connect = |addr| async move {
            if small_buffer {
                small_buffer_connect(addr).await
            } else {
                TcpStream::connect(addr).await.unwrap()
            }
        };
        let after_q = match after {
            Some(a) if !(sse_header && transport == Transport::Sse) => format!("&after={a}"),
            _ => String::new(),
        };
        let mut status = 200;
        let conn = match transport {
            Transport::ShortPoll | Transport::LongPoll => Conn::Poll {
                long: transport == Transport::LongPoll,
                after,
            },
            Transport::XhrStream | Transport::Iframe | Transport::Sse => {
                let path = format!("{}?topic={topic}{after_q}", transport.path().unwrap());
                let id = after.map(|a| a.to_string()).unwrap_or_default();
                let headers: Vec<(&str, &str)> = if sse_header && after.is_some() {
                    vec![("last-event-id", id.as_str())]
                } else {
                    vec![]
                };
                let resp = send_on(
                    connect(server.http).await,
                    "GET",
                    &path,
                    &headers,
                    Bytes::new(),
                )
                .await;
                status = resp.status().as_u16();
                let parser = match transport {
                    Transport::XhrStream => Parser::Lines(xhr_stream::LineParser::new()),
                    Transport::Iframe => Parser::Scripts(iframe::ScriptParser::new()),
                    _ => Parser::Events(sse::EventParser::new()),
                };
                Conn::Streaming {
                    body: resp.into_body(),
                    parser,
                }
            }
            Transport::WebSocket => {
                let url = format!("ws://{}/ws?topic={topic}{after_q}", server.http);
                let (ws, resp) = tokio_tungstenite::client_async(url, connect(server.http).await)
                    .await
                    .expect("websocket handshake");
                status = resp.status().as_u16();
                Conn::Ws(ws)
            }
            Transport::RawTcp => {
                let mut stream = connect(server.tcp).await;
                stream
                    .write_all(&raw_tcp::subscribe(topic, after, Encoding::Text))
                    .await
                    .unwrap();
                let mut buf = BytesMut::new();
                // Wait for the server to confirm, so "live" has a definite start.
                loop {
                    match raw_tcp::decode(&mut buf, 1 << 24).unwrap() {
                        Some(raw_tcp::Frame::Subscribed { after: at }) => {
                            if let Some(a) = after {
                                assert_eq!(at, a);
                            }
                            break;
                        }
                        Some(other) => panic!("expected a subscribed frame, got {other:?}"),
                        None => assert!(stream.read_buf(&mut buf).await.unwrap() > 0, "closed"),
                    }
                }
                Conn::Raw { stream, buf }
            }
            Transport::MultipartMixed => unreachable!("push-server does not serve {transport}"),
        };
        Sub {
            transport,
            conn,
            queue: VecDeque::new(),
            http: server.http,
            topic: topic.to_owned(),
            status,
        }
    }

    /// The next item, failing the test after [`STEP`].
    pub async fn next(&mut self) -> Item {
        tokio::time::timeout(STEP, self.next_inner())
            .await
            .unwrap_or_else(|_| panic!("{}: nothing arrived within {STEP:?}", self.transport))
    }

    /// The next `n` items.
    pub async fn take(&mut self, n: usize) -> Vec<Item> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    async fn next_inner(&mut self) -> Item {
        loop {
            if let Some(item) = self.queue.pop_front() {
                if let (Item::Msg { seq, .. }, Conn::Poll { after, .. }) = (&item, &mut self.conn) {
                    *after = Some(*seq);
                }
                if let (
                    Item::Gap {
                        first_available, ..
                    },
                    Conn::Poll { after, .. },
                ) = (&item, &mut self.conn)
                {
                    *after = Some(first_available - 1);
                }
                return item;
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        match &mut self.conn {
            Conn::Poll { long, after } => {
                let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
                let path = if *long {
                    format!("/long-poll?topic={}{after}&timeout=1000", self.topic)
                } else {
                    format!("/poll?topic={}{after}", self.topic)
                };
                let stream = TcpStream::connect(self.http).await.unwrap();
                let resp = send_on(stream, "GET", &path, &[], Bytes::new()).await;
                assert_eq!(resp.status(), 200);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let items = poll::parse(&body).unwrap();
                if items.is_empty() && !*long {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                self.queue.extend(items.into_iter().map(Item::from));
            }
            Conn::Streaming { body, parser } => {
                let frame = body
                    .frame()
                    .await
                    .expect("stream ended")
                    .expect("stream reads");
                let Ok(data) = frame.into_data() else { return };
                match parser {
                    Parser::Lines(p) => {
                        p.push(&data);
                        while let Some(line) = p.next_line() {
                            self.queue
                                .push_back(Item::from(envelope::decode_text(&line).unwrap()));
                        }
                    }
                    Parser::Scripts(p) => {
                        p.push(&data);
                        while let Some(env) = p.next_envelope() {
                            self.queue
                                .push_back(Item::from(envelope::decode_text(&env).unwrap()));
                        }
                    }
                    Parser::Events(p) => {
                        let mut events = Vec::new();
                        p.push(&data, &mut events);
                        for e in events {
                            let item =
                                Item::from(envelope::decode_text(e.data.as_bytes()).unwrap());
                            if let Item::Msg { seq, .. } = &item {
                                assert_eq!(
                                    e.last_event_id,
                                    seq.to_string(),
                                    "SSE id is the sequence number"
                                );
                            }
                            self.queue.push_back(item);
                        }
                    }
                }
            }
            Conn::Ws(ws) => match ws
                .next()
                .await
                .expect("websocket open")
                .expect("websocket reads")
            {
                WsMessage::Text(t) => self
                    .queue
                    .push_back(Item::from(envelope::decode_text(t.as_bytes()).unwrap())),
                WsMessage::Binary(b) => self
                    .queue
                    .push_back(Item::from(envelope::decode_binary(&b).unwrap())),
                WsMessage::Close(c) => panic!("websocket closed: {c:?}"),
                _ => {}
            },
            Conn::Raw { stream, buf } => {
                while let Some(frame) = raw_tcp::decode(buf, 1 << 24).unwrap() {
                    match frame {
                        raw_tcp::Frame::Envelope(e) => self
                            .queue
                            .push_back(Item::from(envelope::decode_text(&e).unwrap())),
                        raw_tcp::Frame::Heartbeat => {}
                        other => panic!("unexpected raw tcp frame {other:?}"),
                    }
                }
                if self.queue.is_empty() && stream.read_buf(buf).await.unwrap() == 0 {
                    panic!("raw tcp connection closed");
                }
            }
        }
    }

    /// Reads until the server ends the subscription and says how it ended: `end of stream`,
    /// `close CODE REASON` (WebSocket) or `error REASON` (raw TCP). Messages before the end are
    /// ignored.
    pub async fn end(&mut self) -> String {
        tokio::time::timeout(STEP, self.end_inner())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{}: the server did not end the subscription",
                    self.transport
                )
            })
    }

    async fn end_inner(&mut self) -> String {
        match &mut self.conn {
            Conn::Streaming { body, .. } => loop {
                match body.frame().await {
                    None => return "end of stream".into(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return format!("stream error {e}"),
                }
            },
            Conn::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Close(Some(c)))) => {
                        return format!("close {} {}", u16::from(c.code), c.reason)
                    }
                    Some(Ok(WsMessage::Close(None))) | None => return "close without code".into(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return format!("websocket error {e}"),
                }
            },
            Conn::Raw { stream, buf } => loop {
                match raw_tcp::decode(buf, 1 << 24).unwrap() {
                    Some(raw_tcp::Frame::Error(reason)) => {
                        let mut rest = Vec::new();
                        let _ = stream.read_to_end(&mut rest).await;
                        assert!(rest.is_empty(), "nothing follows an error frame");
                        return format!("error {reason}");
                    }
                    Some(_) => {}
                    None => {
                        if stream.read_buf(buf).await.unwrap() == 0 {
                            return "closed without an error frame".into();
                        }
                    }
                }
            },
            Conn::Poll { .. } => panic!("a poll has no connection to end"),
        }
    }

    /// Sends a message upstream on a transport that has one (WebSocket, raw TCP).
    pub async fn send_upstream(&mut self, payload: &str) {
        match &mut self.conn {
            Conn::Ws(ws) => ws.send(WsMessage::text(payload)).await.unwrap(),
            Conn::Raw { stream, .. } => stream
                .write_all(&raw_tcp::publish(&self.topic, payload.as_bytes()))
                .await
                .unwrap(),
            _ => panic!("{} has no upstream of its own", self.transport),
        }
    }
}

/// The sequence numbers of message items, with gaps shown as `gap a..b`.
pub fn describe(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Item::Msg { seq, .. } => seq.to_string(),
            Item::Gap {
                first_missing,
                first_available,
            } => format!("gap {first_missing}..{first_available}"),
        })
        .collect()
}

pub fn seq_range(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.map(|s| s.to_string()).collect()
}
