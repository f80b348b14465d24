//! push-server's command line: flags into a [`Config`], bind both ports, print where it listens,
//! serve until Ctrl-C or SIGTERM. Shared by two entry points: the `push-server` binary and
//! load-gen, which runs the same server as its child process (`load-gen push-server ...`) so a
//! fresh checkout needs only one `cargo run`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Config;
use anyhow::Context;
use tokio::net::{TcpListener, TcpSocket};

/// One hub, seven push transports: short-poll, long-poll, xhr-stream, iframe, sse, websocket on
/// the HTTP port, raw TCP on its own.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address of the HTTP port (every transport but raw TCP). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Address of the raw TCP port.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub tcp: SocketAddr,
    /// Address of an HTTPS port too (every transport but raw TCP, HTTP/1.1 or HTTP/2 as ALPN
    /// settles; see --tls-cert).
    #[arg(long)]
    pub https: Option<SocketAddr>,
    /// Address of a raw TCP port over TLS too.
    #[arg(long)]
    pub tcp_tls: Option<SocketAddr>,
    /// The TLS certificate chain (PEM) for --https and --tcp-tls [default: a self-signed
    /// certificate for localhost and 127.0.0.1, generated at start].
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Messages kept per topic for resumption.
    #[arg(long, default_value_t = Config::default().ring_size)]
    ring_size: usize,
    /// Messages a subscriber may fall behind before it is resynchronised or sent a gap.
    #[arg(long, default_value_t = Config::default().send_queue)]
    send_queue: usize,
    /// Largest message payload, in bytes.
    #[arg(long, default_value_t = Config::default().max_message_size)]
    max_message_size: usize,
    /// Concurrent connections across both ports.
    #[arg(long, default_value_t = Config::default().max_connections)]
    max_connections: usize,
    /// Distinct topics.
    #[arg(long, default_value_t = Config::default().max_topics)]
    max_topics: usize,
    /// Default long-poll hold time, in milliseconds.
    #[arg(long, default_value_t = Config::default().long_poll_timeout.as_millis() as u64)]
    long_poll_timeout_ms: u64,
    /// Longest hold a long poll may ask for with timeout=, in milliseconds.
    #[arg(long, default_value_t = Config::default().max_long_poll_timeout.as_millis() as u64)]
    max_long_poll_timeout_ms: u64,
    /// Heartbeat interval for idle streams, in milliseconds.
    #[arg(long, default_value_t = Config::default().heartbeat.as_millis() as u64)]
    heartbeat_ms: u64,
    /// The retry: an SSE stream announces, in milliseconds.
    #[arg(long, default_value_t = Config::default().sse_retry.as_millis() as u64)]
    sse_retry_ms: u64,
    /// Largest padding prelude a stream may ask for, in bytes.
    #[arg(long, default_value_t = Config::default().max_padding)]
    max_padding: usize,
    /// How long shutdown waits for connections to close, in milliseconds.
    #[arg(long, default_value_t = Config::default().shutdown_grace.as_millis() as u64)]
    shutdown_grace_ms: u64,
    /// How long an HTTP connection may sit idle (or dribble a request head) before it is closed,
    /// in milliseconds.
    #[arg(long, default_value_t = Config::default().idle_timeout.as_millis() as u64)]
    idle_timeout_ms: u64,
    /// How long an idle, unheld topic is kept (with its ring) before it is forgotten, in
    /// milliseconds.
    #[arg(long, default_value_t = Config::default().topic_ttl.as_millis() as u64)]
    topic_ttl_ms: u64,
    /// Largest HTTP/1 request head, in bytes (larger ones get 431); at least 8192.
    #[arg(long, default_value_t = Config::default().max_request_head)]
    max_request_head: usize,
    /// Bytes the hub may hold in messages (payloads and their encodings); a publish past it is
    /// refused.
    #[arg(long, default_value_t = Config::default().max_memory)]
    max_memory: usize,
    /// Connections that may wait for their first request at once; one more closes the one that
    /// has waited longest.
    #[arg(long, default_value_t = Config::default().max_pending_connections)]
    max_pending_connections: usize,
    /// Whether publishes write streamed messages (xhr-stream, iframe, SSE over HTTP/1.1, and
    /// WebSocket) straight into the sockets of subscribers that keep up, and answer the long
    /// polls waiting on a connection of polls; `false`: each subscriber's task is woken to
    /// write its own.
    #[arg(long, default_value_t = Config::default().direct_streams, action = clap::ArgAction::Set)]
    direct_streams: bool,
    /// Threads that serve connections [default: one per core this process may use]. One thread
    /// is a single event loop with no hand-offs between threads, the cheapest per message.
    #[arg(long)]
    pub threads: Option<std::num::NonZeroUsize>,
    /// Connections each port's kernel queue holds before they are accepted [default: the
    /// kernel's limit, net.core.somaxconn]. Past it the kernel drops a new connection's SYN and
    /// the client retries a second later, so a reconnect storm larger than the queue measures
    /// TCP's retransmission timer rather than the server.
    #[arg(long)]
    pub listen_backlog: Option<u32>,
}

impl Args {
    /// How many threads serve connections: `--threads`, or one per core this process may use
    /// (its CPU affinity, so a server pinned to one core runs one event loop).
    pub fn threads(&self) -> usize {
        self.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |n| n.get(),
        )
    }

    /// The runtime these flags ask for. With one thread, a current-thread runtime: a wake-up
    /// is a push onto a local queue, where the multi-threaded scheduler (even with a single
    /// worker) goes through its shared inject queue, atomics and the idle-worker bookkeeping.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        match self.threads() {
            1 => tokio::runtime::Builder::new_current_thread(),
            n => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(n);
                b
            }
        }
        .enable_all()
        .build()
    }

    /// The listen backlog: `--listen-backlog`, or the kernel's limit.
    pub fn listen_backlog(&self) -> u32 {
        self.listen_backlog.unwrap_or_else(somaxconn)
    }

    /// The limits these flags ask for.
    pub fn config(&self) -> Config {
        Config {
            ring_size: self.ring_size,
            send_queue: self.send_queue,
            max_message_size: self.max_message_size,
            max_connections: self.max_connections,
            max_topics: self.max_topics,
            long_poll_timeout: Duration::from_millis(self.long_poll_timeout_ms),
            max_long_poll_timeout: Duration::from_millis(self.max_long_poll_timeout_ms),
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            sse_retry: Duration::from_millis(self.sse_retry_ms),
            max_padding: self.max_padding,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            topic_ttl: Duration::from_millis(self.topic_ttl_ms),
            max_request_head: self.max_request_head,
            max_memory: self.max_memory,
            max_pending_connections: self.max_pending_connections,
            direct_streams: self.direct_streams,
        }
    }
}

/// Raises the open-file limit as far as allowed: every connection is a descriptor. The soft
/// limit goes to the hard one; a privileged process also lifts the hard limit to 1,048,576 (the
/// kernel's default `nr_open`). Returns the soft limit in force afterwards.
pub fn raise_fd_limit() -> u64 {
    const WANTED: libc::rlim_t = 1 << 20;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_max < WANTED {
            let raised = libc::rlimit {
                rlim_cur: WANTED,
                rlim_max: WANTED,
            };
            // Fails without CAP_SYS_RESOURCE; the soft-to-hard step below still applies.
            libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// Serves with `args` until Ctrl-C or SIGTERM. Logs go to stderr; the one stdout line says where
/// it listens: `push-server listening http=ADDR tcp=ADDR`, then ` https=ADDR` and
/// ` tcp-tls=ADDR` for the TLS ports asked for.
pub async fn serve(args: Args) -> anyhow::Result<()> {
    let config = args.config();
    config.validate().map_err(anyhow::Error::msg)?;
    let fds = raise_fd_limit();
    // Before the ports are printed: whoever reads them may signal at once.
    let shutdown = crate::shutdown_signal();
    let backlog = args.listen_backlog();
    let http =
        bind(args.http, backlog).with_context(|| format!("binding the HTTP port {}", args.http))?;
    let tcp = bind(args.tcp, backlog)
        .with_context(|| format!("binding the raw TCP port {}", args.tcp))?;
    let mut listening = format!(
        "push-server listening http={} tcp={}",
        http.local_addr()?,
        tcp.local_addr()?
    );
    let tls = if args.https.is_some() || args.tcp_tls.is_some() {
        let acceptor = crate::tls::acceptor(args.tls_cert.as_deref(), args.tls_key.as_deref())
            .map_err(anyhow::Error::msg)?;
        let mut bind_tls = |addr: Option<SocketAddr>, name: &str| -> anyhow::Result<_> {
            let Some(addr) = addr else { return Ok(None) };
            let listener =
                bind(addr, backlog).with_context(|| format!("binding the {name} port {addr}"))?;
            listening.push_str(&format!(" {name}={}", listener.local_addr()?));
            Ok(Some(listener))
        };
        let https = bind_tls(args.https, "https")?;
        let tcp = bind_tls(args.tcp_tls, "tcp-tls")?;
        Some(crate::TlsPorts {
            https,
            tcp,
            acceptor,
        })
    } else {
        None
    };
    println!("{listening}");
    tracing::info!(open_files = fds, ?config, "push-server started");
    let ports = crate::Ports { http, tcp, tls };
    crate::run_ports(ports, config, shutdown)
        .await
        .map_err(anyhow::Error::msg)?;
    tracing::info!("push-server stopped");
    Ok(())
}

/// The kernel's cap on a listen backlog (`net.core.somaxconn`), 4096 (its default since Linux
/// 5.4) if it cannot be read.
pub fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// A listening socket on `addr` whose accept queue holds `backlog` connections (tokio's
/// `TcpListener::bind` always asks for 1,024). `SO_REUSEADDR`, as tokio sets it, so a server
/// restarted on the same port binds while the old one's connections are in TIME_WAIT.
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Installs the stderr log subscriber (`RUST_LOG` filters; default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The accept queue holds what was asked (Linux lets one more in than the backlog): a
    /// connection past it gets no answer to its SYN. With tokio's own `bind` all twelve would
    /// connect.
    #[tokio::test]
    async fn the_accept_queue_holds_the_backlog_asked_for() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), 4).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        let mut refused = 0;
        // One at a time, nothing accepted: each either completes its handshake at once or
        // waits for a SYN retransmission a second away.
        for _ in 0..8 {
            let connect = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_millis(400), connect).await {
                Ok(Ok(s)) => held.push(s),
                _ => refused += 1,
            }
        }
        assert_eq!((held.len(), refused), (5, 3));
    }

    #[test]
    fn the_backlog_defaults_to_the_kernels_limit() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let default = Cli::parse_from(["push-server"]).args;
        assert_eq!(default.listen_backlog(), somaxconn());
        let asked = Cli::parse_from(["push-server", "--listen-backlog", "64"]).args;
        assert_eq!(asked.listen_backlog(), 64);
        if let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") {
            assert_eq!(somaxconn().to_string(), text.trim());
        }
    }
}
