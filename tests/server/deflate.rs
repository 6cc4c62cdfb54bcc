//! permessage-deflate end to end (RFC 7692): negotiated by default between tether-client and the server, fewer bytes on the wire, and a compression bomb answered with 1009 at once.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use tether_client::{Client, ClientConfig};

use crate::util::*;

#[test]
fn client_and_server_negotiate_it_and_send_less() {
    let server = TestServer::start(config());
    let mut c = server.connect();
    let params = c.deflate_params().expect("permessage-deflate negotiated");
    assert!(params.server_no_context_takeover && params.client_no_context_takeover);
    let json = r#"{"msg_type":"message","room_id":"1001","from_uid":"42","msg_content":"hello"}"#
        .repeat(100);
    c.send_text(&json).unwrap();
    assert_eq!(c.recv_message().unwrap().as_bytes(), json.as_bytes());
    let text = server.handle.metrics_text();
    let sent = metric(&text, "tether_bytes_sent_total");
    assert!(
        sent > 0.0 && sent < (json.len() / 5) as f64,
        "{sent} bytes for {}",
        json.len()
    );
}

#[test]
fn either_side_can_turn_it_off() {
    let mut cfg = config();
    cfg.deflate = None;
    let server = TestServer::start(cfg);
    let c = server.connect();
    assert_eq!(c.deflate_params(), None);
    let server = TestServer::start(config());
    let plain = ClientConfig {
        deflate: None,
        ..client_config()
    };
    let c = Client::connect_with(&server.url("/"), plain).unwrap();
    assert_eq!(c.deflate_params(), None);
}

#[test]
fn a_malformed_offer_gets_400() {
    let server = TestServer::start(config());
    let req = UPGRADE.replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate; =x\r\n\r\n",
    );
    let got = exchange(server.addr, req.as_bytes());
    assert!(
        got.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn a_bomb_is_closed_with_1009_within_a_second() {
    let mut cfg = config();
    cfg.codec.max_message_size = 1 << 20;
    cfg.codec.max_frame_size = 1 << 20;
    let server = TestServer::start(cfg);
    let mut s = raw(server.addr);
    let req = UPGRADE.replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    );
    s.write_all(req.as_bytes()).unwrap();
    let head = read_to_close_or(&mut s, b"\r\n\r\n");
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate"),
        "{head}"
    );
    // 1 MiB of zeros compresses to about 1 KiB; that segment repeated 256 times is one valid
    // stream of 256 MiB of zeros, against a 1 MiB message limit.
    let mut d = tether_codec::deflate::Deflater::new(15, 9, 8, false).unwrap();
    let mut segment = bytes::BytesMut::new();
    d.compress(&vec![0u8; 1 << 20], &mut segment).unwrap();
    // Each segment ends in the empty stored block whose `00 00 ff ff` the sender strips
    // (RFC 7692 §7.2.1): put it back between segments, and leave it off the last.
    let mut one = segment.to_vec();
    one.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut z = one.repeat(256);
    z.truncate(z.len() - 4);
    let mut frame = vec![0x82 | 0x40, 0xFF];
    frame.extend_from_slice(&(z.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(&z);
    let t0 = Instant::now();
    let _ = s.write_all(&frame);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(got.first(), Some(&0x88), "{got:x?}");
    assert_eq!(&got[2..4], &1009u16.to_be_bytes(), "{got:x?}");
    let closed = server.closed(1);
    assert_eq!(closed[0].1, tether_codec::CloseCode(1009));
}
