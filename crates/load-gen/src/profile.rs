//! Target profiles: what a server's requests look like, so the same clients and the same
//! measurements drive push-server and other servers alike.
//!
//! A profile says, per transport, where to subscribe (a path template), which headers select
//! the transport, how a client resumes after a reconnect or between polls, and how messages are
//! framed: push-server wraps each one in an envelope with its own sequence number
//! ([`Framing::Envelope`]); servers such as Nchan deliver the published body alone
//! ([`Framing::Body`]), so the publisher writes the topic's sequence number into the probe and
//! loss, duplicates and reordering are counted the same way. A transport a profile has no entry
//! for is not served by that server and is skipped.
//!
//! The clients in [`crate::client`] take everything server-specific from here; the launcher in
//! [`crate::process`] starts the server a profile names.

use std::fmt;

use pushbench_wire::Transport;

/// How a message appears inside a transport's own framing (SSE event, chunk, frame, body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// push-server's envelopes (`pushbench_wire::envelope`), which carry the topic's sequence
    /// number and gap notices.
    Envelope,
    /// The published body, byte for byte: the sequence number comes from the probe.
    Body,
}

/// How a client says where it left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// `{after}` in the path: the last sequence number seen.
    After,
    /// `Last-Event-ID` with the last SSE `id:` seen, as `EventSource` does on a reconnect.
    LastEventId,
    /// `If-Modified-Since` and `If-None-Match` from the previous answer's `Last-Modified` and
    /// `Etag`, as a browser's cache revalidation does (Nchan's polling subscribers).
    CacheHeaders,
    /// The server offers no way to resume this transport: a reconnect starts where the server
    /// puts it, and anything replayed twice is counted as a duplicate.
    None,
}

/// One transport's subscribe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// The path and query, with `{topic}`, `{after}` (last sequence seen), `{timeout_ms}`
    /// (long-poll hold) and `{encoding}` (`text` or `binary`) filled in per request.
    pub path: &'static str,
    /// Headers that select the transport on this server (e.g. `accept: text/event-stream`).
    pub headers: &'static [(&'static str, &'static str)],
    /// How a client resumes.
    pub resume: Resume,
}

/// The server a run drives: a built-in one load-gen can start, or one described by a profile
/// file (driven with `--target`).
#[derive(Debug, Clone, Copy)]
pub enum ServerKind {
    /// push-server, this suite's own server (the default).
    Pushbench,
    /// Nchan, the nginx module (Debian's `libnginx-mod-nchan`), started in nginx.
    Nchan,
    /// A server described by a profile file ([`load`]); load-gen does not start it.
    File(&'static Profile),
}

impl PartialEq for ServerKind {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.profile(), other.profile())
    }
}

impl Eq for ServerKind {}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.profile().name)
    }
}

impl std::str::FromStr for ServerKind {
    type Err = String;

    /// `pushbench`, `nchan`, or the path of a profile file (`*.toml`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pushbench" => Ok(ServerKind::Pushbench),
            "nchan" => Ok(ServerKind::Nchan),
            path if path.ends_with(".toml") => {
                load(std::path::Path::new(path)).map(|p| ServerKind::File(Box::leak(Box::new(p))))
            }
            other => Err(format!(
                "unknown server {other:?}: pushbench, nchan, or a profile file (*.toml)"
            )),
        }
    }
}

impl ServerKind {
    /// The profile of this server.
    pub fn profile(self) -> &'static Profile {
        match self {
            ServerKind::Pushbench => &PUSHBENCH,
            ServerKind::Nchan => &NCHAN,
            ServerKind::File(p) => p,
        }
    }
}

/// Everything server-specific about driving one server.
#[derive(Debug, PartialEq)]
pub struct Profile {
    /// Its name in results (`setup.json`, the terminal).
    pub name: &'static str,
    /// The process load-gen starts for it, in messages.
    pub process: &'static str,
    /// How messages are framed.
    pub framing: Framing,
    /// The publish request's path, with `{topic}`.
    pub publish_path: &'static str,
    /// The statuses that mean "published".
    pub publish_ok: &'static [u16],
    /// Poll answers that mean "nothing new" rather than an error (besides an empty 200).
    pub empty_poll: &'static [u16],
    subscribe: &'static [(Transport, Subscribe)],
}

impl Profile {
    /// The subscribe request for `transport`; `None` when this server does not serve it.
    pub fn subscribe(&self, transport: Transport) -> Option<&Subscribe> {
        self.subscribe
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, s)| s)
    }

    /// The transports this server serves, in [`Transport::KNOWN`] order.
    pub fn transports(&self) -> Vec<Transport> {
        Transport::KNOWN
            .into_iter()
            .filter(|t| self.subscribe(*t).is_some())
            .collect()
    }
}

/// The values a path template is filled with.
#[derive(Debug, Clone, Copy)]
pub struct Fill<'a> {
    /// The topic's name.
    pub topic: &'a str,
    /// The last sequence number seen.
    pub after: u64,
    /// The long-poll hold, in milliseconds.
    pub timeout_ms: u64,
    /// `text` or `binary`.
    pub encoding: &'a str,
}

/// Writes `template` with its `{name}` fields filled from `fill` into `out`, replacing what it
/// held. An unknown field is written as it stands (the built-in templates have none).
pub fn render(out: &mut String, template: &str, fill: Fill<'_>) {
    out.clear();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return;
        };
        let name = &rest[open + 1..open + close];
        match name {
            "topic" => out.push_str(fill.topic),
            "after" => out.push_str(itoa::Buffer::new().format(fill.after)),
            "timeout_ms" => out.push_str(itoa::Buffer::new().format(fill.timeout_ms)),
            "encoding" => out.push_str(fill.encoding),
            _ => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
}

const EVENT_STREAM: &[(&str, &str)] = &[("accept", "text/event-stream")];

/// push-server: the paths of `pushbench_server::http`, envelopes with sequence numbers, and
/// `after=` on every transport (SSE also sends `Last-Event-ID` on reconnect, as `EventSource`
/// does; the server takes the later of the two).
pub static PUSHBENCH: Profile = Profile {
    name: "pushbench",
    process: "push-server",
    framing: Framing::Envelope,
    publish_path: "/publish?topic={topic}",
    publish_ok: &[200],
    empty_poll: &[],
    subscribe: &[
        (
            Transport::ShortPoll,
            Subscribe {
                path: "/poll?topic={topic}&after={after}",
                headers: &[],
                resume: Resume::After,
            },
        ),
        (
            Transport::LongPoll,
            Subscribe {
                path: "/long-poll?topic={topic}&after={after}&timeout={timeout_ms}",
                headers: &[],
                resume: Resume::After,
            },
        ),
        (
            Transport::XhrStream,
            Subscribe {
                path: "/stream?topic={topic}&after={after}",
                headers: &[],
                resume: Resume::After,
            },
        ),
        (
            Transport::Iframe,
            Subscribe {
                path: "/iframe?topic={topic}&after={after}",
                headers: &[],
                resume: Resume::After,
            },
        ),
        (
            Transport::Sse,
            Subscribe {
                path: "/sse?topic={topic}&after=0",
                headers: EVENT_STREAM,
                resume: Resume::LastEventId,
            },
        ),
        (
            Transport::WebSocket,
            Subscribe {
                path: "/ws?topic={topic}&after={after}&encoding={encoding}",
                headers: &[],
                resume: Resume::After,
            },
        ),
        (
            Transport::RawTcp,
            Subscribe {
                // Raw TCP subscribes with a frame (`pushbench_wire::raw_tcp::subscribe`), not a path.
                path: "",
                headers: &[],
                resume: Resume::After,
            },
        ),
    ],
};

/// Nchan, as configured by [`crate::nchan::config`]: one location per subscriber type, the
/// channel id in the path. Its interval-poll is short polling, `chunked` is XHR streaming,
/// `eventsource` is SSE, and `multipart-mixed` a transport push-server does not serve. It serves
/// neither iframe (htmlfile) streaming nor raw TCP.
pub static NCHAN: Profile = Profile {
    name: "nchan",
    process: "nginx (Nchan)",
    framing: Framing::Body,
    publish_path: "/pub/{topic}",
    // 201: delivered to at least one subscriber; 202: stored with none listening.
    publish_ok: &[201, 202],
    // 304: an interval-poll with nothing new; 408: a long-poll held until its timeout.
    empty_poll: &[304, 408],
    subscribe: &[
        (
            Transport::ShortPoll,
            Subscribe {
                path: "/sub/poll/{topic}",
                headers: &[],
                resume: Resume::CacheHeaders,
            },
        ),
        (
            Transport::LongPoll,
            Subscribe {
                path: "/sub/long-poll/{topic}",
                headers: &[],
                resume: Resume::CacheHeaders,
            },
        ),
        (
            Transport::XhrStream,
            Subscribe {
                path: "/sub/chunked/{topic}",
                // Nchan picks its subscriber type from the request: chunked needs `TE: chunked`.
                headers: &[("te", "chunked")],
                resume: Resume::None,
            },
        ),
        (
            Transport::MultipartMixed,
            Subscribe {
                path: "/sub/multipart/{topic}",
                // Without it Nchan answers 403. Each part carries `Last-Modified` and `Etag`,
                // which Nchan takes back as `If-Modified-Since` and `If-None-Match`.
                headers: &[("accept", "multipart/mixed")],
                resume: Resume::CacheHeaders,
            },
        ),
        (
            Transport::Sse,
            Subscribe {
                path: "/sub/sse/{topic}",
                headers: EVENT_STREAM,
                resume: Resume::LastEventId,
            },
        ),
        (
            Transport::WebSocket,
            Subscribe {
                path: "/sub/ws/{topic}",
                headers: &[],
                resume: Resume::None,
            },
        ),
    ],
};

/// A profile file as written (see the README, "Drive your own server").
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    framing: FramingName,
    publish: PublishFile,
    #[serde(default)]
    empty_poll: Vec<u16>,
    transports: std::collections::BTreeMap<toml::Spanned<String>, SubscribeFile>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FramingName {
    Envelope,
    Body,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishFile {
    path: String,
    ok: Vec<u16>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeFile {
    path: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    resume: ResumeName,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ResumeName {
    After,
    LastEventId,
    CacheHeaders,
    None,
}

/// A path template must be an origin-form request target holding `{topic}`, with no fields but
/// the ones [`render`] fills (a misspelt one would be sent as it stands).
fn check_path(template: &str) -> Result<(), String> {
    if !template.starts_with('/') {
        return Err(format!("{template:?} must start with /"));
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c);
        let field = close.map(|c| &rest[open + 1..c]);
        match field {
            Some("topic" | "after" | "timeout_ms" | "encoding") => {}
            _ => {
                return Err(format!(
                    "{template:?}: unknown field {:?} (fields: {{topic}}, {{after}}, {{timeout_ms}}, {{encoding}})",
                    &rest[open..close.map_or(rest.len(), |c| c + 1)]
                ))
            }
        }
        rest = &rest[close.unwrap_or(rest.len()) + 1..];
    }
    if !template.contains("{topic}") {
        return Err(format!(
            "{template:?} has no {{topic}}, so every topic would share it"
        ));
    }
    if template
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(format!(
            "{template:?} holds whitespace or a control character"
        ));
    }
    Ok(())
}

/// Reads a profile file. Errors name the file and the line, and the field or value at fault.
pub fn load(path: &std::path::Path) -> Result<Profile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the profile: {e}", path.display()))?;
    parse(&text, path)
}

/// Parses a profile file's text (see [`load`]).
pub fn parse(text: &str, path: &std::path::Path) -> Result<Profile, String> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let file: ProfileFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!(" line {}:", line_of(s.start)))
            .unwrap_or_default();
        format!("{}:{line} {}", path.display(), e.message())
    })?;
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut subscribe = Vec::new();
    let body = matches!(file.framing, FramingName::Body);
    for (name, sub) in file.transports {
        let transport: Transport = name.get_ref().parse().map_err(|_| {
            format!(
                "{}: line {}: transports.{}: not a transport (one of {})",
                path.display(),
                line_of(name.span().start),
                name.get_ref(),
                Transport::KNOWN.map(|t| t.name()).join(", ")
            )
        })?;
        if transport == Transport::RawTcp && body {
            return Err(format!(
                "{}: line {}: transports.raw-tcp: raw TCP speaks push-server's own frames, so it needs framing = \"envelope\"",
                path.display(),
                line_of(name.span().start)
            ));
        }
        let at = |field: &str| {
            format!(
                "{}: line {}: transports.{}.{field}",
                path.display(),
                line_of(name.span().start),
                name.get_ref()
            )
        };
        let resume = match sub.resume {
            ResumeName::After => Resume::After,
            ResumeName::LastEventId => Resume::LastEventId,
            ResumeName::CacheHeaders => Resume::CacheHeaders,
            ResumeName::None => Resume::None,
        };
        // What each client can do: a convention it does not implement would silently be none.
        let resumable = match transport {
            Transport::RawTcp => resume == Resume::After,
            Transport::Sse => matches!(resume, Resume::After | Resume::LastEventId | Resume::None),
            Transport::ShortPoll | Transport::LongPoll | Transport::MultipartMixed if body => {
                matches!(resume, Resume::After | Resume::CacheHeaders | Resume::None)
            }
            _ => matches!(resume, Resume::After | Resume::None),
        };
        if !resumable {
            return Err(format!(
                "{}: load-gen's {} client cannot resume that way with framing = \"{}\" (last-event-id is for sse, cache-headers for polls and multipart-mixed with framing = \"body\", raw-tcp resumes by sequence number: after)",
                at("resume"),
                transport,
                if body { "body" } else { "envelope" }
            ));
        }
        if transport != Transport::RawTcp {
            check_path(&sub.path).map_err(|why| format!("{}: {why}", at("path")))?;
        }
        let mut headers: Vec<(&'static str, &'static str)> = Vec::new();
        for (k, v) in sub.headers {
            let k = k.to_ascii_lowercase();
            let valid = http::HeaderName::from_bytes(k.as_bytes()).is_ok()
                && http::HeaderValue::from_str(&v).is_ok();
            if !valid {
                return Err(format!(
                    "{}: not a valid header line {k:?}: {v:?}",
                    at("headers")
                ));
            }
            // load-gen writes these itself; a second one makes the request malformed.
            if matches!(
                k.as_str(),
                "host" | "content-length" | "transfer-encoding" | "connection" | "upgrade"
            ) {
                return Err(format!("{}: {k} is load-gen's to send", at("headers")));
            }
            headers.push((leak(k), leak(v)));
        }
        subscribe.push((
            transport,
            Subscribe {
                path: leak(sub.path),
                headers: Box::leak(headers.into_boxed_slice()),
                resume,
            },
        ));
    }
    subscribe.sort_by_key(|(t, _)| Transport::KNOWN.iter().position(|a| a == t));
    check_path(&file.publish.path).map_err(|why| {
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with("publish"))
            .map(|i| format!(" line {}:", i + 1))
            .unwrap_or_default();
        format!("{}:{line} publish.path: {why}", path.display())
    })?;
    Ok(Profile {
        name: leak(file.name),
        process: "the target server",
        framing: match file.framing {
            FramingName::Envelope => Framing::Envelope,
            FramingName::Body => Framing::Body,
        },
        publish_path: leak(file.publish.path),
        publish_ok: Box::leak(file.publish.ok.into_boxed_slice()),
        empty_poll: Box::leak(file.empty_poll.into_boxed_slice()),
        subscribe: Box::leak(subscribe.into_boxed_slice()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_every_field_and_keep_the_rest() {
        let mut out = String::from("stale");
        let fill = Fill {
            topic: "t3",
            after: 42,
            timeout_ms: 30_000,
            encoding: "text",
        };
        render(
            &mut out,
            PUSHBENCH.subscribe(Transport::LongPoll).unwrap().path,
            fill,
        );
        assert_eq!(out, "/long-poll?topic=t3&after=42&timeout=30000");
        render(
            &mut out,
            PUSHBENCH.subscribe(Transport::WebSocket).unwrap().path,
            fill,
        );
        assert_eq!(out, "/ws?topic=t3&after=42&encoding=text");
        render(&mut out, "/a/{unknown}/{topic}/{", fill);
        assert_eq!(out, "/a/{unknown}/t3/{");
        render(&mut out, NCHAN.publish_path, fill);
        assert_eq!(out, "/pub/t3");
    }

    #[test]
    fn the_shipped_profile_files_equal_the_built_in_profiles() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
        for (file, built_in) in [("pushbench.toml", &PUSHBENCH), ("nchan.toml", &NCHAN)] {
            let loaded = load(&root.join(file)).unwrap();
            assert_eq!(
                Profile {
                    process: built_in.process,
                    ..loaded
                },
                *built_in,
                "{file}"
            );
        }
    }

    #[test]
    fn profile_errors_name_the_line_and_the_field() {
        let path = std::path::Path::new("p.toml");
        let good = "name = \"x\"\nframing = \"body\"\npublish = { path = \"/p/{topic}\", ok = [200] }\n[transports.sse]\npath = \"/s/{topic}\"\nresume = \"last-event-id\"\n";
        assert!(parse(good, path).is_ok());
        let cases = [
            (
                good.replace("resume = \"last-event-id\"", "resume = \"later\""),
                "p.toml: line 6:",
                "later",
            ),
            (
                good.replace("[transports.sse]", "[transports.smoke-signal]"),
                "p.toml: line 4:",
                "transports.smoke-signal: not a transport",
            ),
            (
                good.replace("path = \"/s/{topic}\"", "path = \"/s/{topic}\"\nheader = 1"),
                "p.toml: line 6:",
                "header",
            ),
            (
                good.replace("framing = \"body\"", "framing = \"json\""),
                "p.toml: line 2:",
                "json",
            ),
            (
                good.replace("[transports.sse]", "[transports.raw-tcp]"),
                "p.toml: line 4:",
                "needs framing = \"envelope\"",
            ),
            (good.replace("name = \"x\"\n", ""), "p.toml:", "name"),
            (
                good.replace("\"/s/{topic}\"", "\"s/{topic}\""),
                "p.toml: line 4: transports.sse.path",
                "must start with /",
            ),
            (
                good.replace("\"/s/{topic}\"", "\"/s/{topc}\""),
                "p.toml: line 4: transports.sse.path",
                "unknown field \"{topc}\"",
            ),
            (
                good.replace("\"/p/{topic}\"", "\"/p\""),
                "p.toml: line 3: publish.path",
                "no {topic}",
            ),
            (
                good.replace("resume = \"last-event-id\"", "resume = \"cache-headers\""),
                "p.toml: line 4: transports.sse.resume",
                "cannot resume",
            ),
            (
                good.replace(
                    "resume = \"last-event-id\"",
                    "resume = \"last-event-id\"\nheaders = { Host = \"v\" }",
                ),
                "p.toml: line 4: transports.sse.headers",
                "host is load-gen's",
            ),
            (
                good.replace(
                    "resume = \"last-event-id\"",
                    "resume = \"last-event-id\"\nheaders = { x = \"a\\r\\nb: c\" }",
                ),
                "p.toml: line 4: transports.sse.headers",
                "not a valid header",
            ),
        ];
        for (text, at, says) in cases {
            let err = parse(&text, path).unwrap_err();
            assert!(
                err.starts_with(at) && err.contains(says),
                "{err:?} should start {at:?} and say {says:?}"
            );
        }
    }

    #[test]
    fn nchan_serves_six_transports_and_pushbench_seven() {
        assert_eq!(PUSHBENCH.transports(), Transport::ALL.to_vec());
        assert_eq!(
            NCHAN.transports(),
            [
                Transport::ShortPoll,
                Transport::LongPoll,
                Transport::XhrStream,
                Transport::MultipartMixed,
                Transport::Sse,
                Transport::WebSocket
            ]
        );
    }
}
