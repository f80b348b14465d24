//! The "at a glance" verdict: for each question a reader asks (lowest latency, fewest bytes,
//! least server CPU, least memory per connection, throughput), which transport answers it best
//! and the reason the data gives. Pure ranking and plain text; [`super`] turns the cards into
//! markup.
//!
//! A transport that did not run, or has no value for the question, is not ranked. With repeats
//! (`repeat = N`), a winner is named only when its confidence interval does not overlap the
//! runner-up's; otherwise the card says "tied within noise" and names every transport whose
//! interval overlaps the best one's. Without repeats there is no interval, so others within 10%
//! of the winner are named as ties, since differences that small are run-to-run noise.

use std::fmt::Write as _;

use pushbench_results::model::Spread;
use pushbench_results::TransportResult;

use crate::figures::figure;
use crate::style;

/// One question's answer.
#[derive(Debug, Clone)]
pub struct Card<'a> {
    /// The question, e.g. "Lowest latency (p99)".
    pub title: &'static str,
    /// The transport that answers it best; `None` when none stands out.
    pub winner: Option<&'a TransportResult>,
    /// The winning value with its unit.
    pub value: String,
    /// Why, in plain text.
    pub why: String,
}

/// Values of transports that ran and have one, best (smallest) first.
pub fn ranked<'a>(
    ts: &[&'a TransportResult],
    f: impl Fn(&TransportResult) -> Option<f64>,
) -> Vec<(&'a TransportResult, f64)> {
    let mut v: Vec<(&TransportResult, f64)> = ts
        .iter()
        .filter(|t| t.status.ran())
        .filter_map(|t| f(t).map(|v| (*t, v)))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v
}

/// " Within 10% of it: X, Y; ..." when others are within 10% of the winner.
pub fn ties(r: &[(&TransportResult, f64)]) -> String {
    let Some((_, best)) = r.first() else {
        return String::new();
    };
    let close: Vec<&str> = r[1..]
        .iter()
        .filter(|(_, v)| *v <= best * 1.10)
        .map(|(t, _)| t.transport.as_str())
        .collect();
    if close.is_empty() {
        String::new()
    } else {
        format!(
            " Within 10% of it: {}; differences that small are within run-to-run noise.",
            close.join(", ")
        )
    }
}

/// "a request per message", "0.2 requests per message".
fn per_message(n: f64, what: &str) -> String {
    if (n - 1.0).abs() < 0.05 {
        format!("a {what} per message")
    } else {
        format!("{} {what}s per message", style::num(n))
    }
}

/// The largest overhead phase of a transport's bytes per message, described.
fn main_overhead(t: &TransportResult) -> String {
    let b = &t.bytes_per_message;
    let mut phases = [
        (b.headers, "HTTP request and response heads"),
        (b.framing, "framing"),
        (b.setup, "connection setup"),
    ];
    phases.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (bytes, what) = phases[0];
    let mut s = format!(
        "{} carries {} B of {what} per message",
        t.transport,
        style::num(bytes)
    );
    if what.starts_with("HTTP") && t.requests_per_message > 0.05 {
        let _ = write!(s, " ({})", per_message(t.requests_per_message, "request"));
    }
    s
}

/// The transports after the best in `ranked` whose interval overlaps the best one's, when the
/// best has an interval; `None` without repeats.
fn tied_within_noise<'a>(
    ranked: &[(&'a TransportResult, f64)],
    spread: &dyn Fn(&TransportResult) -> Option<Spread>,
) -> Option<Vec<&'a TransportResult>> {
    let best = spread(ranked.first()?.0)?;
    Some(
        ranked[1..]
            .iter()
            .filter(|(t, _)| spread(t).is_some_and(|s| s.overlaps(&best)))
            .map(|(t, _)| *t)
            .collect(),
    )
}

/// A card for a figure ranked best first: `value` formats the winner's value, `why` explains
/// from the best and worst `(transport, value)`; ties are judged by `spread` when there are
/// repeats, else by the 10% rule.
fn best_of<'a>(
    title: &'static str,
    ranked: &[(&'a TransportResult, f64)],
    spread: &dyn Fn(&TransportResult) -> Option<Spread>,
    value: impl Fn(f64) -> String,
    why: impl Fn((&TransportResult, f64), (&TransportResult, f64)) -> String,
) -> Option<Card<'a>> {
    let (&best, &worst) = (ranked.first()?, ranked.last()?);
    let why = why(best, worst);
    Some(match tied_within_noise(ranked, spread) {
        Some(tied) if !tied.is_empty() => {
            let names: Vec<&str> = std::iter::once(best.0)
                .chain(tied)
                .map(|t| t.transport.as_str())
                .collect();
            let r = best
                .0
                .repeats
                .as_ref()
                .expect("a spread comes from repeats");
            Card {
                title,
                winner: None,
                value: "tied within noise".into(),
                why: format!(
                    "{}: their {:.1}% intervals over {} repeats overlap, so none is better \
                     beyond the noise. {why}",
                    names.join(", "),
                    r.confidence * 100.0,
                    r.runs
                ),
            }
        }
        Some(_) => Card {
            title,
            winner: Some(best.0),
            value: value(best.1),
            why: format!("{why} Its interval over the repeats does not overlap the runner-up's."),
        },
        None => Card {
            title,
            winner: Some(best.0),
            value: value(best.1),
            why: why + &ties(ranked),
        },
    })
}

/// Every card for `ts`, in page order; a question no transport can answer has no card.
pub fn cards<'a>(ts: &[&'a TransportResult]) -> Vec<Card<'a>> {
    let mut cards = Vec::new();
    let p99 = figure("p99");
    cards.extend(best_of(
        "Lowest latency (p99)",
        &ranked(ts, |t| p99.of(t)),
        &|t| p99.spread(t),
        |v| format!("{} ms", style::ms(v)),
        |(best, v), (worst, w)| {
            let mut why = format!(
                "p99 {} ms over {} messages; the slowest, {}, {} ms.",
                style::ms(v),
                style::thousands(best.latency.count as f64),
                worst.transport,
                style::ms(w)
            );
            if pushbench_results::transport_of(&worst.transport) == "short-poll" {
                why.push_str(
                    " short-poll makes each message wait for the next poll, so its median is \
                     about half the scenario's poll_interval.",
                );
            }
            why
        },
    ));
    let bytes = figure("wire bytes");
    cards.extend(best_of(
        "Fewest wire bytes",
        &ranked(ts, |t| bytes.of(t)),
        &|t| bytes.spread(t),
        |v| format!("{} B/msg", style::num(v)),
        |(best, v), (worst, w)| {
            format!(
                "{} B per delivered message, {}% over the payload; the most, {}, {} B: {}.",
                style::num(v),
                style::num(best.overhead_ratio * 100.0),
                worst.transport,
                style::num(w),
                main_overhead(worst)
            )
        },
    ));
    let cpu = figure("server CPU");
    cards.extend(best_of(
        "Lowest server CPU",
        &ranked(ts, |t| cpu.of(t)),
        &|t| cpu.spread(t),
        |v| format!("{} ms / 1,000 msgs", style::num(v)),
        |(best, v), (worst, w)| {
            let mut why = format!(
                "{} ms of server CPU per 1,000 messages; the most, {}, {} ms",
                style::num(v),
                worst.transport,
                style::num(w)
            );
            if worst.requests_per_message > 0.5 {
                let _ = write!(
                    why,
                    ": it parses and answers {}",
                    per_message(worst.requests_per_message, "request")
                );
            }
            why.push('.');
            if best.server.cpu_s < 1.0 {
                why.push_str(" CPU time this small is coarse (see Notes).");
            }
            why
        },
    ));
    cards.extend(best_of(
        "Least memory per connection",
        &ranked(ts, |t| t.server.rss_per_connection_bytes),
        &|_| None,
        style::bytes,
        |_, (worst, w)| {
            format!(
                "Server memory each held-open connection added; the most, {}, {}. Polling holds \
                 no connection between requests, so it has no figure.",
                worst.transport,
                style::bytes(w)
            )
        },
    ));
    cards.extend(throughput(ts));
    cards
}

/// Throughput names a winner only when the transports differ by more than 1% (and, with
/// repeats, beyond their intervals): when every one kept up with the publish rate, it does not
/// separate them.
fn throughput<'a>(ts: &[&'a TransportResult]) -> Option<Card<'a>> {
    let f = figure("throughput");
    // Highest first: the ranking is by the negated rate.
    let mut r = ranked(ts, |t| f.of(t).map(|v| -v));
    for x in &mut r {
        x.1 = -x.1;
    }
    let (&(hi, u), &(lo, l)) = (r.first()?, r.last()?);
    if u > 0.0 && (u - l) / u < 0.01 {
        return Some(Card {
            title: "Throughput",
            winner: None,
            value: format!("all equal: {}/s", style::num(u)),
            why: "Every transport kept up with the publish rate, so throughput does not \
                  separate them here; latency and cost do."
                .into(),
        });
    }
    let why = format!(
        "Messages delivered per second in the measured window; the fewest, {}, {}/s.",
        lo.transport,
        style::num(l)
    );
    best_of(
        "Throughput",
        &r,
        &|t| f.spread(t),
        |v| format!("{}/s", style::num(v)),
        |_, _| why.clone(),
    )
    .map(|mut c| {
        // The 10% rule's "within 10%" wording is about the lowest-wins figures only.
        if c.winner.is_some() && hi.repeats.is_none() {
            c.why.clone_from(&why);
        }
        c
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_results::Status;

    fn t(name: &str, p99_us: u64, throughput: f64) -> TransportResult {
        let mut t = TransportResult {
            transport: name.into(),
            status: Status::Complete,
            throughput_msgs_per_s: throughput,
            ..Default::default()
        };
        t.latency.count = 100;
        t.latency.p99_us = p99_us;
        t.messages.seq.delivered = 100;
        t.bytes_per_message.total = 200.0;
        t
    }

    #[test]
    fn the_lowest_p99_wins_and_near_ties_are_named() {
        let (a, b, c) = (
            t("sse", 1000, 50.0),
            t("websocket", 1050, 50.0),
            t("short-poll", 9000, 50.0),
        );
        let cards = cards(&[&c, &a, &b]);
        let lat = &cards[0];
        assert_eq!(lat.title, "Lowest latency (p99)");
        assert_eq!(lat.winner.unwrap().transport, "sse");
        assert_eq!(lat.value, "1.00 ms");
        assert!(
            lat.why.contains("Within 10% of it: websocket;"),
            "{}",
            lat.why
        );
        assert!(lat.why.contains("the slowest, short-poll, 9.00 ms"));
        assert!(lat.why.contains("poll_interval"));
    }

    #[test]
    fn failed_transports_and_missing_values_are_not_ranked() {
        let mut dead = t("raw-tcp", 1, 0.0);
        dead.status = Status::Failed;
        let poll = t("long-poll", 5000, 50.0);
        let cards = cards(&[&dead, &poll]);
        assert_eq!(cards[0].winner.unwrap().transport, "long-poll");
        // Nobody holds connections: no memory card.
        assert!(cards
            .iter()
            .all(|c| c.title != "Least memory per connection"));
    }

    #[test]
    fn equal_throughput_names_no_winner() {
        let (a, b) = (t("sse", 1000, 100.0), t("websocket", 1000, 100.5));
        let card = cards(&[&a, &b]).pop().unwrap();
        assert_eq!(card.title, "Throughput");
        assert!(card.winner.is_none());
        let (a, b) = (t("sse", 1000, 100.0), t("long-poll", 1000, 80.0));
        let card = cards(&[&a, &b]).pop().unwrap();
        assert_eq!(card.winner.unwrap().transport, "sse");
        assert!(card.why.contains("the fewest, long-poll, 80/s"));
    }

    fn with_p99_spread(mut t: TransportResult, low: u64, high: u64) -> TransportResult {
        t.repeats = Some(pushbench_results::model::Repeats {
            runs: 5,
            confidence: 0.9375,
            p99_us: Spread {
                median: t.latency.p99_us as f64,
                low: low as f64,
                high: high as f64,
            },
            ..Default::default()
        });
        t
    }

    #[test]
    fn with_repeats_overlapping_intervals_are_a_tie_and_disjoint_ones_a_win() {
        let a = with_p99_spread(t("websocket", 1000, 50.0), 900, 1200);
        let b = with_p99_spread(t("raw-tcp", 1100, 50.0), 1150, 1300);
        let c = with_p99_spread(t("sse", 3000, 50.0), 2500, 3500);
        let card = cards(&[&a, &b, &c]).remove(0);
        assert!(card.winner.is_none());
        assert_eq!(card.value, "tied within noise");
        assert!(
            card.why
                .starts_with("websocket, raw-tcp: their 93.8% intervals over 5 repeats overlap"),
            "{}",
            card.why
        );
        assert!(!card.why.contains("sse:"), "{}", card.why);
        // Without the overlap, websocket wins, and a 10% closeness no longer makes a tie.
        let b = with_p99_spread(t("raw-tcp", 1050, 50.0), 1250, 1300);
        let card = cards(&[&a, &b, &c]).remove(0);
        assert_eq!(card.winner.unwrap().transport, "websocket");
        assert!(
            card.why.contains("does not overlap the runner-up's"),
            "{}",
            card.why
        );
        assert!(!card.why.contains("Within 10%"), "{}", card.why);
    }
}
