//! The `tether-load` command line: target, mode (echo, `--idle`, `--broadcast`, `--handshakes`) and their bounds.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};

/// Payload kind of the messages sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Payload {
    /// Text frames (UTF-8 validated by the server).
    Text,
    /// Binary frames.
    Binary,
    /// A live-room comment in JSON (text frames, Chinese text, about 200 bytes; `--size`
    /// pads the comment), the payload real-time back-ends push most.
    Json,
}

/// Loopback WebSocket load generator: echo (default), `--idle N`, `--broadcast N` or
/// `--handshakes N`.
///
/// Every run is bounded in time and ends with one JSON line on stdout.
#[derive(Debug, Clone, Parser)]
#[command(name = "tether-load", version, about, long_about)]
pub struct Args {
    /// Server URL, ws://IP:PORT/PATH or wss://IP:PORT/PATH on a loopback address.
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    pub url: String,
    /// wss://: the PEM certificate(s) of the CA to trust (and no other).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// wss://: the name the server's certificate must carry (default: the URL's host).
    #[arg(long)]
    pub tls_name: Option<String>,
    /// Echo: connections.
    #[arg(long, short = 'c', default_value_t = 100)]
    pub connections: usize,
    /// Payload bytes per message (at least 8: an id travels in the first 8).
    #[arg(long, short = 's', default_value_t = 20)]
    pub size: usize,
    /// Echo: messages in flight per connection.
    #[arg(long, short = 'k', default_value_t = 1)]
    pub inflight: usize,
    /// Echo: measured seconds (after the warm-up).
    #[arg(long, short = 'd', default_value_t = 5.0)]
    pub duration: f64,
    /// Echo: seconds of traffic before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Text or binary frames.
    #[arg(long, value_enum, default_value_t = Payload::Binary)]
    pub payload: Payload,
    /// Offer permessage-deflate (as Chromium does: `permessage-deflate;
    /// client_max_window_bits`), send every message compressed, and inflate and verify the
    /// server's compressed echoes. A server that declines fails the connection.
    #[arg(long)]
    pub deflate: bool,
    /// Idle mode: hold this many open connections.
    #[arg(long, conflicts_with_all = ["broadcast", "handshakes"])]
    pub idle: Option<usize>,
    /// Idle mode: seconds to hold the connections once all are open.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// Broadcast mode: this many subscribers (the first one also publishes).
    #[arg(long, conflicts_with = "handshakes")]
    pub broadcast: Option<usize>,
    /// Broadcast mode: messages to publish, one after the previous is fully delivered.
    #[arg(long, default_value_t = 50)]
    pub messages: usize,
    /// Broadcast mode: pause between messages, in milliseconds.
    #[arg(long, default_value_t = 20.0)]
    pub interval_ms: f64,
    /// Handshake mode: open this many connections (TCP, TLS for wss://, the WebSocket
    /// upgrade), `--max-opening` at a time, closing each batch once it is open.
    #[arg(long)]
    pub handshakes: Option<usize>,
    /// The server's process id: its CPU time and RSS are read from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Broadcast mode: more servers of the same cluster (ws:// URLs with the same path);
    /// the subscribers are spread round-robin over `--url` and these (the publisher is on
    /// `--url`).
    #[arg(long, value_name = "URL")]
    pub also_url: Vec<String>,
    /// Broadcast mode: the process ids of the `--also-url` servers: their CPU counts as
    /// server CPU with `--server-pid`'s.
    #[arg(long, value_name = "PID")]
    pub also_pid: Vec<u32>,
    /// Broadcast mode: the broker's process id (a `redis-server`): its CPU per published
    /// message is reported on its own.
    #[arg(long, value_name = "PID")]
    pub broker_pid: Option<u32>,
    /// Source addresses 127.0.0.1..=127.0.0.N to spread connections over (0: one per 16,000
    /// connections; more are added when ports run short).
    #[arg(long, default_value_t = 0)]
    pub sources: u8,
    /// Connections opening at once at most.
    #[arg(long, default_value_t = 256)]
    pub max_opening: usize,
    /// Seconds allowed for opening all connections.
    #[arg(long, default_value_t = 60.0)]
    pub connect_timeout: f64,
    /// Busy-poll instead of sleeping in `epoll_wait`: the load generator never has to be
    /// woken, so its wake-up latency drops out of round-trip-bound scenarios. Costs its whole
    /// core.
    #[arg(long)]
    pub spin: bool,
    /// A label copied into the JSON line.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print the sizes of tether-codec's per-connection types and exit.
    #[arg(long)]
    pub sizes: bool,
}

impl Args {
    /// The message template for `--payload`, `--size` and `--deflate`.
    pub fn template(&self) -> crate::wire::FrameTemplate {
        let body = match self.payload {
            Payload::Text => crate::wire::Body::Pattern { text: true },
            Payload::Binary => crate::wire::Body::Pattern { text: false },
            Payload::Json => crate::wire::Body::LiveJson,
        };
        crate::wire::FrameTemplate::build(body, self.size, self.deflate)
    }
}

/// A parsed `ws://` or `wss://` URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host as written (for the `Host` header).
    pub host: String,
    /// Resolved loopback address.
    pub addr: SocketAddr,
    /// Request target, starting with `/`.
    pub path: String,
    /// TLS, for a `wss://` URL.
    pub tls: Option<crate::tls::TlsClient>,
}

impl Target {
    /// The `--url` of `args`, with `--tls-ca` and `--tls-name` for a `wss://` one.
    pub fn from_args(args: &Args) -> Result<Target, String> {
        Target::parse(&args.url, args.tls_ca.as_deref(), args.tls_name.as_deref())
    }

    /// Parses `ws://HOST:PORT/PATH` or `wss://HOST:PORT/PATH`, the latter trusting the CA in
    /// `tls_ca` and checking `tls_name` (default: HOST without the port); refuses anything
    /// that is not a loopback address.
    pub fn parse(
        url: &str,
        tls_ca: Option<&Path>,
        tls_name: Option<&str>,
    ) -> Result<Target, String> {
        let (secure, rest) = if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (true, rest)
        } else {
            return Err(format!("{url}: only ws:// and wss:// URLs"));
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr = host
            .to_socket_addrs()
            .map_err(|e| format!("{host}: {e}"))?
            .find(|a| a.is_ipv4())
            .ok_or_else(|| format!("{host}: no IPv4 address"))?;
        if !addr.ip().is_loopback() {
            return Err(format!("{host}: only loopback targets are allowed"));
        }
        let tls = if secure {
            let ca = tls_ca.ok_or_else(|| format!("{url}: wss:// needs --tls-ca FILE"))?;
            let name = tls_name.unwrap_or_else(|| host_name(host));
            Some(crate::tls::TlsClient::new(ca, name)?)
        } else {
            None
        };
        Ok(Target {
            host: host.to_owned(),
            addr,
            path: path.to_owned(),
            tls,
        })
    }

    /// The same target with another path.
    pub fn with_path(&self, path: &str) -> Target {
        Target {
            path: path.to_owned(),
            ..self.clone()
        }
    }
}

/// `host` of `host:port` (`[::1]:443` gives `::1`).
fn host_name(host: &str) -> &str {
    let bare = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    bare.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let parse = |url| Target::parse(url, None, None);
        let t = parse("ws://127.0.0.1:9001/x?y").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (9001, "/x?y"));
        assert!(t.tls.is_none());
        assert_eq!(parse("ws://127.0.0.1:80").unwrap().path, "/");
        assert!(parse("ws://10.0.0.1:80/").is_err());
        assert!(parse("http://127.0.0.1:80/").is_err());
        // wss:// needs a CA to trust, and the CA file must hold a certificate.
        let e = parse("wss://127.0.0.1:443/").unwrap_err();
        assert!(e.contains("--tls-ca"), "{e}");
        let empty =
            std::env::temp_dir().join(format!("tether-load-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "").unwrap();
        let e = Target::parse("wss://127.0.0.1:443/", Some(&empty), None).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
        std::fs::remove_file(&empty).unwrap();
    }

    #[test]
    fn host_names() {
        assert_eq!(host_name("127.0.0.1:9001"), "127.0.0.1");
        assert_eq!(host_name("localhost:443"), "localhost");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(host_name("[::1]:443"), "::1");
    }

    #[test]
    fn args_parse() {
        let a = Args::parse_from(["tether-load", "--idle", "10", "--hold", "1"]);
        assert_eq!(a.idle, Some(10));
        assert!(Args::try_parse_from(["tether-load", "--idle", "1", "--broadcast", "1"]).is_err());
        assert!(Args::try_parse_from(["tether-load", "--idle", "1", "--handshakes", "1"]).is_err());
    }
}
