//! The scenario's faults against a real push-server: every transport's clients have their
//! connections dropped every second or so, cleanly or with a reset, reconnect and resume, and
//! still receive every message exactly once.

mod common;

use std::path::Path;

use common::{assert_delivered_once, options, tempdir};
use load_gen::runner;
use load_gen::scenario::Scenario;
use tokio_util::sync::CancellationToken;

/// 12 clients on 3 topics at 20 messages/s for 3.5 s, polls every 50 ms, with `faults` and
/// reconnect waits from 50 ms up to `max_delay`.
fn with_faults(transports: &str, faults: &str, max_delay: &str) -> Scenario {
    let text = format!(
        r#"description = "faults"
transports = {transports}
clients = 12
topics = 3
rate = 20
message_size = 64
warmup = "500ms"
duration = "3s"
drain = "1s"
poll_interval = "50ms"
faults = {faults}
reconnect = {{ delay = "50ms", max_delay = "{max_delay}", jitter = 0.5 }}
"#
    );
    Scenario::parse(&text, Path::new("faults.toml")).unwrap()
}

/// Every subscriber's connection dropped about every second, as `how` says.
fn scenario(transports: &str, how: &str) -> Scenario {
    with_faults(
        transports,
        &format!(r#"{{ drop = {{ every = "1s", jitter = "300ms", how = "{how}" }} }}"#),
        "1s",
    )
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

/// The server restarted once, 1.5 s in, as `how` says.
fn restart_scenario(how: &str) -> Scenario {
    with_faults(
        r#"["all"]"#,
        &format!(r#"{{ restart = {{ at = "1500ms", how = "{how}" }} }}"#),
        "400ms",
    )
}

/// The server is stopped (SIGTERM, then SIGKILL) mid-run and started again on the same ports
/// with an empty hub. Every transport's clients come back; each finds that the new process
/// cannot resume where it was (409, or raw TCP's error frame), counts what it missed as lost and
/// subscribes afresh. Nothing is counted twice, and what is lost is what the server could not
/// have delivered: publishes refused while it was down, and at most one publish per topic it
/// may have taken as it died.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_comes_back_from_a_restart_and_counts_what_the_restart_lost() {
    for how in ["term", "kill"] {
        let results = tempdir(&format!("restart-{how}"));
        let s = restart_scenario(how);
        let mut opts = options(&results, None);
        opts.server_args = vec!["--sse-retry-ms=100".into()];
        let (summary, _) = runner::run(&s, &opts, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(summary.transports.len(), 7);
        for t in &summary.transports {
            let name = format!("{} ({how})", t.transport);
            let m = &t.messages;
            assert_eq!(
                t.status,
                pushbench_results::Status::Complete,
                "{name}: {:?}",
                t.warnings
            );
            let r = t
                .restart
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: no restart"));
            assert_eq!(r.how, how);
            assert_eq!(r.clean_exit, how == "term", "{name}: {r:?}");
            assert!(r.stop_ms <= r.down_ms, "{name}: {r:?}");
            assert_eq!(
                (r.clients, r.back, r.never_back),
                (12, 12, 0),
                "{name}: {r:?}"
            );
            assert!(
                r.back_all_ms.is_some_and(|all| all >= r.down_ms),
                "{name}: {r:?}"
            );
            // Every client resumed after messages the new process had never numbered (it
            // is back long before the new hub reaches the old numbers), and was told so.
            assert_eq!(r.forgotten, 12, "{name}: {r:?}");
            // A held connection is cut by the restart; a short poll between two polls finds its
            // kept-alive connection closed and retries on a fresh one, as HTTP clients do.
            if t.transport != "short-poll" {
                assert!(r.interrupted >= 12, "{name}: {r:?}");
            }
            assert!(
                r.connections >= 24,
                "{name}: a refused resume and a fresh one each"
            );
            assert_eq!(t.client_errors, 0, "{name}: {:?}", t.last_client_error);
            // Exact accounting: every message the run numbered was delivered or lost, once.
            assert_eq!((m.seq.duplicated, m.seq.reordered), (0, 0), "{name}: {m:?}");
            assert_eq!(m.seq.delivered + m.seq.lost, m.expected, "{name}: {m:?}");
            // 4 subscribers per topic; what they lost is what the restart could take: what was
            // never published while the server was down, one message per topic that may have
            // been in flight as it stopped, and what the old process published but had not yet
            // delivered to a subscriber when it went (its last half second at most: about 3 per
            // topic at 20/s over 3 topics). Numbering the new process's messages wrongly would
            // lose them all (about 40 per subscriber) or count them twice.
            assert!(
                m.seq.lost <= (m.publish_failed + 3 * (1 + 4)) * 4,
                "{name}: {m:?}"
            );
            // The timeline saw fewer subscribed around the restart (a short poller is between
            // two polls, not disconnected), and all back at the end.
            let around = |p: &&pushbench_results::model::TimelinePoint| {
                p.t_s >= r.at_s && p.t_s < r.at_s + 1.0
            };
            let fewest = t.timeline.iter().filter(around).map(|p| p.subscribed).min();
            if t.transport != "short-poll" {
                assert!(fewest.is_some_and(|n| n < 12), "{name}: {:?}", t.timeline);
            }
            assert_eq!(t.timeline.last().map(|p| p.subscribed), Some(12), "{name}");
            // Messages published after the restart were delivered: 2 s of 20/s.
            assert!(m.seq.delivered > 12 * 30, "{name}: {m:?}");
            assert_eq!(t.kernel_difference, [0, 0], "{name}");
        }
        std::fs::remove_dir_all(&results).unwrap();
    }
}
