//! Each resume convention a profile can name, against a scripted server that breaks every stream
//! a quarter of a second after its first message and resumes a client only from what its request says:
//! `after` from the query, `last-event-id` from the header (ids the server made up, not sequence
//! numbers), `cache-headers` from `If-Modified-Since`/`If-None-Match`, and `none` from the start
//! of the topic. A client that resumed wrongly would lose messages (the SSE stream starts at the
//! newest without a `Last-Event-ID`) or receive them twice (the others start at the oldest), so
//! "delivered once" here means the convention worked, over several reconnects per client.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{assert_delivered_once, options, tempdir};
use load_gen::client::Target;
use load_gen::profile::{self, ServerKind};
use load_gen::runner;
use load_gen::scenario::Scenario;
use pushbench_results::TransportResult;
use pushbench_wire::multipart;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long the scripted server keeps a stream open before it closes it.
const STREAM_LIFE: Duration = Duration::from_millis(250);
/// How long it holds a long poll with nothing new.
const LONG_POLL_HOLD: Duration = Duration::from_millis(500);
/// The `Last-Modified` of every poll answer: the `Etag` alone tells messages apart, and a client
/// that sent back anything else is refused.
const LAST_MODIFIED: &str = "Sat, 01 Jan 2000 00:00:00 GMT";

/// One subscribe request as the server received it.
#[derive(Debug, Clone)]
struct Subscribe {
    /// The path's first segment: which transport route.
    route: String,
    /// The query string, if any.
    query: String,
    /// The resume headers it carried.
    last_event_id: Option<String>,
    if_modified_since: Option<String>,
    if_none_match: Option<String>,
}

#[derive(Default)]
struct Topics {
    bodies: HashMap<String, Vec<Vec<u8>>>,
}

struct Scripted {
    topics: Mutex<Topics>,
    published: watch::Sender<u64>,
    seen: Mutex<Vec<Subscribe>>,
}

impl Scripted {
    fn messages_from(&self, topic: &str, from: usize) -> Vec<Vec<u8>> {
        let topics = self.topics.lock().unwrap();
        topics
            .bodies
            .get(topic)
            .map(|b| b.get(from..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }

    fn len(&self, topic: &str) -> usize {
        let topics = self.topics.lock().unwrap();
        topics.bodies.get(topic).map_or(0, Vec::len)
    }
}

/// A request head and body, as the server read it.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// Reads one request from `sock`, keeping what follows it in `buf`; `None` at a clean close.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(len) = req.parse(buf).expect("a valid request") {
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let (method, path) = (req.method.unwrap().to_owned(), req.path.unwrap().to_owned());
            let body_len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            while buf.len() < len + body_len {
                if sock.read_buf(buf).await.ok()? == 0 {
                    return None;
                }
            }
            let body = buf[len..len + body_len].to_vec();
            buf.drain(..len + body_len);
            return Some(Request {
                method,
                path,
                headers,
                body,
            });
        }
        if sock.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

async fn serve(server: Arc<Scripted>, listener: TcpListener) {
    loop {
        let (sock, _) = listener.accept().await.unwrap();
        tokio::spawn(connection(server.clone(), sock));
    }
}

async fn connection(server: Arc<Scripted>, mut sock: TcpStream) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut sock, &mut buf).await {
        let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let (route, topic) = (parts.next().unwrap().to_owned(), parts.next().unwrap_or(""));
        let topic = topic.to_owned();
        if req.method == "POST" && route == "pub" {
            {
                let mut topics = server.topics.lock().unwrap();
                topics.bodies.entry(topic).or_default().push(req.body);
            }
            server.published.send_modify(|n| *n += 1);
            let answer = b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n";
            if sock.write_all(answer).await.is_err() {
                return;
            }
            continue;
        }
        server.seen.lock().unwrap().push(Subscribe {
            route: route.clone(),
            query: query.to_owned(),
            last_event_id: req.header("last-event-id"),
            if_modified_since: req.header("if-modified-since"),
            if_none_match: req.header("if-none-match"),
        });
        let keep_open = match route.as_str() {
            "chunk" => {
                let after: usize = query
                    .strip_prefix("after=")
                    .expect("?after= in the query")
                    .parse()
                    .unwrap();
                stream(&server, &mut sock, &topic, after, Framing::Chunks).await;
                false
            }
            "plain" => {
                stream(&server, &mut sock, &topic, 0, Framing::Chunks).await;
                false
            }
            "sse" => {
                // Ids are the server's own ("m-<index>"); without one, a subscriber gets what is
                // published from now on, as an EventSource server does.
                let from = match req.header("last-event-id") {
                    Some(id) => id.strip_prefix("m-").unwrap().parse::<usize>().unwrap() + 1,
                    None => server.len(&topic),
                };
                stream(&server, &mut sock, &topic, from, Framing::Events).await;
                false
            }
            "mp" => {
                let Some(from) = validated(&req) else {
                    let _ = sock.write_all(REFUSED).await;
                    return;
                };
                stream(&server, &mut sock, &topic, from, Framing::Parts).await;
                false
            }
            "poll" | "lp" => poll(&server, &mut sock, &topic, &req, route == "lp").await,
            other => panic!("no route {other}"),
        };
        if !keep_open {
            return;
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Framing {
    /// One published body per HTTP chunk.
    Chunks,
    /// One SSE event per body, with the server's id.
    Events,
    /// One `multipart/mixed` part per body, with its validators, in a body that runs until the
    /// connection closes (as Nchan sends it).
    Parts,
}

/// The answer to a request whose validators the server never sent.
const REFUSED: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";

/// The message after the one the request's `If-None-Match` names (the first when it names
/// none); `None` when only one validator came back, or one the server never sent.
fn validated(req: &Request) -> Option<usize> {
    match (req.header("if-none-match"), req.header("if-modified-since")) {
        (Some(tag), Some(since)) if since == LAST_MODIFIED => {
            Some(tag.trim_matches('"').parse::<usize>().ok()? + 1)
        }
        (None, None) => Some(0),
        _ => None,
    }
}

/// Streams `topic` from message `from` until [`STREAM_LIFE`] after its first message, then drops
/// the connection (no final chunk: a broken stream, which a client must resume from).
async fn stream(server: &Scripted, sock: &mut TcpStream, topic: &str, from: usize, f: Framing) {
    let head = match f {
        Framing::Chunks => "content-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n",
        Framing::Events => "content-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        // No length, not chunked: the body runs until close, and opens with the first boundary.
        Framing::Parts => "content-type: multipart/mixed; boundary=\"s/b\"\r\n\r\n--s/b",
    };
    let head = format!("HTTP/1.1 200 OK\r\n{head}");
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut next = from;
    let mut published = server.published.subscribe();
    // The life starts at the first message, so every stream carries something to resume from.
    let mut end = None;
    loop {
        for body in server.messages_from(topic, next) {
            let item = match f {
                Framing::Chunks | Framing::Parts => body.clone(),
                Framing::Events => {
                    let mut e = format!("id: m-{next}\ndata: ").into_bytes();
                    e.extend_from_slice(&body);
                    e.extend_from_slice(b"\n\n");
                    e
                }
            };
            let chunk = if f == Framing::Parts {
                multipart::frame("s/b", next as u64, LAST_MODIFIED, &body).to_vec()
            } else {
                let mut chunk = format!("{:x}\r\n", item.len()).into_bytes();
                chunk.extend_from_slice(&item);
                chunk.extend_from_slice(b"\r\n");
                chunk
            };
            if sock.write_all(&chunk).await.is_err() {
                return;
            }
            next += 1;
            end.get_or_insert_with(|| tokio::time::Instant::now() + STREAM_LIFE);
        }
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        tokio::select! {
            _ = tokio::time::sleep_until(end.unwrap_or(far)) => return,
            r = published.changed() => if r.is_err() { return },
        }
    }
}

/// One poll answer: the message after the one the client's `If-None-Match` names (the first
/// when it names none), with that message's validators; 304 when there is none (after holding
/// for a long poll). Returns whether the connection stays open.
async fn poll(
    server: &Scripted,
    sock: &mut TcpStream,
    topic: &str,
    req: &Request,
    long: bool,
) -> bool {
    let Some(next) = validated(req) else {
        // Refused, so the run fails.
        let _ = sock.write_all(REFUSED).await;
        return false;
    };
    let mut published = server.published.subscribe();
    let hold = tokio::time::Instant::now() + LONG_POLL_HOLD;
    let answer = loop {
        if let Some(body) = server.messages_from(topic, next).into_iter().next() {
            let mut a = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nlast-modified: {LAST_MODIFIED}\r\netag: \"{next}\"\r\n\r\n",
                body.len()
            )
            .into_bytes();
            a.extend_from_slice(&body);
            break a;
        }
        if !long {
            break b"HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\n\r\n".to_vec();
        }
        tokio::select! {
            _ = tokio::time::sleep_until(hold) => {
                break b"HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\n\r\n".to_vec();
            }
            r = published.changed() => if r.is_err() { return false },
        }
    };
    sock.write_all(&answer).await.is_ok()
}

/// The scripted server on a free loopback port, and the target it is.
async fn scripted() -> (Arc<Scripted>, Target, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Scripted {
        topics: Mutex::new(Topics::default()),
        published: watch::channel(0).0,
        seen: Mutex::new(Vec::new()),
    });
    let task = tokio::spawn(serve(server.clone(), listener));
    let target = Target {
        http: addr,
        tcp: None,
        host: addr.to_string(),
        ns: None,
        tls: None,
    };
    (server, target, task)
}

const PROFILE: &str = r#"name = "scripted"
framing = "body"
publish = { path = "/pub/{topic}", ok = [201] }
empty_poll = [304]

[transports.short-poll]
path = "/poll/{topic}"
resume = "cache-headers"

[transports.long-poll]
path = "/lp/{topic}"
resume = "cache-headers"

[transports.xhr-stream]
path = "/chunk/{topic}?after={after}"
resume = "after"

[transports.multipart-mixed]
path = "/mp/{topic}"
headers = { accept = "multipart/mixed" }
resume = "cache-headers"

[transports.sse]
path = "/sse/{topic}"
headers = { accept = "text/event-stream" }
resume = "last-event-id"
"#;

const SCENARIO: &str = "description = \"resume\"\nseed = 3\ntransports = [\"all\"]\nclients = 3\ntopics = 2\nrate = 40\npattern = \"constant\"\nmessage_size = 64\nduration = \"1200ms\"\nwarmup = \"100ms\"\ndrain = \"1500ms\"\npoll_interval = \"40ms\"\nlong_poll_timeout = \"500ms\"\n";

async fn run(profile_text: &str, name: &str) -> (Vec<TransportResult>, Vec<Subscribe>) {
    let results = tempdir(name);
    let profile = profile::parse(profile_text, Path::new("scripted.toml")).unwrap();
    let (server, target, task) = scripted().await;
    let scenario = Scenario::parse(SCENARIO, Path::new("resume.toml")).unwrap();
    let mut opts = options(&results, Some(target));
    opts.servers = vec![ServerKind::File(Box::leak(Box::new(profile)))];
    let (summary, _) = runner::run(&scenario, &opts, CancellationToken::new())
        .await
        .unwrap();
    task.abort();
    let _ = std::fs::remove_dir_all(results);
    let seen = server.seen.lock().unwrap().clone();
    (summary.transports, seen)
}

fn by_name<'a>(results: &'a [TransportResult], name: &str) -> &'a TransportResult {
    results
        .iter()
        .find(|t| t.transport == name)
        .unwrap_or_else(|| panic!("no {name} in {results:?}"))
}

/// Subscribe requests to `route` after each client's first: the reconnects (streams) or polls.
fn resumed<'a>(seen: &'a [Subscribe], route: &str) -> Vec<&'a Subscribe> {
    seen.iter().filter(|s| s.route == route).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resume_convention_resumes_where_the_client_left_off() {
    let (results, seen) = run(PROFILE, "resume").await;
    assert_eq!(results.len(), 5, "{results:?}");
    for t in &results {
        // Over several reconnects per client: the server broke every stream.
        assert!(
            t.messages.published > 20,
            "{}: {:?}",
            t.transport,
            t.messages
        );
        assert_delivered_once(t);
    }

    // after: the first request of each client asks from 0, and the reconnects (the server
    // broke each stream after 250 ms) from further on.
    let chunk = resumed(&seen, "chunk");
    let afters: Vec<u64> = chunk
        .iter()
        .map(|s| s.query.strip_prefix("after=").unwrap().parse().unwrap())
        .collect();
    assert!(chunk.len() >= 3 * 3, "{afters:?}");
    assert!(
        afters.iter().filter(|a| **a > 0).count() >= 3 * 2,
        "{afters:?}"
    );
    assert!(chunk.iter().all(|s| s.last_event_id.is_none()));

    // last-event-id: reconnects carry the server's own ids back, never a sequence number, and
    // the client does not put one in the query.
    let sse = resumed(&seen, "sse");
    let ids: Vec<&str> = sse
        .iter()
        .filter_map(|s| s.last_event_id.as_deref())
        .collect();
    assert!(sse.len() >= 3 * 3, "{ids:?}");
    assert!(ids.len() >= 3 * 2, "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("m-")), "{ids:?}");
    assert!(sse.iter().all(|s| s.query.is_empty()));

    // cache-headers, on polls and on the multipart stream's reconnects: after the first message,
    // every request sends back both of the last one's validators.
    let mp = resumed(&seen, "mp");
    assert!(mp.len() >= 3 * 3, "{}", mp.len());
    let validated = mp.iter().filter(|s| s.if_none_match.is_some()).count();
    assert!(validated >= 3 * 2, "{validated} of {}", mp.len());
    for route in ["poll", "lp"] {
        let polls = resumed(&seen, route);
        let validated = polls
            .iter()
            .filter(|s| s.if_none_match.is_some() && s.if_modified_since.is_some())
            .count();
        assert!(validated > 20, "{route}: {validated} of {}", polls.len());
        assert!(polls
            .iter()
            .all(|s| s.last_event_id.is_none() && s.query.is_empty()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_resume_convention_a_replay_is_counted_as_duplicates() {
    let profile = r#"name = "scripted-none"
framing = "body"
publish = { path = "/pub/{topic}", ok = [201] }

[transports.xhr-stream]
path = "/plain/{topic}"
resume = "none"
"#;
    let (results, seen) = run(profile, "resume-none").await;
    let t = by_name(&results, "xhr-stream");
    let m = &t.messages;
    // The server replays the topic from its start on every reconnect: nothing is lost, and
    // every message seen again is counted, not hidden.
    assert_eq!(m.seq.delivered, m.expected, "{m:?}");
    assert_eq!(m.seq.lost, 0, "{m:?}");
    assert!(m.seq.duplicated > 3 * 5, "{m:?}");
    let plain = resumed(&seen, "plain");
    assert!(plain.len() >= 3 * 3);
    assert!(plain
        .iter()
        .all(|s| s.query.is_empty() && s.last_event_id.is_none()));
}
