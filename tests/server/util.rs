//! Test servers: an in-process `tether-server` with a scriptable handler, raw-socket helpers, and bounded waits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tether_client::{Client, ClientConfig};
use tether_codec::{CloseCode, MessageRef, Outgoing};
use tether_server::{
    Broker, ConnId, Ctx, Handler, Server, ServerConfig, ServerHandle, Upgrade, UpgradeRequest,
};

/// What the scripted app saw, shared by all its workers.
#[derive(Debug, Default)]
pub struct Seen {
    pub opened: Vec<(ConnId, usize)>,
    /// Each upgrade's (TCP peer, client address).
    pub upgrades: Vec<(SocketAddr, SocketAddr)>,
    pub closed: Vec<(ConnId, CloseCode, String)>,
}

/// A scriptable app. Text commands: `join:ROOM` (answers `joined`), `bcast:TEXT`,
/// `pub:ROOM:TEXT`, `pubx:ROOM:TEXT` (to all but the sender), `close:CODE`, `panic`, `feed` (joins the `feed` room that the feed timer fills);
/// anything else is echoed.
pub struct TestApp {
    pub seen: Arc<Mutex<Seen>>,
    /// Publish a binary message of this size to room `feed` every 2 ms (worker 0 only).
    pub feed: Option<usize>,
}

impl Handler for TestApp {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        if self.feed.is_some() && ctx.worker() == 0 {
            ctx.set_interval(Duration::from_millis(2), 1);
        }
    }

    fn on_upgrade(&mut self, _conn: ConnId, req: &UpgradeRequest<'_>) -> Upgrade {
        if let Ok(mut s) = self.seen.lock() {
            s.upgrades.push((req.peer_addr(), req.client_addr()));
        }
        match req.path() {
            "/forbidden" => Upgrade::reject(403, "not for you"),
            _ => Upgrade::Accept {
                subprotocol: req.subprotocols().find(|p| *p == "chat").map(str::to_owned),
            },
        }
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_>, conn: ConnId) {
        if let Ok(mut s) = self.seen.lock() {
            s.opened.push((conn, ctx.worker()));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, message: MessageRef<'_>) {
        let text = message.as_text().unwrap_or_default();
        if let Some(room) = text.strip_prefix("join:") {
            let _ = ctx.join(conn, room);
            let _ = ctx.send(conn, Outgoing::Text("joined"));
        } else if let Some(t) = text.strip_prefix("bcast:") {
            let _ = ctx.broadcast(Outgoing::Text(t));
        } else if let Some(rest) = text.strip_prefix("pub:") {
            if let Some((room, t)) = rest.split_once(':') {
                let _ = ctx.publish(room, Outgoing::Text(t));
            }
        } else if let Some(rest) = text.strip_prefix("pubx:") {
            if let Some((room, t)) = rest.split_once(':') {
                let _ = ctx.publish_except(room, Outgoing::Text(t), conn);
            }
        } else if let Some(code) = text.strip_prefix("close:") {
            let code = code.parse().unwrap_or(1000);
            let _ = ctx.close(conn, CloseCode(code), "asked");
        } else if text == "panic" {
            panic!("the test app was asked to panic");
        } else if text == "feed" {
            let _ = ctx.join(conn, "feed");
        } else {
            let _ = ctx.send(conn, message.as_outgoing());
        }
    }

    fn on_close(&mut self, _ctx: &mut Ctx<'_>, conn: ConnId, code: CloseCode, reason: &str) {
        if let Ok(mut s) = self.seen.lock() {
            s.closed.push((conn, code, reason.to_owned()));
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, _token: u64) {
        if let Some(size) = self.feed {
            let _ = ctx.publish("feed", Outgoing::Binary(&vec![7u8; size]));
        }
    }
}

/// A server running on its own thread; shut down and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<Result<(), tether_server::ServerError>>>,
}

impl TestServer {
    pub fn start(config: ServerConfig) -> TestServer {
        Self::start_with_feed(config, None)
    }

    pub fn start_with_feed(config: ServerConfig, feed: Option<usize>) -> TestServer {
        Self::start_inner(config, feed, None)
    }

    /// A server whose rooms reach other instances through `broker`.
    pub fn start_with_broker(config: ServerConfig, broker: Arc<dyn Broker>) -> TestServer {
        Self::start_inner(config, None, Some(broker))
    }

    fn start_inner(
        config: ServerConfig,
        feed: Option<usize>,
        broker: Option<Arc<dyn Broker>>,
    ) -> TestServer {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        let addr = "127.0.0.1:0".parse().unwrap();
        let server = Server::bind_with_broker(addr, config, broker, move |_| TestApp {
            seen: s.clone(),
            feed,
        })
        .unwrap();
        let addr = server.local_addr();
        let handle = server.handle();
        let thread = Some(std::thread::spawn(move || server.run()));
        TestServer {
            addr,
            handle,
            seen,
            thread,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// A counter or gauge of the server's metrics (0 when absent).
    pub fn metric(&self, name: &str) -> f64 {
        self.handle
            .metrics_text()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    pub fn connect(&self) -> Client {
        Client::connect_with(&self.url("/"), client_config()).unwrap()
    }

    /// Shuts down and returns how `run` ended.
    pub fn stop(mut self) -> Result<(), tether_server::ServerError> {
        self.handle.shutdown();
        self.thread.take().unwrap().join().unwrap()
    }

    /// The close codes the app saw, waiting up to 5 s for `n` of them.
    pub fn closed(&self, n: usize) -> Vec<(ConnId, CloseCode, String)> {
        wait_until(Duration::from_secs(5), || {
            self.seen.lock().unwrap().closed.len() >= n
        });
        self.seen.lock().unwrap().closed.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.shutdown();
            let _ = t.join();
        }
    }
}

/// A server config for tests: small limits, 1 worker unless said otherwise.
pub fn config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.workers = 1;
    c.codec.max_message_size = 16 << 20;
    c.codec.max_frame_size = 16 << 20;
    c.shutdown_timeout = Duration::from_secs(2);
    c
}

pub fn client_config() -> ClientConfig {
    let mut codec = tether_codec::Config::default();
    codec.max_message_size = 16 << 20;
    codec.max_frame_size = 16 << 20;
    ClientConfig {
        read_timeout: Some(Duration::from_secs(10)),
        codec,
        ..ClientConfig::default()
    }
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A raw TCP connection for malformed input.
pub fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Sends `bytes` and reads until the server closes (or 5 s pass).
pub fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = raw(addr);
    s.write_all(bytes).unwrap();
    read_to_close(&mut s)
}

pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

pub const UPGRADE: &str =
    "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked client frame built by hand (payload < 126 bytes).
pub fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut v = vec![first, 0x80 | payload.len() as u8];
    v.extend_from_slice(&key);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    v
}

/// Reads until `end` has been seen (or the server closes, or 5 s pass).
pub fn read_to_close_or(s: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.windows(end.len()).any(|w| w == end) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// The value of an unlabelled metric in Prometheus text (0 when absent).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}
