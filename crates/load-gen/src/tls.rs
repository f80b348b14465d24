//! TLS for load-gen's clients (the scenario's `tls = true`): rustls over the counted socket, so
//! the bytes counted, and cross-checked against the kernel, are the ciphertext the wire
//! carries. The server's certificate is not checked (a benchmark talks to a server it started,
//! often with a self-signed certificate), but its handshake signatures are, so a client does
//! the work a browser's does. Sessions are not resumed: every connection pays a full
//! handshake, which is what a reconnect-heavy workload without tickets costs.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// How clients of one run speak TLS to the server.
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// The settings for HTTP connections (ALPN `http/1.1`, or `h2` first for HTTP/2).
    pub http: Arc<ClientConfig>,
    /// The settings for raw TCP (no ALPN: it is no HTTP).
    pub raw: Arc<ClientConfig>,
    /// The name sent in the handshake (SNI), from the target's host.
    pub name: ServerName<'static>,
}

impl TlsClient {
    /// Clients of `host` (a name or an IP address, without port), offering ALPN `h2` and
    /// `http/1.1` on HTTP connections, as a browser does, if `http2`; else `http/1.1` alone.
    pub fn new(host: &str, http2: bool) -> Result<TlsClient, String> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{host} is not a TLS server name: {e}"))?;
        let alpn: &[&[u8]] = match http2 {
            true => &[b"h2", b"http/1.1"],
            false => &[b"http/1.1"],
        };
        Ok(TlsClient {
            http: client_config(alpn),
            raw: client_config(&[]),
            name,
        })
    }
}

/// A client configuration that takes any certificate, offers `alpn` and resumes nothing.
pub fn client_config(alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// What a TLS connection settled on: version, cipher suite, ALPN protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// e.g. `TLSv1_3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// e.g. `http/1.1`, if the server chose one.
    pub alpn: Option<String>,
}

impl Negotiated {
    /// What `conn` settled on.
    pub fn of(conn: &rustls::ClientConnection) -> Negotiated {
        let version = conn.protocol_version();
        Negotiated {
            version: version
                .and_then(|v| v.as_str())
                .map_or_else(|| format!("{version:?}"), str::to_owned),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| s.suite())
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_default(),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        }
    }
}

/// Takes any certificate; checks the handshake's signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Counts the TLS records in one direction of a connection's ciphertext, from their 5-byte
/// headers (type, version, length), passively, as the bytes go by.
#[derive(Debug, Default, Clone)]
pub struct RecordCounter {
    header: [u8; 5],
    /// Header bytes seen of the record being read.
    have: usize,
    /// Body bytes still to pass of the current record.
    left: usize,
    /// Records begun so far.
    pub records: u64,
}

impl RecordCounter {
    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = self.left.min(bytes.len());
                self.left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (self.header.len() - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == self.header.len() {
                self.records += 1;
                self.left = u16::from_be_bytes([self.header[3], self.header[4]]) as usize;
                self.have = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_counted_whatever_pieces_the_stream_comes_in() {
        // Three records: 3, 0 and 300 bytes of body.
        let mut stream = Vec::new();
        for len in [3u16, 0, 300] {
            stream.extend_from_slice(&[23, 3, 3]);
            stream.extend_from_slice(&len.to_be_bytes());
            stream.extend(std::iter::repeat_n(7u8, len as usize));
        }
        for piece in [1, 2, 4, 5, 7, 64, stream.len()] {
            let mut counter = RecordCounter::default();
            for chunk in stream.chunks(piece) {
                counter.feed(chunk);
            }
            assert_eq!(counter.records, 3, "pieces of {piece}");
            assert_eq!((counter.have, counter.left), (0, 0), "pieces of {piece}");
        }
        // Half a header: the record is not counted until its header is whole.
        let mut counter = RecordCounter::default();
        counter.feed(&stream[..4]);
        assert_eq!(counter.records, 0);
    }
}
