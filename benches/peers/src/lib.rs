//! Shared command line of the peer echo servers: `--listen ADDR`, `--threads N`, `--no-nodelay`, and `--cert FILE --key FILE` for the TLS one.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Parsed flags.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Runtime threads: 1 is tokio's current-thread runtime, more is the multi-thread one.
    pub threads: usize,
    /// Set TCP_NODELAY on accepted sockets (Tether does by default; so do these, for a fair
    /// comparison of small-message latency).
    pub nodelay: bool,
    /// PEM certificate chain, for a server that speaks TLS.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
}

impl Opts {
    /// Parses `std::env::args`; exits with a usage line on anything unknown.
    pub fn from_args(name: &str) -> Opts {
        let mut o = Opts {
            listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
            threads: 1,
            nodelay: true,
            cert: None,
            key: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .unwrap_or_else(|| usage(name, &format!("{flag} needs a value")))
            };
            match a.as_str() {
                "--listen" => {
                    let v = value("--listen");
                    o.listen = v
                        .parse()
                        .unwrap_or_else(|_| usage(name, &format!("bad address {v}")));
                }
                "--threads" => {
                    let v = value("--threads");
                    o.threads = v
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .unwrap_or_else(|| usage(name, &format!("bad thread count {v}")));
                }
                "--no-nodelay" => o.nodelay = false,
                "--cert" => o.cert = Some(value("--cert").into()),
                "--key" => o.key = Some(value("--key").into()),
                other => usage(name, &format!("unknown argument {other}")),
            }
        }
        o
    }

    /// A tokio runtime as asked: current-thread for 1 thread, multi-thread otherwise.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        if self.threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(self.threads)
                .enable_all()
                .build()
        }
    }
}

fn usage(name: &str, why: &str) -> ! {
    eprintln!(
        "{name}: {why}\nusage: {name} [--listen ADDR] [--threads N] [--no-nodelay] [--cert FILE --key FILE]"
    );
    std::process::exit(2)
}
