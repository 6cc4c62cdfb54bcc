//! The compression streams of permessage-deflate: one message in, raw deflate out, and back (RFC 7692 §7.2).
//!
//! [`Deflater`] compresses one whole message at a time (§7.2.1): raw deflate, a sync flush, and
//! the flush's trailing `00 00 ff ff` removed. [`Inflater`] puts the tail back and inflates a
//! message's payload as its frames arrive (§7.2.2), counting what it produces against a limit in
//! bounded steps, so a small message that would inflate to gigabytes fails after at most the
//! limit plus one step of output.
//!
//! Without context takeover (`*_no_context_takeover`, §7.1.1) a stream forgets its window after
//! each message. Both types then drop their deflate state at the end of a message and create it
//! again when the next one starts: an idle connection holds no compression memory at all.
//!
//! Both sides run on zlib-rs (pure Rust), on the Rust heap.
//!
//! # Memory
//! Heap held by one stream after a 126-byte message, level 6, counted by a counting global
//! allocator (`cargo run --release -p tether-codec --example deflate_memory`). The peak during
//! a message equals the idle figure with context takeover; without it, the idle figure is 0
//! and the peak is the same.
//!
//! | window bits | mem level | `Deflater` (takeover) | `Deflater` (no takeover) | `Inflater` (takeover) | `Inflater` (no takeover) |
//! |---|---|---|---|---|---|
//! | 9  | 8 | 245.1 KiB | 0 | 46.4 KiB | 0 |
//! | 9  | 1 | 134.0 KiB | 0 | 46.4 KiB | 0 |
//! | 12 | 8 | 259.1 KiB | 0 | 46.4 KiB | 0 |
//! | 12 | 1 | 148.0 KiB | 0 | 46.4 KiB | 0 |
//! | 15 | 8 | 371.1 KiB | 0 | 46.4 KiB | 0 |
//! | 15 | 1 | 260.0 KiB | 0 | 46.4 KiB | 0 |
//!
//! A compressor holds `4 * 2^window_bits` (window and chains) + 128 KiB (zlib-rs's hash table,
//! fixed: unlike zlib, the memory level does not size it) + `7 * 2^(mem_level + 6)` (symbol
//! and pending buffers) + about 3 KiB of state, whatever the level (0, 1, 6 and 9 measure the
//! same). So the floor is 134 KiB (window 9, mem level 1), not the 33 KiB that Python
//! `websockets` publishes for C zlib at 9/2. An inflater is 46.4 KiB whatever its window: zlib-rs always allocates a 32 KiB window (so it
//! also accepts a peer that reaches further back than it negotiated).
//!
//! Dropping the state costs time: compressing that 126-byte message took about 1.7–2.5 µs
//! with the context kept, 7.1–8.9 µs with zlib-rs's own reset between messages, and 9.4–12 µs
//! with the state dropped and re-created (release build, 2 shared cores, three runs). Most of
//! the price of no context takeover is resetting the 128 KiB hash table, which a reset pays
//! too; dropping adds about 30% to it and frees up to 371 KiB per idle connection. Inflating
//! it took 1.2–1.9 µs kept and 1.8–2.3 µs re-created. A broadcast compresses once for all its
//! connections, and a server that wants both can keep a per-thread pool of compressors.

use bytes::BytesMut;
use zlib_rs::{Deflate, DeflateConfig, Inflate, InflateFlush, Status};

use crate::error::{CapacityError, Error, ProtocolError, UsageError};

/// What a sync flush ends with, removed by the compressor and put back by the decompressor
/// (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A final, empty stored block (BFINAL 1, BTYPE 00, LEN 0, NLEN 0xffff; RFC 1951 §3.2.4).
const FINAL_EMPTY_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];

/// The most output produced between two checks of the limit: how far past its limit a
/// message may inflate before it is failed.
const STEP: usize = 64 * 1024;

/// The smallest output chunk, so that tiny messages do not call into the stream byte by byte.
const MIN_CHUNK: usize = 256;

/// The window sizes zlib can produce and permessage-deflate can name: 8 is declined, since
/// zlib silently compresses with 9 instead (RFC 7692 §7.1.2.1 allows 8 to 15).
const WINDOW_BITS: std::ops::RangeInclusive<u8> = 9..=15;

/// Compresses messages for one direction of a connection (RFC 7692 §7.2.1).
///
/// Make one per connection (or one per message stream sharing parameters, for a broadcast
/// without context takeover) with the negotiated window and `no_context_takeover`, then call
/// [`compress`](Self::compress) once per message: its output is the payload of the message's
/// frames, sent with RSV1 on the first.
///
/// ```
/// use bytes::BytesMut;
/// use tether_codec::deflate::Deflater;
/// let mut deflater = Deflater::new(15, 6, 8, false).unwrap();
/// let mut payload = BytesMut::new();
/// deflater.compress(b"Hello", &mut payload).unwrap();
/// assert_eq!(&payload[..], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]); // RFC 7692 §7.2.3.1
/// ```
pub struct Deflater {
    config: DeflateConfig,
    no_context_takeover: bool,
    /// The compressor; `None` until a message needs it, and again after each message without
    /// context takeover.
    stream: Option<Deflate>,
}

impl Deflater {
    /// A compressor with an LZ77 window of `2^window_bits` bytes (9..=15), a compression
    /// `level` (0 = stored, 1 = fastest, 9 = smallest), and a `mem_level` (1..=9, zlib's
    /// default 8) that sizes the symbol buffer (`7 * 2^(mem_level + 6)` bytes: 896 B at 1,
    /// 112 KiB at 8). With `no_context_takeover` each message is compressed on its own.
    ///
    /// Fails with [`UsageError::Config`] for a value out of range. Allocates nothing: the
    /// compressor is created by the first message.
    pub fn new(
        window_bits: u8,
        level: u32,
        mem_level: u8,
        no_context_takeover: bool,
    ) -> Result<Deflater, Error> {
        if !WINDOW_BITS.contains(&window_bits) {
            return Err(UsageError::Config("deflate window bits must be 9 to 15").into());
        }
        if level > 9 {
            return Err(UsageError::Config("deflate level must be 0 to 9").into());
        }
        if !(1..=9).contains(&mem_level) {
            return Err(UsageError::Config("deflate memory level must be 1 to 9").into());
        }
        let config = DeflateConfig {
            level: level as i32, // at most 9
            // Negative: a raw stream, no zlib header or checksum.
            window_bits: -i32::from(window_bits),
            mem_level: i32::from(mem_level),
            ..DeflateConfig::default()
        };
        Ok(Deflater {
            config,
            no_context_takeover,
            stream: None,
        })
    }

    /// Appends the compressed form of one whole message to `out` (RFC 7692 §7.2.1): raw
    /// deflate ended by a sync flush, without the flush's `00 00 ff ff`. An empty message
    /// becomes the single byte `00` (§7.2.3.6).
    ///
    /// Fails only if the deflate backend does ([`UsageError::Compressor`], a bug); `out` is
    /// then as it was, and the next message starts a fresh stream, which any peer can inflate.
    pub fn compress(&mut self, payload: &[u8], out: &mut BytesMut) -> Result<(), Error> {
        if payload.is_empty() {
            // An empty stored block. After a sync flush the stream is byte-aligned, so this is
            // valid between any two messages, and it leaves the window as it is: the
            // compressor need not run (zlib would refuse a second flush with nothing to add).
            out.extend_from_slice(&[0x00]);
            return self.end_message();
        }
        let start = out.len();
        let config = self.config;
        let stream = self
            .stream
            .get_or_insert_with(|| Deflate::new_with_config(config));
        if compress_flushed(stream, payload, out).is_err() || !out[start..].ends_with(&TAIL) {
            out.truncate(start);
            self.stream = None;
            return Err(UsageError::Compressor.into());
        }
        out.truncate(out.len() - TAIL.len());
        self.end_message()
    }

    /// Whether the compressor's state is held now (it is not between messages without context
    /// takeover).
    pub fn is_allocated(&self) -> bool {
        self.stream.is_some()
    }

    fn end_message(&mut self) -> Result<(), Error> {
        if self.no_context_takeover {
            self.stream = None;
        }
        Ok(())
    }
}

/// Runs `payload` through `stream` with a sync flush, appending everything it produces.
fn compress_flushed(stream: &mut Deflate, payload: &[u8], out: &mut BytesMut) -> Result<(), ()> {
    let mut input = payload;
    loop {
        // What deflate may add to what is left: stored blocks' headers and the flush.
        let chunk = (input.len() + input.len() / 8 + 64).clamp(MIN_CHUNK, STEP);
        let at = out.len();
        out.resize(at + chunk, 0);
        let (read, wrote) = (stream.total_in(), stream.total_out());
        let status = stream.compress(input, &mut out[at..], zlib_rs::DeflateFlush::SyncFlush);
        let read = (stream.total_in() - read) as usize;
        let wrote = (stream.total_out() - wrote) as usize;
        out.truncate(at + wrote);
        input = &input[read..];
        match status {
            // The flush is complete once all input is in and the output had room to spare.
            Ok(Status::Ok) if input.is_empty() && wrote < chunk => return Ok(()),
            Ok(Status::Ok) => {}
            // No progress possible: the flush was already complete when the output filled.
            Ok(Status::BufError) if input.is_empty() => return Ok(()),
            Ok(_) | Err(_) => return Err(()),
        }
    }
}

/// Inflates messages for one direction of a connection (RFC 7692 §7.2.2), bomb-proof.
///
/// Make one per connection with the window and `no_context_takeover` the peer compresses with,
/// then feed each compressed message's frame payloads to [`inflate`](Self::inflate) as they
/// arrive, `fin` on the last. The message's inflated size counts against the `limit` given with
/// each call as it grows, checked after every step of at most 64 KiB of output.
///
/// ```
/// use bytes::BytesMut;
/// use tether_codec::deflate::Inflater;
/// let mut inflater = Inflater::new(15, false).unwrap();
/// let mut message = BytesMut::new();
/// // "Hello" in two fragments (RFC 7692 §7.2.3.1, §7.2.3.2).
/// inflater.inflate(&[0xf2, 0x48, 0xcd], false, 1 << 20, &mut message).unwrap();
/// inflater.inflate(&[0xc9, 0xc9, 0x07, 0x00], true, 1 << 20, &mut message).unwrap();
/// assert_eq!(&message[..], b"Hello");
/// ```
pub struct Inflater {
    window_bits: u8,
    no_context_takeover: bool,
    /// The decompressor; `None` until a message needs it, and again after each message
    /// without context takeover or after an error.
    stream: Option<Inflate>,
    /// Bytes inflated so far for the message in progress.
    produced: usize,
    /// The peer's stream ended (BFINAL) within the message in progress.
    ended: bool,
}

impl Inflater {
    /// A decompressor for a peer compressing with an LZ77 window of at most `2^window_bits`
    /// bytes (9..=15; a peer that negotiated 8 is inflated with 9). With `no_context_takeover`
    /// each message is inflated on its own.
    ///
    /// Fails with [`UsageError::Config`] for a window out of range. Allocates nothing: the
    /// decompressor is created by the first message.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Result<Inflater, Error> {
        if !WINDOW_BITS.contains(&window_bits) {
            return Err(UsageError::Config("inflate window bits must be 9 to 15").into());
        }
        Ok(Inflater {
            window_bits,
            no_context_takeover,
            stream: None,
            produced: 0,
            ended: false,
        })
    }

    /// Appends to `out` what one fragment of a compressed message inflates to. Call it for each
    /// frame's payload in order, with `fin` on the message's last: the `00 00 ff ff` tail is
    /// then fed too (§7.2.2) and the next call starts a new message.
    ///
    /// Fails with [`CapacityError::MessageTooLarge`] (close code 1009) as soon as the message
    /// inflates to more than `limit` bytes, having produced at most `limit + 1`, and with
    /// [`ProtocolError::BadCompressedData`] (1007) on data that is not deflate. After an error
    /// `out` holds what it held before the call; the message and the connection are failed.
    ///
    /// A message may end its deflate stream with a final block (§7.2.3.4): what follows it in
    /// the message is ignored, as zlib does, and the next message starts a new stream.
    pub fn inflate(
        &mut self,
        compressed: &[u8],
        fin: bool,
        limit: usize,
        out: &mut BytesMut,
    ) -> Result<(), Error> {
        let start = out.len();
        let result = self.feed(compressed, limit, out).and_then(|()| {
            if !fin || self.ended {
                return Ok(());
            }
            self.feed(&TAIL, limit, out)?;
            if self.no_context_takeover {
                self.check_block_boundary(limit, out)
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            out.truncate(start);
            self.stream = None;
            self.produced = 0;
            self.ended = false;
            return Err(e);
        }
        if fin {
            self.produced = 0;
            if self.no_context_takeover || self.ended {
                // Without context takeover the window is not needed again; after a final block
                // the stream is over (§7.2.3.4) and the next message starts a new one.
                self.stream = None;
            }
            self.ended = false;
        }
        Ok(())
    }

    /// A message must end on a block boundary (§7.2.1: the sender flushes to one). Whether it
    /// did is known by feeding a final empty stored block, which must end the stream at once
    /// and produce nothing; a message cut inside a block reads it as more of that block
    /// instead, and fails here with 1007 rather than being delivered short. That ends the
    /// stream, so this runs only when no context is kept (the stream is dropped anyway).
    fn check_block_boundary(&mut self, limit: usize, out: &mut BytesMut) -> Result<(), Error> {
        let at = out.len();
        self.feed(&FINAL_EMPTY_BLOCK, limit, out)?;
        if !self.ended || out.len() != at {
            return Err(ProtocolError::BadCompressedData.into());
        }
        Ok(())
    }

    /// Whether the decompressor's state is held now (it is not between messages without
    /// context takeover).
    pub fn is_allocated(&self) -> bool {
        self.stream.is_some()
    }

    /// Inflates `input` into `out` in steps, checking the message's size after each.
    fn feed(&mut self, mut input: &[u8], limit: usize, out: &mut BytesMut) -> Result<(), Error> {
        if self.ended {
            // The deflate stream is over: what follows in its message is not part of it. RFC
            // 7692 §7.2.3.4 puts a `00` there so that the appended tail parses; zlib ignores
            // whatever it is, and so does this.
            return Ok(());
        }
        let window_bits = self.window_bits;
        let stream = self
            .stream
            .get_or_insert_with(|| Inflate::new(false, window_bits));
        // Small messages get small chunks; big ones grow to `STEP`.
        let mut step = input.len().saturating_mul(4).clamp(MIN_CHUNK, STEP);
        loop {
            // One byte past the limit is enough to know it was passed.
            let room = step.min(limit.saturating_sub(self.produced).saturating_add(1));
            let at = out.len();
            out.resize(at + room, 0);
            let (read, wrote) = (stream.total_in(), stream.total_out());
            let status = stream.decompress(input, &mut out[at..], InflateFlush::SyncFlush);
            let read = (stream.total_in() - read) as usize;
            let wrote = (stream.total_out() - wrote) as usize;
            out.truncate(at + wrote);
            input = &input[read..];
            self.produced = self.produced.saturating_add(wrote);
            if self.produced > limit {
                let size = self.produced as u64;
                return Err(CapacityError::MessageTooLarge { size, max: limit }.into());
            }
            match status {
                Ok(Status::StreamEnd) => {
                    self.ended = true;
                    return Ok(());
                }
                Ok(Status::Ok) if input.is_empty() && wrote < room => return Ok(()),
                Ok(Status::Ok) => {}
                // No progress: all input is in and no output is pending.
                Ok(Status::BufError) if input.is_empty() => return Ok(()),
                Ok(Status::BufError) | Err(_) => {
                    return Err(ProtocolError::BadCompressedData.into())
                }
            }
            step = step.saturating_mul(2).min(STEP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::CloseCode;
    use proptest::prelude::*;

    const LIMIT: usize = 1 << 30;

    /// Messages that repeat each other, as chat and ticker JSON does.
    fn messages() -> Vec<Vec<u8>> {
        (0..6)
            .map(|i| {
                format!(
                    r#"{{"type":"comment","room":"live-42","user":"viewer{i}","text":"hello everyone, this stream is great","likes":{}}}"#,
                    i * 7
                )
                .into_bytes()
            })
            .collect()
    }

    fn compress(d: &mut Deflater, msg: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        d.compress(msg, &mut out).unwrap();
        out
    }

    fn inflate(i: &mut Inflater, compressed: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        i.inflate(compressed, true, LIMIT, &mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_every_window_level_and_takeover() {
        for bits in 9..=15u8 {
            for level in [0, 1, 6, 9] {
                for no_takeover in [false, true] {
                    let mut d = Deflater::new(bits, level, 8, no_takeover).unwrap();
                    let mut i = Inflater::new(bits, no_takeover).unwrap();
                    let mut sizes = Vec::new();
                    for msg in messages() {
                        let c = compress(&mut d, &msg);
                        assert_eq!(inflate(&mut i, &c)[..], msg[..], "{bits} {level}");
                        sizes.push(c.len());
                        assert_eq!(d.is_allocated(), !no_takeover);
                        assert_eq!(i.is_allocated(), !no_takeover);
                    }
                    if level > 0 && !no_takeover {
                        // The window remembers the first message: the later ones shrink.
                        assert!(sizes[1] * 2 < sizes[0], "{bits} {level} {sizes:?}");
                    } else if level > 0 {
                        assert!(sizes[1] + 8 > sizes[0], "{bits} {level} {sizes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn rfc_7692_examples() {
        // §7.2.3.1: "Hello" in one block; §7.2.3.2: the second "Hello" refers to the first.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut d = Deflater::new(15, 6, 8, false).unwrap();
        assert_eq!(compress(&mut d, b"Hello")[..], hello);
        assert_eq!(
            compress(&mut d, b"Hello")[..],
            [0xf2, 0x00, 0x11, 0x00, 0x00]
        );
        let mut d = Deflater::new(15, 6, 8, true).unwrap();
        assert_eq!(compress(&mut d, b"Hello")[..], hello);
        assert_eq!(compress(&mut d, b"Hello")[..], hello);

        let mut i = Inflater::new(15, false).unwrap();
        assert_eq!(&inflate(&mut i, &hello)[..], b"Hello");
        assert_eq!(
            &inflate(&mut i, &[0xf2, 0x00, 0x11, 0x00, 0x00])[..],
            b"Hello"
        );
        // §7.2.3.3: stored block, no compression.
        let mut i = Inflater::new(15, true).unwrap();
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(&inflate(&mut i, &stored)[..], b"Hello");
        // §7.2.3.4: a final block, then a `00` that makes the appended tail an empty stored
        // block; what follows the final block is ignored, and the next message starts anew.
        let mut i = Inflater::new(15, false).unwrap();
        let last = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(&inflate(&mut i, &last)[..], b"Hello");
        assert!(!i.is_allocated());
        assert_eq!(&inflate(&mut i, &hello)[..], b"Hello");
        assert_eq!(&inflate(&mut i, &last[..7])[..], b"Hello"); // without the `00`
        let mut out = BytesMut::new();
        for part in [&last[..3], &last[3..7], &last[7..]] {
            i.inflate(part, false, LIMIT, &mut out).unwrap();
        }
        i.inflate(&[], true, LIMIT, &mut out).unwrap();
        assert_eq!(&out[..], b"Hello");
        // §7.2.3.5: two deflate blocks in one message.
        let two = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(&inflate(&mut i, &two)[..], b"Hello");
    }

    #[test]
    fn empty_message_is_one_zero_byte() {
        // §7.2.3.6, first, between and after messages, with and without takeover.
        for no_takeover in [false, true] {
            let mut d = Deflater::new(15, 6, 8, no_takeover).unwrap();
            let mut i = Inflater::new(15, no_takeover).unwrap();
            for msg in [&b""[..], b"Hello", b"", b"", b"Hello"] {
                let c = compress(&mut d, msg);
                if msg.is_empty() {
                    assert_eq!(c[..], [0x00]);
                }
                assert_eq!(&inflate(&mut i, &c)[..], msg);
            }
            assert!(!d.is_allocated() || !no_takeover);
        }
    }

    #[test]
    fn tail_removed_and_put_back() {
        let mut d = Deflater::new(15, 6, 8, false).unwrap();
        let msg = messages().concat();
        let c = compress(&mut d, &msg);
        assert!(!c.ends_with(&TAIL));
        // Fed whole with `fin`, the tail is added by the inflater.
        let mut i = Inflater::new(15, false).unwrap();
        assert_eq!(inflate(&mut i, &c)[..], msg[..]);
        // Fed with the tail already there and no `fin`, the same bytes come out.
        let mut i = Inflater::new(15, false).unwrap();
        let mut out = BytesMut::new();
        let mut with_tail = c.to_vec();
        with_tail.extend_from_slice(&TAIL);
        i.inflate(&with_tail, false, LIMIT, &mut out).unwrap();
        assert_eq!(out[..], msg[..]);
    }

    /// About 1 MiB of raw deflate that inflates to `segments` times 4 MiB of zeros, made
    /// without holding the output: once the window is all zeros, the sync-flushed segment
    /// for 4 MiB more zeros is valid again after itself.
    fn bomb(segments: usize) -> Vec<u8> {
        let zeros = vec![0u8; 4 << 20];
        let mut d = Deflater::new(15, 9, 8, false).unwrap();
        let mut out = compress(&mut d, &zeros[..64 * 1024]).to_vec();
        out.extend_from_slice(&TAIL);
        let mut segment = compress(&mut d, &zeros).to_vec();
        segment.extend_from_slice(&TAIL);
        for _ in 0..segments {
            out.extend_from_slice(&segment);
        }
        out.truncate(out.len() - TAIL.len());
        out
    }

    #[test]
    fn bomb_fails_at_the_limit_promptly() {
        let big = bomb(256); // >= 1 GiB inflated
        assert!(big.len() <= (1 << 20) + (64 << 10), "{}", big.len());
        for (limit, chunk) in [(16 << 20, big.len()), (1 << 20, 4096), (0, 1)] {
            let started = std::time::Instant::now();
            let mut i = Inflater::new(15, false).unwrap();
            let mut out = BytesMut::new();
            let mut err = None;
            let mut chunks = big.chunks(chunk).peekable();
            while let Some(c) = chunks.next() {
                if let Err(e) = i.inflate(c, chunks.peek().is_none(), limit, &mut out) {
                    err = Some(e);
                    break;
                }
            }
            let err = err.expect("the bomb must fail");
            assert_eq!(err.close_code(), Some(CloseCode(1009)));
            assert!(matches!(
                err,
                Error::Capacity(CapacityError::MessageTooLarge { size, max })
                    if max == limit && size as usize <= limit + 1
            ));
            // `size` is all it inflated; the buffer grew by doubling at most.
            assert!(out.len() <= limit && out.capacity() <= 2 * (limit + STEP));
            assert!(
                started.elapsed().as_millis() < 1000,
                "{:?}",
                started.elapsed()
            );
        }
        // Under a limit it fits in, the same stream inflates.
        let small = bomb(2);
        let mut i = Inflater::new(15, true).unwrap();
        let mut out = BytesMut::new();
        i.inflate(&small, true, 12 << 20, &mut out).unwrap();
        assert_eq!(out.len(), (64 << 10) + (8 << 20));
        assert!(out.iter().all(|&b| b == 0));
    }

    #[test]
    fn limit_is_exact() {
        let msg = messages().concat();
        let c = compress(&mut Deflater::new(15, 6, 8, false).unwrap(), &msg);
        let mut out = BytesMut::new();
        let mut i = Inflater::new(15, false).unwrap();
        i.inflate(&c, true, msg.len(), &mut out).unwrap();
        assert_eq!(out[..], msg[..]);
        let mut out = BytesMut::from(&b"kept"[..]);
        let mut i = Inflater::new(15, false).unwrap();
        let err = i.inflate(&c, true, msg.len() - 1, &mut out).unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode(1009)));
        assert_eq!(&out[..], b"kept");
        assert!(!i.is_allocated());
    }

    #[test]
    fn a_message_cut_inside_a_block_is_1007_at_its_end_without_context_takeover() {
        let text = messages().concat().repeat(4);
        let mut d = Deflater::new(15, 6, 8, true).unwrap();
        let whole = compress(&mut d, &text);
        let mut i = Inflater::new(15, true).unwrap();
        // Whole, it inflates; cut anywhere inside its block, it fails at its own end instead
        // of arriving short.
        assert_eq!(&inflate(&mut i, &whole)[..], &text[..]);
        for cut in [1, 5, whole.len() / 2, whole.len() - 3] {
            let mut out = BytesMut::from(&b"kept"[..]);
            let err = i.inflate(&whole[..cut], true, LIMIT, &mut out).unwrap_err();
            assert_eq!(err.close_code(), Some(CloseCode(1007)), "cut at {cut}");
            assert_eq!(&out[..], b"kept");
            // The next message starts clean.
            assert_eq!(&inflate(&mut i, &whole)[..], &text[..], "after cut {cut}");
        }
        // RFC 7692 §7.2.3.1's "Hello", and a message that ends in a final block, still pass.
        assert_eq!(
            &inflate(&mut i, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])[..],
            b"Hello"
        );
        assert_eq!(
            &inflate(&mut i, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])[..],
            b"Hello"
        );
    }

    #[test]
    fn corrupt_input_is_1007() {
        // Block type 3 is reserved (RFC 1951 §3.2.3); a stored block's length check fails.
        for bad in [
            &[0x07][..],
            &[0xff, 0xff, 0xff],
            &[0x00, 0x05, 0x00, 0x00, 0x00],
        ] {
            let mut i = Inflater::new(15, false).unwrap();
            let err = i
                .inflate(bad, true, LIMIT, &mut BytesMut::new())
                .unwrap_err();
            assert_eq!(err, Error::Protocol(ProtocolError::BadCompressedData));
            assert_eq!(err.close_code(), Some(CloseCode(1007)));
        }
        // A distance past the start of the output.
        let mut i = Inflater::new(15, false).unwrap();
        let err = i.inflate(
            &[0xf2, 0x00, 0x11, 0x00, 0x00],
            true,
            LIMIT,
            &mut BytesMut::new(),
        );
        assert_eq!(err.unwrap_err().close_code(), Some(CloseCode(1007)));
    }

    #[test]
    fn a_smaller_inflate_window_is_not_enforced() {
        // zlib-rs gives every inflater a 32 KiB window whatever its bits: a peer that reaches
        // further back than it negotiated is still inflated correctly, not failed.
        let mut x = 1u32;
        let head: Vec<u8> = (0..2000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 24) as u8
            })
            .collect();
        let mut d = Deflater::new(15, 6, 8, false).unwrap();
        let mut i = Inflater::new(9, false).unwrap();
        let first = compress(&mut d, &head);
        assert_eq!(inflate(&mut i, &first)[..], head[..]);
        let again = compress(&mut d, &head);
        assert!(again.len() < 50, "{}", again.len()); // one match 2000 bytes back
        assert_eq!(inflate(&mut i, &again)[..], head[..]);
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert!(Deflater::new(8, 6, 8, false).is_err());
        assert!(Deflater::new(16, 6, 8, false).is_err());
        assert!(Deflater::new(15, 10, 8, false).is_err());
        assert!(Deflater::new(15, 6, 0, false).is_err());
        assert!(Deflater::new(15, 6, 10, false).is_err());
        assert!(Inflater::new(8, false).is_err());
        assert!(Inflater::new(16, false).is_err());
        let d = Deflater::new(9, 0, 1, true).unwrap();
        assert!(!d.is_allocated());
    }

    /// One parameter set of a connection direction.
    fn params() -> impl Strategy<Value = (u8, u32, u8, bool)> {
        (9..=15u8, 0..=9u32, 1..=9u8, any::<bool>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn compress_then_inflate_in_any_chunks_is_identity(
            (bits, level, mem, no_takeover) in params(),
            msgs in prop::collection::vec(
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..600),
                    prop::collection::vec(prop::sample::select(b"ab {}\":,0123".to_vec()), 0..3000),
                ],
                1..5,
            ),
            cuts in prop::collection::vec(1..200usize, 1..8),
        ) {
            let mut d = Deflater::new(bits, level, mem, no_takeover).unwrap();
            let mut i = Inflater::new(bits, no_takeover).unwrap();
            for msg in &msgs {
                let c = compress(&mut d, msg);
                let mut out = BytesMut::new();
                let mut rest = &c[..];
                let mut k = 0;
                loop {
                    let n = cuts[k % cuts.len()].min(rest.len());
                    k += 1;
                    let fin = n == rest.len();
                    i.inflate(&rest[..n], fin, msg.len(), &mut out).unwrap();
                    rest = &rest[n..];
                    if fin {
                        break;
                    }
                }
                prop_assert_eq!(&out[..], &msg[..]);
            }
        }
    }
}
