//! Short- and long-poll clients: `GET /poll` every `poll_interval`, or `GET /long-poll` again as
//! soon as the last one answered, always with `after=` the last sequence seen (on servers that
//! answer one published body per poll, such as Nchan, with the last answer's cache validators).
//!
//! Per poll, the request head counts as headers up, the response head as headers down, the JSON
//! array's brackets and commas (and any chunk framing) as framing. With `poll_new_connection` each
//! poll opens its own TCP connection, as a client behind a proxy that does not keep alive would.
//! Over HTTP/2 (`http = "2"`), each poll is a stream on the client's connection, and its
//! HEADERS frames count as its headers (see [`crate::http2`]).

use bytes::Bytes;
use pushbench_wire::{poll, Transport};
use tokio::time::Instant;

use super::{Client, ClientError, Shared, State};
use crate::profile::Framing;

use tokio_util::sync::WaitForCancellationFuture;

use crate::http1::{Head, Http1, HttpError};
use crate::http2::{self, H2Conn};

/// Polls until cancelled.
pub async fn session(
    shared: &Shared,
    client: &Client,
    st: &mut State,
    long: bool,
) -> Result<(), ClientError> {
    let Some(_) = st.ready(shared).await else {
        return Ok(());
    };
    let transport = if long {
        Transport::LongPoll
    } else {
        Transport::ShortPoll
    };
    let framing = shared.profile.framing;
    let mut conn: Option<Http1> = None;
    let mut h2: Option<H2Conn> = None;
    let mut next_poll = Instant::now();
    // One timer and one cancellation waiter for the whole loop, re-armed each poll rather than
    // registered anew: this loop runs thousands of times a second across clients.
    let sleep = tokio::time::sleep_until(next_poll);
    tokio::pin!(sleep);
    let cancelled = shared.cancel.cancelled();
    tokio::pin!(cancelled);
    let mut target = String::with_capacity(128);
    let mut again = false;
    let result = async {
        loop {
            if shared.cancel.is_cancelled() {
                return Ok(());
            }
            if !long && !again {
                // Behind schedule (or polling back to back): go at once, without a timer.
                if next_poll > Instant::now() {
                    sleep.as_mut().reset(next_poll);
                    tokio::select! {
                        biased;
                        _ = &mut cancelled => return Ok(()),
                        _ = &mut sleep => {}
                    }
                } else if shared.cancel.is_cancelled() {
                    return Ok(());
                }
                // A fixed cadence; a poll that overran its slot is followed at once, not twice.
                next_poll = (next_poll + shared.poll_interval).max(Instant::now());
            }
            st.subscribe_path(shared, transport, &client.topic, &mut target);
            let headers = st.subscribe_headers(shared, transport);
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (head, body) = if shared.http2 {
                match h2_poll(shared, st, &mut h2, &target, &headers, cancelled.as_mut()).await? {
                    Some(answer) => answer,
                    None => return Ok(()),
                }
            } else {
                let mut retried = false;
                loop {
                    if conn.as_ref().is_some_and(|h| h.io.closed_by_peer()) {
                        if let Some(h) = conn.take() {
                            st.finish_conn(&h.io);
                        }
                    }
                    let reused = conn.is_some();
                    let http = match &mut conn {
                        Some(h) => h,
                        None => {
                            let io = st
                                .connect(
                                    shared.target.http,
                                    shared.target.tls.as_ref().map(|t| (t, true)),
                                )
                                .await?;
                            conn.insert(Http1::new(
                                io,
                                &shared.target.host,
                                shared.header_block.clone(),
                            ))
                        }
                    };
                    let exchange: Result<Option<(Head, Bytes)>, HttpError> = async {
                        st.conn.headers_up +=
                            http.request("GET", &target, &headers, b"").await? as u64;
                        st.report.requests += 1;
                        let head = tokio::select! {
                            biased;
                            _ = &mut cancelled => return Ok(None),
                            head = http.read_head() => head?,
                        };
                        st.conn.headers_down += head.len as u64;
                        let (body, _chunk_framing) = http.read_body(&head).await?;
                        Ok(Some((head, body)))
                    }
                    .await;
                    match exchange {
                        Ok(Some(answer)) => break answer,
                        Ok(None) => return Ok(()),
                        // A kept-alive connection the server closed while idle: retry once on a
                        // fresh one, as HTTP clients do, rather than count an error. (Not one the
                        // drop fault closed, nor one that went silent for the heartbeat timeout: those
                        // are counted, and reconnected after a wait.)
                        Err(e @ (HttpError::Closed | HttpError::Io(_)))
                            if reused
                                && !retried
                                && !super::fault::is_dropped(&e)
                                && !super::fault::caused_by::<crate::net::HeartbeatTimeout>(&e) =>
                        {
                            retried = true;
                            if let Some(h) = conn.take() {
                                st.finish_conn(&h.io);
                            }
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            let answered = head.status == 200;
            if !answered && !shared.profile.empty_poll.contains(&head.status) {
                return Err(ClientError::refused(&target, head.status, &body));
            }
            let (mut empty, mut advanced) = (true, false);
            match framing {
                Framing::Envelope => {
                    let undecodable = |e| ClientError::undecodable(e, &body);
                    for env in poll::envelopes(&body).map_err(undecodable)? {
                        let (raw, decoded) = env.map_err(undecodable)?;
                        st.decoded(raw.len(), decoded)?;
                        empty = false;
                    }
                }
                // One published body per answer, resumed from the answer's validators.
                Framing::Body => {
                    if answered && !body.is_empty() {
                        let before = st.resume_after();
                        st.body(&body)?;
                        empty = false;
                        // A message seen before (the server did not move on) is no reason to
                        // ask again at once: that could spin.
                        advanced = st.resume_after() > before;
                    }
                    st.advance_cursor(None, head.validators.as_deref());
                }
            }
            if empty {
                st.report.empty_polls += 1;
            }
            // A server that answers one message per poll (Nchan's interval-poll) may hold more:
            // ask again at once, and wait for the interval only once it has nothing new.
            again = advanced;
            st.flush();
            if shared.poll_new_connection || !head.keep_alive {
                if let Some(h) = conn.take() {
                    st.finish_conn(&h.io);
                }
                if let Some(h) = h2.take() {
                    st.finish_h2(h, false).await;
                }
            }
        }
    }
    .await;
    if let Some(h) = conn.take() {
        st.finish_conn(&h.io);
    }
    if let Some(h) = h2.take() {
        st.finish_h2(h, false).await;
    }
    result
}

/// One poll over HTTP/2 (`http = "2"`), on `conn` or a new connection (with `multiplex`, a
/// share of a pooled one) if it has none or the server has closed it. `None`: cancelled while
/// waiting for the answer.
async fn h2_poll(
    shared: &Shared,
    st: &mut State,
    conn: &mut Option<H2Conn>,
    target: &str,
    headers: &[(&str, &str)],
    cancelled: std::pin::Pin<&mut WaitForCancellationFuture<'_>>,
) -> Result<Option<(Head, Bytes)>, ClientError> {
    if conn.as_mut().is_some_and(|c| c.requester().is_closed()) {
        if let Some(h) = conn.take() {
            st.finish_h2(h, false).await;
        }
    }
    let h2 = match conn {
        Some(h) => h,
        None => conn.insert(st.open_h2(shared).await?),
    };
    st.report.requests += 1;
    let answer = async {
        let (parts, body) = h2.requester().get(target, headers).await?.into_parts();
        let body = http2::read_all(body).await?;
        Ok::<_, HttpError>((http2::head(&parts), body))
    };
    tokio::select! {
        biased;
        _ = cancelled => Ok(None),
        answer = answer => Ok(Some(answer?)),
    }
}
