//! `tether-load`: runs one bounded load scenario against a loopback WebSocket server and prints a summary and a JSON line.

use clap::Parser;
use tether_load::cli::{Args, Target};
use tether_load::{broadcast, echo, handshakes, idle};

fn main() {
    let args = Args::parse();
    if args.sizes {
        print_sizes();
        return;
    }
    let target = match Target::from_args(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tether-load: {e}");
            std::process::exit(2);
        }
    };
    let result = if let Some(n) = args.idle {
        idle::run(&args, &target, n)
    } else if let Some(n) = args.broadcast {
        broadcast::run(&args, &target, n)
    } else if let Some(n) = args.handshakes {
        handshakes::run(&args, &target, n)
    } else {
        echo::run(&args, &target)
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("tether-load: {e}");
            std::process::exit(1);
        }
    }
}

/// The per-connection types of tether-codec, for the memory model in BENCHMARKS.md.
fn print_sizes() {
    use std::mem::size_of;
    println!(
        "{{\"tether_codec::Connection\":{},\"tether_codec::Config\":{},\"mio::net::TcpStream\":{},\"std::net::SocketAddr\":{},\"std::time::Instant\":{},\"Vec<u8>\":{}}}",
        size_of::<tether_codec::Connection>(),
        size_of::<tether_codec::Config>(),
        size_of::<mio::net::TcpStream>(),
        size_of::<std::net::SocketAddr>(),
        size_of::<std::time::Instant>(),
        size_of::<Vec<u8>>(),
    );
}
