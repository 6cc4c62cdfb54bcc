//! Counters of the whole server and the `GET /metrics` endpoint that serves them in the Prometheus text format (version 0.0.4), on a port of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::broker::BrokerStats;

type CodeLabel = [(&'static str, u16); 1];

/// Every counter the server keeps, shared by the workers.
///
/// Hot counters (messages and bytes) are summed per worker in [`LocalStats`] and added here
/// once per turn of its loop, so counting costs the echo path no atomic operation per message.
pub(crate) struct Metrics {
    registry: Registry,
    /// Open WebSocket connections (after the 101, until the connection is gone).
    pub(crate) connections: Gauge,
    pub(crate) messages_received: Counter,
    pub(crate) messages_sent: Counter,
    pub(crate) bytes_received: Counter,
    pub(crate) bytes_sent: Counter,
    closes: Family<CodeLabel, Counter>,
    rejections: Family<CodeLabel, Counter>,
    pub(crate) slow_consumer_closes: Counter,
    pub(crate) worker_queue_full: Counter,
    pub(crate) worker_wakeups: Counter,
    pub(crate) handler_panics: Counter,
    pub(crate) accept_errors: Counter,
    /// Buffered input plus pending output, over all connections (what `max_buffered_bytes` bounds).
    pub(crate) buffered_bytes: Gauge<i64, AtomicI64>,
    /// What the broker engine reports (zero without one).
    pub(crate) broker: BrokerStats,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("tether"),
            connections: Gauge::default(),
            messages_received: Counter::default(),
            messages_sent: Counter::default(),
            bytes_received: Counter::default(),
            bytes_sent: Counter::default(),
            closes: Family::default(),
            rejections: Family::default(),
            slow_consumer_closes: Counter::default(),
            worker_queue_full: Counter::default(),
            worker_wakeups: Counter::default(),
            handler_panics: Counter::default(),
            accept_errors: Counter::default(),
            buffered_bytes: Gauge::default(),
            broker: BrokerStats::default(),
        };
        let r = &mut m.registry;
        r.register(
            "connections",
            "Open WebSocket connections",
            m.connections.clone(),
        );
        r.register(
            "messages_received",
            "Data messages received",
            m.messages_received.clone(),
        );
        r.register(
            "messages_sent",
            "Messages queued to peers",
            m.messages_sent.clone(),
        );
        r.register(
            "bytes_received",
            "Bytes read from sockets",
            m.bytes_received.clone(),
        );
        r.register(
            "bytes_sent",
            "Bytes written to sockets",
            m.bytes_sent.clone(),
        );
        r.register(
            "closes",
            "WebSocket connections closed, by close code",
            m.closes.clone(),
        );
        r.register(
            "handshake_rejections",
            "Opening requests answered with an HTTP error, by status",
            m.rejections.clone(),
        );
        r.register(
            "slow_consumer_closes",
            "Connections closed with 1008 because their output passed max_output_buffer",
            m.slow_consumer_closes.clone(),
        );
        r.register(
            "worker_queue_full",
            "Commands refused because the target worker's queue was full",
            m.worker_queue_full.clone(),
        );
        r.register(
            "worker_wakeups",
            "Wake-ups sent to worker loops by other threads",
            m.worker_wakeups.clone(),
        );
        r.register(
            "handler_panics",
            "Panics caught in application callbacks",
            m.handler_panics.clone(),
        );
        r.register(
            "accept_errors",
            "Failed accept calls (descriptor exhaustion, aborted connections)",
            m.accept_errors.clone(),
        );
        r.register(
            "buffered_bytes",
            "Buffered input plus pending output over all connections",
            m.buffered_bytes.clone(),
        );
        let b = &m.broker;
        let r = r.sub_registry_with_prefix("broker");
        r.register(
            "connected",
            "1 while the broker engine reaches its peers (Redis), else 0",
            b.connected.clone(),
        );
        for (name, help, c) in [
            (
                "published",
                "Room messages handed to the broker's peers",
                &b.published,
            ),
            (
                "received",
                "Room messages received from the broker and delivered here",
                &b.received,
            ),
            (
                "queue_full",
                "Room messages refused because the broker's queue was full",
                &b.queue_full,
            ),
            (
                "delivered_locally",
                "Room messages delivered to local members only while the peers were unreachable",
                &b.delivered_locally,
            ),
            (
                "reconnects",
                "Connections to the broker's peers made again after a failure",
                &b.reconnects,
            ),
            (
                "gaps",
                "Messages missing from another instance's per-room sequence",
                &b.gaps,
            ),
            (
                "rejected",
                "Received room messages that could not be decoded, dropped",
                &b.rejected,
            ),
        ] {
            r.register(name, help, c.clone());
        }
        m
    }

    /// Counts a WebSocket connection that left the open state with `code`.
    pub(crate) fn close(&self, code: u16) {
        self.closes.get_or_create(&[("code", code)]).inc();
    }

    /// Counts an opening request answered with HTTP `status`.
    pub(crate) fn rejection(&self, status: u16) {
        self.rejections.get_or_create(&[("status", status)]).inc();
    }

    /// Everything, in the Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// One worker's hot counters, added to [`Metrics`] once per turn.
#[derive(Debug, Default)]
pub(crate) struct LocalStats {
    pub(crate) messages_received: u64,
    pub(crate) messages_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) bytes_sent: u64,
}

impl LocalStats {
    pub(crate) fn flush(&mut self, m: &Metrics) {
        let s = std::mem::take(self);
        for (n, c) in [
            (s.messages_received, &m.messages_received),
            (s.messages_sent, &m.messages_sent),
            (s.bytes_received, &m.bytes_received),
            (s.bytes_sent, &m.bytes_sent),
        ] {
            if n > 0 {
                c.inc_by(n);
            }
        }
    }
}

/// The metrics endpoint: a thread answering `GET /metrics`, one short request at a time.
pub(crate) struct Endpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What one scrape may take before the endpoint moves on.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest request head the endpoint reads.
const MAX_REQUEST: usize = 4096;

impl Endpoint {
    /// Binds `addr` and serves `metrics` until [`stop`](Self::stop).
    pub(crate) fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<Endpoint> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tether-metrics".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    match stream {
                        Ok(s) => {
                            if let Err(e) = answer(s, &metrics) {
                                log::debug!("metrics request failed: {e}");
                            }
                        }
                        Err(e) => {
                            log::debug!("metrics accept failed: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            })?;
        Ok(Endpoint {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the thread: sets the flag, then wakes the blocking `accept` with a connection.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one request head and answers it: the metrics for `GET /metrics`, 404 or 405 otherwise.
fn answer(mut s: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (parts.next(), parts.next());
    let (status, ctype, body) = match (method, target) {
        (Some(b"GET"), Some(b"/metrics")) => {
            ("200 OK", prometheus_text::CONTENT_TYPE, metrics.encode())
        }
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(resp.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_named_metric_in_the_text_format() {
        let m = Metrics::new();
        m.connections.inc();
        m.close(1000);
        m.close(1000);
        m.rejection(503);
        let mut local = LocalStats {
            messages_received: 3,
            bytes_sent: 10,
            ..LocalStats::default()
        };
        local.flush(&m);
        assert_eq!(
            local.messages_received, 0,
            "flushing empties the local counts"
        );
        let text = m.encode();
        for line in [
            "# TYPE tether_connections gauge",
            "tether_connections 1",
            "tether_messages_received_total 3",
            "tether_messages_sent_total 0",
            "tether_bytes_received_total 0",
            "tether_bytes_sent_total 10",
            "tether_closes_total{code=\"1000\"} 2",
            "tether_handshake_rejections_total{status=\"503\"} 1",
            "tether_slow_consumer_closes_total 0",
            "tether_worker_queue_full_total 0",
            "tether_buffered_bytes 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn the_endpoint_serves_get_metrics_only() {
        let m = Arc::new(Metrics::new());
        m.messages_sent.inc_by(7);
        let mut ep = Endpoint::start("127.0.0.1:0".parse().unwrap(), m).unwrap();
        let get = |req: &str| {
            let mut s = TcpStream::connect(ep.local_addr()).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("\ntether_messages_sent_total 7\n"), "{ok}");
        assert!(get("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        ep.stop();
        assert!(TcpStream::connect_timeout(&ep.local_addr(), Duration::from_millis(200)).is_err());
    }
}
