//! Deflate backends side by side for permessage-deflate (RFC 7692 §7.2.1): memory a compressor holds after one message, and the time of a live-room comment with the context kept, reset, or a new compressor, at windows 15, 12 and 9.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml --bin deflate-backends --features zlib-rs
//! cargo run --release --manifest-path benches/peers/Cargo.toml --bin deflate-backends --features zlib-c
//! ```
//! Memory is the growth of this process's RSS over 2,000 compressors, each having compressed
//! one message: the pages a backend touches, not what it reserves.

use flate2::{Compress, Compression, FlushCompress};
use std::time::Instant;
/// This process's resident set size in KiB.
fn rss_kib() -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with("VmRSS:")).unwrap()[6..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}
fn main() {
    let msg = r#"{"msg_type":"message","room_id":"1001","from_uid":"abcdefgh","from_name":"观众小明","is_anchor":false,"content":"主播好！这件外套还有M码吗？想要蓝色的"}"#.as_bytes();
    let mut out = vec![0u8; 4096];
    for bits in [15u8, 12, 9] {
        let n = 2000;
        let before = rss_kib();
        let mut v: Vec<Compress> = (0..n)
            .map(|_| Compress::new_with_window_bits(Compression::new(1), false, bits))
            .collect();
        for c in v.iter_mut() {
            c.compress(msg, &mut out, FlushCompress::Sync).unwrap();
        }
        let after = rss_kib();
        // time: kept context, and reset per message
        let c = &mut v[0];
        let t = Instant::now();
        for _ in 0..20000 {
            c.compress(msg, &mut out, FlushCompress::Sync).unwrap();
        }
        let kept = t.elapsed().as_secs_f64() / 20000.0 * 1e6;
        let t = Instant::now();
        for _ in 0..20000 {
            c.reset();
            c.compress(msg, &mut out, FlushCompress::Sync).unwrap();
        }
        let reset = t.elapsed().as_secs_f64() / 20000.0 * 1e6;
        let t = Instant::now();
        for _ in 0..5000 {
            let mut d = Compress::new_with_window_bits(Compression::new(1), false, bits);
            d.compress(msg, &mut out, FlushCompress::Sync).unwrap();
        }
        let fresh = t.elapsed().as_secs_f64() / 5000.0 * 1e6;
        println!("window {bits}: {:.1} KiB per compressor after one message (mem level 8, level 1); 174 B message: {kept:.2} us kept, {reset:.2} us reset, {fresh:.2} us new", (after - before) as f64 / n as f64);
        drop(v);
    }
}
