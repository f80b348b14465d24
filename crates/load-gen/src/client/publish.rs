//! The HTTP publisher: `POST /publish?topic=T` (or the profile's publish path) on a kept-alive
//! connection, one message per scheduled time. Push workloads use one per topic for every transport alike; bidirectional
//! workloads use one per client for the HTTP transports, which have no upstream of their own.
//!
//! Open loop: each message waits for its intended time, never for the previous one to be
//! "due". If the answer to the previous POST comes late, the next goes out late and the lag shows
//! in the latency measured from the intended time, and in the publish-lag histogram.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use pushbench_results::model::ByteCounts;
use pushbench_results::Traffic;
use pushbench_wire::probe::{self, Probe};

use super::Shared;
use crate::http1::{Http1, HttpError};
use crate::metrics::Recorder;
use crate::net::{self, Conn};
use crate::profile::Framing;
use crate::schedule::Schedule;

/// Who publishes what.
#[derive(Debug)]
pub struct Publisher {
    /// Publisher number: the probe's publisher field and the source address.
    pub index: usize,
    /// Topic name.
    pub topic: String,
    /// Topic number in the run.
    pub topic_index: usize,
    /// When, and how big.
    pub schedule: Schedule,
    /// A push workload's publisher: it publishes straight to the server, as a back end does,
    /// even when subscribers go through a proxy (`--via`). A client's own upstream goes the
    /// clients' way.
    pub backend: bool,
}

/// Publishes on schedule, woken by the run's pacer, until the schedule ends or the run is
/// cancelled.
pub async fn run(shared: Arc<Shared>, publisher: Publisher, recorder: Arc<Recorder>) -> Traffic {
    let target = if publisher.backend {
        &shared.publish_target
    } else {
        &shared.target
    };
    let (headers, cancel, pacer) = (&shared.header_block, &shared.cancel, &shared.pacer);
    let mut report = Traffic::default();
    let mut conn: Option<Http1> = None;
    let mut conn_bytes = ByteCounts::default();
    let mut payload = String::new();
    let profile = shared.profile;
    let mut path = String::new();
    crate::profile::render(
        &mut path,
        profile.publish_path,
        crate::profile::Fill {
            topic: &publisher.topic,
            after: 0,
            timeout_ms: 0,
            encoding: "text",
        },
    );
    // For servers whose messages carry no sequence number, the probe carries this one. A
    // publish that fails leaves its number to the next, so a failure is not also a gap (if the
    // server did take it before the connection broke, the next shows as a duplicate).
    let mut next_seq = 1u64;
    // The server's numbers mapped onto the run's, across a restart (see `super::restart`).
    let mut lives = super::restart::PublisherLives::default();
    let topic_published = &recorder.topic_published[publisher.topic_index];
    let clock = recorder.clock;
    let mut schedule = publisher.schedule;
    while let Some(planned) = schedule.next() {
        let due = tokio::select! {
            _ = cancel.cancelled() => false,
            _ = pacer.sleep_until(clock.at(planned.intended_ns)) => true,
        };
        if !due {
            // Stopped: this message and the rest of the schedule will not be sent.
            recorder.settle(1 + schedule.count() as u64);
            break;
        }
        let sent_ns = clock.now_ns();
        probe::write(
            &mut payload,
            Probe {
                intended_ns: planned.intended_ns,
                sent_ns,
                publisher: publisher.index as u32,
                seq: (profile.framing == Framing::Body).then_some(next_seq),
            },
            planned.size,
        );
        recorder.published(planned.intended_ns, sent_ns);
        // A kept-alive connection the server has since closed (idle timeout) fails on first
        // use; like any HTTP client, retry once on a fresh connection before calling it an error.
        // Only a failure before any answer retries; a connection that died after the server
        // published but before it answered would publish twice (counted as a duplicate).
        let mut outcome: Result<u64, HttpError> = Err(HttpError::Closed);
        // Whether a request went out that the server may have taken without answering.
        let mut sent = false;
        for _attempt in 0..2 {
            if conn.as_ref().is_some_and(|h| h.io.closed_by_peer()) {
                if let Some(h) = conn.take() {
                    close(&mut report, &mut conn_bytes, &h);
                }
            }
            let reused = conn.is_some();
            outcome = async {
                if conn.is_none() {
                    report.connections += 1;
                    let io = net::connect_from(target.ns.as_deref(), target.http, publisher.index)
                        .await?;
                    if let Some(epochs) = &shared.epochs {
                        // Before the first publish to a restarted server, so its first message
                        // is never seen by a subscriber before its number is known.
                        let life = epochs.current();
                        if let Some(base) = lives.connected(epochs, life, publisher.topic_index) {
                            topic_published.fetch_max(base, Relaxed);
                        }
                    }
                    conn = Some(Http1::new(Conn::plain(io), &target.host, headers.clone()));
                }
                let http = conn.as_mut().expect("connected above");
                sent = true;
                conn_bytes.headers_up +=
                    http.request("POST", &path, &[], payload.as_bytes()).await? as u64;
                conn_bytes.payload_up += payload.len() as u64;
                report.requests += 1;
                let head = http.read_head().await?;
                conn_bytes.headers_down += head.len as u64;
                let (body, _) = http.read_body(&head).await?;
                if !profile.publish_ok.contains(&head.status) {
                    return Err(HttpError::Malformed(format!(
                        "publish answered {}: {}",
                        head.status,
                        String::from_utf8_lossy(&body).trim()
                    )));
                }
                match profile.framing {
                    Framing::Envelope => seq_of(&body)
                        .map(|seq| lives.answered(seq))
                        .ok_or_else(|| HttpError::Malformed("publish answer without seq".into())),
                    Framing::Body => Ok(next_seq),
                }
            }
            .await;
            match &outcome {
                Err(HttpError::Closed | HttpError::Io(_)) if reused => {
                    if let Some(h) = conn.take() {
                        close(&mut report, &mut conn_bytes, &h);
                    }
                }
                _ => break,
            }
        }
        match outcome {
            Ok(seq) => {
                report.published += 1;
                next_seq += 1;
                topic_published.fetch_max(seq, Relaxed);
            }
            Err(e) => {
                if sent {
                    lives.unanswered();
                }
                match &shared.epochs {
                    Some(epochs) if lives.ended_by_restart(epochs) => report.restart_failures += 1,
                    _ => {
                        report.errors += 1;
                        report.last_error = Some(e.to_string());
                    }
                }
                if let Some(h) = conn.take() {
                    close(&mut report, &mut conn_bytes, &h);
                }
            }
        }
        // Settled after the published count moved, so the drain never sees one without the other.
        recorder.settle(1);
    }
    if let Some(h) = conn.take() {
        close(&mut report, &mut conn_bytes, &h);
    }
    report
}

fn close(report: &mut Traffic, conn_bytes: &mut ByteCounts, http: &Http1) {
    let mut b = std::mem::take(conn_bytes);
    b.framing_from_totals(http.io.up, http.io.down);
    report.bytes += b;
    if let Some(k) = http.io.tcp_info() {
        report.kernel += k;
    }
}

/// The `seq` of a `/publish` answer: `{"topic":"t","seq":42}`.
fn seq_of(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Answer {
        seq: u64,
    }
    serde_json::from_slice::<Answer>(body).ok().map(|a| a.seq)
}
