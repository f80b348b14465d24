//! One subscriber client per transport, all speaking the framing in `pushbench-wire`.
//!
//! Each transport module has a `session` that opens one connection (or, for polling, runs one
//! polling loop), subscribes, reports ready, waits for the run to start, then decodes envelopes
//! into [`State::envelope`] until cancelled. [`run_subscriber`] wraps sessions in the reconnect
//! loop every real client has: after an error it reconnects and resumes from the last sequence
//! number it saw, so a reconnect costs connections and bytes, not messages.
//!
//! Bytes: a session tallies setup, heads and payload per connection in `State::conn`;
//! [`State::finish_conn`] then takes the socket's totals, calls whatever remains framing, and
//! reads the kernel's `TCP_INFO` for the cross-check.

pub mod fault;
pub mod iframe;
pub mod multipart;
pub mod poll;
pub mod publish;
pub mod raw_tcp;
pub mod restart;
pub mod sse;
pub mod upstream;
pub mod websocket;
pub mod xhr_stream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushbench_results::model::ByteCounts;
use pushbench_results::Traffic;
use pushbench_wire::envelope::{self, Decoded, Encoding, EnvelopeError};
use pushbench_wire::raw_tcp::FrameError;
use pushbench_wire::{probe, Transport};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_util::sync::CancellationToken;

use crate::http1::{Http1, HttpError};
use crate::metrics::Recorder;
use crate::net::{self, Conn, Counted};
use crate::pacer::Pacer;
use crate::profile::{self, Fill, Framing, Profile, Resume};
use crate::scenario::{DropFault, Reconnect, RequestHeaders};
use crate::seqtrack::{Arrival, SeqTracker};
use fault::{Backoff, DropSchedule};
use restart::Epochs;

/// Where the server under test listens. Clients build URLs from this, never from push-server's
/// defaults, so a target profile for another server only changes this.
#[derive(Debug, Clone)]
pub struct Target {
    /// The HTTP port.
    pub http: SocketAddr,
    /// The raw TCP port, if the server has one.
    pub tcp: Option<SocketAddr>,
    /// The `host` header value.
    pub host: String,
    /// The network namespace to connect from: the clients' or the server's side of an
    /// emulated link (`network`); `None`: load-gen's own (loopback).
    pub ns: Option<Arc<crate::link::Netns>>,
    /// Whether, and how, subscribers speak TLS to the ports above (`tls = true`).
    pub tls: Option<crate::tls::TlsClient>,
}

/// What every subscriber of one transport's run shares.
#[derive(Debug)]
pub struct Shared {
    /// Where subscribers connect: the server, or the proxy in front of it (`--via`).
    pub target: Target,
    /// Where push publishers publish: always the server itself.
    pub publish_target: Target,
    /// What its requests and messages look like.
    pub profile: &'static Profile,
    /// Cancelled to end the run (drain over, or Ctrl-C).
    pub cancel: CancellationToken,
    /// Subscribers that have subscribed and are waiting for the start.
    pub ready: AtomicUsize,
    /// Subscribers subscribed now (a session that reached [`State::ready`] and has not ended).
    pub subscribed: AtomicUsize,
    /// The fewest subscribed since the timeline's last sample took it (it then starts again
    /// from the number subscribed), so a dip shorter than the sampling step still shows.
    pub fewest_subscribed: AtomicUsize,
    /// Carries the run's recorder once the schedule starts.
    pub start: watch::Receiver<Option<Arc<Recorder>>>,
    /// Envelope encoding, for transports that have a binary form.
    pub encoding: Encoding,
    /// Short-poll period.
    pub poll_interval: Duration,
    /// Short-poll: a fresh connection per poll.
    pub poll_new_connection: bool,
    /// Long-poll hold asked of the server.
    pub long_poll_timeout: Duration,
    /// Whether subscribers speak HTTP/2 (`http = "2"`): prior knowledge in plaintext, ALPN
    /// `h2` over TLS.
    pub http2: bool,
    /// With `multiplex`: the HTTP/2 connections subscribers share.
    pub h2_pool: Option<crate::http2::Pool>,
    /// Headers every request carries besides `host` (the scenario's `request_headers`).
    pub headers: Vec<(&'static str, String)>,
    /// The same, rendered as header lines for the HTTP client.
    pub header_block: Arc<str>,
    /// Wakes publishers at their intended send times (see [`crate::pacer`]).
    pub pacer: Pacer,
    /// Set by the first subscriber whose decoder cannot read what the server sent (see
    /// [`ClientError::is_mismatch`]); that subscriber also cancels the run, which fails with this.
    pub mismatch: std::sync::OnceLock<String>,
    /// The scenario's drop fault, and until when in the schedule it drops (warm-up and
    /// duration).
    pub drop: Option<(DropFault, Duration)>,
    /// How clients wait before reconnecting.
    pub reconnect: Reconnect,
    /// The scenario's seed, for each client's drop phase and reconnect jitter.
    pub seed: u64,
    /// With a restart fault: the server's lives and how their numbers map onto the run's.
    pub epochs: Option<Arc<Epochs>>,
}

/// The headers a request carries besides `host` for a scenario's `request_headers`: nothing, or
/// what Chromium sends with `fetch` from a page on `host` (about 480 bytes with the cookie).
pub fn request_headers(profile: RequestHeaders, host: &str) -> Vec<(&'static str, String)> {
    match profile {
        RequestHeaders::Minimal => Vec::new(),
        RequestHeaders::Browser => vec![
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36".into()),
            ("accept", "*/*".into()),
            ("accept-encoding", "gzip, deflate, br, zstd".into()),
            ("accept-language", "en-US,en;q=0.9".into()),
            ("cache-control", "no-cache".into()),
            ("pragma", "no-cache".into()),
            ("referer", format!("http://{host}/")),
            ("sec-fetch-dest", "empty".into()),
            ("sec-fetch-mode", "cors".into()),
            ("sec-fetch-site", "same-origin".into()),
            ("cookie", "session=5f2b8c1e9a7d4b3c8e6f0a1d2c3b4a59; theme=light".into()),
        ],
    }
}

/// `headers` as `name: value\r\n` lines.
pub fn header_block(headers: &[(&'static str, String)]) -> Arc<str> {
    headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect::<String>()
        .into()
}

/// One subscriber's identity.
#[derive(Debug)]
pub struct Client {
    /// Client number: picks the source address.
    pub index: usize,
    /// Which of the run's topics it receives.
    pub topic_index: usize,
    /// That topic's name.
    pub topic: String,
    /// For bidirectional workloads on WebSocket and raw TCP: what this client publishes through
    /// its own socket, and when.
    pub upstream: Option<upstream::Upstream>,
}

/// Why a session ended early. Every variant ends the session; the reconnect loop in
/// [`run_subscriber`] counts it as a client error and opens a new one.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An HTTP exchange failed (the connection broke, or the answer was malformed).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// A socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket protocol failed (handshake refused, bad frame).
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// A subscribe request was answered with something other than 200.
    #[error("GET {request} answered {status}: {body}")]
    Refused {
        /// The request's path and query.
        request: String,
        /// The status code.
        status: u16,
        /// The answer's body, trimmed: the server's reason.
        body: String,
    },
    /// A body or frame did not hold a valid envelope.
    #[error("protocol: {0}")]
    Envelope(#[from] EnvelopeError),
    /// A raw TCP frame could not be decoded.
    #[error("protocol: {0}")]
    Frame(#[from] FrameError),
    /// The raw TCP server sent an error frame.
    #[error("server error: {0}")]
    ServerError(String),
    /// The raw TCP server sent a frame that does not belong here.
    #[error("protocol: expected {expected}, got {got}")]
    UnexpectedFrame {
        /// What the client waited for.
        expected: &'static str,
        /// What came, for diagnosis.
        got: String,
    },
    /// The server closed the connection, ended the stream or closed the WebSocket while the
    /// client still expected messages.
    #[error("protocol: the server ended {0}")]
    Ended(&'static str),
    /// The server closed the WebSocket with a close frame.
    #[error("protocol: server closed the websocket: {0:?}")]
    WebSocketClosed(Option<CloseFrame>),
    /// A message arrived before the schedule started: it cannot have been published by this run.
    #[error("protocol: a message arrived before the run started")]
    EarlyMessage,
    /// A message's payload is not a probe from load-gen (or, from a server that delivers bodies
    /// alone, carries no sequence number), so it cannot be measured: the start of what came.
    #[error("protocol: payload is not a pushbench probe (its start: {0:?})")]
    NotAProbe(String),
    /// Bytes from the server the profile's decoder cannot read as messages: the profile does not
    /// describe this server's framing.
    #[error("protocol: {why}; the server sent: {seen:?}")]
    Undecodable {
        /// What did not match.
        why: String,
        /// The bytes, quoted up to [`QUOTED`] bytes.
        seen: String,
    },
    /// The target has no raw TCP address (`--target` without `--target-tcp`).
    #[error("the target has no raw TCP port")]
    NoRawTcpPort,
    /// A scenario header value is not valid in a WebSocket handshake.
    #[error("header {0} is not a valid value")]
    BadHeader(&'static str),
    /// A message of a restarted server's life arrived before that life's numbering was known
    /// (its publisher sets it before publishing there, so this is load-gen's own fault).
    #[error("a message of the server's life {0} arrived before its publisher connected")]
    UnknownLife(u32),
}

/// How much of what a server sent an error quotes.
pub const QUOTED: usize = 200;

/// A stream whose decoder has produced nothing though a probe has arrived in its bytes fails
/// this long after the probe came: time for the rest of a message split across reads.
pub const NOTHING_DECODED_AFTER: Duration = Duration::from_secs(1);

fn quote(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

impl ClientError {
    /// A payload that is not a probe, quoted up to 60 bytes.
    pub fn not_a_probe(payload: &[u8]) -> Self {
        ClientError::NotAProbe(quote(payload, 60))
    }

    /// `bytes` from the server that could not be decoded, for the reason `why`.
    pub fn undecodable(why: impl ToString, bytes: &[u8]) -> Self {
        ClientError::Undecodable {
            why: why.to_string(),
            seen: quote(bytes, QUOTED),
        }
    }

    /// The server answered, and what it sent is not what the profile says: the framing is
    /// wrong, or the payloads are not load-gen's probes. Reconnecting cannot help, and every
    /// other subscriber will see the same, so the run stops at once with the bytes.
    pub fn is_mismatch(&self) -> bool {
        matches!(
            self,
            ClientError::Undecodable { .. }
                | ClientError::NotAProbe(_)
                | ClientError::Frame(_)
                | ClientError::Envelope(_)
        )
    }

    /// The server refused to resume after the client's last sequence number because its topic
    /// has no such message: it is not the process the client saw before (a restart emptied its
    /// hub). HTTP answers 409, raw TCP an error frame saying so.
    pub fn is_forgotten(&self) -> bool {
        match self {
            ClientError::Refused { status, .. } => *status == 409,
            ClientError::Ws(tokio_tungstenite::tungstenite::Error::Http(answer)) => {
                answer.status() == 409
            }
            ClientError::ServerError(reason) => {
                reason.contains(pushbench_wire::raw_tcp::AFTER_AHEAD)
            }
            _ => false,
        }
    }

    /// A subscribe request answered `status` with `body`.
    pub fn refused(request: &str, status: u16, body: &[u8]) -> Self {
        ClientError::Refused {
            request: request.into(),
            status,
            body: String::from_utf8_lossy(body).trim().into(),
        }
    }
}

/// A subscriber's running state across reconnects.
#[derive(Debug)]
pub struct State {
    /// Counters so far.
    pub report: Traffic,
    /// Sequence accounting for the client's topic.
    pub tracker: SeqTracker,
    /// The current connection's byte tallies (framing is derived at close).
    pub conn: ByteCounts,
    recorder: Option<Arc<Recorder>>,
    /// New messages decoded from the current read, recorded together by [`State::flush`].
    batch: Vec<(u64, probe::Probe)>,
    /// Where a server without sequence numbers in its messages left this client: the last SSE
    /// id, or the last poll answer's cache validators (see [`Resume`]).
    cursor: Cursor,
    index: usize,
    topic_index: usize,
    /// When this client drops its connection, with the run's start that times it.
    drops: Option<Drops>,
    /// The current session has subscribed (reached [`State::ready`]).
    subscribed: bool,
    /// When the client's last connection ended (schedule ns), until it subscribes again.
    left_ns: Option<u64>,
    /// The last time the client was away, `(left, back)`: messages meant for then are replays.
    away: Option<(u64, u64)>,
    /// The reconnection time the server asked for (SSE's `retry:`): EventSource waits exactly
    /// this before reconnecting, instead of the scenario's `reconnect` waits.
    retry: Option<Duration>,
    /// Where to resume in the server's own numbering (`after=`): the sequence number, as the
    /// server gave it, of the newest message seen; 0 once a restarted server forgot it.
    hub_cursor: u64,
    /// With a restart fault: the server's lives, the life of the current connection, its base
    /// once looked up, and the last life in which this client was subscribed.
    epochs: Option<Arc<Epochs>>,
    life: u32,
    base: Option<u64>,
    back_in: u32,
    /// The namespace its connections are made from (the target's).
    ns: Option<Arc<crate::link::Netns>>,
    /// How long its connections may bring nothing before it gives up on them: the scenario's
    /// heartbeat timeout, plus the server's hold for a long poll.
    heartbeat_timeout: Option<Duration>,
}

#[derive(Debug)]
struct Drops {
    schedule: DropSchedule,
    how: crate::scenario::DropHow,
    start: watch::Receiver<Option<Arc<Recorder>>>,
}

impl State {
    /// Client `index`'s state before its first connection, subscribed to topic `topic_index`.
    pub fn new(index: usize, topic_index: usize) -> Self {
        State {
            report: Traffic::default(),
            tracker: SeqTracker::starting_after(0),
            conn: ByteCounts::default(),
            recorder: None,
            batch: Vec::new(),
            cursor: Cursor::default(),
            index,
            topic_index,
            drops: None,
            subscribed: false,
            left_ns: None,
            away: None,
            retry: None,
            hub_cursor: 0,
            epochs: None,
            life: 0,
            base: None,
            back_in: 0,
            ns: None,
            heartbeat_timeout: None,
        }
    }

    /// Signals ready the first time, then waits for the run to start. `None`: cancelled.
    pub async fn ready(&mut self, shared: &Shared) -> Option<Arc<Recorder>> {
        if !self.subscribed {
            shared.subscribed.fetch_add(1, Relaxed);
        }
        self.subscribed = true;
        if let Some(r) = &self.recorder {
            if let Some(left) = self.left_ns.take() {
                let back = r.clock.now_ns();
                r.reconnected(left, back);
                self.away = Some((left, back));
            }
            if let Some(epochs) = self.epochs.as_ref().filter(|_| self.life > self.back_in) {
                self.back_in = self.life;
                epochs.back(r.clock.now_ns());
            }
            return Some(r.clone());
        }
        shared.ready.fetch_add(1, Relaxed);
        let mut start = shared.start.clone();
        let recorder = tokio::select! {
            _ = shared.cancel.cancelled() => return None,
            r = start.wait_for(Option::is_some) => r.ok()?.clone()?,
        };
        self.recorder = Some(recorder.clone());
        Some(recorder)
    }

    /// One message as the server framed it: an envelope, or (for [`Framing::Body`]) the
    /// published body whose probe carries the sequence number.
    pub fn item(
        &mut self,
        bytes: &[u8],
        framing: Framing,
        encoding: Encoding,
    ) -> Result<(), ClientError> {
        match framing {
            Framing::Envelope => self.envelope(bytes, encoding),
            Framing::Body => self.body(bytes),
        }
    }

    /// A published body delivered as it was published; [`State::flush`] records it.
    pub fn body(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        if self.recorder.is_none() {
            return Err(ClientError::EarlyMessage);
        }
        let probe = std::str::from_utf8(bytes)
            .ok()
            .and_then(probe::parse)
            .ok_or_else(|| ClientError::not_a_probe(bytes))?;
        let seq = probe.seq.ok_or_else(|| ClientError::not_a_probe(bytes))?;
        self.conn.payload_down += bytes.len() as u64;
        if self.tracker.arrive(seq) != Arrival::Duplicate {
            self.batch.push((seq, probe));
        }
        // The publisher's numbers are the server's here (it has none of its own).
        if self.tracker.highest() == seq {
            self.hub_cursor = seq;
        }
        Ok(())
    }

    /// Decodes one envelope as received; [`State::flush`] records it once the read that carried
    /// it is fully decoded.
    pub fn envelope(&mut self, bytes: &[u8], encoding: Encoding) -> Result<(), ClientError> {
        let decoded =
            envelope::decode(encoding, bytes).map_err(|e| ClientError::undecodable(e, bytes))?;
        self.decoded(bytes.len(), decoded)
    }

    /// An envelope of `len` bytes, already decoded (see [`State::envelope`]).
    pub fn decoded(&mut self, len: usize, decoded: Decoded<'_>) -> Result<(), ClientError> {
        if self.recorder.is_none() {
            return Err(ClientError::EarlyMessage);
        }
        match decoded {
            Decoded::Message(m) => {
                self.conn.payload_down += len as u64;
                let base = self.base()?;
                let seq = base + m.seq;
                if self.tracker.arrive(seq) != Arrival::Duplicate {
                    let probe = probe::parse(&m.payload)
                        .ok_or_else(|| ClientError::not_a_probe(m.payload.as_bytes()))?;
                    self.batch.push((seq, probe));
                }
                if self.tracker.highest() == seq {
                    self.hub_cursor = m.seq;
                }
            }
            Decoded::Gap(g) => {
                let base = self.base()?;
                self.tracker
                    .gap(base + g.first_missing, base + g.first_available);
                if self.tracker.highest() == base + g.first_available - 1 {
                    self.hub_cursor = g.first_available - 1;
                }
            }
        }
        Ok(())
    }

    /// The run's sequence number just before the current connection's life's first message: 0
    /// without a restart fault.
    fn base(&mut self) -> Result<u64, ClientError> {
        if let Some(base) = self.base {
            return Ok(base);
        }
        let Some(epochs) = &self.epochs else {
            return Ok(0);
        };
        let base = epochs
            .base(self.life, self.topic_index)
            .ok_or(ClientError::UnknownLife(self.life))?;
        self.base = Some(base);
        Ok(base)
    }

    /// Records every message decoded since the last flush as received now: the moment the read
    /// that carried them is fully decoded.
    pub fn flush(&mut self) {
        if let (Some(recorder), false) = (&self.recorder, self.batch.is_empty()) {
            let now = recorder.clock.now_ns();
            recorder.messages(self.topic_index, &self.batch, now);
            if let Some((left, back)) = self.away {
                recorder.replayed(&self.batch, now, left, back);
            }
            self.batch.clear();
        }
    }

    /// Closes the books on one connection: derives framing and reads `TCP_INFO`.
    pub fn finish_conn(&mut self, io: &Counted) {
        self.finish_totals(&io.totals());
    }

    /// Closes the books on one connection from what its socket moved.
    pub fn finish_totals(&mut self, io: &net::Totals) {
        net::close_books(std::mem::take(&mut self.conn), &mut self.report, io);
    }

    /// Lets go of an HTTP/2 connection: its own is closed and its books with it (see
    /// [`crate::http2::close_books`]); a pooled one's share hands what this client counted to
    /// the connection's books.
    pub async fn finish_h2(&mut self, conn: crate::http2::H2Conn, heads_are_setup: bool) {
        match conn {
            crate::http2::H2Conn::Own(h2) => {
                let closed = h2.close().await;
                let books = std::mem::take(&mut self.conn);
                crate::http2::close_books(books, &mut self.report, closed, heads_are_setup);
            }
            crate::http2::H2Conn::Leased(lease) => lease.release(&mut self.conn),
        }
    }

    /// An HTTP/2 connection to the target: a share of a pooled one with `multiplex`, else one of
    /// its own.
    pub async fn open_h2(&mut self, shared: &Shared) -> Result<crate::http2::H2Conn, ClientError> {
        let tls = shared.target.tls.as_ref().map(|t| (t, true));
        let Some(pool) = &shared.h2_pool else {
            let io = self.connect(shared.target.http, tls).await?;
            let h2 = crate::http2::H2::handshake(io, &shared.target.host).await?;
            return Ok(crate::http2::H2Conn::Own(h2));
        };
        let mut slot = pool.slot(self.index).await;
        if slot.is_none() {
            let io = self.connect(shared.target.http, tls).await?;
            // The handshake's bytes are the connection's, not this client's.
            let books = std::mem::take(&mut self.conn);
            let h2 = crate::http2::H2::handshake(io, &shared.target.host).await?;
            *slot = Some(crate::http2::Pooled::new(h2, books));
        }
        let lease = slot.as_ref().expect("opened above").lease();
        Ok(crate::http2::H2Conn::Leased(lease))
    }

    /// Opens a counted connection to `addr`, to be dropped at this client's next drop time.
    /// Over TLS if `tls` is given (for HTTP, or raw TCP if `(tls, false)`): its handshake's
    /// bytes are this connection's setup.
    pub async fn connect(
        &mut self,
        addr: SocketAddr,
        tls: Option<(&crate::tls::TlsClient, bool)>,
    ) -> Result<Conn, ClientError> {
        self.report.connections += 1;
        let mut io = net::connect_from(self.ns.as_deref(), addr, self.index).await?;
        if let Some(limit) = self.heartbeat_timeout {
            io.idle_after(limit);
        }
        if let Some(epochs) = &self.epochs {
            // Read right after the connect returned: see `restart` for why that names the
            // process that accepted it.
            self.life = epochs.current();
            self.base = None;
            if let (true, Some(recorder)) = (self.life > 0, &self.recorder) {
                epochs.connected(recorder.clock.now_ns());
            }
        }
        if let Some(drops) = &mut self.drops {
            // Drops due while the client was away are not this connection's.
            if let Some(recorder) = &self.recorder {
                drops
                    .schedule
                    .skip_until(Duration::from_nanos(recorder.clock.now_ns()));
            }
            if let Some(at) = drops.schedule.next() {
                io.drop_at(at, drops.how, drops.start.clone());
            }
        }
        let Some((tls, http)) = tls else {
            return Ok(Conn::plain(io));
        };
        let conn = Conn::tls(io, tls, http).await?;
        let [up, down] = conn.handshake();
        self.conn.setup_up += up;
        self.conn.setup_down += down;
        self.report.tls.handshakes += 1;
        self.report.tls.handshake_up += up;
        self.report.tls.handshake_down += down;
        Ok(conn)
    }

    /// Where to resume: the last sequence number seen, as the server numbered it.
    pub fn resume_after(&self) -> u64 {
        self.hub_cursor
    }

    /// Whether the session that just failed was ended by the server's restart: its connection
    /// belonged to an earlier life, or the server is being restarted.
    fn ended_by_restart(&self) -> bool {
        self.epochs
            .as_ref()
            .is_some_and(|e| e.is_down() || self.life < e.current())
    }

    /// The subscribe path for `transport` on `shared`'s server, written into `out`.
    pub fn subscribe_path(
        &self,
        shared: &Shared,
        transport: Transport,
        topic: &str,
        out: &mut String,
    ) {
        let template = shared.profile.subscribe(transport).map_or("", |s| s.path);
        let encoding = match shared.encoding {
            Encoding::Text => "text",
            Encoding::Binary => "binary",
        };
        profile::render(
            out,
            template,
            Fill {
                topic,
                after: self.resume_after(),
                timeout_ms: shared.long_poll_timeout.as_millis() as u64,
                encoding,
            },
        );
    }

    /// The headers that select `transport` on `shared`'s server and say where to resume, for
    /// conventions other than `{after}` in the path. Owned, so the state stays free to change
    /// while the request is made (push-server's profile has none: nothing is allocated).
    pub fn subscribe_headers(
        &self,
        shared: &Shared,
        transport: Transport,
    ) -> Vec<(&'static str, String)> {
        let Some(sub) = shared.profile.subscribe(transport) else {
            return Vec::new();
        };
        let mut headers: Vec<(&'static str, String)> = sub
            .headers
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        match sub.resume {
            Resume::LastEventId => {
                if let Some(id) = &self.cursor.last_event_id {
                    headers.push(("last-event-id", id.clone()));
                }
            }
            Resume::CacheHeaders => {
                if let Some(v) = &self.cursor.validators {
                    if let Some(lm) = &v.last_modified {
                        headers.push(("if-modified-since", lm.clone()));
                    }
                    if let Some(tag) = &v.etag {
                        headers.push(("if-none-match", tag.clone()));
                    }
                }
            }
            Resume::After | Resume::None => {}
        }
        headers
    }

    /// Notes where a resumable stream or poll left off.
    pub fn advance_cursor(
        &mut self,
        last_event_id: Option<&str>,
        validators: Option<&crate::http1::Validators>,
    ) {
        if let Some(id) = last_event_id {
            if self.cursor.last_event_id.as_deref() != Some(id) {
                self.cursor.last_event_id = Some(id.to_owned());
            }
        }
        if let Some(v) = validators {
            self.cursor.validators = Some(Box::new(v.clone()));
        }
    }
}

/// See [`State::advance_cursor`].
#[derive(Debug, Default)]
struct Cursor {
    last_event_id: Option<String>,
    validators: Option<Box<crate::http1::Validators>>,
}

/// Runs one subscriber until `shared.cancel`; returns what it measured and its tracker.
pub async fn run_subscriber(
    transport: Transport,
    shared: Arc<Shared>,
    mut client: Client,
) -> (Traffic, SeqTracker, usize) {
    let mut st = State::new(client.index, client.topic_index);
    st.epochs = shared.epochs.clone();
    st.ns = shared.target.ns.clone();
    st.heartbeat_timeout = shared.reconnect.heartbeat_timeout.map(|t| match transport {
        Transport::LongPoll => t + shared.long_poll_timeout,
        _ => t,
    });
    st.drops = shared.drop.map(|(fault, until)| Drops {
        schedule: DropSchedule::new(fault, until, shared.seed, client.index),
        how: fault.how,
        start: shared.start.clone(),
    });
    let mut backoff = Backoff::new(shared.reconnect, shared.seed, client.index);
    // Bounded, so a server that refuses everything ends the client instead of spinning; the
    // sessions the drop fault ends do not count.
    const MAX_SESSIONS: u32 = 100;
    let mut failed = 0;
    while failed < MAX_SESSIONS {
        st.subscribed = false;
        let result = match transport {
            Transport::ShortPoll => poll::session(&shared, &client, &mut st, false).await,
            Transport::LongPoll => poll::session(&shared, &client, &mut st, true).await,
            Transport::XhrStream => xhr_stream::session(&shared, &client, &mut st).await,
            Transport::MultipartMixed => multipart::session(&shared, &client, &mut st).await,
            Transport::Iframe => iframe::session(&shared, &client, &mut st).await,
            Transport::Sse => sse::session(&shared, &client, &mut st).await,
            Transport::WebSocket => websocket::session(&shared, &mut client, &mut st).await,
            Transport::RawTcp => raw_tcp::session(&shared, &mut client, &mut st).await,
        };
        if let (Some(up), Some(recorder)) = (&mut client.upstream, &st.recorder) {
            up.settle_unsent(recorder, false);
        }
        if st.subscribed {
            let now = shared.subscribed.fetch_sub(1, Relaxed) - 1;
            shared.fewest_subscribed.fetch_min(now, Relaxed);
        }
        if let (Err(_), Some(recorder)) = (&result, &st.recorder) {
            // Away from now until the next session is subscribed (an earlier failed attempt's
            // start stands: the client has been away since then).
            st.left_ns.get_or_insert(recorder.clock.now_ns());
        }
        match result {
            Ok(()) => break,
            Err(e) if fault::is_dropped(&e) => {
                st.report.drops += 1;
                if let Some(drops) = &mut st.drops {
                    drops.schedule.advance();
                }
            }
            Err(e) if e.is_forgotten() && st.epochs.is_some() => {
                // The restarted server has no message after our cursor: what we missed is
                // counted as lost by the sequence accounting (the run's numbers went on), and
                // we subscribe afresh from the new process's first message, at once, as a
                // client does after a refused resume (a page opens a new EventSource, which
                // sends no Last-Event-ID).
                failed += 1;
                st.report.forgotten += 1;
                st.hub_cursor = 0;
                st.cursor = Cursor::default();
                continue;
            }
            Err(_) if st.ended_by_restart() => st.report.restart_failures += 1,
            // The connection went silent: given up and replaced, as the transport's client
            // does, not an error of the server's.
            Err(e) if fault::caused_by::<crate::net::HeartbeatTimeout>(&e) => {
                st.report.heartbeat_timeouts += 1;
            }
            Err(e) => {
                failed += 1;
                st.report.errors += 1;
                st.report.last_error = Some(e.to_string());
                if e.is_mismatch() {
                    let framing = match shared.profile.framing {
                        Framing::Envelope => "envelope",
                        Framing::Body => "body",
                    };
                    let _ = shared.mismatch.set(format!(
                        "the {} profile does not describe what the server sent on {transport} (framing = \"{framing}\"): {e}",
                        shared.profile.name
                    ));
                    shared.cancel.cancel();
                    break;
                }
                tracing::debug!(%transport, client = client.index, error = %e, "reconnecting");
            }
        }
        if shared.cancel.is_cancelled() {
            break;
        }
        if st.subscribed {
            backoff.subscribed();
        }
        let wait = st.retry.unwrap_or_else(|| backoff.next_wait());
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // Whatever this client was still to publish, it will not: release the drain's wait for it.
    // A client that never saw the run start takes the recorder from the start signal.
    let recorder = st
        .recorder
        .clone()
        .or_else(|| shared.start.borrow().clone());
    if let (Some(up), Some(recorder)) = (&mut client.upstream, recorder) {
        up.settle_unsent(&recorder, true);
    }
    (st.report, st.tracker, client.topic_index)
}

/// Turns each chunk of a streamed body into complete messages (envelopes, or bodies).
pub trait StreamParser: Send {
    /// Takes what the parser needs from the response head (a multipart boundary), before any
    /// of the body.
    fn head(&mut self, _head: &crate::http1::Head) -> Result<(), ClientError> {
        Ok(())
    }

    /// Adds `data` and appends every message it completes to `out`. `ends` are the offsets in
    /// `data` where an HTTP chunk ended, for servers that send one message per chunk.
    fn push(
        &mut self,
        data: &[u8],
        ends: &[usize],
        out: &mut Vec<Bytes>,
    ) -> Result<(), ClientError>;

    /// The id to resume from, for parsers of streams that carry one (SSE).
    fn resume_id(&self) -> Option<&str> {
        None
    }

    /// The validators to resume from, for parsers of streams whose messages carry them
    /// (multipart parts).
    fn validators(&self) -> Option<&crate::http1::Validators> {
        None
    }

    /// The reconnection time the stream asked for (SSE's `retry:`).
    fn retry(&self) -> Option<Duration> {
        None
    }
}

/// A streamed body whose every HTTP chunk is one published body (Nchan's `chunked`).
#[derive(Debug, Default)]
pub struct ChunkBodies {
    partial: BytesMut,
}

impl StreamParser for ChunkBodies {
    fn push(
        &mut self,
        data: &[u8],
        ends: &[usize],
        out: &mut Vec<Bytes>,
    ) -> Result<(), ClientError> {
        let mut start = 0;
        for &end in ends {
            self.partial.extend_from_slice(&data[start..end]);
            out.push(self.partial.split().freeze());
            start = end;
        }
        self.partial.extend_from_slice(&data[start..]);
        Ok(())
    }
}

/// A stream's body until its first message decodes: if a probe shows up in it and no message
/// comes out of the decoder within [`NOTHING_DECODED_AFTER`], the decoder does not match the
/// server's framing. Heartbeats and a slow server carry no probe, so neither is mistaken for it.
#[derive(Debug, Default)]
struct FirstMessage {
    /// The stream's first bytes, up to [`QUOTED`], for the error.
    seen: Vec<u8>,
    /// Body bytes so far.
    bytes: u64,
    /// A message has decoded: nothing more to watch.
    matched: bool,
    /// When a probe was seen with nothing decoded.
    deadline: Option<tokio::time::Instant>,
}

impl FirstMessage {
    /// Takes one read's body bytes; returns a deadline the first time a probe is seen in them
    /// while `nothing_decoded`.
    fn watch(&mut self, data: &[u8], nothing_decoded: bool) -> Option<tokio::time::Instant> {
        if self.matched {
            return None;
        }
        if !nothing_decoded {
            self.matched = true;
            self.deadline = None;
            return None;
        }
        self.bytes += data.len() as u64;
        let room = QUOTED.saturating_sub(self.seen.len());
        self.seen.extend_from_slice(&data[..data.len().min(room)]);
        if self.deadline.is_none() && probe::find(data).is_some() {
            self.deadline = Some(tokio::time::Instant::now() + NOTHING_DECODED_AFTER);
            return self.deadline;
        }
        None
    }
}

/// The session shared by xhr-stream, iframe and SSE: one GET for `transport`'s path on the
/// profile, then a chunked body (or one that runs until close) parsed by `parser`. The request
/// and response heads count as connection setup. Over HTTP/2 (`http = "2"`) the GET is a
/// stream on a connection of its own (or, with `multiplex`, a shared one), and the body its
/// DATA frames.
pub async fn stream_session(
    shared: &Shared,
    st: &mut State,
    transport: Transport,
    topic: &str,
    parser: impl StreamParser,
) -> Result<(), ClientError> {
    let mut target = String::new();
    st.subscribe_path(shared, transport, topic, &mut target);
    let headers = st.subscribe_headers(shared, transport);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let target = target.as_str();
    if shared.http2 {
        let mut h2 = st.open_h2(shared).await?;
        let result = async {
            st.report.requests += 1;
            let answer = h2.requester().get(target, &headers).await?;
            let (parts, body) = answer.into_parts();
            let head = crate::http2::head(&parts);
            let body = StreamBody::H2(body);
            read_stream(shared, st, target, head, body, parser).await
        }
        .await;
        st.finish_h2(h2, true).await;
        return result;
    }
    let io = st
        .connect(
            shared.target.http,
            shared.target.tls.as_ref().map(|t| (t, true)),
        )
        .await?;
    let mut http = Http1::new(io, &shared.target.host, shared.header_block.clone());
    let result = async {
        st.conn.setup_up += http.request("GET", target, &headers, b"").await? as u64;
        st.report.requests += 1;
        let head = http.read_head().await?;
        st.conn.setup_down += head.len as u64;
        let chunked = matches!(head.body, crate::http1::BodyKind::Chunked);
        let body = StreamBody::H1 {
            http: &mut http,
            chunked,
            decoder: pushbench_wire::chunked::ChunkedDecoder::new(),
        };
        read_stream(shared, st, target, head, body, parser).await
    }
    .await;
    st.finish_conn(&http.io);
    result
}

/// A streamed response's body, over either HTTP.
enum StreamBody<'a> {
    H1 {
        http: &'a mut Http1,
        chunked: bool,
        decoder: pushbench_wire::chunked::ChunkedDecoder,
    },
    H2(hyper::body::Incoming),
}

impl StreamBody<'_> {
    /// Moves what arrived of the body to `data` (an HTTP/1.1 chunk's or an HTTP/2 DATA frame's
    /// end pushed onto `ends`); returns whether the body has ended.
    async fn read(
        &mut self,
        data: &mut BytesMut,
        ends: &mut Vec<usize>,
    ) -> Result<bool, HttpError> {
        match self {
            StreamBody::H1 {
                http,
                chunked,
                decoder,
            } => http.read_stream(*chunked, decoder, data, ends).await,
            StreamBody::H2(body) => crate::http2::read_data(body, data, ends).await,
        }
    }

    /// The whole body of a refusal.
    async fn rest(self, head: &crate::http1::Head) -> Result<Bytes, HttpError> {
        match self {
            StreamBody::H1 { http, .. } => Ok(http.read_body(head).await?.0),
            StreamBody::H2(body) => crate::http2::read_all(body).await,
        }
    }
}

/// A stream's answer from its head on: refused unless 200, else every message the body brings,
/// until cancelled or the stream ends.
async fn read_stream(
    shared: &Shared,
    st: &mut State,
    target: &str,
    head: crate::http1::Head,
    mut body: StreamBody<'_>,
    mut parser: impl StreamParser,
) -> Result<(), ClientError> {
    let framing = shared.profile.framing;
    if head.status != 200 {
        let rest = body.rest(&head).await?;
        return Err(ClientError::refused(target, head.status, &rest));
    }
    parser.head(&head)?;
    let Some(_) = st.ready(shared).await else {
        return Ok(());
    };
    let mut data = BytesMut::new();
    let (mut ends, mut messages) = (Vec::new(), Vec::new());
    // One cancellation waiter for the session, not one registered per read.
    let cancelled = shared.cancel.cancelled();
    tokio::pin!(cancelled);
    let mut first = FirstMessage::default();
    let never = tokio::time::sleep(Duration::MAX);
    tokio::pin!(never);
    loop {
        let done = tokio::select! {
            _ = &mut cancelled => return Ok(()),
            r = body.read(&mut data, &mut ends) => r?,
            _ = &mut never, if first.deadline.is_some() => {
                return Err(ClientError::undecodable(
                    format!("a probe arrived {NOTHING_DECODED_AFTER:?} ago and the decoder has found no message in the {} bytes of the stream", first.bytes),
                    &first.seen,
                ));
            }
        };
        parser.push(&data, &ends, &mut messages)?;
        st.retry = parser.retry().or(st.retry);
        if let Some(deadline) = first.watch(&data, messages.is_empty()) {
            never.as_mut().reset(deadline);
        }
        data.clear();
        ends.clear();
        for m in messages.drain(..) {
            st.item(&m, framing, Encoding::Text)?;
        }
        if framing == Framing::Body {
            st.advance_cursor(parser.resume_id(), parser.validators());
        }
        st.flush();
        if done {
            return Err(ClientError::Ended("the stream"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What subscribers of a run against `addr` share, reconnecting as `reconnect` says.
    fn shared(addr: SocketAddr, reconnect: Reconnect) -> Shared {
        Shared {
            target: Target {
                http: addr,
                tcp: Some(addr),
                host: addr.to_string(),
                ns: None,
                tls: None,
            },
            publish_target: Target {
                http: addr,
                tcp: Some(addr),
                host: addr.to_string(),
                ns: None,
                tls: None,
            },
            profile: crate::profile::ServerKind::Pushbench.profile(),
            cancel: CancellationToken::new(),
            ready: AtomicUsize::new(0),
            subscribed: AtomicUsize::new(0),
            fewest_subscribed: AtomicUsize::new(0),
            start: watch::channel(None).1,
            encoding: Encoding::Text,
            poll_interval: Duration::from_millis(100),
            poll_new_connection: false,
            long_poll_timeout: Duration::from_secs(30),
            http2: false,
            h2_pool: None,
            headers: Vec::new(),
            header_block: header_block(&[]),
            pacer: Pacer::start(Duration::ZERO, Duration::ZERO).unwrap(),
            mismatch: Default::default(),
            drop: None,
            reconnect,
            seed: 7,
            epochs: None,
        }
    }

    /// On the paused clock the waits are exact: a server that accepts and at once closes every
    /// connection sees the client's attempts spaced by its backoff's waits, doubling from
    /// `delay` up to `max_delay`, each spread by the jitter drawn for that client.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_cannot_subscribe_waits_its_backoff_between_attempts() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let reconnect = Reconnect {
            delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            jitter: 0.5,
            heartbeat_timeout: None,
        };
        let shared = Arc::new(shared(listener.local_addr().unwrap(), reconnect));
        let client = Client {
            index: 3,
            topic_index: 0,
            topic: "t".into(),
            upstream: None,
        };
        let task = tokio::spawn(run_subscriber(Transport::RawTcp, shared.clone(), client));
        let mut at = Vec::new();
        for _ in 0..8 {
            let (socket, _) = listener.accept().await.unwrap();
            at.push(tokio::time::Instant::now());
            drop(socket);
        }
        shared.cancel.cancel();
        let (traffic, _, _) = task.await.unwrap();
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        let mut backoff = Backoff::new(reconnect, 7, 3);
        // Tokio's timers fire on whole milliseconds, the next one at or after the deadline.
        let expected: Vec<Duration> = (0..7)
            .map(|_| {
                Duration::from_millis(backoff.next_wait().as_nanos().div_ceil(1_000_000) as u64)
            })
            .collect();
        assert_eq!(gaps, expected);
        // Doubling, spread by at most half, capped: the fifth wait on are 1 s ± 0.5 s.
        for (i, gap) in gaps.iter().enumerate() {
            let base = Duration::from_millis(100 << i.min(10)).min(reconnect.max_delay);
            assert!(
                *gap >= base / 2 && *gap <= base * 3 / 2,
                "wait {i}: {gap:?}"
            );
        }
        assert!(gaps.iter().collect::<std::collections::HashSet<_>>().len() > 1);
        assert_eq!(traffic.errors, 8, "{:?}", traffic.last_error);
        assert_eq!(traffic.connections, 8);
    }

    #[tokio::test]
    async fn only_a_probe_the_decoder_cannot_read_starts_the_clock() {
        let mut first = FirstMessage::default();
        // Heartbeats, a prelude, an SSE id of Nchan's: no probe, however long they go on.
        let quiet = [
            &b": hb\n\n"[..],
            b"<script>p(0)</script>\n",
            b"id: 1700000000:0\n",
        ];
        for bytes in quiet {
            assert_eq!(first.watch(bytes, true), None);
        }
        let probe = b"data: 20000000:20000100:0:xxxx";
        assert!(first.watch(probe, true).is_some());
        assert_eq!(first.watch(b"more", true), None, "armed once");
        let quiet_len: usize = quiet.iter().map(|b| b.len()).sum();
        assert_eq!(first.bytes as usize, quiet_len + probe.len() + 4);
        assert!(first.seen.starts_with(b": hb\n\n<script>"));
        // The message completes: the decoder matches, and nothing is watched any more.
        assert_eq!(first.watch(b"\n\n", false), None);
        assert!(first.deadline.is_none() && first.matched);
        assert_eq!(first.watch(b"20000000:20000100:0:", true), None);
    }

    #[tokio::test]
    async fn the_quote_stops_at_its_limit() {
        let mut first = FirstMessage::default();
        first.watch(&[b'a'; 150], true);
        first.watch(&[b'b'; 150], true);
        assert_eq!(first.seen.len(), QUOTED);
        assert_eq!(first.bytes, 300);
    }
}
