//! The masking loops of RFC 6455 §5.3 that need `unsafe`: AVX2 builds chosen at run time, and the unmasking copy into spare capacity.
//!
//! The code is not hand-written SIMD: the same safe loops are compiled a second time with
//! AVX2 enabled, so LLVM vectorises them 32 bytes wide instead of 16. The unmasking copy also
//! writes into spare capacity and sets the length once (one `set_len`). `cargo bench --bench
//! codec_ab` measured what pays for the `unsafe` (see `BENCHMARKS.md`); the tests below check
//! every build against the byte loop.
#![allow(unsafe_code)]

use bytes::BytesMut;

/// Whether this CPU runs AVX2 (`std` caches the CPUID answer: one load per call).
#[inline(always)]
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`super::mask::xor_blocks`] built for AVX2, or `None` on a CPU without it.
#[inline]
pub(super) fn xor_blocks(buf: &mut [u8], k: [u8; 4]) -> Option<usize> {
    if buf.len() < 256 || !has_avx2() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn run(buf: &mut [u8], k: [u8; 4]) -> usize {
            super::mask::xor_blocks(buf, k)
        }
        // SAFETY: `run` only needs the AVX2 instructions, and `has_avx2` just confirmed that
        // this CPU has them; its body is the safe loop of `mask::xor_blocks`.
        Some(unsafe { run(buf, k) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Appends the whole 128-byte blocks of `src` to `dst`, XORed with `k` on their way (the
/// AVX2 build where the CPU has it); returns how many bytes that was.
#[inline]
pub(super) fn extend_blocks(dst: &mut BytesMut, src: &[u8], k: [u8; 4]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        #[target_feature(enable = "avx2")]
        unsafe fn run(dst: &mut BytesMut, src: &[u8], k: [u8; 4]) -> usize {
            extend_blocks_kernel(dst, src, k)
        }
        // SAFETY: `run` needs AVX2, which `has_avx2` just confirmed; its body is
        // `extend_blocks_kernel`, whose one unsafe operation is justified there.
        return unsafe { run(dst, src, k) };
    }
    extend_blocks_kernel(dst, src, k)
}

/// The loop of [`extend_blocks`], inlined into each build.
#[inline(always)]
fn extend_blocks_kernel(dst: &mut BytesMut, src: &[u8], k: [u8; 4]) -> usize {
    const BLOCK: usize = 128;
    let whole = src.len() - src.len() % BLOCK;
    dst.reserve(whole);
    let wide: [u8; BLOCK] = super::mask::repeat_key(k);
    // Written into the spare capacity, with the length set once at the end: appending block
    // by block made every block wait on the stored length of the one before.
    let spare = &mut dst.spare_capacity_mut()[..whole];
    for (out, block) in spare.chunks_exact_mut(BLOCK).zip(src.chunks_exact(BLOCK)) {
        for ((o, s), m) in out.iter_mut().zip(block).zip(wide.iter()) {
            o.write(s ^ m);
        }
    }
    let len = dst.len() + whole;
    // SAFETY: the loop above wrote every one of the `whole` bytes after the old length, inside
    // the capacity reserved for them.
    unsafe { dst.set_len(len) };
    whole
}

#[cfg(test)]
mod tests {
    use super::super::mask::{apply_mask_reference, extend_unmasked};
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn avx2_blocks_equal_the_byte_loop() {
        for len in [256, 257, 300, 4096, 70_000] {
            for offset in 0..4 {
                let key = [0x37, 0xfa, 0x21, 0x3d];
                let k = [0, 1, 2, 3].map(|i| key[(offset + i) & 3]);
                let mut fast = data(len);
                let mut slow = data(len);
                let Some(n) = xor_blocks(&mut fast, k) else {
                    return; // no AVX2 here: nothing to compare
                };
                assert_eq!(n, len - len % 32);
                apply_mask_reference(&mut slow[..n], key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn extend_blocks_equal_the_byte_loop() {
        let key = [9, 8, 7, 6];
        for len in [0, 128, 129, 5000, 70_001] {
            let src = data(len);
            let whole = len - len % 128;
            let mut slow = src[..whole].to_vec();
            apply_mask_reference(&mut slow, key, 0);
            // The plain build, and the one this CPU runs (AVX2 where present).
            for build in [extend_blocks_kernel, extend_blocks] {
                let mut dst = BytesMut::from(&b"head"[..]);
                assert_eq!(build(&mut dst, &src, key), whole);
                assert_eq!(&dst[..4], b"head");
                assert_eq!(&dst[4..], &slow[..], "len {len}");
            }
            // And through the public entry point, at every key phase.
            for offset in 0..4 {
                let mut all = BytesMut::new();
                extend_unmasked(&mut all, &src, key, offset);
                let mut slow = src.clone();
                apply_mask_reference(&mut slow, key, offset);
                assert_eq!(&all[..], &slow[..], "len {len} offset {offset}");
            }
        }
    }
}
