//! `GET /poll?topic=T&after=SEQ` (short polling) and
//! `GET /long-poll?topic=T&after=SEQ&timeout=MS` (long polling).
//!
//! Both answer a JSON array of text envelopes (see `pushbench_wire::poll`). A short poll answers
//! at once with everything after `after` (without `after`: everything the ring holds). A long poll
//! answers as soon as at least one message is there, with every message ready at that moment, or
//! with `[]` when the timeout passes; without `after` it waits for the next message published.
//!
//! The answers are built here, the same bytes whichever way the request came in: through hyper
//! ([`Answer::into_response`]), or on an HTTP/1.1 connection of polls served directly
//! ([`Answer::http1`], see `crate::http::polls`).

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use pushbench_wire::envelope::{encode_text_gap, Encoding};
use pushbench_wire::{poll, Transport};

use crate::http::reply::{self, full, response, Body, Query, Rejection};
use crate::hub::{Event, Start, Subscription};
use crate::shared::Shared;

/// Answers up to this size are copied into one buffer: measured on the ticker scenario, one
/// small copy costs the server less than hyper handling every envelope as its own frame.
const COPY_LIMIT: usize = 16 * 1024;

/// The content type of every answer.
const CONTENT_TYPE: &str = "application/json";

/// Subscribes as the query asks: after `after=`, or live without it.
pub fn subscribe(query: &Query<'_>, shared: &Shared) -> Result<Subscription, Rejection> {
    let topic = query.topic()?;
    let start = match query.u64("after")? {
        Some(after) => Start::After(after),
        None => Start::Live,
    };
    Ok(shared.hub.subscribe(topic, start)?)
}

/// A poll's answer: the JSON array, in one piece up to [`COPY_LIMIT`], otherwise as the shared
/// envelopes between brackets and commas.
#[derive(Debug)]
pub struct Answer {
    pieces: Vec<Bytes>,
    len: usize,
}

impl Answer {
    /// The answer to a poll of `transport` on `topic` with `events`, counted as delivered.
    pub fn new(shared: &Shared, transport: Transport, topic: &str, events: &[Event]) -> Answer {
        let mut delivered = 0;
        // Cloning a `Bytes` shares the envelope; only `poll::body` copies, once, into the answer.
        let envelopes: Vec<Bytes> = events
            .iter()
            .map(|e| match e {
                Event::Message(m) => {
                    delivered += 1;
                    m.envelope(Encoding::Text).clone()
                }
                Event::Gap {
                    first_missing,
                    first_available,
                } => {
                    shared.stats.gap(transport);
                    encode_text_gap(topic, *first_missing, *first_available)
                }
            })
            .collect();
        shared.stats.delivered(transport, delivered);
        let len = poll::body_len(&envelopes);
        let pieces = if len <= COPY_LIMIT {
            vec![poll::body(&envelopes)]
        } else {
            poll::parts(&envelopes)
        };
        Answer { pieces, len }
    }

    /// The `200` for hyper to send. A large answer's shared envelopes go out as they are, in
    /// vectored writes, with no per-answer copy; its length is known, so it is not chunked.
    pub fn into_response(self) -> Response<Body> {
        let Answer { mut pieces, len } = self;
        if pieces.len() == 1 {
            return response(StatusCode::OK, CONTENT_TYPE, full(pieces.remove(0)));
        }
        let frames = futures_util::stream::iter(pieces.into_iter().map(|b| Ok(Frame::data(b))));
        let mut r = response(
            StatusCode::OK,
            CONTENT_TYPE,
            StreamBody::new(frames).boxed_unsync(),
        );
        r.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
        r
    }

    /// The whole HTTP/1.1 answer, byte for byte what hyper writes for [`Self::into_response`]:
    /// the head, then the body. `close` adds `connection: close` (the server is shutting down).
    pub fn http1(self, close: bool) -> Vec<Bytes> {
        let mut head = String::with_capacity(160);
        let _ = write!(
            head,
            "HTTP/1.1 200 OK\r\ncontent-type: {CONTENT_TYPE}\r\ncache-control: no-store\r\ncontent-length: {}\r\n",
            self.len
        );
        if close {
            head.push_str("connection: close\r\n");
        }
        head.push_str("date: ");
        head.push_str(reply::date().as_str());
        head.push_str("\r\n\r\n");
        let mut out = Vec::with_capacity(1 + self.pieces.len());
        out.push(Bytes::from(head));
        out.extend(self.pieces);
        out
    }
}

/// Answers one short poll.
pub fn short(query: &Query<'_>, shared: &Shared) -> Result<Answer, Rejection> {
    let topic = query.topic()?;
    let events = shared.hub.poll(topic, query.u64("after")?.unwrap_or(0))?;
    Ok(Answer::new(shared, Transport::ShortPoll, topic, &events))
}

/// A long poll, subscribed and waiting for its answer.
#[derive(Debug)]
pub struct Hold {
    sub: Subscription,
    timeout: Duration,
}

impl Hold {
    /// Subscribes as the query asks, with its `timeout=` checked against the limit.
    pub fn open(query: &Query<'_>, shared: &Shared) -> Result<Hold, Rejection> {
        let timeout = timeout(query, shared)?;
        Ok(Hold {
            sub: subscribe(query, shared)?,
            timeout,
        })
    }

    /// A long poll waiting on `sub` for at most `timeout`.
    pub fn new(sub: Subscription, timeout: Duration) -> Hold {
        Hold { sub, timeout }
    }

    /// Waits for the first message, the timeout or `shutdown`, and answers with what arrived.
    pub async fn answer(mut self, shared: &Shared, shutdown: impl Future) -> Answer {
        let mut events = Vec::new();
        tokio::select! {
            // Biased: a message already waiting wins over an expired timeout (timeout=0 asks "is
            // anything there?" and must get a deterministic answer). On shutdown or timeout the
            // answer is whatever arrived: nothing.
            biased;
            _ = shutdown => {}
            first = self.sub.next() => {
                events.push(first);
                // Everything else already queued goes in the same answer, up to one ring's worth.
                while events.len() < shared.config.ring_size {
                    let Some(e) = self.sub.try_next() else { break };
                    events.push(e);
                }
            }
            _ = tokio::time::sleep(self.timeout) => {}
        }
        Answer::new(shared, Transport::LongPoll, self.sub.topic(), &events)
    }
}

/// A long poll's `timeout=`, checked against the limit, or the default.
pub fn timeout(query: &Query<'_>, shared: &Shared) -> Result<Duration, Rejection> {
    Ok(match query.u64("timeout")? {
        Some(ms) => {
            let asked = Duration::from_millis(ms);
            if asked > shared.config.max_long_poll_timeout {
                return Err(Rejection::bad(format!(
                    "timeout={ms} exceeds the limit of {} ms",
                    shared.config.max_long_poll_timeout.as_millis()
                )));
            }
            asked
        }
        None => shared.config.long_poll_timeout,
    })
}

/// Serves one long poll through hyper.
pub async fn long(
    req: Request<Incoming>,
    shared: &Arc<Shared>,
) -> Result<Response<Body>, Rejection> {
    let hold = Hold::open(&Query::parse(req.uri().query()), shared)?;
    let answer = hold.answer(shared, shared.shutdown.cancelled()).await;
    Ok(answer.into_response())
}
