//! `tls-provider-bench [--rounds N] [--batch N]`: full TLS 1.3 handshakes between an in-memory rustls client and server, on the ring provider and on aws-lc-rs, with an ECDSA P-256 and an RSA-2048 certificate; one JSON line per (provider, key) on stdout.
//!
//! No sockets: the two sides pass records through `Vec`s on one thread, so the figures are
//! the crypto and rustls's own work. Each round runs a batch of every combination back to
//! back (the order rotating), so drift of a shared machine hits them alike; the medians over
//! the rounds are reported. The server's share is timed apart: it is what a server pays.
//! Both providers use rustls's defaults without `prefer-post-quantum`, so both agree on
//! X25519 and TLS13_AES_256_GCM_SHA384; resumption is off on the client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SignatureAlgorithm};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// One combination: its configurations and what it measured.
struct Case {
    provider: &'static str,
    key: &'static str,
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    /// Per round: (seconds for the batch, of them on the server side).
    rounds: Vec<(f64, f64)>,
    agreed: String,
}

/// A CA and a leaf for `localhost` it signed, both of `alg`: (CA, leaf chain, leaf key).
fn pki(
    alg: &'static SignatureAlgorithm,
) -> (
    CertificateDer<'static>,
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
) {
    let ca_key = KeyPair::generate_for(alg).expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate_for(alg).expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
        .expect("leaf certificate");
    let der = PrivatePkcs8KeyDer::from(key.serialize_der());
    (ca_cert.der().clone(), vec![leaf.der().clone()], der.into())
}

fn case(
    provider: &'static str,
    p: CryptoProvider,
    key: &'static str,
    alg: &'static SignatureAlgorithm,
) -> Case {
    let p = Arc::new(p);
    let (ca, chain, leaf_key) = pki(alg);
    let mut roots = RootCertStore::empty();
    roots.add(ca).expect("root");
    let mut client = ClientConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("client versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    let server = ServerConfig::builder_with_provider(p)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("server versions")
        .with_no_client_auth()
        .with_single_cert(chain, leaf_key)
        .expect("server certificate");
    Case {
        provider,
        key,
        client: Arc::new(client),
        server: Arc::new(server),
        rounds: Vec::new(),
        agreed: String::new(),
    }
}

/// Moves every record `from` has to send into `to`.
fn pass(from: &mut dyn FnMut(&mut Vec<u8>), to: &mut dyn FnMut(&[u8]), buf: &mut Vec<u8>) -> bool {
    buf.clear();
    from(buf);
    if buf.is_empty() {
        return false;
    }
    to(buf);
    true
}

/// One full handshake; returns the time spent in the server's calls.
fn handshake(c: &mut Case, name: &ServerName<'static>, buf: &mut Vec<u8>) -> Duration {
    let mut client = ClientConnection::new(c.client.clone(), name.clone()).expect("client");
    let t = Instant::now();
    let mut server = ServerConnection::new(c.server.clone()).expect("server");
    let mut on_server = t.elapsed();
    while client.is_handshaking() || server.is_handshaking() {
        let mut moved = pass(
            &mut |b| {
                while client.wants_write() {
                    client.write_tls(b).expect("client write");
                }
            },
            &mut |mut b| {
                let t = Instant::now();
                while !b.is_empty() {
                    server.read_tls(&mut b).expect("server read");
                    server.process_new_packets().expect("server handshake");
                }
                on_server += t.elapsed();
            },
            buf,
        );
        moved |= pass(
            &mut |b| {
                let t = Instant::now();
                while server.wants_write() {
                    server.write_tls(b).expect("server write");
                }
                on_server += t.elapsed();
            },
            &mut |mut b| {
                while !b.is_empty() {
                    client.read_tls(&mut b).expect("client read");
                    client.process_new_packets().expect("client handshake");
                }
            },
            buf,
        );
        assert!(moved, "handshake stalled");
    }
    if c.agreed.is_empty() {
        c.agreed = format!(
            "{:?} {:?} {:?}",
            client.protocol_version(),
            client.negotiated_cipher_suite().map(|s| s.suite()),
            client.negotiated_key_exchange_group().map(|g| g.name()),
        );
    }
    on_server
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut rounds = 15;
    let mut batch = 100;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let n = args
            .next()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0);
        match (a.as_str(), n) {
            ("--rounds", Some(n)) => rounds = n,
            ("--batch", Some(n)) => batch = n,
            _ => {
                eprintln!("usage: tls-provider-bench [--rounds N] [--batch N]");
                std::process::exit(2);
            }
        }
    }
    let mut cases = vec![
        case(
            "ring",
            rustls::crypto::ring::default_provider(),
            "ECDSA P-256",
            &rcgen::PKCS_ECDSA_P256_SHA256,
        ),
        case(
            "aws-lc-rs",
            rustls::crypto::aws_lc_rs::default_provider(),
            "ECDSA P-256",
            &rcgen::PKCS_ECDSA_P256_SHA256,
        ),
        case(
            "ring",
            rustls::crypto::ring::default_provider(),
            "RSA-2048",
            &rcgen::PKCS_RSA_SHA256,
        ),
        case(
            "aws-lc-rs",
            rustls::crypto::aws_lc_rs::default_provider(),
            "RSA-2048",
            &rcgen::PKCS_RSA_SHA256,
        ),
    ];
    let name = ServerName::try_from("localhost").expect("name");
    let mut buf = Vec::with_capacity(16 * 1024);
    // A warm-up batch each, not kept.
    for c in &mut cases {
        for _ in 0..batch.min(20) {
            handshake(c, &name, &mut buf);
        }
    }
    let n = cases.len();
    for r in 0..rounds {
        for i in 0..n {
            let c = &mut cases[(r + i) % n];
            let start = Instant::now();
            let mut server = Duration::ZERO;
            for _ in 0..batch {
                server += handshake(c, &name, &mut buf);
            }
            c.rounds
                .push((start.elapsed().as_secs_f64(), server.as_secs_f64()));
        }
    }
    for c in &cases {
        let pair = median(c.rounds.iter().map(|r| batch as f64 / r.0).collect());
        let server = median(c.rounds.iter().map(|r| batch as f64 / r.1).collect());
        eprintln!(
            "{:<9} {:<11}: {pair:>7.0} handshakes/s (client and server on one core), server side alone {server:>7.0}/s ({:.1} us each); {}",
            c.provider,
            c.key,
            1e6 / server,
            c.agreed
        );
        println!(
            "{{\"provider\":\"{}\",\"key\":\"{}\",\"pair_per_s\":{pair:.1},\"server_per_s\":{server:.1},\"rounds\":{rounds},\"batch\":{batch},\"agreed\":\"{}\"}}",
            c.provider, c.key, c.agreed
        );
    }
}
