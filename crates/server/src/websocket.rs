//! `GET /ws?topic=T[&after=SEQ][&encoding=text|binary]`: RFC 6455 WebSocket via tokio-tungstenite
//! on hyper's upgrade.
//!
//! Envelopes go out as text frames (or binary frames with `encoding=binary`); every frame the
//! client sends is published to the topic. The server pings at every heartbeat and answers pings.
//! It closes with 1001 on shutdown, 1009 for an oversized message, 1007 for a message that is not
//! UTF-8 and 1008 for anything else the hub refuses, the reason in the close frame. The frame
//! header is written per connection by tungstenite; the payload bytes are the shared envelope.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use pushbench_wire::envelope::{encode_binary_gap, encode_text_gap, Encoding};
use pushbench_wire::Transport;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::heartbeat;
use crate::http::reply::{full, Body, Query, Rejection};
use crate::hub::{Event, HubError, Subscription};
use crate::shared::Shared;
use crate::vectored::BATCH;

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

/// Checks the upgrade request, subscribes, answers 101 and hands the socket to a session task.
pub fn handle(req: Request<Incoming>, shared: &Arc<Shared>) -> Result<Response<Body>, Rejection> {
    if req.version() != Version::HTTP_11 {
        return Err(Rejection::bad(
            "WebSocket needs an HTTP/1.1 upgrade request",
        ));
    }
    if !header_has_token(&req, UPGRADE, "websocket")
        || !header_has_token(&req, CONNECTION, "upgrade")
    {
        return Err(Rejection {
            status: StatusCode::UPGRADE_REQUIRED,
            reason: "expected Upgrade: websocket and Connection: upgrade".into(),
            allow: None,
        });
    }
    if req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(Rejection::bad("Sec-WebSocket-Version must be 13"));
    }
    let key = req
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .ok_or_else(|| Rejection::bad("missing Sec-WebSocket-Key"))?;
    if !is_nonce(key.as_bytes()) {
        return Err(Rejection::bad(
            "Sec-WebSocket-Key must be a base64-encoded 16-byte value",
        ));
    }
    let accept = derive_accept_key(key.as_bytes());
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
            // grew the server by 140 MB/s. Messages never need more: the stream stops taking
            // them at WRITE_BUFFER and waits for the socket.
            .max_write_buffer_size(max_write_buffer(session_shared.config.max_message_size))
            .max_message_size(Some(session_shared.config.max_message_size))
            .max_frame_size(Some(session_shared.config.max_message_size));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        if let Err(e) = session(ws, sub, encoding, &session_shared).await {
            tracing::debug!(error = %e, "websocket session ended with an error");
        }
    });
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    Ok(r)
}

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Bytes a WebSocket queues before writing to its socket.
const WRITE_BUFFER: usize = 16 * 1024;

/// The most a WebSocket may hold unwritten: a full write buffer, the largest frame it may have
/// to send, and 64 KiB of control frames. The largest frame is a text envelope of the largest
/// message: JSON escaping makes each payload byte up to six (`<` is `\u003c`), and the topic,
/// sequence number and frame header add well under 1 KiB.
pub fn max_write_buffer(max_message_size: usize) -> usize {
    WRITE_BUFFER + 6 * max_message_size + 1024 + 64 * 1024
}

fn to_ws(event: Event, encoding: Encoding, topic: &str, shared: &Shared) -> WsMessage {
    match event {
        Event::Message(m) => {
            shared.stats.delivered(Transport::WebSocket, 1);
            match encoding {
                Encoding::Text => WsMessage::Text(m.ws_text().clone()),
                Encoding::Binary => WsMessage::Binary(m.envelope(Encoding::Binary).clone()),
            }
        }
        Event::Gap {
            first_missing,
            first_available,
        } => {
            shared.stats.gap(Transport::WebSocket);
            match encoding {
                Encoding::Text => WsMessage::Text(
                    Utf8Bytes::try_from(encode_text_gap(topic, first_missing, first_available))
                        .expect("a text envelope is UTF-8"),
                ),
                Encoding::Binary => {
                    WsMessage::Binary(encode_binary_gap(topic, first_missing, first_available))
                }
            }
        }
    }
}

async fn session(
    mut ws: Ws,
    mut sub: Subscription,
    encoding: Encoding,
    shared: &Shared,
) -> Result<(), WsError> {
    // Armed once for the session and once per tick, not once per message; it also brings the
    // shutdown (see `heartbeat::tick`).
    let beat = heartbeat::tick(shared.heartbeats.subscribe());
    tokio::pin!(beat);
    let topic = sub.topic().to_owned();
    let close = loop {
        tokio::select! {
            biased;
            rx = &mut beat => match rx {
                Some(rx) => {
                    beat.set(heartbeat::tick(rx));
                    ws.send(WsMessage::Ping(Bytes::new())).await?;
                }
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
                Some(Ok(_)) => {}
            },
            event = sub.next() => {
                ws.feed(to_ws(event, encoding, &topic, shared)).await?;
                for _ in 1..BATCH {
                    let Some(event) = sub.try_next() else { break };
                    ws.feed(to_ws(event, encoding, &topic, shared)).await?;
                }
                ws.flush().await?;
            }
        }
    };
    let (code, reason) = close;
    tracing::info!(%topic, code = u16::from(code), %reason, "closing websocket");
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
