//! Nchan as a server under test: finds nginx and the Nchan module, and writes the nginx
//! configuration `load-gen run --server nchan` starts it with ([`crate::process`]).
//!
//! The configuration matches push-server's defaults where Nchan has the same knob, so the two
//! are compared as equals: one worker process (push-server is pinned to the same cores), access
//! log off, a message buffer as long as push-server's ring (1,024), the same heartbeat on the
//! transports Nchan can ping (SSE and WebSocket), the long-poll hold the scenario asks for, and
//! keep-alive connections that last the run. Each subscriber type has its own location,
//! `/sub/<transport>/<topic>`, matching [`crate::profile::NCHAN`]; messages are published with
//! `POST /pub/<topic>`. A new subscriber starts at the oldest message the channel holds: every
//! run starts a fresh nginx, so that is the run's first message, and a poll without a cursor
//! yet still finds it.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Debian's `libnginx-mod-nchan` installs the module, and the other usual places.
const MODULE_DIRS: [&str; 4] = [
    "/usr/lib/nginx/modules",
    "/usr/lib64/nginx/modules",
    "/usr/local/lib/nginx/modules",
    "/usr/local/nginx/modules",
];

/// nginx and its Nchan module, found on this machine.
#[derive(Debug, Clone)]
pub struct Install {
    /// The nginx executable.
    pub nginx: PathBuf,
    /// `ngx_nchan_module.so`.
    pub module: PathBuf,
}

/// Finds nginx ([`crate::nginx::find`]) and the Nchan module (`$PUSHBENCH_NCHAN_MODULE`, else the
/// usual module directories). The error says what to install.
pub fn find() -> Result<Install, String> {
    let nginx = crate::nginx::find().map_err(|e| format!("--server nchan needs nginx: {e}"))?;
    match std::env::var_os("PUSHBENCH_NCHAN_MODULE") {
        Some(p) if Path::new(&p).is_file() => Ok(Install {
            nginx,
            module: PathBuf::from(p),
        }),
        Some(p) => Err(format!(
            "PUSHBENCH_NCHAN_MODULE={} is not a file",
            Path::new(&p).display()
        )),
        None => MODULE_DIRS
            .iter()
            .map(|d| Path::new(d).join("ngx_nchan_module.so"))
            .find(|p| p.is_file())
            .map(|module| Install { nginx, module })
            .ok_or_else(|| format!("--server nchan needs the Nchan module ngx_nchan_module.so, which was not found in {} ({}, or set PUSHBENCH_NCHAN_MODULE)", MODULE_DIRS.join(", "), crate::nginx::INSTALL)),
    }
}

impl Install {
    /// `nginx/1.22.1`, from `nginx -v`.
    pub fn version(&self) -> Option<String> {
        crate::nginx::version(&self.nginx)
    }
}

/// What the configuration depends on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The module to load.
    pub module: PathBuf,
    /// The loopback port to listen on.
    pub port: u16,
    /// nginx's prefix: its pid file, error log and temporary files go here.
    pub prefix: PathBuf,
    /// Messages kept per channel (push-server's `--ring-size`).
    pub buffer_length: usize,
    /// Keep-alive ping interval on SSE and WebSocket (push-server's `--heartbeat-ms`).
    pub heartbeat: Duration,
    /// How long a long-poll is held before it is answered empty.
    pub long_poll_timeout: Duration,
    /// The largest message body accepted (push-server's `--max-message-size`).
    pub max_message: usize,
    /// Connections the worker may hold.
    pub connections: usize,
    /// The listen backlog: push-server's (the kernel's limit), where nginx's own default is
    /// 511, so a reconnect storm finds the same accept queue on both servers.
    pub backlog: u32,
}

impl Settings {
    /// push-server's defaults, on `port` with `prefix`.
    pub fn new(module: PathBuf, port: u16, prefix: PathBuf, long_poll_timeout: Duration) -> Self {
        Settings {
            module,
            port,
            prefix,
            buffer_length: 1024,
            heartbeat: Duration::from_secs(15),
            long_poll_timeout,
            max_message: 1024 * 1024,
            connections: 20_000,
            backlog: pushbench_server::cli::somaxconn(),
        }
    }
}

/// The nginx configuration for `s`.
pub fn config(s: &Settings) -> String {
    // Nchan reads these as whole seconds (a `ms` suffix is a configuration error).
    let secs = |d: Duration| format!("{}s", d.as_millis().div_ceil(1000).max(1));
    let sub = |name: &str, kind: &str, extra: &str| {
        format!(
            "        location ~ ^/sub/{name}/([^/]+)$ {{\n            nchan_subscriber {kind};\n            nchan_channel_id $1;\n            nchan_subscriber_first_message oldest;\n{extra}        }}\n"
        )
    };
    let mut c = crate::nginx::head(
        "--server nchan; see crates/load-gen/src/nchan.rs",
        &s.prefix,
        Some(&s.module),
        s.connections,
    );
    c += &format!(
        "\x20   keepalive_requests 1000000;\n\
         \x20   keepalive_timeout 3600s;\n\
         \x20   client_max_body_size {max};\n\
         \x20   client_body_buffer_size {max};\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port} backlog={backlog};\n\
         \x20       location ~ ^/pub/([^/]+)$ {{\n\
         \x20           nchan_publisher;\n\
         \x20           nchan_channel_id $1;\n\
         \x20           nchan_message_buffer_length {buffer};\n\
         \x20           nchan_message_timeout 0;\n\
         \x20       }}\n",
        max = s.max_message,
        port = s.port,
        backlog = s.backlog,
        buffer = s.buffer_length,
    );
    let heartbeat = secs(s.heartbeat);
    for block in [
        sub("poll", "intervalpoll", ""),
        sub(
            "long-poll",
            "longpoll",
            &format!(
                "            nchan_subscriber_timeout {};\n",
                secs(s.long_poll_timeout)
            ),
        ),
        sub("chunked", "chunked", ""),
        sub("multipart", "multipart-mixed", ""),
        sub(
            "sse",
            "eventsource",
            &format!("            nchan_eventsource_ping_interval {heartbeat};\n"),
        ),
        sub(
            "ws",
            "websocket",
            &format!("            nchan_websocket_ping_interval {heartbeat};\n"),
        ),
    ] {
        c.push_str(&block);
    }
    c.push_str("    }\n}\n");
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{render, Fill, NCHAN};
    use pushbench_wire::Transport;

    #[test]
    fn every_profile_path_has_its_location() {
        let s = Settings::new(
            "/m.so".into(),
            18080,
            "/tmp/p".into(),
            Duration::from_secs(30),
        );
        let c = config(&s);
        assert!(c.contains("load_module /m.so;"));
        assert!(c.contains(&format!(
            "listen 127.0.0.1:18080 backlog={};",
            pushbench_server::cli::somaxconn()
        )));
        assert!(c.contains("nchan_subscriber_timeout 30s;"));
        assert!(c.contains("nchan_eventsource_ping_interval 15s;"));
        assert!(c.contains("nchan_message_buffer_length 1024;"));
        assert_eq!(c.matches('{').count(), c.matches('}').count());
        let fill = Fill {
            topic: "t0",
            after: 0,
            timeout_ms: 0,
            encoding: "text",
        };
        let mut path = String::new();
        for t in NCHAN.transports() {
            render(&mut path, NCHAN.subscribe(t).unwrap().path, fill);
            let dir = path.trim_end_matches("/t0");
            assert!(
                c.contains(&format!("location ~ ^{dir}/([^/]+)$")),
                "{t}: no location for {path}"
            );
        }
        render(&mut path, NCHAN.publish_path, fill);
        assert_eq!(path, "/pub/t0");
        assert!(c.contains("location ~ ^/pub/([^/]+)$"));
        assert!(NCHAN.subscribe(Transport::Iframe).is_none());
    }
}
