//! TLS for the HTTPS and TLS raw TCP ports: rustls (the `ring` provider) through tokio-rustls.
//!
//! The certificate is the one given with `--tls-cert`/`--tls-key` (PEM), or a self-signed one
//! for `localhost` and `127.0.0.1` generated at start (rcgen), so a benchmark needs no files.
//! ALPN offers `h2` and `http/1.1`; an HTTPS connection then goes down the same path as a plain
//! one (its first request head read here, HTTP/2 recognised by its preface), with its bytes
//! counted below TLS, as ciphertext, the way the wire carries them. What TLS connections cannot
//! have is a publish writing into their socket (see [`crate::direct`]): every byte must pass
//! through the connection's TLS session, which its task owns, so their subscribers are written
//! by their own tasks.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::shared::Shared;

/// The names a generated certificate is for.
const SELF_SIGNED_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The server's TLS settings: from PEM files, or self-signed if both paths are `None`.
pub fn acceptor(cert: Option<&Path>, key: Option<&Path>) -> Result<TlsAcceptor, String> {
    let (certs, key) = match (cert, key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--tls-cert {}: no certificate in the file",
                    cert.display()
                ));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
            (certs, key)
        }
        (None, None) => {
            let names = SELF_SIGNED_NAMES.map(String::from).to_vec();
            let generated = rcgen::generate_simple_self_signed(names)
                .map_err(|e| format!("generating a self-signed certificate: {e}"))?;
            let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
            (vec![generated.cert.der().clone()], key.into())
        }
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // No session tickets: load-gen's clients do not resume sessions, so tickets would be
    // bytes on every connection that nobody uses (about 200 B each, two per handshake by
    // default), counted as the connection's setup.
    config.send_tls13_tickets = 0;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// `acceptor`'s settings without ALPN, for raw TCP: it is no HTTP, and a client that offers
/// none gets none.
pub fn without_alpn(acceptor: &TlsAcceptor) -> TlsAcceptor {
    let mut config = (**acceptor.config()).clone();
    config.alpn_protocols.clear();
    TlsAcceptor::from(Arc::new(config))
}

/// Why a TLS connection ended before its handshake was through.
#[derive(Debug)]
pub enum Refused {
    /// The server is shutting down, or the connection was closed to make room.
    Closed,
    /// No handshake within the idle timeout.
    TimedOut(Duration),
    /// The handshake failed (not TLS, no common version or cipher, the client gave up).
    Failed(std::io::Error),
}

/// Runs the server's side of the handshake on `io`, within the idle timeout, unless the server
/// shuts down or `evicted` (the connection waited too long among the pending) completes first.
pub async fn handshake<T: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &TlsAcceptor,
    io: T,
    shared: &Shared,
    evicted: impl std::future::Future,
) -> Result<TlsStream<T>, Refused> {
    let timeout = shared.config.idle_timeout;
    tokio::select! {
        _ = shared.shutdown.cancelled() => Err(Refused::Closed),
        _ = evicted => Err(Refused::Closed),
        done = tokio::time::timeout(timeout, acceptor.accept(io)) => match done {
            Err(_) => Err(Refused::TimedOut(timeout)),
            Ok(Err(e)) => Err(Refused::Failed(e)),
            Ok(Ok(tls)) => Ok(tls),
        },
    }
}
