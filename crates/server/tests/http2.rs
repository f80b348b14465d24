//! The HTTP transports do not assume HTTP/1.1: over HTTP/2 with prior knowledge, polls answer,
//! SSE and NDJSON stream, and WebSockets open with an extended CONNECT (RFC 8441), several
//! streams on one connection.

mod util;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pushbench_server::Config;
use pushbench_wire::envelope::{decode_text, Decoded};
use pushbench_wire::{poll, sse, xhr_stream};
use util::TestServer;

/// Feeds each data frame of a streamed body to `enough` until it says so (bounded in time).
async fn read_until(mut body: hyper::body::Incoming, mut enough: impl FnMut(&[u8]) -> bool) {
    loop {
        let frame = tokio::time::timeout(util::STEP, body.frame())
            .await
            .expect("a frame in time")
            .expect("the stream is open")
            .expect("the stream reads");
        if let Ok(data) = frame.into_data() {
            if enough(&data) {
                return;
            }
        }
    }
}

#[tokio::test]
async fn polls_and_streams_work_over_http2_on_one_connection() {
    let server = TestServer::start(Config::default()).await;
    let stream = tokio::net::TcpStream::connect(server.http).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let get = |path: &str| {
        let mut sender = sender.clone();
        let req = http::Request::get(format!("http://{}{path}", server.http))
            .body(Empty::<Bytes>::new())
            .unwrap();
        async move { sender.send_request(req).await.unwrap() }
    };
    let sse_resp = get("/sse?topic=h2&after=0").await;
    let ndjson_resp = get("/stream?topic=h2&after=0").await;
    assert_eq!(sse_resp.version(), http::Version::HTTP_2);
    assert_eq!(sse_resp.headers()["content-type"], "text/event-stream");
    for i in 1..=3 {
        assert_eq!(server.publish("h2", &format!("m{i}")).await, i);
    }

    // A WebSocket over HTTP/2 is an extended CONNECT, not a GET: refused with its reason.
    let ws = get("/ws?topic=h2").await;
    assert_eq!(ws.status(), 400);
    let reason = ws.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &reason[..],
        b"WebSocket over HTTP/2 is an extended CONNECT with :protocol websocket (RFC 8441)\n"
    );

    let poll_body = get("/poll?topic=h2&after=1")
        .await
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(poll::parse(&poll_body).unwrap().len(), 2);

    let seqs = |envelopes: Vec<Bytes>| -> Vec<u64> {
        envelopes
            .iter()
            .map(|e| match decode_text(e).unwrap() {
                Decoded::Message(m) => m.seq,
                Decoded::Gap(g) => panic!("unexpected gap {g:?}"),
            })
            .collect()
    };

    let mut parser = sse::EventParser::new();
    let mut events = Vec::new();
    read_until(sse_resp.into_body(), |data| {
        parser.push(data, &mut events);
        events.len() >= 3
    })
    .await;
    assert_eq!(
        seqs(events.into_iter().map(|e| Bytes::from(e.data)).collect()),
        [1, 2, 3]
    );

    let mut lines = xhr_stream::LineParser::new();
    let mut got = Vec::new();
    read_until(ndjson_resp.into_body(), |data| {
        lines.push(data);
        while let Some(line) = lines.next_line() {
            got.push(line);
        }
        got.len() >= 3
    })
    .await;
    assert_eq!(seqs(got), [1, 2, 3]);
}

/// An extended CONNECT to `path` with `:protocol` `protocol` and `headers`.
async fn extended_connect(
    sender: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    server: &TestServer,
    path: &str,
    protocol: &'static str,
    headers: &[(&str, &str)],
) -> http::Response<hyper::body::Incoming> {
    let mut req = http::Request::connect(format!("http://{}{path}", server.http))
        .extension(hyper::ext::Protocol::from_static(protocol));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    tokio::time::timeout(util::STEP, sender.send_request(req))
        .await
        .expect("an answer in time")
        .unwrap()
}

/// The settings in the server's first frame, its SETTINGS (RFC 9113 §3.4), read off a raw
/// socket after the client's preface.
async fn server_settings(server: &TestServer) -> Vec<(u16, u32)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(server.http).await.unwrap();
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut header = [0u8; 9];
    tokio::time::timeout(util::STEP, socket.read_exact(&mut header))
        .await
        .expect("SETTINGS in time")
        .unwrap();
    assert_eq!(header[3], 0x4, "the server's first frame is SETTINGS");
    let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload).await.unwrap();
    payload
        .chunks(6)
        .map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
            )
        })
        .collect()
}

/// RFC 8441: push-server allows extended CONNECT in its SETTINGS
/// (SETTINGS_ENABLE_CONNECT_PROTOCOL, 0x8, = 1), and a WebSocket opened with one (`:protocol
/// websocket`, version 13, no key) is answered 200 and then carries the WebSocket's frames on
/// its stream both ways: the backlog and new messages down, each in order and once, a frame
/// sent up published to the topic, a close handshake at the end. Two WebSockets share the
/// connection with an SSE stream. A CONNECT for another protocol, or without version 13, is
/// refused with its reason.
#[tokio::test]
async fn websockets_open_over_http2_with_an_extended_connect() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::WebSocketStream;

    let server = TestServer::start(Config::default()).await;
    let settings = server_settings(&server).await;
    assert!(settings.contains(&(0x8, 1)), "{settings:?}");

    assert_eq!(server.publish("ws2", "backlog").await, 1);
    let stream = tokio::net::TcpStream::connect(server.http).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let sse = {
        let req = http::Request::get(format!("http://{}/sse?topic=ws2&after=0", server.http))
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.send_request(req).await.unwrap()
    };
    assert_eq!(sse.status(), 200);
    let v13 = [("sec-websocket-version", "13")];
    for (protocol, headers, reason) in [
        (
            "chat",
            &v13[..],
            "WebSocket over HTTP/2 is an extended CONNECT with :protocol websocket (RFC 8441)",
        ),
        ("websocket", &[][..], "Sec-WebSocket-Version must be 13"),
    ] {
        let refused =
            extended_connect(&mut sender, &server, "/ws?topic=ws2", protocol, headers).await;
        assert_eq!(refused.status(), 400, "{protocol}");
        let body = refused.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("{reason}\n"), "{protocol}");
    }

    let mut sockets = Vec::new();
    for _ in 0..2 {
        let answer = extended_connect(
            &mut sender,
            &server,
            "/ws?topic=ws2&after=0",
            "websocket",
            &v13,
        )
        .await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.version(), http::Version::HTTP_2);
        let upgraded = tokio::time::timeout(util::STEP, hyper::upgrade::on(answer))
            .await
            .expect("the stream in time")
            .unwrap();
        sockets.push(
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await,
        );
    }
    async fn next_seq(
        ws: &mut WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    ) -> (u64, Vec<u8>) {
        loop {
            let m = tokio::time::timeout(util::STEP, ws.next())
                .await
                .expect("a frame in time")
                .expect("the WebSocket is open")
                .unwrap();
            if let Message::Text(t) = m {
                match decode_text(t.as_bytes()).unwrap() {
                    Decoded::Message(m) => return (m.seq, m.payload.as_bytes().to_vec()),
                    Decoded::Gap(g) => panic!("unexpected gap {g:?}"),
                }
            }
        }
    }
    for ws in &mut sockets {
        assert_eq!(next_seq(ws).await, (1, b"backlog".to_vec()));
    }
    assert_eq!(server.publish("ws2", "second").await, 2);
    // A frame up is a publish, as over HTTP/1.1.
    sockets[0].send(Message::text("from h2")).await.unwrap();
    for ws in &mut sockets {
        assert_eq!(next_seq(ws).await, (2, b"second".to_vec()));
        assert_eq!(next_seq(ws).await, (3, b"from h2".to_vec()));
    }
    // The close handshake: the server answers the client's close frame on the stream.
    for mut ws in sockets {
        ws.close(None).await.unwrap();
        let rest = tokio::time::timeout(util::STEP, async {
            let mut rest = Vec::new();
            while let Some(Ok(m)) = ws.next().await {
                rest.push(m);
            }
            rest
        })
        .await
        .expect("the close answered in time");
        // The server's close frame, and nothing before it.
        assert!(matches!(&rest[..], [Message::Close(_)]), "{rest:?}");
    }
    // The SSE stream beside them had all three.
    let mut parser = sse::EventParser::new();
    let mut events = Vec::new();
    read_until(sse.into_body(), |data| {
        parser.push(data, &mut events);
        events.len() >= 3
    })
    .await;
}
