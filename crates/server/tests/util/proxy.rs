//! A loopback TCP proxy that can cut every connection through it at once: a network drop as the
//! browser sees it (connections end mid-response), while the server keeps running and keeps its
//! topics. New connections pass as before.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Forwards connections on `addr` to an upstream address.
pub struct CutProxy {
    pub addr: SocketAddr,
    /// Cancelled by [`CutProxy::cut`], then replaced: every connection holds the one current
    /// when it was accepted.
    current: Arc<Mutex<CancellationToken>>,
    accepted: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl CutProxy {
    pub async fn start(upstream: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let current = Arc::new(Mutex::new(CancellationToken::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let accept = {
            let (current, accepted) = (current.clone(), accepted.clone());
            tokio::spawn(async move {
                while let Ok((mut down, _)) = listener.accept().await {
                    accepted.fetch_add(1, Relaxed);
                    let cut = current.lock().unwrap().clone();
                    tokio::spawn(async move {
                        let Ok(mut up) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let _ = down.set_nodelay(true);
                        let _ = up.set_nodelay(true);
                        tokio::select! {
                            _ = cut.cancelled() => {}
                            _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        }
                    });
                }
            })
        };
        CutProxy {
            addr,
            current,
            accepted,
            accept,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Relaxed)
    }

    /// Closes every connection open now, both ways.
    pub fn cut(&self) {
        let mut current = self.current.lock().unwrap();
        current.cancel();
        *current = CancellationToken::new();
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.current.lock().unwrap().cancel();
    }
}
