//! The HTTP port: accept loop, routing, `/publish`, `/stats` and error answers.
//!
//! Each accepted socket is wrapped in a [`CountingIo`], and its first request head is read here
//! ([`first`]), within `--idle-timeout-ms`: a stream subscription on HTTP/1.1 is then served
//! directly ([`crate::stream`]), a connection of polls too ([`polls`]), until it asks for
//! something else, and everything else by hyper (HTTP/1.1 with upgrades, or HTTP/2 by prior
//! knowledge), which reads the head again. Requests are routed by path to the transport modules;
//! anything malformed is answered with a 4xx, a one-line reason and a log line. What the handlers
//! share (body type, response builders, query parsing, [`Rejection`]) lives in [`reply`], which
//! imports no transport, so only this router depends on the transport modules.

pub mod first;
mod polls;
pub mod reply;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;

use futures_util::stream::Once;
use futures_util::StreamExt;
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pushbench_wire::Transport;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::WaitForCancellationFuture;

use crate::counting::CountingIo;
use crate::pending::Waiting;
use crate::shared::Shared;
use crate::stats::{ConnTag, CONTROL};
use crate::stream::Stream;
use crate::woken::OnWake;
use crate::{iframe, page, poll, sse, tls, websocket, xhr_stream};
use first::{First, Rewind};
use reply::{full, response, Body, Query, Rejection};

/// Accepts HTTP connections until shutdown; HTTPS ones if `tls` is given.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    crate::shared::accept_until_shutdown(listener, shared, "http", tls, accept_connection).await
}

/// Answers 503 to a connection that found no place, and closes it.
async fn refuse(io: &mut (impl AsyncWrite + Unpin)) {
    let reason = "connection limit reached\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{reason}",
        reason.len()
    );
    let _ = io.write_all(answer.as_bytes()).await;
    let _ = io.shutdown().await;
}

async fn accept_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    waiting: Waiting,
    tls: Option<TlsAcceptor>,
) {
    if let Err(e) = handle_connection(stream, peer, shared, waiting, tls).await {
        // Clients going away mid-response are routine for push; keep it at debug.
        tracing::debug!(%peer, error = %e, "http connection ended with an error");
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection as accepted: plain TCP or TLS, its bytes counted at the socket.
pub trait Accepted: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The plain socket and its counter, for the paths a publish writes into directly; the
    /// connection itself (`Err`) under TLS, whose bytes must pass through its session.
    fn into_plain(self) -> Result<(TcpStream, Arc<ConnTag>), Self>
    where
        Self: Sized;

    /// The plain socket's descriptor, `None` under TLS.
    fn plain_fd(&self) -> Option<RawFd>;
}

impl Accepted for CountingIo<TcpStream> {
    fn into_plain(self) -> Result<(TcpStream, Arc<ConnTag>), Self> {
        Ok(self.into_parts())
    }

    fn plain_fd(&self) -> Option<RawFd> {
        Some(self.get_ref().as_raw_fd())
    }
}

impl Accepted for tokio_rustls::server::TlsStream<CountingIo<TcpStream>> {
    fn into_plain(self) -> Result<(TcpStream, Arc<ConnTag>), Self> {
        Err(self)
    }

    fn plain_fd(&self) -> Option<RawFd> {
        None
    }
}

async fn handle_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    waiting: Waiting,
    tls: Option<TlsAcceptor>,
) -> Result<(), BoxError> {
    stream.set_nodelay(true)?;
    let tag = Arc::new(ConnTag::new(shared.stats.clone()));
    let io = CountingIo::new(stream, tag.clone());
    let Some(acceptor) = tls else {
        return serve_accepted(io, peer, shared, waiting, tag).await;
    };
    match tls::handshake(
        &acceptor,
        io,
        &shared,
        waiting.evicted.clone().cancelled_owned(),
    )
    .await
    {
        Ok(io) => Box::pin(serve_accepted(io, peer, shared, waiting, tag)).await,
        Err(refused) => {
            match refused {
                tls::Refused::Closed => {}
                tls::Refused::TimedOut(timeout) => {
                    tracing::info!(%peer, ?timeout, "no TLS handshake in time, closing");
                }
                tls::Refused::Failed(e) => {
                    tracing::info!(%peer, error = %e, "TLS handshake failed, closing");
                }
            }
            Ok(())
        }
    }
}

/// Serves a connection from its first request on.
async fn serve_accepted<T: Accepted>(
    mut io: T,
    peer: SocketAddr,
    shared: Arc<Shared>,
    waiting: Waiting,
    tag: Arc<ConnTag>,
) -> Result<(), BoxError> {
    let config = &shared.config;
    let first = tokio::select! {
        _ = shared.shutdown.cancelled() => return Ok(()),
        _ = waiting.evicted.cancelled() => {
            tracing::info!(%peer, limit = config.max_pending_connections, "closing the connection that waited longest for a first request, to make room");
            return Ok(());
        }
        first = tokio::time::timeout(config.idle_timeout, first::read(&mut io, config.max_request_head)) => first,
    };
    let Ok(first) = first else {
        tracing::info!(%peer, timeout = ?config.idle_timeout, "no complete request head in time, closing");
        return Ok(());
    };
    drop(waiting);
    let first = first?;
    if !matches!(first, First::Closed) {
        let Some(permit) = shared.admit() else {
            tracing::warn!(%peer, "connection limit reached, answering 503");
            refuse(&mut io).await;
            return Ok(());
        };
        tag.hold(permit);
    }
    let pre = match first {
        First::Closed => return Ok(()),
        First::Other(pre) => pre,
        // Boxed, as hyper's state is below: a stream's task should not carry it.
        First::Poll(buf, target) => {
            let held = (shared.config.direct_streams)
                .then(|| io.plain_fd())
                .flatten()
                .map(|fd| polls::HeldPoll::new(fd, tag.clone(), shared.clone()));
            match Box::pin(polls::serve(
                &mut io, &shared, &tag, buf, target, peer, held,
            ))
            .await?
            {
                polls::Served::Closed => return Ok(()),
                polls::Served::Hyper(pre) => pre,
            }
        }
        First::Stream(request, pre) => match open_stream(&request, &shared) {
            Ok(stream) => {
                // Freed now, not held for the life of the stream.
                drop((request, pre));
                let transport = stream.transport().index();
                tag.set(transport);
                shared.stats.request(transport);
                if shared.config.direct_streams {
                    match io.into_plain() {
                        Ok((socket, tag)) => return Ok(stream.serve_direct(socket, tag).await?),
                        Err(tls) => io = tls,
                    }
                }
                return Ok(stream.serve(&mut io).await?);
            }
            // hyper reads the request again and answers the refusal as it answers any other.
            Err(_) => pre,
        },
    };
    let http2 = pre.starts_with(first::H2_PREFACE);
    // Boxed: hyper's connection state is about 2 KiB, which every directly served stream
    // would otherwise carry in its task too.
    Box::pin(serve_with_hyper(Rewind::new(io, pre), http2, shared, tag)).await
}

async fn serve_with_hyper<T: Accepted>(
    io: Rewind<T>,
    http2: bool,
    shared: Arc<Shared>,
    tag: Arc<ConnTag>,
) -> Result<(), BoxError> {
    let io = TokioIo::new(io);
    let service = {
        let shared = shared.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let tag = tag.clone();
            async move { Ok::<_, Infallible>(route(req, &shared, &tag).await) }
        })
    };
    // The protocol is known from the first bytes, so each gets its own builder rather than
    // hyper-util's auto-detecting one, whose layer every poll of the connection went through.
    if http2 {
        // An HTTP/2 connection is pinged once a heartbeat interval, and closed when a ping goes
        // unanswered for the idle timeout: a peer that vanished does not hold its place for ever.
        let conn = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(shared.config.heartbeat)
            .keep_alive_timeout(shared.config.idle_timeout)
            // WebSockets over HTTP/2 (RFC 8441): SETTINGS_ENABLE_CONNECT_PROTOCOL.
            .enable_connect_protocol()
            .serve_connection(io, service);
        until_shutdown(conn, &shared, |c| c.graceful_shutdown()).await
    } else {
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(shared.config.idle_timeout)
            .max_buf_size(shared.config.max_request_head)
            .serve_connection(io, service)
            .with_upgrades();
        until_shutdown(conn, &shared, |c| c.graceful_shutdown()).await
    }
}

/// Serves `conn` to its end; at shutdown, finishes what is in flight (streams end themselves on
/// shutdown) and takes nothing new. The shutdown wait is looked at only when it fires, not at
/// every request the connection serves (see `OnWake`).
async fn until_shutdown<C, E>(
    conn: C,
    shared: &Shared,
    graceful: impl FnOnce(Pin<&mut C>),
) -> Result<(), BoxError>
where
    C: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    tokio::pin!(conn);
    let mut shutdown = shutdown_signal(shared);
    tokio::select! {
        biased;
        result = conn.as_mut() => result.map_err(Into::into),
        _ = shutdown.next() => {
            graceful(conn.as_mut());
            conn.await.map_err(Into::into)
        }
    }
}

/// The server's shutdown, as a stream of one item looked at only when it fires (see `OnWake`):
/// a connection registers its wait once, not at every request it serves.
type ShutdownSignal<'a> = OnWake<Once<Pin<Box<WaitForCancellationFuture<'a>>>>>;

fn shutdown_signal(shared: &Shared) -> ShutdownSignal<'_> {
    OnWake::new(futures_util::stream::once(Box::pin(
        shared.shutdown.cancelled(),
    )))
}

/// Opens the stream a request for one of the streaming transports asks for.
fn open_stream<B>(req: &Request<B>, shared: &Arc<Shared>) -> Result<Stream, Rejection> {
    match Transport::from_path(req.uri().path()) {
        Some(Transport::XhrStream) => xhr_stream::open(req, shared),
        Some(Transport::Iframe) => iframe::open(req, shared),
        Some(Transport::Sse) => sse::open(req, shared),
        _ => Err(Rejection {
            status: StatusCode::NOT_FOUND,
            reason: format!("{} is not a stream", req.uri().path()),
            allow: None,
        }),
    }
}

async fn route(req: Request<Incoming>, shared: &Arc<Shared>, tag: &ConnTag) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let transport = Transport::from_path(&path);
    let slot = transport.map_or(CONTROL, Transport::index);
    tag.set(slot);
    shared.stats.request(slot);
    if req.version() == Version::HTTP_2 {
        shared.stats.request_http2(slot);
    }
    let framing = framing_problem(&req);
    let close = framing.is_some();
    let result = match framing {
        Some(rejection) => Err(rejection),
        None => dispatch(req, &method, &path, transport, shared).await,
    };
    result.unwrap_or_else(|rejection| {
        shared.stats.bad_request();
        tracing::info!(%method, %path, status = rejection.status.as_u16(), reason = %rejection.reason, "request rejected");
        let mut r = response(
            rejection.status,
            "text/plain; charset=utf-8",
            full(format!("{}\n", rejection.reason)),
        );
        if let Some(allow) = rejection.allow {
            r.headers_mut().insert(ALLOW, HeaderValue::from_static(allow));
        }
        if close {
            // Whatever follows on this connection cannot be told apart from the body.
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        r
    })
}

/// A request body in a transfer coding push-server does not decode (RFC 9112 §6.1; hyper takes
/// any list ending in `chunked` and would hand over the body still gzipped): refused before
/// anything reads the body, and the connection closed after the answer, so nothing that followed
/// can be taken for another request. (A request with both Transfer-Encoding and Content-Length
/// hyper itself reads as chunked and answers with the connection closed, as §6.1 allows.)
fn framing_problem(req: &Request<Incoming>) -> Option<Rejection> {
    let codings: Vec<&HeaderValue> = req.headers().get_all(TRANSFER_ENCODING).iter().collect();
    if codings.is_empty() {
        return None;
    }
    let chunked_only = codings.len() == 1
        && codings[0]
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
    (!chunked_only).then(|| Rejection {
        status: StatusCode::NOT_IMPLEMENTED,
        reason: "transfer codings other than chunked are not supported".into(),
        allow: None,
    })
}

async fn dispatch(
    req: Request<Incoming>,
    method: &Method,
    path: &str,
    transport: Option<Transport>,
    shared: &Arc<Shared>,
) -> Result<Response<Body>, Rejection> {
    match (method, path, transport) {
        // The two handlers that wait are boxed: hyper keeps one in-flight slot the size of
        // this future for the whole connection, streams included, and inline they made it
        // about 1.9 KiB.
        (&Method::POST, "/publish", _) => Box::pin(publish(req, shared)).await,
        (&Method::GET, "/stats", _) => Ok(stats(shared)),
        (&Method::GET, "/", _) => Ok(page::index()),
        (&Method::GET, _, Some(t)) => match t {
            Transport::ShortPoll => poll::short(&Query::parse(req.uri().query()), shared)
                .map(poll::Answer::into_response),
            Transport::LongPoll => Box::pin(poll::long(req, shared)).await,
            Transport::XhrStream | Transport::Iframe | Transport::Sse => {
                open_stream(&req, shared).map(Stream::into_response)
            }
            Transport::WebSocket => websocket::handle(req, shared),
            Transport::RawTcp | Transport::MultipartMixed => {
                unreachable!("push-server has no HTTP path for {t}")
            }
        },
        // RFC 8441: over HTTP/2, a WebSocket opens with an extended CONNECT.
        (&Method::CONNECT, _, Some(Transport::WebSocket)) if req.version() == Version::HTTP_2 => {
            websocket::handle(req, shared)
        }
        (_, "/publish", _) => Err(not_allowed("POST")),
        (_, "/stats" | "/", _) | (_, _, Some(_)) => Err(not_allowed("GET")),
        _ => Err(Rejection {
            status: StatusCode::NOT_FOUND,
            reason: format!("no such endpoint: {path}"),
            allow: None,
        }),
    }
}

fn not_allowed(allow: &'static str) -> Rejection {
    Rejection {
        status: StatusCode::METHOD_NOT_ALLOWED,
        reason: format!("method not allowed; this endpoint takes {allow}"),
        allow: Some(allow),
    }
}

async fn publish(req: Request<Incoming>, shared: &Shared) -> Result<Response<Body>, Rejection> {
    let query = Query::parse(req.uri().query());
    let topic = query.topic()?.to_owned();
    let max = shared.hub.max_message_size();
    let too_large = |announced: Option<usize>| Rejection {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        reason: match announced {
            Some(len) => format!("message of {len} bytes exceeds the limit of {max} bytes"),
            None => format!("message exceeds the limit of {max} bytes"),
        },
        allow: None,
    };
    // Refuse an announced oversized body before reading any of it.
    if let Some(len) = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
    {
        if len > max {
            return Err(too_large(Some(len)));
        }
    }
    // A body that stops arriving must not hold the connection (and its place) for ever.
    let deadline = shared.config.idle_timeout;
    let body = tokio::time::timeout(deadline, Limited::new(req.into_body(), max).collect())
        .await
        .map_err(|_| Rejection {
            status: StatusCode::REQUEST_TIMEOUT,
            reason: format!("the request body did not arrive within {deadline:?}"),
            allow: None,
        })?
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large(None)
            } else {
                Rejection::bad(format!("could not read the request body: {e}"))
            }
        })?
        .to_bytes();
    let message = shared.hub.publish(&topic, body)?;
    shared.stats.published();
    let answer = format!("{{\"topic\":\"{topic}\",\"seq\":{}}}\n", message.seq);
    Ok(response(StatusCode::OK, "application/json", full(answer)))
}

fn stats(shared: &Shared) -> Response<Body> {
    let snapshot = shared
        .stats
        .snapshot(shared.hub.topic_count(), shared.hub.memory());
    let json = serde_json::to_vec_pretty(&snapshot).expect("stats serialise");
    response(StatusCode::OK, "application/json", full(json))
}
