//! wss:// echo server on tokio-tungstenite over tokio-rustls, as their documentation puts them together: `TlsAcceptor::accept`, then `accept_async` on the TLS stream, forward text and binary messages back. rustls is configured as Tether's server configures it (ring, TLS 1.3 and 1.2, ALPN http/1.1, rustls's defaults otherwise).

use std::sync::Arc;

use futures_util::{future, StreamExt, TryStreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tether_bench_peers::Opts;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

async fn accept_connection(acceptor: TlsAcceptor, stream: TcpStream) {
    let tls = match acceptor.accept(stream).await {
        Ok(tls) => tls,
        Err(_) => return, // benchmark clients vanish mid-handshake at the end of a run
    };
    let ws = match tokio_tungstenite::accept_async(tls).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("tungstenite-tls-echo: handshake: {e}");
            return;
        }
    };
    let (write, read) = ws.split();
    // Documentation example: forward data messages back (pings are answered by tungstenite).
    let _ = read
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await;
}

fn server_config(opts: &Opts) -> Result<Arc<rustls::ServerConfig>, String> {
    let (Some(cert), Some(key)) = (&opts.cert, &opts.key) else {
        return Err("--cert FILE and --key FILE are required".into());
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn main() {
    let opts = Opts::from_args("tungstenite-tls-echo");
    let acceptor = match server_config(&opts) {
        Ok(config) => TlsAcceptor::from(config),
        Err(e) => {
            eprintln!("tungstenite-tls-echo: {e}");
            std::process::exit(2);
        }
    };
    let rt = opts.runtime().expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(opts.listen).await.expect("bind");
        eprintln!("tungstenite-tls-echo: listening on {} (TLS)", opts.listen);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            if opts.nodelay {
                let _ = stream.set_nodelay(true);
            }
            tokio::spawn(accept_connection(acceptor.clone(), stream));
        }
    });
}
