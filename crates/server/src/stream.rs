//! The response body shared by the three streaming HTTP transports (xhr-stream, iframe, SSE):
//! an optional prelude, then one frame per event, heartbeats when idle, and a clean end of stream
//! on shutdown. Each transport module only says how its frames look.
//!
//! hyper polls the body only when the socket can take more, so a subscriber that stops reading
//! stops being polled: its subscription falls behind the shared queue and later resumes from the
//! ring or gets a gap, while nothing it does slows anyone else. Frames that are ready together are
//! handed to hyper back to back, which writes them with one vectored write.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use pushbench_wire::Transport;
use tokio::sync::watch;

use crate::http::reply::{response, Body};
use crate::hub::{frame_gap, Event, Framing, Subscription};
use crate::shared::Shared;

/// How one streaming transport frames its response.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Counted under this transport in `/stats`.
    pub transport: Transport,
    /// How messages and gaps are framed.
    pub framing: Framing,
    /// The `content-type` header.
    pub content_type: &'static str,
    /// Written before the first event (padding, `retry:`, the iframe document head).
    pub prelude: Bytes,
    /// Written at every heartbeat tick.
    pub heartbeat: &'static [u8],
}

struct State {
    shared: Arc<Shared>,
    spec: Spec,
    sub: Subscription,
    heartbeat: watch::Receiver<u64>,
    prelude: Option<Bytes>,
}

/// A `200` whose body streams `sub` framed as `spec` says.
pub fn respond(shared: &Arc<Shared>, sub: Subscription, spec: Spec) -> Response<Body> {
    let heartbeat = shared.heartbeats.subscribe();
    let content_type = spec.content_type;
    let state = State {
        shared: shared.clone(),
        prelude: Some(spec.prelude.clone()).filter(|p| !p.is_empty()),
        spec,
        sub,
        heartbeat,
    };
    let frames = stream::unfold(state, |mut st| async move {
        if let Some(prelude) = st.prelude.take() {
            return Some((Ok(Frame::data(prelude)), st));
        }
        let bytes = tokio::select! {
            biased;
            _ = st.shared.shutdown.cancelled() => return None,
            event = st.sub.next() => frame(&st, event),
            _ = st.heartbeat.changed() => Bytes::from_static(st.spec.heartbeat),
        };
        Some((Ok(Frame::data(bytes)), st))
    });
    let mut r = response(
        StatusCode::OK,
        content_type,
        StreamBody::new(frames).boxed_unsync(),
    );
    // Tells nginx (and proxies that copy it) not to buffer the stream.
    r.headers_mut()
        .insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    r
}

fn frame(st: &State, event: Event) -> Bytes {
    let stats = &st.shared.stats;
    match event {
        Event::Message(m) => {
            stats.delivered(st.spec.transport, 1);
            m.framed(st.spec.framing).clone()
        }
        Event::Gap {
            first_missing,
            first_available,
        } => {
            stats.gap(st.spec.transport);
            frame_gap(
                st.spec.framing,
                st.sub.topic(),
                first_missing,
                first_available,
            )
        }
    }
}
