//! push-server's page (`GET /`) in a real headless Chromium: every transport a browser can reach,
//! opened with the browser's own API, receives every message exactly once and in order, through
//! a reconnect the page forces and through a network drop it does not see coming.
//!
//! Chromium is driven over the DevTools protocol (`util/chromium.rs`). The page is loaded through
//! a proxy (`util/proxy.rs`) so the test can cut every connection at once, the way a network drop
//! does, while the server keeps its topics: that is when `EventSource` reconnects by itself and
//! resumes with `Last-Event-ID`.
//!
//! Without Chromium the test prints how to install it and passes; with
//! `PUSHBENCH_REQUIRE_BROWSER=1` (as `.ci/run` sets) a missing browser fails it. With
//! `PUSHBENCH_BROWSER_SCREENSHOT=path.png` (relative to the workspace root) it also lets the page
//! publish for a while and saves a screenshot (the one in the README: `docs/browser-page.png`).

#[path = "util/chromium.rs"]
mod chromium;
#[path = "util/proxy.rs"]
mod proxy;
mod util;

use std::time::{Duration, Instant};

use pushbench_server::Config;
use pushbench_wire::Transport;
use serde_json::Value;

use chromium::{Chromium, Page};
use proxy::CutProxy;
use util::TestServer;

/// How long the page may take to reach each expected state.
const WAIT: Duration = Duration::from_secs(30);
/// The server's heartbeat interval, which the page is told.
const HEARTBEAT: Duration = Duration::from_millis(300);
/// Messages published in each phase.
const BATCH: u64 = 25;

/// The transports a page can open: all but raw TCP.
fn browser_transports() -> Vec<&'static str> {
    Transport::ALL
        .into_iter()
        .filter(|t| t.path().is_some())
        .map(Transport::name)
        .collect()
}

struct Session<'a> {
    browser: &'a Chromium,
    page: Page,
    started: Instant,
}

impl Session<'_> {
    async fn state(&mut self) -> Value {
        self.page
            .eval("window.pushbench && window.pushbench.ready ? window.pushbench.state() : null")
            .await
    }

    /// Polls the page's state until `check` passes, or fails the test after [`WAIT`] with the
    /// last reason, the state, the page's log and Chromium's.
    async fn wait_for(
        &mut self,
        what: &str,
        check: impl Fn(&Value) -> Result<(), String>,
    ) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let state = self.state().await;
            let verdict = if state.is_null() {
                Err("the page has not joined the topic yet".to_owned())
            } else {
                check(&state)
            };
            match verdict {
                Ok(()) => {
                    eprintln!("{:>6.1?}  {what}", self.started.elapsed());
                    return state;
                }
                Err(why) if Instant::now() >= deadline => panic!(
                    "{what}: not reached within {WAIT:?}: {why}\npage state: {}\npage log:\n{}\n\
                     chromium:\n{}",
                    serde_json::to_string_pretty(&state).unwrap(),
                    self.page.log(),
                    self.browser.stderr_tail()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Publishes `n` messages from the page, one after the other, after running `before` (a
    /// statement) in the same turn; returns the last sequence number.
    async fn publish(&mut self, before: &str, n: u64) -> u64 {
        let seqs = self
            .page
            .eval(&format!(
                "(async () => {{ {before}; return await window.pushbench.publish({n}); }})()"
            ))
            .await;
        let seqs: Vec<u64> = serde_json::from_value(seqs).unwrap();
        assert_eq!(seqs.len() as u64, n);
        *seqs.last().unwrap()
    }
}

/// Every browser transport has exactly the messages `base+1..=last`, in order, with nothing
/// lost, duplicated or reported missing.
fn all_delivered(state: &Value, last: u64) -> Result<(), String> {
    let base = state["base"].as_u64().ok_or("no base")?;
    for name in browser_transports() {
        let t = &state["transports"][name];
        let want = [
            ("received", last - base),
            ("lastSeq", last),
            ("duplicates", 0),
            ("missing", 0),
            ("gaps", 0),
            ("errors", 0),
        ];
        for (field, want) in want {
            if t[field].as_u64() != Some(want) {
                return Err(format!(
                    "{name}: {field} is {} (want {want}); status {}, last error {}",
                    t[field], t["status"], t["lastError"]
                ));
            }
        }
    }
    Ok(())
}

fn all_open(state: &Value) -> Result<(), String> {
    for name in browser_transports() {
        let status = &state["transports"][name]["status"];
        if status != "open" {
            return Err(format!("{name} is {status}"));
        }
    }
    Ok(())
}

fn count(state: &Value, name: &str, field: &str) -> u64 {
    state["transports"][name][field].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_browser_transport_receives_every_message_in_order_across_reconnects() {
    if let Some(exe) = chromium::find_or_skip("the browser test") {
        browse(&exe, Deployed::Plain).await;
    }
}

/// The same over HTTPS, where Chromium speaks HTTP/2 (ALPN `h2`, push-server's certificate
/// self-signed and let through with `--ignore-certificate-errors`): the page and every request
/// go over HTTP/2, the streams multiplexed on one connection rather than one each, and the
/// WebSocket is an extended CONNECT on it too (RFC 8441), as Chromium opens one when the server
/// allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_browser_transport_receives_every_message_over_https_and_http2() {
    if let Some(exe) = chromium::find_or_skip("the browser test over HTTPS") {
        browse(&exe, Deployed::Https).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deployed {
    Plain,
    Https,
}

/// Loads the page through a proxy the test can cut, and checks delivery live, through the
/// page's own drop and through a network drop.
async fn browse(exe: &std::path::Path, deployed: Deployed) {
    let started = Instant::now();
    // A short SSE retry, so EventSource's own reconnection does not dominate the run time, and
    // short heartbeats, so the page notices soon that a cut-off iframe document went silent.
    let config = Config {
        sse_retry: Duration::from_millis(500),
        heartbeat: HEARTBEAT,
        ..Config::default()
    };
    let (server, upstream, scheme, flags) = match deployed {
        Deployed::Plain => {
            let server = TestServer::start(config).await;
            let http = server.http;
            (server, http, "http", &[][..])
        }
        Deployed::Https => {
            // No certificate given: push-server makes a self-signed one.
            let acceptor = pushbench_server::tls::acceptor(None, None).unwrap();
            let server = TestServer::start_tls(config, acceptor).await;
            let https = server.tls.expect("an HTTPS port").0;
            (server, https, "https", &["--ignore-certificate-errors"][..])
        }
    };
    let proxy = CutProxy::start(upstream).await;
    let browser = Chromium::launch(exe, 1280, 900, flags).await;
    let url = format!(
        "{scheme}://{}/?topic=browser-test&rate=0&retry=300&poll=100&heartbeat={}",
        proxy.addr,
        HEARTBEAT.as_millis()
    );
    let page = browser.open(&url).await;
    let mut s = Session {
        browser: &browser,
        page,
        started,
    };

    let state = s.wait_for("every transport open", all_open).await;
    let base = state["base"].as_u64().unwrap();
    assert_eq!(base, 0, "a fresh topic");

    // 1. Live delivery.
    let last = s.publish("", BATCH).await;
    assert_eq!(last, base + BATCH);
    s.wait_for("first batch everywhere", |st| all_delivered(st, last))
        .await;

    // 2. The page drops every connection the way its API can, and publishes while they are
    // down; each resumes from its last sequence number.
    let last = s.publish("window.pushbench.disconnectAll()", BATCH).await;
    let after_drop = s
        .wait_for("second batch everywhere after the page's drop", |st| {
            all_delivered(st, last)?;
            all_open(st)?;
            for name in browser_transports() {
                if count(st, name, "reconnects") < 1 {
                    return Err(format!("{name} has not reconnected"));
                }
            }
            Ok(())
        })
        .await;
    check_http_versions(deployed, &server, &proxy).await;

    // 3. The network drops every connection under the page; messages are published while
    // nothing is connected. EventSource must come back by itself with Last-Event-ID: its URL
    // still says after=<where the page reopened it>, so resuming from that instead would
    // deliver the second batch again.
    proxy.cut();
    let last = s.publish("", BATCH).await;
    let end = s
        .wait_for("third batch everywhere after a network drop", |st| {
            all_delivered(st, last)?;
            all_open(st)?;
            if count(st, "sse", "nativeReconnects") < 1 {
                return Err("EventSource has not reconnected by itself".into());
            }
            // Polls may not notice: Chromium resends a request whose reused connection closed
            // before any answer. Streams had their answer cut short and must reconnect.
            for name in ["xhr-stream", "iframe", "sse", "websocket"] {
                if count(st, name, "reconnects") <= count(&after_drop, name, "reconnects") {
                    return Err(format!("{name} has not reconnected after the drop"));
                }
            }
            Ok(())
        })
        .await;
    assert_eq!(
        count(&end, "sse", "reconnects") - count(&after_drop, "sse", "reconnects"),
        count(&end, "sse", "nativeReconnects"),
        "after the network drop, EventSource alone brought SSE back"
    );

    // The browser's requests reached every endpoint (nothing answered from a cache).
    let stats = server.stats().await;
    for name in browser_transports() {
        assert!(stats.transports[name].requests > 0, "{name}: {stats:?}");
    }

    if let (Some(path), Deployed::Plain) =
        (std::env::var_os("PUSHBENCH_BROWSER_SCREENSHOT"), deployed)
    {
        screenshot(&mut s, &format!("http://{}/", proxy.addr), &path).await;
    }

    eprintln!(
        "browser test ({deployed:?}) passed in {:.1?}; final page state: {}",
        started.elapsed(),
        end["transports"]
    );
    drop(s);
    drop(browser);
    server.shutdown().await.unwrap();
}

/// Which HTTP every request the page made came over, as the server counted them: over HTTPS
/// all of them HTTP/2 (the WebSocket's an extended CONNECT, RFC 8441), in plaintext none; and
/// over HTTP/2 the page's streams and polls shared a connection where HTTP/1.1 takes one each
/// (Chromium may open one more as the page loads).
async fn check_http_versions(deployed: Deployed, server: &TestServer, proxy: &CutProxy) {
    let stats = server.stats().await;
    eprintln!(
        "{deployed:?}: {} connection(s) through the proxy",
        proxy.accepted()
    );
    for name in browser_transports() {
        let t = &stats.transports[name];
        let want = match deployed {
            Deployed::Plain => 0,
            Deployed::Https => t.requests,
        };
        assert!(t.requests > 0, "{name}: {stats:?}");
        assert_eq!(t.requests_http2, want, "{name} over {deployed:?}");
    }
    match deployed {
        Deployed::Plain => assert!(proxy.accepted() >= 5, "{}", proxy.accepted()),
        Deployed::Https => assert!(proxy.accepted() <= 2, "{}", proxy.accepted()),
    }
}

/// The page as a user first sees it (default parameters, publishing 20 messages a second) after
/// one drop of every connection, once the latency window holds only steady-state messages. The
/// same tab is reused: a second tab would share Chromium's six connections per host with the
/// first, and this page holds four of them.
async fn screenshot(s: &mut Session<'_>, base_url: &str, path: &std::ffi::OsStr) {
    s.page.navigate(&format!("{base_url}?rate=20")).await;
    s.wait_for("the demo page open", |st| {
        if st["topic"] != "demo" {
            return Err("still on the test page".into());
        }
        all_open(st)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.page.eval("window.pushbench.disconnectAll()").await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let png = s.page.screenshot(1280).await;
    // Relative to the workspace root, where the README's command runs, not to this package.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    eprintln!("screenshot written to {}", path.display());
}
