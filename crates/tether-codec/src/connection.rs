//! The WebSocket connection state machine (RFC 6455 §5.4–§5.6, §6, §7): bytes in, events out; messages in, bytes out.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::close::{self, CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::{CapacityError, Error, ProtocolError, UsageError};
use crate::frame::header::FrameHeader;
use crate::frame::mask::{apply_mask, extend_unmasked};
use crate::frame::opcode::Opcode;
use crate::mask_source::MaskSource;
use crate::message::{Message, Outgoing, Utf8Bytes};
use crate::utf8::Utf8Validator;

/// Which end of the connection this is: it decides who masks (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receives masked frames, sends unmasked ones.
    Server,
    /// Sends masked frames, receives unmasked ones.
    Client,
}

/// Where the closing handshake stands (RFC 6455 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Data flows both ways.
    Open,
    /// We sent a Close frame and wait for the peer's.
    CloseSent,
    /// The closing handshake is over, failed, or the peer vanished: nothing more is read.
    Closed,
}

/// Something that happened on the connection, returned by [`Connection::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete data message.
    Message(Message),
    /// A ping; with `Config::auto_pong` its pong is already queued.
    Ping(Bytes),
    /// A pong (solicited or not).
    Pong(Bytes),
    /// The peer's Close frame. If we had not sent one, the reply is already queued.
    CloseReceived(Option<CloseFrame>),
    /// The last event: the connection is closed. `clean` is true when both Close frames were
    /// exchanged; `code` is the peer's code (1005 if it gave none), or 1006 when the stream
    /// ended without a Close frame.
    Closed {
        /// The close code.
        code: CloseCode,
        /// Whether the closing handshake completed.
        clean: bool,
    },
}

/// An event whose message payload is borrowed from the connection, returned by
/// [`Connection::poll_event_ref`]. The borrow ends at the next call on the connection, which
/// then frees the bytes: no reference count, no allocation per message.
#[derive(Debug, PartialEq, Eq)]
pub enum EventRef<'a> {
    /// A complete text message (UTF-8 checked).
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    /// Any other event (ping, pong, close), as [`Connection::poll_event`] returns it.
    Other(Event),
}

/// Buffers that held at most this much are kept for the next message. Larger ones go back to
/// the allocator, which hands the memory, still in cache, to the next connection that needs
/// it: with 200 peers sending 16 KiB each, keeping a buffer per peer made the unmasking copy
/// write to cold memory, and it cost three times as much (perf: 17.7 % of server CPU against
/// 6.0 %).
const RETAIN: usize = 4 * 1024;

/// Encoded frames at least this long are queued by reference rather than copied into the
/// output: one broadcast frame is then held once, not once per peer.
const SHARE_MIN: usize = 1024;

/// Received payloads at least this long are sent back on by reference. Below it, copying is
/// cheaper: the output stays one piece, which goes out by `send` rather than `writev`, and
/// the payload's reference count is not touched.
const SHARE_MESSAGE_MIN: usize = 8 * 1024;

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

/// The frame whose payload is arriving.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Header bytes at the start of `rbuf` (0 when `receive` took the header directly).
    header_len: usize,
    payload_len: usize,
    /// Payload bytes already checked (UTF-8 for text) and handed on.
    done: usize,
    /// Payload bytes already unmasked (`>= done`: `receive` may unmask as it copies).
    unmasked: usize,
    /// Whether this frame's payload is text to validate.
    text: bool,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Assembly {
    text: bool,
    /// Fragments so far; empty until the first fragment's payload is complete.
    data: BytesMut,
    /// Bytes declared so far, counting the frame in flight.
    declared: u64,
    /// The message is whole and lent out by `poll_event_ref`: drop it at the next call.
    lent: bool,
}

/// One WebSocket connection, either role, with no I/O of its own.
///
/// # Driving it
/// 1. Feed bytes read from the socket to [`receive`](Self::receive), then call
///    [`poll_event`](Self::poll_event) until it returns `None`.
/// 2. Queue messages with [`send`](Self::send) and [`close`](Self::close).
/// 3. Write [`pending_output`](Self::pending_output) to the socket and report what was written
///    with [`consume_output`](Self::consume_output).
/// 4. Stop reading when [`wants_read`](Self::wants_read) is false; once
///    [`is_finished`](Self::is_finished), close the socket (a server closes first, §7.1.1).
///    Call [`receive_eof`](Self::receive_eof) when the peer's stream ends.
///
/// Pongs and the reply to a Close are queued by the codec itself. A peer's violation
/// is returned once as `Err` from `poll_event` with its Close frame already queued; after it
/// the connection is closed and the error sticks.
///
/// Buffers are allocated as bytes arrive or are queued; small ones are kept between messages,
/// and [`shrink_buffers`](Self::shrink_buffers) frees them when the connection goes quiet.
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// Largest fill of each buffer since it was last empty: decides whether to keep it.
    rbuf_peak: usize,
    wbuf_peak: usize,
    /// Output pieces shared with other owners, written before `wbuf`.
    queue: VecDeque<Bytes>,
    /// Bytes in `queue`.
    queued: usize,
    frame: Option<InFrame>,
    /// Bytes at the front of `rbuf` lent out by `poll_event_ref`, freed at the next call.
    lent: usize,
    assembly: Option<Box<Assembly>>,
    utf8: Utf8Validator,
    /// The `Closed` event to report after `CloseReceived`.
    closed_event: Option<(CloseCode, bool)>,
    eof: bool,
    error: Option<Error>,
    /// Outgoing fragmented message in progress: its opcode and a validator for text.
    out_fragment: Option<(Opcode, Utf8Validator)>,
    masks: Option<Box<dyn MaskSource>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered_in", &self.rbuf.len())
            .field("pending_out", &self.pending_output_len())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Connection {
    // ---- construction and getters ----

    /// A server-side connection, after the opening handshake succeeded.
    pub fn server(config: Config) -> Result<Self, Error> {
        Self::new(Role::Server, config, None)
    }

    /// A client-side connection, masking its frames with keys from `masks`
    /// ([`OsRandom`](crate::OsRandom) outside tests).
    pub fn client(config: Config, masks: impl MaskSource + 'static) -> Result<Self, Error> {
        Self::new(Role::Client, config, Some(Box::new(masks)))
    }

    fn new(role: Role, config: Config, masks: Option<Box<dyn MaskSource>>) -> Result<Self, Error> {
        config.validate()?;
        Ok(Connection {
            role,
            config,
            state: State::Open,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            rbuf_peak: 0,
            wbuf_peak: 0,
            queue: VecDeque::new(),
            queued: 0,
            frame: None,
            lent: 0,
            assembly: None,
            utf8: Utf8Validator::new(),
            closed_event: None,
            eof: false,
            error: None,
            out_fragment: None,
            masks,
        })
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The error that failed the connection, if one did.
    pub fn error(&self) -> Option<Error> {
        self.error
    }

    /// Whether the peer may still send something we must read.
    pub fn wants_read(&self) -> bool {
        self.state != State::Closed
    }

    /// Whether output is waiting to be written.
    pub fn wants_write(&self) -> bool {
        self.pending_output_len() > 0
    }

    /// Closed and all output written: the socket can be closed now.
    pub fn is_finished(&self) -> bool {
        self.state == State::Closed && !self.wants_write()
    }

    /// Bytes received but not yet turned into events (a partial frame, mostly).
    pub fn buffered_input(&self) -> usize {
        self.rbuf.len() - self.lent
    }

    /// Frees what the last [`poll_event_ref`](Self::poll_event_ref) lent out.
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

    // ---- input ----

    /// Takes bytes read from the peer. Call [`poll_event`](Self::poll_event) until `None` before
    /// receiving more, or the buffer limit (one maximal frame) refuses them.
    ///
    /// Bytes arriving after the connection closed are dropped.
    pub fn receive(&mut self, data: &[u8]) -> Result<(), Error> {
        self.reclaim();
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.state == State::Closed || self.eof {
            return Ok(());
        }
        if self.rbuf.len() > self.config.max_frame_size + FrameHeader::MAX_LEN {
            return Err(UsageError::ReceiveBufferFull.into());
        }
        let mut data = data;
        // The next frame starts at `data`: take its header now, so that its payload is
        // unmasked while it is copied in (one pass over memory instead of two). A header that
        // fails a check is left for `poll_event` to report, in order.
        if self.frame.is_none() && self.rbuf.is_empty() {
            if let Ok(crate::Status::Complete((h, n))) = FrameHeader::decode(data) {
                // The header is not buffered: the frame's payload starts `rbuf`.
                if let Ok(f) = self.start_frame(h, 0) {
                    self.frame = Some(f);
                    self.rbuf.reserve(f.payload_len);
                    data = &data[n..];
                }
            }
        }
        if let Some(f) = self.frame.as_mut() {
            if let Some(key) = f.header.mask {
                if self.rbuf.len() == f.header_len + f.unmasked && f.unmasked < f.payload_len {
                    let k = (f.payload_len - f.unmasked).min(data.len());
                    extend_unmasked(&mut self.rbuf, &data[..k], key, f.unmasked);
                    f.unmasked += k;
                    data = &data[k..];
                }
            }
        }
        if !data.is_empty() {
            self.rbuf.extend_from_slice(data);
        }
        self.rbuf_peak = self.rbuf_peak.max(self.rbuf.len());
        Ok(())
    }

    /// Notes that the peer's byte stream ended.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// The next event, or `None` when more input is needed (or the connection is done).
    #[must_use = "events carry messages and errors that must be handled"]
    pub fn poll_event(&mut self) -> Option<Result<Event, Error>> {
        match self.poll_step(false)? {
            Ok(Step::Event(event)) => Some(Ok(event)),
            Ok(_) => None, // only `Event` is returned without borrowing
            Err(e) => Some(Err(e)),
        }
    }

    /// Like [`poll_event`](Self::poll_event), but a message's payload is lent rather than
    /// handed over: it stays in the connection's buffer until the next call on the
    /// connection. For handlers that read a message and let it go (parse, relay by copy),
    /// this saves the reference count and buffer bookkeeping of an owned [`Message`].
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
        let step = match self.poll_step(true)? {
            Ok(step) => step,
            Err(e) => return Some(Err(e)),
        };
        let (text, data) = match step {
            Step::Event(event) => return Some(Ok(EventRef::Other(event))),
            Step::Lent { text, start, len } => (text, &self.rbuf[start..start + len]),
            Step::LentAssembly { text } => match self.assembly.as_deref() {
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
                    if self.rbuf.is_empty() {
                        if self.rbuf_peak > RETAIN {
                            self.rbuf = BytesMut::new();
                        }
                        self.rbuf_peak = 0;
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
        let frame = match self.frame {
            Some(f) => f,
            None => match FrameHeader::decode(&self.rbuf)? {
                crate::Status::Partial => return Ok(Step::NeedMore),
                crate::Status::Complete((header, header_len)) => {
                    let f = self.start_frame(header, header_len)?;
                    self.frame = Some(f);
                    let whole = header_len + f.payload_len;
                    self.rbuf.reserve(whole.saturating_sub(self.rbuf.len()));
                    f
                }
            },
        };
        // Unmask and validate whatever part of the payload has arrived.
        let avail = (self.rbuf.len() - frame.header_len).min(frame.payload_len);
        if avail > frame.done {
            if let Some(key) = frame.header.mask {
                if avail > frame.unmasked {
                    let raw =
                        &mut self.rbuf[frame.header_len + frame.unmasked..frame.header_len + avail];
                    apply_mask(raw, key, frame.unmasked);
                }
            }
            if frame.text {
                self.utf8
                    .feed(&self.rbuf[frame.header_len + frame.done..frame.header_len + avail])?;
            }
            if let Some(f) = self.frame.as_mut() {
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
        if frame.header_len > 0 {
            self.rbuf.advance(frame.header_len);
        }
        let payload = self.rbuf.split_to(frame.payload_len).freeze();
        self.frame = None;
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
        if !data || !h.fin {
            return Ok(None);
        }
        self.frame = None;
        let whole = frame.header_len + frame.payload_len;
        let text = frame.text;
        if text {
            self.utf8.finish()?;
        }
        if h.opcode != Opcode::Continuation {
            if self.state != State::Open {
                self.rbuf.advance(whole); // we sent Close: data is no longer accepted (§5.5.1)
                return Ok(Some(Step::Continue));
            }
            self.lent = whole;
            return Ok(Some(Step::Lent {
                text,
                start: frame.header_len,
                len: frame.payload_len,
            }));
        }
        // The last fragment: append it and lend the assembly.
        let Some(a) = self.assembly.as_mut() else {
            return Err(ProtocolError::UnexpectedContinuation.into());
        };
        a.data
            .extend_from_slice(&self.rbuf[frame.header_len..whole]);
        a.lent = true;
        self.rbuf.advance(whole);
        if self.state != State::Open {
            self.assembly = None;
            return Ok(Some(Step::Continue));
        }
        Ok(Some(Step::LentAssembly { text }))
    }

    /// Checks a new header against the role, the limits and the message in progress.
    #[inline]
    fn start_frame(&mut self, h: FrameHeader, header_len: usize) -> Result<InFrame, Error> {
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame.into()),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame.into()),
            _ => {}
        }
        if h.rsv & !self.config.allowed_rsv_bits != 0 {
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
        match h.opcode {
            Opcode::Text | Opcode::Binary => {
                if self.assembly.is_some() {
                    return Err(ProtocolError::ExpectedContinuation.into());
                }
                text = h.opcode == Opcode::Text;
                self.check_message_size(h.payload_len)?;
                if !h.fin {
                    self.assembly = Some(Box::new(Assembly {
                        text,
                        data: BytesMut::new(),
                        declared: h.payload_len,
                        lent: false,
                    }));
                }
            }
            Opcode::Continuation => {
                let Some(a) = self.assembly.as_mut() else {
                    return Err(ProtocolError::UnexpectedContinuation.into());
                };
                let declared = a.declared + h.payload_len;
                text = a.text;
                self.check_message_size(declared)?;
                if let Some(a) = self.assembly.as_mut() {
                    a.declared = declared;
                }
            }
            Opcode::Close | Opcode::Ping | Opcode::Pong => {}
        }
        Ok(InFrame {
            header: h,
            header_len,
            payload_len,
            done: 0,
            unmasked: 0,
            text,
        })
    }

    fn check_message_size(&self, size: u64) -> Result<(), Error> {
        if size > self.config.max_message_size as u64 {
            let e = CapacityError::MessageTooLarge {
                size,
                max: self.config.max_message_size,
            };
            return Err(e.into());
        }
        Ok(())
    }

    /// Acts on a complete frame.
    fn finish_frame(&mut self, h: FrameHeader, payload: Bytes) -> Result<Option<Event>, Error> {
        match h.opcode {
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                let whole = if h.opcode == Opcode::Continuation || !h.fin {
                    let Some(a) = self.assembly.as_mut() else {
                        return Err(ProtocolError::UnexpectedContinuation.into());
                    };
                    a.data.extend_from_slice(&payload);
                    if !h.fin {
                        return Ok(None);
                    }
                    match self.assembly.take() {
                        Some(a) => (a.text, a.data.freeze()),
                        None => return Ok(None),
                    }
                } else {
                    (h.opcode == Opcode::Text, payload)
                };
                let (text, data) = whole;
                if text {
                    self.utf8.finish()?;
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
                    self.write_frame(Opcode::Pong, true, &payload)?;
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
                self.rbuf = BytesMut::new();
                self.assembly = None;
                self.closed_event = Some((code, true));
                Ok(Some(Event::CloseReceived(frame)))
            }
        }
    }

    /// Records a peer's violation: queues the Close it calls for and makes the error stick.
    fn fail(&mut self, e: Error) -> Error {
        if self.state == State::Open {
            if let Some(code) = e.close_code() {
                let mut payload = [0u8; 125];
                let reason = match e {
                    Error::Protocol(p) => error_reason(p),
                    _ => "message too big",
                };
                if let Ok(n) = close::encode_payload(code, reason, &mut payload) {
                    let _ = self.write_frame(Opcode::Close, true, &payload[..n]);
                }
            }
        }
        self.state = State::Closed;
        self.error = Some(e);
        self.rbuf = BytesMut::new();
        self.lent = 0;
        self.frame = None;
        self.assembly = None;
        self.utf8 = Utf8Validator::new();
        e
    }

    // ---- commands ----

    /// Queues a message, ping or pong.
    ///
    /// Fails with [`UsageError::Closed`] once a Close was sent or received, and with
    /// [`UsageError::FragmentOrder`] for a data message while a fragmented one is unfinished.
    pub fn send(&mut self, msg: Outgoing<'_>) -> Result<(), Error> {
        self.check_open()?;
        match msg {
            Outgoing::Text(t) => self.send_data(Opcode::Text, t.as_bytes()),
            Outgoing::Binary(b) => self.send_data(Opcode::Binary, b),
            Outgoing::Ping(p) => self.send_control(Opcode::Ping, p),
            Outgoing::Pong(p) => self.send_control(Opcode::Pong, p),
        }
    }

    /// Queues one fragment of a message (§5.4): `Text` or `Binary` first, then `Continuation`s;
    /// `fin` ends the message. Text fragments together must form UTF-8, each fragment may split
    /// a character.
    pub fn send_fragment(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        let mut state = match (opcode, self.out_fragment.take()) {
            (Opcode::Text | Opcode::Binary, None) => (opcode, Utf8Validator::new()),
            (Opcode::Continuation, Some(s)) => s,
            (_, prev) => {
                self.out_fragment = prev;
                return Err(UsageError::FragmentOrder.into());
            }
        };
        if state.0 == Opcode::Text {
            let ok = state.1.feed(payload).is_ok() && (!fin || state.1.clone().finish().is_ok());
            if !ok {
                self.out_fragment = (opcode == Opcode::Continuation).then_some(state);
                return Err(UsageError::FragmentOrder.into());
            }
        }
        self.write_frame(opcode, fin, payload)?;
        if !fin {
            self.out_fragment = Some(state);
        }
        Ok(())
    }

    /// Starts the closing handshake with `code` and a reason (cut to 123 bytes at a character
    /// boundary). Codes 1005, 1006, 1015 and unassigned ones are refused (§7.4.1).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.state != State::Open {
            return Err(UsageError::Closed.into());
        }
        let mut payload = [0u8; 125];
        let n = close::encode_payload(code, reason, &mut payload)?;
        self.write_frame(Opcode::Close, true, &payload[..n])?;
        self.state = State::CloseSent;
        Ok(())
    }

    /// Queues a frame encoded once for many connections (a broadcast). Server role only, since
    /// client frames each need their own mask.
    pub fn send_encoded(&mut self, frame: &EncodedFrame) -> Result<(), Error> {
        self.check_open()?;
        if self.role != Role::Server || self.out_fragment.is_some() {
            return Err(UsageError::FragmentOrder.into());
        }
        if frame.0.len() >= SHARE_MIN {
            self.push_shared(frame.0.clone());
        } else {
            self.wbuf.extend_from_slice(&frame.0);
            self.wbuf_peak = self.wbuf_peak.max(self.wbuf.len());
        }
        Ok(())
    }

    /// Queues a received message to send back or on (an echo, a relay).
    ///
    /// In the server role a payload of 8 KiB or more is not copied: the output holds a
    /// reference to the message's buffer. In the client role it is copied and masked.
    pub fn send_message(&mut self, msg: &Message) -> Result<(), Error> {
        self.check_open()?;
        let (opcode, payload) = match msg {
            Message::Text(t) => (Opcode::Text, &t.0),
            Message::Binary(b) => (Opcode::Binary, b),
        };
        if self.role == Role::Client || payload.len() < SHARE_MESSAGE_MIN {
            // Copying a small payload is cheaper than sharing it (an atomic count each way).
            return self.send_data(opcode, payload);
        }
        if self.out_fragment.is_some() {
            return Err(UsageError::FragmentOrder.into());
        }
        let (head, n) = encode_header(true, opcode, None, payload.len());
        self.wbuf.extend_from_slice(&head[..n]);
        self.push_shared(payload.clone());
        Ok(())
    }

    /// Appends a buffer to the output without copying it; what `wbuf` holds goes first.
    fn push_shared(&mut self, chunk: Bytes) {
        if !self.wbuf.is_empty() {
            let before = self.wbuf.split().freeze();
            self.queued += before.len();
            self.queue.push_back(before);
        }
        self.queued += chunk.len();
        self.queue.push_back(chunk);
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.state != State::Open {
            return Err(UsageError::Closed.into());
        }
        Ok(())
    }

    fn send_data(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Error> {
        if self.out_fragment.is_some() {
            return Err(UsageError::FragmentOrder.into());
        }
        self.write_frame(opcode, true, payload)
    }

    fn send_control(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > 125 {
            return Err(UsageError::ControlTooLong.into());
        }
        self.write_frame(opcode, true, payload)
    }

    /// Appends one frame to the output, masking it in the client role.
    fn write_frame(&mut self, opcode: Opcode, fin: bool, payload: &[u8]) -> Result<(), Error> {
        let mask = match (&mut self.masks, self.role) {
            (Some(src), Role::Client) => Some(src.mask_key()?),
            _ => None,
        };
        let (head, n) = encode_header(fin, opcode, mask, payload.len());
        self.wbuf.reserve(n + payload.len());
        self.wbuf.extend_from_slice(&head[..n]);
        let start = self.wbuf.len();
        self.wbuf.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.wbuf[start..], key, 0);
        }
        self.wbuf_peak = self.wbuf_peak.max(self.wbuf.len());
        Ok(())
    }

    // ---- output ----

    /// The next bytes to write to the peer: all that is pending, unless shared buffers
    /// ([`send_message`](Self::send_message), [`send_encoded`](Self::send_encoded)) were
    /// queued; then one piece at a time, so write while [`wants_write`](Self::wants_write), or
    /// use [`pending_output_vectored`](Self::pending_output_vectored).
    pub fn pending_output(&self) -> &[u8] {
        self.queue.front().map_or(&self.wbuf[..], |b| &b[..])
    }

    /// Fills `out` with the pending pieces in order, for one vectored write; returns how many.
    pub fn pending_output_vectored<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
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

    /// How many bytes are waiting to be written, over all pieces.
    pub fn pending_output_len(&self) -> usize {
        self.queued + self.wbuf.len()
    }

    /// Marks the first `n` pending bytes as written (they may span several pieces).
    pub fn consume_output(&mut self, mut n: usize) {
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
        if self.wbuf.is_empty() {
            // Keep a small buffer for the next message; give a big one back.
            if self.wbuf_peak > RETAIN {
                self.wbuf = BytesMut::new();
            }
            self.wbuf_peak = 0;
        }
    }

    /// Frees the input and output buffers if they hold nothing: call it when the connection
    /// goes quiet, so an idle connection owns no heap memory. (Buffers of up to 4 KiB are
    /// otherwise kept between messages to spare an allocation per message.)
    pub fn shrink_buffers(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
            self.rbuf_peak = 0;
        }
        if self.wbuf.is_empty() {
            self.wbuf = BytesMut::new();
            self.wbuf_peak = 0;
        }
        if self.queue.is_empty() {
            self.queue = VecDeque::new();
        }
    }
}

/// A frame header for a payload of `len` bytes, in a stack array, and its length.
fn encode_header(
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: usize,
) -> ([u8; FrameHeader::MAX_LEN], usize) {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len: len as u64,
    };
    let mut head = [0u8; FrameHeader::MAX_LEN];
    let n = header.encode(&mut head);
    (head, n)
}

fn error_reason(e: ProtocolError) -> &'static str {
    match e {
        ProtocolError::InvalidUtf8 => "invalid UTF-8",
        _ => "protocol error",
    }
}

/// A server frame encoded once, to queue on many connections with
/// [`Connection::send_encoded`] (a broadcast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame(Bytes);

impl EncodedFrame {
    /// Encodes a server (unmasked) frame for `msg`. Control payloads over 125 bytes are refused.
    pub fn server(msg: Outgoing<'_>) -> Result<EncodedFrame, Error> {
        let (opcode, payload) = match msg {
            Outgoing::Text(t) => (Opcode::Text, t.as_bytes()),
            Outgoing::Binary(b) => (Opcode::Binary, b),
            Outgoing::Ping(p) => (Opcode::Ping, p),
            Outgoing::Pong(p) => (Opcode::Pong, p),
        };
        if opcode.is_control() && payload.len() > 125 {
            return Err(UsageError::ControlTooLong.into());
        }
        let (head, n) = encode_header(true, opcode, None, payload.len());
        let mut buf = BytesMut::with_capacity(n + payload.len());
        buf.extend_from_slice(&head[..n]);
        buf.extend_from_slice(payload);
        Ok(EncodedFrame(buf.freeze()))
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}
