//! The hub: per-topic sequence numbers, a bounded ring of recent messages, and live broadcast.
//!
//! Publishing takes the topic's lock for a moment: assign the next sequence number, push the
//! message onto the ring (dropping the oldest when full), hand it to the topic's broadcast
//! channel. A subscriber starts from a sequence number (or from now): it gets what the ring still
//! holds after that number, then live messages, with no race between the two because both are
//! taken under the same lock. If it asked for something the ring has dropped, or fell more than
//! `send_queue` messages behind live delivery and the ring has moved on, it gets an explicit
//! [`Event::Gap`] naming what it missed, never a silent skip.
//!
//! Messages are framed lazily, once per framing, and the framed bytes are shared by every
//! subscriber ([`Message::framed`]).
//!
//! A subscriber may also take its messages straight from the publish ([`Subscription::attach`]):
//! each message is offered to the topic's [`Direct`] sinks after the broadcast, in a task of
//! its own per publish, and a sink writes it to its socket there and then, so the subscriber's
//! task is not woken for it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use bytes::Bytes;
use pushbench_wire::envelope::{self, validate_topic, Encoding};
use pushbench_wire::websocket::{self, Opcode};
use pushbench_wire::{iframe, raw_tcp, sse, xhr_stream};
use tokio::sync::broadcast;

use crate::config::Config;

/// Why the hub refused a publish or a subscription. Each becomes a 4xx (HTTP), a close code
/// (WebSocket) or an error frame (raw TCP); none is fatal to the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// The topic name is empty, too long or has characters outside the allowed set.
    #[error("bad topic: {0}")]
    BadTopic(&'static str),
    /// An empty message body.
    #[error("empty message")]
    Empty,
    /// A message body over `--max-message-size`.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the refused message.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A message body that is not UTF-8 (every transport must be able to carry it as text).
    #[error("message is not UTF-8 text")]
    NotUtf8,
    /// Creating the topic would pass `--max-topics`.
    #[error("topic limit of {0} reached")]
    TooManyTopics(usize),
    /// Holding the message would pass `--max-memory`.
    #[error("the server's message memory is full ({used} of {budget} bytes); try again later")]
    MemoryFull {
        /// Bytes held when the publish came.
        used: u64,
        /// The budget.
        budget: u64,
    },
    /// A resume point beyond the newest message: the client saw a different server (or a
    /// restarted one), and starting anywhere would silently lose or repeat messages.
    #[error("after={after} is ahead of the topic's last sequence number {last}")]
    AfterAhead {
        /// What the client asked for.
        after: u64,
        /// The topic's newest sequence number.
        last: u64,
    },
}

/// The framings a message is encoded into. Each is computed at most once per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// An NDJSON line for xhr-stream.
    XhrStream,
    /// A `<script>` call for iframe streaming.
    Iframe,
    /// An SSE event.
    Sse,
    /// A raw TCP envelope frame holding a text envelope.
    RawTcpText,
    /// A raw TCP envelope frame holding a binary envelope.
    RawTcpBinary,
    /// A WebSocket text frame holding a text envelope.
    WebSocketText,
    /// A WebSocket binary frame holding a binary envelope.
    WebSocketBinary,
}

const FRAMINGS: usize = 7;

/// One published message and its lazily computed encodings.
#[derive(Debug)]
pub struct Message {
    /// The topic it was published to.
    pub topic: Arc<str>,
    /// Its per-topic sequence number.
    pub seq: u64,
    /// The publisher's bytes, checked to be UTF-8.
    pub payload: Bytes,
    text: OnceLock<Bytes>,
    binary: OnceLock<Bytes>,
    framed: [OnceLock<Bytes>; FRAMINGS],
    /// How many encodings were computed: what the "encode once" test checks.
    encodes: AtomicU32,
    /// The hub's count of bytes held, which this message adds to and gives back when dropped.
    memory: Arc<Memory>,
}

/// Bytes held in messages, hub-wide: payloads and every encoding computed from them. Each is
/// counted once however many rings, queues and sockets share it, and given back when the last
/// of them lets the message go.
#[derive(Debug, Default)]
pub struct Memory {
    used: AtomicU64,
}

impl Memory {
    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.used.load(Relaxed)
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        self.memory.used.fetch_sub(self.held(), Relaxed);
    }
}

impl Message {
    fn new(topic: Arc<str>, seq: u64, payload: Bytes, memory: Arc<Memory>) -> Self {
        memory.used.fetch_add(payload.len() as u64, Relaxed);
        Message {
            memory,
            topic,
            seq,
            payload,
            text: OnceLock::new(),
            binary: OnceLock::new(),
            framed: Default::default(),
            encodes: AtomicU32::new(0),
        }
    }

    /// Bytes it holds: its payload and every encoding computed so far.
    fn held(&self) -> u64 {
        let encodings = [self.text.get(), self.binary.get()]
            .into_iter()
            .chain(self.framed.iter().map(OnceLock::get))
            .flatten()
            .map(Bytes::len)
            .sum::<usize>();
        (self.payload.len() + encodings) as u64
    }

    fn payload_str(&self) -> &str {
        // Checked at publish time; see `Hub::publish`.
        std::str::from_utf8(&self.payload).expect("payload checked to be UTF-8 at publish")
    }

    fn once<'a, T>(&self, cell: &'a OnceLock<T>, f: impl FnOnce() -> T) -> &'a T {
        cell.get_or_init(|| {
            self.encodes.fetch_add(1, Relaxed);
            f()
        })
    }

    /// [`Self::once`] for an encoding of its own bytes, counted into the hub's memory.
    fn once_counted<'a>(&self, cell: &'a OnceLock<Bytes>, f: impl FnOnce() -> Bytes) -> &'a Bytes {
        self.once(cell, || {
            let bytes = f();
            self.memory.used.fetch_add(bytes.len() as u64, Relaxed);
            bytes
        })
    }

    /// The envelope in `encoding`, as polls, WebSocket binary frames and raw TCP carry it.
    pub fn envelope(&self, encoding: Encoding) -> &Bytes {
        match encoding {
            Encoding::Text => self.once_counted(&self.text, || {
                envelope::encode_text(&self.topic, self.seq, self.payload_str())
            }),
            Encoding::Binary => self.once_counted(&self.binary, || {
                envelope::encode_binary(&self.topic, self.seq, self.payload_str())
            }),
        }
    }

    /// The message framed for one transport; computed by the first subscriber that asks.
    pub fn framed(&self, framing: Framing) -> &Bytes {
        self.once_counted(&self.framed[framing as usize], || {
            let text = || self.envelope(Encoding::Text);
            match framing {
                Framing::XhrStream => xhr_stream::frame(text()),
                Framing::Iframe => iframe::frame(text()),
                Framing::Sse => sse::frame(self.seq, text()),
                Framing::RawTcpText => raw_tcp::envelope(text()),
                Framing::RawTcpBinary => raw_tcp::envelope(self.envelope(Encoding::Binary)),
                Framing::WebSocketText => websocket::server_frame(Opcode::Text, text()),
                Framing::WebSocketBinary => {
                    websocket::server_frame(Opcode::Binary, self.envelope(Encoding::Binary))
                }
            }
        })
    }

    /// How many encodings of this message have been computed so far.
    pub fn encode_count(&self) -> u32 {
        self.encodes.load(Relaxed)
    }
}

/// Frames a gap notice for one transport. Gaps are per subscriber and rare, so they are not cached.
pub fn frame_gap(framing: Framing, topic: &str, first_missing: u64, first_available: u64) -> Bytes {
    let text = || envelope::encode_text_gap(topic, first_missing, first_available);
    match framing {
        Framing::XhrStream => xhr_stream::frame(&text()),
        Framing::Iframe => iframe::frame(&text()),
        Framing::Sse => sse::gap_frame(&text()),
        Framing::RawTcpText => raw_tcp::envelope(&text()),
        Framing::RawTcpBinary => raw_tcp::envelope(&envelope::encode_binary_gap(
            topic,
            first_missing,
            first_available,
        )),
        Framing::WebSocketText => websocket::server_frame(Opcode::Text, &text()),
        Framing::WebSocketBinary => websocket::server_frame(
            Opcode::Binary,
            &envelope::encode_binary_gap(topic, first_missing, first_available),
        ),
    }
}

/// What a subscriber receives next.
#[derive(Debug, Clone)]
pub enum Event {
    /// The next message, in sequence order.
    Message(Arc<Message>),
    /// Messages `first_missing..first_available` are gone; delivery continues at `first_available`.
    Gap {
        /// First sequence number the subscriber will not get.
        first_missing: u64,
        /// First sequence number still held.
        first_available: u64,
    },
}

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the next message published.
    Live,
    /// After this sequence number (0: from the first message the ring holds).
    After(u64),
}

#[derive(Debug)]
struct TopicState {
    last_seq: u64,
    ring: VecDeque<Arc<Message>>,
    /// The subscribers that take messages at the publish. A publish takes it with one
    /// reference count and offers outside the lock.
    direct: Arc<Vec<Arc<dyn Direct>>>,
    /// Long polls waiting for the next message, each offered only that one (see
    /// [`Hub::hold`]): the next publish takes the whole list, so arming one is a push and
    /// answering them all is one swap.
    waiting: Vec<Arc<dyn Direct>>,
}

/// A subscriber that takes each message at the publish, in the publisher's task (see
/// [`Subscription::attach`]).
pub trait Direct: Send + Sync + std::fmt::Debug {
    /// A message just published, offered once, after the publisher's answer, mostly in
    /// sequence order. Offers may come out of order or overlap (several publishers, several
    /// runtime threads); a sink takes only the one after its last and leaves the rest to its
    /// subscription.
    fn offer(&self, message: &Arc<Message>);
}

/// One topic: its state under a lock and its live channel.
#[derive(Debug)]
pub struct Topic {
    name: Arc<str>,
    state: Mutex<TopicState>,
    live: broadcast::Sender<Arc<Message>>,
    /// Milliseconds after the hub started that the topic was last published to or read.
    last_active_ms: AtomicU64,
}

/// What the ring holds after a sequence number: a gap (if it dropped some) and the messages.
type Backlog = (Option<(u64, u64)>, VecDeque<Arc<Message>>);

impl TopicState {
    fn after(&self, after: u64) -> Backlog {
        let Some(oldest) = self.ring.front().map(|m| m.seq) else {
            return (None, VecDeque::new());
        };
        if after + 1 < oldest {
            return (Some((after + 1, oldest)), self.ring.clone());
        }
        let skip = (after + 1 - oldest) as usize;
        (None, self.ring.iter().skip(skip).cloned().collect())
    }
}

/// The shared state of every topic.
#[derive(Debug)]
pub struct Hub {
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    /// The hub's own clock for topic activity.
    started: Instant,
    ring_size: usize,
    send_queue: usize,
    max_message_size: usize,
    max_topics: usize,
    memory: Arc<Memory>,
    max_memory: u64,
}

impl Hub {
    /// An empty hub with the limits in `config`.
    pub fn new(config: &Config) -> Self {
        Hub {
            topics: RwLock::new(HashMap::new()),
            started: Instant::now(),
            ring_size: config.ring_size,
            send_queue: config.send_queue,
            max_message_size: config.max_message_size,
            max_topics: config.max_topics,
            memory: Arc::default(),
            max_memory: config.max_memory as u64,
        }
    }

    /// Bytes held in messages now, and the budget.
    pub fn memory(&self) -> (u64, u64) {
        (self.memory.used(), self.max_memory)
    }

    /// Topics created so far.
    pub fn topic_count(&self) -> usize {
        self.topics.read().expect("topics lock").len()
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, HubError> {
        validate_topic(name).map_err(HubError::BadTopic)?;
        let now = self.now_ms();
        if let Some(t) = self.topics.read().expect("topics lock").get(name) {
            t.last_active_ms.store(now, Relaxed);
            return Ok(t.clone());
        }
        let mut topics = self.topics.write().expect("topics lock");
        if let Some(t) = topics.get(name) {
            t.last_active_ms.store(now, Relaxed);
            return Ok(t.clone());
        }
        if topics.len() >= self.max_topics {
            return Err(HubError::TooManyTopics(self.max_topics));
        }
        let name: Arc<str> = Arc::from(name);
        let topic = Arc::new(Topic {
            name: name.clone(),
            state: Mutex::new(TopicState {
                last_seq: 0,
                ring: VecDeque::with_capacity(self.ring_size.min(1024)),
                direct: Arc::default(),
                waiting: Vec::new(),
            }),
            live: broadcast::channel(self.send_queue).0,
            last_active_ms: AtomicU64::new(now),
        });
        topics.insert(name, topic.clone());
        Ok(topic)
    }

    /// Forgets topics nobody has published to or read for `ttl` and that nobody holds (no
    /// subscription, no request in flight: the map's is the only reference). Their rings go
    /// with them; a later request starts the topic afresh at sequence 1, and a client resuming
    /// with an older `after=` is told (409) rather than silently restarted. Returns how many.
    pub fn expire_idle(&self, ttl: std::time::Duration) -> usize {
        self.expire_idle_at(self.now_ms(), ttl)
    }

    fn expire_idle_at(&self, now_ms: u64, ttl: std::time::Duration) -> usize {
        let ttl_ms = ttl.as_millis() as u64;
        let mut topics = self.topics.write().expect("topics lock");
        let before = topics.len();
        topics.retain(|_, t| {
            Arc::strong_count(t) > 1
                || now_ms.saturating_sub(t.last_active_ms.load(Relaxed)) < ttl_ms
        });
        before - topics.len()
    }

    /// Checks a payload against the limits every publish path shares.
    pub fn check_payload(&self, payload: &[u8]) -> Result<(), HubError> {
        if payload.is_empty() {
            return Err(HubError::Empty);
        }
        if payload.len() > self.max_message_size {
            return Err(HubError::TooLarge {
                len: payload.len(),
                max: self.max_message_size,
            });
        }
        std::str::from_utf8(payload).map_err(|_| HubError::NotUtf8)?;
        Ok(())
    }

    /// The largest payload accepted.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Publishes `payload` to `topic` and returns the message (its `seq` is the assigned number).
    pub fn publish(&self, topic: &str, payload: Bytes) -> Result<Arc<Message>, HubError> {
        self.check_payload(&payload)?;
        // A copy of its own: the publisher's bytes may be a slice of a whole read buffer, which
        // the ring would otherwise keep alive uncounted.
        let payload = Bytes::copy_from_slice(&payload);
        let topic = self.topic(topic)?;
        let mut state = topic.state.lock().expect("topic lock");
        // Checked against what is held, before the message's encodings exist: those are counted
        // as subscribers compute them, so the budget can be passed by at most the encodings of
        // messages already accepted. A full ring gives its oldest message up for this one, so a
        // topic can always replace what it holds.
        let leaving = match state.ring.front() {
            Some(oldest) if state.ring.len() == self.ring_size => oldest.held(),
            _ => 0,
        };
        let used = self.memory.used();
        if (used + payload.len() as u64).saturating_sub(leaving) > self.max_memory {
            return Err(HubError::MemoryFull {
                used,
                budget: self.max_memory,
            });
        }
        state.last_seq += 1;
        let message = Arc::new(Message::new(
            topic.name.clone(),
            state.last_seq,
            payload,
            self.memory.clone(),
        ));
        if state.ring.len() == self.ring_size {
            state.ring.pop_front();
        }
        state.ring.push_back(message.clone());
        // An error only means nobody is listening live right now.
        let _ = topic.live.send(message.clone());
        let direct = state.direct.clone();
        let waiting = std::mem::take(&mut state.waiting);
        drop(state);
        if !direct.is_empty() || !waiting.is_empty() {
            let offered = message.clone();
            let fan_out = move || {
                for sink in direct.iter().chain(&waiting) {
                    sink.offer(&offered);
                }
            };
            match tokio::runtime::Handle::try_current() {
                // A task of its own, which runs once the publisher has its answer: offered in
                // the publish, 1,000 writes held every answer, and the next publish behind it
                // (the publisher ran 28 to 62 ms behind schedule at p99 at 1,000 × 50/s).
                Ok(runtime) => drop(runtime.spawn(async move { fan_out() })),
                Err(_) => fan_out(),
            }
        }
        Ok(message)
    }

    /// What the ring holds after `after`, without subscribing: the short poll.
    pub fn poll(&self, topic: &str, after: u64) -> Result<Vec<Event>, HubError> {
        let topic = self.topic(topic)?;
        let state = topic.state.lock().expect("topic lock");
        check_after(after, state.last_seq)?;
        let (gap, messages) = state.after(after);
        Ok(events(gap, messages))
    }

    /// A long poll on `topic` after `after` (`None`: after the last message published): what
    /// is there already, or, if nothing is, `sink` set to be offered the next message. `arm` is
    /// told which sequence number the sink waits after, under the topic's lock, before the next
    /// publish can offer it. Cheaper than a [`Subscription`] for a poll that takes one answer:
    /// no live receiver is made and dropped, and the task is not woken for the message.
    pub fn hold(
        &self,
        topic: &str,
        after: Option<u64>,
        sink: &Arc<dyn Direct>,
        arm: impl FnOnce(u64),
    ) -> Result<Held, HubError> {
        let topic = self.topic(topic)?;
        let mut state = topic.state.lock().expect("topic lock");
        let after = match after {
            Some(after) => {
                check_after(after, state.last_seq)?;
                after
            }
            None => state.last_seq,
        };
        if after < state.last_seq {
            let (gap, messages) = state.after(after);
            return Ok(Held::Ready(events(gap, messages)));
        }
        arm(after);
        state.waiting.push(sink.clone());
        drop(state);
        Ok(Held::Waiting(topic))
    }

    /// Starts a subscription to `topic`.
    pub fn subscribe(&self, topic: &str, start: Start) -> Result<Subscription, HubError> {
        let topic = self.topic(topic)?;
        let state = topic.state.lock().expect("topic lock");
        let (gap, backlog, last) = match start {
            Start::Live => (None, VecDeque::new(), state.last_seq),
            Start::After(after) => {
                check_after(after, state.last_seq)?;
                let (gap, backlog) = state.after(after);
                (gap, backlog, after)
            }
        };
        let live = topic.live.subscribe();
        drop(state);
        Ok(Subscription {
            topic,
            gap,
            backlog,
            live,
            last,
        })
    }
}

/// A backlog as the events a poll answers with.
fn events(gap: Option<(u64, u64)>, messages: VecDeque<Arc<Message>>) -> Vec<Event> {
    gap.map(|(first_missing, first_available)| Event::Gap {
        first_missing,
        first_available,
    })
    .into_iter()
    .chain(messages.into_iter().map(Event::Message))
    .collect()
}

/// What [`Hub::hold`] found.
#[derive(Debug)]
pub enum Held {
    /// Messages (or a gap) past `after`: the answer, now.
    Ready(Vec<Event>),
    /// Nothing yet: the sink waits in this topic for the next publish.
    Waiting(Arc<Topic>),
}

impl Topic {
    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes a sink [`Hub::hold`] left waiting out of the topic, if no publish has taken it yet.
    pub fn release(&self, sink: &Arc<dyn Direct>) {
        let mut state = self.state.lock().expect("topic lock");
        if let Some(i) = state.waiting.iter().position(|s| Arc::ptr_eq(s, sink)) {
            state.waiting.swap_remove(i);
        }
    }

    /// A subscription after `after`: a held long poll that its task answers after all.
    pub fn subscribe_after(self: &Arc<Self>, after: u64) -> Subscription {
        let state = self.state.lock().expect("topic lock");
        let (gap, backlog) = state.after(after.min(state.last_seq));
        let live = self.live.subscribe();
        drop(state);
        Subscription {
            topic: self.clone(),
            gap,
            backlog,
            live,
            last: after,
        }
    }
}

/// A [`Direct`] sink attached to its topic; detached when dropped.
#[derive(Debug)]
pub struct Attached {
    topic: Arc<Topic>,
    sink: Arc<dyn Direct>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        let mut state = self.topic.state.lock().expect("topic lock");
        let direct = Arc::make_mut(&mut state.direct);
        if let Some(i) = direct.iter().position(|s| Arc::ptr_eq(s, &self.sink)) {
            // Offers go in any order; only each sink's own order matters.
            direct.swap_remove(i);
        }
    }
}

fn check_after(after: u64, last: u64) -> Result<(), HubError> {
    if after > last {
        return Err(HubError::AfterAhead { after, last });
    }
    Ok(())
}

/// One subscriber's position in a topic. Every transport reads its messages through one.
#[derive(Debug)]
pub struct Subscription {
    topic: Arc<Topic>,
    gap: Option<(u64, u64)>,
    backlog: VecDeque<Arc<Message>>,
    live: broadcast::Receiver<Arc<Message>>,
    /// The last sequence number handed out (or the start point): live messages at or below it
    /// are ones the backlog already delivered.
    last: u64,
}

impl Subscription {
    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic.name
    }

    /// The last sequence number delivered (or the start point).
    pub fn last_seq(&self) -> u64 {
        self.last
    }

    /// Offers every message published from now on to `sink` as well, until the returned guard
    /// is dropped. The subscription still receives them: what the sink did not take, it reads
    /// here after [`Self::skip_to`] past what the sink did.
    pub fn attach(&self, sink: Arc<dyn Direct>) -> Attached {
        let mut state = self.topic.state.lock().expect("topic lock");
        // In place unless a publish is offering from it right now (then a copy): a copy per
        // attach made 1,000 subscribers' connects copy 500,000 pointers.
        Arc::make_mut(&mut state.direct).push(sink.clone());
        Attached {
            topic: self.topic.clone(),
            sink,
        }
    }

    /// Counts everything up to `seq` as delivered (by a [`Direct`] sink): the subscription goes
    /// on after it.
    pub fn skip_to(&mut self, seq: u64) {
        if seq <= self.last {
            return;
        }
        self.last = seq;
        if let Some((first_missing, first_available)) = self.gap {
            if first_available <= seq + 1 {
                self.gap = None;
            } else {
                self.gap = Some((first_missing.max(seq + 1), first_available));
            }
        }
        while self.backlog.front().is_some_and(|m| m.seq <= seq) {
            self.backlog.pop_front();
        }
    }

    /// The next event, waiting for one if none is ready. Cancel-safe: dropping the future loses
    /// nothing, so it can sit in a `select!` beside heartbeats and shutdown.
    pub async fn next(&mut self) -> Event {
        loop {
            // What the subscription holds, then the channel: `recv` takes a message already
            // there as `try_recv` would, so asking `try_recv` first would only look twice
            // (and lock the channel twice) when nothing is there, which is nearly every time.
            if let Some(event) = self.take_held() {
                return event;
            }
            match self.live.recv().await {
                Ok(m) => {
                    if let Some(event) = self.accept(m) {
                        return event;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.resync(),
                Err(broadcast::error::RecvError::Closed) => {
                    unreachable!(
                        "the topic holds its sender as long as the subscription holds the topic"
                    )
                }
            }
        }
    }

    /// The next event if one is ready now: lets a writer batch what is queued into one write.
    pub fn try_next(&mut self) -> Option<Event> {
        if let Some(event) = self.take_held() {
            return Some(event);
        }
        loop {
            match self.live.try_recv() {
                Ok(m) => {
                    if let Some(event) = self.accept(m) {
                        return Some(event);
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.resync();
                    return self.try_next();
                }
                Err(_) => return None,
            }
        }
    }

    /// A gap or a message the subscription holds itself (from the ring, at the start or after
    /// a resync), before anything from the live channel.
    fn take_held(&mut self) -> Option<Event> {
        if let Some((first_missing, first_available)) = self.gap.take() {
            self.last = first_available - 1;
            return Some(Event::Gap {
                first_missing,
                first_available,
            });
        }
        let m = self.backlog.pop_front()?;
        self.last = m.seq;
        Some(Event::Message(m))
    }

    fn accept(&mut self, m: Arc<Message>) -> Option<Event> {
        if m.seq <= self.last {
            return None;
        }
        debug_assert_eq!(m.seq, self.last + 1, "live delivery is in order");
        self.last = m.seq;
        Some(Event::Message(m))
    }

    /// Fell more than `send_queue` behind: pick up again from the ring, or with a gap.
    fn resync(&mut self) {
        let state = self.topic.state.lock().expect("topic lock");
        let (gap, backlog) = state.after(self.last);
        self.gap = gap;
        self.backlog = backlog;
        self.live = self.topic.live.subscribe();
    }
}

#[cfg(test)]
mod tests;
