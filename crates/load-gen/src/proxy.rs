//! A real nginx reverse proxy between the subscribers and the server: `load-gen run --via
//! nginx` or `--via nginx-tuned` ([`Via`]).
//!
//! Deployments put a proxy in front of a push server, and what it does to each transport is
//! decided by a handful of nginx settings. Two configurations are measured ([`config`]):
//! - `nginx`, as a newcomer writes it: `location / { proxy_pass http://server; }` and nothing
//!   else. nginx's defaults then apply: the upstream request is HTTP/1.0 with
//!   `Connection: close` (a new upstream connection per request), `Upgrade` and `Connection`
//!   are not passed on (they are hop-by-hop), responses are buffered (`proxy_buffering on`,
//!   unless the upstream answers `X-Accel-Buffering: no`), and an upstream quiet for 60 s is
//!   cut off (`proxy_read_timeout`).
//! - `nginx-tuned`, as nginx's documentation says a push endpoint should be proxied: HTTP/1.1
//!   upstream with kept-alive connections, the WebSocket upgrade headers passed on,
//!   `proxy_buffering off`, and read timeouts above the server's heartbeat and long-poll hold.
//!
//! Subscribers connect to the proxy; publishers keep publishing to the server directly, as a
//! back-end publisher does, so what the proxy adds is the subscribers' path alone. Bytes are
//! still counted at load-gen's sockets, the client side of the proxy. Raw TCP is not HTTP and
//! runs without the proxy. The runner starts the proxy beside the server ([`crate::process`])
//! and samples its CPU apart from the server's; after the run, [`diagnose`] names what the
//! proxy broke and the setting responsible, so a broken transport reads as broken, not slow.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pushbench_wire::Transport;

/// How subscribers reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// Straight to the server (the default).
    Direct,
    /// nginx with only `proxy_pass`: the defaults a newcomer gets.
    Nginx,
    /// nginx configured for push: no buffering, upgrades passed on, long timeouts, keep-alive.
    NginxTuned,
}

impl Via {
    /// Every way, in report order.
    pub const ALL: [Via; 3] = [Via::Direct, Via::Nginx, Via::NginxTuned];

    /// The name in flags and results.
    pub fn name(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Nginx => "nginx",
            Via::NginxTuned => "nginx-tuned",
        }
    }

    /// Whether `transport`'s subscribers go through a proxy this way (raw TCP never does).
    pub fn proxies(self, transport: Transport) -> bool {
        self != Via::Direct && transport != Transport::RawTcp
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Via {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Via::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown --via {s:?}: direct, nginx or nginx-tuned"))
    }
}

/// What a proxy configuration depends on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server the proxy passes requests to.
    pub upstream: SocketAddr,
    /// The loopback port the proxy listens on.
    pub port: u16,
    /// nginx's prefix: pid file and temporary files.
    pub prefix: PathBuf,
    /// The server's keep-alive interval on streams: a tuned read timeout stays above it.
    pub heartbeat: Duration,
    /// The scenario's long-poll hold: a tuned read timeout stays above it too.
    pub long_poll_timeout: Duration,
    /// Client connections the proxy may hold (each also holds one upstream).
    pub connections: usize,
}

impl Settings {
    /// The read timeout `nginx-tuned` sets: twice the heartbeat, and at least 10 s more than
    /// the long-poll hold, in whole seconds.
    pub fn tuned_read_timeout(&self) -> Duration {
        let t = (self.heartbeat * 2).max(self.long_poll_timeout + Duration::from_secs(10));
        Duration::from_secs(t.as_millis().div_ceil(1000) as u64)
    }
}

/// nginx's default `proxy_read_timeout`, which the newcomer's configuration leaves in place.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The nginx configuration of the proxy `via` (not [`Via::Direct`]) for `s`.
pub fn config(via: Via, s: &Settings) -> String {
    let mut c = crate::nginx::head(
        &format!("--via {via}; see crates/load-gen/src/proxy.rs"),
        &s.prefix,
        None,
        // Each client connection holds an upstream connection as well.
        2 * s.connections,
    );
    let (port, upstream) = (s.port, s.upstream);
    match via {
        Via::Direct => unreachable!("no proxy is started for direct runs"),
        Via::Nginx => {
            c += &format!(
                "    # As a newcomer writes it: every other setting is nginx's default.\n\
                 \x20   server {{\n\
                 \x20       listen 127.0.0.1:{port};\n\
                 \x20       location / {{\n\
                 \x20           proxy_pass http://{upstream};\n\
                 \x20       }}\n\
                 \x20   }}\n"
            );
        }
        Via::NginxTuned => {
            let timeout = s.tuned_read_timeout().as_secs();
            c += &format!(
                "    # As nginx's documentation says a push endpoint should be proxied.\n\
                 \x20   # WebSocket: pass the upgrade on (https://nginx.org/en/docs/http/websocket.html);\n\
                 \x20   # other requests get an empty Connection header, which keeps the upstream alive.\n\
                 \x20   map $http_upgrade $connection_upgrade {{\n\
                 \x20       default upgrade;\n\
                 \x20       '' '';\n\
                 \x20   }}\n\
                 \x20   upstream push_server {{\n\
                 \x20       server {upstream};\n\
                 \x20       keepalive 1024;\n\
                 \x20       keepalive_requests 1000000;\n\
                 \x20       keepalive_timeout 3600s;\n\
                 \x20   }}\n\
                 \x20   keepalive_requests 1000000;\n\
                 \x20   keepalive_timeout 3600s;\n\
                 \x20   server {{\n\
                 \x20       listen 127.0.0.1:{port};\n\
                 \x20       location / {{\n\
                 \x20           proxy_pass http://push_server;\n\
                 \x20           proxy_http_version 1.1;\n\
                 \x20           proxy_set_header Host $host;\n\
                 \x20           proxy_set_header Upgrade $http_upgrade;\n\
                 \x20           proxy_set_header Connection $connection_upgrade;\n\
                 \x20           # Streams pass each write on as it comes.\n\
                 \x20           proxy_buffering off;\n\
                 \x20           # Above the server's heartbeat and the long-poll hold.\n\
                 \x20           proxy_read_timeout {timeout}s;\n\
                 \x20           proxy_send_timeout {timeout}s;\n\
                 \x20       }}\n\
                 \x20   }}\n"
            );
        }
    }
    c.push_str("}\n");
    c
}

/// What a transport's run through a proxy showed, for [`diagnose`].
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// Why the run failed, if it did.
    pub failure: Option<&'a str>,
    /// Subscribers that got as far as subscribing, of `clients`.
    pub clients_ready: usize,
    /// Subscribers in the run.
    pub clients: usize,
    /// Deliveries still owed when the drain ended, or lost.
    pub undelivered: u64,
    /// Client errors, and the last one.
    pub client_errors: u64,
    /// The last client error.
    pub last_error: Option<&'a str>,
    /// Latency at p50 of what was delivered, in µs.
    pub p50_us: u64,
    /// Headers the profile selects the transport with that are hop-by-hop, which a proxy does
    /// not pass on (Nchan's chunked subscriber is chosen by `TE: chunked`).
    pub hop_by_hop: Vec<(&'a str, &'a str)>,
    /// Why a stream of this transport can be quiet longer than the proxy's read timeout (see
    /// [`quiet_stream`]); `None` when the server's heartbeat keeps it busier.
    pub quiet: Option<&'a str>,
}

/// Why a `transport` stream from the server `profile` names can sit quiet for longer than the
/// proxy's `read_timeout`, after which nginx ends it: the server's heartbeat on it is longer, or
/// it has none. `None` for a transport that is not a stream, or one the heartbeat keeps busy.
pub fn quiet_stream(
    transport: Transport,
    profile: &str,
    heartbeat: Duration,
    read_timeout: Duration,
) -> Option<String> {
    if matches!(
        transport,
        Transport::ShortPoll | Transport::LongPoll | Transport::RawTcp
    ) {
        return None;
    }
    // Nchan pings EventSource and WebSocket subscribers only; push-server heartbeats every
    // stream; of another server the profile does not say.
    let beats = match profile {
        "pushbench" => Some(true),
        "nchan" => Some(matches!(transport, Transport::Sse | Transport::WebSocket)),
        _ => None,
    };
    let timeout = read_timeout.as_secs();
    match beats {
        Some(true) if heartbeat <= read_timeout => None,
        Some(true) => Some(format!(
            "its heartbeat on {transport} ({} s) is longer than the read timeout ({timeout} s)",
            heartbeat.as_secs()
        )),
        Some(false) => Some(format!(
            "{profile} sends no heartbeat on {transport}, so a stream with nothing to deliver for {timeout} s is quiet that long"
        )),
        None => Some(format!(
            "the {profile} profile does not say whether the server heartbeats {transport} streams more often than every {timeout} s"
        )),
    }
}

/// The hop-by-hop request headers (RFC 9110 §7.6.1) a proxy drops: nginx clears these unless a
/// `proxy_set_header` passes them on.
pub const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the proxy `via` did to `transport`, named by the setting responsible, or `None` where it
/// delivered as the server did. Read from what the clients saw (handshakes refused, streams that
/// never started or held messages back, requests cut off) and from what the configuration is.
pub fn diagnose(via: Via, transport: Transport, e: &Evidence<'_>) -> Option<String> {
    if !via.proxies(transport) {
        return None;
    }
    let last = e.last_error.or(e.failure).unwrap_or("none");
    // A poll held past the read timeout is answered 504; a stream whose head was sent is ended
    // mid-body, which its client sees as the server ending it.
    let ended = e.client_errors > 0
        && e.quiet.is_some()
        && (last.contains("ended the stream")
            || last.contains("ended the websocket")
            || last.contains("connection closed"));
    let cut_off =
        ended || (e.client_errors > 0 && (last.contains(" 504") || last.contains(" 502")));
    let refused = e.client_errors > 0 && last.contains("answered ");
    if let (Some((name, value)), true) = (e.hop_by_hop.first(), refused || e.failure.is_some()) {
        return Some(format!(
            "HOP-BY-HOP HEADER DROPPED: the server selects this transport by the request header {name}: {value}, which is hop-by-hop (RFC 9110 §7.6.1): nginx does not pass it on unless told to (proxy_set_header {name} $http_{}), so the server did not see it; {} of {} subscribers subscribed; last error: {last}",
            name.replace('-', "_"),
            e.clients_ready,
            e.clients
        ));
    }
    if transport == Transport::WebSocket && (e.clients_ready < e.clients || e.failure.is_some()) {
        return Some(match via {
            Via::Nginx => format!(
                "BROKEN UPGRADE: nginx does not pass the hop-by-hop Upgrade and Connection headers on, and asks the upstream in HTTP/1.0, unless told to (proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"), so the server saw a plain GET; {} of {} subscribers upgraded; last error: {last}",
                e.clients_ready, e.clients
            ),
            _ => format!(
                "BROKEN UPGRADE through {via}: {} of {} subscribers upgraded; last error: {last}",
                e.clients_ready, e.clients
            ),
        });
    }
    let streams = matches!(
        transport,
        Transport::XhrStream
            | Transport::MultipartMixed
            | Transport::Iframe
            | Transport::Sse
            | Transport::WebSocket
    );
    if streams
        && via == Via::Nginx
        && !cut_off
        && !refused
        && (e.clients_ready == 0 || e.undelivered > 0)
    {
        let mut seen = Vec::new();
        if e.clients_ready == 0 {
            seen.push(
                "no subscriber had received even the response head when the schedule started"
                    .to_owned(),
            );
        }
        if e.undelivered > 0 {
            seen.push(format!(
                "{} deliveries were still held when the drain ended",
                e.undelivered
            ));
        }
        if e.p50_us > 0 {
            seen.push(format!(
                "what came through arrived {:.1} ms late at p50",
                e.p50_us as f64 / 1000.0
            ));
        }
        let seen = seen.join("; ");
        return Some(format!(
            "BUFFERED: nginx buffers a proxied response (proxy_buffering on, the default) and passes it on only as its buffers fill, unless the server answers X-Accel-Buffering: no or the proxy says proxy_buffering off; {seen}"
        ));
    }
    let polls = matches!(transport, Transport::ShortPoll | Transport::LongPoll);
    if polls && via == Via::Nginx && !cut_off && !refused && e.undelivered > 0 {
        return Some(format!(
            "FELL BEHIND: the polls did not keep up through the proxy: {} deliveries had not arrived when the drain ended{}; nginx's default upstream is HTTP/1.0 with Connection: close, so every poll costs a new connection to the server (proxy_http_version 1.1 with an upstream keepalive pool reuses them), which a server answering one message per poll pays for every message",
            e.undelivered,
            if e.p50_us > 0 {
                format!(", and what came arrived {:.1} ms late at p50", e.p50_us as f64 / 1000.0)
            } else {
                String::new()
            }
        ));
    }
    if cut_off {
        let setting = match via {
            Via::Nginx => format!(
                "proxy_read_timeout, {} s by default",
                DEFAULT_READ_TIMEOUT.as_secs()
            ),
            _ => "proxy_read_timeout".to_owned(),
        };
        let why = e.quiet.map(|q| format!(" ({q})")).unwrap_or_default();
        return Some(format!(
            "IDLE DISCONNECTS: the proxy ended requests or streams that were quiet longer than its {setting}{why}; {} client errors, last: {last}",
            e.client_errors
        ));
    }
    e.failure
        .map(|f| format!("FAILED through {via} (no known proxy setting explains it): {f}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            upstream: "127.0.0.1:9000".parse().unwrap(),
            port: 18081,
            prefix: "/tmp/p".into(),
            heartbeat: Duration::from_secs(15),
            long_poll_timeout: Duration::from_secs(30),
            connections: 1000,
        }
    }

    #[test]
    fn the_newcomers_proxy_sets_nothing_but_proxy_pass() {
        let c = config(Via::Nginx, &settings());
        assert!(c.contains("listen 127.0.0.1:18081;"));
        assert!(c.contains("proxy_pass http://127.0.0.1:9000;"));
        for tuned in [
            "proxy_buffering",
            "proxy_http_version",
            "Upgrade",
            "proxy_read_timeout",
            "keepalive",
        ] {
            assert!(!c.contains(tuned), "{tuned} in {c}");
        }
        assert!(c.contains("worker_connections 2256;"));
        assert_eq!(c.matches('{').count(), c.matches('}').count());
    }

    #[test]
    fn the_tuned_proxy_passes_upgrades_and_does_not_buffer() {
        let c = config(Via::NginxTuned, &settings());
        for line in [
            "proxy_pass http://push_server;",
            "server 127.0.0.1:9000;",
            "proxy_http_version 1.1;",
            "proxy_set_header Upgrade $http_upgrade;",
            "proxy_set_header Connection $connection_upgrade;",
            "proxy_buffering off;",
            // Above both the 15 s heartbeat and the 30 s hold.
            "proxy_read_timeout 40s;",
            "keepalive 1024;",
        ] {
            assert!(c.contains(line), "no {line} in {c}");
        }
        assert_eq!(c.matches('{').count(), c.matches('}').count());
        let slow = Settings {
            heartbeat: Duration::from_millis(45_500),
            ..settings()
        };
        assert_eq!(slow.tuned_read_timeout(), Duration::from_secs(91));
    }

    #[test]
    fn which_streams_can_be_quieter_than_the_read_timeout() {
        let minute = DEFAULT_READ_TIMEOUT;
        let beat = Duration::from_secs(15);
        assert_eq!(
            quiet_stream(Transport::Sse, "pushbench", beat, minute),
            None
        );
        assert_eq!(quiet_stream(Transport::Sse, "nchan", beat, minute), None);
        assert_eq!(
            quiet_stream(Transport::LongPoll, "nchan", beat, minute),
            None
        );
        let parts = quiet_stream(Transport::MultipartMixed, "nchan", beat, minute).unwrap();
        assert!(
            parts.contains("nchan sends no heartbeat on multipart-mixed"),
            "{parts}"
        );
        let other = quiet_stream(Transport::Sse, "mine", beat, minute).unwrap();
        assert!(other.contains("the mine profile does not say"), "{other}");
    }

    #[test]
    fn via_names_round_trip_and_raw_tcp_is_never_proxied() {
        for v in Via::ALL {
            assert_eq!(v.name().parse::<Via>().unwrap(), v);
        }
        assert!("squid".parse::<Via>().unwrap_err().contains("nginx-tuned"));
        assert!(!Via::Nginx.proxies(Transport::RawTcp));
        assert!(Via::Nginx.proxies(Transport::Sse));
        assert!(!Via::Direct.proxies(Transport::Sse));
    }

    #[test]
    fn each_failure_is_named_by_the_setting_responsible() {
        let refused = Evidence {
            failure: Some("no subscriber could subscribe"),
            clients: 4,
            client_errors: 9,
            last_error: Some(
                "GET /ws?topic=t0 answered 400: WebSocket needs an HTTP/1.1 upgrade or an HTTP/2 extended CONNECT",
            ),
            ..Default::default()
        };
        let d = diagnose(Via::Nginx, Transport::WebSocket, &refused).unwrap();
        assert!(
            d.starts_with("BROKEN UPGRADE") && d.contains("proxy_set_header Upgrade"),
            "{d}"
        );
        assert!(d.contains("0 of 4") && d.contains("answered 400"), "{d}");

        let silent = Evidence {
            failure: Some("no subscriber could subscribe; last error: none"),
            clients: 4,
            undelivered: 120,
            ..Default::default()
        };
        let d = diagnose(Via::Nginx, Transport::Sse, &silent).unwrap();
        assert!(
            d.starts_with("BUFFERED") && d.contains("proxy_buffering"),
            "{d}"
        );
        assert!(d.contains("had received even the response head"), "{d}");
        assert!(d.contains("120 deliveries were still held"), "{d}");
        // The same symptom with the TE header the server needs: the header, not buffering.
        let no_te = Evidence {
            client_errors: 40,
            last_error: Some("GET /sub/chunked/t0 answered 403: "),
            hop_by_hop: vec![("te", "chunked")],
            ..silent.clone()
        };
        for via in [Via::Nginx, Via::NginxTuned] {
            let d = diagnose(via, Transport::XhrStream, &no_te).unwrap();
            assert!(d.starts_with("HOP-BY-HOP HEADER DROPPED"), "{d}");
            assert!(
                d.contains("proxy_set_header te $http_te") && d.contains("answered 403"),
                "{d}"
            );
        }
        // A refusal is not buffering.
        let refused = Evidence {
            hop_by_hop: Vec::new(),
            ..no_te
        };
        assert!(diagnose(Via::Nginx, Transport::Sse, &refused)
            .unwrap()
            .starts_with("FAILED through nginx"));
        let held = Evidence {
            clients_ready: 4,
            clients: 4,
            undelivered: 7,
            ..Default::default()
        };
        let d = diagnose(Via::Nginx, Transport::XhrStream, &held).unwrap();
        assert!(d.contains("7 deliveries were still held"), "{d}");
        // A poll's undelivered messages are not the proxy's buffering: through the default
        // proxy they are polls falling behind, each on a new upstream connection; through the
        // tuned one no setting explains them (the run's loss still shows).
        let d = diagnose(Via::Nginx, Transport::LongPoll, &held).unwrap();
        assert!(
            d.starts_with("FELL BEHIND") && d.contains("7 deliveries had not arrived"),
            "{d}"
        );
        assert!(
            d.contains("proxy_http_version 1.1") && !d.contains("BUFFERED"),
            "{d}"
        );
        assert_eq!(diagnose(Via::NginxTuned, Transport::ShortPoll, &held), None);

        let timed_out = Evidence {
            clients_ready: 4,
            clients: 4,
            client_errors: 4,
            last_error: Some("GET /long-poll?topic=t0 answered 504: <html>"),
            ..Default::default()
        };
        let d = diagnose(Via::Nginx, Transport::LongPoll, &timed_out).unwrap();
        assert!(
            d.starts_with("IDLE DISCONNECTS") && d.contains("60 s by default"),
            "{d}"
        );

        // A stream the proxy ended mid-body after its read timeout: its client sees the server
        // end it. Named only where the stream can be that quiet.
        let quiet = quiet_stream(
            Transport::Sse,
            "pushbench",
            Duration::from_secs(90),
            DEFAULT_READ_TIMEOUT,
        );
        assert_eq!(
            quiet.as_deref(),
            Some("its heartbeat on sse (90 s) is longer than the read timeout (60 s)")
        );
        let ended = Evidence {
            clients_ready: 4,
            clients: 4,
            client_errors: 4,
            last_error: Some("protocol: the server ended the stream"),
            quiet: quiet.as_deref(),
            ..Default::default()
        };
        let d = diagnose(Via::Nginx, Transport::Sse, &ended).unwrap();
        assert!(
            d.starts_with("IDLE DISCONNECTS") && d.contains("(its heartbeat on sse (90 s)"),
            "{d}"
        );
        let busy = Evidence {
            quiet: None,
            ..ended
        };
        assert_eq!(diagnose(Via::Nginx, Transport::Sse, &busy), None);

        let clean = Evidence {
            clients_ready: 4,
            clients: 4,
            ..Default::default()
        };
        for t in Transport::KNOWN {
            assert_eq!(diagnose(Via::Nginx, t, &clean), None, "{t}");
            assert_eq!(diagnose(Via::NginxTuned, t, &clean), None, "{t}");
        }
        assert_eq!(diagnose(Via::Direct, Transport::WebSocket, &refused), None);
    }
}
