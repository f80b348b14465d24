//! The emulated link against the kernel's own TCP: what the configured link says is what a
//! connection sees. Every bound is the link's, with wide margins, never the machine's speed.
//! A test binary of its own: its bounds on time and rate hold on a machine that is not also
//! running load-gen's runs beside them (the runs in `link.rs` made a bulk transfer's goodput
//! read above the link's rate, the link's thread late and catching up). Needs root and
//! /dev/net/tun, as CI has.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use load_gen::link::shaper::Direction;
use load_gen::link::{Link, LinkSpec, SERVER};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A link with `rtt`, the same both ways.
fn link(rtt: Duration, rate_bps: Option<u64>, loss: f64, queue_bytes: u64) -> Link {
    let dir = Direction {
        delay: rtt / 2,
        jitter: Duration::ZERO,
        rate_bps,
        queue_bytes,
        loss,
    };
    Link::start(LinkSpec { down: dir, up: dir }, 1, None)
        .expect("a link (needs root and /dev/net/tun)")
}

/// A listener on the server's side of `link`.
fn listen(link: &Link) -> (TcpListener, SocketAddr) {
    link.server
        .enter(|| {
            let l = TcpListener::bind((SERVER, 0)).unwrap();
            let addr = l.local_addr().unwrap();
            (l, addr)
        })
        .unwrap()
}

/// A connection from the clients' side of `link` to `addr`, and how long the connect took.
fn connect(link: &Link, addr: SocketAddr) -> (TcpStream, Duration) {
    link.clients
        .enter(|| {
            let t = Instant::now();
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
            (s, t.elapsed())
        })
        .unwrap()
}

#[test]
fn a_tcp_connect_takes_one_round_trip() {
    for rtt in [ms(50), ms(200)] {
        let link = link(rtt, None, 0.0, 64 * 1024);
        let (listener, addr) = listen(&link);
        // The median of a few, so one late wake-up of this machine does not decide it.
        let mut times: Vec<Duration> = (0..5).map(|_| connect(&link, addr).1).collect();
        times.sort();
        let median = times[2];
        eprintln!("rtt {rtt:?}: connect median {median:?} of {times:?}");
        // Within 10% either way: the link sends a packet up to 250 µs before it is due.
        assert!(
            median >= rtt.mul_f64(0.9) && median <= rtt.mul_f64(1.1),
            "connect took {median:?} over a {rtt:?} round trip ({times:?})"
        );
        drop(listener);
        let stats = link.stop().unwrap();
        // Every SYN and SYN-ACK crossed.
        assert!(
            stats.up.packets >= 5 && stats.down.packets >= 5,
            "{stats:?}"
        );
    }
}

/// `bytes` from the server's side to the client's; returns how long the bytes that arrived after
/// the first `skip` took (slow start is over by then), and how many they were. The count starts
/// at the read that passes `skip`, and leaves out what had arrived by then unread too: a reader
/// that fell behind (a loaded machine) found a backlog there, which counted as arriving in the
/// window made goodput exceed the link's rate.
fn bulk(link: &Link, bytes: usize, skip: usize) -> (Duration, usize, TcpStream) {
    let (listener, addr) = listen(link);
    let sender = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
        s
    });
    let (mut c, _) = connect(link, addr);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    let mut from = None;
    while got < bytes {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "the connection ended after {got} bytes");
        got += n;
        if from.is_none() && got >= skip {
            let t0 = Instant::now();
            from = Some((t0, got + load_gen::net::unread_bytes(&c) as usize));
        }
    }
    let (t0, at) = from.unwrap();
    let sent = sender.join().unwrap();
    drop(c);
    (t0.elapsed(), got - at, sent)
}

#[test]
fn a_bulk_transfer_fills_the_link_and_no_more() {
    // 10 Mbit/s down, 40 ms round trip: 4 MB takes about 3.3 s.
    let rate = 10_000_000u64;
    let link = link(ms(40), Some(rate), 0.0, 128 * 1024);
    let (took, bytes, _sender) = bulk(&link, 4_000_000, 1_000_000);
    let goodput = bytes as f64 * 8.0 / took.as_secs_f64();
    eprintln!("bulk: {:.3} Mbit/s of payload", goodput / 1e6);
    // TCP/IP headers take 52 of every 1,500 bytes on the wire: the payload can reach 96.5%.
    assert!(
        goodput >= 0.90 * rate as f64 && goodput <= rate as f64,
        "{:.2} Mbit/s of payload over a 10 Mbit/s link",
        goodput / 1e6
    );
    let stats = link.stop().unwrap();
    assert_eq!(stats.down.lost, 0);
}

#[test]
fn loss_makes_tcp_retransmit() {
    let link = link(ms(20), Some(20_000_000), 0.01, 256 * 1024);
    let (_, _, sender) = bulk(&link, 2_000_000, 0);
    let retransmitted = load_gen::net::total_retransmits(&sender).unwrap();
    let stats = link.stop().unwrap();
    eprintln!(
        "1% loss: {} packets lost down, {} up, {retransmitted} retransmitted",
        stats.down.lost, stats.up.lost
    );
    // About 1% of some 1,400 data packets: the losses are the link's, and TCP repaired them.
    assert!(stats.down.lost > 0, "{stats:?}");
    assert!(
        retransmitted > 0,
        "no retransmission after {} losses",
        stats.down.lost
    );
}
