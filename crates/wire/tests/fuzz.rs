//! Fuzz targets for every decoder a peer's bytes reach: none may panic, loop or allocate beyond
//! its input, whatever it is fed and however the input is split across reads.
//!
//! Under `cargo test` each runs bolero's random engine for `PUSHBENCH_FUZZ_ITERATIONS` inputs
//! (default 2,000, a bounded run for CI); `cargo bolero test --package pushbench-wire --test
//! fuzz <target>` runs the same target under libFuzzer where a nightly toolchain is installed.

use std::time::Duration;

use bolero::check;
use bytes::BytesMut;
use pushbench_wire::chunked::ChunkedDecoder;
use pushbench_wire::envelope::{self, Encoding};
use pushbench_wire::iframe::ScriptParser;
use pushbench_wire::sse::EventParser;
use pushbench_wire::xhr_stream::LineParser;
use pushbench_wire::{poll, probe, raw_tcp};

fn iterations() -> usize {
    std::env::var("PUSHBENCH_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// Runs `target` on random inputs of up to 4 KiB.
fn fuzz(target: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    check!()
        .with_iterations(iterations())
        .with_max_len(4096)
        .with_shrink_time(Duration::from_secs(10))
        .for_each(|input: &[u8]| target(input));
}

/// `input` in two reads, split where its first byte says.
fn split(input: &[u8]) -> (&[u8], &[u8]) {
    let at = input.first().map_or(0, |b| *b as usize % (input.len() + 1));
    input.split_at(at)
}

#[test]
fn raw_tcp_frames() {
    fuzz(|input| {
        let mut buf = BytesMut::from(input);
        // Every frame decodes or errs; a decode never consumes nothing and says it did.
        while let Ok(Some(_)) = raw_tcp::decode(&mut buf, 1 << 20) {}
        let _ = raw_tcp::holds_frame(input);
    });
}

#[test]
fn sse_events() {
    fuzz(|input| {
        let (a, b) = split(input);
        let mut parser = EventParser::new();
        let mut events = Vec::new();
        parser.push(a, &mut events);
        parser.push(b, &mut events);
        let _ = parser.retry();
    });
}

#[test]
fn chunked_bodies() {
    fuzz(|input| {
        let (a, b) = split(input);
        let mut decoder = ChunkedDecoder::new();
        let mut out = BytesMut::new();
        for part in [a, b] {
            match decoder.decode(part, &mut out) {
                Ok(used) => assert!(used <= part.len()),
                Err(_) => break,
            }
        }
        assert!(out.len() <= input.len(), "decoded more than it read");
    });
}

#[test]
fn iframe_scripts_and_ndjson_lines() {
    fuzz(|input| {
        let (a, b) = split(input);
        let mut scripts = ScriptParser::new();
        let mut lines = LineParser::new();
        for part in [a, b] {
            scripts.push(part);
            while scripts.next_envelope().is_some() {}
            lines.push(part);
            while lines.next_line().is_some() {}
        }
    });
}

#[test]
fn envelopes_polls_and_probes() {
    fuzz(|input| {
        let _ = envelope::decode(Encoding::Text, input);
        let _ = envelope::decode(Encoding::Binary, input);
        let _ = envelope::decode_text_prefix(input);
        let _ = poll::parse(input);
        if let Ok(envelopes) = poll::envelopes(input) {
            for _ in envelopes {}
        }
        if let Ok(text) = std::str::from_utf8(input) {
            let _ = probe::parse(text);
            let _ = envelope::validate_topic(text);
        }
    });
}
