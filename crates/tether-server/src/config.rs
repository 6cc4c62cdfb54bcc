//! `ServerConfig`: every limit and timeout of the server, with defaults for mobile and browser clients (RFC 6455 §10.4).

use std::net::SocketAddr;
use std::time::Duration;

use tether_codec::deflate::DeflateConfig;
use tether_codec::Config as CodecConfig;

use crate::proxy::TrustedProxies;
use crate::tls_config::TlsConfig;

#[cfg(doc)]
use crate::UpgradeRequest;

/// Every limit and timeout of a [`Server`](crate::Server), in one place.
///
/// Defaults suit a server facing mobile clients (WeChat mini-programs, phone browsers):
/// NAT and proxies drop silent connections after about a minute, and apps in the background
/// vanish without a Close frame.
///
/// # Memory
/// One connection holds at most: while handshaking, `codec.max_head_size` plus one read
/// (64 KiB); once open, the codec's input bound (a frame's payload, grown as it arrives, up to
/// `codec.max_frame_size`, plus a fragmented message up to `codec.max_message_size`) and
/// `max_output_buffer` plus one message, a pong and a Close of output. An idle open
/// connection holds none of that (see `BENCHMARKS.md` for its few hundred bytes). Over the
/// whole process, `max_buffered_bytes` bounds the sum: past it reads pause, so it can be
/// passed by at most what one turn reads (`read_budget` per connection read in that turn).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Event-loop threads, all serving the listening port. Default: the number of cores.
    pub workers: usize,
    /// Open connections at most, over all workers. Past it a new connection gets `503` and is
    /// closed. Default 10,000.
    pub max_connections: usize,
    /// Time a client has to send its whole opening request. Default 10 s.
    pub handshake_timeout: Duration,
    /// Silence from a peer after which the server sends a ping. Default 30 s: under the
    /// 60 s that NAT boxes and nginx's `proxy_read_timeout` allow.
    pub ping_interval: Duration,
    /// Silence after which a peer is taken for dead and closed with 1001. Default 75 s:
    /// two and a half ping intervals, so one lost pong is forgiven.
    pub idle_timeout: Duration,
    /// Time the peer has to answer our Close, and to close TCP after it. Default 5 s.
    pub close_timeout: Duration,
    /// Time a graceful shutdown waits for peers to answer Close 1001. Default 5 s. It wins
    /// over every other deadline: the workers return within it (plus a turn of the loop)
    /// whatever the peers do, after writing the Close frames the sockets take.
    pub shutdown_timeout: Duration,
    /// Pending output (bytes) past which the server stops reading from that peer until it
    /// drains. Default 256 KiB.
    pub output_high_water: usize,
    /// Pending output past which a new message is not queued: the peer is closed with 1008 as a
    /// slow consumer. One message may always be queued below it, so memory per connection is
    /// bounded by this plus one message. Default 1 MiB.
    pub max_output_buffer: usize,
    /// Set `TCP_NODELAY` on accepted sockets. Default `true`: WebSocket messages are small
    /// and latency-bound.
    pub tcp_nodelay: bool,
    /// Bytes read from a busy peer in one turn before others get theirs. Default 256 KiB.
    pub read_budget: usize,
    /// Commands (sends, closes, room traffic, notifications) another thread may queue to one
    /// worker before further ones are refused with `SendError::QueueFull`. Default 65,536.
    pub worker_queue_capacity: usize,
    /// Buffered input plus pending output, over every connection of the process, past which
    /// the server stops reading from the connections holding the most and refuses new
    /// upgrades with 503, until it falls back under 7/8 of it. Default 1 GiB.
    pub max_buffered_bytes: usize,
    /// Where to serve `GET /metrics` (Prometheus text format), on a port of its own so the
    /// public one never exposes it. Default `None`: no endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// How often worker 0 logs a one-line summary (connections, messages per second) at
    /// `info`. Default 60 s; zero turns it off.
    pub summary_interval: Duration,
    /// Proxies whose word about the client's address is taken (a PROXY header, or
    /// `X-Forwarded-For`/`X-Real-IP`): see [`UpgradeRequest::client_addr`]. Default: none.
    pub trusted_proxies: TrustedProxies,
    /// Expect the PROXY protocol header (v1 or v2, as HAProxy's `send-proxy`, AWS NLB and
    /// Tencent Cloud CLB send it) first on every connection from a trusted proxy; from anyone
    /// else, a connection that starts with one is refused with 400 and the rest are served as
    /// they come. Default `false`. Needs `trusted_proxies`.
    pub proxy_protocol: bool,
    /// Serve `wss://`: TLS on every accepted connection, with this certificate (see
    /// [`TlsConfig`]). Default `None`: plain `ws://`, and no TLS code runs.
    pub tls: Option<TlsConfig>,
    /// permessage-deflate (RFC 7692): what the server accepts when a client offers it.
    /// `None`: never negotiated. Default: windows of 15 bits, level 1, every message
    /// compressed, and no context takeover either way (the server asks for it), so an idle
    /// connection holds no compressor (250-370 KiB) nor inflater (46 KiB); see
    /// [`DeflateConfig`]. Level 1 because it measured 35-40% less CPU per message than level 6
    /// for live-room JSON, for 7% more bytes at 2 KiB (BENCHMARKS.md, "permessage-deflate").
    pub deflate: Option<DeflateConfig>,
    /// Limits of the protocol codec (frame and message sizes, header limits).
    pub codec: CodecConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            close_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            output_high_water: 256 * 1024,
            max_output_buffer: 1 << 20,
            tcp_nodelay: true,
            read_budget: 256 * 1024,
            worker_queue_capacity: 65_536,
            max_buffered_bytes: 1 << 30,
            metrics_listen: None,
            summary_interval: Duration::from_secs(60),
            trusted_proxies: TrustedProxies::default(),
            proxy_protocol: false,
            tls: None,
            deflate: Some(default_deflate()),
            codec: CodecConfig::default(),
        }
    }
}

/// The server's default permessage-deflate settings (see [`ServerConfig::deflate`]).
fn default_deflate() -> DeflateConfig {
    let mut d = DeflateConfig::default();
    d.server_no_context_takeover = true;
    d.client_no_context_takeover = true;
    d.level = 1;
    d
}

impl ServerConfig {
    /// Checks every field; the server refuses to start on an error.
    pub fn validate(&self) -> Result<(), &'static str> {
        self.codec.validate().map_err(|_| "invalid codec config")?;
        if let Some(d) = &self.deflate {
            d.validate().map_err(|e| match e {
                tether_codec::UsageError::Config(why) => why,
                _ => "invalid deflate config",
            })?;
        }
        if self.proxy_protocol && self.trusted_proxies == TrustedProxies::default() {
            return Err("proxy_protocol needs trusted_proxies: the proxies that send the header");
        }
        if self.workers == 0 || self.workers > 256 {
            return Err("workers must be in 1..=256");
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1");
        }
        let times = [
            self.handshake_timeout,
            self.ping_interval,
            self.idle_timeout,
            self.close_timeout,
        ];
        if times.iter().any(|t| t.is_zero()) {
            return Err("timeouts and intervals must be positive");
        }
        if self.idle_timeout < self.ping_interval {
            return Err("idle_timeout must be at least ping_interval");
        }
        if self.output_high_water == 0 || self.max_output_buffer < self.output_high_water {
            return Err("max_output_buffer must be at least output_high_water (> 0)");
        }
        if self.read_budget < 4096 {
            return Err("read_budget must be at least 4096");
        }
        if self.worker_queue_capacity == 0 {
            return Err("worker_queue_capacity must be at least 1");
        }
        if self.max_buffered_bytes < self.max_output_buffer {
            return Err("max_buffered_bytes must be at least max_output_buffer");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_checks_bite() {
        assert_eq!(ServerConfig::default().validate(), Ok(()));
        let bad = ServerConfig {
            idle_timeout: Duration::from_secs(1),
            ping_interval: Duration::from_secs(2),
            ..ServerConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = ServerConfig {
            workers: 0,
            ..ServerConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
