//! What the server logs, caught by a logger installed for this test binary: per-connection lines stay at `debug`, and an operator at `info` gets a periodic one-line summary.

use std::time::Duration;

use log::Level;
use tether_codec::CloseCode;

use crate::log_capture::{self, Capture};
use crate::util::*;

fn capture() -> &'static Capture {
    log_capture::capture("tether_server")
}

fn lines_with(needle: &str) -> Vec<(Level, String)> {
    capture().lines_with(needle)
}

#[test]
fn a_connections_lines_stay_at_debug() {
    capture();
    let server = TestServer::start(config());
    let mut c = server.connect();
    let me = c.local_addr().unwrap().to_string();
    c.send_text("hi").unwrap();
    assert_eq!(c.recv_message().unwrap().as_bytes(), b"hi");
    c.close(CloseCode::NORMAL, "bye").unwrap();
    server.closed(1);
    // A refused handshake from a peer is its fault, not the operator's news.
    let _ = exchange(server.addr, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n");
    let mine = lines_with(&me);
    assert!(!mine.is_empty(), "the open line names the peer");
    for (level, line) in &mine {
        assert_eq!(*level, Level::Debug, "{line}");
    }
    let refused = lines_with("refused");
    assert!(!refused.is_empty());
    assert!(
        refused.iter().all(|(l, _)| *l == Level::Debug),
        "{refused:?}"
    );
}

#[test]
fn an_operator_at_info_gets_a_periodic_summary() {
    capture();
    let mut cfg = config();
    cfg.summary_interval = Duration::from_millis(100);
    let server = TestServer::start(cfg);
    let _c = server.connect();
    assert!(wait_until(Duration::from_secs(3), || {
        lines_with("msg/s in")
            .iter()
            .any(|(level, line)| *level == Level::Info && line.starts_with("1 connections,"))
    }));
}
