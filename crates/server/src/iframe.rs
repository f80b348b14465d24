//! `GET /iframe?topic=T[&after=SEQ][&padding=N]`: the htmlfile transport. A chunked `text/html`
//! document the browser runs as it arrives inside a hidden iframe, one `<script>` call per
//! message, with padding after the head (1 KiB unless asked otherwise) so browsers start
//! executing scripts before the document ends.

use std::sync::Arc;

use http::Request;
use pushbench_wire::{iframe, Transport};

use crate::http::reply::{Query, Rejection};
use crate::hub::Framing;
use crate::shared::Shared;
use crate::stream::{Spec, Stream};

/// Opens one iframe stream.
pub fn open<B>(req: &Request<B>, shared: &Arc<Shared>) -> Result<Stream, Rejection> {
    let query = Query::parse(req.uri().query());
    let padding = query.padding(iframe::DEFAULT_PADDING, shared.config.max_padding)?;
    let sub = crate::poll::subscribe(&query, shared)?;
    Ok(Stream::open(
        shared,
        sub,
        Spec {
            transport: Transport::Iframe,
            framing: Framing::Iframe,
            content_type: "text/html; charset=utf-8",
            prelude: iframe::prelude(padding),
            heartbeat: iframe::HEARTBEAT,
        },
    ))
}
