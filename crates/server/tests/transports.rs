//! Every transport against a real push-server on port 0: in-order delivery, resumption, explicit
//! gaps and slow consumers.

mod util;

use std::time::Duration;

use pushbench_server::Config;
use pushbench_wire::Transport;
use util::{describe, seq_range, Item, Sub, TestServer};

fn topic_for(t: Transport, what: &str) -> String {
    format!("{what}.{}", t.name())
}

#[tokio::test]
async fn every_transport_delivers_every_message_in_order() {
    let server = TestServer::start(Config::default()).await;
    for t in Transport::ALL {
        let topic = topic_for(t, "order");
        let mut sub = Sub::open(&server, t, &topic, Some(0)).await;
        let mut payloads = Vec::new();
        for i in 1..=40u64 {
            // Payloads that need escaping on every text transport.
            let payload = format!("m{i} \"quoted\" </script> & \n line\u{2028}é");
            assert_eq!(server.publish(&topic, &payload).await, i);
            payloads.push(payload);
        }
        let items = sub.take(40).await;
        assert_eq!(describe(&items), seq_range(1..=40), "{t}");
        for (item, want) in items.iter().zip(&payloads) {
            let Item::Msg { payload, .. } = item else {
                unreachable!()
            };
            assert_eq!(payload, want, "{t}");
        }
    }
    let stats = server.stats().await;
    for t in Transport::ALL {
        assert!(
            stats.transports[t.name()].messages_delivered >= 40,
            "{t}: {:?}",
            stats.transports[t.name()]
        );
        assert!(stats.transports[t.name()].bytes_written > 0, "{t}");
    }
    assert_eq!(stats.messages_published, 40 * 7);
}

#[tokio::test]
async fn live_subscriptions_start_with_the_next_message() {
    let server = TestServer::start(Config::default()).await;
    for t in util::HOLDING.into_iter().chain([Transport::LongPoll]) {
        let topic = topic_for(t, "live");
        server.publish(&topic, "before").await;
        let mut sub = Sub::open(&server, t, &topic, None).await;
        // A long poll without after= subscribes when its request arrives: read concurrently and
        // publish once the server has counted the request. Every other transport has subscribed
        // by the time `open` returns (response headers, 101, or the subscribed frame).
        let polls_before = server.stats().await.transports["long-poll"].requests;
        let reader = tokio::spawn(async move { sub.next().await });
        if t == Transport::LongPoll {
            for _ in 0..2000 {
                if server.stats().await.transports["long-poll"].requests > polls_before {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        server.publish(&topic, "after").await;
        let item = reader.await.unwrap();
        assert_eq!(
            item,
            Item::Msg {
                seq: 2,
                payload: "after".into()
            },
            "{t}"
        );
    }
}

#[tokio::test]
async fn a_subscriber_that_reconnects_resumes_with_nothing_lost_or_repeated() {
    let server = TestServer::start(Config::default()).await;
    for t in Transport::ALL {
        let topic = topic_for(t, "resume");
        let mut sub = Sub::open(&server, t, &topic, Some(0)).await;
        for i in 0..20 {
            server.publish(&topic, &format!("a{i}")).await;
        }
        let first = sub.take(10).await;
        assert_eq!(describe(&first), seq_range(1..=10), "{t}");
        drop(sub);
        for i in 0..20 {
            server.publish(&topic, &format!("b{i}")).await;
        }
        // SSE resumes the way EventSource does: with the Last-Event-ID header.
        let mut sub = Sub::open_with(&server, t, &topic, Some(10), true, false).await;
        let rest = sub.take(30).await;
        assert_eq!(describe(&rest), seq_range(11..=40), "{t}");
    }
}

#[tokio::test]
async fn asking_for_what_the_ring_dropped_gets_an_explicit_gap() {
    let server = TestServer::start(Config {
        ring_size: 5,
        ..Config::default()
    })
    .await;
    for t in Transport::ALL {
        let topic = topic_for(t, "gap");
        for i in 0..20 {
            server.publish(&topic, &format!("m{i}")).await;
        }
        let mut sub = Sub::open(&server, t, &topic, Some(2)).await;
        let items = sub.take(6).await;
        let mut want = vec!["gap 3..16".to_owned()];
        want.extend(seq_range(16..=20));
        assert_eq!(describe(&items), want, "{t}");
    }
    let stats = server.stats().await;
    for t in Transport::ALL {
        assert_eq!(stats.transports[t.name()].gaps_sent, 1, "{t}");
    }
}

/// One subscriber stops reading; another on the same transport and topic must still get every
/// message, and the stalled one, when it reads again, gets an explicit gap, never a silent skip.
#[tokio::test]
async fn a_stalled_subscriber_does_not_slow_the_others_and_is_told_what_it_missed() {
    const MESSAGES: u64 = 600;
    let server = TestServer::start(Config {
        ring_size: 64,
        send_queue: 32,
        ..Config::default()
    })
    .await;
    // 32 KiB each: 600 of them are far more than the socket buffers of the stalled client hold.
    let payload = "x".repeat(32 * 1024);
    for t in util::HOLDING {
        let topic = topic_for(t, "slow");
        let mut stalled = Sub::open_with(&server, t, &topic, Some(0), false, true).await;
        let mut active = Sub::open(&server, t, &topic, Some(0)).await;
        let reader = tokio::spawn(async move {
            let items = active.take(MESSAGES as usize).await;
            assert_eq!(
                describe(&items),
                seq_range(1..=MESSAGES),
                "{}",
                active.transport
            );
        });
        for _ in 0..MESSAGES {
            server.publish(&topic, &payload).await;
        }
        tokio::time::timeout(util::STEP, reader)
            .await
            .unwrap_or_else(|_| panic!("{t}: the active subscriber was held up by the stalled one"))
            .unwrap();
        // Now read the stalled one to the end: in order, with at least one explicit gap.
        let mut next_expected = 1;
        let mut gaps = 0;
        while next_expected <= MESSAGES {
            match stalled.next().await {
                Item::Msg { seq, .. } => {
                    assert_eq!(seq, next_expected, "{t}: skipped without a gap");
                    next_expected += 1;
                }
                Item::Gap {
                    first_missing,
                    first_available,
                } => {
                    assert_eq!(first_missing, next_expected, "{t}");
                    assert!(first_available > first_missing, "{t}");
                    next_expected = first_available;
                    gaps += 1;
                }
            }
        }
        assert!(
            gaps >= 1,
            "{t}: the stalled subscriber should have fallen out of the ring"
        );
    }
}

#[tokio::test]
async fn websocket_and_raw_tcp_publish_upstream_to_the_topic() {
    let server = TestServer::start(Config::default()).await;
    for t in [Transport::WebSocket, Transport::RawTcp] {
        let topic = topic_for(t, "upstream");
        let mut listener = Sub::open(&server, Transport::Sse, &topic, Some(0)).await;
        let mut publisher = Sub::open(&server, t, &topic, Some(0)).await;
        publisher.send_upstream("from the client").await;
        let want = Item::Msg {
            seq: 1,
            payload: "from the client".into(),
        };
        assert_eq!(listener.next().await, want, "{t}");
        // The publisher's own subscription gets its message back too.
        assert_eq!(publisher.next().await, want, "{t}");
    }
}

/// `/stats` counts each request's bytes under the transport it asks for, the first request on
/// a connection included (it once went to `control`: short-poll read 0 bytes after 10 polls).
#[tokio::test]
async fn stats_count_request_bytes_under_their_transport() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(Config::default()).await;
    let request = b"GET /poll?topic=bytes&after=0 HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut socket = tokio::net::TcpStream::connect(server.http).await.unwrap();
    for _ in 0..10 {
        socket.write_all(request).await.unwrap();
        // Each answer is `[]` with a length: read until its body is complete.
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\n[]") && !answer.ends_with(b"\r\n\r\n[]\n") {
            let mut chunk = [0u8; 1024];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&chunk[..n]);
        }
    }
    let stats = server.stats().await;
    assert_eq!(
        stats.transports["short-poll"].bytes_read,
        10 * request.len() as u64
    );
    assert_eq!(stats.transports["short-poll"].requests, 10);
    server.shutdown().await.unwrap();
}

/// A WebSocket client that pings after every message of a stream, over a real socket with a
/// 4 KiB receive buffer, gets every message once and in order and every ping's own pong, the
/// last one included: the session answers a ping as soon as it has read it, not when the
/// socket next wakes it.
#[tokio::test]
async fn a_websocket_answers_every_ping_during_a_stream_of_messages() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    const MESSAGES: u64 = 300;
    // No heartbeat ping within the test: every ping the client sees would be unexpected.
    let server = TestServer::start(Config {
        heartbeat: Duration::from_secs(120),
        ..Config::default()
    })
    .await;
    let topic = "pings";
    let url = format!("ws://{}/ws?topic={topic}&after=0", server.http);
    let socket = util::small_buffer_connect(server.http).await;
    let (mut ws, _) = tokio_tungstenite::client_async(url, socket).await.unwrap();
    let publisher = {
        let http = server.http;
        tokio::spawn(async move {
            let payload = bytes::Bytes::from("p".repeat(4096));
            for _ in 0..MESSAGES {
                util::send_on(
                    tokio::net::TcpStream::connect(http).await.unwrap(),
                    "POST",
                    &format!("/publish?topic={topic}"),
                    &[],
                    payload.clone(),
                )
                .await;
            }
        })
    };
    let (mut seqs, mut pongs, mut pinged) = (Vec::new(), Vec::new(), 0u64);
    tokio::time::timeout(Duration::from_secs(30), async {
        while seqs.len() < MESSAGES as usize || pongs.len() < pinged as usize {
            match ws.next().await.expect("the stream stays open") {
                Ok(Message::Text(t)) => {
                    match pushbench_wire::envelope::decode_text(t.as_bytes()).unwrap() {
                        pushbench_wire::envelope::Decoded::Message(m) => seqs.push(m.seq),
                        gap => panic!("unexpected {gap:?}"),
                    }
                    pinged += 1;
                    ws.send(Message::Ping(pinged.to_be_bytes().to_vec().into()))
                        .await
                        .unwrap();
                }
                Ok(Message::Pong(p)) => pongs.push(u64::from_be_bytes(p[..].try_into().unwrap())),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => panic!(
                    "after {} messages and {} pongs: {e}",
                    seqs.len(),
                    pongs.len()
                ),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} messages, {} pongs", seqs.len(), pongs.len()));
    publisher.await.unwrap();
    assert_eq!(seqs, (1..=MESSAGES).collect::<Vec<_>>());
    assert_eq!(pongs, (1..=pinged).collect::<Vec<_>>());
    server.shutdown().await.unwrap();
}

/// Sends `request` on `socket` and reads one answer with a `content-length` (bounded), which
/// must be all the socket brings.
async fn exchange(socket: &mut tokio::net::TcpStream, request: &[u8]) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    socket.write_all(request).await.unwrap();
    let mut pending = Vec::new();
    let answer = next_answer(socket, &mut pending).await;
    assert!(pending.is_empty(), "nothing after the answer");
    answer
}

/// The answer with its `date` value blanked, to compare answers from different seconds.
fn undated(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer).into_owned();
    match text.find("date: ") {
        Some(at) => format!("{}date: _{}", &text[..at], &text[at + 35..]),
        None => text,
    }
}

/// A connection whose first request is a poll is served without hyper: its answers are byte for
/// byte what hyper writes for the same polls, its bytes are counted under its transport, and
/// the first request that is not a plain poll (a refused poll, a publish) is answered by hyper
/// as before, with the connection carrying on through hyper.
#[tokio::test]
async fn a_connection_of_polls_answers_as_hyper_does_and_hands_anything_else_to_hyper() {
    let server = TestServer::start(Config::default()).await;
    server.publish("p", "one").await;
    server.publish("p", "two").await;
    let poll = b"GET /poll?topic=p&after=0 HTTP/1.1\r\nhost: x\r\n\r\n";
    let long = b"GET /long-poll?topic=p&after=1&timeout=0 HTTP/1.1\r\nhost: x\r\n\r\n";
    let connect = || tokio::net::TcpStream::connect(server.http);
    // Through hyper: a connection whose first request is not a poll.
    let mut hyper_conn = connect().await.unwrap();
    let stats = exchange(&mut hyper_conn, b"GET /stats HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(stats.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let by_hyper = [
        exchange(&mut hyper_conn, poll).await,
        exchange(&mut hyper_conn, long).await,
    ];
    // Directly: a connection of polls.
    let mut direct = connect().await.unwrap();
    let served = [
        exchange(&mut direct, poll).await,
        exchange(&mut direct, long).await,
    ];
    for (hyper, direct) in by_hyper.iter().zip(&served) {
        assert_eq!(undated(direct), undated(hyper));
    }
    assert!(undated(&served[1]).ends_with(r#"[{"topic":"p","seq":2,"data":"two"}]"#));
    let before = server.stats().await.transports["short-poll"].clone();
    // A poll the handler refuses, then a publish, then a poll: hyper's from the refusal on.
    let refused = exchange(
        &mut direct,
        b"GET /poll?after=0 HTTP/1.1\r\nhost: x\r\n\r\n",
    )
    .await;
    assert!(refused.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    assert!(undated(&refused).ends_with("missing query parameter topic\n"));
    let published = exchange(
        &mut direct,
        b"POST /publish?topic=p HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nthree",
    )
    .await;
    assert!(undated(&published).ends_with("{\"topic\":\"p\",\"seq\":3}\n"));
    let after = exchange(&mut direct, poll).await;
    assert!(undated(&after).ends_with(r#"{"topic":"p","seq":3,"data":"three"}]"#));
    // Every byte of the direct path's polls was counted under short-poll and long-poll.
    let stats = server.stats().await;
    let short = &stats.transports["short-poll"];
    assert_eq!(short.requests, 4);
    assert_eq!(
        short.bytes_written - before.bytes_written,
        after.len() as u64 + refused.len() as u64
    );
    assert_eq!(stats.transports["long-poll"].requests, 2);
    assert_eq!(
        stats.transports["long-poll"].bytes_written,
        (by_hyper[1].len() + served[1].len()) as u64
    );
    server.shutdown().await.unwrap();
}

/// The streams that publishes write into directly (see `direct.rs`) pass the stream to the
/// subscriber's task whenever its socket is full, and back once it has caught up; with two
/// publishers at once, offers also come out of order. A slow reader on a small socket buffer
/// goes back and forth many times: it must get every message once, in order, and `/stats` must
/// count each delivery once.
#[tokio::test]
async fn a_subscriber_falling_behind_and_catching_up_gets_every_message_once_in_order() {
    const EACH: u64 = 150;
    let server = TestServer::start(Config {
        ring_size: 1024,
        // Small, so the task's catching up also goes through the ring (the live queue lagged).
        send_queue: 8,
        ..Config::default()
    })
    .await;
    let server = std::sync::Arc::new(server);
    // 32 KiB each: 300 of them are more than the socket buffers hold (the kernel grows a
    // loopback send buffer to 4 MiB), so the subscriber's own task must take over.
    let payload = "y".repeat(32 * 1024);
    for t in [
        Transport::XhrStream,
        Transport::Iframe,
        Transport::Sse,
        Transport::WebSocket,
    ] {
        let topic = topic_for(t, "behind");
        let mut sub = Sub::open_with(&server, t, &topic, Some(0), false, true).await;
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            // Nothing read until the socket is full.
            tokio::time::sleep(Duration::from_millis(300)).await;
            while got.len() < 2 * EACH as usize {
                got.push(sub.next().await);
                if got.len() % 16 == 0 {
                    // Long enough for the socket to fill and the publishes to hand it back.
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            }
            got
        });
        let publishers: Vec<_> = (0..2)
            .map(|_| {
                let (server, topic, payload) = (server.clone(), topic.clone(), payload.clone());
                tokio::spawn(async move {
                    for _ in 0..EACH {
                        server.publish(&topic, &payload).await;
                    }
                })
            })
            .collect();
        for p in publishers {
            p.await.unwrap();
        }
        let got = tokio::time::timeout(util::STEP, reader)
            .await
            .unwrap_or_else(|_| panic!("{t}: the subscriber did not get every message"))
            .unwrap();
        assert_eq!(describe(&got), seq_range(1..=2 * EACH), "{t}");
        let stats = server.stats().await;
        assert_eq!(
            stats.transports[t.name()].messages_delivered,
            2 * EACH,
            "{t}: each delivery counted once"
        );
    }
}

/// Over WebSocket the publishes write message frames while tungstenite writes the pongs, on one
/// socket. A client on a small receive buffer that pings after every message it reads, slowly,
/// while two publishers send more than the socket's buffers hold (so pongs are often written
/// part-way), still reads every frame whole (its
/// WebSocket library fails on a broken frame): each message once and in order, and a pong for
/// every ping.
#[tokio::test]
async fn websocket_pongs_and_directly_written_frames_never_interleave() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    const EACH: u64 = 100;
    let server = std::sync::Arc::new(TestServer::start(Config::default()).await);
    let topic = "ws-pongs";
    let socket = util::small_buffer_connect(server.http).await;
    let url = format!("ws://{}/ws?topic={topic}&after=0", server.http);
    let (mut ws, _) = tokio_tungstenite::client_async(url, socket).await.unwrap();
    let publishers: Vec<_> = (0..2)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                for _ in 0..EACH {
                    server.publish(topic, &"z".repeat(64 * 1024)).await;
                }
            })
        })
        .collect();
    let (mut seqs, mut pongs, mut pings) = (Vec::new(), 0u64, 0u64);
    tokio::time::timeout(util::STEP, async {
        while seqs.len() < 2 * EACH as usize || pongs < pings {
            match ws.next().await.expect("open").expect("every frame whole") {
                WsMessage::Text(t) => {
                    let decoded = pushbench_wire::envelope::decode_text(t.as_bytes()).unwrap();
                    seqs.push(util::Item::from(decoded));
                    if seqs.len() <= 2 * EACH as usize {
                        ws.send(WsMessage::Ping(format!("{}", seqs.len()).into()))
                            .await
                            .unwrap();
                        pings += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
                    }
                }
                WsMessage::Pong(_) => pongs += 1,
                WsMessage::Ping(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("every message and every pong");
    for p in publishers {
        p.await.unwrap();
    }
    assert_eq!(describe(&seqs), seq_range(1..=2 * EACH));
    assert_eq!(pongs, pings);
}

/// Reads one answer with a `content-length` off `socket`, leaving what follows it in `pending`.
async fn next_answer(socket: &mut tokio::net::TcpStream, pending: &mut Vec<u8>) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let read = async {
        loop {
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .expect("a content-length")
                    .parse()
                    .unwrap();
                if pending.len() >= end + 4 + len {
                    return pending.drain(..end + 4 + len).collect::<Vec<u8>>();
                }
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(pending));
            pending.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(util::STEP, read)
        .await
        .expect("answered")
}

/// The messages in a poll's answer.
fn answer_items(answer: &[u8]) -> Vec<Item> {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    pushbench_wire::poll::parse(&answer[end..])
        .unwrap()
        .into_iter()
        .map(Item::from)
        .collect()
}

/// Waits until the server has taken `n` long polls in all.
async fn long_polls_taken(server: &TestServer, n: u64) {
    tokio::time::timeout(util::STEP, async {
        while server.stats().await.transports["long-poll"].requests < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the long polls arrived");
}

/// A long poll that finds nothing is held in its topic and answered by the publish (see
/// `http/polls.rs`). Its answer is byte for byte what hyper writes for the same held poll; a
/// poll the client sends before the held one is answered (pipelined) is answered after it, in
/// order; and a connection polling again and again while two publishers publish gets every
/// message once, in order, each delivery counted once.
#[tokio::test]
async fn held_long_polls_answer_as_hyper_does_in_order_and_every_message_once() {
    use tokio::io::AsyncWriteExt;
    const EACH: u64 = 200;
    let server = std::sync::Arc::new(TestServer::start(Config::default()).await);
    let connect = || tokio::net::TcpStream::connect(server.http);
    let (mut pending_hyper, mut pending) = (Vec::new(), Vec::new());
    let mut hyper_conn = connect().await.unwrap();
    exchange(&mut hyper_conn, b"GET /stats HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut direct = connect().await.unwrap();
    let live = b"GET /long-poll?topic=h HTTP/1.1\r\nhost: x\r\n\r\n";
    hyper_conn.write_all(live).await.unwrap();
    direct.write_all(live).await.unwrap();
    long_polls_taken(&server, 2).await;
    server.publish("h", "one").await;
    let by_hyper = next_answer(&mut hyper_conn, &mut pending_hyper).await;
    let held = next_answer(&mut direct, &mut pending).await;
    assert_eq!(undated(&held), undated(&by_hyper));
    assert!(undated(&held).ends_with(r#"[{"topic":"h","seq":1,"data":"one"}]"#));

    // Pipelined: the second request comes while the first is held.
    let after_one = b"GET /long-poll?topic=h&after=1 HTTP/1.1\r\nhost: x\r\n\r\n";
    direct.write_all(after_one).await.unwrap();
    long_polls_taken(&server, 3).await;
    direct.write_all(after_one).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.publish("h", "two").await;
    for _ in 0..2 {
        let answer = next_answer(&mut direct, &mut pending).await;
        assert!(
            undated(&answer).ends_with(r#"[{"topic":"h","seq":2,"data":"two"}]"#),
            "{}",
            undated(&answer)
        );
    }
    assert!(pending.is_empty());

    // Poll after poll under two publishers.
    let delivered_before = server.stats().await.transports["long-poll"].messages_delivered;
    let poller = tokio::spawn(async move {
        let (mut got, mut pending) = (Vec::new(), Vec::new());
        let mut after = 2;
        while got.len() < 2 * EACH as usize {
            let poll = format!("GET /long-poll?topic=h&after={after} HTTP/1.1\r\nhost: x\r\n\r\n");
            direct.write_all(poll.as_bytes()).await.unwrap();
            let items = answer_items(&next_answer(&mut direct, &mut pending).await);
            assert!(
                !items.is_empty(),
                "a long poll answers with at least one message"
            );
            if let Some(Item::Msg { seq, .. }) = items.last() {
                after = *seq;
            }
            got.extend(items);
        }
        got
    });
    let publishers: Vec<_> = (0..2)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                for _ in 0..EACH {
                    server.publish("h", "m").await;
                }
            })
        })
        .collect();
    for p in publishers {
        p.await.unwrap();
    }
    let got = poller.await.unwrap();
    assert_eq!(describe(&got), seq_range(3..=2 + 2 * EACH));
    let stats = server.stats().await;
    assert_eq!(
        stats.transports["long-poll"].messages_delivered - delivered_before,
        2 * EACH,
        "each delivery counted once"
    );
}

/// A held poll's answer larger than the socket takes at once: the publish writes what it can
/// and the poll's task writes the rest, every byte once and counted once, and the connection
/// goes on polling.
#[tokio::test]
async fn a_held_answer_the_socket_cannot_take_whole_is_finished_by_the_task() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(Config {
        max_message_size: 8 * 1024 * 1024,
        ..Config::default()
    })
    .await;
    let mut direct = util::small_buffer_connect(server.http).await;
    direct
        .write_all(b"GET /long-poll?topic=big HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    long_polls_taken(&server, 1).await;
    // More than the kernel's largest loopback send buffer (4 MiB) and the small receive one.
    let payload = "b".repeat(6 * 1024 * 1024);
    server.publish("big", &payload).await;
    let mut pending = Vec::new();
    let answer = next_answer(&mut direct, &mut pending).await;
    match &answer_items(&answer)[..] {
        [Item::Msg {
            seq: 1,
            payload: got,
        }] => assert!(got == &payload),
        other => panic!("{} items", other.len()),
    }
    let again = b"GET /long-poll?topic=big&after=0&timeout=0 HTTP/1.1\r\nhost: x\r\n\r\n";
    direct.write_all(again).await.unwrap();
    let second = next_answer(&mut direct, &mut pending).await;
    assert_eq!(answer_items(&second).len(), 1);
    let stats = server.stats().await;
    assert_eq!(
        stats.transports["long-poll"].bytes_written,
        (answer.len() + second.len()) as u64
    );
    assert_eq!(stats.transports["long-poll"].messages_delivered, 2);
}
