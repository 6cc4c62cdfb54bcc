//! Certificates and keys for `wss://` (RFC 8446 and RFC 5246; PEM as RFC 7468 has it): loading and checking them, and the rustls configuration they make.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What a TLS listener serves: a rustls server configuration, and the expiry of its
/// certificate when it was loaded from PEM. Cheap to clone (one `Arc`).
///
/// Made from PEM files with [`from_pem_files`](Self::from_pem_files) (TLS 1.3 and 1.2 only,
/// ALPN `http/1.1`, no client certificates), or from any rustls configuration with
/// [`new`](Self::new). Give it to [`ServerConfig::tls`](crate::ServerConfig::tls), and a new
/// one to [`ServerHandle::set_tls`](crate::ServerHandle::set_tls) to renew the certificate
/// without a restart.
#[derive(Clone)]
pub struct TlsConfig {
    rustls: Arc<rustls::ServerConfig>,
    not_after: Option<SystemTime>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &self.rustls.alpn_protocols)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Two configurations are equal when they are the same one.
impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.rustls, &other.rustls)
    }
}

impl Eq for TlsConfig {}

/// Why certificates or a key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block, or one that is not valid PEM.
    #[error("no certificate in the certificate file: {0}")]
    NoCertificate(String),
    /// The key file holds no private key (PKCS#8, PKCS#1 or SEC1), or one that is not valid PEM.
    #[error("no private key in the key file: {0}")]
    NoKey(String),
    /// The first certificate is not X.509 DER that can be read.
    #[error("the certificate cannot be parsed: {0}")]
    BadCertificate(String),
    /// The certificate's validity ended.
    #[error("the certificate expired {days} day(s) ago")]
    Expired {
        /// Whole days since it expired.
        days: u64,
    },
    /// The certificate is not valid yet.
    #[error("the certificate is not valid until {days} day(s) from now")]
    NotYetValid {
        /// Whole days until it becomes valid.
        days: u64,
    },
    /// rustls refused the pair: most often the key does not match the certificate.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    /// A new certificate was given to a server started without TLS.
    #[error("the server was started without TLS")]
    NotEnabled,
}

impl TlsConfig {
    /// Serves with `config` as it is (its certificate resolver, versions and ALPN).
    pub fn new(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig {
            rustls: config,
            not_after: None,
        }
    }

    /// Loads a full certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or
    /// SEC1) from PEM files, and checks them: the key must match the certificate, and the
    /// certificate must be valid now.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsConfig, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        TlsConfig::from_pem(&read(cert)?, &read(key)?)
    }

    /// [`from_pem_files`](Self::from_pem_files) on the files' contents.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsConfig, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::NoCertificate(e.to_string()))?;
        let leaf = chain
            .first()
            .ok_or_else(|| TlsError::NoCertificate("no CERTIFICATE block".into()))?;
        let not_after = validity_end(leaf)?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            rustls: Arc::new(config),
            not_after: Some(not_after),
        })
    }

    /// The rustls configuration new connections get.
    pub fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.rustls
    }

    /// When the certificate stops being valid (known when loaded from PEM).
    pub fn not_after(&self) -> Option<SystemTime> {
        self.not_after
    }

    /// How long until the certificate expires (zero once it has), if known.
    pub fn expires_in(&self) -> Option<Duration> {
        let end = self.not_after?;
        Some(
            end.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

/// The end of the certificate's validity, checking that it has begun and not ended.
fn validity_end(cert: &CertificateDer<'_>) -> Result<SystemTime, TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    let validity = parsed.validity();
    let at = |t: i64| UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    let (start, end) = (
        at(validity.not_before.timestamp()),
        at(validity.not_after.timestamp()),
    );
    let now = SystemTime::now();
    let days = |d: Duration| d.as_secs() / 86_400;
    if let Ok(past) = now.duration_since(end) {
        return Err(TlsError::Expired { days: days(past) });
    }
    if let Ok(ahead) = start.duration_since(now) {
        return Err(TlsError::NotYetValid { days: days(ahead) });
    }
    Ok(end)
}
