//! wss:// end to end: tether-load's echo and handshake modes against an in-process tether-server serving TLS with a certificate made now (rcgen), and a wrong name refused.

use std::path::PathBuf;
use std::thread::JoinHandle;

use clap::Parser;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tether_load::cli::{Args, Target};
use tether_server::{
    ConnId, Ctx, Handler, MessageRef, Server, ServerConfig, ServerHandle, TlsConfig,
};

struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, message: MessageRef<'_>) {
        let _ = ctx.send(conn, message.as_outgoing());
    }
}

/// A TLS echo server on a free loopback port, and the CA file a client must trust.
struct TlsEcho {
    port: u16,
    ca: PathBuf,
    handle: ServerHandle,
    thread: Option<JoinHandle<Result<(), tether_server::ServerError>>>,
}

impl TlsEcho {
    fn start(name: &str) -> TlsEcho {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
            .unwrap();
        let ca_file =
            std::env::temp_dir().join(format!("tether-load-{name}-{}.pem", std::process::id()));
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();

        let mut config = ServerConfig::default();
        config.workers = 1;
        config.tls = Some(
            TlsConfig::from_pem(leaf.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap(),
        );
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), config, |_| Echo).unwrap();
        let port = server.local_addr().port();
        let handle = server.handle();
        TlsEcho {
            port,
            ca: ca_file,
            handle,
            thread: Some(std::thread::spawn(move || server.run())),
        }
    }

    fn args(&self, extra: &[&str]) -> (Args, Result<Target, String>) {
        let url = format!("wss://127.0.0.1:{}/", self.port);
        let ca = self.ca.display().to_string();
        let mut argv = vec!["tether-load", "--url", &url, "--tls-ca", &ca];
        argv.extend_from_slice(extra);
        let args = Args::parse_from(argv);
        let target = Target::from_args(&args);
        (args, target)
    }
}

impl Drop for TlsEcho {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.ca);
    }
}

/// The value of `"key":` in a JSON line, as text.
fn field<'a>(json: &'a str, key: &str) -> &'a str {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} in {json}"))
        + key.len()
        + 3;
    let rest = &json[at..];
    &rest[..rest.find([',', '}']).unwrap()]
}

#[test]
fn echo_small_and_large_messages() {
    let server = TlsEcho::start("echo");
    // 20-byte messages, several in flight, and 1 MiB ones (64 TLS records each way).
    for extra in [
        ["-c", "4", "-k", "4", "-s", "20"],
        ["-c", "2", "-k", "1", "-s", "1048576"],
    ] {
        let mut argv = extra.to_vec();
        argv.extend(["--duration", "0.3", "--warmup", "0.1"]);
        let (args, target) = server.args(&argv);
        let json = tether_load::echo::run(&args, &target.unwrap()).unwrap();
        assert_eq!(field(&json, "errors"), "0", "{json}");
        assert!(
            field(&json, "messages").parse::<u64>().unwrap() > 0,
            "{json}"
        );
        // Each message travels in at least one record: header, content type, AEAD tag. Bytes
        // are counted over the window and messages only when whole, so with a hundred 1 MiB
        // messages the one cut at the window's edge outweighs the records' 0.2%: small ones only.
        let wire: f64 = field(&json, "wire_in_per_msg").parse().unwrap();
        let plain: f64 = field(&json, "plain_in_per_msg").parse().unwrap();
        if plain < 1000.0 {
            assert!(wire > plain, "{json}");
        }
    }
}

#[test]
fn handshakes_in_batches() {
    let server = TlsEcho::start("handshakes");
    let (args, target) = server.args(&["--handshakes", "40", "--max-opening", "16"]);
    let json = tether_load::handshakes::run(&args, &target.unwrap(), 40).unwrap();
    assert_eq!(field(&json, "handshakes"), "40", "{json}");
    assert!(field(&json, "tls").contains("TLSv1_3"), "{json}");
}

#[test]
fn a_name_the_certificate_lacks_fails() {
    let server = TlsEcho::start("name");
    let (args, target) = server.args(&[
        "--tls-name",
        "example.com",
        "-c",
        "1",
        "--connect-timeout",
        "5",
    ]);
    let e = tether_load::echo::run(&args, &target.unwrap()).unwrap_err();
    assert!(e.contains("certificate"), "{e}");
}
