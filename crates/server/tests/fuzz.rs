//! A fuzz target for the server's request paths, HTTP and raw TCP, against a real server over
//! sockets: valid requests of every kind, mutated by the fuzzer's bytes, must never panic a
//! connection task or stop the server serving.
//!
//! Under `cargo test` it runs bolero's random engine for `PUSHBENCH_FUZZ_ITERATIONS` inputs
//! (default 300, a bounded run for CI); `cargo bolero test --package pushbench-server --test
//! fuzz requests` runs it under libFuzzer where a nightly toolchain is installed.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use bolero::check;
use pushbench_server::Config;
use pushbench_wire::envelope::Encoding;
use pushbench_wire::raw_tcp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use util::TestServer;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn iterations() -> usize {
    std::env::var("PUSHBENCH_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

/// Requests of every kind push-server takes: `true` for the raw TCP port.
fn templates() -> Vec<(bool, Vec<u8>)> {
    let http = |s: &str| (false, s.as_bytes().to_vec());
    // A masked text frame "hi" after the upgrade, so the WebSocket path reads frames too.
    let mut ws = b"GET /ws?topic=f HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec();
    ws.extend_from_slice(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
    let mut raw = raw_tcp::subscribe("f", Some(0), Encoding::Binary).to_vec();
    raw.extend_from_slice(&raw_tcp::publish("f", b"hello"));
    vec![
        http("GET /poll?topic=f&after=0 HTTP/1.1\r\nhost: x\r\n\r\n"),
        http("POST /publish?topic=f HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello"),
        http("POST /publish?topic=f HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        http("GET /long-poll?topic=f&after=0&timeout=50 HTTP/1.1\r\nhost: x\r\n\r\n"),
        http("GET /sse?topic=f HTTP/1.1\r\nhost: x\r\nlast-event-id: 1\r\n\r\n"),
        http("GET /stream?topic=f&padding=16 HTTP/1.1\r\nhost: x\r\n\r\n"),
        http("GET /iframe?topic=f HTTP/1.1\r\nhost: x\r\n\r\n"),
        http("GET /stats HTTP/1.1\r\nhost: x\r\n\r\n"),
        (false, ws),
        (true, raw),
    ]
}

/// A template chosen and mutated by `input`: its first byte picks the template, then each
/// group of three bytes overwrites one byte (two for the position, one for the value), and what
/// is left over is inserted where the last one pointed.
fn mutate(input: &[u8], templates: &[(bool, Vec<u8>)]) -> (bool, Vec<u8>) {
    let Some((&pick, rest)) = input.split_first() else {
        return templates[0].clone();
    };
    let (raw, mut bytes) = templates[pick as usize % templates.len()].clone();
    let mut at = 0;
    let mut groups = rest.chunks_exact(3);
    for g in groups.by_ref().take(8) {
        at = u16::from_be_bytes([g[0], g[1]]) as usize % bytes.len();
        bytes[at] = g[2];
    }
    let tail: Vec<u8> = groups.flatten().copied().collect();
    bytes.splice(at..at, tail);
    (raw, bytes)
}

#[test]
fn requests() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Relaxed);
        default_hook(info);
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(TestServer::start(Config {
        idle_timeout: Duration::from_millis(200),
        max_message_size: 4096,
        ..Config::default()
    }));
    let (http, tcp) = (server.http, server.tcp);
    let templates = templates();
    check!()
        .with_iterations(iterations())
        .with_max_len(1024)
        .for_each(|input: &[u8]| {
            let (raw, bytes) = mutate(input, &templates);
            rt.block_on(async {
                let Ok(mut s) = TcpStream::connect(if raw { tcp } else { http }).await else {
                    return;
                };
                let _ = s.write_all(&bytes).await;
                // Whatever comes back in a moment; streams and held polls keep going, and a
                // dropped socket is what their clients do too.
                let mut answer = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_millis(20), s.read(&mut answer)).await;
            });
        });
    rt.block_on(async {
        let (status, _) = tokio::time::timeout(util::STEP, server.get("/stats"))
            .await
            .expect("still answering");
        assert_eq!(status, 200);
        assert!(server.publish("after-fuzz", "still serving").await >= 1);
        server.shutdown().await.unwrap();
    });
    assert_eq!(PANICS.load(Relaxed), 0, "a connection task panicked");
}
