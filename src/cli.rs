//! The `tether` command line: flags for the address, the app, workers, every limit and timeout of `ServerConfig`, and the demo's intervals, limits and access rules.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tether_server::proxy::TrustedProxies;
use tether_server::{ServerConfig, TlsConfig};

use crate::apps::access::Access;
use crate::apps::live::LiveConfig;
use crate::apps::{App, DemoConfig, ScaleOut};

/// Tether: a WebSocket server.
///
/// Serves the chosen app on ws://LISTEN/ (the demo: its page on http://LISTEN/). Logs go to stderr (--log-level, or RUST_LOG).
/// SIGINT or SIGTERM shut it down gracefully: every client gets Close 1001.
#[derive(Debug, Parser)]
#[command(name = "tether", version, about, long_about)]
pub struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Application to serve.
    #[arg(long, value_enum, default_value_t = App::Demo)]
    pub app: App,
    /// Event-loop threads (default: the number of cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Open connections at most; more get 503.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Largest message in bytes, over all its fragments (default: per app, see `--help`).
    #[arg(long, help = max_message_help())]
    pub max_message_size: Option<usize>,
    /// Largest frame in bytes (default: the message limit).
    #[arg(long)]
    pub max_frame_size: Option<usize>,
    /// Seconds a client has to send its opening request.
    #[arg(long, default_value_t = 10.0)]
    pub handshake_timeout: f64,
    /// Seconds of silence before the server pings a client.
    #[arg(long, default_value_t = 30.0)]
    pub ping_interval: f64,
    /// Seconds of silence after which a client is closed as dead.
    #[arg(long, default_value_t = 75.0)]
    pub idle_timeout: f64,
    /// Seconds the peer has to finish the closing handshake.
    #[arg(long, default_value_t = 5.0)]
    pub close_timeout: f64,
    /// Seconds a graceful shutdown waits for clients to answer Close.
    #[arg(long, default_value_t = 5.0)]
    pub shutdown_timeout: f64,
    /// Pending output bytes past which the server stops reading from a client.
    #[arg(long, default_value_t = 256 * 1024)]
    pub output_high_water: usize,
    /// Pending output bytes past which a client is closed with 1008 (slow consumer).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_output_buffer: usize,
    /// Buffered input plus pending output, over all connections, past which the server stops
    /// reading from the connections holding the most and answers new upgrades with 503.
    #[arg(long, default_value_t = 1 << 30)]
    pub max_buffered_bytes: usize,
    /// Commands one worker's queue holds (sends, closes, room traffic from other threads);
    /// past it they are refused and counted.
    #[arg(long, default_value_t = 65_536)]
    pub worker_queue_capacity: usize,
    /// Serve `wss://` (and the demo page over `https://`) with this certificate chain: PEM,
    /// leaf first. Needs --tls-key. Read again on SIGHUP (for renewals); a bad new pair is
    /// logged and the old one kept.
    #[arg(long, requires = "tls_key", help_heading = "TLS")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key: PEM, PKCS#8, PKCS#1 or SEC1.
    #[arg(long, requires = "tls_cert", help_heading = "TLS")]
    pub tls_key: Option<PathBuf>,
    /// Serve `GET /metrics` (Prometheus text format) on this address, e.g. 127.0.0.1:9090.
    /// Off by default; keep it off the public network.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds between two one-line summaries in the log (connections, messages per second);
    /// 0 turns them off.
    #[arg(long, default_value_t = 60.0)]
    pub summary_interval: f64,
    /// permessage-deflate (RFC 7692) when a client offers it: `on` or `off`. With it on, a
    /// connection holds a compressor (about 250-370 KiB) and an inflater (46 KiB) only while
    /// it sends or receives a compressed message: the server asks for no context takeover
    /// both ways, so an idle connection holds neither (about 2 KiB per connection in all,
    /// measured; Node `ws` holds about 250 KiB). See the Compression options below.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub deflate: OnOff,
    /// deflate: keep the compression context between messages, both ways (the server no
    /// longer asks for `server_no_context_takeover` and `client_no_context_takeover`). Small
    /// messages then compress several times better (a 174-byte live-room comment: 98% of
    /// its size alone, about 20% with the context; see BENCHMARKS.md), but every
    /// connection holds its compressor and inflater for its whole life: about 180-420 KiB
    /// with the window and memory level below.
    #[arg(long, help_heading = "Compression")]
    pub deflate_context_takeover: bool,
    /// deflate: the server's LZ77 window, 9-15 bits (`server_max_window_bits`); smaller
    /// saves 4 * 2^bits bytes of compressor per connection that keeps its context.
    #[arg(long, default_value_t = 15, help_heading = "Compression")]
    pub deflate_window_bits: u8,
    /// deflate: zlib memory level, 1-9: 7 * 2^(level + 6) bytes of compressor buffers.
    #[arg(long, default_value_t = 8, help_heading = "Compression")]
    pub deflate_mem_level: u8,
    /// deflate: compression level, 0 (store) to 9 (smallest, slowest). 1 measured 35-40%
    /// less CPU per message than 6 on live-room JSON, for 7% more bytes at 2 KiB.
    #[arg(long, default_value_t = 1, help_heading = "Compression")]
    pub deflate_level: u32,
    /// deflate: messages shorter than this go out uncompressed (default: 0 for echo, 128
    /// for demo and hello).
    #[arg(long, help_heading = "Compression")]
    pub deflate_threshold: Option<usize>,
    /// Do not set TCP_NODELAY on connections.
    #[arg(long)]
    pub no_nodelay: bool,
    /// Run as one of several instances sharing rooms through Redis, e.g.
    /// `redis://127.0.0.1:6379/0`: room messages reach members on every instance, and the
    /// demo's /live counts and history are cluster-wide. Without it nothing of Redis is used.
    #[arg(long, value_name = "URL", help_heading = "Scale-out")]
    pub redis: Option<String>,
    /// This instance's id in Redis (default: host name and pid).
    #[arg(long, requires = "redis", help_heading = "Scale-out")]
    pub instance_id: Option<String>,
    /// rediss://: the PEM certificate(s) of the CA to trust instead of the system's roots.
    #[arg(
        long,
        value_name = "FILE",
        requires = "redis",
        help_heading = "Scale-out"
    )]
    pub redis_ca: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG overrides).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// demo: seconds between two /stock quotes to a subscriber.
    #[arg(long, default_value_t = 1.0, help_heading = "Demo app")]
    pub stock_interval: f64,
    /// demo: seconds between two /push pushes of "你好!".
    #[arg(long, default_value_t = 10.0, help_heading = "Demo app")]
    pub push_interval: f64,
    /// demo: longest /live comment, in characters.
    #[arg(long, default_value_t = 200, help_heading = "Demo app")]
    pub max_comment_chars: usize,
    /// demo: comments a /live room keeps for joiners.
    #[arg(long, default_value_t = 50, help_heading = "Demo app")]
    pub live_history: usize,
    /// demo: browser origins allowed to open WebSockets, e.g. `https://example.com`
    /// (repeat or comma-separate; default: any). Others get 403.
    #[arg(long, value_delimiter = ',', help_heading = "Demo app")]
    pub allowed_origin: Vec<String>,
    /// demo: mini-program appids allowed to open WebSockets, read from their
    /// Referer `https://servicewechat.com/{appid}/{version}/page-frame.html`
    /// (repeat or comma-separate; default: any). Others get 403.
    #[arg(long, value_delimiter = ',', help_heading = "Demo app")]
    pub allowed_appid: Vec<String>,
    /// Reverse proxy address or CIDR block trusted to say who the client is (repeat or
    /// comma-separate; default: none): in a PROXY header (with --proxy-protocol), in
    /// X-Forwarded-For (the right-most address, over all lines, that is not a trusted proxy),
    /// or in a lone X-Real-IP when there is no X-Forwarded-For. Other peers' headers are
    /// ignored. Applications see the result (UpgradeRequest::client_addr), and the logs print it.
    #[arg(long, value_delimiter = ',', help_heading = "Proxies")]
    pub trusted_proxy: Vec<String>,
    /// Expect the PROXY protocol header (v1 or v2: HAProxy's send-proxy, AWS NLB, Tencent
    /// Cloud CLB) first on connections from --trusted-proxy peers; a PROXY header from
    /// anyone else is refused with 400, never read as HTTP.
    #[arg(long, requires = "trusted_proxy", help_heading = "Proxies")]
    pub proxy_protocol: bool,
}

/// `--max-message-size`'s help, written from [`App::default_max_message`] so that it cannot
/// say another limit than the one the server enforces.
fn max_message_help() -> String {
    let defaults: Vec<String> = App::value_variants()
        .iter()
        .filter_map(|app| {
            let name = app.to_possible_value()?;
            Some(format!(
                "{} for {}",
                size_text(app.default_max_message()),
                name.get_name()
            ))
        })
        .collect();
    format!(
        "Largest message in bytes, over all its fragments (default: {})",
        defaults.join(", ")
    )
}

/// A byte count as people write it: `64 KiB (65536 bytes)`, `1 MiB (1048576 bytes)`.
fn size_text(bytes: usize) -> String {
    const KIB: usize = 1 << 10;
    const MIB: usize = 1 << 20;
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB ({bytes} bytes)", bytes / MIB)
    } else if bytes >= KIB && bytes % KIB == 0 {
        format!("{} KiB ({bytes} bytes)", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// A switch on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

fn secs(name: &'static str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| format!("--{name} must be a non-negative number of seconds"))
}

impl Cli {
    /// The server configuration these flags describe.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let mut c = ServerConfig::default();
        if let Some(w) = self.workers {
            c.workers = w;
        }
        c.max_connections = self.max_connections;
        let msg = self
            .max_message_size
            .unwrap_or(self.app.default_max_message());
        c.codec.max_message_size = msg;
        c.codec.max_frame_size = self.max_frame_size.unwrap_or(msg);
        c.handshake_timeout = secs("handshake-timeout", self.handshake_timeout)?;
        c.ping_interval = secs("ping-interval", self.ping_interval)?;
        c.idle_timeout = secs("idle-timeout", self.idle_timeout)?;
        c.close_timeout = secs("close-timeout", self.close_timeout)?;
        c.shutdown_timeout = secs("shutdown-timeout", self.shutdown_timeout)?;
        c.output_high_water = self.output_high_water;
        c.max_output_buffer = self.max_output_buffer;
        c.tcp_nodelay = !self.no_nodelay;
        c.deflate = (self.deflate == OnOff::On).then(|| self.deflate_config());
        c.max_buffered_bytes = self.max_buffered_bytes;
        c.worker_queue_capacity = self.worker_queue_capacity;
        c.metrics_listen = self.metrics_listen;
        c.summary_interval = secs("summary-interval", self.summary_interval)?;
        c.tls = self.load_tls()?;
        c.trusted_proxies = TrustedProxies::new(&self.trusted_proxy)
            .map_err(|e| format!("--trusted-proxy: {e}"))?;
        c.proxy_protocol = self.proxy_protocol;
        c.validate()?;
        Ok(c)
    }
}

impl Cli {
    /// The scale-out settings (`--redis`, `--instance-id`), checked; `None` without `--redis`.
    pub fn scale_out(&self) -> Result<Option<ScaleOut>, String> {
        let Some(url) = &self.redis else {
            return Ok(None);
        };
        let mut rc = tether_server::broker::redis::RedisConfig::new(url.clone());
        if let Some(id) = &self.instance_id {
            rc.instance_id = id.clone();
        }
        rc.tls_ca = self.redis_ca.clone();
        rc.validate()?;
        Ok(Some(ScaleOut { redis: rc }))
    }

    /// Reads and checks `--tls-cert` and `--tls-key`: `None` without them.
    pub fn load_tls(&self) -> Result<Option<TlsConfig>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        TlsConfig::from_pem_files(cert, key).map(Some).map_err(|e| {
            format!(
                "TLS certificate {} and key {}: {e}",
                cert.display(),
                key.display()
            )
        })
    }

    /// The permessage-deflate settings these flags describe (checked by `ServerConfig::validate`).
    pub fn deflate_config(&self) -> tether_server::DeflateConfig {
        let mut d = self.app.deflate_config();
        if self.deflate_context_takeover {
            d.server_no_context_takeover = false;
            d.client_no_context_takeover = false;
        }
        d.server_max_window_bits = self.deflate_window_bits;
        d.mem_level = self.deflate_mem_level;
        d.level = self.deflate_level;
        if let Some(threshold) = self.deflate_threshold {
            d.threshold = threshold;
        }
        d
    }

    /// The demo app's configuration these flags describe.
    pub fn demo_config(&self) -> Result<DemoConfig, String> {
        let config = DemoConfig {
            stock_interval: secs("stock-interval", self.stock_interval)?,
            push_interval: secs("push-interval", self.push_interval)?,
            live: LiveConfig {
                history_len: self.live_history,
                max_comment_chars: self.max_comment_chars,
            },
            access: Access {
                allowed_origins: self.allowed_origin.clone(),
                allowed_appids: self.allowed_appid.clone(),
            },
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags() {
        let cli = Cli::parse_from(["tether"]);
        assert_eq!(cli.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(cli.app, App::Demo);
        let c = cli.server_config().unwrap();
        assert_eq!(c.codec.max_message_size, 64 << 10);
        assert_eq!(cli.demo_config().unwrap(), DemoConfig::default());
        let echo = Cli::parse_from(["tether", "--app", "echo"]);
        assert_eq!(
            echo.server_config().unwrap().codec.max_message_size,
            16 << 20
        );
        let cli = Cli::parse_from([
            "tether",
            "--app",
            "hello",
            "--workers",
            "2",
            "--idle-timeout",
            "1.5",
            "--ping-interval",
            "1",
            "--max-buffered-bytes",
            "5000000",
            "--worker-queue-capacity",
            "10",
            "--metrics-listen",
            "127.0.0.1:9090",
            "--summary-interval",
            "0",
        ]);
        let c = cli.server_config().unwrap();
        assert_eq!(c.max_buffered_bytes, 5_000_000);
        assert_eq!(c.worker_queue_capacity, 10);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert!(c.summary_interval.is_zero());
        assert_eq!(
            (c.workers, c.idle_timeout),
            (2, Duration::from_millis(1500))
        );
        assert_eq!(c.codec.max_message_size, 1 << 20);
        let bad = Cli::parse_from(["tether", "--idle-timeout", "1", "--ping-interval", "5"]);
        assert!(bad.server_config().is_err());
        assert!(Cli::parse_from(["tether", "--close-timeout=-1"])
            .server_config()
            .is_err());
    }

    #[test]
    fn deflate_flags() {
        let d = Cli::parse_from(["tether"])
            .server_config()
            .unwrap()
            .deflate
            .unwrap();
        assert!(d.server_no_context_takeover && d.client_no_context_takeover);
        assert_eq!(
            (d.server_max_window_bits, d.mem_level, d.level, d.threshold),
            (15, 8, 1, 128)
        );
        let cli = Cli::parse_from([
            "tether",
            "--app",
            "echo",
            "--deflate-context-takeover",
            "--deflate-window-bits",
            "12",
            "--deflate-mem-level",
            "1",
            "--deflate-level",
            "1",
            "--deflate-threshold",
            "64",
        ]);
        let d = cli.server_config().unwrap().deflate.unwrap();
        assert!(!d.server_no_context_takeover && !d.client_no_context_takeover);
        assert_eq!(
            (d.server_max_window_bits, d.mem_level, d.level, d.threshold),
            (12, 1, 1, 64)
        );
        let off = Cli::parse_from(["tether", "--deflate", "off"]);
        assert!(off.server_config().unwrap().deflate.is_none());
        for (flag, value, why) in [
            (
                "--deflate-window-bits",
                "8",
                "server_max_window_bits must be 9..=15",
            ),
            ("--deflate-mem-level", "0", "mem_level must be 1..=9"),
            ("--deflate-level", "10", "level must be 0..=9"),
        ] {
            let err = Cli::parse_from(["tether", flag, value])
                .server_config()
                .unwrap_err();
            assert!(err.contains(why), "{flag} {value}: {err}");
        }
    }

    #[test]
    fn help_states_each_apps_enforced_message_limit() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for app in App::value_variants() {
            let name = app.to_possible_value().unwrap();
            let enforced = Cli::parse_from(["tether", "--app", name.get_name()])
                .server_config()
                .unwrap()
                .codec
                .max_message_size;
            let stated = format!("({enforced} bytes) for {}", name.get_name());
            assert!(help.contains(&stated), "{stated:?} not in:\n{help}");
        }
        assert!(help.contains("64 KiB (65536 bytes) for demo"), "{help}");
        assert!(!help.contains("otherwise"), "{help}");
        assert_eq!(size_text(16 << 20), "16 MiB (16777216 bytes)");
        assert_eq!(size_text(1000), "1000 bytes");
        assert_eq!(size_text(1536), "1536 bytes");
    }

    #[test]
    fn demo_flags() {
        let cli = Cli::parse_from([
            "tether",
            "--stock-interval",
            "0.25",
            "--push-interval",
            "2",
            "--max-comment-chars",
            "10",
            "--allowed-origin",
            "https://a.example,https://b.example",
            "--allowed-appid",
            "wx1",
            "--allowed-appid",
            "wx2",
            "--trusted-proxy",
            "127.0.0.1,10.0.0.0/8",
        ]);
        let d = cli.demo_config().unwrap();
        assert_eq!(d.stock_interval, Duration::from_millis(250));
        assert_eq!(d.push_interval, Duration::from_secs(2));
        assert_eq!(d.live.max_comment_chars, 10);
        assert_eq!(
            d.access.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(d.access.allowed_appids, ["wx1", "wx2"]);
        let trusted = cli.server_config().unwrap().trusted_proxies;
        assert!(trusted.contains("10.1.2.3".parse().unwrap()));
        assert!(trusted.contains("127.0.0.1".parse().unwrap()));
        assert!(!trusted.contains("192.0.2.1".parse().unwrap()));
        assert!(Cli::parse_from(["tether", "--push-interval", "0"])
            .demo_config()
            .is_err());
        let bad = Cli::parse_from(["tether", "--trusted-proxy", "nope"]).server_config();
        assert!(bad.unwrap_err().contains("--trusted-proxy"));
        // The PROXY header needs the proxies that send it.
        assert!(Cli::try_parse_from(["tether", "--proxy-protocol"]).is_err());
        let p = Cli::parse_from(["tether", "--proxy-protocol", "--trusted-proxy", "10.0.0.1"]);
        assert!(p.server_config().unwrap().proxy_protocol);
    }
}
