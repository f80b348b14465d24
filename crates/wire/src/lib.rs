//! The bytes pushbench puts on the wire, as pure functions with no I/O.
//!
//! # Layout
//! - [`envelope`]: the application message every transport carries byte-for-byte (topic,
//!   sequence number, payload), in a text (JSON) and a binary form, plus the explicit gap notice
//!   a subscriber gets when the server no longer holds what it asked for.
//! - [`transport`]: the transports by name, with push-server's endpoints.
//! - One module per transport's framing, named as the server and load-gen modules are:
//!   [`poll`] (short and long polling share a response body), [`xhr_stream`] (NDJSON),
//!   [`iframe`] (htmlfile `<script>` calls), [`multipart`] (`multipart/mixed` parts, as Nchan
//!   streams them; push-server does not serve it), [`sse`] (event stream), [`websocket`] (frame sizes and
//!   client masking; the frames themselves come from tungstenite) and [`raw_tcp`]
//!   (length-prefixed frames).
//! - [`chunked`]: HTTP/1.1 chunked decoding with framing counted, for clients that account bytes.
//! - [`probe`]: the payload load-gen publishes, which carries the intended send time;
//!   [`testdata`]: the seeded payloads benchmarks and tests share.
//!
//! Data flows one way: push-server encodes an [`envelope`] once per message and hands it to each
//! transport's `frame` function once; the framed bytes are shared by every subscriber. load-gen
//! runs the same module's parser over what arrives on its sockets, and reads the [`probe`] inside
//! the payload to compute latency.

pub mod chunked;
pub mod envelope;
pub mod iframe;
pub mod multipart;
pub mod poll;
pub mod probe;
pub mod raw_tcp;
pub mod sse;
pub mod testdata;
pub mod transport;
pub mod websocket;
pub mod xhr_stream;

pub use envelope::{Decoded, Encoding, EnvelopeError, Gap, Message};
pub use transport::Transport;
