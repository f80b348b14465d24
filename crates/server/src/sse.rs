//! `GET /sse?topic=T[&after=SEQ]`: Server-Sent Events. Each message is an event whose `id:` is
//! its sequence number, so `EventSource` resumes by itself: on reconnect it sends
//! `Last-Event-ID`, which takes precedence over `after=` (a browser cannot set the header on its
//! first connect, and keeps the original URL, `after=` included, when it reconnects).

use std::sync::Arc;

use http::Request;
use pushbench_wire::{sse, Transport};

use crate::http::reply::{Query, Rejection};
use crate::hub::{Framing, Start};
use crate::shared::Shared;
use crate::stream::{Spec, Stream};

/// Opens one event stream.
pub fn open<B>(req: &Request<B>, shared: &Arc<Shared>) -> Result<Stream, Rejection> {
    let query = Query::parse(req.uri().query());
    let topic = query.topic()?;
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| Rejection::bad("Last-Event-ID is not a sequence number"))
        })
        .transpose()?;
    let start = match last_event_id.or(query.u64("after")?) {
        Some(after) => Start::After(after),
        None => Start::Live,
    };
    let sub = shared.hub.subscribe(topic, start)?;
    Ok(Stream::open(
        shared,
        sub,
        Spec {
            transport: Transport::Sse,
            framing: Framing::Sse,
            content_type: "text/event-stream",
            prelude: sse::retry(shared.config.sse_retry.as_millis() as u64),
            heartbeat: sse::HEARTBEAT,
        },
    ))
}
