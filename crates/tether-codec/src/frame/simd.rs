//! The crate's one `unsafe` module: the masking loops of RFC 6455 §5.3 that need it (AVX2 builds chosen at run time, the unmasking copy into spare capacity), and `Utf8Bytes`, text (§5.6) read as `&str` without checking it again.
//!
//! The code is not hand-written SIMD: the same safe loops are compiled a second time with
//! AVX2 enabled, so LLVM vectorises them 32 bytes wide instead of 16. The unmasking copy also
//! writes into spare capacity and sets the length once (one `set_len`). `cargo bench --bench
//! codec_ab` measured what pays for the `unsafe` (see `BENCHMARKS.md`); the tests below check
//! every build against the byte loop.
#![allow(unsafe_code)]

use bytes::{Bytes, BytesMut};

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

/// Bytes that are known to be valid UTF-8: the payload of a text message.
///
/// Built only from text that was checked: by [`try_from_bytes`](Self::try_from_bytes), from a
/// `String` or `&str`, or by the decoder, which checks every byte of a message as it arrives.
/// So [`as_str`](Self::as_str) does not check again.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps bytes after checking they are UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }

    /// Wraps the payload of a text message the decoder has checked: `Utf8Validator` accepted
    /// every byte of it and its `finish` succeeded. The decoder is the only caller; the fuzz
    /// targets and the property tests check every text message it produces against `std`.
    pub(crate) fn validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// The text, in O(1).
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor above and below checked that the bytes are UTF-8 (or, for
        // `validated`, the decoder did), and `Bytes` never changes the bytes it points to.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The raw bytes, without copying.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Gives back the underlying buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The underlying buffer, to share it (an echo queued by reference).
    pub(crate) fn shared(&self) -> &Bytes {
        &self.0
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }
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

    #[test]
    fn utf8_bytes_read_back_what_was_checked() {
        let samples = ["", "ascii", "κόσμε", "𝄞 and 😀"];
        for t in samples {
            let via_bytes = Utf8Bytes::try_from_bytes(Bytes::from(t)).unwrap();
            let via_string = Utf8Bytes::from(t.to_string());
            let via_static = Utf8Bytes::from(t);
            let via_decoder = Utf8Bytes::validated(Bytes::from(t));
            for u in [via_bytes, via_string, via_static, via_decoder] {
                assert_eq!(u.as_str(), t);
                assert_eq!(u.as_str().as_bytes().as_ptr(), u.as_bytes().as_ptr());
            }
        }
        for bad in [&[0xFF][..], &[b'a', 0xCE], &[0xED, 0xA0, 0x80]] {
            assert!(Utf8Bytes::try_from_bytes(Bytes::copy_from_slice(bad)).is_err());
        }
    }
}
