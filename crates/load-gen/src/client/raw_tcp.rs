//! Raw TCP client: a subscribe frame, the server's subscribed frame (together the setup), then
//! length-prefixed envelope frames. Publishes upstream on the same socket in bidirectional
//! workloads.

use bytes::BytesMut;
use futures_util::FutureExt;
use pushbench_wire::raw_tcp::{self, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{upstream, Client, ClientError, Shared, State};

/// Largest frame accepted from the server.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// One raw TCP connection.
pub async fn session(
    shared: &Shared,
    client: &mut Client,
    st: &mut State,
) -> Result<(), ClientError> {
    let addr = shared.target.tcp.ok_or(ClientError::NoRawTcpPort)?;
    let tls = shared.target.tls.as_ref().map(|t| (t, false));
    let mut io = st.connect(addr, tls).await?;
    let result = async {
        io.write_all(&raw_tcp::subscribe(
            &client.topic,
            Some(st.resume_after()),
            shared.encoding,
        ))
        .await?;
        st.report.requests += 1;
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            match raw_tcp::decode(&mut buf, MAX_FRAME)? {
                Some(Frame::Subscribed { .. }) => break,
                Some(Frame::Error(reason)) => return Err(ClientError::ServerError(reason)),
                Some(other) => {
                    return Err(ClientError::UnexpectedFrame {
                        expected: "subscribed",
                        got: format!("{other:?}"),
                    })
                }
                None => {
                    if io.read_buf(&mut buf).await? == 0 {
                        return Err(ClientError::Ended("the connection before subscribing"));
                    }
                }
            }
        }
        // Above TLS (its handshake is counted at the connect, its records' overhead is framing).
        st.conn.setup_up += io.plain_up;
        st.conn.setup_down += io.plain_down - buf.len() as u64;
        let Some(recorder) = st.ready(shared).await else {
            return Ok(());
        };
        // One cancellation waiter for the session, not one registered per read.
        let cancelled = shared.cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            while let Some(frame) = raw_tcp::decode(&mut buf, MAX_FRAME)? {
                match frame {
                    Frame::Envelope(env) => st.envelope(&env, shared.encoding)?,
                    Frame::Heartbeat => {}
                    Frame::Error(reason) => return Err(ClientError::ServerError(reason)),
                    other => {
                        return Err(ClientError::UnexpectedFrame {
                            expected: "an envelope or heartbeat",
                            got: format!("{other:?}"),
                        })
                    }
                }
            }
            st.flush();
            tokio::select! {
                _ = &mut cancelled => {
                    // Frames already in the socket when the run ends are still recorded; the
                    // read does not wait for more.
                    while let Some(Ok(n)) = io.read_buf(&mut buf).now_or_never() {
                        if n == 0 {
                            break;
                        }
                    }
                    while let Some(frame) = raw_tcp::decode(&mut buf, MAX_FRAME)? {
                        if let Frame::Envelope(env) = frame {
                            st.envelope(&env, shared.encoding)?;
                        }
                    }
                    st.flush();
                    return Ok(());
                }
                n = io.read_buf(&mut buf) => {
                    if n? == 0 {
                        return Err(ClientError::Ended("the connection"));
                    }
                }
                _ = upstream::due(&mut client.upstream, &shared.pacer, recorder.clock) => {
                    let up = client.upstream.as_mut().expect("due only with an upstream");
                    let payload = up.next_payload(&recorder);
                    let len = payload.len();
                    io.write_all(&raw_tcp::publish(&client.topic, payload.as_bytes())).await?;
                    st.upstream_sent(client.upstream.as_mut().expect("sent from it"), &recorder, len);
                }
            }
        }
    }
    .await;
    st.finish_conn(&io);
    result
}
