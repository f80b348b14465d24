//! The raw TCP port: length-prefixed frames (see `pushbench_wire::raw_tcp`). A connection may
//! subscribe once (answered with a subscribed frame, so a client starting live knows from when)
//! and publish any number of times. Malformed frames, a second subscription or a
//! refused publish get an error frame naming the problem, then the connection is closed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use bytes::BytesMut;
use futures_util::StreamExt;
use pushbench_wire::envelope::Encoding;
use pushbench_wire::raw_tcp::{self, Frame};
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::counting::CountingIo;
use crate::heartbeat;
use crate::hub::{frame_gap, Event, Framing, Start, Subscription};
use crate::pending::Waiting;
use crate::shared::Shared;
use crate::stats::ConnTag;
use crate::vectored::{self, BATCH};

/// Accepts raw TCP connections until shutdown; TLS ones if `tls` is given.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    crate::shared::accept_until_shutdown(listener, shared, "raw tcp", tls, accept_connection).await
}

async fn accept_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    waiting: Waiting,
    tls: Option<TlsAcceptor>,
) {
    match handle_connection(stream, &shared, waiting, tls).await {
        Ok(None) => {}
        Ok(Some(reason)) => tracing::info!(%peer, %reason, "raw tcp connection closed by server"),
        Err(e) => tracing::debug!(%peer, error = %e, "raw tcp connection ended with an error"),
    }
}

/// Serves one connection; `Ok(Some(reason))` when the server closed it with an error frame.
async fn handle_connection(
    stream: TcpStream,
    shared: &Shared,
    waiting: Waiting,
    tls: Option<TlsAcceptor>,
) -> io::Result<Option<String>> {
    stream.set_nodelay(true)?;
    let tag = Arc::new(ConnTag::new(shared.stats.clone()));
    tag.set(Transport::RawTcp.index());
    let io = CountingIo::new(stream, tag.clone());
    let Some(acceptor) = tls else {
        return serve_frames(io, shared, waiting, &tag).await;
    };
    let evicted = waiting.evicted.clone().cancelled_owned();
    match crate::tls::handshake(&acceptor, io, shared, evicted).await {
        Ok(io) => Box::pin(serve_frames(io, shared, waiting, &tag)).await,
        Err(crate::tls::Refused::Closed) => Ok(None),
        Err(crate::tls::Refused::TimedOut(timeout)) => {
            Ok(Some(format!("no TLS handshake within {timeout:?}")))
        }
        Err(crate::tls::Refused::Failed(e)) => Ok(Some(format!("TLS handshake failed: {e}"))),
    }
}

/// Serves a connection's frames, from its first on.
async fn serve_frames<T: AsyncRead + AsyncWrite + Unpin>(
    mut io: T,
    shared: &Shared,
    waiting: Waiting,
    tag: &ConnTag,
) -> io::Result<Option<String>> {
    // Until its first frame is in, the connection waits among the pending (see
    // `crate::pending`); then it needs a place under `--max-connections`.
    let mut evicted = Some(Box::pin(waiting.evicted.clone().cancelled_owned()));
    let mut waiting = Some(waiting);
    // Grown only when a frame arrives: most connections are subscribers that send one small
    // frame, and a buffer reserved up front cost every idle connection about 1 KiB.
    let mut buf = BytesMut::new();
    let mut frames: Vec<Bytes> = Vec::new();
    let max_frame = shared.config.max_message_size + 512;
    let mut sub: Option<(Subscription, Framing)> = None;
    // Armed once for the connection, polled only when it ticks; its end is the shutdown (see
    // `heartbeat::Beat`).
    let mut beat = heartbeat::beat(shared.heartbeats.subscribe());
    // The first frame, and any frame once begun, must arrive whole within the idle timeout:
    // a connection that sends nothing, or a length and then nothing, would hold its place for
    // ever. Between frames a connection may idle (a subscriber sends nothing more). The timer
    // and the eviction signal are boxed and dropped when not needed: inline, they made every
    // idle connection's task about 0.3 KiB larger.
    let deadline = shared.config.idle_timeout;
    let mut timer = Some(Box::pin(tokio::time::sleep(deadline)));
    let reason = loop {
        tokio::select! {
            biased;
            tick = beat.next() => match tick {
                Some(()) => io.write_all(raw_tcp::HEARTBEAT).await?,
                None => break "server shutting down".to_owned(),
            },
            _ = until(&mut timer) => break format!("no complete frame within {deadline:?}"),
            _ = until(&mut evicted) => {
                break "closed to make room: too many connections waiting for a first frame".to_owned();
            }
            read = io.read_buf(&mut buf) => {
                if read? == 0 {
                    return Ok(None);
                }
                if waiting.is_some() && raw_tcp::holds_frame(&buf) {
                    (waiting, evicted) = (None, None);
                    match shared.admit() {
                        Some(permit) => tag.hold(permit),
                        None => break "connection limit reached".to_owned(),
                    }
                }
                let was_subscribed = sub.is_some();
                let before = buf.len();
                if let Err(reason) = handle_frames(&mut buf, max_frame, &mut sub, shared) {
                    break reason;
                }
                // The clock runs for the frame now at the front of the buffer: restarted when a
                // frame was taken off, so a publisher streaming frames back to back, whose reads
                // end mid-frame, is never cut off.
                let progressed = buf.len() < before;
                let restart = tokio::time::Instant::now() + deadline;
                match (buf.is_empty(), &mut timer) {
                    (true, _) => timer = None,
                    (false, Some(t)) if progressed => t.as_mut().reset(restart),
                    (false, Some(_)) => {}
                    (false, None) => timer = Some(Box::pin(tokio::time::sleep_until(restart))),
                }
                if let (false, Some((s, _))) = (was_subscribed, &sub) {
                    io.write_all(&raw_tcp::subscribed(s.last_seq())).await?;
                }
            }
            event = next(&mut sub) => {
                let (s, framing) = sub.as_mut().expect("next() waits forever without a subscription");
                frames.push(frame_event(s, *framing, event, shared));
                while frames.len() < BATCH {
                    let Some(event) = s.try_next() else { break };
                    frames.push(frame_event(s, *framing, event, shared));
                }
                vectored::write_all(&mut io, &mut frames).await?;
            }
        }
    };
    io.write_all(&raw_tcp::error(&reason)).await?;
    io.shutdown().await?;
    Ok(Some(reason))
}

/// Completes when `future` does; never without one.
async fn until<F: std::future::Future + Unpin>(future: &mut Option<F>) {
    match future {
        Some(f) => {
            f.await;
        }
        None => std::future::pending().await,
    }
}

async fn next(sub: &mut Option<(Subscription, Framing)>) -> Event {
    match sub {
        Some((s, _)) => s.next().await,
        None => std::future::pending().await,
    }
}

/// The bytes for one event: the shared frame of a message, or this subscriber's gap notice.
fn frame_event(sub: &Subscription, framing: Framing, event: Event, shared: &Shared) -> Bytes {
    match event {
        Event::Message(m) => {
            shared.stats.delivered(Transport::RawTcp, 1);
            m.framed(framing).clone()
        }
        Event::Gap {
            first_missing,
            first_available,
        } => {
            shared.stats.gap(Transport::RawTcp);
            frame_gap(framing, sub.topic(), first_missing, first_available)
        }
    }
}

/// Acts on every complete frame in `buf`; `Err(reason)` closes the connection.
fn handle_frames(
    buf: &mut BytesMut,
    max_frame: usize,
    sub: &mut Option<(Subscription, Framing)>,
    shared: &Shared,
) -> Result<(), String> {
    while let Some(frame) = raw_tcp::decode(buf, max_frame).map_err(|e| e.to_string())? {
        match frame {
            Frame::Subscribe {
                topic,
                after,
                encoding,
            } => {
                if sub.is_some() {
                    return Err("already subscribed; open another connection".into());
                }
                let start = after.map_or(Start::Live, Start::After);
                let s = shared
                    .hub
                    .subscribe(&topic, start)
                    .map_err(|e| e.to_string())?;
                shared.stats.request(Transport::RawTcp.index());
                let framing = match encoding {
                    Encoding::Text => Framing::RawTcpText,
                    Encoding::Binary => Framing::RawTcpBinary,
                };
                *sub = Some((s, framing));
            }
            Frame::Publish { topic, payload } => {
                shared
                    .hub
                    .publish(&topic, payload)
                    .map_err(|e| e.to_string())?;
                shared.stats.published();
            }
            Frame::Subscribed { .. } | Frame::Envelope(_) | Frame::Heartbeat | Frame::Error(_) => {
                return Err("clients may only send subscribe and publish frames".into());
            }
        }
    }
    Ok(())
}
