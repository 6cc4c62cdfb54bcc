//! Test helpers: an in-process demo server on 127.0.0.1:0, clients with bounded waits, raw HTTP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use tether::apps::{self, App, DemoConfig};
use tether::cli::Cli;
use tether_client::{Client, ClientConfig, ClientError, Message};
use tether_server::{ServerConfig, ServerHandle};

/// How long any single expected message may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// A demo server running on its own thread; shut down (and joined) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// The demo with `demo` and `workers` event loops.
    pub fn start(demo: DemoConfig, workers: usize) -> TestServer {
        let mut config = ServerConfig::default();
        config.workers = workers;
        config.codec.max_message_size = App::Demo.default_max_message();
        config.codec.max_frame_size = App::Demo.default_max_message();
        TestServer::start_with(config, demo)
    }

    /// The demo as `tether ARGS` configures it (one worker unless `ARGS` say otherwise).
    pub fn from_cli(args: &[&str]) -> TestServer {
        let cli = Cli::parse_from(["tether", "--workers", "1"].iter().chain(args));
        let config = cli.server_config().expect("valid server flags");
        let demo = cli.demo_config().expect("valid demo flags");
        TestServer::start_with(config, demo)
    }

    /// The demo with `config` (its shutdown timeout shortened) and `demo`.
    fn start_with(mut config: ServerConfig, demo: DemoConfig) -> TestServer {
        config.shutdown_timeout = Duration::from_secs(1);
        let addr = "127.0.0.1:0".parse().unwrap();
        let server = apps::serve_with(App::Demo, addr, config, demo).expect("bind 127.0.0.1:0");
        let addr = server.local_addr();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run().expect("server ran"));
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// The demo with its defaults, one worker.
    pub fn default_one() -> TestServer {
        TestServer::start(DemoConfig::default(), 1)
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// A client on `path`.
    pub fn connect(&self, path: &str) -> Client {
        self.connect_with(path, &[]).expect("connect")
    }

    /// A client on `path` with extra handshake headers.
    pub fn connect_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, ClientError> {
        let config = ClientConfig {
            read_timeout: Some(WAIT),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..ClientConfig::default()
        };
        Client::connect_with(&self.url(path), config)
    }

    /// Open connections, over all workers.
    pub fn connections(&self) -> usize {
        self.handle.connection_count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() && !std::thread::panicking() {
                t.join().expect("server thread");
            }
        }
    }
}

/// The next text message (within [`WAIT`]).
pub fn recv_text(c: &mut Client) -> String {
    match c.recv_message() {
        Ok(Message::Text(t)) => t.as_str().to_owned(),
        Ok(Message::Binary(b)) => panic!("expected text, got {} bytes", b.len()),
        Err(e) => panic!("expected a text message: {e}"),
    }
}

/// The next message as JSON.
pub fn recv_json(c: &mut Client) -> Value {
    let t = recv_text(c);
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
}

/// The next JSON message whose `msg_type` is `ty` (skipping others, at most 100).
pub fn recv_type(c: &mut Client, ty: &str) -> Value {
    for _ in 0..100 {
        let v = recv_json(c);
        if v["msg_type"] == ty {
            return v;
        }
    }
    panic!("no {ty} message in 100");
}

/// Asserts nothing arrives for `for_`.
pub fn assert_silent(c: &mut Client, for_: Duration) {
    c.set_read_timeout(Some(for_)).unwrap();
    match c.recv_message() {
        Err(e) if e.is_timeout() => {}
        Ok(m) => panic!("expected silence, got {m:?}"),
        Err(e) => panic!("expected silence, got {e}"),
    }
    c.set_read_timeout(Some(WAIT)).unwrap();
}

/// Sends JSON text.
pub fn send_json(c: &mut Client, v: &Value) {
    c.send_text(&v.to_string()).expect("send");
}

/// Waits until `cond` holds (bounded by [`WAIT`]).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A plain HTTP GET: (status, content type, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let ctype = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, ctype, body.to_owned())
}

/// The handshake status a refused client got.
pub fn refused_status(r: Result<Client, ClientError>) -> u16 {
    match r {
        Err(ClientError::Handshake(tether_codec::HandshakeError::Refused(s))) => s,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got 101"),
    }
}
