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
