//! `GET /ws?topic=T[&after=SEQ][&encoding=text|binary]`: RFC 6455 WebSocket via tokio-tungstenite
//! on hyper's upgrade; over HTTP/2, the same path as an extended CONNECT (RFC 8441), its stream
//! the WebSocket's byte stream.
//!
//! Envelopes go out as text frames (or binary frames with `encoding=binary`); every frame the
//! client sends is published to the topic. The server pings at every heartbeat and answers pings.
//! It closes with 1001 on shutdown, 1009 for an oversized message, 1007 for a message that is not
//! UTF-8 and 1008 for anything else the hub refuses, the reason in the close frame. Message
//! frames are framed once per message by the hub and written by the session itself; tungstenite
//! reads the client's frames and writes the control frames.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use pushbench_wire::envelope::Encoding;
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use crate::counting::CountingIo;
use crate::direct::Sink;
use crate::heartbeat;
use crate::http::first::Rewind;
use crate::http::reply::{full, Body, Query, Rejection};
use crate::hub::{frame_gap, Event, Framing, HubError, Subscription};
use crate::shared::Shared;
use crate::vectored::{self, BATCH};
use crate::woken::OnWake;

fn header_has_token(req: &Request<Incoming>, name: http::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// Whether `key` is what RFC 6455 §4.1 asks a client to send: 16 bytes in base64, which is 22
/// characters of the alphabet, the last carrying only two bits, and `==`.
fn is_nonce(key: &[u8]) -> bool {
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    key.len() == 24
        && key[22..] == *b"=="
        && key[..22].iter().all(alphabet)
        && matches!(key[21], b'A' | b'Q' | b'g' | b'w')
}

/// How the client asked for a WebSocket: an HTTP/1.1 upgrade (answered 101 with the key's
/// accept value) or an HTTP/2 extended CONNECT (RFC 8441; answered 200, no key).
enum Opening {
    Upgrade { accept: String },
    ExtendedConnect,
}

/// Checks an HTTP/1.1 upgrade request (RFC 6455 §4.2.1).
fn upgrade(req: &Request<Incoming>) -> Result<Opening, Rejection> {
    if !header_has_token(req, UPGRADE, "websocket") || !header_has_token(req, CONNECTION, "upgrade")
    {
        return Err(Rejection {
            status: StatusCode::UPGRADE_REQUIRED,
            reason: "expected Upgrade: websocket and Connection: upgrade".into(),
            allow: None,
        });
    }
    version_13(req)?;
    let key = req
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .ok_or_else(|| Rejection::bad("missing Sec-WebSocket-Key"))?;
    if !is_nonce(key.as_bytes()) {
        return Err(Rejection::bad(
            "Sec-WebSocket-Key must be a base64-encoded 16-byte value",
        ));
    }
    Ok(Opening::Upgrade {
        accept: derive_accept_key(key.as_bytes()),
    })
}

/// Checks an HTTP/2 extended CONNECT (RFC 8441 §4, §5): `:protocol` is `websocket`, the
/// version 13, and there is no key (the stream is already the client's own).
fn extended_connect(req: &Request<Incoming>) -> Result<Opening, Rejection> {
    let protocol = req.extensions().get::<hyper::ext::Protocol>();
    if req.method() != Method::CONNECT
        || !protocol.is_some_and(|p| p.as_ref().eq_ignore_ascii_case(b"websocket"))
    {
        return Err(Rejection::bad(
            "WebSocket over HTTP/2 is an extended CONNECT with :protocol websocket (RFC 8441)",
        ));
    }
    version_13(req)?;
    Ok(Opening::ExtendedConnect)
}

fn version_13(req: &Request<Incoming>) -> Result<(), Rejection> {
    match req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
    {
        Some(b"13") => Ok(()),
        _ => Err(Rejection::bad("Sec-WebSocket-Version must be 13")),
    }
}

/// Checks the opening request (an HTTP/1.1 upgrade, or an HTTP/2 extended CONNECT), subscribes,
/// answers (101, or 200 on HTTP/2) and hands the connection (or the HTTP/2 stream) to a session
/// task.
pub fn handle(req: Request<Incoming>, shared: &Arc<Shared>) -> Result<Response<Body>, Rejection> {
    let opening = match req.version() {
        Version::HTTP_11 => upgrade(&req)?,
        Version::HTTP_2 => extended_connect(&req)?,
        _ => {
            return Err(Rejection::bad(
                "WebSocket needs an HTTP/1.1 upgrade or an HTTP/2 extended CONNECT",
            ))
        }
    };
    let query = Query::parse(req.uri().query());
    let encoding = match query.get("encoding")? {
        None => Encoding::Text,
        Some(e) => Encoding::parse(e)
            .ok_or_else(|| Rejection::bad(format!("encoding={e:?}: expected text or binary")))?,
    };
    let sub = crate::poll::subscribe(&query, shared)?;
    let upgrade = hyper::upgrade::on(req);
    let session_shared = shared.clone();
    shared.tasks.spawn(async move {
        let upgraded = match upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade did not complete");
                return;
            }
        };
        let config = WebSocketConfig::default()
            // Small buffers: most WebSocket subscribers are idle most of the time. tungstenite
            // zero-fills its whole read buffer on the first read, so its size is resident for
            // every connection: 4 KiB made a WebSocket cost 6.6 KiB per idle connection, 1 KiB
            // makes it 3.5. The price is paid only by large upstream frames, read 1 KiB per
            // syscall; subscribers read almost nothing, and upstream messages in the shipped
            // scenarios are at most 2 KB.
            .read_buffer_size(1024)
            .write_buffer_size(WRITE_BUFFER)
            // Pongs to a peer that pings and never reads queue here; unbounded, a ping flood
            // grew the server by 140 MB/s. Message frames never pass through it (the session
            // writes them itself).
            .max_write_buffer_size(MAX_WRITE_BUFFER)
            .max_message_size(Some(session_shared.config.max_message_size))
            .max_frame_size(Some(session_shared.config.max_message_size));
        let framing = match encoding {
            Encoding::Text => Framing::WebSocketText,
            Encoding::Binary => Framing::WebSocketBinary,
        };
        // The connection as push-server accepted it: with --direct-streams, publishes write the
        // message frames into its socket (see `direct.rs`).
        type Accepted = TokioIo<Rewind<CountingIo<TcpStream>>>;
        let accepted = match session_shared.config.direct_streams {
            true => upgraded.downcast::<Accepted>(),
            false => Err(upgraded),
        };
        let upgraded = match accepted {
            Ok(parts) => {
                let (counted, pre) = parts.io.into_inner().into_parts();
                let (socket, tag) = counted.into_parts();
                let sink = Arc::new(Sink::new(
                    socket,
                    tag,
                    session_shared.stats.clone(),
                    Transport::WebSocket,
                    framing,
                    false,
                ));
                // What hyper (or the first read) took past the upgrade request: the client's
                // first frames, for tungstenite to read first.
                let read = [pre, parts.read_buf].concat();
                let ws = WebSocketStream::from_partially_read(
                    sink.io(),
                    read,
                    Role::Server,
                    Some(config),
                )
                .await;
                if let Err(e) = session(ws, sub, framing, &session_shared, Some(&sink)).await {
                    tracing::debug!(error = %e, "websocket session ended with an error");
                }
                return;
            }
            Err(upgraded) => upgraded,
        };
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        if let Err(e) = session(ws, sub, framing, &session_shared, None).await {
            tracing::debug!(error = %e, "websocket session ended with an error");
        }
    });
    let mut r = Response::new(full(Bytes::new()));
    if let Opening::Upgrade { accept } = opening {
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(
            SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
        );
    }
    Ok(r)
}

/// Bytes of control frames (pings, pongs, close) tungstenite queues before writing them.
const WRITE_BUFFER: usize = 16 * 1024;

/// The most tungstenite may hold unwritten: a full write buffer and 64 KiB more of control
/// frames (a close frame, the latest pong).
pub const MAX_WRITE_BUFFER: usize = WRITE_BUFFER + 64 * 1024;

/// The frame for `event`: a message's is the hub's, framed once for every subscriber.
fn frame(event: Event, framing: Framing, topic: &str, shared: &Shared) -> Bytes {
    match event {
        Event::Message(m) => {
            shared.stats.delivered(Transport::WebSocket, 1);
            m.framed(framing).clone()
        }
        Event::Gap {
            first_missing,
            first_available,
        } => {
            shared.stats.gap(Transport::WebSocket);
            frame_gap(framing, topic, first_missing, first_available)
        }
    }
}

/// Serves one WebSocket until either side closes. With a `sink` (the socket as accepted), the
/// publishes write the message frames while the session sleeps; the session takes over when a
/// publish cannot write whole or when tungstenite writes (a ping, a pong, the close), and hands
/// the socket back once it has caught up. Without, the session writes every frame.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    ws: WebSocketStream<S>,
    mut sub: Subscription,
    framing: Framing,
    shared: &Shared,
    sink: Option<&Arc<Sink>>,
) -> Result<(), WsError> {
    // The socket is read (and answered: pongs, the close handshake) only when it wakes the
    // session, not at every message (see `OnWake`).
    let mut ws = OnWake::new(ws);
    // Armed once for the session, polled only when it ticks; its end is the shutdown (see
    // `heartbeat::Beat`).
    let mut beat = heartbeat::beat(shared.heartbeats.subscribe());
    let mut frames = Vec::new();
    // Set when tungstenite may hold an answer (a pong, a close) not yet written.
    let mut answered = false;
    // With a sink: whether the publishes write now.
    let mut direct = false;
    let topic = sub.topic().to_owned();
    let _attached = sink.map(|s| sub.attach(s.clone()));
    if let Some(sink) = sink {
        sub.skip_to(sink.stop());
    }
    let close = loop {
        // With a sink, the session hands the socket to the publishes once it has caught up and
        // tungstenite holds nothing unwritten (else a publish's frame could land inside a
        // pong; a peer that never reads its pongs keeps the session writing, as without one).
        if let Some(sink) = sink.filter(|_| !direct && !answered) {
            loop {
                while frames.len() < BATCH {
                    let Some(event) = sub.try_next() else { break };
                    frames.push(frame(event, framing, &topic, shared));
                }
                if !frames.is_empty() {
                    vectored::write_all(ws.get_mut().get_mut(), &mut frames).await?;
                    continue;
                }
                // What a publish began, written first by the sink's io.
                ws.get_mut().get_mut().flush().await?;
                match sink.resume_after(&mut sub) {
                    Ok(()) => {
                        direct = true;
                        break;
                    }
                    Err(event) => frames.push(frame(event, framing, &topic, shared)),
                }
            }
        }
        tokio::select! {
            biased;
            tick = beat.next() => match tick {
                Some(()) => ws.get_mut().send(WsMessage::Ping(Bytes::new())).await?,
                None => break (CloseCode::Away, "server shutting down".to_owned()),
            },
            incoming = ws.next() => match incoming {
                // The peer closed (tungstenite has already answered a close frame) or vanished.
                None | Some(Err(WsError::ConnectionClosed)) => return Ok(()),
                Some(Err(WsError::Capacity(e))) => break (CloseCode::Size, e.to_string()),
                Some(Err(WsError::Utf8(e))) => break (CloseCode::Invalid, e),
                Some(Err(WsError::Protocol(e))) => break (CloseCode::Protocol, e.to_string()),
                Some(Err(e)) => return Err(e),
                Some(Ok(WsMessage::Text(t))) => {
                    if let Err(e) = publish(shared, &topic, Bytes::from(t)) {
                        break e;
                    }
                }
                Some(Ok(WsMessage::Binary(b))) => {
                    if let Err(e) = publish(shared, &topic, b) {
                        break e;
                    }
                }
                // A ping or a close: tungstenite has queued the answer, and writes it at its
                // next read (this arm's next poll) as far as the socket takes it, reading on
                // if the peer does not read (a ping flood cannot stop the session reading).
                // Through a sink, its first write stops the publishes writing (see
                // `Sink::io`), so a frame of theirs and one of tungstenite's never interleave.
                Some(Ok(_)) => answered = true,
            },
            () = taken_over(sink), if direct => {
                // The session's turn, after the last message a publish wrote or began (the
                // sink's io finishes that before any byte of the session's).
                direct = false;
                sub.skip_to(sink.map_or(0, |s| s.stop()));
            }
            event = sub.next(), if !direct => {
                // The message frames are the hub's shared bytes, written straight to the
                // socket in one vectored write, with tungstenite's own buffer empty. Through
                // tungstenite's sink, each frame was copied into this connection's buffer and
                // the session's waker registered four times per message; with this and
                // `OnWake` on the socket and the heartbeat, push-server's CPU per delivery on
                // WebSocket at 200 subscribers × 100 messages/s went from 8.6 to 7.9 µs.
                if answered {
                    // Whatever tungstenite holds goes out whole first, so frames never
                    // interleave.
                    ws.get_mut().flush().await?;
                    answered = false;
                }
                frames.push(frame(event, framing, &topic, shared));
                while frames.len() < BATCH {
                    let Some(event) = sub.try_next() else { break };
                    frames.push(frame(event, framing, &topic, shared));
                }
                vectored::write_all(ws.get_mut().get_mut(), &mut frames).await?;
            }
        }
    };
    let (code, reason) = close;
    tracing::info!(%topic, code = u16::from(code), %reason, "closing websocket");
    let ws = ws.get_mut();
    ws.close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
    .await?;
    // Wait briefly for the peer's close frame so the handshake completes.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    Ok(())
}

/// Waits for a publish to hand the socket back to the session (never, without a sink).
async fn taken_over(sink: Option<&Arc<Sink>>) {
    match sink {
        Some(sink) => sink.taken_over().await,
        None => std::future::pending().await,
    }
}

fn publish(shared: &Shared, topic: &str, payload: Bytes) -> Result<(), (CloseCode, String)> {
    match shared.hub.publish(topic, payload) {
        Ok(_) => {
            shared.stats.published();
            Ok(())
        }
        Err(e) => {
            let code = match e {
                HubError::TooLarge { .. } => CloseCode::Size,
                HubError::NotUtf8 => CloseCode::Invalid,
                // 1013, Try Again Later: the server is full for now, the message was fine.
                HubError::MemoryFull { .. } => CloseCode::Again,
                _ => CloseCode::Policy,
            };
            Err((code, e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Start;
    use crate::Config;
    use pushbench_wire::envelope::{decode_text, Decoded};

    /// Message frames are written by the session and control frames by tungstenite, on one
    /// socket. Through a pipe that takes 7 bytes at a time, every write stops part-way, pongs
    /// included; a client that pings after every message still reads every frame whole: each
    /// message once and in order, each ping's own pong. (Writing the messages without first
    /// flushing tungstenite's half-written pong broke frames here.)
    #[tokio::test]
    async fn pongs_and_message_frames_never_interleave_through_partial_writes() {
        const MESSAGES: u64 = 50;
        let (server_io, client_io) = tokio::io::duplex(7);
        let (_clock, heartbeats) = heartbeat::new(Duration::from_secs(15));
        let shared = Arc::new(Shared::new(Config::default(), heartbeats));
        shared
            .hub
            .publish("t", Bytes::from(format!("{:0>40}", 1)))
            .unwrap();
        let sub = shared.hub.subscribe("t", Start::After(0)).unwrap();
        let ws = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let server = {
            let shared = shared.clone();
            tokio::spawn(
                async move { session(ws, sub, Framing::WebSocketText, &shared, None).await },
            )
        };
        let shared = &shared;
        let publish = |i: u64| shared.hub.publish("t", Bytes::from(format!("{i:0>40}")));
        let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let (mut tx, mut rx) = client.split();
        // Pings go out from a task of their own, so the reader never waits on a write (over a
        // 7-byte pipe, a client blocked writing while the server blocks writing would hang).
        let (ping, mut pings) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let pinger = tokio::spawn(async move {
            while let Some(n) = pings.recv().await {
                tx.send(WsMessage::Ping(n.to_be_bytes().to_vec().into()))
                    .await
                    .unwrap();
            }
        });
        let (mut seqs, mut pongs) = (Vec::new(), Vec::new());
        tokio::time::timeout(Duration::from_secs(20), async {
            while seqs.len() < MESSAGES as usize || pongs.len() < MESSAGES as usize {
                match rx.next().await.expect("the stream stays open") {
                    Ok(WsMessage::Text(t)) => match decode_text(t.as_bytes()).unwrap() {
                        Decoded::Message(m) => {
                            // The next message is published as the ping goes out, so the
                            // session has a pong and a message to write at once.
                            seqs.push(m.seq);
                            ping.send(m.seq).unwrap();
                            if m.seq < MESSAGES {
                                publish(m.seq + 1).unwrap();
                            }
                        }
                        gap => panic!("unexpected {gap:?}"),
                    },
                    Ok(WsMessage::Pong(p)) => {
                        pongs.push(u64::from_be_bytes(p[..].try_into().unwrap()))
                    }
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(e) => panic!("after {seqs:?} and pongs {pongs:?}: {e}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("only {seqs:?} and pongs {pongs:?}"));
        assert_eq!(seqs, (1..=MESSAGES).collect::<Vec<_>>());
        assert_eq!(pongs, (1..=MESSAGES).collect::<Vec<_>>());
        drop(ping);
        pinger.await.unwrap();
        server.abort();
    }

    #[test]
    fn only_a_base64_sixteen_byte_key_is_a_nonce() {
        // RFC 6455's own example, and 16 bytes of 0xff.
        assert!(super::is_nonce(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(super::is_nonce(b"/////////////////////w=="));
        for bad in [
            &b"!!"[..],
            b"dGhlIHNhbXBsZSBub25jZQ",
            b"dGhlIHNhbXBsZSBub25jZR==",
            b"dGhlIHNhbXBsZSBub25j!Q==",
            b"dGhlIHNhbXBsZSBub25jZQ==x",
        ] {
            assert!(!super::is_nonce(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
