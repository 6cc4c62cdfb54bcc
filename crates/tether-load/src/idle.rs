//! Idle mode (RFC 6455 §5.5.2–§5.5.3 keep-alive): hold N open connections, answer pings, and report the server's RSS per connection.

use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::cli::{Args, Target};
use crate::net::{Net, Report};
use crate::stats::{self, Json};
use crate::wire::FrameTemplate;

/// Raises this process's open-file soft limit to its hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to an rlimit for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
    }
    lim.rlim_cur
}

/// Runs idle mode and returns the JSON report line.
pub fn run(args: &Args, target: &Target, n: usize) -> Result<String, String> {
    let nofile = raise_nofile();
    if (n as u64) + 16 > nofile {
        return Err(format!(
            "{n} connections need more file descriptors than the limit of {nofile}"
        ));
    }
    let sources = if args.sources == 0 {
        n.div_ceil(16_000).clamp(1, 64) as u8
    } else {
        args.sources
    };
    let tpl = if args.deflate {
        args.template()
    } else {
        FrameTemplate::new(8, false)
    };
    let mut net = crate::net::for_target(target, sources, &tpl)?;
    let server = args.server_pid.map(|p| p.to_string());
    let before = server.as_deref().and_then(stats::sample);
    let slab0 = stats::meminfo_kib("Slab");
    let took = net.open_all(
        n,
        args.max_opening,
        Duration::from_secs_f64(args.connect_timeout),
        &tpl,
        true,
    )?;
    println!(
        "established {n} connections in {:.1} s over {} source address(es)",
        took.as_secs_f64(),
        net.sources()
    );
    let _ = std::io::stdout().flush();

    // Let the server settle (allocator, timers) before sampling, then hold.
    let mut errors: Vec<String> = Vec::new();
    let hold = |net: &mut Net, d: Duration, errors: &mut Vec<String>| -> Result<(), String> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            net.poll(Duration::from_millis(50), &tpl, |_, idx, r, _| {
                if let Report::Failed(e) = r {
                    errors.push(format!("conn {idx}: {e}"));
                }
            })
            .map_err(|e| format!("poll: {e}"))?;
            for (idx, e) in net.flush_dirty() {
                errors.push(format!("conn {idx}: {e}"));
            }
        }
        Ok(())
    };
    let settle = Duration::from_secs_f64(args.hold.clamp(0.0, 1.0));
    hold(&mut net, settle, &mut errors)?;
    let during = server.as_deref().and_then(stats::sample);
    let slab1 = stats::meminfo_kib("Slab");
    hold(
        &mut net,
        Duration::from_secs_f64((args.hold - settle.as_secs_f64()).max(0.0)),
        &mut errors,
    )?;
    let mut after = server.as_deref().and_then(stats::sample);
    // With compression, each connection then exchanges one message, so that whatever
    // compression state a server keeps between messages is allocated, and is measured again.
    let mut after_message = None;
    if args.deflate {
        let echoed = exchange_one(&mut net, &tpl, &mut errors)?;
        hold(&mut net, settle, &mut errors)?;
        after_message = server.as_deref().and_then(stats::sample);
        println!("idle: {echoed}/{n} connections exchanged one compressed message");
        after = after_message;
    }
    let still_open = net.open_count();

    let (rss0, rss1) = match (before, during) {
        (Some(a), Some(b)) => (a.rss_kib, b.rss_kib),
        _ => (0, 0),
    };
    let per_conn = (rss1 as f64 - rss0 as f64) * 1024.0 / n as f64;
    let rss_end = after.map_or(0, |s| s.rss_kib);
    // System-wide, both ends of each connection: a rough figure for the kernel's share.
    let kernel_pair = match (slab0, slab1) {
        (Some(a), Some(b)) => (b as f64 - a as f64) * 1024.0 / n as f64,
        _ => f64::NAN,
    };
    let (after_msg_per_conn, peak_per_conn) = match after_message {
        Some(s) => (
            (s.rss_kib as f64 - rss0 as f64) * 1024.0 / n as f64,
            (s.hwm_kib as f64 - rss0 as f64) * 1024.0 / n as f64,
        ),
        None => (f64::NAN, f64::NAN),
    };
    if after_message.is_some() {
        println!(
            "idle: after one compressed message each: {after_msg_per_conn:.0} B per connection (peak {peak_per_conn:.0} B)"
        );
    }
    println!(
        "idle: {still_open}/{n} still open after {:.1} s; server RSS {rss0} KiB -> {rss1} KiB ({per_conn:.0} B per connection), {rss_end} KiB at the end; \
         kernel slab +{kernel_pair:.0} B per connection (both ends); {} errors",
        args.hold,
        errors.len()
    );
    Ok(Json::new()
        .str("mode", "idle")
        .str("label", &args.label)
        .int("connections", n as u64)
        .int("still_open", still_open as u64)
        .int("sources", net.sources() as u64)
        .num("connect_s", took.as_secs_f64())
        .int("server_rss_before_kib", rss0)
        .int("server_rss_kib", rss1)
        .int("server_rss_end_kib", rss_end)
        .num("rss_bytes_per_conn", per_conn)
        .bool("deflate", args.deflate)
        .num("rss_after_message_bytes_per_conn", after_msg_per_conn)
        .num("peak_bytes_per_conn", peak_per_conn)
        .num("kernel_slab_bytes_per_conn_pair", kernel_pair)
        .int("errors", errors.len() as u64)
        .str("first_error", errors.first().map_or("", |s| s.as_str()))
        .finish())
}

/// Sends one message on every open connection and waits (at most 60 s) for every echo;
/// returns how many came back.
fn exchange_one(
    net: &mut Net,
    tpl: &FrameTemplate,
    errors: &mut Vec<String>,
) -> Result<usize, String> {
    let open: Vec<usize> = (0..net.conns.len())
        .filter(|&i| net.conns[i].phase == crate::net::Phase::Open)
        .collect();
    for &idx in &open {
        net.queue(idx, |out| tpl.push(idx as u32, out));
    }
    let mut echoed = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while echoed < open.len() && Instant::now() < deadline {
        for (idx, e) in net.flush_dirty() {
            errors.push(format!("conn {idx}: {e}"));
        }
        net.poll(Duration::from_millis(20), tpl, |_, idx, r, ids| match r {
            Report::Messages => {
                if ids.iter().any(|&id| id != idx as u32) {
                    errors.push(format!("conn {idx}: echo of another message"));
                }
                echoed += ids.len();
            }
            Report::Failed(e) => errors.push(format!("conn {idx}: {e}")),
            Report::Opened => {}
        })
        .map_err(|e| format!("poll: {e}"))?;
        if errors.len() >= open.len() {
            break;
        }
    }
    Ok(echoed)
}
