//! The client's true address (HAProxy's PROXY protocol v1 and v2, `X-Forwarded-For`): believed from trusted proxies only, over plain TCP and under TLS, and a PROXY header from anyone else refused with 400, never read as HTTP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tether_server::proxy::TrustedProxies;

use crate::util::*;

/// A v2 PROXY header: TCP over IPv4 from `src` to `dst`.
fn v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
        panic!("IPv4 only here");
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&s.ip().octets());
    h.extend_from_slice(&d.ip().octets());
    h.extend_from_slice(&s.port().to_be_bytes());
    h.extend_from_slice(&d.port().to_be_bytes());
    h
}

fn server(proxy_protocol: bool, trusted: &[&str]) -> TestServer {
    let mut cfg = config();
    cfg.proxy_protocol = proxy_protocol;
    cfg.trusted_proxies = TrustedProxies::new(trusted).unwrap();
    TestServer::start(cfg)
}

/// Sends `pieces` one by one, then reads the response head.
fn send_and_read_head(addr: SocketAddr, pieces: &[&[u8]]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    for piece in pieces {
        s.write_all(piece).unwrap();
        // Time for the server to read each piece on its own.
        std::thread::sleep(Duration::from_millis(2));
    }
    String::from_utf8_lossy(&read_to_close_or(&mut s, b"\r\n\r\n")).into_owned()
}

fn last_upgrade(server: &TestServer) -> (SocketAddr, SocketAddr) {
    *server
        .seen
        .lock()
        .unwrap()
        .upgrades
        .last()
        .expect("an upgrade")
}

const CLIENT: &str = "203.0.113.9:4711";
const FRONT: &str = "198.51.100.1:443";

#[test]
fn a_trusted_proxys_header_gives_the_client_address_v1_and_v2_whole_or_cut() {
    let server = server(true, &["127.0.0.1"]);
    let v1 = format!("PROXY TCP4 203.0.113.9 198.51.100.1 4711 443\r\n{UPGRADE}");
    let v2 = [
        v2(CLIENT.parse().unwrap(), FRONT.parse().unwrap()),
        UPGRADE.as_bytes().to_vec(),
    ]
    .concat();
    for stream in [v1.as_bytes(), &v2[..]] {
        for cut in [stream.len(), 1, 7, 30] {
            let pieces: Vec<&[u8]> = stream.chunks(cut).collect();
            let head = send_and_read_head(server.addr, &pieces);
            assert!(head.starts_with("HTTP/1.1 101"), "cut {cut}: {head}");
            let (peer, client) = last_upgrade(&server);
            assert_eq!(client, CLIENT.parse().unwrap(), "cut {cut}");
            assert_eq!(peer.ip().to_string(), "127.0.0.1");
        }
    }
    // LOCAL (a health check): the TCP peer is the client.
    let mut local = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    let head = send_and_read_head(server.addr, &[&local, UPGRADE.as_bytes()]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (peer, client) = last_upgrade(&server);
    assert_eq!(client, peer);
}

#[test]
fn a_trusted_proxy_without_a_header_or_with_a_bad_one_gets_400() {
    let server = server(true, &["127.0.0.1"]);
    for bad in [
        UPGRADE.as_bytes().to_vec(),
        b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n".to_vec(),
        b"PROXY TCP4 1.2.3.4\r\n\r\n".to_vec(),
    ] {
        let head = send_and_read_head(server.addr, &[&bad]);
        assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    }
    assert!(server.seen.lock().unwrap().upgrades.is_empty());
}

#[test]
fn anyone_elses_header_is_refused_and_their_plain_requests_served_as_they_come() {
    // 127.0.0.1 is not a trusted proxy here.
    let server = server(true, &["10.0.0.0/8"]);
    let spoof = format!("PROXY TCP4 203.0.113.9 198.51.100.1 4711 443\r\n{UPGRADE}");
    let head = send_and_read_head(server.addr, &[spoof.as_bytes()]);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let v2 = [
        v2(CLIENT.parse().unwrap(), FRONT.parse().unwrap()),
        UPGRADE.as_bytes().to_vec(),
    ]
    .concat();
    let head = send_and_read_head(server.addr, &[&v2]);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(server.seen.lock().unwrap().upgrades.is_empty());
    // A direct client: served, its own address, its X-Forwarded-For ignored.
    let direct = UPGRADE.replace("\r\n\r\n", "\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n");
    let head = send_and_read_head(server.addr, &[direct.as_bytes()]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (peer, client) = last_upgrade(&server);
    assert_eq!(client, peer);
}

#[test]
fn forwarded_for_from_a_trusted_proxy_only() {
    let with =
        |xff: &str| UPGRADE.replace("\r\n\r\n", &format!("\r\nX-Forwarded-For: {xff}\r\n\r\n"));
    let trusting = server(false, &["127.0.0.1"]);
    let head = send_and_read_head(trusting.addr, &[with("6.6.6.6, 203.0.113.9").as_bytes()]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(last_upgrade(&trusting).1.ip().to_string(), "203.0.113.9");
    let not = server(false, &[]);
    send_and_read_head(not.addr, &[with("203.0.113.9").as_bytes()]);
    let (peer, client) = last_upgrade(&not);
    assert_eq!(client, peer);
    // Behind a PROXY header from HAProxy, an address it forwarded from a trusted hop.
    let chain = server(true, &["127.0.0.1", "198.51.100.0/24"]);
    let hop = [
        v2("198.51.100.7:5000".parse().unwrap(), FRONT.parse().unwrap()),
        with("203.0.113.9").into_bytes(),
    ]
    .concat();
    let head = send_and_read_head(chain.addr, &[&hop]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(last_upgrade(&chain).1.ip().to_string(), "203.0.113.9");
}

#[test]
fn proxy_protocol_needs_trusted_proxies_and_a_stalled_header_times_out() {
    let mut cfg = config();
    cfg.proxy_protocol = true;
    assert!(cfg.validate().is_err());
    cfg.trusted_proxies = TrustedProxies::new(["127.0.0.1"]).unwrap();
    cfg.handshake_timeout = Duration::from_millis(300);
    let server = TestServer::start(cfg);
    // A trusted proxy that stalls inside its header is closed at the handshake deadline.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"PROXY TCP4 1.2.").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}
