//! Receiving (RFC 6455 §5.1–§5.6, §7.1.5, §8.1): bytes in, unmasked and UTF-8 checked as they arrive, events out.

use bytes::{Buf, Bytes, BytesMut};

use super::{compress, Connection, Event, EventRef, Io, Role, State, RETAIN};
use crate::close::{self, CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::{CapacityError, Error, ProtocolError, UsageError};
use crate::frame::header::FrameHeader;
use crate::frame::mask::{apply_mask, extend_unmasked};
use crate::frame::opcode::Opcode;
use crate::message::{Message, Utf8Bytes};
use crate::utf8::Utf8Validator;

/// What one step of the decoder produced.
enum Step {
    Event(Event),
    /// A whole message left in place (borrowing mode) at `rbuf[start..start + len]`.
    Lent {
        text: bool,
        start: usize,
        len: usize,
    },
    /// A whole fragmented message left in the finished assembly (borrowing mode).
    LentAssembly {
        text: bool,
    },
    /// A frame was consumed without an event (a fragment, a dropped frame): go on.
    Continue,
    NeedMore,
}

/// Input buffers grow by doubling what they hold, or by this much if that is more, but never
/// past what the frame or message declared: memory follows the bytes that arrived.
const STEP: usize = 64 * 1024;

/// The frame whose payload is arriving.
#[derive(Debug, Clone, Copy)]
pub(super) struct InFrame {
    header: FrameHeader,
    /// Header bytes at the start of `rbuf` (0 when `receive` took the header directly).
    header_len: usize,
    payload_len: usize,
    /// Payload bytes already checked (UTF-8 for text) and handed on.
    done: usize,
    /// Payload bytes already unmasked (`>= done`: `receive` may unmask as it copies).
    unmasked: usize,
    /// Whether this frame's payload is text to validate as it arrives (not when compressed).
    text: bool,
    /// Part of a compressed message (RFC 7692): inflated when the frame is whole.
    pub(super) compressed: bool,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
pub(super) struct Assembly {
    text: bool,
    /// Its first frame had RSV1: every fragment is inflated into `data`.
    compressed: bool,
    /// Fragments so far; empty until the first fragment's payload is complete.
    pub(super) data: BytesMut,
    /// Bytes declared so far, counting the frame in flight.
    declared: u64,
    /// The message is whole and lent out by `poll_event_ref`: drop it at the next call.
    lent: bool,
}

impl Connection {
    /// Frees what the last [`poll_event_ref`](Self::poll_event_ref) lent out.
    #[inline(always)]
    pub(super) fn reclaim(&mut self) {
        // Called first by every input call: the common case, nothing lent, stays inline.
        if let Some(io) = self.io.as_deref_mut() {
            if io.lent > 0 || io.assembly.as_ref().is_some_and(|a| a.lent) {
                io.reclaim();
            }
        }
    }

    // ---- input ----

    /// Takes bytes read from the peer. Call [`poll_event`](Self::poll_event) until `None` before
    /// receiving more, or the buffer limit (one maximal frame) refuses them.
    ///
    /// Bytes arriving after the connection closed are dropped.
    pub fn receive(&mut self, data: &[u8]) -> Result<(), Error> {
        self.reclaim();
        if let Some(e) = self.error() {
            return Err(e);
        }
        if self.state == State::Closed || self.eof {
            return Ok(());
        }
        let max_frame_size = self.config.max_frame_size;
        if self.buffered_input() > max_frame_size + FrameHeader::MAX_LEN {
            return Err(UsageError::ReceiveBufferFull.into());
        }
        if data.is_empty() {
            return Ok(()); // and no buffers for nothing
        }
        let mut data = data;
        // The next frame starts at `data`: take its header now, so that its payload is
        // unmasked while it is copied in (one pass over memory instead of two). A header that
        // fails a check is left for `poll_event` to report, in order.
        if !self.io.as_deref().is_some_and(Io::mid_frame) {
            if let Ok(crate::Status::Complete((h, n))) = FrameHeader::decode(data) {
                // The header is not buffered: the frame's payload starts `rbuf`.
                if let Ok(f) = self.start_frame(h, 0) {
                    let io = self.io_mut();
                    io.frame = Some(f);
                    io.rbuf.reserve(f.payload_len.min(STEP));
                    data = &data[n..];
                }
            }
        }
        let io = self.io_mut();
        let need = io.rbuf.len().saturating_add(data.len());
        if need > io.rbuf.capacity() {
            let end = io.frame.map_or(need, |f| f.header_len + f.payload_len);
            grow(&mut io.rbuf, need, end);
        }
        if let Some(f) = io.frame.as_mut() {
            if let Some(key) = f.header.mask {
                if io.rbuf.len() == f.header_len + f.unmasked && f.unmasked < f.payload_len {
                    let k = (f.payload_len - f.unmasked).min(data.len());
                    extend_unmasked(&mut io.rbuf, &data[..k], key, f.unmasked);
                    f.unmasked += k;
                    data = &data[k..];
                }
            }
        }
        if !data.is_empty() {
            io.rbuf.extend_from_slice(data);
        }
        io.rbuf_big |= io.rbuf.len() > RETAIN;
        Ok(())
    }

    /// Notes that the peer's byte stream ended.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// The next event, or `None` when more input is needed (or the connection is done).
    #[must_use = "events carry messages and errors that must be handled"]
    pub fn poll_event(&mut self) -> Option<Result<Event, Error>> {
        if let Some(msg) = self.whole_message() {
            return Some(Ok(Event::Message(msg)));
        }
        match self.poll_step(false)? {
            Ok(Step::Event(event)) => Some(Ok(event)),
            Ok(_) => None, // only `Event` is returned without borrowing
            Err(e) => Some(Err(e)),
        }
    }

    /// Like [`poll_event`](Self::poll_event), but a message's payload is lent rather than
    /// handed over: it stays in the connection's buffer until the next call on the
    /// connection. For handlers that read a message and let it go (parse, relay by copy),
    /// this saves the reference count and buffer bookkeeping of an owned [`Message`]. A
    /// compressed message (permessage-deflate) is inflated into a buffer of its own and comes
    /// as `EventRef::Other(Event::Message(..))`.
    ///
    /// ```
    /// use tether_codec::{Config, Connection, EventRef};
    /// let mut server = Connection::server(Config::default()).unwrap();
    /// // A masked text frame "Hi" (RFC 6455 §5.7, key 37 fa 21 3d).
    /// server.receive(&[0x81, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x93]).unwrap();
    /// assert_eq!(server.poll_event_ref(), Some(Ok(EventRef::Text("Hi"))));
    /// assert_eq!(server.poll_event_ref(), None);
    /// ```
    #[must_use = "events carry messages and errors that must be handled"]
    pub fn poll_event_ref(&mut self) -> Option<Result<EventRef<'_>, Error>> {
        self.reclaim();
        // A whole binary frame is lent at once (text takes the general path, which checks it).
        if let Some(f) = self.whole_frame().filter(|f| !f.text) {
            let io = self.io_mut();
            io.frame = None;
            io.lent = f.payload_len;
            return Some(Ok(EventRef::Binary(&io.rbuf[..f.payload_len])));
        }
        let step = match self.poll_step(true)? {
            Ok(step) => step,
            Err(e) => return Some(Err(e)),
        };
        if let Step::Event(event) = step {
            return Some(Ok(EventRef::Other(event)));
        }
        let io = self.io.as_deref()?;
        let (text, data) = match step {
            Step::Event(_) => return None, // returned above
            Step::Lent { text, start, len } => (text, &io.rbuf[start..start + len]),
            Step::LentAssembly { text } => match io.assembly.as_deref() {
                Some(a) => (text, &a.data[..]),
                None => return None,
            },
            Step::Continue | Step::NeedMore => return None,
        };
        if !text {
            return Some(Ok(EventRef::Binary(data)));
        }
        match std::str::from_utf8(data) {
            Ok(t) => Some(Ok(EventRef::Text(t))),
            // Checked as it arrived; a failure here would be a bug, reported as the peer's.
            Err(_) => Some(Err(ProtocolError::InvalidUtf8.into())),
        }
    }

    /// The common case in one step, without the general decoder's state machine: `receive`
    /// took the header of an unfragmented, uncompressed data frame and unmasked its payload,
    /// which is all here, at the front of `rbuf`. Its text is not checked yet.
    #[inline]
    fn whole_frame(&self) -> Option<InFrame> {
        let io = self.io.as_deref()?;
        let f = io.frame?;
        let h = f.header;
        let simple = f.header_len == 0
            && f.done == 0
            && !f.compressed
            && h.fin
            && matches!(h.opcode, Opcode::Text | Opcode::Binary)
            && io.lent == 0
            && io.assembly.is_none()
            && self.state == State::Open
            && io.rbuf.len() >= f.payload_len
            && (h.mask.is_none() || f.unmasked >= f.payload_len);
        simple.then_some(f)
    }

    /// [`whole_frame`](Self::whole_frame)'s message, handed over. Text is checked whole by
    /// `std` (a failure takes the general path, which reports it).
    #[inline]
    fn whole_message(&mut self) -> Option<Message> {
        let f = self.whole_frame()?;
        let io = self.io_mut();
        if f.text && std::str::from_utf8(&io.rbuf[..f.payload_len]).is_err() {
            return None;
        }
        let payload = io.rbuf.split_to(f.payload_len).freeze();
        io.frame = None;
        Some(if f.text {
            Message::Text(Utf8Bytes::validated(payload))
        } else {
            Message::Binary(payload)
        })
    }

    /// Runs the decoder to the next event (`Step::Event`, or when `borrow` a `Step::Lent*`).
    fn poll_step(&mut self, borrow: bool) -> Option<Result<Step, Error>> {
        self.reclaim();
        if let Some((code, clean)) = self.closed_event.take() {
            return Some(Ok(Step::Event(Event::Closed { code, clean })));
        }
        if self.state == State::Closed {
            return None;
        }
        loop {
            match self.next_frame_event(borrow) {
                Ok(step @ (Step::Event(_) | Step::Lent { .. } | Step::LentAssembly { .. })) => {
                    return Some(Ok(step))
                }
                Ok(Step::Continue) => continue,
                Ok(Step::NeedMore) => {
                    if let Some(io) = self.io.as_deref_mut() {
                        if io.rbuf.is_empty() {
                            if io.rbuf_big {
                                io.rbuf = BytesMut::new();
                            }
                            io.rbuf_big = false;
                        }
                    }
                    if self.eof {
                        self.state = State::Closed;
                        return Some(Ok(Step::Event(Event::Closed {
                            code: CloseCode::ABNORMAL,
                            clean: false,
                        })));
                    }
                    return None;
                }
                Err(e) => return Some(Err(self.fail(e))),
            }
        }
    }

    /// Advances by at most one frame. With `borrow`, a whole message is left in place and
    /// described by `Step::Lent` or `Step::LentAssembly`.
    fn next_frame_event(&mut self, borrow: bool) -> Result<Step, Error> {
        let Some(io) = self.io.as_deref_mut() else {
            return Ok(Step::NeedMore); // nothing has arrived
        };
        let frame = match io.frame {
            Some(f) => f,
            None => match FrameHeader::decode(&io.rbuf)? {
                crate::Status::Partial => return Ok(Step::NeedMore),
                crate::Status::Complete((header, header_len)) => {
                    let f = self.start_frame(header, header_len)?;
                    let io = self.io_mut();
                    io.frame = Some(f);
                    let whole = header_len + f.payload_len;
                    // The header is in `rbuf` too: a 64 KiB frame still takes one step.
                    let step = whole.min(STEP + FrameHeader::MAX_LEN);
                    io.rbuf.reserve(step.saturating_sub(io.rbuf.len()));
                    f
                }
            },
        };
        let io = self.io_mut();
        // Unmask and validate whatever part of the payload has arrived.
        let avail = (io.rbuf.len() - frame.header_len).min(frame.payload_len);
        if avail > frame.done {
            if let Some(key) = frame.header.mask {
                if avail > frame.unmasked {
                    let raw =
                        &mut io.rbuf[frame.header_len + frame.unmasked..frame.header_len + avail];
                    apply_mask(raw, key, frame.unmasked);
                }
            }
            if frame.text {
                io.utf8
                    .feed(&io.rbuf[frame.header_len + frame.done..frame.header_len + avail])?;
            }
            if let Some(f) = io.frame.as_mut() {
                f.done = avail;
                f.unmasked = f.unmasked.max(avail);
            }
        }
        if avail < frame.payload_len {
            return Ok(Step::NeedMore);
        }
        if borrow {
            if let Some(step) = self.lend(frame)? {
                return Ok(step);
            }
        }
        let io = self.io_mut();
        if frame.header_len > 0 {
            io.rbuf.advance(frame.header_len);
        }
        let payload = io.rbuf.split_to(frame.payload_len).freeze();
        io.frame = None;
        if frame.compressed {
            return Ok(match self.finish_compressed(frame.header, &payload)? {
                Some(event) => Step::Event(event),
                None => Step::Continue,
            });
        }
        Ok(match self.finish_frame(frame.header, payload)? {
            Some(event) => Step::Event(event),
            None => Step::Continue,
        })
    }

    /// Lends a whole data message out of a complete frame; `None` when the frame must take
    /// the owned path (control frames, fragments before the last).
    #[inline]
    fn lend(&mut self, frame: InFrame) -> Result<Option<Step>, Error> {
        let h = frame.header;
        let data = matches!(
            h.opcode,
            Opcode::Text | Opcode::Binary | Opcode::Continuation
        );
        if !data || !h.fin || frame.compressed {
            return Ok(None);
        }
        let open = self.state == State::Open;
        let io = self.io_mut();
        io.frame = None;
        let whole = frame.header_len + frame.payload_len;
        let text = frame.text;
        if text {
            io.utf8.finish()?;
        }
        if h.opcode != Opcode::Continuation {
            if !open {
                io.rbuf.advance(whole); // we sent Close: data is no longer accepted (§5.5.1)
                return Ok(Some(Step::Continue));
            }
            io.lent = whole;
            return Ok(Some(Step::Lent {
                text,
                start: frame.header_len,
                len: frame.payload_len,
            }));
        }
        // The last fragment: append it and lend the assembly.
        let Some(a) = io.assembly.as_mut() else {
            return Err(ProtocolError::UnexpectedContinuation.into());
        };
        append(a, &io.rbuf[frame.header_len..whole]);
        a.lent = true;
        io.rbuf.advance(whole);
        if !open {
            io.assembly = None;
            return Ok(Some(Step::Continue));
        }
        Ok(Some(Step::LentAssembly { text }))
    }

    /// Checks a new header against the role, the limits and the message in progress.
    #[inline]
    pub(super) fn start_frame(
        &mut self,
        h: FrameHeader,
        header_len: usize,
    ) -> Result<InFrame, Error> {
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame.into()),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame.into()),
            _ => {}
        }
        let mut rsv = h.rsv;
        let first = matches!(h.opcode, Opcode::Text | Opcode::Binary);
        let compressed_first = rsv & compress::RSV1 != 0 && first && self.deflate_on();
        if compressed_first {
            rsv &= !compress::RSV1;
        } else if rsv & compress::RSV1 != 0 && self.deflate_on() {
            // RSV1 belongs to permessage-deflate: never on a continuation or a control frame.
            return Err(ProtocolError::ReservedBits.into());
        }
        if rsv & !self.config.allowed_rsv_bits != 0 {
            return Err(ProtocolError::ReservedBits.into());
        }
        if h.payload_len > self.config.max_frame_size as u64 {
            let e = CapacityError::FrameTooLarge {
                size: h.payload_len,
                max: self.config.max_frame_size,
            };
            return Err(e.into());
        }
        // Fits in usize: bounded by max_frame_size above.
        let payload_len = h.payload_len as usize;
        let mut text = false;
        let mut compressed = compressed_first;
        let assembly = self.io.as_deref_mut().and_then(|io| io.assembly.as_mut());
        match h.opcode {
            Opcode::Text | Opcode::Binary => {
                if assembly.is_some() {
                    return Err(ProtocolError::ExpectedContinuation.into());
                }
                text = h.opcode == Opcode::Text;
                self.check_message_size(h.payload_len)?;
                if !h.fin {
                    self.io_mut().assembly = Some(Box::new(Assembly {
                        text,
                        compressed,
                        data: BytesMut::new(),
                        declared: h.payload_len,
                        lent: false,
                    }));
                }
            }
            Opcode::Continuation => {
                let Some(a) = assembly else {
                    return Err(ProtocolError::UnexpectedContinuation.into());
                };
                let declared = a.declared + h.payload_len;
                text = a.text;
                compressed = a.compressed;
                check_message_size(&self.config, declared)?;
                a.declared = declared;
            }
            Opcode::Close | Opcode::Ping | Opcode::Pong => {}
        }
        Ok(InFrame {
            header: h,
            header_len,
            payload_len,
            done: 0,
            unmasked: 0,
            // A compressed payload is not text yet: its inflated bytes are checked instead.
            text: text && !compressed,
            compressed,
        })
    }

    fn check_message_size(&self, size: u64) -> Result<(), Error> {
        check_message_size(&self.config, size)
    }

    /// Acts on a complete frame.
    fn finish_frame(&mut self, h: FrameHeader, payload: Bytes) -> Result<Option<Event>, Error> {
        match h.opcode {
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                let io = self.io_mut();
                let whole = if h.opcode == Opcode::Continuation || !h.fin {
                    let Some(a) = io.assembly.as_mut() else {
                        return Err(ProtocolError::UnexpectedContinuation.into());
                    };
                    append(a, &payload);
                    if !h.fin {
                        return Ok(None);
                    }
                    match io.assembly.take() {
                        Some(a) => (a.text, a.data.freeze()),
                        None => return Ok(None),
                    }
                } else {
                    (h.opcode == Opcode::Text, payload)
                };
                let (text, data) = whole;
                if text {
                    io.utf8.finish()?;
                }
                if self.state != State::Open {
                    return Ok(None); // we sent Close: data is no longer accepted (§5.5.1)
                }
                let msg = if text {
                    Message::Text(Utf8Bytes::validated(data))
                } else {
                    Message::Binary(data)
                };
                Ok(Some(Event::Message(msg)))
            }
            Opcode::Ping => {
                if self.state != State::Open {
                    return Ok(None);
                }
                if self.config.auto_pong {
                    self.queue_pong(&payload)?;
                }
                Ok(Some(Event::Ping(payload)))
            }
            Opcode::Pong => Ok(Some(Event::Pong(payload))),
            Opcode::Close => {
                let frame = CloseFrame::parse(&payload)?;
                let code = frame.as_ref().map_or(CloseCode::NO_STATUS, |f| f.code);
                if self.state == State::Open {
                    // Answer once, echoing the code (§5.5.1).
                    let mut reply = [0u8; 125];
                    let n = match &frame {
                        Some(f) => close::encode_payload(f.code, "", &mut reply)?,
                        None => 0,
                    };
                    self.write_frame(Opcode::Close, true, &reply[..n])?;
                }
                self.state = State::Closed;
                let io = self.io_mut();
                io.rbuf = BytesMut::new();
                io.assembly = None;
                self.closed_event = Some((code, true));
                Ok(Some(Event::CloseReceived(frame)))
            }
        }
    }

    /// Acts on a complete frame of a compressed message (RFC 7692 §7.2.2): inflates it,
    /// within `max_message_size` as it grows, and checks text as it comes out.
    fn finish_compressed(
        &mut self,
        h: FrameHeader,
        payload: &[u8],
    ) -> Result<Option<Event>, Error> {
        let (text, data) = if h.opcode != Opcode::Continuation && h.fin {
            let mut out = BytesMut::new();
            self.inflate_frame(payload, true, &mut out)?;
            let text = h.opcode == Opcode::Text;
            if text {
                self.io_mut().utf8.feed(&out)?;
            }
            (text, out)
        } else {
            let Some(mut a) = self.io_mut().assembly.take() else {
                return Err(ProtocolError::UnexpectedContinuation.into());
            };
            let before = a.data.len();
            self.inflate_frame(payload, h.fin, &mut a.data)?;
            if a.text {
                self.io_mut().utf8.feed(&a.data[before..])?;
            }
            if !h.fin {
                self.io_mut().assembly = Some(a);
                return Ok(None);
            }
            (a.text, a.data)
        };
        if text {
            self.io_mut().utf8.finish()?;
        }
        if self.state != State::Open {
            return Ok(None); // we sent Close: data is no longer accepted (§5.5.1)
        }
        let data = data.freeze();
        let msg = if text {
            Message::Text(Utf8Bytes::validated(data))
        } else {
            Message::Binary(data)
        };
        Ok(Some(Event::Message(msg)))
    }

    /// Records a peer's violation: queues the Close it calls for and makes the error stick.
    pub(super) fn fail(&mut self, e: Error) -> Error {
        if self.state == State::Open {
            if let Some(code) = e.close_code() {
                let mut payload = [0u8; 125];
                let reason = match e {
                    Error::Protocol(p) => error_reason(p),
                    Error::Capacity(CapacityError::OutputFull) => "output not read",
                    _ => "message too big",
                };
                if let Ok(n) = close::encode_payload(code, reason, &mut payload) {
                    let _ = self.write_frame(Opcode::Close, true, &payload[..n]);
                }
            }
        }
        self.state = State::Closed;
        self.ext_mut().error = Some(e);
        if let Some(io) = self.io.as_deref_mut() {
            io.rbuf = BytesMut::new();
            io.lent = 0;
            io.frame = None;
            io.assembly = None;
            io.utf8 = Utf8Validator::new();
        }
        e
    }
}

fn check_message_size(config: &Config, size: u64) -> Result<(), Error> {
    if size > config.max_message_size as u64 {
        let e = CapacityError::MessageTooLarge {
            size,
            max: config.max_message_size,
        };
        return Err(e.into());
    }
    Ok(())
}

fn error_reason(e: ProtocolError) -> &'static str {
    match e {
        ProtocolError::InvalidUtf8 => "invalid UTF-8",
        _ => "protocol error",
    }
}

impl super::Io {
    /// [`Connection::reclaim`]'s work, when there is some.
    #[inline(never)]
    fn reclaim(&mut self) {
        if self.lent > 0 {
            if self.lent == self.rbuf.len() {
                // Nothing follows: start the buffer over rather than advance into it, so the
                // next `receive` needs no bookkeeping to reuse its space.
                self.rbuf.clear();
            } else {
                self.rbuf.advance(self.lent);
            }
            self.lent = 0;
        }
        if self.assembly.as_ref().is_some_and(|a| a.lent) {
            self.assembly = None;
        }
    }
}

/// Makes room in `buf` for `need` bytes: twice what it holds (or `STEP` more, if that is
/// more), but not past `end`, the size declared so far, unless `need` itself is. So a
/// header's claim costs at most one step, and what is held stays within about twice what
/// arrived.
///
/// The growth goes through `reserve`, that is `realloc`: a large buffer is moved by the
/// kernel's page tables (`mremap`), not copied into fresh pages. Allocating a new buffer and
/// copying at each doubling made a 1 MiB echo cost 3.4 times the server CPU (page faults and
/// copies; `benches/compare.sh`, 1 connection × 1 MiB).
fn grow(buf: &mut BytesMut, need: usize, end: usize) {
    let len = buf.len();
    if buf.try_reclaim(need - len) {
        return; // the buffer's own allocation has room once what was split off is gone
    }
    let target = len
        .saturating_mul(2)
        .max(len.saturating_add(STEP))
        .min(end)
        .max(need);
    buf.reserve(target - len);
}

/// Appends a fragment's payload to the message being reassembled.
fn append(a: &mut Assembly, payload: &[u8]) {
    let need = a.data.len() + payload.len();
    if need > a.data.capacity() {
        // `declared` counts the fragment in flight and is at most `max_message_size`.
        let end = usize::try_from(a.declared).unwrap_or(need);
        grow(&mut a.data, need, end);
    }
    a.data.extend_from_slice(payload);
}
