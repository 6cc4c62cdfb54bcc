//! `OutputQueue`: the bytes a connection has queued for the peer (RFC 6455 §5.2 frames, in order), copied or shared.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::RETAIN;

/// Pending output from which an unwritten automatic pong is replaced rather than followed by
/// another: a peer that pings without reading holds about this much, not one pong per ping.
pub(super) const PONG_COALESCE_AT: usize = 4096;
use crate::frame::mask::apply_mask;

/// The frames waiting to be written, in order: pieces shared with other owners (broadcast
/// frames, large echoed payloads) in `queue`, then the frames copied into `wbuf`.
#[derive(Debug, Default)]
pub(super) struct OutputQueue {
    wbuf: BytesMut,
    /// `wbuf` held more than `RETAIN` since it was last empty: give it back once it is.
    big: bool,
    /// Output pieces shared with other owners, written before `wbuf`.
    queue: VecDeque<Bytes>,
    /// Bytes in `queue`.
    queued: usize,
    /// Where the automatic pong not yet written at all starts in `wbuf`, if `pong_len > 0`.
    pong_at: usize,
    /// Its length (a pong frame is at most 14 + 125 bytes); 0 when there is none.
    pong_len: u8,
}

impl OutputQueue {
    /// How many bytes are waiting, over all pieces.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.queued + self.wbuf.len()
    }

    /// The next piece to write: the front shared piece, or the copied frames.
    #[inline]
    pub(super) fn front(&self) -> &[u8] {
        self.queue.front().map_or(&self.wbuf[..], |b| &b[..])
    }

    /// Fills `out` with the pending pieces in order; returns how many.
    #[inline]
    pub(super) fn vectored<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
        let pieces = self
            .queue
            .iter()
            .map(|b| &b[..])
            .chain(std::iter::once(&self.wbuf[..]));
        let mut n = 0;
        for (slot, piece) in out.iter_mut().zip(pieces.filter(|p| !p.is_empty())) {
            *slot = std::io::IoSlice::new(piece);
            n += 1;
        }
        n
    }

    /// Drops the first `n` pending bytes (they may span several pieces).
    #[inline]
    pub(super) fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            self.queued -= k;
            n -= k;
            if front.is_empty() {
                self.queue.pop_front();
            }
        }
        let n = n.min(self.wbuf.len());
        self.wbuf.advance(n);
        if self.pong_at >= n {
            self.pong_at -= n;
        } else {
            self.pong_len = 0; // written, or partly: it can no longer be replaced
        }
        if self.wbuf.is_empty() {
            // Keep a small buffer for the next message; give a big one back.
            if self.big {
                self.wbuf = BytesMut::new();
            }
            self.big = false;
        }
    }

    /// Appends bytes by copying them.
    #[inline]
    pub(super) fn extend(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
        self.big |= self.wbuf.len() > RETAIN;
    }

    /// Appends a frame: its encoded header, then its payload, masked with `mask` if given.
    #[inline]
    pub(super) fn push_frame(&mut self, head: &[u8], payload: &[u8], mask: Option<[u8; 4]>) {
        self.wbuf.reserve(head.len() + payload.len());
        self.wbuf.extend_from_slice(head);
        let start = self.wbuf.len();
        self.wbuf.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.wbuf[start..], key, 0);
        }
        self.big |= self.wbuf.len() > RETAIN;
    }

    /// Queues an automatic pong. Once [`PONG_COALESCE_AT`] bytes wait (the peer is not
    /// reading), a pong still wholly unwritten is replaced by this one (RFC 6455 §5.5.3 lets
    /// only the most recent ping be answered): in place when both are the same size, else by
    /// cutting it off the end if nothing was queued after it. Below that every ping gets its
    /// own pong, as peers expect (Autobahn 2.10). Returns false, queuing nothing, if the
    /// output is still at `max` without the old pong.
    pub(super) fn push_pong(
        &mut self,
        head: &[u8],
        payload: &[u8],
        mask: Option<[u8; 4]>,
        max: usize,
    ) -> bool {
        let len = head.len() + payload.len();
        let (at, old) = (self.pong_at, usize::from(self.pong_len));
        let tail = match old {
            0 => None,
            _ if self.len() < PONG_COALESCE_AT => None,
            _ if old == len => {
                let frame = &mut self.wbuf[at..at + len];
                frame[..head.len()].copy_from_slice(head);
                frame[head.len()..].copy_from_slice(payload);
                if let Some(key) = mask {
                    apply_mask(&mut frame[head.len()..], key, 0);
                }
                return true;
            }
            _ if at + old == self.wbuf.len() => Some(at),
            _ => None,
        };
        let freed = tail.map_or(0, |at| self.wbuf.len() - at);
        if self.len() - freed >= max {
            return false;
        }
        if let Some(at) = tail {
            self.wbuf.truncate(at);
        }
        self.pong_at = self.wbuf.len();
        // A pong frame is at most 14 + 125 bytes (the decoder refuses longer pings).
        self.pong_len = u8::try_from(len).unwrap_or(0);
        self.push_frame(head, payload, mask);
        true
    }

    /// Appends a buffer without copying it; what was copied before goes first.
    #[inline]
    pub(super) fn push_shared(&mut self, chunk: Bytes) {
        if !self.wbuf.is_empty() {
            self.pong_len = 0;
            let before = self.wbuf.split().freeze();
            self.queued += before.len();
            self.queue.push_back(before);
        }
        self.queued += chunk.len();
        self.queue.push_back(chunk);
    }

    /// Frees the buffers if they hold nothing.
    pub(super) fn shrink(&mut self) {
        if self.wbuf.is_empty() {
            self.wbuf = BytesMut::new();
            self.big = false;
        }
        if self.queue.is_empty() {
            self.queue = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut OutputQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while q.len() > 0 {
            let k = q.front().len().min(step);
            out.extend_from_slice(&q.front()[..k]);
            q.consume(k);
        }
        out
    }

    #[test]
    fn copied_and_shared_pieces_keep_their_order() {
        let mut q = OutputQueue::default();
        q.extend(b"ab");
        q.push_shared(Bytes::from_static(b"cd"));
        q.push_frame(&[0x81, 0x01], b"e", None);
        q.push_shared(Bytes::from_static(b"fg"));
        assert_eq!(q.len(), 9);
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let n = q.vectored(&mut slices);
        let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"abcd\x81\x01efg");
        assert_eq!(drain(&mut q, 3), b"abcd\x81\x01efg");
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn consume_spans_pieces_and_masks_payloads() {
        let mut q = OutputQueue::default();
        q.push_shared(Bytes::from_static(b"xy"));
        q.push_frame(&[0x82, 0x84, 1, 2, 3, 4], &[1, 2, 3, 4], Some([1, 2, 3, 4]));
        q.consume(3);
        assert_eq!(q.front(), &[0x84, 1, 2, 3, 4, 0, 0, 0, 0]);
        q.consume(100);
        assert_eq!((q.len(), q.front()), (0, &[][..]));
    }
}
