//! The client against a tiny in-test server on real sockets (RFC 6455 §4.1 handshake, §5 frames, §7 closing).
//!
//! Each test starts a thread that accepts one connection on 127.0.0.1:0 and plays the
//! server with `tether_codec`'s server-side handshake and `Connection`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tether_client::{Client, ClientConfig, ClientError};
use tether_codec::handshake::{
    parse_request, validate_request, write_error_response, AcceptResponse,
};
use tether_codec::{
    Bytes, CloseCode, CloseFrame, Config, Connection, Event, HandshakeError, Message, Opcode,
    Status,
};

/// A server thread handling one connection; `join` returns what it wants to check.
struct TestServer<T> {
    addr: SocketAddr,
    thread: JoinHandle<T>,
}

impl<T: Send + 'static> TestServer<T> {
    fn start(run: impl FnOnce(TcpStream) -> T + Send + 'static) -> TestServer<T> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            run(stream)
        });
        TestServer { addr, thread }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    fn join(self) -> T {
        self.thread.join().unwrap()
    }
}

/// What the server learned from the request.
struct Upgraded {
    conn: Connection,
    stream: TcpStream,
    target: String,
    origin: Option<String>,
}

/// Reads the request head, byte-exactly as far as the head goes.
fn read_request(stream: &mut TcpStream) -> (Vec<u8>, usize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Status::Complete((_, used)) = parse_request(&buf, &Config::default()).unwrap() {
            return (buf, used);
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "client closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Accepts the upgrade, selecting `protocol` if given; `extra` is written in the same
/// `write` call as the 101 response.
fn upgrade(mut stream: TcpStream, protocol: Option<&str>, extra: &[u8]) -> Upgraded {
    let (buf, used) = read_request(&mut stream);
    let Ok(Status::Complete((req, _))) = parse_request(&buf, &Config::default()) else {
        unreachable!()
    };
    let key = validate_request(&req).unwrap();
    let mut out = Vec::new();
    let mut response = AcceptResponse::new(key);
    if let Some(p) = protocol {
        response = response.subprotocol(p);
    }
    response.write(&req, &mut out).unwrap();
    out.extend_from_slice(extra);
    stream.write_all(&out).unwrap();
    let mut conn = Connection::server(Config::default()).unwrap();
    conn.receive(&buf[used..]).unwrap();
    Upgraded {
        target: req.target.to_owned(),
        origin: req.origin().map(str::to_owned),
        conn,
        stream,
    }
}

/// Writes everything the server connection queued (best-effort: the client may be gone).
fn flush(up: &mut Upgraded) {
    let out = up.conn.pending_output().to_vec();
    let _ = up.stream.write_all(&out);
    up.conn.consume_output(out.len());
}

/// Serves until the connection ends: echoes messages, returns every event seen.
fn serve(up: &mut Upgraded) -> Vec<Result<Event, tether_codec::Error>> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(ev) = up.conn.poll_event() {
            if let Ok(Event::Message(m)) = &ev {
                up.conn.send(m.as_outgoing()).unwrap();
            }
            seen.push(ev);
        }
        flush(up);
        if !up.conn.wants_read() {
            return seen; // dropping the stream closes TCP: the server closes first
        }
        match up.stream.read(&mut chunk) {
            Ok(0) | Err(_) => up.conn.receive_eof(),
            Ok(n) => up.conn.receive(&chunk[..n]).unwrap(),
        }
    }
}

fn quick() -> ClientConfig {
    ClientConfig {
        read_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    }
}

fn text(s: &str) -> Message {
    Message::Text(s.to_owned().into())
}

#[test]
fn echo_text_binary_fragments_and_ping() {
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, None, b"");
        let seen = serve(&mut up);
        (up.target, up.origin, seen)
    });
    let config = ClientConfig {
        headers: vec![("Origin".into(), "http://localhost".into())],
        ..quick()
    };
    let mut client = Client::connect_with(&server.url("/echo?room=1"), config).unwrap();
    assert_eq!(client.subprotocol(), None);
    assert!(client.local_addr().unwrap().ip().is_loopback());
    assert_eq!(client.get_ref().peer_addr().unwrap(), server.addr);

    client.send_text("你好, tether").unwrap();
    assert_eq!(client.recv_message().unwrap(), text("你好, tether"));
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    client.send_binary(&big).unwrap();
    assert_eq!(
        client.recv_message().unwrap(),
        Message::Binary(Bytes::from(big))
    );
    client.send_fragment(Opcode::Text, b"frag", false).unwrap();
    client.send_ping(b"hb").unwrap();
    client
        .send_fragment(Opcode::Continuation, b"ments", true)
        .unwrap();
    assert_eq!(
        client.recv().unwrap(),
        Event::Pong(Bytes::from_static(b"hb"))
    );
    assert_eq!(client.recv().unwrap(), Event::Message(text("fragments")));
    assert_eq!(
        client.close(CloseCode::NORMAL, "bye").unwrap(),
        Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: String::new()
        })
    );
    // The closing handshake is over: nothing more can be sent or received.
    assert!(matches!(
        client.send_text("late"),
        Err(ClientError::Usage(_))
    ));
    assert!(matches!(
        client.recv(),
        Err(ClientError::Closed {
            code: CloseCode::NORMAL,
            ..
        })
    ));

    let (target, origin, seen) = server.join();
    assert_eq!(target, "/echo?room=1");
    assert_eq!(origin.as_deref(), Some("http://localhost"));
    assert!(seen.contains(&Ok(Event::Ping(Bytes::from_static(b"hb")))));
    assert!(seen.contains(&Ok(Event::CloseReceived(Some(CloseFrame {
        code: CloseCode::NORMAL,
        reason: "bye".into()
    })))));
}

#[test]
fn server_pings_are_answered_while_waiting_for_a_message() {
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, None, b"");
        up.conn
            .send(tether_codec::Outgoing::Ping(b"are you there"))
            .unwrap();
        up.conn.send(tether_codec::Outgoing::Text("after")).unwrap();
        flush(&mut up);
        serve(&mut up)
    });
    let mut client = Client::connect_with(&server.url("/"), quick()).unwrap();
    assert_eq!(client.recv_message().unwrap(), text("after"));
    client.close(CloseCode::NORMAL, "").unwrap();
    let seen = server.join();
    assert_eq!(
        seen[0],
        Ok(Event::Pong(Bytes::from_static(b"are you there")))
    );
}

#[test]
fn subprotocol_selection() {
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, Some("v2"), b"");
        serve(&mut up);
    });
    let config = ClientConfig {
        subprotocols: vec!["chat".into(), "v2".into()],
        ..quick()
    };
    let mut client = Client::connect_with(&server.url("/"), config).unwrap();
    assert_eq!(client.subprotocol(), Some("v2"));
    client.close(CloseCode::NORMAL, "").unwrap();
    server.join();
}

#[test]
fn refused_handshake_reports_the_status() {
    let server = TestServer::start(|mut s| {
        read_request(&mut s);
        let mut out = Vec::new();
        write_error_response(&HandshakeError::UnsupportedVersion, &mut out);
        s.write_all(&out).unwrap();
    });
    let err = Client::connect_with(&server.url("/"), quick()).unwrap_err();
    assert!(
        matches!(err, ClientError::Handshake(HandshakeError::Refused(426))),
        "{err:?}"
    );
    server.join();
}

#[test]
fn bad_accept_and_early_eof_fail_the_handshake() {
    let server = TestServer::start(|mut s| {
        read_request(&mut s);
        s.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        )
        .unwrap();
    });
    let err = Client::connect_with(&server.url("/"), quick()).unwrap_err();
    assert!(
        matches!(err, ClientError::Handshake(HandshakeError::BadAccept)),
        "{err:?}"
    );
    server.join();

    let server = TestServer::start(|mut s| {
        read_request(&mut s);
        s.write_all(b"HTTP/1.1 101 Swi").unwrap();
    });
    let err = Client::connect_with(&server.url("/"), quick()).unwrap_err();
    assert!(
        matches!(&err, ClientError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
        "{err:?}"
    );
    server.join();
}

#[test]
fn oversized_response_head_is_refused() {
    let server = TestServer::start(|mut s| {
        read_request(&mut s);
        let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
        while head.len() < 20_000 {
            head.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let _ = s.write_all(&head);
    });
    let mut codec = Config::default();
    codec.max_head_size = 1024;
    let config = ClientConfig { codec, ..quick() };
    let err = Client::connect_with(&server.url("/"), config).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Handshake(HandshakeError::MalformedResponse(_))
        ),
        "{err:?}"
    );
    server.join();
}

#[test]
fn frames_in_the_same_packet_as_the_101_are_kept() {
    // Two whole messages behind the head, in the same write as the 101 response.
    let frames = [&[0x81, 0x05][..], b"early", &[0x82, 0x03, 1, 2, 3]].concat();
    let server = TestServer::start(move |s| {
        let mut up = upgrade(s, None, &frames);
        serve(&mut up);
    });
    let mut client = Client::connect_with(&server.url("/"), quick()).unwrap();
    assert_eq!(client.recv_message().unwrap(), text("early"));
    assert_eq!(
        client.recv_message().unwrap(),
        Message::Binary(Bytes::from_static(&[1, 2, 3]))
    );
    client.close(CloseCode::NORMAL, "").unwrap();
    server.join();
}

#[test]
fn response_arriving_byte_by_byte() {
    let server = TestServer::start(|mut s| {
        s.set_nodelay(true).unwrap();
        let (buf, _) = read_request(&mut s);
        let Ok(Status::Complete((req, _))) = parse_request(&buf, &Config::default()) else {
            unreachable!()
        };
        let mut out = Vec::new();
        AcceptResponse::new(validate_request(&req).unwrap())
            .write(&req, &mut out)
            .unwrap();
        out.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        for b in out {
            s.write_all(&[b]).unwrap();
            thread::sleep(Duration::from_micros(200));
        }
        // Close without a Close frame.
    });
    let mut client = Client::connect_with(&server.url("/"), quick()).unwrap();
    assert_eq!(client.recv_message().unwrap(), text("hi"));
    let err = client.recv_message().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Closed {
                code: CloseCode::ABNORMAL,
                ..
            }
        ),
        "{err:?}"
    );
    server.join();
}

#[test]
fn server_initiated_close() {
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, None, b"");
        up.conn.send(tether_codec::Outgoing::Text("last")).unwrap();
        up.conn.close(CloseCode(4000), "maintenance").unwrap();
        flush(&mut up);
        serve(&mut up)
    });
    let mut client = Client::connect_with(&server.url("/"), quick()).unwrap();
    assert_eq!(client.recv_message().unwrap(), text("last"));
    let err = client.recv_message().unwrap_err();
    match err {
        ClientError::Closed { code, reason } => {
            assert_eq!((code, reason.as_str()), (CloseCode(4000), "maintenance"))
        }
        other => panic!("{other:?}"),
    }
    // close() after the server's Close only waits for TCP to end and returns its frame.
    let frame = client.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(frame.map(|f| f.code), Some(CloseCode(4000)));
    let seen = server.join();
    // The client's reply echoed the code (§5.5.1), and the handshake was clean.
    assert_eq!(
        seen,
        [
            Ok(Event::CloseReceived(Some(CloseFrame {
                code: CloseCode(4000),
                reason: String::new()
            }))),
            Ok(Event::Closed {
                code: CloseCode(4000),
                clean: true
            })
        ]
    );
}

#[test]
fn close_waits_for_the_server_to_end_tcp_but_not_forever() {
    // The server answers the Close but keeps the TCP connection open for 2 s.
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, None, b"");
        let seen = serve_without_dropping(&mut up);
        thread::sleep(Duration::from_secs(2));
        seen
    });
    let config = ClientConfig {
        read_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let mut client = Client::connect_with(&server.url("/"), config).unwrap();
    let start = Instant::now();
    let frame = client.close(CloseCode::GOING_AWAY, "").unwrap();
    let waited = start.elapsed();
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::GOING_AWAY));
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    drop(client);
    let seen = server.join();
    assert!(matches!(
        seen.last(),
        Some(Ok(Event::Closed { clean: true, .. }))
    ));
}

/// Like `serve`, but hands the stream back instead of closing it.
fn serve_without_dropping(up: &mut Upgraded) -> Vec<Result<Event, tether_codec::Error>> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while up.conn.wants_read() {
        match up.stream.read(&mut chunk) {
            Ok(0) | Err(_) => up.conn.receive_eof(),
            Ok(n) => up.conn.receive(&chunk[..n]).unwrap(),
        }
        seen.extend(std::iter::from_fn(|| up.conn.poll_event()));
        flush(up);
    }
    seen
}

#[test]
fn invalid_utf8_from_the_server_fails_with_1007() {
    let server = TestServer::start(|s| {
        // A valid message first, then text that is not UTF-8.
        let mut up = upgrade(s, None, &[0x81, 0x02, b'o', b'k', 0x81, 0x02, 0xC3, 0x28]);
        serve(&mut up)
    });
    let mut client = Client::connect_with(&server.url("/"), quick()).unwrap();
    assert_eq!(client.recv_message().unwrap(), text("ok"));
    let err = client.recv().unwrap_err();
    match &err {
        ClientError::Protocol(e) => assert_eq!(e.close_code(), Some(CloseCode(1007))),
        other => panic!("{other:?}"),
    }
    // The error sticks; close() waits for the server to end TCP and reports it again.
    assert!(matches!(client.recv(), Err(ClientError::Protocol(_))));
    assert!(matches!(
        client.close(CloseCode::NORMAL, ""),
        Err(ClientError::Protocol(_))
    ));
    let seen = server.join();
    assert_eq!(
        seen.first(),
        Some(&Ok(Event::CloseReceived(Some(CloseFrame {
            code: CloseCode(1007),
            reason: "invalid UTF-8".into()
        }))))
    );
}

#[test]
fn message_over_the_limit_fails_with_1009() {
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, None, b"");
        up.conn
            .send(tether_codec::Outgoing::Binary(&vec![0u8; 4096]))
            .unwrap();
        flush(&mut up);
        serve(&mut up)
    });
    let mut codec = Config::default();
    codec.max_message_size = 1024;
    codec.max_frame_size = 1024;
    let config = ClientConfig { codec, ..quick() };
    let mut client = Client::connect_with(&server.url("/"), config).unwrap();
    match client.recv_message().unwrap_err() {
        ClientError::Protocol(e) => assert_eq!(e.close_code(), Some(CloseCode(1009))),
        other => panic!("{other:?}"),
    }
    drop(client);
    let seen = server.join();
    assert!(matches!(
        seen.first(),
        Some(Ok(Event::CloseReceived(Some(CloseFrame {
            code: CloseCode(1009),
            ..
        }))))
    ));
}

#[test]
fn read_timeout_is_reported_and_recoverable() {
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, None, b"");
        // Half a frame now, the rest after the client's first read timed out.
        up.stream.write_all(&[0x81, 0x05, b'l', b'a']).unwrap();
        thread::sleep(Duration::from_millis(400));
        up.stream.write_all(b"ter").unwrap();
        serve(&mut up);
    });
    let config = ClientConfig {
        read_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let mut client = Client::connect_with(&server.url("/"), config).unwrap();
    let err = client.recv().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(client.recv_message().unwrap(), text("later"));
    client.close(CloseCode::NORMAL, "").unwrap();
    server.join();
}

#[test]
fn raw_bytes_reach_the_server_unchanged() {
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, None, b"");
        serve(&mut up)
    });
    let mut client = Client::connect_with(&server.url("/"), quick()).unwrap();
    // An unmasked frame from a client: the server must fail the connection with 1002.
    client.send_raw(&[0x81, 0x02, b'n', b'o']).unwrap();
    let err = client.recv_message().unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Closed {
                code: CloseCode::PROTOCOL_ERROR,
                ..
            }
        ),
        "{err:?}"
    );
    let seen = server.join();
    assert!(matches!(
        seen.first(),
        Some(Err(tether_codec::Error::Protocol(
            tether_codec::ProtocolError::UnmaskedFrame
        )))
    ));
}

#[test]
fn misuse_is_a_usage_error() {
    let server = TestServer::start(|s| {
        let mut up = upgrade(s, None, b"");
        serve(&mut up);
    });
    let mut client = Client::connect_with(&server.url("/"), quick()).unwrap();
    assert!(matches!(
        client.send_ping(&[0; 126]),
        Err(ClientError::Usage(_))
    ));
    assert!(matches!(
        client.send_fragment(Opcode::Continuation, b"x", true),
        Err(ClientError::Usage(_))
    ));
    assert!(matches!(
        client.close(CloseCode(1005), ""),
        Err(ClientError::Usage(_))
    ));
    client.close(CloseCode::NORMAL, "").unwrap();
    server.join();

    let config = ClientConfig {
        headers: vec![("X-Bad".into(), "a\r\nInjected: yes".into())],
        ..quick()
    };
    // Refused before anything is dialed.
    let err = Client::connect_with("ws://127.0.0.1:9/", config).unwrap_err();
    assert!(matches!(err, ClientError::Usage(_)), "{err:?}");
}

#[test]
fn url_errors() {
    for bad in [
        "https://example.com/",
        "wss://h:0/",
        "http://example.com/",
        "example.com:80",
        "ws://",
        "ws://h:0/",
        "ws://h:99999/",
        "ws://h/#top",
        "ws://user:pw@h/",
        "ws://h/with space",
    ] {
        let err = Client::connect(bad).unwrap_err();
        assert!(matches!(err, ClientError::Url(_)), "{bad}: {err:?}");
    }
}

#[test]
fn connection_refused_is_io() {
    // Bind and drop a listener to find a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Client::connect(&format!("ws://127.0.0.1:{port}/")).unwrap_err();
    assert!(matches!(err, ClientError::Io(_)), "{err:?}");
}
