//! Headless Chromium for the browser test, driven over the Chrome DevTools Protocol with the
//! workspace's own WebSocket client: no WebDriver, no new dependencies.
//!
//! [`Chromium::launch`] starts the browser in its own process group with a fresh profile
//! directory and reads the DevTools address it prints on stderr; dropping it kills the whole
//! group (browser, zygote, renderers) and removes the profile, also when the test fails.
//! [`Page`] is one tab: `Runtime.evaluate` with promises awaited and values returned as JSON,
//! screenshots, and what the page threw or logged, for failure messages.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// `PUSHBENCH_REQUIRE_BROWSER=1` (set by `.ci/run`): a missing browser fails the test.
pub const REQUIRE_ENV: &str = "PUSHBENCH_REQUIRE_BROWSER";
/// Names a Chromium executable to use instead of looking on `PATH`.
pub const CHROMIUM_ENV: &str = "PUSHBENCH_CHROMIUM";

/// The flags this machine's Chromium needs headless as root with no network beyond loopback:
/// no sandbox (root), no GPU, and none of the background traffic to Google's hosts.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--mute-audio",
    // Keep timers at full speed whatever Chromium thinks of the tab's visibility.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--remote-debugging-port=0",
];

/// How long one DevTools command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The Chromium executable: `$PUSHBENCH_CHROMIUM`, else the first of the usual names on `PATH`.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CHROMIUM_ENV) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// Whether the browser is required (CI) rather than optional (a developer's machine).
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The browser to test with, or `None` after printing one line on how to get one. With
/// [`REQUIRE_ENV`] set, a missing browser panics instead.
pub fn find_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(exe) = find() {
        return Some(exe);
    }
    if required() {
        panic!(
            "{test}: {REQUIRE_ENV}=1 but no Chromium found on PATH (or in ${CHROMIUM_ENV}); \
             install it: apt-get install chromium chromium-driver"
        );
    }
    // Straight to stderr: the test harness captures eprintln! output of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "skipping {test}: install chromium and chromium-driver (apt-get install chromium \
         chromium-driver) or set {REQUIRE_ENV}=1 to make a missing browser an error"
    );
    None
}

/// A running headless Chromium; killed, with everything it started, on drop.
pub struct Chromium {
    child: Child,
    pgid: i32,
    profile: PathBuf,
    /// The browser-wide DevTools WebSocket address.
    pub devtools: String,
    /// The last lines Chromium wrote on stderr, for failure messages.
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Chromium {
    /// Starts `exe` with a fresh profile, a `width`×`height` window and `flags` besides the
    /// usual.
    pub async fn launch(exe: &Path, width: u32, height: u32, flags: &[&str]) -> Chromium {
        let profile = std::env::temp_dir().join(format!(
            "pushbench-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(exe)
            .args(FLAGS)
            .args(flags)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so drop can end the browser and every helper it forked.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let pgid = child.id().expect("chromium has a pid") as i32;
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut browser = Chromium {
            child,
            pgid,
            profile,
            devtools: String::new(),
            stderr: stderr.clone(),
        };
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.ok().flatten() {
                remember(&stderr, &line);
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(url)) => browser.devtools = url,
            Ok(None) => panic!(
                "chromium exited before opening DevTools: {:?}\n{}",
                browser.child.try_wait(),
                browser.stderr_tail()
            ),
            Err(_) => panic!(
                "chromium did not open DevTools within 30 s\n{}",
                browser.stderr_tail()
            ),
        }
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                remember(&stderr, &line);
            }
        });
        browser
    }

    /// Opens a tab on `url` and attaches to it.
    pub async fn open(&self, url: &str) -> Page {
        let rest = self
            .devtools
            .strip_prefix("ws://")
            .expect("DevTools address is ws://");
        let host = rest.split('/').next().unwrap();
        let stream = TcpStream::connect(host).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(self.devtools.as_str(), stream)
            .await
            .expect("DevTools WebSocket handshake");
        let mut page = Page {
            ws,
            next_id: 0,
            session: None,
            log: VecDeque::new(),
        };
        let target = page
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = page
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        page.session = Some(attached["sessionId"].as_str().unwrap().to_owned());
        page.call("Runtime.enable", json!({})).await;
        page.call("Page.enable", json!({})).await;
        page.navigate(url).await;
        page
    }

    /// What Chromium last wrote on stderr.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        lines
            .iter()
            .filter(|l| !l.contains("dbus"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn remember(tail: &Mutex<VecDeque<String>>, line: &str) {
    let mut tail = tail.lock().unwrap();
    if tail.len() == 50 {
        tail.pop_front();
    }
    tail.push_back(line.to_owned());
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // SAFETY: kill only sends a signal, to the process group this struct started.
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
        let _ = self.child.start_kill();
        // Reap the browser so its profile is no longer in use, then remove it.
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One tab, attached over a flattened DevTools session.
pub struct Page {
    ws: WebSocketStream<TcpStream>,
    next_id: u64,
    session: Option<String>,
    /// Exceptions and console messages from the page, newest last.
    log: VecDeque<String>,
}

impl Page {
    /// Sends one DevTools command and returns its result; events that arrive meanwhile go to
    /// the log when they are exceptions or console messages.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        tokio::time::timeout(CALL_TIMEOUT, self.call_inner(method, params))
            .await
            .unwrap_or_else(|_| panic!("DevTools {method} took longer than {CALL_TIMEOUT:?}"))
    }

    async fn call_inner(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(WsMessage::text(msg.to_string()))
            .await
            .expect("DevTools socket open");
        loop {
            let frame = self
                .ws
                .next()
                .await
                .expect("DevTools socket open")
                .expect("DevTools socket reads");
            let WsMessage::Text(text) = frame else {
                continue;
            };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("DevTools {method} failed: {e}");
                }
                return v["result"].clone();
            }
            self.note_event(&v);
        }
    }

    fn note_event(&mut self, v: &Value) {
        let p = &v["params"];
        let line = match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                format!(
                    "exception: {} {}",
                    d["text"].as_str().unwrap_or(""),
                    d["exception"]["description"].as_str().unwrap_or("")
                )
            }
            Some("Runtime.consoleAPICalled") => {
                let args: Vec<String> = p["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        a["value"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| a["value"].to_string())
                    })
                    .collect();
                format!(
                    "console.{}: {}",
                    p["type"].as_str().unwrap_or(""),
                    args.join(" ")
                )
            }
            _ => return,
        };
        if self.log.len() == 50 {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    /// Evaluates `expression` in the page, awaiting a promise, and returns its value as JSON.
    /// A thrown exception panics with the page's log.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(d) = r.get("exceptionDetails") {
            panic!(
                "evaluating {expression}: {}\npage log:\n{}",
                d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or(""),
                self.log()
            );
        }
        r["result"]["value"].clone()
    }

    /// Loads `url` in this tab.
    pub async fn navigate(&mut self, url: &str) {
        let nav = self.call("Page.navigate", json!({ "url": url })).await;
        assert!(nav.get("errorText").is_none(), "navigating to {url}: {nav}");
    }

    /// What the page threw or logged, one line each.
    pub fn log(&self) -> String {
        self.log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// A PNG of the whole page, `width` wide and as tall as its content.
    pub async fn screenshot(&mut self, width: u32) -> Vec<u8> {
        let height = self
            .eval("Math.ceil(document.documentElement.scrollHeight)")
            .await
            .as_f64()
            .unwrap_or(900.0);
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height as u32, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        base64_decode(shot["data"].as_str().expect("screenshot data"))
    }
}

/// Standard base64 with padding, as DevTools sends binary data.
pub fn base64_decode(s: &str) -> Vec<u8> {
    fn value(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    }
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | value(c) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
