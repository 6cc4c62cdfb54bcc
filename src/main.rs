//! `tether`: serves an app over WebSocket (RFC 6455) until SIGINT/SIGTERM, then shuts down gracefully.

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tether::apps;
use tether::cli::Cli;

fn main() {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(&cli.log_level))
        .init();
    let config = match cli.server_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tether: {e}");
            std::process::exit(2);
        }
    };
    let demo = match cli.demo_config() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tether: {e}");
            std::process::exit(2);
        }
    };
    let workers = config.workers;
    let server = match apps::serve_with(cli.app, cli.listen, config, demo) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tether: cannot serve on {}: {e}", cli.listen);
            std::process::exit(1);
        }
    };
    log::info!(
        "serving {:?} on ws://{}/ with {workers} worker(s)",
        cli.app,
        server.local_addr()
    );
    if cli.app == apps::App::Demo {
        log::info!("demo page: http://{}/", server.local_addr());
    }
    let handle = server.handle();
    match Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    log::info!("signal {sig}: shutting down");
                    handle.shutdown();
                }
            });
        }
        Err(e) => log::warn!("cannot install signal handlers: {e}"),
    }
    if let Err(e) = server.run() {
        eprintln!("tether: {e}");
        std::process::exit(1);
    }
    log::info!("stopped");
}
