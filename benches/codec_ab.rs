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
//! read path, the copy from the in-memory "socket" included. Tether runs twice: with
//! `poll_event` (an owned `Message`, like tungstenite) and with `poll_event_ref` (the payload
//! lent from the connection's buffer, like fastwebsockets' `Frame`).

#[allow(dead_code)] // `codec.rs` uses the rest of it.
mod support;

use std::hint::black_box;
use std::time::Instant;

use support::{fws_server, masked_frame, now, payload, tether_server, tungstenite_server, SIZES};
use tether_codec::{Event, EventRef, Opcode};

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
        "{:>8} {:>12} {:>12} {:>14} {:>16} {:>18} {:>18}",
        "size",
        "tether ns",
        "tether_ref ns",
        "tungstenite ns",
        "fastwebsockets ns",
        "vs tungstenite",
        "vs fastwebsockets"
    );
    println!("{:>77}", "(owned / borrowed)");
    let only = arg("--size").map(|s| s as usize);
    for size in SIZES.into_iter().filter(|s| only.map_or(true, |o| o == *s)) {
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
        let mut conn_ref = tether_server();
        let mut tether_ref = || {
            conn_ref.receive(black_box(&frame)).expect("receive");
            match conn_ref.poll_event_ref() {
                Some(Ok(EventRef::Binary(b))) => {
                    black_box(b);
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
                .max(batch(&mut tether_ref, 100))
                .max(batch(&mut tungstenite, 100))
                .max(batch(&mut fastwebsockets, 100));
        }
        let iters = ((batch_ms * 1e6 / slowest) as u64).max(1);

        // Per library: time per call in each round; per ratio: its value in each round.
        let mut times: [Vec<f64>; 4] = Default::default();
        let mut ratios: [Vec<f64>; 4] = Default::default();
        for round in 0..rounds {
            // Rotate the order so no library always runs first (or last) in a round.
            let mut t = [0.0; 4];
            for k in 0..4 {
                let which = (round + k) % 4;
                t[which] = match which {
                    0 => batch(&mut tether, iters),
                    1 => batch(&mut tether_ref, iters),
                    2 => batch(&mut tungstenite, iters),
                    _ => batch(&mut fastwebsockets, iters),
                };
            }
            for (v, x) in times.iter_mut().zip(t) {
                v.push(x);
            }
            ratios[0].push(t[2] / t[0]);
            ratios[1].push(t[3] / t[0]);
            ratios[2].push(t[2] / t[1]);
            ratios[3].push(t[3] / t[1]);
        }
        let [t, t_ref, tu, fw] = times.map(|mut v| median(&mut v));
        let [r_tu, r_fw, rr_tu, rr_fw] = ratios.map(|mut v| median(&mut v));
        println!(
            "{size:>8} {t:>12.1} {t_ref:>12.1} {tu:>14.1} {fw:>16.1} {r_tu:>8.2}× / {rr_tu:>5.2}× {r_fw:>8.2}× / {rr_fw:>5.2}×"
        );
        println!(
            "{{\"group\":\"decode_api\",\"size\":{size},\"rounds\":{rounds},\"iters\":{iters},\
             \"tether_ns\":{t:.2},\"tether_ref_ns\":{t_ref:.2},\"tungstenite_ns\":{tu:.2},\
             \"fastwebsockets_ns\":{fw:.2},\"vs_tungstenite\":{r_tu:.4},\
             \"vs_fastwebsockets\":{r_fw:.4},\"vs_tungstenite_ref\":{rr_tu:.4},\
             \"vs_fastwebsockets_ref\":{rr_fw:.4}}}"
        );
    }
}
