//! The applications the `tether` binary serves (`demo`, `echo`, `hello`), each on the public `tether-server` API only.
//!
//! Peer input never panics here: no `unwrap`, `expect` or `panic!` outside tests.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod access;
pub mod demo;
pub mod echo;
pub mod hello;
pub mod live;
pub mod push;
pub mod stock;

use std::net::SocketAddr;

use std::sync::Arc;

use tether_server::broker::redis::{RedisBroker, RedisConfig};
use tether_server::{Broker, Server, ServerConfig, ServerError};

pub use demo::DemoConfig;

/// The applications `--app` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum App {
    /// The demo page at `/` and the endpoints `/echo`, `/hello`, `/stock`, `/push` and `/live`.
    Demo,
    /// Echoes every text and binary message back as received, on every path.
    Echo,
    /// Replies `"hello " + data` to every text message (as the Workerman example does).
    Hello,
}

/// `demo`'s largest message by default (64 KiB): its messages are small JSON.
pub const DEMO_MAX_MESSAGE: usize = 64 << 10;
/// `echo`'s largest message by default (16 MiB): what the Autobahn TestSuite needs.
pub const ECHO_MAX_MESSAGE: usize = 16 << 20;
/// `hello`'s largest message by default (1 MiB): the codec's internet-facing limit.
pub const HELLO_MAX_MESSAGE: usize = 1 << 20;

impl App {
    /// The largest message this app accepts by default ([`DEMO_MAX_MESSAGE`],
    /// [`ECHO_MAX_MESSAGE`], [`HELLO_MAX_MESSAGE`]); `--help` is written from it too.
    pub fn default_max_message(self) -> usize {
        match self {
            App::Demo => DEMO_MAX_MESSAGE,
            App::Echo => ECHO_MAX_MESSAGE,
            App::Hello => HELLO_MAX_MESSAGE,
        }
    }
}

/// Messages shorter than this go out uncompressed from the demo and `hello`: deflating a
/// short JSON line saves a few bytes and costs a compressor's set-up. `echo` compresses
/// everything (the Autobahn TestSuite's runner, kosoku 0.1.0, fails on small uncompressed
/// messages in cases 13.2, 13.5 and 13.6).
pub const DEFLATE_THRESHOLD: usize = 128;

impl App {
    /// The permessage-deflate settings this app uses when compression is on: the server's
    /// defaults (no context takeover either way, so an idle connection holds no compressor
    /// or inflater, each 46–371 KiB while held; level 1), and the threshold above.
    pub fn deflate_config(self) -> tether_server::DeflateConfig {
        let mut d = tether_server::ServerConfig::default()
            .deflate
            .unwrap_or_default();
        d.threshold = match self {
            App::Echo => 0,
            App::Demo | App::Hello => DEFLATE_THRESHOLD,
        };
        d
    }
}

/// At most `max` characters of `s`: what of a peer's text may go into a log line or a reply.
pub(crate) fn excerpt(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Running as one of several instances that share rooms through Redis (`--redis`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleOut {
    /// Redis: its URL (`redis://` or `rediss://`), the CA to trust, this instance's id.
    pub redis: RedisConfig,
}

impl ScaleOut {
    /// The server's broker: the Redis engine with these settings.
    pub fn broker(&self) -> Result<Arc<dyn Broker>, ServerError> {
        let b = RedisBroker::new(self.redis.clone()).map_err(|e| {
            ServerError::Broker(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
        })?;
        Ok(Arc::new(b))
    }
}

/// Binds `addr` and starts `app` with `config` (the demo with its default [`DemoConfig`]).
pub fn serve(app: App, addr: SocketAddr, config: ServerConfig) -> Result<Server, ServerError> {
    serve_with(app, addr, config, DemoConfig::default())
}

/// Binds `addr` and starts `app` with `config`; `demo` configures the demo app only.
pub fn serve_with(
    app: App,
    addr: SocketAddr,
    config: ServerConfig,
    demo: DemoConfig,
) -> Result<Server, ServerError> {
    serve_scaled(app, addr, config, demo, None)
}

/// Like [`serve_with`], as one of several instances when `scale` is given: rooms reach every
/// instance through Redis, and the demo's `/live` counts and history are cluster-wide.
pub fn serve_scaled(
    app: App,
    addr: SocketAddr,
    config: ServerConfig,
    demo: DemoConfig,
    scale: Option<&ScaleOut>,
) -> Result<Server, ServerError> {
    let broker = scale.map(ScaleOut::broker).transpose()?;
    match app {
        App::Demo => demo::serve(addr, config, demo, broker, scale),
        App::Echo => Server::bind_with_broker(addr, config, broker, |_| echo::Echo),
        App::Hello => Server::bind_with_broker(addr, config, broker, |_| hello::Hello),
    }
}
