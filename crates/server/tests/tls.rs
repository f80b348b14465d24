//! The HTTPS and TLS raw TCP ports, with a certificate given as PEM files and a client that
//! trusts only it: HTTP/1.1 or HTTP/2 as ALPN settles, every transport delivering over TLS (the
//! held long poll and the directly written streams taking their tasks' path), and a client that
//! does not speak TLS closed rather than held.

mod util;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use pushbench_server::Config;
use pushbench_wire::raw_tcp::{self, Frame};
use pushbench_wire::{Encoding, Transport};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use util::{TestServer, STEP};

/// A server with TLS ports whose certificate (for `localhost`) was read from PEM files, and
/// that certificate.
async fn start() -> (TestServer, CertificateDer<'static>) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    // One directory per server: tests run side by side in one process.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pushbench-tls-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let acceptor = pushbench_server::tls::acceptor(Some(&cert), Some(&key)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let server = TestServer::start_tls(Config::default(), acceptor).await;
    (server, generated.cert.der().clone())
}

/// A TLS connection to `addr` trusting `cert` only, offering `alpn` (nothing if empty).
async fn connect(
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
    alpn: &[u8],
) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !alpn.is_empty() {
        config.alpn_protocols = vec![alpn.to_vec()];
    }
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(STEP, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("the handshake succeeds with the certificate trusted")
}

/// Reads from `io` until what arrived contains `needle`.
async fn read_until(io: &mut TlsStream<TcpStream>, got: &mut Vec<u8>, needle: &str) {
    tokio::time::timeout(STEP, async {
        while !String::from_utf8_lossy(got).contains(needle) {
            let mut chunk = [0u8; 4096];
            let n = io.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(got));
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{needle} never came; got {:?}",
            String::from_utf8_lossy(got)
        )
    });
}

/// Every transport subscribes over TLS and gets a message the ring held and one published
/// while it waits (a held long poll and the streams written by their tasks), each counted once.
#[tokio::test]
async fn every_transport_delivers_over_tls_http1() {
    let (server, cert) = start().await;
    let (https, tcp_tls) = server.tls.unwrap();
    for transport in [
        Transport::ShortPoll,
        Transport::LongPoll,
        Transport::XhrStream,
        Transport::Iframe,
        Transport::Sse,
    ] {
        let path = transport.path().unwrap().trim_start_matches('/');
        let topic = format!("tls-{path}");
        server.publish(&topic, "first").await;
        let mut io = connect(https, &cert, b"http/1.1").await;
        let after = if path == "long-poll" { 1 } else { 0 };
        let request =
            format!("GET /{path}?topic={topic}&after={after} HTTP/1.1\r\nhost: localhost\r\n\r\n");
        io.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        if path != "long-poll" {
            read_until(&mut io, &mut got, "first").await;
        }
        if path == "poll" {
            // A short poll answers what is there; ask again after the publish.
            server.publish(&topic, "second").await;
            let again =
                format!("GET /poll?topic={topic}&after=1 HTTP/1.1\r\nhost: localhost\r\n\r\n");
            io.write_all(again.as_bytes()).await.unwrap();
        } else {
            server.publish(&topic, "second").await;
        }
        read_until(&mut io, &mut got, "second").await;
    }

    // WebSocket over TLS.
    server.publish("tls-ws", "first").await;
    let io = connect(https, &cert, b"http/1.1").await;
    let (mut ws, _) =
        tokio_tungstenite::client_async("wss://localhost/ws?topic=tls-ws&after=0", io)
            .await
            .unwrap();
    for (i, payload) in ["first", "second"].into_iter().enumerate() {
        if i > 0 {
            server.publish("tls-ws", payload).await;
        }
        let message = tokio::time::timeout(STEP, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(message.to_text().unwrap().contains(payload));
    }

    // Raw TCP over TLS.
    server.publish("tls-raw", "first").await;
    let mut io = connect(tcp_tls, &cert, b"").await;
    assert_eq!(io.get_ref().1.alpn_protocol(), None);
    io.write_all(&raw_tcp::subscribe("tls-raw", Some(0), Encoding::Text))
        .await
        .unwrap();
    let mut buf = BytesMut::new();
    let mut payloads = Vec::new();
    tokio::time::timeout(STEP, async {
        while payloads.len() < 2 {
            while let Some(frame) = raw_tcp::decode(&mut buf, 1 << 20).unwrap() {
                match frame {
                    Frame::Subscribed { .. } => {
                        server.publish("tls-raw", "second").await;
                    }
                    Frame::Envelope(env) => payloads.push(env),
                    Frame::Heartbeat => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            if io.read_buf(&mut buf).await.unwrap() == 0 {
                panic!("closed");
            }
        }
    })
    .await
    .expect("both messages over TLS raw TCP");
    assert!(String::from_utf8_lossy(&payloads[1]).contains("second"));

    let stats = server.stats().await;
    assert_eq!(stats.transports["sse"].messages_delivered, 2);
    assert_eq!(stats.transports["websocket"].messages_delivered, 2);
    assert_eq!(stats.transports["raw-tcp"].messages_delivered, 2);
    server.shutdown().await.unwrap();
}

/// ALPN `h2`: the same port speaks HTTP/2, polls and streams alike.
#[tokio::test]
async fn https_speaks_http2_when_alpn_settles_on_it() {
    let (server, cert) = start().await;
    let (https, _) = server.tls.unwrap();
    server.publish("tls-h2", "first").await;
    let io = connect(https, &cert, b"h2").await;
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let get = |path: &str| {
        http::Request::get(format!("https://localhost{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let poll = sender
        .send_request(get("/poll?topic=tls-h2&after=0"))
        .await
        .unwrap();
    assert_eq!(poll.version(), http::Version::HTTP_2);
    let body = poll.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("first"));
    // A stream on the same connection.
    let mut sse = sender
        .send_request(get("/sse?topic=tls-h2&after=1"))
        .await
        .unwrap()
        .into_body();
    server.publish("tls-h2", "second").await;
    let mut got = Vec::new();
    tokio::time::timeout(STEP, async {
        while !String::from_utf8_lossy(&got).contains("second") {
            let frame = sse.frame().await.expect("open").unwrap();
            if let Ok(data) = frame.into_data() {
                got.extend_from_slice(&data);
            }
        }
    })
    .await
    .expect("the SSE message over HTTP/2 and TLS");
    server.shutdown().await.unwrap();
}

/// A client that sends plaintext to the HTTPS port, or nothing at all, is closed (the
/// handshake fails, or does not come within the idle timeout) and holds nothing.
#[tokio::test]
async fn a_client_not_speaking_tls_is_closed() {
    let (server, _) = start().await;
    let (https, tcp_tls) = server.tls.unwrap();
    for addr in [https, tcp_tls] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /stats HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(STEP, async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    // A TLS alert may come first.
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "{addr}: closed");
    }
    assert_eq!(server.get("/stats").await.0, 200);
    server.shutdown().await.unwrap();
}
