//! Seeded inputs for benchmarks and tests, so every crate measures the same bytes.

/// `len` bytes of seeded pseudo-random printable ASCII (xorshift64*): text envelopes built from
/// it have the usual share of characters to escape (about one byte in 19).
pub fn printable(len: usize, seed: u64) -> String {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
            char::from(b' ' + (r % 95) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_printable_and_the_asked_length() {
        let a = printable(1000, 7);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, printable(1000, 7));
        assert_ne!(a, printable(1000, 8));
        assert!(a.bytes().all(|b| (b' '..=b'~').contains(&b)));
    }
}
