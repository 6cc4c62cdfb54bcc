//! permessage-deflate end to end (RFC 7692): negotiated by default between tether-client and the server, fewer bytes on the wire, and compression bombs answered with 1009 at once with the server's memory bounded.

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

/// `copies` MiB of zeros as one raw deflate stream of about `copies` KiB: 1 MiB of zeros
/// compresses to about 1 KiB, and that segment repeated is one valid stream (RFC 7692 §7.2.1).
fn bomb(copies: usize) -> Vec<u8> {
    let mut d = tether_codec::deflate::Deflater::new(15, 9, 8, false).unwrap();
    let mut segment = bytes::BytesMut::new();
    d.compress(&vec![0u8; 1 << 20], &mut segment).unwrap();
    // Each segment ends in the empty stored block whose `00 00 ff ff` the sender strips: put
    // it back between segments, and leave it off the last.
    let mut one = segment.to_vec();
    one.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut z = one.repeat(copies);
    z.truncate(z.len() - 4);
    z
}

/// A masked (key 0) client frame: `first` is FIN|RSV|opcode.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first, 0xFF];
    f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Opens a connection to `addr` that negotiated permessage-deflate.
fn deflate_conn(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let mut s = raw(addr);
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
    s
}

/// Sends `wire` and expects a Close with 1009 within a second.
fn closed_with_1009_at_once(s: &mut std::net::TcpStream, wire: &[u8]) {
    let t0 = Instant::now();
    let _ = s.write_all(wire);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(got.first(), Some(&0x88), "{got:x?}");
    assert_eq!(&got[2..4], &1009u16.to_be_bytes(), "{got:x?}");
}

#[test]
fn a_bomb_is_closed_with_1009_within_a_second() {
    let mut cfg = config();
    cfg.codec.max_message_size = 1 << 20;
    cfg.codec.max_frame_size = 1 << 20;
    let server = TestServer::start(cfg);
    // 256 MiB of zeros against a 1 MiB message limit.
    let mut s = deflate_conn(server.addr);
    closed_with_1009_at_once(&mut s, &frame(0x82 | 0x40, &bomb(256)));
    let closed = server.closed(1);
    assert_eq!(closed[0].1, tether_codec::CloseCode(1009));
}

/// `VmRSS` and `VmHWM` (peak) of process `pid`, in KiB.
fn rss_and_peak_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The real `tether` binary, a 1 MiB message limit, and two 1 GiB bombs of about 1 MiB
/// each, one in a single frame and one fragmented after compression: each is closed with
/// 1009 within a second, and the server's peak RSS grows by a few MiB, not by gigabytes.
#[test]
fn a_gigabyte_bomb_leaves_the_servers_memory_bounded() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args([
            "--app",
            "echo",
            "--workers",
            "1",
            "--deflate",
            "on",
            "--log-level",
            "error",
        ])
        .args([
            "--max-message-size",
            "1048576",
            "--listen",
            &addr.to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let z = bomb(1024);
    let result = std::panic::catch_unwind(|| {
        assert!(up, "tether did not start");
        assert!(z.len() < (3 << 19), "{} bytes of bomb", z.len());
        // A first ordinary connection, so the baseline includes a connection's buffers.
        drop(deflate_conn(addr));
        let (before, _) = rss_and_peak_kib(child.id());
        let mut one = deflate_conn(addr);
        closed_with_1009_at_once(&mut one, &frame(0x82 | 0x40, &z));
        let third = z.len() / 3;
        let mut fragmented = frame(0x02 | 0x40, &z[..third]);
        fragmented.extend(frame(0x00, &z[third..2 * third]));
        fragmented.extend(frame(0x80, &z[2 * third..]));
        let mut two = deflate_conn(addr);
        closed_with_1009_at_once(&mut two, &fragmented);
        let (_, peak) = rss_and_peak_kib(child.id());
        // Received bytes (about 1 MiB), the inflated message (at most the limit plus one
        // 64 KiB step) and the inflater: a few MiB. Inflating the bomb would be 1 GiB.
        assert!(
            peak.saturating_sub(before) < 16 << 10,
            "peak RSS grew by {} KiB (from {before} KiB)",
            peak.saturating_sub(before)
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
