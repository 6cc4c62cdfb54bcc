//! `ClientError`: every way a client call fails, sorted by cause (RFC 6455 §4.1 handshake, §7.1.7 failing, §7.4 close codes).

use tether_codec::{CloseCode, HandshakeError, UsageError};

/// Why a [`Client`](crate::Client) call failed.
///
/// After [`Protocol`](ClientError::Protocol) or [`Closed`](ClientError::Closed) the connection
/// is over: further sends fail, and [`Client::close`](crate::Client::close) only waits for
/// the server to end the TCP connection. An [`Io`](ClientError::Io) timeout leaves the
/// connection usable: the call can be retried.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not a valid `ws://` or `wss://` URL (RFC 6455 §3); nothing was sent.
    #[error("invalid WebSocket URL: {0}")]
    Url(&'static str),
    /// TLS failed: most often the server's certificate is not trusted
    /// (`InvalidCertificate(UnknownIssuer)`), not for this host
    /// (`InvalidCertificate(NotValidForName…)`) or expired.
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    /// `wss://` without `ClientConfig::tls`, and no trusted roots found on this system.
    #[error("TLS: {0}")]
    NoRoots(String),
    /// The socket failed, or a read or write timed out (see [`ClientError::is_timeout`]).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server refused the upgrade (e.g. `Refused(426)`) or answered it wrongly (§4.1).
    #[error("opening handshake failed: {0}")]
    Handshake(HandshakeError),
    /// The server broke the protocol or exceeded a limit of `ClientConfig::codec`. Our Close
    /// frame with the matching code ([`tether_codec::Error::close_code`]) was sent
    /// best-effort (§7.1.7).
    #[error("the server failed the connection: {0}")]
    Protocol(tether_codec::Error),
    /// The API was used in a way the protocol forbids (sending after a close, a control
    /// payload over 125 bytes, a fragment out of order, an invalid header or config); nothing
    /// was sent.
    #[error("invalid use: {0}")]
    Usage(UsageError),
    /// The connection is closed: `code` and `reason` are the server's (1005 when its Close
    /// frame had no code), or 1006 with no reason when the TCP stream ended without a Close
    /// frame (§7.1.5).
    #[error("connection closed with code {code}{}{reason}", if reason.is_empty() { "" } else { ": " })]
    Closed {
        /// The close code.
        code: CloseCode,
        /// The server's reason, possibly empty.
        reason: String,
    },
}

impl ClientError {
    /// Whether this is a read or write timeout (`WouldBlock` or `TimedOut`, depending on the
    /// platform); the connection is intact and the call can be retried.
    pub fn is_timeout(&self) -> bool {
        match self {
            ClientError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }

    /// Sorts an error of the codec by who is at fault.
    pub(crate) fn from_codec(e: tether_codec::Error) -> ClientError {
        match e {
            tether_codec::Error::Usage(u) => ClientError::Usage(u),
            tether_codec::Error::Handshake(h) => ClientError::Handshake(h),
            other => ClientError::Protocol(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_messages() {
        let t = ClientError::from(std::io::Error::from(std::io::ErrorKind::WouldBlock));
        assert!(t.is_timeout());
        assert!(ClientError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)).is_timeout());
        assert!(!ClientError::Url("x").is_timeout());
        let closed = ClientError::Closed {
            code: CloseCode::NORMAL,
            reason: "bye".into(),
        };
        assert_eq!(closed.to_string(), "connection closed with code 1000: bye");
        let closed = ClientError::Closed {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
        };
        assert_eq!(closed.to_string(), "connection closed with code 1006");
        let usage = ClientError::from_codec(UsageError::Closed.into());
        assert!(matches!(usage, ClientError::Usage(UsageError::Closed)));
    }
}
