//! The scenario's faults against a real push-server: every transport's clients have their
//! connections dropped every second or so, cleanly or with a reset, reconnect and resume, and
//! still receive every message exactly once.

mod common;

use std::path::Path;

use common::{assert_delivered_once, options, tempdir};
use load_gen::runner;
use load_gen::scenario::Scenario;
use tokio_util::sync::CancellationToken;

fn scenario(transports: &str, how: &str) -> Scenario {
    let text = format!(
        r#"description = "drops every second"
transports = {transports}
clients = 12
topics = 3
rate = 20
message_size = 64
warmup = "500ms"
duration = "3s"
drain = "1s"
poll_interval = "50ms"
faults = {{ drop = {{ every = "1s", jitter = "300ms", how = "{how}" }} }}
reconnect = {{ delay = "50ms", max_delay = "1s", jitter = 0.5 }}
"#
    );
    Scenario::parse(&text, Path::new("drops.toml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_delivers_everything_once_through_dropped_connections() {
    for (transports, how) in [
        (r#"["all"]"#, "close"),
        (r#"["long-poll", "sse", "websocket"]"#, "reset"),
    ] {
        let results = tempdir(&format!("faults-{how}"));
        let s = scenario(transports, how);
        let mut opts = options(&results, None);
        // SSE waits the stream's `retry:` (push-server's default is 2 s): shorter here, so
        // it drops as often as the others and is back before the 1 s drain ends.
        opts.server_args = vec!["--sse-retry-ms=100".into()];
        let (summary, _) = runner::run(&s, &opts, CancellationToken::new())
            .await
            .unwrap();
        for t in &summary.transports {
            assert_delivered_once(t);
            // 12 clients for 3.5 s, a drop about every second each.
            assert!(
                (24..=60).contains(&t.connections_dropped),
                "{} ({how}): {} drops",
                t.transport,
                t.connections_dropped
            );
            assert_eq!(
                t.client_errors, 0,
                "{}: {:?}",
                t.transport, t.last_client_error
            );
            // Every drop is a reconnect, after a wait of at least the shortest the scenario
            // allows (50 ms less half of it), and what was published meanwhile is a replay.
            assert!(
                t.reconnect_time.count > 0 && t.reconnect_time.p50_us >= 25_000,
                "{}: {:?}",
                t.transport,
                t.reconnect_time
            );
            assert!(t.replay_latency.count > 0, "{}: no replays", t.transport);
            // Byte counts still agree with the kernel's, for connections cut mid-stream too.
            assert_eq!(t.kernel_difference, [0, 0], "{}", t.transport);
            // Every drop is followed by a new connection (the last one may not be, if the run
            // ended while that client waited to reconnect).
            assert!(
                t.connections_opened > t.connections_dropped,
                "{}: {} connections",
                t.transport,
                t.connections_opened
            );
        }
        std::fs::remove_dir_all(&results).unwrap();
    }
}

/// An SSE client waits the `retry:` time its stream announced before reconnecting, as
/// EventSource does, not the scenario's `reconnect` waits (here at most 75 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_client_waits_the_retry_its_stream_announced() {
    let results = tempdir("faults-retry");
    let s = scenario(r#"["sse"]"#, "close");
    let mut opts = options(&results, None);
    opts.server_args = vec!["--sse-retry-ms=600".into()];
    let (summary, _) = runner::run(&s, &opts, CancellationToken::new())
        .await
        .unwrap();
    let t = &summary.transports[0];
    assert_delivered_once(t);
    assert!(t.connections_dropped > 0);
    assert!(
        t.reconnect_time.p50_us >= 600_000,
        "back in {:?}",
        t.reconnect_time
    );
    std::fs::remove_dir_all(&results).unwrap();
}
