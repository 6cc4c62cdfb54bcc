//! Bounds over loopback: a slow consumer is closed with 1008 while others are served; past max_connections comes 503.

use std::time::{Duration, Instant};

use tether_client::ClientError;
use tether_codec::{CloseCode, HandshakeError};

use crate::util::*;

#[test]
fn never_reading_client_is_closed_with_1008_while_others_are_served() {
    let mut cfg = config();
    cfg.output_high_water = 64 * 1024;
    cfg.max_output_buffer = 256 * 1024;
    cfg.close_timeout = Duration::from_secs(20);
    cfg.deflate = None; // the feed's repeated bytes would compress to almost nothing
    let server = TestServer::start_with_feed(cfg, Some(16 * 1024));
    let mut slow = server.connect();
    slow.send_text("feed").unwrap(); // joins the room the server fills every 2 ms, then never reads
    let mut fast = server.connect();

    // The slow consumer's output passes the cap within seconds: it is closed with 1008.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut echoes = 0;
    while Instant::now() < deadline
        && !server
            .seen
            .lock()
            .unwrap()
            .closed
            .iter()
            .any(|c| c.1 == CloseCode::POLICY)
    {
        fast.send_text("ping?").unwrap();
        assert_eq!(fast.recv_message().unwrap().as_bytes(), b"ping?");
        echoes += 1;
    }
    let closed = server.closed(1);
    assert_eq!(closed[0].1, CloseCode::POLICY, "{closed:?}");
    assert!(echoes > 0);
    fast.send_text("after").unwrap();
    assert_eq!(fast.recv_message().unwrap().as_bytes(), b"after");

    // When it finally reads, the slow client finds the backlog (bounded) and then Close 1008.
    let mut got = 0usize;
    let code = loop {
        match slow.recv_message() {
            Ok(m) => got += m.as_bytes().len(),
            Err(ClientError::Closed { code, .. }) => break code,
            Err(e) => panic!("after {got} bytes: {e}"),
        }
    };
    assert_eq!(code, CloseCode::POLICY);
    assert!(got > 0);
}

#[test]
fn past_max_connections_new_ones_get_503() {
    let mut cfg = config();
    cfg.max_connections = 3;
    let server = TestServer::start(cfg);
    let mut held: Vec<_> = (0..3).map(|_| server.connect()).collect();
    match tether_client::Client::connect(&server.url("/")) {
        Err(ClientError::Handshake(HandshakeError::Refused(503))) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    // Those already open are undisturbed, and a freed place can be taken again.
    held[0].send_text("ok").unwrap();
    assert_eq!(held[0].recv_message().unwrap().as_bytes(), b"ok");
    held.pop().unwrap().close(CloseCode::NORMAL, "").unwrap();
    assert!(wait_until(Duration::from_secs(5), || server
        .handle
        .connection_count()
        == 2));
    let mut again = server.connect();
    again.send_text("in").unwrap();
    assert_eq!(again.recv_message().unwrap().as_bytes(), b"in");
}
