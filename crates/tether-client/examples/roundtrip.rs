//! Interop check, client role (RFC 6455 §5.6 data, RFC 7692 permessage-deflate): round-trips large and small messages through an echo server with compression negotiated.
//!
//! ```text
//! cargo run --release -p tether-client --example roundtrip -- ws://127.0.0.1:9002/
//! cargo run --release -p tether-client --example roundtrip -- --ca ca.pem wss://127.0.0.1:9443/
//! ```
//!
//! `--ca FILE` trusts the PEM certificates in FILE (a test CA) instead of the platform's roots.
//! Offers the client's default permessage-deflate, fails unless the server accepts it, then
//! sends empty, 1 MiB and 16 MiB messages of text and of binary (part repetitive, part random, so the
//! compressor sees both) and twenty small JSON messages (which exercise the server's
//! context takeover, if it keeps it), and checks every echo byte for byte. Prints one line
//! per check; exits 1 on the first failure. `tests/interop/run.sh` runs it against Python
//! `websockets` and Node `ws`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tether_client::rustls;
use tether_client::rustls::pki_types::pem::PemObject;
use tether_client::rustls::pki_types::CertificateDer;
use tether_client::{Client, ClientConfig};
use tether_codec::Message;

/// Largest message sent (and so echoed).
const MAX_SIZE: usize = 16 << 20;

/// `len` bytes: runs of JSON-like phrases (compressible) between runs of xorshift noise;
/// valid UTF-8 when `text` (the noise is then printable ASCII).
fn payload(len: usize, text: bool, seed: u64) -> Vec<u8> {
    const PHRASES: [&str; 3] = [
        r#"{"msg_type":"message","room_id":"1001","content":"你好，主播！"}"#,
        r#"{"msg_type":"stock","code":"600519","price":1688.00}"#,
        "permessage-deflate round trip; ",
    ];
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(len + 128);
    while out.len() < len {
        let r = next();
        if r % 3 == 0 {
            for _ in 0..(r >> 8) % 64 {
                let b = (next() >> 24) as u8;
                out.push(if text { b' ' + b % 95 } else { b });
            }
        } else {
            for _ in 0..(r >> 8) % 8 {
                out.extend_from_slice(PHRASES[(r >> 16) as usize % 3].as_bytes());
            }
        }
    }
    // Cut back to `len` on a character boundary, then pad with ASCII.
    let mut cut = len;
    while text && cut > 0 && out.get(cut).is_some_and(|b| (b & 0xC0) == 0x80) {
        cut -= 1;
    }
    out.truncate(cut);
    out.resize(len, b'.');
    out
}

fn round_trip(client: &mut Client, sent: &[u8], text: bool) -> Result<(), String> {
    if text {
        let s = std::str::from_utf8(sent).map_err(|e| e.to_string())?;
        client.send_text(s).map_err(|e| format!("send: {e}"))?;
    } else {
        client.send_binary(sent).map_err(|e| format!("send: {e}"))?;
    }
    let echoed = match client.recv_message().map_err(|e| format!("recv: {e}"))? {
        Message::Text(t) if text => t.as_str().as_bytes().to_vec(),
        Message::Binary(b) if !text => b.to_vec(),
        other => return Err(format!("echo of the wrong kind: {}", kind(&other))),
    };
    if echoed != sent {
        let at = echoed.iter().zip(sent).position(|(a, b)| a != b);
        return Err(format!(
            "echo differs: {} bytes back for {}, first difference at {at:?}",
            echoed.len(),
            sent.len()
        ));
    }
    Ok(())
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
    }
}

/// A rustls client configuration trusting only the certificates in the PEM file `ca`.
fn trusting(ca: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{ca}: {e}"))? {
        let cert = cert.map_err(|e| format!("{ca}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{ca}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{ca}: no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn run(url: &str, ca: Option<&str>) -> Result<(), String> {
    let mut config = ClientConfig {
        read_timeout: Some(Duration::from_secs(60)),
        write_timeout: Some(Duration::from_secs(60)),
        tls: ca.map(trusting).transpose()?,
        ..Default::default()
    };
    config.codec.max_message_size = MAX_SIZE;
    config.codec.max_frame_size = MAX_SIZE;
    let mut client = Client::connect_with(url, config).map_err(|e| format!("{url}: {e}"))?;
    let params = client
        .deflate_params()
        .ok_or("the server did not accept permessage-deflate")?;
    println!(
        "ok: permessage-deflate negotiated: {}",
        params.response_header_value()
    );
    for (len, name) in [(0, "0 B"), (1 << 20, "1 MiB"), (16 << 20, "16 MiB")] {
        for text in [true, false] {
            let sent = payload(len, text, len as u64 + text as u64);
            let t = Instant::now();
            round_trip(&mut client, &sent, text)?;
            println!(
                "ok: {name} {} round trip ({:.0} ms)",
                if text { "text" } else { "binary" },
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    for i in 0..20u64 {
        round_trip(&mut client, &payload(150 + i as usize, true, i), true)?;
    }
    println!("ok: 20 small JSON-like messages round trip");
    client
        .close(tether_codec::CloseCode::NORMAL, "done")
        .map_err(|e| format!("close: {e}"))?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ca, url) = match args.as_slice() {
        [url] => (None, url),
        [flag, ca, url] if flag == "--ca" => (Some(ca.as_str()), url),
        _ => {
            eprintln!("usage: roundtrip [--ca CA.pem] ws[s]://HOST:PORT/PATH");
            return ExitCode::from(2);
        }
    };
    match run(url, ca) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
