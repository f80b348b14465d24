//! The HTTP transports do not assume HTTP/1.1 beyond where they must (the WebSocket upgrade):
//! over HTTP/2 with prior knowledge, polls answer and SSE and NDJSON stream, several streams on
//! one connection.

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

    // The one place HTTP/1.1 is required: the WebSocket upgrade is refused with its reason.
    let ws = get("/ws?topic=h2").await;
    assert_eq!(ws.status(), 400);
    let reason = ws.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &reason[..],
        b"WebSocket needs an HTTP/1.1 upgrade request\n"
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
