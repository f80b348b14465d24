//! Writing a message into a subscriber's socket from the publish itself, as Nchan's publish
//! loop does, instead of waking the subscriber's task to write it.
//!
//! A stream served directly (see [`crate::stream`]) attaches a [`Sink`] to its topic. While the
//! socket takes every byte at once, each publish writes the shared framed message into it with
//! one non-blocking vectored write, in the publisher's task, and the subscriber's task sleeps
//! (it wakes only for heartbeats, for its socket's input and at shutdown). The first write the
//! socket does not take whole hands the stream back to its task: the sink keeps the unwritten
//! rest, stops taking messages and wakes the task, which writes the rest, then everything the
//! subscription holds past the sink's last message, as any slow subscriber is served, and hands
//! the stream back to the sink once it has caught up.
//!
//! Measured (1,000 SSE and xhr-stream subscribers × 50 messages/s, push-server pinned to one
//! core): see the README's server-efficiency table.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::hub::{Direct, Framing, Message};
use crate::stats::{ConnTag, Stats};

/// A subscriber's socket that the publish writes into while it keeps up.
#[derive(Debug)]
pub struct Sink {
    socket: TcpStream,
    tag: Arc<ConnTag>,
    stats: Arc<Stats>,
    transport: Transport,
    framing: Framing,
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
    /// A sink for `socket`, counting its bytes into `tag`; it takes nothing until
    /// [`Self::resume`].
    pub fn new(
        socket: TcpStream,
        tag: Arc<ConnTag>,
        stats: Arc<Stats>,
        transport: Transport,
        framing: Framing,
    ) -> Self {
        Sink {
            socket,
            tag,
            stats,
            transport,
            framing,
            state: Mutex::default(),
            takeover: Notify::new(),
        }
    }

    /// The socket, for the task's own reads and writes (counted), while the sink takes nothing.
    pub fn io(&self) -> crate::counting::CountingIo<SocketRef<'_>> {
        crate::counting::CountingIo::new(SocketRef(&self.socket), self.tag.clone())
    }

    /// Stops publishes writing and returns what the last one left unwritten and the last
    /// message a publish wrote or began. The task writes from here on.
    pub fn take(&self) -> (Vec<Bytes>, u64) {
        let mut state = self.state.lock().expect("sink lock");
        state.direct = false;
        (std::mem::take(&mut state.rest), state.last)
    }

    /// Lets publishes write again after the last message the task wrote, which `caught_up`
    /// returns if the subscription holds nothing more (else the task writes that first). Asked
    /// under the sink's lock, so no offer can slip between the look and the switch: a message
    /// published after the look is offered after the switch. True if the sink took over.
    pub fn resume(&self, caught_up: impl FnOnce() -> Option<u64>) -> bool {
        let mut state = self.state.lock().expect("sink lock");
        let Some(last) = caught_up() else {
            return false;
        };
        state.direct = true;
        state.last = last;
        true
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
        let written = self.socket.try_write_vectored(&slices[..n]).unwrap_or(0);
        self.tag.wrote(written);
        written
    }
}

/// Keeps what is left of `pieces` after the first `written` bytes.
fn keep_rest(rest: &mut Vec<Bytes>, pieces: &[Bytes], mut written: usize) {
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
            let written = self.write(&chunk);
            if written == chunk.iter().map(|c| c.len()).sum::<usize>() {
                return;
            }
            let pieces = [
                Bytes::copy_from_slice(line),
                frame.clone(),
                Bytes::from_static(b"\r\n"),
            ];
            keep_rest(&mut state.rest, &pieces, written);
        }
        // Not taken whole, or one came out of order (another publisher's is still on its way):
        // the task writes from here, from the subscription.
        state.direct = false;
        drop(state);
        self.takeover.notify_one();
    }
}

/// A shared reference to a socket that reads and writes as the socket does: the task's side
/// of a [`Sink`], whose publishes write through another reference meanwhile.
#[derive(Debug)]
pub struct SocketRef<'a>(&'a TcpStream);

impl AsyncRead for SocketRef<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SocketRef<'_> {
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
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown(2) on a socket this reference keeps open.
        let rc = unsafe { libc::shutdown(self.0.as_raw_fd(), libc::SHUT_WR) };
        Poll::Ready(if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        })
    }
}
