//! `demo`: one server with every endpoint our users build: the page at `GET /`, `/echo`, `/hello`, `/stock`, `/push` and `/live`, behind the access checks of [`access`](super::access).
//!
//! | request | answer |
//! |---|---|
//! | `GET /` (plain HTTP) | the demo page, compiled into the binary (no CDN) |
//! | any other plain HTTP request | 404 |
//! | WebSocket to `/echo` | every message back as received |
//! | WebSocket to `/hello` | `"hello " + data` |
//! | WebSocket to `/stock` | see [`stock`](super::stock) |
//! | WebSocket to `/push` | see [`push`](super::push) |
//! | WebSocket to `/live` | see [`live`](super::live) and `docs/live-protocol.md` |
//! | WebSocket to any other path | 404, before the upgrade |
//! | a handshake the allowlists refuse | 403 |

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tether_server::{
    Broker, CloseCode, ConnId, Ctx, Handler, HttpResponse, MessageRef, Server, ServerConfig,
    ServerError, Upgrade, UpgradeRequest,
};

use super::access::Access;
use super::echo::Echo;
use super::excerpt;
use super::hello::Hello;
use super::live::cluster::Cluster;
use super::live::{Live, LiveConfig};
use super::push::Pusher;
use super::stock::Ticker;
use super::ScaleOut;

/// The demo page, served at `GET /`.
pub const PAGE: &str = include_str!("page.html");

/// Timer token of the `/push` tick; stock subscriptions use the tokens from
/// [`stock::FIRST_TOKEN`](super::stock::FIRST_TOKEN) on.
const PUSH_TOKEN: u64 = 0;
const _: () = assert!(PUSH_TOKEN < super::stock::FIRST_TOKEN);

/// Everything the demo can be told, besides the server's own [`ServerConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Time between two `/stock` quotes to a subscriber. Default 1 s.
    pub stock_interval: Duration,
    /// Time between two `/push` pushes. Default 10 s.
    pub push_interval: Duration,
    /// Live-room limits (history length, comment length).
    pub live: LiveConfig,
    /// Origin and appid allowlists, trusted proxies. Default: everyone, no proxy.
    pub access: Access,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            stock_interval: Duration::from_secs(1),
            push_interval: Duration::from_secs(10),
            live: LiveConfig::default(),
            access: Access::default(),
        }
    }
}

impl DemoConfig {
    /// Checks the intervals and limits; the server refuses to start on an error.
    pub fn validate(&self) -> Result<(), &'static str> {
        let min = Duration::from_millis(10);
        if self.stock_interval < min || self.push_interval < min {
            return Err("stock and push intervals must be at least 10 ms");
        }
        if self.live.history_len == 0 || self.live.max_comment_chars == 0 {
            return Err("live history length and comment limit must be at least 1");
        }
        Ok(())
    }
}

/// Binds `addr` and serves the demo with `config` and `demo`; with `broker` and `scale`, as
/// one of several instances (rooms, `/live` counts and history shared through Redis).
pub fn serve(
    addr: SocketAddr,
    config: ServerConfig,
    demo: DemoConfig,
    broker: Option<Arc<dyn Broker>>,
    scale: Option<&ScaleOut>,
) -> Result<Server, ServerError> {
    demo.validate().map_err(ServerError::Config)?;
    let live = match scale {
        Some(s) => {
            let cluster = Cluster::start(&s.redis, demo.live.history_len)
                .map_err(|e| ServerError::Broker(std::io::Error::other(e)))?;
            Live::with_cluster(demo.live, cluster)
        }
        None => Live::new(demo.live),
    };
    let demo = Arc::new(demo);
    let live = Arc::new(live);
    Server::bind_with_broker(addr, config, broker, move |_| {
        Demo::new(demo.clone(), live.clone())
    })
}

/// The endpoints a WebSocket can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/echo`
    Echo,
    /// `/hello`
    Hello,
    /// `/stock`
    Stock,
    /// `/push`
    Push,
    /// `/live`
    Live,
}

impl Endpoint {
    /// The endpoint at `path`, if any.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/echo" => Endpoint::Echo,
            "/hello" => Endpoint::Hello,
            "/stock" => Endpoint::Stock,
            "/push" => Endpoint::Push,
            "/live" => Endpoint::Live,
            _ => return None,
        })
    }
}

/// An accepted connection, as the demo remembers it.
#[derive(Debug, Clone, Copy)]
struct Peer {
    endpoint: Endpoint,
    client: IpAddr,
}

/// The demo application: one per worker; the live rooms are shared.
#[derive(Debug)]
pub struct Demo {
    config: Arc<DemoConfig>,
    live: Arc<Live>,
    /// Accepted in `on_upgrade`, open after `on_open`; removed in `on_close`.
    peers: HashMap<ConnId, Peer>,
    ticker: Ticker,
    pusher: Pusher,
}

impl Demo {
    /// A worker's handler over the shared live rooms.
    pub fn new(config: Arc<DemoConfig>, live: Arc<Live>) -> Demo {
        Demo {
            ticker: Ticker::new(config.stock_interval),
            config,
            live,
            peers: HashMap::new(),
            pusher: Pusher::default(),
        }
    }

    fn endpoint(&self, conn: ConnId) -> Option<Endpoint> {
        self.peers.get(&conn).map(|p| p.endpoint)
    }
}

impl Handler for Demo {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        ctx.set_interval(self.config.push_interval, PUSH_TOKEN);
    }

    fn on_http(&mut self, request: &UpgradeRequest<'_>) -> Option<HttpResponse> {
        Some(match request.path() {
            "/" | "/index.html" => HttpResponse {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: PAGE.into(),
            },
            _ => HttpResponse {
                status: 404,
                content_type: "text/plain; charset=utf-8",
                body: "not found\n".into(),
            },
        })
    }

    fn on_upgrade(&mut self, conn: ConnId, request: &UpgradeRequest<'_>) -> Upgrade {
        let peer = request.peer_addr();
        let client = request.client_addr().ip().to_canonical();
        let via = if client == peer.ip().to_canonical() {
            String::new()
        } else {
            format!(" via proxy {peer}")
        };
        let path = request.path();
        let Some(endpoint) = Endpoint::from_path(path) else {
            log::debug!(
                "{conn} from {client}{via}: no endpoint at {:?}",
                excerpt(path, 64)
            );
            return Upgrade::reject(404, "no WebSocket endpoint at this path");
        };
        if let Err(reason) = self.config.access.check(request) {
            log::debug!("{conn} from {client}{via}: refused {path}: {reason}");
            return Upgrade::reject(403, reason);
        }
        log::debug!("{conn} from {client}{via}: {path}");
        self.peers.insert(conn, Peer { endpoint, client });
        Upgrade::accept()
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_>, conn: ConnId) {
        match self.peers.get(&conn) {
            Some(Peer {
                endpoint: Endpoint::Live,
                ..
            }) => self.live.on_open(ctx, conn),
            Some(Peer {
                endpoint: Endpoint::Push,
                client,
            }) => self.pusher.on_open(conn, *client),
            Some(_) => {}
            None => {
                log::error!("{conn} opened without an accepted upgrade");
                let _ = ctx.close(conn, CloseCode::INTERNAL_ERROR, "unknown connection");
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, message: MessageRef<'_>) {
        match self.endpoint(conn) {
            Some(Endpoint::Echo) => Echo.on_message(ctx, conn, message),
            Some(Endpoint::Hello) => Hello.on_message(ctx, conn, message),
            Some(Endpoint::Stock) => self.ticker.on_message(ctx, conn, message),
            Some(Endpoint::Push) => self.pusher.on_message(ctx, conn, message),
            Some(Endpoint::Live) => self.live.on_message(ctx, conn, message),
            None => {}
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, code: CloseCode, _reason: &str) {
        let Some(peer) = self.peers.remove(&conn) else {
            return;
        };
        log::debug!("{conn} from {} closed with {code}", peer.client);
        match peer.endpoint {
            Endpoint::Stock => self.ticker.unsubscribe(ctx, conn),
            Endpoint::Push => self.pusher.on_close(conn),
            Endpoint::Live => self.live.on_close(ctx, conn),
            Endpoint::Echo | Endpoint::Hello => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) {
        if token == PUSH_TOKEN {
            self.pusher.on_tick(ctx);
        } else {
            self.ticker.on_timer(ctx, token);
        }
    }
}
