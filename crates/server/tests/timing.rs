//! Time-dependent behaviour, on tokio's paused clock (auto-advanced while everything waits), so
//! the tests neither sleep nor depend on the machine's speed.

mod util;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use pushbench_server::Config;
use pushbench_wire::Transport;
use util::{Item, Sub, TestServer};

/// A GET without the helpers' step timeout: on the paused clock a 45 s hold is instant, but it
/// is still longer than the step.
async fn get_held(addr: std::net::SocketAddr, path: &str) -> (u16, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", "127.0.0.1")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test(start_paused = true)]
async fn a_long_poll_answers_empty_when_its_timeout_passes_and_at_once_when_a_message_comes() {
    let server = TestServer::start(Config::default()).await;
    server.publish("t", "one").await;
    let started = tokio::time::Instant::now();
    let (status, body) = get_held(server.http, "/long-poll?topic=t&after=1&timeout=45000").await;
    assert_eq!((status, &body[..]), (200, &b"[]"[..]));
    // Held for the asked timeout (on the paused clock), not the 30 s default.
    let held = started.elapsed();
    assert!(
        held >= Duration::from_secs(45) && held < Duration::from_secs(46),
        "{held:?}"
    );

    // Without timeout= the configured default applies.
    let started = tokio::time::Instant::now();
    let (_, body) = get_held(server.http, "/long-poll?topic=t&after=1").await;
    assert_eq!(&body[..], b"[]");
    assert!(started.elapsed() >= Config::default().long_poll_timeout);

    // A message ends the hold at once.
    let addr = server.http;
    let waiting = tokio::spawn(async move {
        get_held(addr, "/long-poll?topic=t&after=1&timeout=100000")
            .await
            .1
    });
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = tokio::time::Instant::now();
    server.publish("t", "two").await;
    let body = waiting.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(&body[..], br#"[{"topic":"t","seq":2,"data":"two"}]"#);
}

#[tokio::test(start_paused = true)]
async fn idle_streams_get_a_heartbeat_every_interval() {
    let server = TestServer::start(Config {
        heartbeat: Duration::from_secs(5),
        ..Config::default()
    })
    .await;
    // SSE heartbeats are comments: the parser drops them, so read the raw body instead.
    let resp = server.send("GET", "/sse?topic=t", &[], Bytes::new()).await;
    let mut body = resp.into_body();
    let started = tokio::time::Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let frame = body.frame().await.unwrap().unwrap();
        if let Ok(data) = frame.into_data() {
            if &data[..] == b":\n\n" {
                seen.push(started.elapsed());
            }
        }
    }
    assert!(seen[0] <= Duration::from_secs(5), "{seen:?}");
    assert!(
        seen[2] >= Duration::from_secs(10) && seen[2] <= Duration::from_secs(15),
        "{seen:?}"
    );
    // A heartbeat is not a message: a subscriber on the same server still sees only messages.
    let mut sub = Sub::open(&server, Transport::WebSocket, "t", None).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    server.publish("t", "after pings").await;
    assert_eq!(
        sub.next().await,
        Item::Msg {
            seq: 1,
            payload: "after pings".into()
        }
    );
}

/// `timeout=0` asks "is anything there?": messages already waiting must always win over the
/// expired timer (an unbiased select answered `[]` about half the time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_timeout_long_poll_returns_what_is_waiting_every_time() {
    let server = TestServer::start(Config::default()).await;
    for i in 0..3 {
        server.publish("t", &format!("m{i}")).await;
    }
    for _ in 0..1000 {
        let (status, body) = server.get("/long-poll?topic=t&after=0&timeout=0").await;
        assert_eq!(status, 200);
        assert_eq!(
            pushbench_wire::poll::parse(&body).unwrap().len(),
            3,
            "{body:?}"
        );
    }
    let (_, body) = server.get("/long-poll?topic=t&after=3&timeout=0").await;
    assert_eq!(&body[..], b"[]");
}
