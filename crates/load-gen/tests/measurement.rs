//! load-gen against a real push-server child: a stall shows up as latency (open loop), and
//! byte accounting is exact for one known message on every transport.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{exe, options, target_server, tempdir};
use load_gen::process::ServerProcess;
use load_gen::runner;
use load_gen::scenario::Scenario;
use pushbench_results::{Status, Summary, TransportResult};
use pushbench_wire::chunked::chunk_overhead;
use pushbench_wire::{iframe, sse, websocket, Transport};
use tokio_util::sync::CancellationToken;

fn scenario(body: &str) -> Scenario {
    let text = format!("description = \"test\"\nseed = 3\n{body}");
    Scenario::parse(&text, Path::new("test.toml")).unwrap()
}

async fn published(http: std::net::SocketAddr) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(http).await.unwrap();
    s.write_all(b"GET /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["messages_published"].as_u64().unwrap()
}

/// SIGSTOP the server for half a second in the middle of a run. An open-loop generator must
/// charge the stall to the messages scheduled during it; a closed-loop one would not see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_shows_up_as_latency() {
    const STALL: Duration = Duration::from_millis(500);
    let results = tempdir("stall");
    let (server, target) = target_server(&results).await;
    let s = scenario(
        "transports = [\"sse\"]\nclients = 4\nrate = 50\nmessage_size = 64\nduration = \"3s\"\nwarmup = \"0s\"\ndrain = \"3s\"\n",
    );
    let opts = options(&results, Some(target));
    let http = server.http;
    let run = tokio::spawn(async move { runner::run(&s, &opts, CancellationToken::new()).await });
    // Stall once the run is clearly under way (not during connection setup).
    for _ in 0..1000 {
        if published(http).await >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.pause();
    tokio::time::sleep(STALL).await;
    server.resume();
    let (summary, _) = run.await.unwrap().unwrap();
    assert!(server.stop().await.unwrap());
    let sse = &summary.transports[0];
    assert_eq!(sse.status, Status::Complete);
    assert_eq!(sse.messages.seq.lost, 0);
    // The message scheduled as the stall began waited at least the stall, less one period.
    assert!(
        sse.latency.max_us >= (STALL - Duration::from_millis(40)).as_micros() as u64,
        "max latency {} µs does not include a {STALL:?} stall",
        sse.latency.max_us
    );
    // Every message scheduled during the stall is late, not only the first.
    assert!(sse.latency.p90_us > 50_000, "{:?}", sse.latency);
    std::fs::remove_dir_all(&results).unwrap();
}

fn text_envelope_len(topic_len: usize, seq_digits: usize, payload: usize) -> u64 {
    // {"topic":"T","seq":N,"data":"P"}
    (10 + topic_len + 8 + seq_digits + 9 + payload + 2) as u64
}

/// One 64-byte message to one subscriber on every transport; every byte accounted by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_accounting_is_exact_for_one_known_message() {
    let results = tempdir("bytes");
    // rate 1/s for 1 s with a constant pattern: exactly one message, at t = 0.
    let s = scenario(
        "transports = [\"all\"]\nclients = 1\nrate = 1\nmessage_size = 64\nduration = \"1s\"\nwarmup = \"0s\"\ndrain = \"1s\"\npoll_interval = \"200ms\"\n",
    );
    let (summary, dir): (Summary, PathBuf) =
        runner::run(&s, &options(&results, None), CancellationToken::new())
            .await
            .unwrap();
    assert!(dir.join("summary.json").exists());
    for t in &summary.transports {
        check_bytes(t, &summary, false);
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// The same known message over TLS on every transport: once the handshakes' bytes (setup) and
/// 22 bytes for every TLS 1.3 record after them (framing) are taken out, each phase is exactly
/// what it is in plaintext, and the ciphertext totals still agree with the kernel's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_accounting_is_exact_over_tls_for_one_known_message() {
    let results = tempdir("bytes-tls");
    let s = scenario(
        "transports = [\"all\"]\nclients = 1\nrate = 1\nmessage_size = 64\nduration = \"1s\"\nwarmup = \"0s\"\ndrain = \"1s\"\npoll_interval = \"200ms\"\ntls = true\n",
    );
    let (summary, dir) = runner::run(&s, &options(&results, None), CancellationToken::new())
        .await
        .unwrap();
    let setup: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("setup.json")).unwrap()).unwrap();
    assert_eq!(setup["tls"]["version"], "TLSv1_3", "{setup}");
    assert_eq!(summary.transports.len(), 7);
    for t in &summary.transports {
        let name = t.transport.as_str();
        let base = pushbench_results::transport_of(name);
        assert_eq!(name, format!("{base}:tls"));
        assert!(pushbench_results::is_tls(name));
        let facts = t.tls.as_ref().expect("the run's TLS facts");
        assert_eq!(facts.version, "TLSv1_3", "{name}");
        let expected_alpn = (base != "raw-tcp").then(|| "http/1.1".to_owned());
        assert_eq!(facts.alpn, expected_alpn, "{name}");
        // Measured on each side (the embedded server's pid is known); their size is a
        // measurement, for the report, not for a test.
        assert!(
            facts.handshake_server_us.is_some_and(f64::is_finite),
            "{name}"
        );
        assert!(
            facts.handshake_client_us.is_some_and(f64::is_finite),
            "{name}"
        );
        let tls = &t.tls_traffic;
        assert_eq!(
            tls.handshakes, t.connections_opened,
            "{name}: a handshake a connection"
        );
        // A TLS 1.3 handshake: the client's hello (and its Finished), the server's hello,
        // certificate and signature.
        assert!(
            tls.handshake_up > 200 && tls.handshake_down > 500,
            "{name}: {tls:?}"
        );
        assert!(tls.records_down >= 1, "{name}: {tls:?}");
        let mut plain = t.clone();
        plain.transport = base.to_owned();
        let b = &mut plain.bytes;
        b.setup_up -= tls.handshake_up;
        b.setup_down -= tls.handshake_down;
        b.framing_up -= 22 * tls.records_up;
        b.framing_down -= 22 * tls.records_down;
        check_bytes(&plain, &summary, false);
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// The same known message over HTTP/2 on every HTTP transport (WebSocket's an extended
/// CONNECT, RFC 8441), in plaintext (prior knowledge) and over TLS (ALPN `h2`): the envelope is
/// the payload, the transport's own framing and 9 bytes a DATA frame are framing, the HEADERS
/// frames are the heads, and the rest is control; user space agrees with the kernel to the
/// byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_accounting_is_exact_over_http2_for_one_known_message() {
    let results = tempdir("bytes-h2");
    let s = scenario(
        "transports = [\"all\"]\nclients = 1\nrate = 1\nmessage_size = 64\nduration = \"1s\"\nwarmup = \"0s\"\ndrain = \"1s\"\npoll_interval = \"200ms\"\ntls = [false, true]\nhttp = \"2\"\n",
    );
    let (summary, _) = runner::run(&s, &options(&results, None), CancellationToken::new())
        .await
        .unwrap();
    let names: Vec<&str> = summary
        .transports
        .iter()
        .map(|t| t.transport.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "short-poll:h2",
            "short-poll:tls:h2",
            "long-poll:h2",
            "long-poll:tls:h2",
            "xhr-stream:h2",
            "xhr-stream:tls:h2",
            "iframe:h2",
            "iframe:tls:h2",
            "sse:h2",
            "sse:tls:h2",
            "websocket:h2",
            "websocket:tls:h2",
        ]
    );
    let notes = summary
        .warnings
        .iter()
        .filter(|w| w.ends_with("raw-tcp:h2 skipped"));
    assert_eq!(notes.count(), 1, "{:?}", summary.warnings);
    for t in &summary.transports {
        let name = t.transport.as_str();
        let base = pushbench_results::transport_of(name);
        let mut plain = t.clone();
        plain.transport = base.to_owned();
        if name.contains(":tls") {
            let facts = t.tls.as_ref().expect("the run's TLS facts");
            assert_eq!(facts.alpn.as_deref(), Some("h2"), "{name}");
            let tls = &t.tls_traffic;
            let b = &mut plain.bytes;
            b.setup_up -= tls.handshake_up;
            b.setup_down -= tls.handshake_down;
            b.framing_up -= 22 * tls.records_up + 2 * tls.close_notify_up;
            b.framing_down -= 22 * tls.records_down + 2 * tls.close_notify_down;
        }
        check_bytes(&plain, &summary, true);
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// `http = ["1.1", "2"]` runs every HTTP transport (WebSocket included) both ways, in
/// plaintext and over TLS, with nothing lost and the bytes counted to the byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_transport_delivers_over_http2_and_http1_in_one_run() {
    let results = tempdir("h2-matrix");
    let s = scenario(
        "transports = [\"short-poll\", \"long-poll\", \"xhr-stream\", \"iframe\", \"sse\", \"websocket\"]\nclients = 3\nrate = 20\nmessage_size = 200\nduration = \"1s\"\nwarmup = \"0s\"\ndrain = \"1s\"\npoll_interval = \"50ms\"\ntls = [false, true]\nhttp = [\"1.1\", \"2\"]\n",
    );
    let (summary, _) = runner::run(&s, &options(&results, None), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.transports.len(), 24);
    for t in &summary.transports {
        let name = t.transport.as_str();
        assert_eq!(t.status, Status::Complete, "{name}: {:?}", t.error);
        assert_eq!(t.client_errors, 0, "{name}: {:?}", t.last_client_error);
        assert_eq!(t.messages.seq.lost, 0, "{name}");
        assert_eq!(t.messages.seq.delivered, 3 * 20, "{name}");
        assert_eq!(t.kernel_difference, [0, 0], "{name}");
        let h2 = name.ends_with(":h2");
        assert_eq!(!t.h2_traffic.is_empty(), h2, "{name}");
        assert_eq!(t.bytes.control_up > 0, h2, "{name}");
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// `multiplex = 2`: four subscribers share two HTTP/2 connections per run, in plaintext and
/// over TLS (four WebSockets on two connections too); each one known message arrives at every
/// subscriber once, the connections' bytes are each counted once, and by phase exactly: four
/// envelopes of payload, each subscriber's own framing plus 9 bytes a DATA frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_subscribers_share_connections_and_every_byte_is_counted_once() {
    let results = tempdir("h2-mux");
    let s = scenario(
        "transports = [\"short-poll\", \"long-poll\", \"xhr-stream\", \"iframe\", \"sse\", \"websocket\"]\nclients = 4\nrate = 1\nmessage_size = 64\nduration = \"1s\"\nwarmup = \"0s\"\ndrain = \"1s\"\npoll_interval = \"200ms\"\ntls = [false, true]\nhttp = \"2\"\nmultiplex = 2\n",
    );
    let (summary, _) = runner::run(&s, &options(&results, None), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.transports.len(), 12);
    for t in &summary.transports {
        let name = t.transport.as_str();
        let base = pushbench_results::transport_of(name);
        let transport: Transport = base.parse().unwrap();
        assert_eq!(t.status, Status::Complete, "{name}: {:?}", t.error);
        assert_eq!(t.client_errors, 0, "{name}: {:?}", t.last_client_error);
        assert_eq!(t.messages.seq.lost, 0, "{name}");
        assert_eq!(t.messages.seq.delivered, 4, "{name}");
        assert_eq!(t.connections_opened, 2, "{name}: two connections for four");
        assert_eq!(t.kernel_difference, [0, 0], "{name}");
        assert_eq!(t.h2_traffic.headers_frames_up, t.requests, "{name}");
        // The topic is named after the transport: pb.<16-char stamp>.<transport>.0
        let topic_len = 3 + 16 + 1 + base.len() + 2;
        let env = text_envelope_len(topic_len, 1, 64);
        let b = &t.bytes;
        assert_eq!(b.payload_down, 4 * env, "{name}");
        let tls = &t.tls_traffic;
        let record_framing = [
            22 * tls.records_up + 2 * tls.close_notify_up,
            22 * tls.records_down + 2 * tls.close_notify_down,
        ];
        // A WebSocket's masked close frame up and the server's answer down; nothing else up.
        let own_up = match transport {
            Transport::WebSocket => 4 * websocket::header_len(0, true) as u64,
            _ => 0,
        };
        assert_eq!(
            b.framing_up,
            own_up + 9 * t.h2_traffic.data_frames_up + record_framing[0],
            "{name}"
        );
        let own = match transport {
            Transport::ShortPoll => 2 * t.requests,
            Transport::LongPoll => 2 * (t.requests - 4),
            Transport::XhrStream => 4,
            Transport::Iframe => {
                let prelude = iframe::prelude(iframe::DEFAULT_PADDING).len();
                let frame = iframe::frame(&vec![b'x'; env as usize]).len();
                4 * (prelude + frame - env as usize) as u64
            }
            Transport::WebSocket => 4 * (websocket::header_len(env as usize, false) + 2) as u64,
            _ => {
                let frame = sse::frame(1, &vec![b'x'; env as usize]).len();
                4 * (sse::retry(2000).len() + frame - env as usize) as u64
            }
        };
        assert_eq!(
            b.framing_down,
            own + 9 * t.h2_traffic.data_frames_down + record_framing[1],
            "{name}"
        );
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// `tls = [false, true]` runs every transport both ways, side by side, with nothing lost and
/// the ciphertext counted to the byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_delivers_over_tls_and_plaintext_in_one_run() {
    let results = tempdir("tls-matrix");
    let s = scenario(
        "transports = [\"all\"]\nclients = 3\nrate = 20\nmessage_size = 200\nduration = \"1s\"\nwarmup = \"0s\"\ndrain = \"1s\"\npoll_interval = \"50ms\"\ntls = [false, true]\n",
    );
    let (summary, _) = runner::run(&s, &options(&results, None), CancellationToken::new())
        .await
        .unwrap();
    let names: Vec<&str> = summary
        .transports
        .iter()
        .map(|t| t.transport.as_str())
        .collect();
    assert_eq!(names.len(), 14, "{names:?}");
    for t in &summary.transports {
        let name = t.transport.as_str();
        assert_eq!(t.status, Status::Complete, "{name}: {:?}", t.error);
        assert_eq!(t.messages.seq.lost, 0, "{name}");
        assert_eq!(t.messages.seq.delivered, 3 * 20, "{name}");
        assert_eq!(t.kernel_difference, [0, 0], "{name}");
        assert_eq!(t.tls.is_some(), name.ends_with(":tls"), "{name}");
        assert_eq!(
            t.tls_traffic.handshakes > 0,
            name.ends_with(":tls"),
            "{name}"
        );
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// `t`'s bytes by phase, by hand; over HTTP/2 (`http2`), with its own framing of heads and
/// bodies (see `check_h2_heads`).
fn check_bytes(t: &TransportResult, summary: &Summary, http2: bool) {
    let name = t.transport.as_str();
    let transport: Transport = name.parse().unwrap();
    assert_eq!(t.status, Status::Complete, "{name}: {:?}", t.error);
    assert_eq!(t.messages.seq.delivered, 1, "{name}");
    assert_eq!(
        t.kernel_difference,
        [0, 0],
        "{name}: user space and TCP_INFO disagree"
    );
    // pb.<16-char stamp>.<transport>.0
    let topic_len = 3 + 16 + 1 + name.len() + 2;
    let env = text_envelope_len(topic_len, 1, 64);
    let b = &t.bytes;
    assert_eq!(
        b.payload_down, env,
        "{name}: payload is the envelope as carried"
    );
    assert_eq!(b.payload_up, 0, "{name}");
    let get_head = |path_and_query: &str| -> u64 {
        // GET <target> HTTP/1.1\r\nhost: 127.0.0.1:PORT\r\n\r\n, host from the summary's own run.
        let host_len = "127.0.0.1:".len() + 5;
        (format!("GET {path_and_query} HTTP/1.1\r\nhost: \r\n\r\n").len() + host_len) as u64
    };
    let topic = "t".repeat(topic_len);
    match transport {
        Transport::ShortPoll | Transport::LongPoll => {
            let responses = if transport == Transport::LongPoll {
                t.requests - 1
            } else {
                t.requests
            };
            // `[` and `]` around every answer; nothing else but the envelope (and over HTTP/2,
            // 9 bytes a DATA frame).
            assert_eq!(b.framing_down, 2 * responses + h2_framing(t), "{name}");
            assert_eq!(b.framing_up, 0, "{name}");
            assert_eq!(b.setup_up + b.setup_down, 0, "{name}");
            assert!(t.requests >= 2, "{name}: {}", t.requests);
            let path = if transport == Transport::LongPoll {
                format!("/long-poll?topic={topic}&after=0&timeout=30000")
            } else {
                format!("/poll?topic={topic}&after=0")
            };
            let head = get_head(&path);
            if http2 {
                check_h2_heads(t, b.headers_up, b.headers_down, head);
                return;
            }
            // Ports are 5 digits on Linux's default ephemeral range, and `after` stays one digit.
            assert_eq!(b.headers_up, head * t.requests, "{name}");
        }
        Transport::XhrStream | Transport::Iframe | Transport::Sse => {
            let (prelude, frame) = match transport {
                Transport::XhrStream => (0, env as usize + 1),
                Transport::Iframe => (
                    iframe::prelude(iframe::DEFAULT_PADDING).len(),
                    iframe::frame(&vec![b'x'; env as usize]).len(),
                ),
                _ => (
                    sse::retry(2000).len(),
                    sse::frame(1, &vec![b'x'; env as usize]).len(),
                ),
            };
            // HTTP/1.1's chunks; HTTP/2's DATA frames instead.
            let chunk = |n: usize| if http2 { 0 } else { chunk_overhead(n) };
            let mut framing = (frame - env as usize + chunk(frame)) as u64 + h2_framing(t);
            if prelude > 0 {
                framing += (prelude + chunk(prelude)) as u64;
            }
            assert_eq!(b.framing_down, framing, "{name}");
            assert_eq!(b.framing_up, 0, "{name}");
            let path = format!(
                "/{}?topic={topic}&after=0",
                transport.path().unwrap().trim_start_matches('/')
            );
            if http2 {
                check_h2_heads(t, b.setup_up, b.setup_down, get_head(&path));
                return;
            }
            let extra = if transport == Transport::Sse {
                "accept: text/event-stream\r\n".len() as u64
            } else {
                0
            };
            assert_eq!(b.setup_up, get_head(&path) + extra, "{name}");
            assert_eq!(b.headers_up + b.headers_down, 0, "{name}");
        }
        Transport::WebSocket => {
            // One unmasked frame down; the client's masked close frame up and the server's close
            // reply down (over HTTP/2, each in DATA frames of 9 bytes more).
            assert_eq!(
                b.framing_down,
                websocket::header_len(env as usize, false) as u64 + 2 + h2_framing(t),
                "{name}"
            );
            assert_eq!(
                b.framing_up,
                websocket::header_len(0, true) as u64 + 9 * t.h2_traffic.data_frames_up,
                "{name}"
            );
            if http2 {
                // The extended CONNECT and its 200, one HEADERS frame each.
                let path = format!("/ws?topic={topic}&after=0");
                check_h2_heads(t, b.setup_up, b.setup_down, get_head(&path));
                assert_eq!(b.headers_up + b.headers_down, 0, "{name}");
                return;
            }
        }
        Transport::RawTcp => {
            assert_eq!(b.setup_up, (5 + 10 + topic_len) as u64, "{name}");
            assert_eq!(b.setup_down, 13, "{name}");
            assert_eq!(b.framing_down, 5, "{name}");
            assert_eq!(b.framing_up, 0, "{name}");
        }
        Transport::MultipartMixed => unreachable!("push-server does not serve {name}"),
    }
    let _ = summary;
}

/// 9 bytes for every DATA frame the server sent over HTTP/2 (none over HTTP/1.1).
fn h2_framing(t: &TransportResult) -> u64 {
    9 * t.h2_traffic.data_frames_down
}

/// Over HTTP/2, the heads (`up`, `down`: under setup for a stream, headers for a poll) are
/// HPACK-compressed HEADERS frames, one each way per request, whose size the classifier
/// measured: each at least a frame header, and a poll's request heads, `h1_head` bytes each in
/// HTTP/1.1, a third smaller at least. Connection management is control, both ways.
fn check_h2_heads(t: &TransportResult, up: u64, down: u64, h1_head: u64) {
    let name = t.transport.as_str();
    let h2 = &t.h2_traffic;
    assert_eq!(h2.headers_frames_up, t.requests, "{name}: {h2:?}");
    assert_eq!(h2.headers_up, up, "{name}");
    assert!(up >= 10 * t.requests && down >= 10 * t.requests, "{name}");
    if t.requests > 2 {
        // After the first request, HPACK sends most fields as table indices (`:path` always
        // literally, as nghttp2 and h2 do): well under HTTP/1.1's heads.
        assert!(
            up * 3 < h1_head * t.requests * 2,
            "{name}: {up} bytes for {} requests, against {h1_head} each in HTTP/1.1",
            t.requests
        );
    }
    let b = &t.bytes;
    // The preface and SETTINGS up; SETTINGS and its acknowledgement down, at least.
    assert!(
        b.control_up >= 24 + 9 && b.control_down >= 18,
        "{name}: {b:?}"
    );
}

/// The server closes kept-alive connections idle longer than its idle timeout. Publishers and
/// short-poll clients must reconnect and resend (as HTTP clients do) instead of losing the
/// message or counting an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_survive_the_server_closing_idle_connections() {
    let results = tempdir("idle");
    // One message every 500 ms and a poll every 500 ms, against a 200 ms idle timeout.
    let s = scenario(
        "transports = [\"short-poll\", \"sse\"]\nclients = 2\nrate = 2\nmessage_size = 32\nduration = \"2s\"\nwarmup = \"0s\"\ndrain = \"2s\"\npoll_interval = \"500ms\"\n",
    );
    let mut opts = options(&results, None);
    opts.server_args = vec!["--idle-timeout-ms=200".into()];
    let (summary, _) = runner::run(&s, &opts, CancellationToken::new())
        .await
        .unwrap();
    for t in &summary.transports {
        let name = &t.transport;
        assert_eq!(t.status, Status::Complete, "{name}");
        assert!(
            t.publisher.connections >= 2,
            "{name}: the server should have closed idle publisher connections"
        );
        assert_eq!(
            t.publisher.errors, 0,
            "{name}: {:?}",
            t.publisher.last_error
        );
        assert_eq!(t.client_errors, 0, "{name}: {:?}", t.last_client_error);
        assert_eq!(t.messages.published, 4, "{name}");
        assert_eq!(t.messages.seq.delivered, 8, "{name}");
        assert_eq!(t.messages.seq.lost, 0, "{name}");
    }
    let poll = &summary.transports[0];
    assert!(
        poll.connections_opened >= 4,
        "short-poll clients reconnect after idle closes: {}",
        poll.connections_opened
    );
    std::fs::remove_dir_all(&results).unwrap();
}

/// `request_headers = "browser"`: every HTTP request carries the browser header block, and the
/// byte accounting counts exactly that much more per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_headers_are_sent_and_counted_per_request() {
    let results = tempdir("headers");
    let s = scenario(
        "transports = [\"short-poll\", \"sse\"]\nclients = 1\nrate = 1\nmessage_size = 64\nduration = \"1s\"\nwarmup = \"0s\"\ndrain = \"1s\"\npoll_interval = \"200ms\"\nrequest_headers = \"browser\"\n",
    );
    let (summary, _) = runner::run(&s, &options(&results, None), CancellationToken::new())
        .await
        .unwrap();
    // The host header's value is 127.0.0.1:PORT; the block's referer repeats it.
    let host = "127.0.0.1:".len() + 5;
    let block: usize = load_gen::client::request_headers(
        load_gen::scenario::RequestHeaders::Browser,
        &"h".repeat(host),
    )
    .iter()
    .map(|(k, v)| k.len() + 2 + v.len() + 2)
    .sum();
    assert!(block > 400, "{block}");
    for t in &summary.transports {
        let name = t.transport.as_str();
        assert_eq!(t.messages.seq.delivered, 1, "{name}");
        assert_eq!(t.kernel_difference, [0, 0], "{name}");
        let topic = "t".repeat(3 + 16 + 1 + name.len() + 2);
        let minimal =
            |path: String| (format!("GET {path} HTTP/1.1\r\nhost: \r\n\r\n").len() + host) as u64;
        if name == "short-poll" {
            let per_request = minimal(format!("/poll?topic={topic}&after=0")) + block as u64;
            assert_eq!(t.bytes.headers_up, per_request * t.requests, "{name}");
        } else {
            // The block's `accept: */*` gives way to EventSource's own accept header.
            let accept =
                "accept: text/event-stream\r\n".len() as u64 - "accept: */*\r\n".len() as u64;
            let expected = minimal(format!("/sse?topic={topic}&after=0")) + block as u64 + accept;
            assert_eq!(t.bytes.setup_up, expected, "{name}");
        }
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// Bidirectional workloads: WebSocket and raw TCP clients publish through their own sockets, the
/// HTTP transports through a POST beside their subscription. Every client's messages reach every
/// subscriber of its topic, and the upstream payload is counted once, as payload going up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_publish_upstream_through_their_own_transport() {
    let results = tempdir("upstream");
    let s = scenario(
        "transports = [\"sse\", \"websocket\", \"raw-tcp\"]\nclients = 4\ntopics = 2\ndirection = \"all\"\nrate = 2\nmessage_size = 40\nduration = \"2s\"\nwarmup = \"0s\"\ndrain = \"2s\"\n",
    );
    // The seeded schedules must end well before the run does, so no send can race the drain.
    let plan = runner::TransportPlan::new(&s, runner::Shard::ALL, Transport::WebSocket, "t", 1);
    let sends: Vec<u64> = plan
        .subscribers()
        .into_iter()
        .flat_map(|c| c.upstream.unwrap().schedule.map(|p| p.intended_ns))
        .collect();
    assert!(sends.iter().all(|&ns| ns + 100_000_000 < plan.end_ns));
    let (summary, _) = runner::run(&s, &options(&results, None), CancellationToken::new())
        .await
        .unwrap();
    for t in &summary.transports {
        let name = &t.transport;
        assert_eq!(t.status, Status::Complete, "{name}");
        assert_eq!(t.client_errors, 0, "{name}: {:?}", t.last_client_error);
        assert_eq!(t.messages.published, sends.len() as u64, "{name}");
        // Two subscribers per topic: each message is owed to both.
        assert_eq!(t.messages.expected, 2 * sends.len() as u64, "{name}");
        assert_eq!(t.messages.seq.delivered, t.messages.expected, "{name}");
        assert_eq!(t.messages.seq.lost, 0, "{name}");
        // No push publishers: all publishing is the clients' own, counted with their traffic.
        assert_eq!(t.publisher.requests, 0, "{name}");
        assert!(
            t.bytes.payload_up >= sends.len() as u64 * 40,
            "{name}: {}",
            t.bytes.payload_up
        );
        assert_eq!(t.kernel_difference, [0, 0], "{name}");
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// `--server-cpus`: the embedded server and every thread it starts run on the cores given.
#[tokio::test]
async fn a_pinned_server_runs_only_on_its_cores() {
    let results = tempdir("pinned");
    let cpus = load_gen::affinity::available();
    let mine = &cpus[cpus.len() - 1..];
    // Two threads, where it would run one on one core: every one of them must be pinned.
    let args = ["--threads=2".to_owned()];
    let server = ServerProcess::start(Some(&exe()), &args, Some(mine), &results.join("server.log"))
        .await
        .unwrap();
    // Every thread of the server, not just its first.
    let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid)).unwrap();
    let mut threads = 0;
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_owned();
        assert_eq!(allowed, mine[0].to_string());
        threads += 1;
    }
    assert!(threads > 2, "two runtime workers and the main thread");
    assert!(server.stop().await.unwrap());
    std::fs::remove_dir_all(&results).unwrap();
}

/// `repeat = 3`: every transport runs three times, interleaved with the first rotating; the
/// summary keeps each run and an aggregate per transport with the spread of its figures, and
/// the report's interval log is the repeats' logs added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_run_interleaved_and_aggregate() {
    let results = tempdir("repeat");
    let s = scenario(
        "transports = [\"sse\", \"raw-tcp\"]\nclients = 2\nrate = 20\nmessage_size = 32\nduration = \"1s\"\nwarmup = \"200ms\"\ndrain = \"1s\"\nrepeat = 3\n",
    );
    let (summary, dir) = runner::run(&s, &options(&results, None), CancellationToken::new())
        .await
        .unwrap();
    let order: Vec<(&str, Option<usize>)> = summary
        .runs
        .iter()
        .map(|t| (t.transport.as_str(), t.repeat))
        .collect();
    assert_eq!(
        order,
        [
            ("sse", Some(0)),
            ("raw-tcp", Some(0)),
            ("raw-tcp", Some(1)),
            ("sse", Some(1)),
            ("sse", Some(2)),
            ("raw-tcp", Some(2)),
        ]
    );
    assert_eq!(summary.transports.len(), 2);
    for t in &summary.transports {
        let name = &t.transport;
        assert_eq!(t.status, Status::Complete, "{name}");
        assert_eq!(t.repeat, None);
        let runs: Vec<&TransportResult> = summary
            .runs
            .iter()
            .filter(|r| &r.transport == name)
            .collect();
        let delivered: u64 = runs.iter().map(|r| r.messages.seq.delivered).sum();
        assert_eq!(t.messages.seq.delivered, delivered, "{name}");
        assert_eq!(
            t.latency.count,
            runs.iter().map(|r| r.latency.count).sum::<u64>()
        );
        let spread = t.repeats.as_ref().unwrap();
        assert_eq!(spread.runs, 3);
        assert_eq!(spread.confidence, 0.75);
        let mut p50: Vec<f64> = runs.iter().map(|r| r.latency.p50_us as f64).collect();
        p50.sort_by(f64::total_cmp);
        assert_eq!(
            (spread.p50_us.low, spread.p50_us.median, spread.p50_us.high),
            (p50[0], p50[1], p50[2])
        );
        for k in 1..=3 {
            assert!(dir.join(format!("{name}.repeat-{k}.hlog")).exists());
        }
        assert!(dir.join(format!("{name}.hlog")).exists());
    }
    // The folder reads back like any other, its intervals included.
    let back = pushbench_results::folder::load(&dir).unwrap();
    assert_eq!(back.summary.runs.len(), 6);
    assert!(back.summary.transports[0].repeats.is_some());
    std::fs::remove_dir_all(&results).unwrap();
}
