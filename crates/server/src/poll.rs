//! `GET /poll?topic=T&after=SEQ` (short polling) and
//! `GET /long-poll?topic=T&after=SEQ&timeout=MS` (long polling).
//!
//! Both answer a JSON array of text envelopes (see `pushbench_wire::poll`). A short poll answers
//! at once with everything after `after` (without `after`: everything the ring holds). A long poll
//! answers as soon as at least one message is there, with every message ready at that moment, or
//! with `[]` when the timeout passes; without `after` it waits for the next message published.

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

use crate::http::reply::{full, response, Body, Query, Rejection};
use crate::hub::{Event, Start, Subscription};
use crate::shared::Shared;

/// Answers up to this size are copied into one buffer: measured on the ticker scenario, one
/// small copy costs the server less than hyper handling every envelope as its own frame.
const COPY_LIMIT: usize = 16 * 1024;

/// Subscribes as the query asks: after `after=`, or live without it.
pub fn subscribe(query: &Query<'_>, shared: &Shared) -> Result<Subscription, Rejection> {
    let topic = query.topic()?;
    let start = match query.u64("after")? {
        Some(after) => Start::After(after),
        None => Start::Live,
    };
    Ok(shared.hub.subscribe(topic, start)?)
}

fn answer(shared: &Shared, transport: Transport, topic: &str, events: &[Event]) -> Response<Body> {
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
    let length = poll::body_len(&envelopes);
    if length <= COPY_LIMIT {
        return response(
            StatusCode::OK,
            "application/json",
            full(poll::body(&envelopes)),
        );
    }
    // Large answers: the shared envelopes go out as they are, between brackets and commas, in
    // vectored writes, with no per-answer copy. The length is known, so it is not chunked.
    let parts = poll::parts(&envelopes);
    let frames = futures_util::stream::iter(parts.into_iter().map(|b| Ok(Frame::data(b))));
    let mut r = response(
        StatusCode::OK,
        "application/json",
        StreamBody::new(frames).boxed_unsync(),
    );
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    r
}

/// Serves one short poll.
pub fn short(req: Request<Incoming>, shared: &Arc<Shared>) -> Result<Response<Body>, Rejection> {
    let query = Query::parse(req.uri().query());
    let topic = query.topic()?;
    let events = shared.hub.poll(topic, query.u64("after")?.unwrap_or(0))?;
    Ok(answer(shared, Transport::ShortPoll, topic, &events))
}

/// Serves one long poll.
pub async fn long(
    req: Request<Incoming>,
    shared: &Arc<Shared>,
) -> Result<Response<Body>, Rejection> {
    let query = Query::parse(req.uri().query());
    let timeout = match query.u64("timeout")? {
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
    };
    let mut sub = subscribe(&query, shared)?;
    let mut events = Vec::new();
    tokio::select! {
        // Biased: a message already waiting wins over an expired timeout (timeout=0 asks "is
        // anything there?" and must get a deterministic answer). On shutdown or timeout the
        // answer is whatever arrived: nothing.
        biased;
        _ = shared.shutdown.cancelled() => {}
        first = sub.next() => {
            events.push(first);
            // Everything else already queued goes in the same answer, up to one ring's worth.
            while events.len() < shared.config.ring_size {
                let Some(e) = sub.try_next() else { break };
                events.push(e);
            }
        }
        _ = tokio::time::sleep(timeout) => {}
    }
    Ok(answer(shared, Transport::LongPoll, sub.topic(), &events))
}
