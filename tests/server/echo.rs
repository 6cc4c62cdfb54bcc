//! Echo over loopback: every payload size class, fragments, ping/pong, and frames sent with the handshake.

use std::io::Write;

use tether_codec::{Bytes, Event, Message, Opcode};

use crate::util::*;

#[test]
fn echoes_every_length_class() {
    let server = TestServer::start(config());
    let mut c = server.connect();
    for len in [0usize, 125, 126, 65536, 16 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        c.send_binary(&data).unwrap();
        match c.recv_message().unwrap() {
            Message::Binary(b) => assert!(b == data, "binary of {len} bytes differs"),
            other => panic!("{other:?}"),
        }
        let text = "é".repeat(len / 2);
        c.send_text(&text).unwrap();
        match c.recv_message().unwrap() {
            Message::Text(t) => assert!(t.as_str() == text, "text of {len} bytes differs"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn fragmented_message_is_echoed_whole() {
    let server = TestServer::start(config());
    let mut c = server.connect();
    let s = "你好，世界".as_bytes();
    c.send_fragment(Opcode::Text, &s[..4], false).unwrap();
    c.send_ping(b"between").unwrap();
    c.send_fragment(Opcode::Continuation, &s[4..10], false)
        .unwrap();
    c.send_fragment(Opcode::Continuation, &s[10..], true)
        .unwrap();
    assert_eq!(
        c.recv().unwrap(),
        Event::Pong(Bytes::from_static(b"between"))
    );
    match c.recv_message().unwrap() {
        Message::Text(t) => assert_eq!(t.as_str(), "你好，世界"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ping_gets_pong_with_same_payload() {
    let server = TestServer::start(config());
    let mut c = server.connect();
    c.send_ping(b"are you there").unwrap();
    assert_eq!(
        c.recv().unwrap(),
        Event::Pong(Bytes::from_static(b"are you there"))
    );
}

#[test]
fn frames_in_the_handshake_packet_are_not_lost() {
    let server = TestServer::start(config());
    let mut s = raw(server.addr);
    let mut bytes = UPGRADE.as_bytes().to_vec();
    bytes.extend(masked(0x81, b"early"));
    bytes.extend(masked(0x88, &[0x03, 0xE8]));
    s.write_all(&bytes).unwrap();
    let got = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&got[head_end..], b"\x81\x05early\x88\x02\x03\xe8");
}

#[test]
fn subprotocol_is_selected_from_the_offer() {
    let server = TestServer::start(config());
    let mut cfg = client_config();
    cfg.subprotocols = vec!["mqtt".into(), "chat".into()];
    let c = tether_client::Client::connect_with(&server.url("/"), cfg).unwrap();
    assert_eq!(c.subprotocol(), Some("chat"));
}
