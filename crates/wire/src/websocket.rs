//! WebSocket (RFC 6455): each message is one frame whose payload is the envelope, a text frame for
//! a text envelope and a binary frame for a binary one. A server's frames are unmasked, so every
//! subscriber gets the same bytes: push-server frames each message once ([`server_frame`]) and
//! writes those bytes to every subscriber; tungstenite reads the clients' (masked) frames and
//! writes the control frames. This module also holds what byte accounting and the framing
//! benchmarks need to know about frames without a socket.

use bytes::{BufMut, Bytes, BytesMut};

/// A data frame's opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0x1: the payload is UTF-8 text.
    Text = 0x1,
    /// 0x2: the payload is bytes.
    Binary = 0x2,
}

/// One whole, unmasked frame as a server sends it: FIN set, `opcode`, the length in its
/// shortest form (7 bits, or 16 or 64 bits after 126 or 127), then `payload`.
pub fn server_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    let len = payload.len();
    let mut frame = BytesMut::with_capacity(header_len(len, false) + len);
    frame.put_u8(0x80 | opcode as u8);
    if len < 126 {
        frame.put_u8(len as u8);
    } else if len <= u16::MAX as usize {
        frame.put_u8(126);
        frame.put_u16(len as u16);
    } else {
        frame.put_u8(127);
        frame.put_u64(len as u64);
    }
    frame.put_slice(payload);
    frame.freeze()
}

/// Bytes of frame header in front of a payload of `payload_len` bytes: 2, plus 2 or 8 for the
/// extended length, plus 4 for the mask key that every client-to-server frame carries.
pub const fn header_len(payload_len: usize, masked: bool) -> usize {
    let ext = if payload_len < 126 {
        0
    } else if payload_len <= u16::MAX as usize {
        2
    } else {
        8
    };
    2 + ext + if masked { 4 } else { 0 }
}

/// XORs `payload` with the 4-byte mask key, as a client must before sending (and the server after
/// receiving). Masking twice restores the input.
pub fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    let (chunks, rest) = payload.split_at_mut(payload.len() - payload.len() % 8);
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    for c in chunks.chunks_exact_mut(8) {
        let v = u64::from_ne_bytes(c.try_into().expect("8 bytes")) ^ wide;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_carry_fin_the_opcode_and_the_shortest_length() {
        let frame = server_frame(Opcode::Text, b"hi");
        assert_eq!(&frame[..], b"\x81\x02hi");
        let medium = server_frame(Opcode::Binary, &[7; 300]);
        assert_eq!(medium[..4], [0x82, 126, 0x01, 0x2c]);
        assert_eq!(medium.len(), 4 + 300);
        let large = server_frame(Opcode::Text, &[b'a'; 70_000]);
        assert_eq!(large[..10], [0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);
        for (frame, payload) in [(frame, 2), (medium, 300), (large, 70_000)] {
            assert_eq!(frame.len(), header_len(payload, false) + payload);
        }
    }

    #[test]
    fn header_sizes_follow_rfc_6455() {
        assert_eq!(header_len(0, false), 2);
        assert_eq!(header_len(125, true), 6);
        assert_eq!(header_len(126, false), 4);
        assert_eq!(header_len(65535, true), 8);
        assert_eq!(header_len(65536, false), 10);
        assert_eq!(header_len(65536, true), 14);
    }

    #[test]
    fn masking_matches_the_bytewise_definition_and_undoes_itself() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let original: Vec<u8> = (0..37u8).collect();
        let mut masked = original.clone();
        apply_mask(&mut masked, key);
        for (i, (m, o)) in masked.iter().zip(&original).enumerate() {
            assert_eq!(*m, o ^ key[i % 4]);
        }
        apply_mask(&mut masked, key);
        assert_eq!(masked, original);
    }
}
