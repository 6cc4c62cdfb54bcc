//! What an application implements: `Handler` callbacks for upgrade, open, message, close and timers (RFC 6455 §4.2.2 choices, §7 close).

use std::net::SocketAddr;

use tether_codec::handshake::Request;
use tether_codec::{CloseCode, MessageRef};

use crate::ctx::Ctx;
use crate::id::ConnId;

/// An opening request, as the application sees it before deciding.
#[derive(Debug)]
pub struct UpgradeRequest<'a> {
    pub(crate) request: &'a Request<'a>,
    pub(crate) peer: SocketAddr,
    pub(crate) client: SocketAddr,
}

impl<'a> UpgradeRequest<'a> {
    /// The request path, e.g. `/live`.
    pub fn path(&self) -> &'a str {
        self.request.path()
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.request.query()
    }

    /// The first value of a header (case-insensitive name), as text.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.request.header_str(name)
    }

    /// The whole parsed request: every header, repeated ones included.
    pub fn request(&self) -> &Request<'a> {
        self.request
    }

    /// The `Origin` header browsers send.
    pub fn origin(&self) -> Option<&'a str> {
        self.request.origin()
    }

    /// The offered subprotocols, in the client's order of preference.
    pub fn subprotocols(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.request.subprotocols()
    }

    /// The TCP peer's address: a proxy's, behind one.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The client's address, however it came: the PROXY protocol header's source (from a
    /// trusted proxy, with `ServerConfig::proxy_protocol`), then, from a trusted proxy,
    /// `X-Forwarded-For` over all its lines read from the right (the first address that is
    /// not a trusted proxy; see [`proxy::client_addr_from_forwarded`](crate::proxy::client_addr_from_forwarded)),
    /// or a lone `X-Real-IP` when there is no `X-Forwarded-For`. Anyone else's headers are
    /// ignored: the client is then the TCP peer. The port is 0 when a header gave no port.
    pub fn client_addr(&self) -> SocketAddr {
        self.client
    }
}

/// The application's answer to an opening request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// Accept, optionally selecting one of the offered subprotocols.
    Accept {
        /// The subprotocol to select; must be one the client offered.
        subprotocol: Option<String>,
    },
    /// Refuse with an HTTP status (e.g. 403 for a disallowed `Origin`, 404 for an unknown path).
    Reject {
        /// 400–599.
        status: u16,
        /// A short text body saying why.
        reason: String,
    },
}

impl Upgrade {
    /// Accept without a subprotocol.
    pub fn accept() -> Upgrade {
        Upgrade::Accept { subprotocol: None }
    }

    /// Refuse with `status` and a reason.
    pub fn reject(status: u16, reason: impl Into<String>) -> Upgrade {
        Upgrade::Reject {
            status,
            reason: reason.into(),
        }
    }
}

/// A plain HTTP response, for requests that are not WebSocket upgrades (e.g. a page at `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: bytes::Bytes,
}

/// An application, one instance per worker thread.
///
/// Each callback gets a [`Ctx`] to act through: send, close, broadcast, rooms and timers.
/// Callbacks run on the event loop: they must not block.
///
/// A panic in a callback is caught, logged and counted (`tether_handler_panics_total`), and
/// costs as little as it can: in `on_http` or `on_upgrade` the client gets 500; in `on_open`
/// or `on_message` that connection is closed with 1011; in `on_close`, `on_timer`,
/// `on_notify` or `on_start` nothing more. The worker and its other connections go on.
pub trait Handler: Send + 'static {
    /// Once per worker, before it serves: set up timers here.
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }

    /// A plain HTTP request (no `Upgrade: websocket`). `None` answers with the
    /// handshake error (400).
    fn on_http(&mut self, request: &UpgradeRequest<'_>) -> Option<HttpResponse> {
        let _ = request;
        None
    }

    /// A valid opening request: accept (with a subprotocol) or refuse. Default: accept.
    fn on_upgrade(&mut self, conn: ConnId, request: &UpgradeRequest<'_>) -> Upgrade {
        let _ = (conn, request);
        Upgrade::accept()
    }

    /// The connection is open (the 101 response is queued).
    fn on_open(&mut self, ctx: &mut Ctx<'_>, conn: ConnId) {
        let _ = (ctx, conn);
    }

    /// A complete message arrived. It is lent for the call: a small one is read where it
    /// arrived, in the worker's read buffer (no copy, no allocation, no reference count).
    /// Relay it with [`Ctx::send_message`] (which shares a large message's buffer) or
    /// [`Ctx::send`]; keep it past the call with [`MessageRef::to_message`].
    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, message: MessageRef<'_>);

    /// The connection left the open state: the peer's close code (1005 if none), the code the
    /// server closed with, the code of the peer's protocol violation, or 1006 when it vanished.
    /// Called once for every opened connection; rooms are already left.
    fn on_close(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, code: CloseCode, reason: &str) {
        let _ = (ctx, conn, code, reason);
    }

    /// A timer set with [`Ctx::set_timer`] fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        let _ = (ctx, token);
    }

    /// A value sent with [`ServerHandle::notify`](crate::ServerHandle::notify) arrived at this worker.
    fn on_notify(&mut self, ctx: &mut Ctx<'_>, value: u64) {
        let _ = (ctx, value);
    }
}
