//! Shutdown ends every stream cleanly and `run` returns; the binary exits 0 on SIGTERM.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use pushbench_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::{Sub, TestServer};

#[tokio::test]
async fn shutdown_closes_every_stream_cleanly() {
    let server = TestServer::start(Config::default()).await;
    let mut subs = Vec::new();
    for t in util::HOLDING {
        subs.push(Sub::open(&server, t, "t", None).await);
    }
    let long_poll = {
        let path = "/long-poll?topic=t&timeout=60000".to_owned();
        let stream = tokio::net::TcpStream::connect(server.http).await.unwrap();
        tokio::spawn(
            async move { util::send_on(stream, "GET", &path, &[], bytes::Bytes::new()).await },
        )
    };
    // Let the long poll arrive before shutting down.
    for _ in 0..2000 {
        if server.stats().await.transports["long-poll"].requests > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let stopping = tokio::spawn(server.shutdown());
    let mut ends = Vec::new();
    for sub in &mut subs {
        let end = sub.end().await;
        ends.push(format!("{}: {end}", sub.transport));
    }
    assert_eq!(
        ends,
        [
            "xhr-stream: end of stream",
            "iframe: end of stream",
            "sse: end of stream",
            "websocket: close 1001 server shutting down",
            "raw-tcp: error server shutting down",
        ]
    );
    let answer = long_poll.await.unwrap();
    assert_eq!(answer.status(), 200);
    use http_body_util::BodyExt;
    assert_eq!(
        &answer.into_body().collect().await.unwrap().to_bytes()[..],
        b"[]"
    );
    stopping.await.unwrap().unwrap();
}

/// Starts the push-server binary on free ports; returns it and the line that names its ports.
fn start_binary() -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_push-server"))
        .args(["--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

#[tokio::test]
async fn the_binary_prints_its_ports_serves_and_exits_0_on_sigterm() {
    let (mut child, line) = start_binary();
    // push-server listening http=127.0.0.1:PORT tcp=127.0.0.1:PORT
    let http = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap_or_else(|| panic!("no http= in {line:?}"))
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&http).await.unwrap();
    stream
        .write_all(b"POST /publish?topic=t HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with("{\"topic\":\"t\",\"seq\":1}\n"),
        "{answer}"
    );
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A SIGTERM that arrives as soon as the ports are printed, before any request, must still be a
/// clean shutdown: the handler has to be in place by then, or the signal's default action kills
/// the process (exit by signal, no code). Repeated, since the window is short.
#[test]
fn sigterm_right_after_the_ports_are_printed_exits_0() {
    for attempt in 0..20 {
        let (mut child, line) = start_binary();
        assert!(line.starts_with("push-server listening"), "{line:?}");
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "attempt {attempt}: {status:?}");
    }
}

#[tokio::test]
async fn bad_flags_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_push-server"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--tcp",
            "127.0.0.1:0",
            "--ring-size",
            "0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ring-size must be at least 1"));
}
