//! `GET /stream?topic=T[&after=SEQ][&padding=N]`: chunked NDJSON, one text envelope per line,
//! a blank line per heartbeat, and `padding` spaces first for browsers that hold back progress
//! events until they have seen a kilobyte or two.

use std::sync::Arc;

use http::Request;
use pushbench_wire::{xhr_stream, Transport};

use crate::http::reply::{Query, Rejection};
use crate::hub::Framing;
use crate::shared::Shared;
use crate::stream::{Spec, Stream};

/// Opens one XHR stream.
pub fn open<B>(req: &Request<B>, shared: &Arc<Shared>) -> Result<Stream, Rejection> {
    let query = Query::parse(req.uri().query());
    let padding = query.padding(0, shared.config.max_padding)?;
    let sub = crate::poll::subscribe(&query, shared)?;
    Ok(Stream::open(
        shared,
        sub,
        Spec {
            transport: Transport::XhrStream,
            framing: Framing::XhrStream,
            content_type: "application/x-ndjson",
            prelude: xhr_stream::prelude(padding),
            heartbeat: xhr_stream::HEARTBEAT,
        },
    ))
}
