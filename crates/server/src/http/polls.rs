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
//! A long poll that finds nothing waiting is held in its topic as a [`HeldPoll`] (with
//! `--direct-streams`, as the streams are): the publish that brings its message writes the
//! answer into the socket, as Nchan's publish answers its waiting long polls, and the task is
//! not woken for it. It wakes when the next request comes, as it would anyway. The task answers
//! the poll itself only when the publish cannot: the socket did not take the whole answer (the
//! task writes the rest), the timeout passed, the server is shutting down, or the client sent
//! its next request before the answer (pipelined; answered in order). Measured at 200
//! subscribers × 100 messages/s: see the README's server-efficiency table.
//!
//! [`First::Poll`]: super::first::First::Poll

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::first::{self, Head};
use super::reply::Query;
use super::{shutdown_signal, ShutdownSignal};
use crate::direct::keep_rest;
use crate::hub::{Direct, Event, Held, Message, Topic};
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
/// `buf`) is a poll, until it closes or asks for something else. With `sink` (a plain TCP
/// connection), long polls that find nothing are held for the publish to answer.
pub async fn serve<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    shared: &Arc<Shared>,
    tag: &ConnTag,
    mut buf: BytesMut,
    mut target: Range<usize>,
    peer: SocketAddr,
    sink: Option<Arc<HeldPoll>>,
) -> io::Result<Served> {
    let config = &shared.config;
    let mut shutdown = shutdown_signal(shared);
    // One timer for the connection's idle limit, armed once and moved on only when it fires:
    // a timer set and cleared around every request is work for every poll, and the limit is
    // almost never reached.
    let mut idle = std::pin::pin!(tokio::time::sleep(config.idle_timeout));
    // The same for a held long poll's timeout, which almost never passes either.
    let mut hold_timer = std::pin::pin!(tokio::time::sleep(config.max_long_poll_timeout));
    let mut out = Vec::new();
    loop {
        let mut held = None;
        match respond(&buf[target], shared, tag, &mut shutdown, sink.as_ref()).await {
            Reply::Hyper => return Ok(Served::Hyper(buf.freeze())),
            Reply::Now(answer) => {
                let closing = shared.shutdown.is_cancelled();
                out.extend(answer.http1(closing));
                vectored::write_all(io, &mut out).await?;
                if closing {
                    io.shutdown().await?;
                    return Ok(Served::Closed);
                }
            }
            Reply::Held(waiting) => {
                if hold_timer.is_elapsed() || hold_timer.deadline() > waiting.deadline {
                    hold_timer.as_mut().reset(waiting.deadline);
                }
                held = Some(waiting);
            }
        }
        buf.clear();
        // When the last answer went out; for a held poll, once the publish has written it.
        let mut since = Instant::now();
        target = loop {
            tokio::select! {
                biased;
                _ = shutdown.next() => {
                    if let Some(waiting) = held.take() {
                        settle(io, waiting, shared, &mut shutdown, &mut out).await?;
                        io.shutdown().await?;
                    }
                    return Ok(Served::Closed);
                }
                () = held_wake(held.as_ref()) => {
                    if held.as_ref().is_some_and(Waiting::needs_task) {
                        let waiting = held.take().expect("held");
                        since = settle(io, waiting, shared, &mut shutdown, &mut out).await?;
                    }
                }
                head = first::read_head(io, &mut buf, config.max_request_head) => {
                    let head = head?;
                    // The next request: the held poll has its answer, or the client asked
                    // again before it came (then it is answered first, in order).
                    if let Some(waiting) = held.take() {
                        if !matches!(head, Head::Closed) {
                            settle(io, waiting, shared, &mut shutdown, &mut out).await?;
                        }
                    }
                    match head {
                        Head::Closed => return Ok(Served::Closed),
                        Head::Poll(target) => break target,
                        Head::Stream(_) | Head::Other => return Ok(Served::Hyper(buf.freeze())),
                    }
                }
                () = &mut hold_timer, if held.is_some() => {
                    let deadline = held.as_ref().expect("held").deadline;
                    if Instant::now() >= deadline {
                        let waiting = held.take().expect("held");
                        since = settle(io, waiting, shared, &mut shutdown, &mut out).await?;
                    } else {
                        hold_timer.as_mut().reset(deadline);
                    }
                }
                () = &mut idle => {
                    if let Some(waiting) = &held {
                        match waiting.sink.answered_at() {
                            Some(at) => since = at,
                            // Still held: waiting for the answer, not idle.
                            None => since = Instant::now(),
                        }
                    }
                    if since.elapsed() >= config.idle_timeout {
                        tracing::info!(%peer, timeout = ?config.idle_timeout, "no complete request head in time, closing");
                        return Ok(Served::Closed);
                    }
                    idle.as_mut().reset(since + config.idle_timeout);
                }
            }
        };
    }
}

/// Wakes when the publish leaves the held poll to its task; never without one.
async fn held_wake(held: Option<&Waiting>) {
    match held {
        Some(waiting) => waiting.sink.wake.notified().await,
        None => std::future::pending().await,
    }
}

/// What a poll gets.
enum Reply {
    /// Hyper's to answer (a refusal).
    Hyper,
    /// Its answer, for the task to write.
    Now(Answer),
    /// Held in its topic, for the publish to answer.
    Held(Waiting),
}

/// Answers the poll at `target`, holds it, or leaves it to hyper.
async fn respond(
    target: &[u8],
    shared: &Arc<Shared>,
    tag: &ConnTag,
    shutdown: &mut ShutdownSignal<'_>,
    sink: Option<&Arc<HeldPoll>>,
) -> Reply {
    let Ok(target) = std::str::from_utf8(target) else {
        return Reply::Hyper;
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let Some(transport) = Transport::from_path(path) else {
        return Reply::Hyper;
    };
    let query = Query::parse(query);
    // Counted as hyper's router counts a request, once it is known to be served here.
    let served = |transport: Transport| {
        tag.set(transport.index());
        shared.stats.request(transport.index());
    };
    match transport {
        Transport::ShortPoll => match poll::short(&query, shared) {
            Ok(answer) => {
                served(transport);
                Reply::Now(answer)
            }
            Err(_) => Reply::Hyper,
        },
        Transport::LongPoll => {
            let Ok(timeout) = poll::timeout(&query, shared) else {
                return Reply::Hyper;
            };
            // A zero timeout asks "is anything there?": nothing to hold.
            if let Some(sink) = sink.filter(|_| !timeout.is_zero()) {
                return match hold(&query, shared, sink, timeout) {
                    Some(reply) => {
                        served(transport);
                        reply
                    }
                    None => Reply::Hyper,
                };
            }
            match Hold::open(&query, shared) {
                Ok(hold) => {
                    served(transport);
                    Reply::Now(hold.answer(shared, shutdown.next()).await)
                }
                Err(_) => Reply::Hyper,
            }
        }
        _ => Reply::Hyper,
    }
}

/// A long poll answered now if its topic has something after `after=`, else held in it.
fn hold(
    query: &Query<'_>,
    shared: &Arc<Shared>,
    sink: &Arc<HeldPoll>,
    timeout: Duration,
) -> Option<Reply> {
    let topic = query.topic().ok()?;
    let after = query.u64("after").ok()?;
    let offered: Arc<dyn Direct> = sink.clone();
    let mut armed = 0;
    let held = shared
        .hub
        .hold(topic, after, &offered, |after| {
            armed = after;
            *sink.state.lock().expect("held poll lock") = State::Armed(after);
        })
        .ok()?;
    Some(match held {
        Held::Ready(events) => Reply::Now(Answer::new(shared, Transport::LongPoll, topic, &events)),
        Held::Waiting(topic) => Reply::Held(Waiting {
            sink: sink.clone(),
            topic,
            after: armed,
            deadline: Instant::now() + timeout,
        }),
    })
}

/// Finishes a held poll with the task: writes what the publish could not, or answers it here
/// (from the topic, or `[]` past its timeout or at shutdown). Returns when its answer went out.
async fn settle<T: AsyncWrite + Unpin>(
    io: &mut T,
    waiting: Waiting,
    shared: &Arc<Shared>,
    shutdown: &mut ShutdownSignal<'_>,
    out: &mut Vec<Bytes>,
) -> io::Result<Instant> {
    match waiting.settle() {
        Settled::Written(at) => return Ok(at),
        Settled::Rest(rest) => out.extend(rest),
        Settled::Unanswered => {
            let left = waiting.deadline.saturating_duration_since(Instant::now());
            let answer = if shared.shutdown.is_cancelled() || left.is_zero() {
                Answer::new(shared, Transport::LongPoll, waiting.topic.name(), &[])
            } else {
                let sub = waiting.topic.subscribe_after(waiting.after);
                Hold::new(sub, left).answer(shared, shutdown.next()).await
            };
            out.extend(answer.http1(shared.shutdown.is_cancelled()));
        }
    }
    vectored::write_all(io, out).await?;
    Ok(Instant::now())
}

/// A connection's long poll held in its topic, which the next publish answers by writing into
/// the socket.
#[derive(Debug)]
pub struct HeldPoll {
    /// The connection's socket. Written only while a poll is armed (under `state`'s lock), and
    /// a [`Waiting`] disarms it before the task can close the socket or hand it on.
    fd: RawFd,
    tag: Arc<ConnTag>,
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// Wakes the task to finish a poll the publish could not.
    wake: Notify,
}

#[derive(Debug)]
enum State {
    /// No poll held.
    Idle,
    /// Held after this sequence number: the next publish answers it.
    Armed(u64),
    /// Answered by a publish at this moment.
    Written(Instant),
    /// Answered by a publish, but the socket did not take it all: the rest, for the task.
    Rest(Vec<Bytes>),
    /// Offered a message other than the next (cannot happen while the hub offers a held poll
    /// only the publish after it): the task answers.
    Missed,
}

/// How a held poll ended, for its task.
enum Settled {
    Written(Instant),
    Rest(Vec<Bytes>),
    Unanswered,
}

impl HeldPoll {
    /// A held poll for the plain TCP socket `fd`, which must stay open for as long as the
    /// sink's polls are held (each [`Waiting`] disarms its poll when dropped).
    pub fn new(fd: RawFd, tag: Arc<ConnTag>, shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(HeldPoll {
            fd,
            tag,
            shared,
            state: Mutex::new(State::Idle),
            wake: Notify::new(),
        })
    }

    /// When a publish answered the poll, if one did and wrote it whole.
    fn answered_at(&self) -> Option<Instant> {
        match *self.state.lock().expect("held poll lock") {
            State::Written(at) => Some(at),
            _ => None,
        }
    }

    /// One non-blocking vectored write of `pieces`; how many bytes the socket took.
    fn write(&self, pieces: &[Bytes]) -> usize {
        let slices: [IoSlice<'_>; 4] =
            std::array::from_fn(|i| IoSlice::new(pieces.get(i).map_or(&[], |p| &p[..])));
        let n = pieces.len().min(slices.len());
        // `fd` is the connection's socket, open while a poll is armed (the caller holds the
        // lock and found it armed; see `fd`). WouldBlock, or an error the task meets again on
        // its own write of the rest.
        let written = crate::vectored::send(self.fd, &slices[..n]).unwrap_or(0);
        self.tag.wrote(written);
        written
    }
}

impl Direct for HeldPoll {
    fn offer(&self, message: &Arc<Message>) {
        let mut state = self.state.lock().expect("held poll lock");
        let State::Armed(after) = *state else {
            return;
        };
        if message.seq != after + 1 {
            *state = State::Missed;
        } else {
            let events = [Event::Message(message.clone())];
            let answer = Answer::new(&self.shared, Transport::LongPoll, &message.topic, &events);
            let pieces = answer.http1(self.shared.shutdown.is_cancelled());
            let written = self.write(&pieces);
            if written == pieces.iter().map(Bytes::len).sum::<usize>() {
                *state = State::Written(Instant::now());
                return;
            }
            let mut rest = Vec::new();
            keep_rest(&mut rest, &pieces, written);
            *state = State::Rest(rest);
        }
        drop(state);
        self.wake.notify_one();
    }
}

/// A poll held in its topic. Dropped (the task ending or cancelled), it disarms the poll, so
/// no publish writes into a socket its task no longer holds.
#[derive(Debug)]
struct Waiting {
    sink: Arc<HeldPoll>,
    topic: Arc<Topic>,
    after: u64,
    deadline: Instant,
}

impl Waiting {
    /// Whether the publish left the poll to the task (a wake-up may also be an old one's).
    fn needs_task(&self) -> bool {
        matches!(
            *self.sink.state.lock().expect("held poll lock"),
            State::Rest(_) | State::Missed
        )
    }

    /// Disarms the poll and says how it ended.
    fn settle(&self) -> Settled {
        let state = std::mem::replace(
            &mut *self.sink.state.lock().expect("held poll lock"),
            State::Idle,
        );
        match state {
            State::Written(at) => Settled::Written(at),
            State::Rest(rest) => Settled::Rest(rest),
            State::Armed(_) => {
                let offered: Arc<dyn Direct> = self.sink.clone();
                self.topic.release(&offered);
                Settled::Unanswered
            }
            State::Missed | State::Idle => Settled::Unanswered,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.settle();
    }
}
