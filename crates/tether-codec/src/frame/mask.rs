//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, resumable at any offset.
//!
//! The loops are safe code the compiler vectorises: with SSE2 everywhere, and with AVX2 where
//! the CPU has it. `frame::simd`, the crate's one `unsafe` module, picks the build at run time
//! and owns the unmasking copy, which writes into spare capacity.

/// XORs `buf` with `key`, as the bytes at positions `offset..offset + buf.len()` of a payload.
///
/// `offset` is how many payload bytes were already unmasked, so a payload that arrives in
/// pieces can be unmasked piece by piece.
///
/// ```
/// use tether_codec::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut whole = *b"Hello";
/// apply_mask(&mut whole, key, 0);
/// let mut split = *b"Hello";
/// let (a, b) = split.split_at_mut(2);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 2);
/// assert_eq!(whole, split);
/// assert_eq!(whole, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let k = rotate(key, offset);
    let mut done = 0;
    if buf.len() >= 32 {
        done = match super::simd::xor_blocks(buf, k) {
            Some(n) => n,
            None => xor_blocks(buf, k),
        };
    }
    // Whole blocks are a multiple of 4 bytes, so the key phase is unchanged here.
    xor_tail(&mut buf[done..], k);
}

/// The key as seen from payload position `offset`.
#[inline(always)]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    let r = offset & 3;
    [key[r], key[(r + 1) & 3], key[(r + 2) & 3], key[(r + 3) & 3]]
}

/// XORs the whole 32-byte blocks at the start of `buf`; returns how many bytes that was.
///
/// LLVM turns the inner loop into vector XORs: SSE2 here, AVX2 in [`super::simd`], which
/// inlines this same code into a function built for AVX2.
#[inline(always)]
pub(super) fn xor_blocks(buf: &mut [u8], k: [u8; 4]) -> usize {
    let wide: [u8; 32] = repeat_key(k);
    let whole = buf.len() - buf.len() % 32;
    for block in buf[..whole].chunks_exact_mut(32) {
        for (b, m) in block.iter_mut().zip(wide.iter()) {
            *b ^= m;
        }
    }
    whole
}

/// `k` repeated to fill `N` bytes (`N` a multiple of 4): one vector's worth of key.
#[inline(always)]
pub(super) fn repeat_key<const N: usize>(k: [u8; 4]) -> [u8; N] {
    let mut wide = [0u8; N];
    for (i, w) in wide.iter_mut().enumerate() {
        *w = k[i & 3];
    }
    wide
}

/// XORs a short tail a word at a time, then byte by byte.
#[inline(always)]
fn xor_tail(buf: &mut [u8], k: [u8; 4]) {
    let word = u32::from_ne_bytes(k);
    let mut words = buf.chunks_exact_mut(4);
    for w in &mut words {
        let v = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) ^ word;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (b, m) in words.into_remainder().iter_mut().zip(k.iter()) {
        *b ^= m;
    }
}

/// Appends `src` to `dst` unmasked, as the payload bytes at `offset..` of a frame.
///
/// Equal to appending and then calling [`apply_mask`] on the new bytes, but a long payload
/// crosses memory once: each 128-byte block is XORed in registers on its way to `dst`
/// (`frame::simd::extend_blocks`).
pub fn extend_unmasked(dst: &mut bytes::BytesMut, src: &[u8], key: [u8; 4], offset: usize) {
    if src.len() <= 4096 {
        // Small enough to stay in L1: copying, then unmasking in place, is quicker.
        let start = dst.len();
        dst.extend_from_slice(src);
        apply_mask(&mut dst[start..], key, offset);
        return;
    }
    let k = rotate(key, offset);
    let done = super::simd::extend_blocks(dst, src, k);
    // Whole blocks are a multiple of 4 bytes, so the key phase is unchanged here.
    let start = dst.len();
    dst.extend_from_slice(&src[done..]);
    xor_tail(&mut dst[start..], k);
}

/// The plain byte loop of RFC 6455 §5.3, kept as the reference the fast path is tested against.
pub fn apply_mask_reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_equals_reference_for_every_length_and_offset() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            for offset in 0..8 {
                let mut fast = data[..len].to_vec();
                let mut slow = data[..len].to_vec();
                apply_mask(&mut fast, key, offset);
                apply_mask_reference(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn extend_unmasked_equals_copy_then_mask() {
        let key = [9, 8, 7, 6];
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 13) as u8).collect();
        for (len, offset) in [
            (0, 0),
            (1, 3),
            (4096, 1),
            (4097, 2),
            (4099, 3),
            (4224, 0),
            (5000, 7),
        ] {
            let mut fast = bytes::BytesMut::from(&b"head"[..]);
            extend_unmasked(&mut fast, &data[..len], key, offset);
            let mut slow = data[..len].to_vec();
            apply_mask_reference(&mut slow, key, offset);
            assert_eq!(&fast[..4], b"head");
            assert_eq!(&fast[4..], &slow[..], "len {len} offset {offset}");
        }
    }

    #[test]
    fn masking_twice_is_identity() {
        let mut data = b"the quick brown fox jumps over the lazy dog, twice over".to_vec();
        let orig = data.clone();
        apply_mask(&mut data, [1, 2, 3, 4], 5);
        assert_ne!(data, orig);
        apply_mask(&mut data, [1, 2, 3, 4], 5);
        assert_eq!(data, orig);
    }
}
