//! WebSocket client: tokio-tungstenite over a counted socket, or over an HTTP/2 stream (RFC
//! 8441's extended CONNECT, with `http = "2"`). The opening exchange counts as setup; envelopes
//! as payload; frame headers, masks, pings and pongs as framing (over HTTP/2, the DATA frames'
//! headers too). In bidirectional workloads the client publishes through the same socket, as a
//! browser would.

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use pushbench_wire::envelope::Encoding;
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{upstream, Client, ClientError, Shared, State};

/// One WebSocket connection: an HTTP/1.1 upgrade, or over HTTP/2 (`http = "2"`) an extended
/// CONNECT (RFC 8441) on a connection of its own (or, with `multiplex`, a shared one), whose
/// stream then carries the WebSocket frames in DATA frames.
pub async fn session(
    shared: &Shared,
    client: &mut Client,
    st: &mut State,
) -> Result<(), ClientError> {
    let mut path = String::new();
    st.subscribe_path(shared, Transport::WebSocket, &client.topic, &mut path);
    let profile_headers = st.subscribe_headers(shared, Transport::WebSocket);
    let scenario_headers = shared.headers.iter().map(|(k, v)| (*k, v.as_str()));
    let headers: Vec<(&str, &str)> = scenario_headers
        .chain(profile_headers.iter().map(|(k, v)| (*k, v.as_str())))
        .collect();
    // Small buffers: 10 000 mostly idle clients must not each hold 128 KiB.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    if shared.http2 {
        let mut h2 = st.open_h2(shared).await?;
        let result = async {
            st.report.requests += 1;
            // RFC 8441 §5: the version as over HTTP/1.1; no key, no Upgrade or Connection.
            let mut headers = headers.clone();
            headers.push(("sec-websocket-version", "13"));
            let answer = h2.requester().connect(&path, "websocket", &headers).await?;
            if answer.status() != http::StatusCode::OK {
                let status = answer.status().as_u16();
                let rest = crate::http2::read_all(answer.into_body()).await?;
                return Err(ClientError::refused(&path, status, &rest));
            }
            let stream = hyper::upgrade::on(answer)
                .await
                .map_err(crate::http2::hyper_error)?;
            let mut ws =
                WebSocketStream::from_raw_socket(TokioIo::new(stream), Role::Client, Some(config))
                    .await;
            receive(shared, client, st, &mut ws).await
        }
        .await;
        // The stream's heads are the connection's setup, counted with its frames (see
        // `crate::http2::close_books`).
        st.finish_h2(h2, true).await;
        return result;
    }
    let io = st
        .connect(
            shared.target.http,
            shared.target.tls.as_ref().map(|t| (t, true)),
        )
        .await?;
    let scheme = if shared.target.tls.is_some() {
        "wss"
    } else {
        "ws"
    };
    let url = format!("{scheme}://{}{path}", shared.target.host);
    st.report.requests += 1;
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        let value = value.parse().map_err(|_| ClientError::BadHeader(name))?;
        request.headers_mut().insert(name, value);
    }
    let (mut ws, response) =
        tokio_tungstenite::client_async_with_config(request, io, Some(config)).await?;
    // The whole request is setup. Down, only the 101 head: frames tungstenite read in the same
    // read (a resumed backlog) are counted as framing and payload like any other.
    st.conn.setup_up += ws.get_ref().plain_up;
    st.conn.setup_down += head_len(&response) as u64;
    let result = receive(shared, client, st, &mut ws).await;
    st.finish_conn(ws.get_ref());
    result
}

/// Reads messages (and sends the upstream ones) on an open WebSocket until cancelled, then
/// closes it with a close handshake.
async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    client: &mut Client,
    st: &mut State,
    ws: &mut WebSocketStream<S>,
) -> Result<(), ClientError> {
    let framing = shared.profile.framing;
    let Some(recorder) = st.ready(shared).await else {
        return Ok(());
    };
    // One cancellation waiter for the session, not one registered per read.
    let cancelled = shared.cancel.cancelled();
    tokio::pin!(cancelled);
    loop {
        tokio::select! {
            _ = &mut cancelled => {
                // A proper close handshake: wait (briefly) for the server's close frame, so
                // the bytes counted match what the kernel received. Messages that arrive
                // meanwhile are still recorded, never dropped.
                let _ = ws.close(None).await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                    while let Some(Ok(m)) = ws.next().await {
                        let late = match &m {
                            Message::Text(t) => st.item(t.as_bytes(), framing, Encoding::Text),
                            Message::Binary(b) => st.item(b, framing, Encoding::Binary),
                            _ => Ok(()),
                        };
                        if late.is_err() {
                            break;
                        }
                    }
                })
                .await;
                st.flush();
                return Ok(());
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    st.item(t.as_bytes(), framing, Encoding::Text)?;
                    st.flush();
                }
                Some(Ok(Message::Binary(b))) => {
                    st.item(&b, framing, Encoding::Binary)?;
                    st.flush();
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(ClientError::WebSocketClosed(c))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(ClientError::Ended("the websocket")),
            },
            _ = upstream::due(&mut client.upstream, &shared.pacer, recorder.clock) => {
                let up = client.upstream.as_mut().expect("due only with an upstream");
                let payload = up.next_payload(&recorder);
                let len = payload.len();
                let message = match shared.encoding {
                    Encoding::Text => Message::text(payload),
                    Encoding::Binary => Message::binary(payload.as_bytes().to_vec()),
                };
                ws.send(message).await?;
                st.upstream_sent(client.upstream.as_mut().expect("sent from it"), &recorder, len);
            }
        }
    }
}

/// Bytes of a response head as hyper writes it: status line, `name: value` lines, blank line.
fn head_len<B>(response: &tokio_tungstenite::tungstenite::http::Response<B>) -> usize {
    let status = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status().as_str(),
        response.status().canonical_reason().unwrap_or("")
    );
    let headers: usize = response
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    status.len() + headers + 2
}
