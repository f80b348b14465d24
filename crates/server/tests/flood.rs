//! A WebSocket ping flood, alone in its test binary: it measures the process's memory, which
//! other tests running beside it would disturb.

mod util;

use pushbench_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::{small_buffer_connect, TestServer, STEP};

/// A client that pings as fast as it can and never reads its pongs: the pongs the server
/// cannot send are bounded (the newest replaces the last once the bound is reached), so the
/// server's memory stays flat however long the flood lasts.
#[tokio::test]
async fn a_websocket_ping_flood_that_never_reads_keeps_memory_bounded() {
    const MAX_MESSAGE: usize = 64 * 1024;
    let server = TestServer::start(Config {
        max_message_size: MAX_MESSAGE,
        ..Config::default()
    })
    .await;
    let mut socket = small_buffer_connect(server.http).await;
    socket
        .write_all(b"GET /ws?topic=flood HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        socket.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    // A masked ping with a 125-byte payload (all zero, so the mask leaves it as it is).
    let mut ping = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
    ping.extend_from_slice(&[0u8; 125]);
    let batch: Vec<u8> = ping.repeat(1000);
    // The server runs in this process: its memory is this process's.
    let rss = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .parse::<u64>()
            .unwrap();
        kb * 1024
    };
    const FLOOD: usize = 64 << 20;
    let before = rss();
    let mut sent = 0;
    tokio::time::timeout(STEP, async {
        while sent < FLOOD {
            socket.write_all(&batch).await.unwrap();
            sent += batch.len();
        }
    })
    .await
    .expect("the server keeps reading the flood");
    let grown = rss().saturating_sub(before);
    eprintln!("ping flood: {sent} bytes of pings, the process grew by {grown} bytes");
    // Unbounded, each ping's pong stayed queued: this flood grew the server by about 60 MB.
    let bound = 16 << 20;
    assert!(
        grown < bound,
        "{sent} bytes of pings grew the process by {grown} bytes (bound {bound}; the server's \
         own queue is capped at {} bytes)",
        pushbench_server::websocket::MAX_WRITE_BUFFER
    );
    server.shutdown().await.unwrap();
}
