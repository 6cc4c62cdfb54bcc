//! Interleaved decode ratios (RFC 6455 §5.2–§5.3): tether against tungstenite and fastwebsockets in alternating short batches.
//!
//! On a shared machine, speed drifts by tens of percent over the minutes a criterion group
//! takes, so two figures measured a minute apart do not make a ratio. Here each round times
//! one short batch of every library back to back (the order rotates), takes the ratios within
//! the round, and reports the median over the rounds: drift cancels out of each ratio.
//!
//! `cargo bench --bench codec_ab [-- --rounds N] [--batch-ms MS] [--size BYTES]` prints a table and one JSON
//! line per payload size; `benches/compare.sh` keeps them for `BENCHMARKS.md`. The workload is
//! `decode_api` of `benches/codec.rs`: one masked binary frame through each library's server
//! read path, the copy from the in-memory "socket" included.

#[allow(dead_code)] // `codec.rs` uses the rest of it.
mod support;

use std::hint::black_box;
use std::time::Instant;

use support::{fws_server, masked_frame, now, payload, tether_server, tungstenite_server, SIZES};
use tether_codec::{Event, Opcode};

/// Times `iters` calls of `f`, in nanoseconds per call.
fn batch<F: FnMut()>(f: &mut F, iters: u64) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `--name VALUE` from the command line (cargo bench passes `--bench` too: ignored).
fn arg(name: &str) -> Option<f64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let rounds = arg("--rounds").unwrap_or(41.0).max(1.0) as usize;
    let batch_ms = arg("--batch-ms").unwrap_or(3.0).max(0.1);
    println!(
        "decode_api, interleaved: {rounds} rounds of {batch_ms} ms batches; ratio = peer / tether"
    );
    println!(
        "{:>8} {:>12} {:>14} {:>16} {:>15} {:>18}",
        "size", "tether ns", "tungstenite ns", "fastwebsockets ns", "vs tungstenite", "vs fastwebsockets"
    );
    let only = arg("--size").map(|s| s as usize);
    for size in SIZES.into_iter().filter(|s| only.is_none_or(|o| o == *s)) {
        let data = payload(size);
        let frame = masked_frame(Opcode::Binary, &data);

        let mut conn = tether_server();
        let mut tether = || {
            conn.receive(black_box(&frame)).expect("receive");
            match conn.poll_event() {
                Some(Ok(Event::Message(m))) => {
                    black_box(m);
                }
                other => panic!("tether decoded {other:?}"),
            }
        };
        let (mut ws, ws_pos) = tungstenite_server(&frame);
        let mut tungstenite = || {
            ws_pos.set(0);
            black_box(ws.read().expect("tungstenite read"));
        };
        let (mut fws, fws_pos) = fws_server(&frame);
        let mut fastwebsockets = || {
            fws_pos.set(0);
            let f = now(fws.read_frame()).expect("fastwebsockets read");
            black_box(f.payload.len());
        };

        // Warm up, then size each batch to about `batch_ms` of the slowest library.
        let mut slowest: f64 = 1.0;
        for _ in 0..3 {
            slowest = slowest
                .max(batch(&mut tether, 100))
                .max(batch(&mut tungstenite, 100))
                .max(batch(&mut fastwebsockets, 100));
        }
        let iters = ((batch_ms * 1e6 / slowest) as u64).max(1);

        let (mut t, mut tu, mut fw) = (Vec::new(), Vec::new(), Vec::new());
        let (mut r_tu, mut r_fw) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Rotate the order so no library always runs first (or last) in a round.
            let mut times = [0.0; 3];
            for k in 0..3 {
                let which = (round + k) % 3;
                times[which] = match which {
                    0 => batch(&mut tether, iters),
                    1 => batch(&mut tungstenite, iters),
                    _ => batch(&mut fastwebsockets, iters),
                };
            }
            t.push(times[0]);
            tu.push(times[1]);
            fw.push(times[2]);
            r_tu.push(times[1] / times[0]);
            r_fw.push(times[2] / times[0]);
        }
        let (t, tu, fw) = (median(&mut t), median(&mut tu), median(&mut fw));
        let (r_tu, r_fw) = (median(&mut r_tu), median(&mut r_fw));
        println!("{size:>8} {t:>12.1} {tu:>14.1} {fw:>16.1} {r_tu:>14.2}× {r_fw:>17.2}×");
        println!(
            "{{\"group\":\"decode_api\",\"size\":{size},\"rounds\":{rounds},\"iters\":{iters},\
             \"tether_ns\":{t:.2},\"tungstenite_ns\":{tu:.2},\"fastwebsockets_ns\":{fw:.2},\
             \"vs_tungstenite\":{r_tu:.4},\"vs_fastwebsockets\":{r_fw:.4}}}"
        );
    }
}
