//! Handshake refusals over loopback (RFC 6455 §4.2.1–§4.2.2): each fault gets its HTTP status and headers.

use crate::util::*;

fn response_to(req: &str) -> String {
    let server = TestServer::start(config());
    String::from_utf8_lossy(&exchange(server.addr, req.as_bytes())).into_owned()
}

#[test]
fn version_8_gets_426_with_version_13() {
    let r = response_to(&UPGRADE.replace("Version: 13", "Version: 8"));
    assert!(r.starts_with("HTTP/1.1 426 "), "{r}");
    assert!(r.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{r}");
}

#[test]
fn missing_key_gets_400() {
    let r = response_to(&UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""));
    assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
}

#[test]
fn post_gets_405_with_allow() {
    let r = response_to(&UPGRADE.replace("GET", "POST"));
    assert!(
        r.starts_with("HTTP/1.1 405 ") && r.contains("\r\nAllow: GET\r\n"),
        "{r}"
    );
}

#[test]
fn oversized_head_gets_431() {
    let big = format!("X-Big: {}\r\n\r\n", "a".repeat(9000));
    let r = response_to(&UPGRADE.replace("\r\n\r\n", &format!("\r\n{big}")));
    assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
}

#[test]
fn application_refusal_gets_its_status() {
    let r = response_to(&UPGRADE.replace("GET / ", "GET /forbidden "));
    assert!(
        r.starts_with("HTTP/1.1 403 Forbidden\r\n") && r.ends_with("not for you\n"),
        "{r}"
    );
}

#[test]
fn client_sees_refusal_status() {
    let server = TestServer::start(config());
    match tether_client::Client::connect(&server.url("/forbidden")) {
        Err(tether_client::ClientError::Handshake(tether_codec::HandshakeError::Refused(403))) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn http_2_upgrade_gets_505() {
    for version in ["HTTP/2.0", "HTTP/1.0", "HTTP/3.0"] {
        let r = response_to(&UPGRADE.replace("HTTP/1.1", version));
        assert!(r.starts_with("HTTP/1.1 505 "), "{version}: {r}");
    }
}

#[test]
fn an_upgrade_with_a_body_gets_400_and_its_body_is_never_a_frame() {
    // The "body" is a valid masked text frame: read as one, the server would echo it.
    let frame = masked(0x81, b"smuggled");
    for header in [
        format!("Content-Length: {}\r\n", frame.len()),
        "Transfer-Encoding: chunked\r\n".to_owned(),
    ] {
        let mut req = UPGRADE
            .replace("\r\n\r\n", &format!("\r\n{header}\r\n"))
            .into_bytes();
        req.extend_from_slice(&frame);
        let server = TestServer::start(config());
        let got = exchange(server.addr, &req);
        let r = String::from_utf8_lossy(&got);
        assert!(r.starts_with("HTTP/1.1 400 "), "{header}: {r}");
        assert!(!r.contains("smuggled"), "{r}");
    }
}

#[test]
fn a_head_sent_one_byte_per_segment_is_answered() {
    use std::io::Write;
    let server = TestServer::start(config());
    let mut s = raw(server.addr);
    s.set_nodelay(true).unwrap();
    for b in UPGRADE.as_bytes() {
        s.write_all(&[*b]).unwrap();
    }
    let got = read_to_close_or(&mut s, b"\r\n\r\n");
    assert!(
        got.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn a_header_claiming_16_mib_holds_one_bounded_step() {
    use std::io::{Read, Write};
    let server = TestServer::start(config()); // max_frame_size 16 MiB
    let mut s = raw(server.addr);
    s.write_all(UPGRADE.as_bytes()).unwrap();
    let mut head = [0u8; 129];
    let _ = s.read(&mut head).unwrap();
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(16u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3]);
    s.write_all(&frame).unwrap();
    // The header alone used to reserve the whole 16 MiB it claims.
    let held = || metric(&server.handle.metrics_text(), "tether_buffered_bytes");
    assert!(wait_until(std::time::Duration::from_secs(2), || held() > 0.0));
    let bytes = held();
    assert!(
        bytes <= (128 * 1024) as f64,
        "{bytes} bytes held for 3 bytes of payload"
    );
}
