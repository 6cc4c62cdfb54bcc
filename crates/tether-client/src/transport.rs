//! The byte stream under a client: TCP for `ws://`, TLS over TCP for `wss://` (RFC 6455 §3 and §4.1; TLS 1.2 and 1.3 by rustls, server names checked as RFC 6125 has it).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::error::ClientError;

/// TCP, or TLS over TCP.
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Transport {
    /// Runs the TLS handshake with `host` over `tcp`, verifying the server's certificate
    /// against `config`'s roots (the platform's when `config` is `None`) and its name.
    pub(crate) fn tls(
        tcp: TcpStream,
        host: &str,
        config: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Transport, ClientError> {
        let config = match config {
            Some(c) => Arc::clone(c),
            None => platform_config()?,
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ClientError::Url("the host is not a valid TLS server name"))?;
        let conn = ClientConnection::new(config, name).map_err(ClientError::Tls)?;
        let mut tls = StreamOwned::new(conn, tcp);
        // Finish the handshake now, so that a certificate the client refuses fails `connect`.
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).map_err(tls_error)?;
        }
        Ok(Transport::Tls(Box::new(tls)))
    }

    /// The TCP stream underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.sock,
        }
    }

    /// One read. `Ok(0)` at the end of the stream, with TLS's `close_notify` or without it
    /// (the WebSocket close handshake tells a clean end from a cut one).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let r = match self {
                Transport::Plain(s) => s.read(buf),
                Transport::Tls(t) => match t.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                    other => other,
                },
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// One write.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(bytes),
            Transport::Tls(t) => {
                let n = t.write(bytes)?;
                t.flush()?;
                Ok(n)
            }
        }
    }

    /// Writes all of `bytes`.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.write_all(bytes),
            Transport::Tls(t) => {
                t.write_all(bytes)?;
                t.flush()
            }
        }
    }

    /// Sends TLS's `close_notify` (nothing on TCP).
    pub(crate) fn close_notify(&mut self) {
        if let Transport::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
    }
}

/// A TLS error from rustls as the client reports it: certificate and name failures say so.
fn tls_error(e: io::Error) -> ClientError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => ClientError::Tls(tls.clone()),
        None => ClientError::Io(e),
    }
}

/// The platform's trusted roots (read once per process) with rustls's safe defaults.
fn platform_config() -> Result<Arc<rustls::ClientConfig>, ClientError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no trusted root certificates found on this system ({} errors)",
                    found.errors.len()
                ));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(ClientError::NoRoots)
}
