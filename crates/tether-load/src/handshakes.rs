//! Handshake mode (RFC 6455 §4.1 over TCP, and TLS for `wss://`): open N connections a batch at a time, each through the upgrade's `101`, close them, and report handshakes per second and per server CPU-second.

use std::time::{Duration, Instant};

use crate::cli::{Args, Target};
use crate::stats::{self, Json};
use crate::wire::FrameTemplate;

/// Runs handshake mode and returns the JSON report line.
pub fn run(args: &Args, target: &Target, n: usize) -> Result<String, String> {
    let n = n.max(1);
    let batch = args.max_opening.max(1);
    let tpl = FrameTemplate::new(8, false);
    let timeout = Duration::from_secs_f64(args.connect_timeout);
    let server = args.server_pid.map(|p| p.to_string());
    let cpu = stats::CpuWindow::start(server);
    let start = Instant::now();
    let mut done = 0;
    let mut agreed = None;
    while done < n {
        let want = batch.min(n - done);
        let mut net = crate::net::for_target(target, args.sources, &tpl)?;
        net.open_all(want, want, timeout, &tpl, false)?;
        if agreed.is_none() {
            agreed = net.conns.iter().find_map(|c| c.tls_description());
        }
        done += want;
        // Dropping the loop closes the batch (a FIN from each client).
    }
    let secs = start.elapsed().as_secs_f64();
    // The server's share of the last closes lands just after.
    std::thread::sleep(Duration::from_millis(50));
    let used = cpu.finish();
    let per_s = done as f64 / secs;
    let per_cpu_s = done as f64 / (used.server / 1e6);
    let agreed = agreed.unwrap_or_else(|| "plaintext".into());
    println!(
        "handshakes: {done} in {secs:.2} s = {per_s:.0}/s, {:.0} us server CPU each = {per_cpu_s:.0} per server CPU-second \
         ({:.0}% of it in the kernel); load CPU {:.0}% of a core; others {:.0}%; {agreed}",
        used.server / done as f64,
        used.server_sys_pct(),
        used.load / secs / 1e4,
        used.other / secs / 1e4,
    );
    Ok(Json::new()
        .str("mode", "handshakes")
        .str("label", &args.label)
        .int("handshakes", done as u64)
        .int("batch", batch as u64)
        .num("seconds", secs)
        .num("handshakes_per_s", per_s)
        .num("server_cpu_us_per_handshake", used.server / done as f64)
        .num("handshakes_per_server_cpu_s", per_cpu_s)
        .num("server_sys_pct", used.server_sys_pct())
        .num("load_cpu_pct", used.load / secs / 1e4)
        .num("other_cpu_pct", used.other / secs / 1e4)
        .str("tls", &agreed)
        .finish())
}
