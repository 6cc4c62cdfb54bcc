//! Echo mode (RFC 6455 §5.6 data frames): N connections keep K messages of S bytes in flight and verify every echo, in order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::cli::{Args, Payload, Target};
use crate::net::Report;
use crate::stats::{self, Json};

/// Per-connection echo bookkeeping.
#[derive(Debug, Default)]
struct Flow {
    /// Id of the next message to send.
    next: u32,
    /// Id the next echo must carry.
    expect: u32,
    /// Send times of the messages in flight, oldest first.
    sent: VecDeque<Instant>,
}

/// Runs echo mode and returns the JSON report line.
pub fn run(args: &Args, target: &Target) -> Result<String, String> {
    let n = args.connections.max(1);
    let k = args.inflight.max(1);
    let tpl = args.template();
    let mut net = crate::net::for_target(target, args.sources, &tpl)?;
    let connect_time = net.open_all(
        n,
        args.max_opening,
        Duration::from_secs_f64(args.connect_timeout),
        &tpl,
        n > 1000,
    )?;

    let mut flows: Vec<Flow> = (0..net.conns.len()).map(|_| Flow::default()).collect();
    let start = Instant::now();
    for (idx, flow) in flows.iter_mut().enumerate() {
        if net.conns[idx].phase != crate::net::Phase::Open {
            continue;
        }
        net.queue(idx, |out| {
            for _ in 0..k {
                tpl.push(flow.next, out);
                flow.next = flow.next.wrapping_add(1);
            }
        });
        flow.sent.extend(std::iter::repeat(start).take(k));
    }

    let warm_end = start + Duration::from_secs_f64(args.warmup.max(0.0));
    let end = warm_end + Duration::from_secs_f64(args.duration.max(0.1));
    let server = args.server_pid.map(|p| p.to_string());
    let mut hist = stats::histogram();
    let mut measuring = false;
    let mut count: u64 = 0;
    let mut errors: Vec<String> = Vec::new();
    let mut t0 = start;
    let mut cpu = stats::CpuWindow::start(server.clone());
    let mut wire0 = (net.wire_in, net.wire_out);

    for (_, e) in net.flush_dirty() {
        errors.push(e);
    }
    loop {
        let now = Instant::now();
        if !measuring && now >= warm_end {
            measuring = true;
            hist.reset();
            count = 0;
            t0 = now;
            cpu = stats::CpuWindow::start(server.clone());
            wire0 = (net.wire_in, net.wire_out);
        }
        if now >= end {
            break;
        }
        if errors.len() >= net.conns.len() {
            break;
        }
        let wait = if args.spin {
            Duration::ZERO
        } else {
            end.saturating_duration_since(now)
                .min(Duration::from_millis(10))
        };
        net.poll(wait, &tpl, |net, idx, report, ids| match report {
            Report::Messages => {
                let Some(flow) = flows.get_mut(idx) else {
                    return;
                };
                let now = Instant::now();
                for &id in ids {
                    if id != flow.expect {
                        errors.push(format!(
                            "conn {idx}: echo {id} arrived, expected {}",
                            flow.expect
                        ));
                        return;
                    }
                    flow.expect = flow.expect.wrapping_add(1);
                    if let Some(at) = flow.sent.pop_front() {
                        if measuring {
                            stats::record(&mut hist, now.duration_since(at).as_nanos() as u64);
                            count += 1;
                        }
                    }
                }
                let again = ids.len();
                net.queue(idx, |out| {
                    for _ in 0..again {
                        tpl.push(flow.next, out);
                        flow.next = flow.next.wrapping_add(1);
                    }
                });
                flow.sent.extend(std::iter::repeat(now).take(again));
            }
            Report::Failed(e) => errors.push(format!("conn {idx}: {e}")),
            Report::Opened => {}
        })
        .map_err(|e| format!("poll: {e}"))?;
        for (idx, e) in net.flush_dirty() {
            errors.push(format!("conn {idx}: {e}"));
        }
    }

    let secs = t0.elapsed().as_secs_f64();
    let used = cpu.finish();
    let (server_cpu, load_cpu, other_cpu) = (used.server, used.load, used.other);
    let msgs_per_s = count as f64 / secs;
    let mb_per_s = msgs_per_s * tpl.size() as f64 / 1e6;
    let [p50, p99, p999, max] = stats::percentiles_us(&hist);
    // Bytes per message on the wire each way, against the same message sent uncompressed
    // (header with and without the mask key). Messages still in flight at the end are few
    // and counted once each way, so the figures are close, not exact.
    let per_msg = |b: u64| b as f64 / count.max(1) as f64;
    let wire_in = per_msg(net.wire_in - wire0.0);
    let wire_out = per_msg(net.wire_out - wire0.1);
    let header = |n: usize| {
        2 + if n < 126 {
            0
        } else if n < 65_536 {
            2
        } else {
            8
        }
    };
    let plain_in = (tpl.size() + header(tpl.size())) as f64;
    let plain_out = plain_in + 4.0;
    println!(
        "echo {n} conn x {k} in flight x {} B {:?}: {count} echoes in {secs:.2} s = {msgs_per_s:.0} msg/s, \
         {mb_per_s:.1} MB/s; latency us p50 {p50:.0} p99 {p99:.0} p99.9 {p999:.0} max {max:.0}",
        tpl.size(),
        args.payload,
    );
    println!(
        "  server CPU {:.2} us/msg ({:.0}% of a core, {:.0}% of it in the kernel); load CPU {:.0}% of a core; others {:.0}%; {} errors{}",
        server_cpu / count as f64,
        server_cpu / secs / 1e4,
        used.server_sys_pct(),
        load_cpu / secs / 1e4,
        other_cpu / secs / 1e4,
        errors.len(),
        errors
            .first()
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default()
    );
    println!(
        "  wire bytes per message: to the server {wire_out:.1} ({:.0}% of {plain_out}), from it {wire_in:.1} ({:.0}% of {plain_in})",
        100.0 * wire_out / plain_out,
        100.0 * wire_in / plain_in,
    );
    Ok(Json::new()
        .str("mode", "echo")
        .str("label", &args.label)
        .int("connections", n as u64)
        .int("inflight", k as u64)
        .int("size", tpl.size() as u64)
        .str(
            "payload",
            match args.payload {
                Payload::Text => "text",
                Payload::Binary => "binary",
                Payload::Json => "json",
            },
        )
        .num("connect_s", connect_time.as_secs_f64())
        .num("seconds", secs)
        .int("messages", count)
        .num("msgs_per_s", msgs_per_s)
        .num("mb_per_s", mb_per_s)
        .num("p50_us", p50)
        .num("p99_us", p99)
        .num("p999_us", p999)
        .num("max_us", max)
        .num("server_cpu_us_per_msg", server_cpu / count as f64)
        .num("server_cpu_pct", server_cpu / secs / 1e4)
        .num("server_sys_pct", used.server_sys_pct())
        .num("load_cpu_pct", load_cpu / secs / 1e4)
        .num("other_cpu_pct", other_cpu / secs / 1e4)
        .bool("spin", args.spin)
        .bool("deflate", tpl.compressed())
        .num("wire_in_per_msg", wire_in)
        .num("wire_out_per_msg", wire_out)
        .num("plain_in_per_msg", plain_in)
        .num("plain_out_per_msg", plain_out)
        .int("errors", errors.len() as u64)
        .str("first_error", errors.first().map_or("", |s| s.as_str()))
        .finish())
}
