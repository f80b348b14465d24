//! The two ways push-server serves a stream (directly on a fresh HTTP/1.1 connection, through
//! hyper after other requests on a keep-alive one) put the same bytes on the wire and let a closed
//! subscriber go at once.

mod util;

use std::time::Duration;

use pushbench_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use util::{TestServer, STEP};

/// Reads from `socket` into `buf` until `done(buf)`, failing after [`STEP`].
async fn read_until(socket: &mut TcpStream, buf: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) {
    tokio::time::timeout(STEP, async {
        while !done(buf) {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed early after {:?}",
                String::from_utf8_lossy(buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the expected bytes arrive in time");
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The head's lines but `date`, which is the only field allowed to differ.
fn head_without_date(buf: &[u8]) -> Vec<String> {
    let head = String::from_utf8_lossy(&buf[..head_end(buf).unwrap()]).into_owned();
    head.lines()
        .filter(|l| !l.starts_with("date: "))
        .map(str::to_owned)
        .collect()
}

fn quiet() -> Config {
    Config {
        // No heartbeat may land between the messages the test compares.
        heartbeat: Duration::from_secs(3600),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_stream_served_directly_and_through_hyper_puts_the_same_bytes_on_the_wire() {
    let server = TestServer::start(quiet()).await;
    for (path, topic) in [
        ("/sse", "same-sse"),
        ("/stream", "same-xhr"),
        ("/iframe", "same-iframe"),
    ] {
        let request = format!("GET {path}?topic={topic} HTTP/1.1\r\nhost: x\r\n\r\n");
        // Directly: the stream is the connection's first request.
        let mut direct = TcpStream::connect(server.http).await.unwrap();
        direct.write_all(request.as_bytes()).await.unwrap();
        // Through hyper: the same request after another one on a keep-alive connection.
        let mut through = TcpStream::connect(server.http).await.unwrap();
        through
            .write_all(b"GET /stats HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = Vec::new();
        read_until(&mut through, &mut first, |b| {
            let Some(end) = head_end(b) else { return false };
            let head = String::from_utf8_lossy(&b[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .expect("stats has a length")
                .trim()
                .parse()
                .unwrap();
            b.len() >= end + len
        })
        .await;
        through.write_all(request.as_bytes()).await.unwrap();

        let mut bufs = [Vec::new(), Vec::new()];
        for (socket, buf) in [&mut direct, &mut through].into_iter().zip(&mut bufs) {
            read_until(socket, buf, |b| head_end(b).is_some()).await;
        }
        // Both are subscribed once their heads are out: publish, then read both to the end of
        // the last message's chunk.
        for i in 0..3 {
            server.publish(topic, &format!("message-{i}")).await;
        }
        for (socket, buf) in [&mut direct, &mut through].into_iter().zip(&mut bufs) {
            read_until(socket, buf, |b| {
                let text = String::from_utf8_lossy(b);
                text.contains("message-2") && text.ends_with("\r\n")
            })
            .await;
        }
        let [direct_bytes, through_bytes] = &bufs;
        assert_eq!(
            head_without_date(direct_bytes),
            head_without_date(through_bytes),
            "{path}: the heads"
        );
        let direct_body = &direct_bytes[head_end(direct_bytes).unwrap()..];
        let through_body = &through_bytes[head_end(through_bytes).unwrap()..];
        assert_eq!(
            String::from_utf8_lossy(direct_body),
            String::from_utf8_lossy(through_body),
            "{path}: the chunked bodies"
        );
        assert!(head_without_date(direct_bytes).contains(&"transfer-encoding: chunked".to_owned()));
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_subscriber_that_closes_is_noticed_before_anything_is_written_to_it() {
    let server = TestServer::start(quiet()).await;
    let mut socket = TcpStream::connect(server.http).await.unwrap();
    socket
        .write_all(b"GET /sse?topic=gone HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut socket, &mut buf, |b| head_end(b).is_some()).await;
    assert_eq!(server.stats().await.transports["sse"].connections_open, 1);
    drop(socket);
    // With hourly heartbeats and no messages, only reading the socket can tell (hyper reads
    // it while it streams a body; the direct path must too).
    tokio::time::timeout(STEP, async {
        while server.stats().await.transports["sse"].connections_open != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the closed subscriber is let go");
    server.shutdown().await.unwrap();
}
