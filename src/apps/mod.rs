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

use tether_server::{Server, ServerConfig, ServerError};

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

impl App {
    /// The largest message this app accepts by default: 16 MiB for `echo`, which the
    /// Autobahn TestSuite needs; 64 KiB for `demo`, whose messages are small JSON; the
    /// codec's internet-facing 1 MiB otherwise.
    pub fn default_max_message(self) -> usize {
        match self {
            App::Demo => 64 << 10,
            App::Echo => 16 << 20,
            App::Hello => 1 << 20,
        }
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
    match app {
        App::Demo => demo::serve(addr, config, demo),
        App::Echo => Server::bind(addr, config, |_| echo::Echo),
        App::Hello => Server::bind(addr, config, |_| hello::Hello),
    }
}
