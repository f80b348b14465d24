//! HTTP/1.1 connections of polls (short and long), served without hyper.
//!
//! A poller's connection carries one small `GET` after another, each answered with a small JSON
//! array. Through hyper every one of them is parsed into a `Request` with its `HeaderMap`,
//! routed, answered as a `Response` with a boxed body and encoded again: on long polls at 200
//! subscribers × 100 messages/s that per-request work was most of push-server's own CPU (hyper,
//! `http` and the allocations they make: about 20% of all the server's samples, the rest being
//! the kernel's). A connection whose first request is a poll ([`First::Poll`]) is served here
//! instead: each head is parsed with `httparse` (hyper's parser) into the same buffer, the
//! answer is built by [`crate::poll`] and written with the bytes hyper writes (head, then body,
//! in one vectored write).
//!
//! The first request that is not a plain poll (a publish, a stream, a request with a body or a
//! `Connection` field, a malformed head, a poll the handler would refuse) hands the connection
//! to hyper with that request's bytes replayed, so hyper answers it, and everything after it,
//! exactly as it did before. Keep-alive follows hyper's rules as push-server configures them:
//! the next head must be complete within `--idle-timeout-ms` of the last answer; at shutdown a
//! held long poll answers `[]` with `connection: close`, and a connection waiting for its next
//! request is closed. As with hyper, a client that goes away during a long poll is noticed when
//! the answer is written.
//!
//! [`First::Poll`]: super::first::First::Poll

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::first::{self, Head};
use super::reply::Query;
use super::{shutdown_signal, ShutdownSignal};
use crate::poll::{self, Answer, Hold};
use crate::shared::Shared;
use crate::stats::ConnTag;
use crate::vectored;

/// How a connection of polls ended.
#[derive(Debug)]
pub enum Served {
    /// Closed: by the client, at the idle limit or at shutdown.
    Closed,
    /// A request this path does not serve arrived: the bytes read of it, for hyper to read
    /// again and serve the connection from there.
    Hyper(Bytes),
}

/// Serves the polls of an HTTP/1.1 connection whose first request (its target at `target` in
/// `buf`) is a poll, until it closes or asks for something else.
pub async fn serve<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    shared: &Arc<Shared>,
    tag: &ConnTag,
    mut buf: BytesMut,
    mut target: Range<usize>,
    peer: SocketAddr,
) -> io::Result<Served> {
    let config = &shared.config;
    let mut shutdown = shutdown_signal(shared);
    // One timer for the connection's idle limit, armed once and moved on only when it fires:
    // a timer set and cleared around every request is work for every poll, and the limit is
    // almost never reached.
    let mut idle = std::pin::pin!(tokio::time::sleep(config.idle_timeout));
    let mut out = Vec::new();
    loop {
        let Some(answer) = answer(&buf[target], shared, tag, &mut shutdown).await else {
            return Ok(Served::Hyper(buf.freeze()));
        };
        let closing = shared.shutdown.is_cancelled();
        out.extend(answer.http1(closing));
        vectored::write_all(io, &mut out).await?;
        if closing {
            io.shutdown().await?;
            return Ok(Served::Closed);
        }
        buf.clear();
        let since = Instant::now();
        target = loop {
            tokio::select! {
                biased;
                _ = shutdown.next() => return Ok(Served::Closed),
                head = first::read_head(io, &mut buf, config.max_request_head) => match head? {
                    Head::Closed => return Ok(Served::Closed),
                    Head::Poll(target) => break target,
                    Head::Stream(_) | Head::Other => return Ok(Served::Hyper(buf.freeze())),
                },
                () = &mut idle => {
                    if since.elapsed() >= config.idle_timeout {
                        tracing::info!(%peer, timeout = ?config.idle_timeout, "no complete request head in time, closing");
                        return Ok(Served::Closed);
                    }
                    idle.as_mut().reset((since + config.idle_timeout).into());
                }
            }
        };
    }
}

/// Answers the poll at `target`, or `None` if it is hyper's to answer (a refusal).
async fn answer(
    target: &[u8],
    shared: &Arc<Shared>,
    tag: &ConnTag,
    shutdown: &mut ShutdownSignal<'_>,
) -> Option<Answer> {
    let target = std::str::from_utf8(target).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let transport = Transport::from_path(path)?;
    let query = Query::parse(query);
    // Counted as hyper's router counts a request, once it is known to be served here.
    let served = |transport: Transport| {
        tag.set(transport.index());
        shared.stats.request(transport.index());
    };
    match transport {
        Transport::ShortPoll => {
            let answer = poll::short(&query, shared).ok()?;
            served(transport);
            Some(answer)
        }
        Transport::LongPoll => {
            let hold = Hold::open(&query, shared).ok()?;
            served(transport);
            Some(hold.answer(shared, shutdown.next()).await)
        }
        _ => None,
    }
}
