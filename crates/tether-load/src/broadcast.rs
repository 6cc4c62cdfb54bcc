//! Broadcast mode (RFC 6455 §5.6, server to many): N subscribers, one of which publishes; every delivery's latency and each message's fan-out time are measured.
//!
//! The server must send each message received on the broadcast path to every open
//! connection (the publisher included), as `tether-bench-server`'s `/broadcast` does.

use std::time::{Duration, Instant};

use crate::cli::{Args, Target};
use crate::net::Report;
use crate::stats::{self, Json};

/// How long one message may take to reach everyone before the run gives up on it.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs broadcast mode and returns the JSON report line.
pub fn run(args: &Args, target: &Target, n: usize) -> Result<String, String> {
    let n = n.max(1);
    let nofile = crate::idle::raise_nofile();
    if (n as u64) + 16 > nofile {
        return Err(format!("{n} subscribers exceed the file limit of {nofile}"));
    }
    let tpl = args.template();
    let mut net = crate::net::for_target(target, args.sources, &tpl)?;
    for url in &args.also_url {
        let t = Target::parse(url, None, None)?;
        if t.tls.is_some() || t.path != target.path {
            return Err(format!(
                "--also-url {url}: a ws:// URL with the path of --url"
            ));
        }
        net.add_target(t.addr).map_err(|e| format!("{url}: {e}"))?;
    }
    let connect = net.open_all(
        n,
        args.max_opening,
        Duration::from_secs_f64(args.connect_timeout),
        &tpl,
        n > 1000,
    )?;
    let publisher = net
        .conns
        .iter()
        .position(|c| c.phase == crate::net::Phase::Open)
        .ok_or("no open connection")?;
    // Quiet period: let the server finish the handshakes' aftermath.
    let quiet = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet {
        net.poll(Duration::from_millis(20), &tpl, |_, _, _, _| {})
            .map_err(|e| format!("poll: {e}"))?;
    }

    let m = args.messages.max(1);
    let server = args.server_pid.map(|p| p.to_string());
    let cpu = stats::CpuWindow::start(server);
    let also: Vec<stats::CpuWindow> = args
        .also_pid
        .iter()
        .map(|p| stats::CpuWindow::start(Some(p.to_string())))
        .collect();
    let broker = args
        .broker_pid
        .map(|p| stats::CpuWindow::start(Some(p.to_string())));
    let mut latency = stats::histogram();
    let mut fanout = stats::histogram();
    let mut delivered = 0u64;
    let mut missing = 0u64;
    let mut errors: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut busy = Duration::ZERO;
    let interval = Duration::from_secs_f64(args.interval_ms.max(0.0) / 1000.0);

    for id in 0..m as u32 {
        let sent = Instant::now();
        net.queue(publisher, |out| tpl.push(id, out));
        for (idx, e) in net.flush_dirty() {
            errors.push(format!("conn {idx}: {e}"));
        }
        let mut got = 0usize;
        let mut last = sent;
        let deadline = sent + DELIVERY_TIMEOUT;
        while got < n && Instant::now() < deadline {
            let wait = if args.spin {
                Duration::ZERO
            } else {
                Duration::from_millis(5)
            };
            net.poll(wait, &tpl, |_, idx, r, ids| match r {
                Report::Messages => {
                    let now = Instant::now();
                    for &got_id in ids {
                        if got_id == id {
                            got += 1;
                            last = now;
                            stats::record(&mut latency, now.duration_since(sent).as_nanos() as u64);
                        } else {
                            errors.push(format!("conn {idx}: message {got_id} during {id}"));
                        }
                    }
                }
                Report::Failed(e) => errors.push(format!("conn {idx}: {e}")),
                Report::Opened => {}
            })
            .map_err(|e| format!("poll: {e}"))?;
            for (idx, e) in net.flush_dirty() {
                errors.push(format!("conn {idx}: {e}"));
            }
            if errors.len() > n / 10 + 10 {
                break;
            }
        }
        delivered += got as u64;
        missing += (n - got.min(n)) as u64;
        busy += last.duration_since(sent);
        stats::record(&mut fanout, last.duration_since(sent).as_nanos() as u64);
        // The pause also lets pings and stragglers drain.
        let pause_end = Instant::now() + interval;
        while Instant::now() < pause_end {
            net.poll(
                pause_end.saturating_duration_since(Instant::now()),
                &tpl,
                |_, idx, r, _| {
                    if let Report::Failed(e) = r {
                        errors.push(format!("conn {idx}: {e}"));
                    }
                },
            )
            .map_err(|e| format!("poll: {e}"))?;
        }
        if errors.len() > n / 10 + 10 {
            break;
        }
    }

    let secs = started.elapsed().as_secs_f64();
    let mut used = cpu.finish();
    let broker_used = broker.map(|b| b.finish());
    let broker_cpu = broker_used.map_or(f64::NAN, |u| u.server);
    let broker_sys_pct = broker_used.map_or(f64::NAN, |u| u.server_sys_pct());
    for w in &also {
        let u = w.finish();
        used.server += u.server;
        used.server_sys += u.server_sys;
        used.other -= u.server;
    }
    used.other -= if broker_cpu.is_nan() { 0.0 } else { broker_cpu };
    let (server_cpu, load_cpu, other_cpu) = (used.server, used.load, used.other);
    // What the broker spends per message published (each crosses it once, whatever the
    // number of subscribers).
    let broker_us_per_msg = broker_cpu / m as f64;
    let [p50, p99, p999, max] = stats::percentiles_us(&latency);
    let [f50, f99, _, fmax] = stats::percentiles_us(&fanout);
    // Deliveries per second while a message was being fanned out.
    let frames_per_s = delivered as f64 / busy.as_secs_f64();
    let server_us_per_frame = server_cpu / delivered as f64;
    println!(
        "broadcast {} B to {n} subscribers x {m} messages: {delivered} delivered, {missing} missing; \
         latency us p50 {p50:.0} p99 {p99:.0} p99.9 {p999:.0} max {max:.0}; fan-out ms p50 {:.2} max {:.2}",
        tpl.size(),
        f50 / 1000.0,
        fmax / 1000.0
    );
    println!(
        "  {frames_per_s:.0} frames/s while fanning out; server CPU {server_us_per_frame:.3} us/frame \
         (= {:.0} frames per server CPU second, {:.0}% of it in the kernel); load CPU {:.0}% over {secs:.1} s; {} errors{}",
        1e6 / server_us_per_frame,
        used.server_sys_pct(),
        load_cpu / secs / 1e4,
        errors.len(),
        errors.first().map(|e| format!(", first: {e}")).unwrap_or_default()
    );
    if !broker_us_per_msg.is_nan() {
        println!(
            "  broker CPU {broker_us_per_msg:.1} us per published message ({broker_sys_pct:.0}% in the kernel)"
        );
    }
    Ok(Json::new()
        .str("mode", "broadcast")
        .str("label", &args.label)
        .int("connections", n as u64)
        .int("messages", m as u64)
        .int("size", tpl.size() as u64)
        .num("connect_s", connect.as_secs_f64())
        .int("delivered", delivered)
        .int("missing", missing)
        .num("p50_us", p50)
        .num("p99_us", p99)
        .num("p999_us", p999)
        .num("max_us", max)
        .num("fanout_p50_us", f50)
        .num("fanout_p99_us", f99)
        .num("fanout_max_us", fmax)
        .num("frames_per_s", frames_per_s)
        .num("server_cpu_us_per_frame", server_us_per_frame)
        .num("server_frames_per_cpu_s", 1e6 / server_us_per_frame)
        .num("server_sys_pct", used.server_sys_pct())
        .int("servers", 1 + args.also_url.len() as u64)
        .num("broker_cpu_us_per_msg", broker_us_per_msg)
        .num("broker_sys_pct", broker_sys_pct)
        .num("load_cpu_pct", load_cpu / secs / 1e4)
        .num("other_cpu_pct", other_cpu / secs / 1e4)
        .bool("spin", args.spin)
        .int("errors", errors.len() as u64)
        .str("first_error", errors.first().map_or("", |s| s.as_str()))
        .finish())
}
