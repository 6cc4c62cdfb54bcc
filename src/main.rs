//! `tether`: serves an app over WebSocket (RFC 6455) until SIGINT/SIGTERM, then shuts down gracefully; SIGHUP reloads the TLS certificate.

use std::time::Duration;

use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
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
    let scale = match cli.scale_out() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tether: {e}");
            std::process::exit(2);
        }
    };
    let workers = config.workers;
    let tls = config.tls.clone();
    if let Some(t) = &tls {
        warn_if_expiring(t);
    }
    let server = match apps::serve_scaled(cli.app, cli.listen, config, demo, scale.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tether: cannot serve on {}: {e}", cli.listen);
            std::process::exit(1);
        }
    };
    let (ws, http) = if tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    log::info!(
        "serving {:?} on {ws}://{}/ with {workers} worker(s)",
        cli.app,
        server.local_addr()
    );
    if let Some(m) = server.metrics_addr() {
        log::info!("metrics on http://{m}/metrics");
    }
    if let Some(s) = &scale {
        log::info!(
            "instance {} sharing rooms through {}",
            s.redis.instance_id,
            s.redis.url
        );
    }
    if cli.app == apps::App::Demo {
        log::info!("demo page: {http}://{}/", server.local_addr());
    }
    let handle = server.handle();
    match Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                for sig in signals.forever() {
                    if sig != SIGHUP {
                        log::info!("signal {sig}: shutting down");
                        handle.shutdown();
                        return;
                    }
                    // New connections get the new pair; open ones keep theirs.
                    match cli.load_tls() {
                        Ok(Some(t)) => {
                            warn_if_expiring(&t);
                            match handle.set_tls(t) {
                                Ok(()) => log::info!("SIGHUP: TLS certificate reloaded"),
                                Err(e) => log::error!("SIGHUP: {e}"),
                            }
                        }
                        Ok(None) => log::info!("SIGHUP: no TLS certificate to reload"),
                        Err(e) => log::error!("SIGHUP: {e}; the old certificate stays"),
                    }
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

/// Warns when the certificate expires within 14 days.
fn warn_if_expiring(tls: &tether_server::TlsConfig) {
    if let Some(left) = tls.expires_in() {
        if left < Duration::from_secs(14 * 86_400) {
            log::warn!(
                "the TLS certificate expires in {:.1} days: renew it and send SIGHUP",
                left.as_secs_f64() / 86_400.0
            );
        }
    }
}
