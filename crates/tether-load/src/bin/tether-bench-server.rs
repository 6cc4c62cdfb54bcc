//! `tether-bench-server`: a bench-only server on tether-server's public API: `/broadcast` sends every message it receives to all open connections; any other path echoes.

use std::collections::HashSet;
use std::net::SocketAddr;

use clap::Parser;
use tether_codec::Message;
use tether_server::{ConnId, Ctx, Handler, Server, ServerConfig, Upgrade, UpgradeRequest};

/// Bench server: `/broadcast` fans out, other paths echo.
#[derive(Debug, Parser)]
#[command(name = "tether-bench-server", version, about)]
struct Cli {
    /// Address to listen on (loopback for benchmarks).
    #[arg(long, default_value = "127.0.0.1:9002")]
    listen: SocketAddr,
    /// Event-loop threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Open connections at most.
    #[arg(long, default_value_t = 20_000)]
    max_connections: usize,
}

/// Per-worker handler: remembers which connections came in on `/broadcast`.
#[derive(Debug, Default)]
struct Bench {
    publishers: HashSet<ConnId>,
}

impl Handler for Bench {
    fn on_upgrade(&mut self, conn: ConnId, request: &UpgradeRequest<'_>) -> Upgrade {
        if request.path() == "/broadcast" {
            self.publishers.insert(conn);
        }
        Upgrade::accept()
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, message: Message) {
        let result = if self.publishers.contains(&conn) {
            ctx.broadcast(message.as_outgoing())
        } else {
            ctx.send(conn, message.as_outgoing())
        };
        if let Err(e) = result {
            eprintln!("tether-bench-server: {conn}: {e}");
        }
    }

    fn on_close(
        &mut self,
        _ctx: &mut Ctx<'_>,
        conn: ConnId,
        _code: tether_codec::CloseCode,
        _reason: &str,
    ) {
        self.publishers.remove(&conn);
    }
}

fn main() {
    let cli = Cli::parse();
    let mut config = ServerConfig::default();
    config.workers = cli.workers;
    config.max_connections = cli.max_connections;
    let server = match Server::bind(cli.listen, config, |_| Bench::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tether-bench-server: cannot serve on {}: {e}", cli.listen);
            std::process::exit(1);
        }
    };
    eprintln!(
        "tether-bench-server: ws://{}/broadcast (and echo elsewhere)",
        server.local_addr()
    );
    if let Err(e) = server.run() {
        eprintln!("tether-bench-server: {e}");
        std::process::exit(1);
    }
}
