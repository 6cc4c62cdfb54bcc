//! wss:// for the load generator (RFC 8446 and RFC 5246, by rustls with the ring provider, as the server): one `ClientConnection` per connection, driven by [`Net`](crate::net::Net) on its own mio loop.
//!
//! Every connection makes a full handshake: session resumption is off, so each one costs a
//! server what a new visitor costs it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// What every TLS connection of a run shares: the configuration and the name to check.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsClient {
    /// A client trusting the PEM certificates in `ca_file` only, checking `name` (a DNS name
    /// or an IP address) in the server's certificate.
    pub fn new(ca_file: &Path, name: &str) -> Result<TlsClient, String> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| format!("{}: {e}", ca_file.display()))?
        {
            let cert = cert.map_err(|e| format!("{}: {e}", ca_file.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca_file.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no certificate", ca_file.display()));
        }
        Self::with_roots(roots, name)
    }

    /// A client trusting `roots`, checking `name`.
    pub fn with_roots(roots: RootCertStore, name: &str) -> Result<TlsClient, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        // What a browser offers for wss:// when it will not do HTTP/2 there.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(name.to_owned()).map_err(|e| format!("{name}: {e}"))?;
        Ok(TlsClient {
            config: Arc::new(config),
            name,
        })
    }

    /// The TLS side of a new connection (its ClientHello is queued).
    pub fn connect(&self) -> Result<Box<ClientConnection>, rustls::Error> {
        ClientConnection::new(Arc::clone(&self.config), self.name.clone()).map(Box::new)
    }
}

/// What a completed handshake agreed, as `TLSv1_3 TLS13_AES_256_GCM_SHA384 X25519`.
pub fn describe(tls: &ClientConnection) -> String {
    let name = |o: Option<String>| o.unwrap_or_else(|| "?".into());
    format!(
        "{} {} {}",
        name(tls.protocol_version().map(|v| format!("{v:?}"))),
        name(
            tls.negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
        ),
        name(
            tls.negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name()))
        ),
    )
}
