//! `tether-bench-server`: a bench-only server on tether-server's public API: `/broadcast` sends every message it receives to all open connections, `/room` publishes it to room `bench` (whose members are the `/room` connections, on every instance with `--redis`); any other path echoes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use tether_server::broker::redis::{RedisBroker, RedisConfig};
use tether_server::{
    Broker, ConnId, Ctx, Handler, MessageRef, Server, ServerConfig, Upgrade, UpgradeRequest,
};

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
    /// Share room `bench` with other instances through this Redis (`redis://HOST:PORT/DB`).
    #[arg(long)]
    redis: Option<String>,
    /// This instance's id in Redis (default: host name and pid).
    #[arg(long, requires = "redis")]
    instance_id: Option<String>,
}

/// What a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Broadcast,
    Room,
}

/// The room `/room` connections join.
const ROOM: &str = "bench";

/// Per-worker handler: remembers which connections came in on `/broadcast` or `/room`.
#[derive(Debug, Default)]
struct Bench {
    publishers: HashMap<ConnId, Path>,
}

impl Handler for Bench {
    fn on_upgrade(&mut self, conn: ConnId, request: &UpgradeRequest<'_>) -> Upgrade {
        match request.path() {
            "/broadcast" => {
                self.publishers.insert(conn, Path::Broadcast);
            }
            "/room" => {
                self.publishers.insert(conn, Path::Room);
            }
            _ => {}
        }
        Upgrade::accept()
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_>, conn: ConnId) {
        if self.publishers.get(&conn) == Some(&Path::Room) {
            if let Err(e) = ctx.join(conn, ROOM) {
                eprintln!("tether-bench-server: {conn}: {e}");
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, message: MessageRef<'_>) {
        let result = match self.publishers.get(&conn) {
            Some(Path::Broadcast) => ctx.broadcast(message.as_outgoing()),
            Some(Path::Room) => ctx.publish(ROOM, message.as_outgoing()),
            None => ctx.send(conn, message.as_outgoing()),
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
    let broker: Option<Arc<dyn Broker>> = match &cli.redis {
        Some(url) => {
            let mut rc = RedisConfig::new(url.clone());
            if let Some(id) = &cli.instance_id {
                rc.instance_id = id.clone();
            }
            match RedisBroker::new(rc) {
                Ok(b) => Some(Arc::new(b)),
                Err(e) => {
                    eprintln!("tether-bench-server: {e}");
                    std::process::exit(2);
                }
            }
        }
        None => None,
    };
    let server = match Server::bind_with_broker(cli.listen, config, broker, |_| Bench::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tether-bench-server: cannot serve on {}: {e}", cli.listen);
            std::process::exit(1);
        }
    };
    eprintln!(
        "tether-bench-server: ws://{}/broadcast and /room (and echo elsewhere)",
        server.local_addr()
    );
    if let Err(e) = server.run() {
        eprintln!("tether-bench-server: {e}");
        std::process::exit(1);
    }
}
