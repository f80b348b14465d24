//! Writing a message into a subscriber's socket from the publish itself, as Nchan's publish
//! loop does, instead of waking the subscriber's task to write it.
//!
//! A stream served directly (see [`crate::stream`]) and a WebSocket session on the connection
//! as accepted (see [`crate::websocket`]) attach a [`Sink`] to their topic. While the
//! socket takes every byte at once, each publish writes the shared framed message into it with
//! one non-blocking vectored write, in the publisher's task, and the subscriber's task sleeps
//! (it wakes only for heartbeats, for its socket's input and at shutdown). The first write the
//! socket does not take whole hands the stream back to its task: the sink keeps the unwritten
//! rest, stops taking messages and wakes the task, which writes the rest, then everything the
//! subscription holds past the sink's last message, as any slow subscriber is served, and hands
//! the stream back to the sink once it has caught up.
//!
//! The task's own writes (a stream's heartbeats; tungstenite's pings, pongs and close) go
//! through [`Sink::io`], which stops the publishes writing first, so bytes of the two never
//! interleave inside a frame. Measured (1,000 subscribers × 50 messages/s, push-server on one
//! core): see the README's server-efficiency table.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::hub::{Direct, Event, Framing, Message, Subscription};
use crate::stats::{ConnTag, Stats};
use crate::vectored;

/// A subscriber's socket that the publish writes into while it keeps up.
#[derive(Debug)]
pub struct Sink {
    socket: TcpStream,
    tag: Arc<ConnTag>,
    stats: Arc<Stats>,
    transport: Transport,
    framing: Framing,
    /// Whether each message goes out as an HTTP/1.1 chunk (the HTTP streams) or as framed
    /// (WebSocket's frames).
    chunked: bool,
    state: Mutex<State>,
    /// Wakes the subscriber's task to write on its own.
    takeover: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Whether publishes write into the socket now (else its task does).
    direct: bool,
    /// The last message written, or begun, by a publish.
    last: u64,
    /// What a publish could not write: the rest of its message, for the task to write first.
    rest: Vec<Bytes>,
}

impl Sink {
    /// A sink for `socket`, counting its bytes into `tag`, writing `transport`'s messages as
    /// `framing`, each in an HTTP/1.1 chunk if `chunked`; it takes nothing until
    /// [`Self::resume`].
    pub fn new(
        socket: TcpStream,
        tag: Arc<ConnTag>,
        stats: Arc<Stats>,
        transport: Transport,
        framing: Framing,
        chunked: bool,
    ) -> Self {
        Sink {
            socket,
            tag,
            stats,
            transport,
            framing,
            chunked,
            state: Mutex::default(),
            takeover: Notify::new(),
        }
    }

    /// The socket for the task's own reads and writes (counted). A write through it first
    /// stops the publishes writing and writes what the last one left, so bytes of the task's
    /// (a WebSocket library's pong, say) never land inside a message; the task is woken to
    /// take over, as when a publish cannot write.
    pub fn io(&self) -> SinkIo<'_> {
        SinkIo(self)
    }

    /// Stops publishes writing; returns the last message a publish wrote or began. The task
    /// writes from here on, through [`Self::io`], which first finishes what a publish began.
    pub fn stop(&self) -> u64 {
        let mut state = self.state.lock().expect("sink lock");
        state.direct = false;
        state.last
    }

    /// Lets publishes write again after the last message the task wrote, which `caught_up`
    /// returns if the subscription holds nothing more (else the task writes that first). Asked
    /// under the sink's lock, so no offer can slip between the look and the switch: a message
    /// published after the look is offered after the switch. True if the sink took over.
    /// What a publish left must have been written (flush [`Self::io`]) first.
    pub fn resume(&self, caught_up: impl FnOnce() -> Option<u64>) -> bool {
        let mut state = self.state.lock().expect("sink lock");
        debug_assert!(
            state.rest.is_empty(),
            "the task resumes with nothing left to write"
        );
        let Some(last) = caught_up() else {
            return false;
        };
        state.direct = true;
        state.last = last;
        true
    }

    /// [`Self::resume`] after the last message `sub` delivered, if it holds nothing more; else
    /// the next event it holds, for the task to write first.
    pub fn resume_after(&self, sub: &mut Subscription) -> Result<(), Event> {
        let mut next = None;
        if self.resume(|| {
            next = sub.try_next();
            next.is_none().then(|| sub.last_seq())
        }) {
            return Ok(());
        }
        Err(next.expect("the sink stays with the task only when the subscription held an event"))
    }

    /// Writes `pieces` now if publishes write and the socket takes them whole. Otherwise keeps
    /// them, after anything a publish left, for the task, which must take over (false).
    pub fn try_write(&self, pieces: &[Bytes]) -> bool {
        let mut state = self.state.lock().expect("sink lock");
        let slices: Vec<&[u8]> = pieces.iter().map(|p| &p[..]).collect();
        let written = if state.direct { self.write(&slices) } else { 0 };
        if written == slices.iter().map(|s| s.len()).sum::<usize>() {
            return true;
        }
        keep_rest(&mut state.rest, pieces, written);
        state.direct = false;
        false
    }

    /// Waits until a publish hands the stream back to the task.
    pub async fn taken_over(&self) {
        self.takeover.notified().await
    }

    /// One non-blocking write of `pieces` (at most three); how many bytes the socket took.
    fn write(&self, pieces: &[&[u8]]) -> usize {
        let slices: [IoSlice<'_>; 3] =
            std::array::from_fn(|i| IoSlice::new(pieces.get(i).copied().unwrap_or_default()));
        let n = pieces.len().min(slices.len());
        // WouldBlock, or an error the task meets again on its own next write.
        let written = self.send(&slices[..n]).unwrap_or(0);
        self.tag.wrote(written);
        written
    }
}

impl Sink {
    /// One non-blocking send on the socket (see [`vectored::send`]), through tokio's readiness
    /// so a full socket is waited for as after any write.
    fn send(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.socket);
        self.socket
            .try_io(Interest::WRITABLE, || vectored::send(fd, slices))
    }
}

/// Keeps what is left of `pieces` after the first `written` bytes.
pub(crate) fn keep_rest(rest: &mut Vec<Bytes>, pieces: &[Bytes], mut written: usize) {
    for piece in pieces {
        if written >= piece.len() {
            written -= piece.len();
            continue;
        }
        rest.push(piece.slice(written..));
        written = 0;
    }
}

impl Direct for Sink {
    fn offer(&self, message: &Arc<Message>) {
        let mut state = self.state.lock().expect("sink lock");
        if !state.direct || message.seq <= state.last {
            return;
        }
        if message.seq == state.last + 1 {
            self.stats.delivered(self.transport, 1);
            state.last = message.seq;
            let frame = message.framed(self.framing);
            // The chunk's size line on the stack: copied only if the socket does not take it.
            let mut line = [0u8; crate::stream::SIZE_LINE];
            let line = crate::stream::size_line(&mut line, frame.len());
            let chunk = [line, &frame[..], b"\r\n"];
            let pieces = if self.chunked {
                &chunk[..]
            } else {
                &chunk[1..2]
            };
            let written = self.write(pieces);
            if written == pieces.iter().map(|c| c.len()).sum::<usize>() {
                return;
            }
            let owned = [
                Bytes::copy_from_slice(line),
                frame.clone(),
                Bytes::from_static(b"\r\n"),
            ];
            let owned = if self.chunked {
                &owned[..]
            } else {
                &owned[1..2]
            };
            keep_rest(&mut state.rest, owned, written);
        }
        // Not taken whole, or one came out of order (another publisher's is still on its way):
        // the task writes from here, from the subscription.
        state.direct = false;
        drop(state);
        self.takeover.notify_one();
    }
}

/// The task's side of a [`Sink`]'s socket (see [`Sink::io`]).
#[derive(Debug)]
pub struct SinkIo<'a>(&'a Sink);

impl SinkIo<'_> {
    /// Stops the publishes writing and writes what the last one left; ready once it is out.
    fn poll_rest(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let sink = self.0;
        loop {
            let mut state = sink.state.lock().expect("sink lock");
            if state.direct {
                state.direct = false;
                sink.takeover.notify_one();
            }
            if state.rest.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let slices: Vec<IoSlice<'_>> = state.rest.iter().map(|b| IoSlice::new(b)).collect();
            match sink.send(&slices) {
                Ok(n) => {
                    sink.tag.wrote(n);
                    let rest = std::mem::take(&mut state.rest);
                    keep_rest(&mut state.rest, &rest, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(state);
                    ready!(sink.socket.poll_write_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for SinkIo<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let sink = self.0;
        loop {
            ready!(sink.socket.poll_read_ready(cx))?;
            match sink.socket.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    sink.tag.read(n);
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SinkIo<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_rest(cx))?;
        let sink = self.0;
        loop {
            ready!(sink.socket.poll_write_ready(cx))?;
            match sink.send(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => {
                    if let Ok(n) = result {
                        sink.tag.wrote(n);
                    }
                    return Poll::Ready(result);
                }
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_rest(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_rest(cx))?;
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown(2) on a socket the sink keeps open.
        let rc = unsafe { libc::shutdown(self.0.socket.as_raw_fd(), libc::SHUT_WR) };
        Poll::Ready(if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Hub;
    use crate::Config;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What `client` has been sent, after a moment to let it arrive.
    async fn received(client: &mut TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(100), client.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    /// A write of the task's own (tungstenite's pong) stops the publishes writing, so their
    /// frames cannot land inside one of its frames, until the task hands the socket back.
    #[tokio::test]
    async fn a_write_of_the_task_stops_the_publishes_until_it_hands_the_socket_back() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let stats = Arc::new(Stats::default());
        let sink = Sink::new(
            server,
            Arc::new(ConnTag::new(stats.clone())),
            stats,
            Transport::WebSocket,
            Framing::WebSocketText,
            false,
        );
        let hub = Hub::new(&Config::default());
        let publish = |body: &'static str| hub.publish("t", Bytes::from_static(body.as_bytes()));
        let first = publish("one").unwrap();
        sink.offer(&first);
        assert!(
            received(&mut client).await.is_empty(),
            "not handed over yet"
        );
        assert!(sink.resume(|| Some(0)));
        sink.offer(&first);
        let framed = first.framed(Framing::WebSocketText).to_vec();
        assert_eq!(
            received(&mut client).await,
            framed,
            "written by the publish"
        );
        // The task writes: the publishes stop, and the task is told to take over.
        sink.io().write_all(b"PONG").await.unwrap();
        let second = publish("two").unwrap();
        sink.offer(&second);
        assert_eq!(received(&mut client).await, b"PONG");
        tokio::time::timeout(Duration::from_secs(1), sink.taken_over())
            .await
            .expect("the task is woken to take over");
        // The task writes the second itself, and hands back after it.
        assert_eq!(sink.stop(), 1);
        assert!(sink.resume(|| Some(2)));
        let third = publish("three").unwrap();
        sink.offer(&third);
        assert_eq!(
            received(&mut client).await,
            third.framed(Framing::WebSocketText).to_vec()
        );
    }
}
