//! Raw TCP client: a subscribe frame, the server's subscribed frame (together the setup), then
//! length-prefixed envelope frames. Publishes upstream on the same socket in bidirectional
//! workloads.

use std::sync::atomic::Ordering::Relaxed;

use bytes::BytesMut;
use pushbench_wire::probe::{self, Probe};
use pushbench_wire::raw_tcp::{self, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Client, ClientError, Shared, State};

/// Largest frame accepted from the server.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// One raw TCP connection.
pub async fn session(
    shared: &Shared,
    client: &mut Client,
    st: &mut State,
) -> Result<(), ClientError> {
    let addr = shared
        .target
        .tcp
        .ok_or_else(|| ClientError::Protocol("the target has no raw TCP port".into()))?;
    let mut io = st.connect(addr).await?;
    let result = async {
        io.write_all(&raw_tcp::subscribe(&client.topic, Some(st.resume_after()), shared.encoding))
            .await?;
        st.report.requests += 1;
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            match raw_tcp::decode(&mut buf, MAX_FRAME).map_err(|e| ClientError::Protocol(e.to_string()))? {
                Some(Frame::Subscribed { .. }) => break,
                Some(Frame::Error(reason)) => return Err(ClientError::Protocol(reason)),
                Some(other) => return Err(ClientError::Protocol(format!("expected subscribed, got {other:?}"))),
                None => {
                    if io.read_buf(&mut buf).await? == 0 {
                        return Err(ClientError::Protocol("closed before subscribing".into()));
                    }
                }
            }
        }
        st.conn.setup_up += io.up;
        st.conn.setup_down += io.down - buf.len() as u64;
        let Some(recorder) = st.ready(shared).await else {
            return Ok(());
        };
        let clock = recorder.clock;
        let mut payload = String::new();
        // One cancellation waiter for the session, not one registered per read.
        let cancelled = shared.cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            while let Some(frame) = raw_tcp::decode(&mut buf, MAX_FRAME).map_err(|e| ClientError::Protocol(e.to_string()))? {
                match frame {
                    Frame::Envelope(env) => st.envelope(&env, shared.encoding)?,
                    Frame::Heartbeat => {}
                    Frame::Error(reason) => return Err(ClientError::Protocol(format!("server error: {reason}"))),
                    other => return Err(ClientError::Protocol(format!("unexpected frame {other:?}"))),
                }
            }
            st.flush();
            let up_at = client
                .upstream
                .as_mut()
                .and_then(|s| s.peek().copied())
                .map(|p| clock.at(p.intended_ns));
            tokio::select! {
                _ = &mut cancelled => return Ok(()),
                n = io.read_buf(&mut buf) => {
                    if n? == 0 {
                        return Err(ClientError::Protocol("server closed the connection".into()));
                    }
                }
                _ = tokio::time::sleep_until(up_at.unwrap_or_else(|| clock.at(u64::MAX / 2)).into()), if up_at.is_some() => {
                    let planned = client.upstream.as_mut().and_then(Iterator::next).expect("peeked");
                    let sent_ns = clock.now_ns();
                    probe::write(&mut payload, Probe { intended_ns: planned.intended_ns, sent_ns, publisher: client.index as u32 }, planned.size);
                    recorder.published(planned.intended_ns, sent_ns);
                    io.write_all(&raw_tcp::publish(&client.topic, payload.as_bytes())).await?;
                    st.conn.payload_up += payload.len() as u64;
                    st.report.published += 1;
                    recorder.topic_published[client.topic_index].fetch_add(1, Relaxed);
                }
            }
        }
    }
    .await;
    st.finish_conn(&io);
    result
}
