//! Sockets as the clients use them: connected from a spread of loopback source addresses, with
//! every byte counted in user space and cross-checked against the kernel's `TCP_INFO`.

use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use pushbench_results::model::KernelBytes;
use std::future::Future;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::client::fault::DroppedByFault;
use crate::metrics::Recorder;
use crate::scenario::DropHow;

/// What a counted socket moved, as a connection's books are closed with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Bytes written (client → server).
    pub up: u64,
    /// Bytes read (server → client).
    pub down: u64,
    /// The kernel's counters (`TCP_INFO`), where it has them.
    pub kernel: Option<KernelBytes>,
    /// TLS records after the handshake, up and down; `None` without TLS.
    pub records: Option<[u64; 2]>,
}

/// Closes the books on one connection into `report`: `b` is what its clients counted by phase;
/// whatever the socket moved that no phase claims is framing; the kernel's counters and the TLS
/// records are added alongside.
pub fn close_books(
    mut b: pushbench_results::model::ByteCounts,
    report: &mut pushbench_results::Traffic,
    io: &Totals,
) {
    b.framing_from_totals(io.up, io.down);
    report.bytes += b;
    if let Some(k) = io.kernel {
        report.kernel += k;
    }
    if let Some([up, down]) = io.records {
        report.tls.records_up += up;
        report.tls.records_down += down;
    }
}

/// A TCP stream that counts the bytes moved through it.
#[derive(Debug)]
pub struct Counted {
    inner: TcpStream,
    /// Bytes written (client → server).
    pub up: u64,
    /// Bytes read (server → client).
    pub down: u64,
    /// When the scenario's drop fault ends this connection, if it does.
    drop: Option<Drop>,
    /// The kernel's counters when the drop ended the connection: read then, before the
    /// client's FIN (or reset) could bring the server's FIN in, and while nothing was read any
    /// more, so they agree with what the client counted.
    kernel_at_drop: Option<KernelBytes>,
    /// A read returned end of stream: the server's FIN has arrived (and the kernel counted it
    /// as a received byte), whatever state the socket is in when its counters are read.
    eof: bool,
    /// The heartbeat timeout, if the client keeps one ([`Counted::idle_after`]).
    idle: Option<Idle>,
    /// Under TLS, its records counted as they pass ([`Counted::count_records`]).
    records: Option<Box<Records>>,
}

/// A TLS connection's records, up and down, and how many the handshake took.
#[derive(Debug, Default)]
struct Records {
    up: crate::tls::RecordCounter,
    down: crate::tls::RecordCounter,
    at_handshake: [u64; 2],
}

/// Reads fail with [`HeartbeatTimeout`] once nothing was read or written for `limit`.
#[derive(Debug)]
struct Idle {
    limit: Duration,
    last: tokio::time::Instant,
    /// Armed at the first wait; moved on only when it fires, not at every byte, so a busy
    /// stream costs no timer updates.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The error inside the `io::Error` of a connection that brought nothing for the client's
/// heartbeat timeout (the scenario's `reconnect.heartbeat_timeout`).
#[derive(Debug)]
pub struct HeartbeatTimeout(pub Duration);

impl std::fmt::Display for HeartbeatTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nothing from the server for {:?} (the heartbeat timeout): the connection is taken for dead",
            self.0
        )
    }
}

impl std::error::Error for HeartbeatTimeout {}

struct Drop {
    /// When, in the run's schedule time.
    offset: Duration,
    /// The run's start, which fixes when that is; a connection opened before it (every first
    /// one) arms its timer at its first read or write after it.
    start: watch::Receiver<Option<Arc<Recorder>>>,
    at: Option<Pin<Box<tokio::time::Sleep>>>,
    how: DropHow,
    done: bool,
}

impl std::fmt::Debug for Drop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drop")
            .field("offset", &self.offset)
            .field("how", &self.how)
            .field("done", &self.done)
            .finish()
    }
}

impl Counted {
    /// Wraps a connected stream.
    pub fn new(inner: TcpStream) -> Self {
        Counted {
            inner,
            up: 0,
            down: 0,
            drop: None,
            kernel_at_drop: None,
            eof: false,
            idle: None,
            records: None,
        }
    }

    /// Counts the TLS records that pass from now on (call before the handshake).
    pub fn count_records(&mut self) {
        self.records = Some(Box::default());
    }

    /// Marks the end of the TLS handshake: records from here on carry the connection's traffic.
    pub fn handshake_done(&mut self) {
        if let Some(r) = &mut self.records {
            r.at_handshake = [r.up.records, r.down.records];
        }
    }

    /// TLS records after the handshake, up and down; `None` without TLS.
    pub fn records_after_handshake(&self) -> Option<[u64; 2]> {
        self.records.as_ref().map(|r| {
            [
                r.up.records - r.at_handshake[0],
                r.down.records - r.at_handshake[1],
            ]
        })
    }

    /// Fails a read with [`HeartbeatTimeout`] once nothing has been read or written for
    /// `limit`, as a client with a heartbeat timeout gives up on a connection gone silent.
    pub fn idle_after(&mut self, limit: Duration) {
        self.idle = Some(Idle {
            limit,
            last: tokio::time::Instant::now(),
            timer: None,
        });
    }

    /// Notes traffic for the heartbeat timeout.
    fn active(&mut self) {
        if let Some(idle) = &mut self.idle {
            idle.last = tokio::time::Instant::now();
        }
    }

    /// The heartbeat timeout's error once nothing has moved for its limit; registers the task
    /// to be woken then otherwise.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(idle) = &mut self.idle else {
            return Poll::Pending;
        };
        let timer = idle
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(idle.last + idle.limit)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = idle.last + idle.limit;
            if due > tokio::time::Instant::now() {
                timer.as_mut().reset(due);
                continue;
            }
            return Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                HeartbeatTimeout(idle.limit),
            ));
        }
    }

    /// Whether the server has closed this idle connection: its FIN (or a reset) is waiting to
    /// be read. An HTTP client checks a kept-alive connection so before reusing it (hyper's
    /// pool does), instead of writing a request into a connection the server has let go; and
    /// the FIN, which the kernel counts as a received byte, is then accounted for (the socket
    /// is in CLOSE_WAIT when its counters are read).
    pub fn closed_by_peer(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: a non-blocking peek of at most one byte into a local buffer.
        let n = unsafe {
            libc::recv(
                self.inner.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n == 0 || (n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock)
    }

    /// Drops the connection at `at`, as `how` says: from then on its reads (a pending one
    /// included) and writes fail with [`DroppedByFault`], so the session using it ends as on
    /// any broken connection, and the socket is closed when the session lets it go.
    pub fn drop_at(
        &mut self,
        offset: Duration,
        how: DropHow,
        start: watch::Receiver<Option<Arc<Recorder>>>,
    ) {
        self.drop = Some(Drop {
            offset,
            start,
            at: None,
            how,
            done: false,
        });
    }

    /// The drop's error once its time has come (and the socket shut as it asks); registers the
    /// task to be woken at that time otherwise.
    fn poll_drop(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(drop) = &mut self.drop else {
            return Poll::Pending;
        };
        if drop.at.is_none() {
            let Some(recorder) = drop.start.borrow().clone() else {
                return Poll::Pending;
            };
            let at = recorder.clock.at(drop.offset.as_nanos() as u64);
            drop.at = Some(Box::pin(tokio::time::sleep_until(at.into())));
        }
        let at = drop.at.as_mut().expect("armed above");
        if at.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if !drop.done {
            drop.done = true;
            self.kernel_at_drop = tcp_info(&self.inner);
            let _ = match drop.how {
                // The client's FIN goes out now; `close` follows when the session lets go.
                DropHow::Close => {
                    // SAFETY: shutting down the writing side of a socket we own.
                    let rc = unsafe { libc::shutdown(self.inner.as_raw_fd(), libc::SHUT_WR) };
                    if rc == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                }
                // `close` then sends a RST instead of a FIN.
                DropHow::Reset => self.inner.set_zero_linger(),
            };
        }
        Poll::Ready(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            DroppedByFault,
        ))
    }

    /// The kernel's counters for this socket (as they were when a drop ended it).
    pub fn tcp_info(&self) -> Option<KernelBytes> {
        self.kernel_at_drop
            .or_else(|| tcp_info_after(&self.inner, self.eof))
    }

    /// What the socket moved so far, with the kernel's counters read now.
    pub fn totals(&self) -> Totals {
        Totals {
            up: self.up,
            down: self.down,
            kernel: self.tcp_info(),
            records: self.records_after_handshake(),
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Poll::Ready(e) = self.poll_drop(cx) {
            return Poll::Ready(Err(e));
        }
        let (before, room) = (buf.filled().len(), buf.remaining());
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.down += read as u64;
        if let Some(r) = &mut self.records {
            r.down.feed(&buf.filled()[before..]);
        }
        if matches!(r, Poll::Ready(Ok(()))) && read == 0 && room > 0 {
            self.eof = true;
        }
        if r.is_pending() {
            if let Poll::Ready(e) = self.poll_idle(cx) {
                return Poll::Ready(Err(e));
            }
        } else if read > 0 {
            self.active();
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(e) = self.poll_drop(cx) {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.up += n as u64;
            if let Some(records) = &mut self.records {
                records.up.feed(&buf[..n]);
            }
            self.active();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(e) = self.poll_drop(cx) {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.up += n as u64;
            if let Some(records) = &mut self.records {
                let mut left = n;
                for b in bufs {
                    let take = left.min(b.len());
                    records.up.feed(&b[..take]);
                    left -= take;
                }
            }
            self.active();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A client connection: the counted socket, or TLS over it. It derefs to the counted socket
/// (bytes at the socket, `TCP_INFO`, faults, the heartbeat timeout), and counts what passes
/// above TLS too, so a phase the client knows in plaintext (a WebSocket upgrade, a raw TCP
/// subscription) is counted without TLS's record overhead, which goes to framing.
#[derive(Debug)]
pub struct Conn {
    kind: ConnKind,
    /// Bytes of the TLS handshake, up and down (zero without TLS): the connection's setup.
    handshake: [u64; 2],
    /// Bytes written above TLS (without TLS, at the socket).
    pub plain_up: u64,
    /// Bytes read above TLS.
    pub plain_down: u64,
}

#[derive(Debug)]
enum ConnKind {
    Plain(Counted),
    Tls(Box<tokio_rustls::client::TlsStream<Counted>>),
}

impl Conn {
    /// A plain connection.
    pub fn plain(io: Counted) -> Conn {
        Conn {
            kind: ConnKind::Plain(io),
            handshake: [0, 0],
            plain_up: 0,
            plain_down: 0,
        }
    }

    /// TLS over `io`, once its handshake is through: for HTTP if `http`, else raw TCP.
    pub async fn tls(
        mut io: Counted,
        client: &crate::tls::TlsClient,
        http: bool,
    ) -> io::Result<Conn> {
        io.count_records();
        let config = if http { &client.http } else { &client.raw };
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let mut tls = connector.connect(client.name.clone(), io).await?;
        tls.get_mut().0.handshake_done();
        let counted = tls.get_ref().0;
        Ok(Conn {
            handshake: [counted.up, counted.down],
            kind: ConnKind::Tls(Box::new(tls)),
            plain_up: 0,
            plain_down: 0,
        })
    }

    /// Bytes of the TLS handshake, up and down (zero without TLS).
    pub fn handshake(&self) -> [u64; 2] {
        self.handshake
    }

    /// What the TLS handshake settled on, `None` without TLS.
    pub fn negotiated(&self) -> Option<crate::tls::Negotiated> {
        match &self.kind {
            ConnKind::Plain(_) => None,
            ConnKind::Tls(tls) => Some(crate::tls::Negotiated::of(tls.get_ref().1)),
        }
    }
}

impl std::ops::Deref for Conn {
    type Target = Counted;

    fn deref(&self) -> &Counted {
        match &self.kind {
            ConnKind::Plain(io) => io,
            ConnKind::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Counted {
        match &mut self.kind {
            ConnKind::Plain(io) => io,
            ConnKind::Tls(tls) => tls.get_mut().0,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = match &mut self.kind {
            ConnKind::Plain(io) => Pin::new(io).poll_read(cx, buf),
            ConnKind::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        };
        self.plain_down += (buf.filled().len() - before) as u64;
        r
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = match &mut self.kind {
            ConnKind::Plain(io) => Pin::new(io).poll_write(cx, buf),
            ConnKind::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        };
        if let Poll::Ready(Ok(n)) = r {
            self.plain_up += n as u64;
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = match &mut self.kind {
            ConnKind::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            ConnKind::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        };
        if let Poll::Ready(Ok(n)) = r {
            self.plain_up += n as u64;
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        match &self.kind {
            ConnKind::Plain(io) => io.is_write_vectored(),
            ConnKind::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.kind {
            ConnKind::Plain(io) => Pin::new(io).poll_flush(cx),
            ConnKind::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.kind {
            ConnKind::Plain(io) => Pin::new(io).poll_shutdown(cx),
            ConnKind::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The prefix of Linux's `struct tcp_info` up to `tcpi_bytes_retrans` (Linux 4.19; the kernel
/// only ever appends to the struct). libc's copy stops before the byte counters.
#[repr(C)]
#[derive(Default)]
struct TcpInfoPrefix {
    u8_fields: [u8; 8],
    u32_fields: [u32; 24],
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
    delivery_rate: u64,
    busy_time: u64,
    rwnd_limited: u64,
    sndbuf_limited: u64,
    delivered: u32,
    delivered_ce: u32,
    bytes_sent: u64,
    bytes_retrans: u64,
}

/// Reads `TCP_INFO`; `None` on kernels too old to report these byte counters.
pub fn tcp_info(stream: &TcpStream) -> Option<KernelBytes> {
    tcp_info_after(stream, false)
}

/// [`tcp_info`] of a stream whose reader has (`eof`) or has not seen the end of the stream.
fn tcp_info_after(stream: &TcpStream, eof: bool) -> Option<KernelBytes> {
    // Bytes received but not read yet (a session stopped mid-stream) are the kernel's, not
    // ours. Data still arriving would make the two readings disagree (counted by one and not
    // the other), so the count of unread bytes is read on both sides of `TCP_INFO`: equal, no
    // byte arrived in between (it only grows while nothing reads).
    let mut attempt = 0;
    let (info, unread) = loop {
        let before = unread_bytes(stream);
        let info = tcp_info_prefix(stream)?;
        let after = unread_bytes(stream);
        attempt += 1;
        if before == after || attempt == 5 {
            break (info, after);
        }
    };
    // The peer's FIN advances the receive sequence by one, which the kernel counts as a byte
    // received. It has arrived in CLOSE_WAIT (and we have not closed yet); after our own
    // shutdown (HTTP/2's client shuts its side once GOAWAY is out), in CLOSING, LAST_ACK or
    // TIME_WAIT; and whenever a read saw the end of the stream: a request written as the
    // server closed draws a reset that leaves the socket CLOSED, its FIN counted all the same.
    const TCP_TIME_WAIT: u8 = 6;
    const TCP_CLOSE_WAIT: u8 = 8;
    const TCP_LAST_ACK: u8 = 9;
    const TCP_CLOSING: u8 = 11;
    let fin_arrived = matches!(
        info.u8_fields[0],
        TCP_CLOSE_WAIT | TCP_LAST_ACK | TCP_CLOSING | TCP_TIME_WAIT
    );
    let fin = u64::from(eof || fin_arrived);
    Some(KernelBytes {
        bytes_sent: info.bytes_sent - info.bytes_retrans,
        bytes_received: info.bytes_received - fin - unread,
        segs_out: info.segs_out as u64,
        segs_in: info.segs_in as u64,
        retransmits: info.u32_fields[23] as u64,
    })
}

fn tcp_info_prefix(stream: &impl AsRawFd) -> Option<TcpInfoPrefix> {
    let mut info = TcpInfoPrefix::default();
    let mut len = std::mem::size_of::<TcpInfoPrefix>() as libc::socklen_t;
    // SAFETY: `info` is a plain-old-data buffer of `len` bytes; the kernel writes at most `len`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut TcpInfoPrefix).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize >= std::mem::size_of::<TcpInfoPrefix>()).then_some(info)
}

/// The segments the kernel has retransmitted on this connection so far (`tcpi_total_retrans`).
pub fn total_retransmits(stream: &impl AsRawFd) -> Option<u64> {
    // In `struct tcp_info`, the 24th of the 32-bit fields.
    tcp_info_prefix(stream).map(|info| info.u32_fields[23] as u64)
}

/// Bytes in the socket's receive queue (`FIONREAD`), 0 if it cannot tell.
/// Bytes the kernel has received on `stream` that nobody has read yet.
pub fn unread_bytes(stream: &impl AsRawFd) -> u64 {
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into the pointer given.
    if unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut unread) } != 0 {
        return 0;
    }
    unread.max(0) as u64
}

/// Loopback source addresses clients connect from, so 10 000s of connections do not run out of
/// ephemeral ports on one address pair.
const SOURCES: u8 = 16;

/// Connects to `addr`. For loopback targets, connection `index` uses source address
/// 127.0.0.(1 + index % 16), with the port picked at connect time (IP_BIND_ADDRESS_NO_PORT).
pub async fn connect(addr: SocketAddr, index: usize) -> io::Result<Counted> {
    connect_from(None, addr, index).await
}

/// [`connect`] from the network namespace `ns` (a side of an emulated link): the socket is
/// made there, so it connects, and is routed, as a process in it would be.
pub async fn connect_from(
    ns: Option<&crate::link::Netns>,
    addr: SocketAddr,
    index: usize,
) -> io::Result<Counted> {
    if let Some(ns) = ns {
        let socket = ns.enter(TcpSocket::new_v4)??;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        return Ok(Counted::new(stream));
    }
    let stream = match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let socket = TcpSocket::new_v4()?;
            let one: libc::c_int = 1;
            // SAFETY: setting an int socket option on a socket we own.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            let source = Ipv4Addr::new(127, 0, 0, 1 + (index % SOURCES as usize) as u8);
            socket.bind(SocketAddr::new(source.into(), 0))?;
            socket.connect(addr).await?
        }
        _ => TcpStream::connect(addr).await?,
    };
    stream.set_nodelay(true)?;
    Ok(Counted::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A kept-alive connection the server closed, written to before the client saw it: the
    /// client reads the FIN (end of stream), the server's kernel answers the write with a
    /// reset, and the socket is CLOSED, not CLOSE_WAIT, when its counters are read. The FIN
    /// the kernel counted as a byte is still not one the client received.
    #[tokio::test]
    async fn a_fin_read_before_a_reset_is_not_a_received_byte() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut c = connect(addr, 5).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        drop(server);
        let mut buf = [0u8; 16];
        assert_eq!(c.read(&mut buf).await.unwrap(), 0, "the server's FIN");
        // The first write goes out; the reset it draws fails the next.
        let _ = c.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
        let mut reset = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if c.write_all(b"x").await.is_err() {
                reset = true;
                break;
            }
        }
        assert!(reset, "the server's kernel never reset the connection");
        let k = c.tcp_info().expect("TCP_INFO byte counters on Linux");
        assert_eq!(k.bytes_received, c.down);
    }

    #[tokio::test]
    async fn user_space_counts_match_the_kernel() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 1000];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf[..300]).await.unwrap();
        });
        let mut c = connect(addr, 3).await.unwrap();
        c.write_all(&[7; 1000]).await.unwrap();
        let mut back = vec![0; 300];
        c.read_exact(&mut back).await.unwrap();
        echo.await.unwrap();
        assert_eq!((c.up, c.down), (1000, 300));
        let k = c.tcp_info().expect("TCP_INFO byte counters on Linux");
        assert_eq!(k.bytes_received, 300);
        assert_eq!(k.bytes_sent, 1000);
    }

    /// A run's start `ago` ago, as the start signal carries it.
    fn started(ago: Duration) -> watch::Receiver<Option<Arc<Recorder>>> {
        let clock = crate::metrics::Clock::starting_at(std::time::Instant::now() - ago);
        let fanout = crate::metrics::Fanout::new(vec![1]);
        let recorder = Recorder::new(clock, 1, 0, 1, fanout, 1);
        watch::channel(Some(Arc::new(recorder))).1
    }

    /// At its drop time a connection fails the read it is waiting in and every write after,
    /// with an error the reconnect loop recognises, and the server sees the end the scenario
    /// asked for: a FIN for `close`, a RST for `reset`. Before the run starts nothing is dropped.
    #[tokio::test]
    async fn a_dropped_connection_fails_its_pending_read_and_ends_as_asked() {
        use crate::client::fault::is_dropped;
        for how in [DropHow::Close, DropHow::Reset] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut c = connect(listener.local_addr().unwrap(), 0).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            // Due 1 s into a run that started 950 ms ago.
            c.drop_at(
                Duration::from_secs(1),
                how,
                started(Duration::from_millis(950)),
            );
            server.write_all(b"before").await.unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(c.read(&mut buf).await.unwrap(), 6);
            let waiting = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf)).await;
            let e = waiting.expect("the drop ends the read").unwrap_err();
            assert!(is_dropped(&e), "{e}");
            assert!(is_dropped(&c.write_all(b"x").await.unwrap_err()));
            drop(c);
            let end = tokio::time::timeout(Duration::from_secs(10), server.read(&mut buf))
                .await
                .unwrap();
            match how {
                DropHow::Close => assert_eq!(end.unwrap(), 0, "a FIN"),
                DropHow::Reset => {
                    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::ConnectionReset)
                }
            }
        }
        // The run has not started: the drop waits for it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = connect(listener.local_addr().unwrap(), 0).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let (start, rx) = watch::channel(None);
        c.drop_at(Duration::ZERO, DropHow::Reset, rx);
        server.write_all(b"x").await.unwrap();
        assert_eq!(c.read(&mut [0u8; 4]).await.unwrap(), 1);
        c.write_all(b"y").await.unwrap();
        drop(start);
    }
}
