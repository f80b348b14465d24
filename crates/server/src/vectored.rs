//! Writing a batch of shared frames with as few syscalls as the kernel allows, used by every
//! transport that writes to its socket itself (raw TCP and the directly served HTTP streams).
//! The frames are the hub's shared bytes: nothing is copied into a per-connection buffer, which
//! idle connections would pay for too.

use std::io::{self, IoSlice};
use std::os::fd::RawFd;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Most frames a connection takes from its subscription per write, so one long batch cannot
/// keep it from reading its socket.
pub const BATCH: usize = 64;

/// Most pieces one write hands the kernel (a chunked stream's frame is three pieces).
const SLICES: usize = 64;

/// One non-blocking send of `slices` on the socket `fd`: `send(2)` for one slice, `sendmsg(2)`
/// for more; how many bytes the socket took. A socket written this way skips the VFS layer
/// `writev(2)` goes through (`vfs_writev`, `fdget_pos`, the file's write iterator; with one
/// slice, the iovec import too): with 200 WebSocket subscribers at 100 messages/s, where every
/// delivery is one such write from the publish (see `direct.rs`), perf put the syscall layer
/// above TCP at 10.9% of push-server's CPU with `writev` (`do_writev` inclusive less
/// `tcp_sendmsg`) and at 4.5% with `send` (`__sys_sendto` less `tcp_sendmsg`).
pub fn send(fd: RawFd, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    // Never SIGPIPE: a peer gone is an error the caller's task meets on its next write.
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    let sent = match slices {
        // SAFETY: the buffer is `one`, valid for its length; `fd` is the caller's open socket.
        [one] => unsafe { libc::send(fd, one.as_ptr().cast(), one.len(), flags) },
        _ => {
            // SAFETY: zeroed is a valid msghdr (no address, no control data); `IoSlice` is
            // ABI-compatible with `iovec` on Unix, and `slices` outlives the call.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = slices.as_ptr().cast_mut().cast();
            // `size_t` on glibc, `c_int` on musl and the BSDs; at most `SLICES` here.
            msg.msg_iovlen = slices.len() as _;
            unsafe { libc::sendmsg(fd, &msg, flags) }
        }
    };
    match sent {
        -1 => Err(io::Error::last_os_error()),
        n => Ok(n as usize),
    }
}

/// Writes every frame in `frames`, in order, through partial writes; clears `frames` when done.
pub async fn write_all<W: AsyncWrite + Unpin>(
    io: &mut W,
    frames: &mut Vec<Bytes>,
) -> io::Result<()> {
    let mut first = 0;
    let mut offset = 0;
    // On the stack, not a `Vec` per write: a write is most often one frame (or a chunk's three
    // pieces), and up to SLICES go in one syscall; the loop takes the rest.
    let mut slices = [IoSlice::new(&[]); SLICES];
    while first < frames.len() {
        let pieces = std::iter::once(&frames[first][offset..])
            .chain(frames[first + 1..].iter().map(|f| &f[..]));
        let mut n = 0;
        for (slot, piece) in slices.iter_mut().zip(pieces) {
            *slot = IoSlice::new(piece);
            n += 1;
        }
        let mut written = io.write_vectored(&slices[..n]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while first < frames.len() && written >= frames[first].len() - offset {
            written -= frames[first].len() - offset;
            first += 1;
            offset = 0;
        }
        offset += written;
    }
    frames.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// `send` hands the kernel one slice or several, in order, and a full socket is
    /// WouldBlock, not a block: every byte it said it took arrives, and nothing else.
    #[test]
    fn send_takes_slices_in_order_and_never_blocks() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut reader, _) = listener.accept().unwrap();
        let fd = writer.as_raw_fd();
        assert_eq!(send(fd, &[IoSlice::new(b"one ")]).unwrap(), 4);
        let three = [b"two ".as_slice(), b"three ", b"four"].map(IoSlice::new);
        assert_eq!(send(fd, &three).unwrap(), 14);
        let mut got = [0u8; 18];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"one two three four");
        // Nobody reads: the socket fills, and then refuses rather than waits.
        let block = vec![7u8; 1 << 16];
        let mut sent = 0;
        let refused = (0..10_000).find_map(|_| match send(fd, &[IoSlice::new(&block)]) {
            Ok(n) => {
                sent += n;
                None
            }
            Err(e) => Some(e),
        });
        assert_eq!(
            refused.expect("a full socket refuses").kind(),
            io::ErrorKind::WouldBlock
        );
        drop(writer);
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), sent);
        assert!(all.iter().all(|&b| b == 7));
    }

    #[tokio::test]
    async fn vectored_writes_keep_order_and_every_byte_through_partial_writes() {
        // A 7-byte pipe takes a few bytes of one frame at a time, so every write is partial
        // and most end inside a frame.
        let (mut tx, mut rx) = tokio::io::duplex(7);
        let frames: Vec<Bytes> = (0..150u32)
            .map(|i| Bytes::from(format!("frame {i}:{}|", "x".repeat(i as usize % 13))))
            .collect();
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            rx.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut queue = frames.clone();
        write_all(&mut tx, &mut queue).await.unwrap();
        assert!(queue.is_empty(), "the written frames are cleared");
        drop(tx);
        assert_eq!(reader.await.unwrap(), expected);
    }
}
