//! Heap held by permessage-deflate streams, and what re-creating them per message costs (RFC 7692 §7.2).
//!
//! `cargo run --release -p tether-codec --example deflate_memory` prints the table in
//! `src/deflate/stream.rs`'s module doc: the bytes a `Deflater` and an `Inflater` hold when
//! idle after one message and at their peak during it, counted by a global allocator, and the
//! time per message of dropping the state and creating it again (as `no_context_takeover`
//! does) against resetting a kept one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use tether_codec::deflate::{Deflater, Inflater};
use tether_codec::Bytes;

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: `ptr` came from this allocator, which is the system's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let live = LIVE.fetch_add(new_size, Relaxed) + new_size;
        PEAK.fetch_max(live, Relaxed);
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A live-room comment, the kind of message the demo pushes.
const MESSAGE: &[u8] = br#"{"type":"comment","room":"live-42","user":"viewer17","text":"hello everyone, this stream is great","likes":12,"ts":1764633600}"#;

/// Bytes live now, and the peak since the last call.
fn measure() -> (usize, usize) {
    let live = LIVE.load(Relaxed);
    (live, PEAK.swap(live, Relaxed))
}

fn kib(n: usize) -> String {
    format!("{:.1}", n as f64 / 1024.0)
}

/// (idle, peak) heap of a Deflater after one message, beyond the output buffer.
fn deflater(bits: u8, level: u32, mem: u8, no_takeover: bool) -> (usize, usize) {
    let mut out = bytes::BytesMut::with_capacity(4096);
    let (base, _) = measure();
    let mut d = Deflater::new(bits, level, mem, no_takeover).expect("valid parameters");
    d.compress(MESSAGE, &mut out).expect("compresses");
    let (live, peak) = measure();
    drop(d);
    (live - base, peak - base)
}

/// (idle, peak) heap of an Inflater after one message, beyond the output buffer.
fn inflater(bits: u8, no_takeover: bool, compressed: &[u8]) -> (usize, usize) {
    let mut out = bytes::BytesMut::with_capacity(4096);
    let (base, _) = measure();
    let mut i = Inflater::new(bits, no_takeover).expect("valid parameters");
    i.inflate(compressed, true, 1 << 20, &mut out)
        .expect("inflates");
    let (live, peak) = measure();
    drop(i);
    (live - base, peak - base)
}

/// Nanoseconds per message of `f`, over enough runs to smooth the clock.
fn per_message(mut f: impl FnMut()) -> f64 {
    const RUNS: u32 = 20_000;
    for _ in 0..1000 {
        f();
    }
    let t = Instant::now();
    for _ in 0..RUNS {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(RUNS)
}

fn main() {
    println!("| window bits | mem level | Deflater idle (takeover) | Deflater peak | Deflater idle (no takeover) | Inflater idle (takeover) | Inflater peak | Inflater idle (no takeover) |");
    println!("|---|---|---|---|---|---|---|---|");
    for bits in [9u8, 12, 15] {
        for mem in [8u8, 1] {
            let mut out = bytes::BytesMut::new();
            let mut d = Deflater::new(bits, 6, mem, true).expect("valid parameters");
            d.compress(MESSAGE, &mut out).expect("compresses");
            let (d_idle, d_peak) = deflater(bits, 6, mem, false);
            let (d_idle_nct, _) = deflater(bits, 6, mem, true);
            let (i_idle, i_peak) = inflater(bits, false, &out);
            let (i_idle_nct, _) = inflater(bits, true, &out);
            println!(
                "| {bits} | {mem} | {} KiB | {} KiB | {} | {} KiB | {} KiB | {} |",
                kib(d_idle),
                kib(d_peak),
                d_idle_nct,
                kib(i_idle),
                kib(i_peak),
                i_idle_nct
            );
        }
    }
    println!();
    println!("level 1 and 9 at window 15, mem level 8 (Deflater idle with takeover):");
    for level in [0u32, 1, 9] {
        println!(
            "  level {level}: {} KiB",
            kib(deflater(15, level, 8, false).0)
        );
    }

    println!();
    println!(
        "time per {}-byte message, window 15, level 6, mem level 8:",
        MESSAGE.len()
    );
    let mut out = bytes::BytesMut::with_capacity(4096);
    let mut kept = Deflater::new(15, 6, 8, false).expect("valid parameters");
    let takeover = per_message(|| {
        out.clear();
        kept.compress(MESSAGE, &mut out).expect("compresses");
    });
    let mut fresh = Deflater::new(15, 6, 8, true).expect("valid parameters");
    let recreated = per_message(|| {
        out.clear();
        fresh.compress(MESSAGE, &mut out).expect("compresses");
    });
    let mut reset = zlib_rs::Deflate::new_with_config(zlib_rs::DeflateConfig {
        level: 6,
        window_bits: -15,
        mem_level: 8,
        ..zlib_rs::DeflateConfig::default()
    });
    let mut buf = [0u8; 512];
    let reused = per_message(|| {
        reset.reset();
        let _ = reset.compress(MESSAGE, &mut buf, zlib_rs::DeflateFlush::SyncFlush);
    });
    println!("  compress, context kept:                  {takeover:.0} ns");
    println!("  compress, state dropped and re-created:  {recreated:.0} ns (Deflater, no_context_takeover)");
    println!(
        "  compress, state kept and reset:          {reused:.0} ns (zlib-rs reset, for comparison)"
    );

    let mut compressed = bytes::BytesMut::new();
    Deflater::new(15, 6, 8, true)
        .expect("valid parameters")
        .compress(MESSAGE, &mut compressed)
        .expect("compresses");
    let compressed: Bytes = compressed.freeze();
    // A message compressed on its own is valid in any state: the kept inflater takes it too.
    let mut kept = Inflater::new(15, false).expect("valid parameters");
    let inflate_kept = per_message(|| {
        out.clear();
        kept.inflate(&compressed, true, 1 << 20, &mut out)
            .expect("inflates");
    });
    let mut fresh = Inflater::new(15, true).expect("valid parameters");
    let inflate_fresh = per_message(|| {
        out.clear();
        fresh
            .inflate(&compressed, true, 1 << 20, &mut out)
            .expect("inflates");
    });
    println!("  inflate, context kept:                   {inflate_kept:.0} ns");
    println!("  inflate, state dropped and re-created:   {inflate_fresh:.0} ns (Inflater, no_context_takeover)");
}
