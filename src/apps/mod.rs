//! The applications the `tether` binary serves, each on the public `tether-server` API only.

pub mod echo;
pub mod hello;

use std::net::SocketAddr;

use tether_server::{Server, ServerConfig, ServerError};

/// The applications `--app` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum App {
    /// Echoes every text and binary message back as received, on every path.
    Echo,
    /// Replies `"hello " + data` to every text message (as the Workerman example does).
    Hello,
}

impl App {
    /// The largest message this app accepts by default: 16 MiB for `echo`, which the
    /// Autobahn TestSuite needs; the codec's internet-facing 1 MiB otherwise.
    pub fn default_max_message(self) -> usize {
        match self {
            App::Echo => 16 << 20,
            App::Hello => 1 << 20,
        }
    }
}

/// Binds `addr` and starts `app` with `config`.
pub fn serve(app: App, addr: SocketAddr, config: ServerConfig) -> Result<Server, ServerError> {
    match app {
        App::Echo => Server::bind(addr, config, |_| echo::Echo),
        App::Hello => Server::bind(addr, config, |_| hello::Hello),
    }
}
