//! Writing a batch of shared frames with as few syscalls as the kernel allows, used by every
//! transport that writes to its socket itself (raw TCP and the directly served HTTP streams).
//! The frames are the hub's shared bytes: nothing is copied into a per-connection buffer, which
//! idle connections would pay for too.

use std::io::{self, IoSlice};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Most frames a connection takes from its subscription per write, so one long batch cannot
/// keep it from reading its socket.
pub const BATCH: usize = 64;

/// Most pieces one write hands the kernel (a chunked stream's frame is three pieces).
const SLICES: usize = 64;

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
