//! Every close path (RFC 6455 §7): client- and server-initiated, and the codes for each kind of peer fault.

use std::io::Write;
use std::time::Duration;

use tether_client::ClientError;
use tether_codec::CloseCode;

use crate::util::*;

/// The close code in the first close frame of a server's output.
fn close_code_in(out: &[u8]) -> Option<u16> {
    let i = out
        .windows(2)
        .position(|w| w[0] == 0x88 && w[1] >= 2 && w[1] < 126)?;
    Some(u16::from_be_bytes([out[i + 2], out[i + 3]]))
}

#[test]
fn client_initiated_close() {
    let server = TestServer::start(config());
    let mut c = server.connect();
    let reply = c.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(reply.map(|f| f.code), Some(CloseCode::NORMAL));
    let closed = server.closed(1);
    assert_eq!(
        (closed[0].1, closed[0].2.as_str()),
        (CloseCode::NORMAL, "bye")
    );
}

#[test]
fn server_initiated_close() {
    let server = TestServer::start(config());
    let mut c = server.connect();
    c.send_text("close:4001").unwrap();
    match c.recv_message() {
        Err(ClientError::Closed { code, reason }) => {
            assert_eq!((code, reason.as_str()), (CloseCode(4001), "asked"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.closed(1)[0].1, CloseCode(4001));
}

#[test]
fn peer_faults_get_their_close_codes() {
    let server = TestServer::start(config());
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (masked(0x88, &[0x03, 0xED]), 1002), // close code 1005 on the wire
        (masked(0x88, &[0x03]), 1002),       // one-byte close payload
        (masked(0x81, &[b'o', b'k', 0xFF]), 1007), // invalid UTF-8
        (masked(0x83, b""), 1002),           // reserved opcode
        (vec![0x81, 0x02, b'h', b'i'], 1002), // unmasked client frame
        (masked(0x80, b"x"), 1002),          // continuation without start
    ];
    for (frame, code) in cases {
        let mut bytes = UPGRADE.as_bytes().to_vec();
        bytes.extend(frame);
        let out = exchange(server.addr, &bytes);
        assert_eq!(close_code_in(&out), Some(code), "{:x?}", &out);
    }
}

#[test]
fn too_big_gets_1009() {
    let mut cfg = config();
    cfg.codec.max_message_size = 1024;
    cfg.codec.max_frame_size = 1024;
    let server = TestServer::start(cfg);
    let mut c = server.connect();
    c.send_binary(&[0u8; 2048]).unwrap();
    match c.recv_message() {
        Err(ClientError::Closed { code, .. }) => assert_eq!(code, CloseCode::MESSAGE_TOO_BIG),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.closed(1)[0].1, CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn one_faulty_peer_does_not_disturb_another() {
    let server = TestServer::start(config());
    let mut good = server.connect();
    let mut bad = raw(server.addr);
    bad.write_all(UPGRADE.as_bytes()).unwrap();
    bad.write_all(&[0xFF; 64]).unwrap();
    good.send_text("still here").unwrap();
    assert_eq!(good.recv_message().unwrap().as_bytes(), b"still here");
    let _ = read_to_close(&mut bad);
    std::thread::sleep(Duration::from_millis(50));
    good.send_text("and here").unwrap();
    assert_eq!(good.recv_message().unwrap().as_bytes(), b"and here");
}

#[test]
fn handler_panic_closes_only_that_connection_with_1011() {
    let server = TestServer::start(config());
    let mut other = server.connect();
    let mut c = server.connect();
    c.send_text("panic").unwrap();
    match c.recv_message() {
        Err(ClientError::Closed { code, .. }) => assert_eq!(code, CloseCode::INTERNAL_ERROR),
        other => panic!("{other:?}"),
    }
    other.send_text("fine").unwrap();
    assert_eq!(other.recv_message().unwrap().as_bytes(), b"fine");
}
