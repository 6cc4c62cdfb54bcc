//! `wss://` (RFC 6455 §4.1 over TLS, RFC 8446): echo through TLS, certificates checked at load, bad clients closed in time without disturbing others, `close_notify` on close, and a renewed certificate for new connections only.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedKey, IsCa, KeyPair};
use tether_server::rustls;
use tether_server::{TlsConfig, TlsError};

use crate::util::*;

/// A test CA and a certificate it signed for `127.0.0.1` and `localhost`, made now.
pub(crate) struct Pki {
    pub(crate) ca: CertifiedKey<KeyPair>,
    ca_params: CertificateParams,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl Pki {
    pub(crate) fn new(name: &str) -> Pki {
        Pki::for_names(name, &["localhost", "127.0.0.1"])
    }

    /// A CA, and a leaf it signed for `names`.
    fn for_names(name: &str, names: &[&str]) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("tether test CA {name}"));
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = CertifiedKey {
            cert: ca_cert,
            signing_key: ca_key,
        };
        let (cert_pem, key_pem) = Pki::leaf_for(&ca, &ca_params, name, names, None);
        Pki {
            ca,
            ca_params,
            cert_pem,
            key_pem,
        }
    }

    /// A leaf signed by `ca`, valid until `not_after` (default: rcgen's, years ahead); its
    /// common name is `name`.
    fn leaf(
        ca: &CertifiedKey<KeyPair>,
        ca_params: &CertificateParams,
        name: &str,
        not_after: Option<time::OffsetDateTime>,
    ) -> (String, String) {
        Pki::leaf_for(ca, ca_params, name, &["localhost", "127.0.0.1"], not_after)
    }

    fn leaf_for(
        ca: &CertifiedKey<KeyPair>,
        ca_params: &CertificateParams,
        name: &str,
        names: &[&str],
        not_after: Option<time::OffsetDateTime>,
    ) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let sans = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        if let Some(end) = not_after {
            params.not_before = end - time::Duration::days(30);
            params.not_after = end;
        }
        let issuer = rcgen::Issuer::from_params(ca_params, &ca.signing_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn tls_config(&self) -> TlsConfig {
        TlsConfig::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).unwrap()
    }

    /// A rustls client trusting this CA only.
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `addr` (name `localhost`) that completed its handshake.
fn tls_connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Tls {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

/// Upgrades `tls` to WebSocket and reads the 101.
fn upgrade(tls: &mut Tls) {
    tls.write_all(UPGRADE.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
}

/// A masked (key 0) client frame, its length in the shortest form (§5.2).
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65_536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Reads one unfragmented server frame: (first byte, payload).
fn read_frame(tls: &mut Tls) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    tls.read_exact(&mut h).unwrap();
    let len = match h[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            tls.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            tls.read_exact(&mut l).unwrap();
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    tls.read_exact(&mut payload).unwrap();
    (h[0], payload)
}

fn tls_server(pki: &Pki) -> TestServer {
    let mut cfg = config();
    cfg.tls = Some(pki.tls_config());
    cfg.deflate = None;
    cfg.codec.max_message_size = 16 << 20;
    cfg.codec.max_frame_size = 16 << 20;
    cfg.max_output_buffer = 32 << 20;
    TestServer::start(cfg)
}

#[test]
fn echo_over_tls_from_empty_to_16_mib_and_close_notify_at_the_end() {
    let pki = Pki::new("echo");
    let server = tls_server(&pki);
    let mut tls = tls_connect(server.addr, pki.client_config());
    assert_eq!(tls.conn.alpn_protocol(), None, "the client offered no ALPN");
    upgrade(&mut tls);
    for size in [0usize, 1, 125, 126, 65_536, 1 << 20, 16 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        tls.write_all(&client_frame(0x82, &payload)).unwrap();
        let (first, got) = read_frame(&mut tls);
        assert_eq!(first, 0x82, "{size}");
        assert!(got == payload, "echo of {size} bytes differs");
    }
    // The client closes; the server answers Close, sends close_notify and FIN.
    tls.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .unwrap();
    let (first, _) = read_frame(&mut tls);
    assert_eq!(first, 0x88);
    let mut rest = Vec::new();
    // A clean end (close_notify received) reads as Ok(0), a TCP end without it as an error.
    assert_eq!(tls.read_to_end(&mut rest).map_err(|e| e.kind()), Ok(0));
}

#[test]
fn the_server_offers_http_1_1_by_alpn_and_tls_1_3() {
    let pki = Pki::new("alpn");
    let server = tls_server(&pki);
    let mut client = (*pki.client_config()).clone();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut tls = tls_connect(server.addr, Arc::new(client));
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    upgrade(&mut tls);
}

/// A TLS 1.1 ClientHello (record 3.1, client_version 3.2, one CBC suite, no extensions).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut hs = vec![0x01, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

/// Sends `bytes` on a fresh TCP connection and reads until the server closes it (at most
/// `limit`); returns what came back and how long it took.
fn send_and_wait_close(addr: SocketAddr, bytes: &[u8], limit: Duration) -> (Vec<u8>, Duration) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let t0 = Instant::now();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("not closed within {limit:?}: {e}"),
        }
    }
    (got, t0.elapsed())
}

#[test]
fn bad_clients_are_closed_at_once_or_at_the_handshake_deadline_and_others_go_on() {
    let pki = Pki::new("bad");
    let mut cfg = config();
    cfg.tls = Some(pki.tls_config());
    cfg.handshake_timeout = Duration::from_millis(600);
    let server = TestServer::start(cfg);
    // A good client stays open throughout.
    let mut good = tls_connect(server.addr, pki.client_config());
    upgrade(&mut good);

    // TLS 1.1: refused with an alert record (content type 21), no ServerHello.
    let (got, took) =
        send_and_wait_close(server.addr, &tls11_client_hello(), Duration::from_secs(3));
    assert_eq!(got.first(), Some(&0x15), "{got:x?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    // Plain HTTP or plain WebSocket to the TLS port, and garbage: closed at once.
    for bytes in [
        UPGRADE.as_bytes(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0xde; 64][..],
    ] {
        let (got, took) = send_and_wait_close(server.addr, bytes, Duration::from_secs(3));
        assert!(!got.starts_with(b"HTTP"), "{got:x?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }
    // Half a ClientHello, then silence: closed by the handshake deadline.
    let hello = tls11_client_hello();
    let (_, took) = send_and_wait_close(server.addr, &hello[..10], Duration::from_secs(5));
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // Silence from the start: the same.
    let (_, took) = send_and_wait_close(server.addr, b"", Duration::from_secs(5));
    assert!(took < Duration::from_secs(3), "{took:?}");

    good.write_all(&client_frame(0x81, b"still here")).unwrap();
    assert_eq!(read_frame(&mut good), (0x81, b"still here".to_vec()));
}

#[test]
fn a_new_certificate_serves_new_connections_and_open_ones_go_on() {
    let pki = Pki::new("first");
    let server = tls_server(&pki);
    let mut old = tls_connect(server.addr, pki.client_config());
    upgrade(&mut old);
    let leaf_of = |tls: &Tls| tls.conn.peer_certificates().unwrap()[0].clone();
    let first = leaf_of(&old);

    // Renewed by the same CA, as Let's Encrypt does.
    let (cert_pem, key_pem) = Pki::leaf(&pki.ca, &pki.ca_params, "second", None);
    let renewed = TlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    server.handle.set_tls(renewed).unwrap();

    let mut new = tls_connect(server.addr, pki.client_config());
    upgrade(&mut new);
    assert_ne!(
        leaf_of(&new),
        first,
        "the new connection got the old certificate"
    );
    assert_eq!(leaf_of(&old), first);
    for tls in [&mut old, &mut new] {
        tls.write_all(&client_frame(0x81, b"hello")).unwrap();
        assert_eq!(read_frame(tls), (0x81, b"hello".to_vec()));
    }
    // A plaintext server has no certificate to replace.
    let plain = TestServer::start(config());
    assert!(matches!(
        plain.handle.set_tls(pki.tls_config()),
        Err(TlsError::NotEnabled)
    ));
}

#[test]
fn certificates_and_keys_are_checked_when_loaded() {
    let pki = Pki::new("load");
    let other = Pki::new("other");
    // A key that is not the certificate's.
    let err = TlsConfig::from_pem(pki.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap_err();
    assert!(matches!(err, TlsError::Rustls(_)), "{err:?}");
    // Expired, and not yet valid.
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(3);
    let (cert, key) = Pki::leaf(&pki.ca, &pki.ca_params, "old", Some(past));
    let err = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap_err();
    assert!(matches!(err, TlsError::Expired { days: 3 }), "{err:?}");
    let future = time::OffsetDateTime::now_utc() + time::Duration::days(60);
    let (cert, key) = Pki::leaf(&pki.ca, &pki.ca_params, "soon", Some(future));
    let err = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap_err();
    assert!(matches!(err, TlsError::NotYetValid { .. }), "{err:?}");
    // Nothing usable in the files.
    assert!(matches!(
        TlsConfig::from_pem(b"", pki.key_pem.as_bytes()),
        Err(TlsError::NoCertificate(_))
    ));
    assert!(matches!(
        TlsConfig::from_pem(pki.cert_pem.as_bytes(), b"not a key"),
        Err(TlsError::NoKey(_))
    ));
    let missing = std::path::Path::new("/nonexistent/cert.pem");
    assert!(matches!(
        TlsConfig::from_pem_files(missing, missing),
        Err(TlsError::Read { .. })
    ));
    // A good pair reports when it expires.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    let (cert, key) = Pki::leaf(&pki.ca, &pki.ca_params, "ten days", Some(soon));
    let tls = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let left = tls.expires_in().unwrap();
    assert!(
        left > Duration::from_secs(9 * 86_400) && left <= Duration::from_secs(10 * 86_400),
        "{left:?}"
    );
}

/// tether-client with `ClientConfig::tls` trusting `pki`'s CA.
fn client_trusting(pki: &Pki) -> tether_client::ClientConfig {
    tether_client::ClientConfig {
        tls: Some(pki.client_config()),
        ..client_config()
    }
}

#[test]
fn the_client_speaks_wss_and_refuses_an_unknown_ca_or_a_wrong_name() {
    use tether_client::{Client, ClientError};
    use tether_codec::{CloseCode, Message};
    let pki = Pki::new("client");
    let server = tls_server(&pki);
    let url = format!("wss://localhost:{}/", server.addr.port());
    let mut c = Client::connect_with(&url, client_trusting(&pki)).unwrap();
    assert!(c.is_tls());
    c.send_text("over tls").unwrap();
    assert_eq!(c.recv_message().unwrap(), Message::Text("over tls".into()));
    c.close(CloseCode::NORMAL, "bye").unwrap();

    let unknown = |err: &ClientError| {
        matches!(
            err,
            ClientError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        )
    };
    let stranger = Pki::new("stranger");
    let err = Client::connect_with(&url, client_trusting(&stranger)).unwrap_err();
    assert!(unknown(&err), "{err}");
    // The platform's roots do not know the test CA either.
    let err = Client::connect_with(&url, client_config()).unwrap_err();
    assert!(
        unknown(&err) || matches!(err, ClientError::NoRoots(_)),
        "{err}"
    );

    // A certificate for another name.
    let other = Pki::for_names("elsewhere", &["tether.example"]);
    let server = tls_server(&other);
    let url = format!("wss://localhost:{}/", server.addr.port());
    let err = Client::connect_with(&url, client_trusting(&other)).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err}"
    );
    // A plaintext client on the TLS port gets no upgrade.
    let plain = format!("ws://localhost:{}/", server.addr.port());
    assert!(Client::connect_with(&plain, client_config()).is_err());
}

/// The `tether` binary with `--tls-cert` and `--tls-key`: start-up errors are clear, SIGHUP
/// serves a renewed certificate to new connections while an open one goes on, and a bad new
/// pair is refused with the old one kept.
#[test]
fn the_binary_serves_wss_and_reloads_its_certificate_on_sighup() {
    let dir = std::env::temp_dir().join(format!("tether-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let pki = Pki::new("binary");
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let tether = env!("CARGO_BIN_EXE_tether");

    // A key that is not the certificate's, and a missing file: exit 2 with the reason.
    let other = Pki::new("other");
    let wrong_key = dir.join("wrong.pem");
    std::fs::write(&wrong_key, &other.key_pem).unwrap();
    for (c, k, says) in [
        (&cert, &wrong_key, "TLS certificate"),
        (&dir.join("missing.pem"), &key, "missing.pem"),
    ] {
        let out = std::process::Command::new(tether)
            .args(["--app", "echo", "--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(c)
            .arg("--tls-key")
            .arg(k)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = std::process::Command::new(tether)
        .args(["--app", "echo", "--workers", "2", "--log-level", "error"])
        .args(["--listen", &addr.to_string(), "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok()),
            "tether did not start"
        );
        let leaf_of = |tls: &Tls| tls.conn.peer_certificates().unwrap()[0].clone();
        let mut old = tls_connect(addr, pki.client_config());
        upgrade(&mut old);
        let first = leaf_of(&old);
        let hup = |pid: u32| {
            let ok = std::process::Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
        };

        // A bad pair: refused, the old certificate stays.
        std::fs::write(&key, &other.key_pem).unwrap();
        hup(child.id());
        std::thread::sleep(Duration::from_millis(300));
        let same = tls_connect(addr, pki.client_config());
        assert_eq!(leaf_of(&same), first);

        // A renewed pair: new connections get it, the open one goes on.
        let (cert_pem, key_pem) = Pki::leaf(&pki.ca, &pki.ca_params, "renewed", None);
        std::fs::write(&cert, &cert_pem).unwrap();
        std::fs::write(&key, &key_pem).unwrap();
        hup(child.id());
        assert!(
            wait_until(Duration::from_secs(5), || {
                leaf_of(&tls_connect(addr, pki.client_config())) != first
            }),
            "the renewed certificate is not served"
        );
        old.write_all(&client_frame(0x81, b"still open")).unwrap();
        assert_eq!(read_frame(&mut old), (0x81, b"still open".to_vec()));
    }));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// HAProxy in TCP mode in front of a TLS port: its PROXY v2 header in clear, then the
/// client's TLS; the application sees the client's address.
#[test]
fn a_proxy_header_before_tls_gives_the_client_address() {
    let pki = Pki::new("proxied");
    let mut cfg = config();
    cfg.tls = Some(pki.tls_config());
    cfg.proxy_protocol = true;
    cfg.trusted_proxies = tether_server::proxy::TrustedProxies::new(["127.0.0.1"]).unwrap();
    let server = TestServer::start(cfg);
    let mut sock = TcpStream::connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.extend_from_slice(&[
        0x21, 0x11, 0, 12, 203, 0, 113, 9, 198, 51, 100, 1, 0x12, 0x67, 1, 187,
    ]);
    sock.write_all(&header).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(pki.client_config(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    upgrade(&mut tls);
    let (peer, client) = *server.seen.lock().unwrap().upgrades.last().unwrap();
    assert_eq!(client, "203.0.113.9:4711".parse().unwrap());
    assert_eq!(peer.ip().to_string(), "127.0.0.1");
    tls.write_all(&client_frame(0x81, b"via haproxy")).unwrap();
    assert_eq!(read_frame(&mut tls), (0x81, b"via haproxy".to_vec()));
}
