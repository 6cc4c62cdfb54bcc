//! `ClientConfig`: the client's timeouts, handshake options and codec limits (RFC 6455 §4.1 request options, §10.4 limits).

use std::time::Duration;

/// How a [`Client`](crate::Client) connects and what it accepts.
///
/// Build it from the default and change what you need:
///
/// ```
/// use std::time::Duration;
/// use tether_client::ClientConfig;
///
/// let config = ClientConfig {
///     read_timeout: Some(Duration::from_secs(5)),
///     subprotocols: vec!["chat".into()],
///     headers: vec![("Origin".into(), "http://localhost".into())],
///     ..Default::default()
/// };
/// assert!(config.nodelay);
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Time allowed to open the TCP connection to each resolved address. Default 10 s.
    /// `None` waits as long as the OS does.
    pub connect_timeout: Option<Duration>,
    /// Time one read may block: in the handshake, in `recv`, and the whole wait for the
    /// server to end the TCP connection in `close`. Default 30 s; `None` blocks forever.
    pub read_timeout: Option<Duration>,
    /// Time one write may block. Default 30 s; `None` blocks forever.
    pub write_timeout: Option<Duration>,
    /// Subprotocols to offer, in order of preference (`Sec-WebSocket-Protocol`). Default none.
    pub subprotocols: Vec<String>,
    /// Extra handshake headers, e.g. `Origin` or `Referer`. Default none.
    pub headers: Vec<(String, String)>,
    /// Limits on what the server sends: message and frame size, response head size.
    /// Default [`tether_codec::Config::default`] (1 MiB messages).
    pub codec: tether_codec::Config,
    /// Disable Nagle's algorithm, so small frames leave at once. Default `true`.
    pub nodelay: bool,
    /// permessage-deflate (RFC 7692) to offer. Default: offered with
    /// `client_no_context_takeover` and `client_max_window_bits` (so the server may shrink
    /// our window and our compressor holds no memory between messages), every message
    /// compressed. `None`: not offered.
    pub deflate: Option<tether_codec::deflate::DeflateConfig>,
    /// TLS for `wss://` URLs: whom to trust. Default `None`: the platform's trusted roots,
    /// with the server's name checked against its certificate. Give a configuration of your
    /// own for a private CA (tests, private deployments).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// The client's default permessage-deflate offer (see [`ClientConfig::deflate`]).
fn default_deflate() -> tether_codec::deflate::DeflateConfig {
    let mut d = tether_codec::deflate::DeflateConfig::default();
    d.client_no_context_takeover = true;
    d
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(30)),
            subprotocols: Vec::new(),
            headers: Vec::new(),
            codec: tether_codec::Config::default(),
            nodelay: true,
            deflate: Some(default_deflate()),
            tls: None,
        }
    }
}
