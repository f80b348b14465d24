//! WebSocket (RFC 6455): each message is one frame whose payload is the envelope, a text frame for
//! a text envelope and a binary frame for a binary one. tungstenite writes the frames on both
//! sides; this module holds what byte accounting and the framing benchmarks need to know about
//! them without a socket.

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
