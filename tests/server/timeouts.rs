//! Time limits over loopback: handshake timeout, server pings, idle timeout of dead peers, and live peers kept.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use tether_codec::{CloseCode, Event};

use crate::util::*;

#[test]
fn unfinished_handshake_is_dropped_after_the_timeout() {
    let mut cfg = config();
    cfg.handshake_timeout = Duration::from_millis(300);
    let server = TestServer::start(cfg);
    let mut s = raw(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    let t0 = Instant::now();
    let got = read_to_close(&mut s);
    let waited = t0.elapsed();
    assert!(got.is_empty());
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(wait_until(Duration::from_secs(2), || server
        .handle
        .connection_count()
        == 0));
}

#[test]
fn silent_peer_is_pinged_then_closed_as_dead() {
    let mut cfg = config();
    cfg.ping_interval = Duration::from_millis(200);
    cfg.idle_timeout = Duration::from_millis(600);
    cfg.close_timeout = Duration::from_millis(300);
    let server = TestServer::start(cfg);
    // A raw peer that completes the handshake and then never answers anything.
    let mut s = raw(server.addr);
    s.write_all(UPGRADE.as_bytes()).unwrap();
    let t0 = Instant::now();
    let got = read_to_close(&mut s);
    let waited = t0.elapsed();
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let frames = &got[head_end..];
    assert_eq!(&frames[..2], &[0x89, 0x00], "a ping first: {frames:x?}");
    let close = &frames[2..];
    assert_eq!(
        &close[..4],
        &[0x88, close[1], 0x03, 0xE9],
        "then Close 1001: {frames:x?}"
    );
    assert!(
        waited >= Duration::from_millis(550) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(server.closed(1)[0].1, CloseCode::GOING_AWAY);
}

#[test]
fn peer_answering_pings_stays_open() {
    let mut cfg = config();
    cfg.ping_interval = Duration::from_millis(100);
    cfg.idle_timeout = Duration::from_millis(300);
    let server = TestServer::start(cfg);
    let mut c = server.connect();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut pings = 0;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1200) {
        match c.recv() {
            Ok(Event::Ping(_)) => pings += 1, // answered by the codec
            Ok(other) => panic!("{other:?}"),
            Err(e) if e.is_timeout() => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(pings >= 3, "{pings} pings");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_text("alive").unwrap();
    assert_eq!(c.recv_message().unwrap().as_bytes(), b"alive");
}

#[test]
fn close_handshake_timeout_drops_tcp() {
    let mut cfg = config();
    cfg.close_timeout = Duration::from_millis(300);
    let server = TestServer::start(cfg);
    let mut s = raw(server.addr);
    s.write_all(UPGRADE.as_bytes()).unwrap();
    s.write_all(&masked(0x81, b"close:1000")).unwrap();
    // Never answer the server's Close: it drops TCP after the close timeout.
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(buf.windows(2).any(|w| w == [0x88, 0x07]), "{buf:x?}"); // 1000 + "asked"
}
