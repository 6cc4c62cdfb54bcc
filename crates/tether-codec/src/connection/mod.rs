//! The WebSocket connection (RFC 6455 §5–§7): its state, construction and getters; `decode`, `send` and `output` hold the rest.

use bytes::{Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::Error;
use crate::frame::opcode::Opcode;
use crate::mask_source::MaskSource;
use crate::message::Message;
use crate::utf8::Utf8Validator;

mod compress;
mod decode;
mod in_place;
mod output;
mod send;

use decode::{Assembly, InFrame};
use output::OutputQueue;

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
    /// A ping; with `Config::auto_pong` its pong is already queued (in place of an earlier
    /// pong not yet written, §5.5.3).
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
    /// `rbuf` held more than `RETAIN` since it was last empty: give it back once it is.
    rbuf_big: bool,
    out: OutputQueue,
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
    /// permessage-deflate, when negotiated (boxed: most connections have none).
    deflate: Option<Box<compress::DeflateState>>,
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
            rbuf_big: false,
            out: OutputQueue::default(),
            frame: None,
            lent: 0,
            assembly: None,
            utf8: Utf8Validator::new(),
            closed_event: None,
            eof: false,
            error: None,
            out_fragment: None,
            masks,
            deflate: None,
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

    /// Bytes of heap the input buffers hold: the frame being received and a fragmented
    /// message being reassembled. They grow with the bytes that arrive, not with what a
    /// header declares (see [`Config`]'s memory bound).
    pub fn buffered_capacity(&self) -> usize {
        self.rbuf.capacity() + self.assembly.as_ref().map_or(0, |a| a.data.capacity())
    }

    // ---- output ----

    /// The next bytes to write to the peer: all that is pending, unless shared buffers
    /// ([`send_message`](Self::send_message), [`send_encoded`](Self::send_encoded)) were
    /// queued; then one piece at a time, so write while [`wants_write`](Self::wants_write), or
    /// use [`pending_output_vectored`](Self::pending_output_vectored).
    pub fn pending_output(&self) -> &[u8] {
        self.out.front()
    }

    /// Fills `out` with the pending pieces in order, for one vectored write; returns how many.
    #[must_use = "only that many slices of `out` were filled"]
    pub fn pending_output_vectored<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
        self.out.vectored(out)
    }

    /// How many bytes are waiting to be written, over all pieces.
    pub fn pending_output_len(&self) -> usize {
        self.out.len()
    }

    /// Marks the first `n` pending bytes as written (they may span several pieces).
    pub fn consume_output(&mut self, n: usize) {
        self.out.consume(n);
    }

    /// Frees the input and output buffers if they hold nothing: call it when the connection
    /// goes quiet, so an idle connection owns no heap memory. (Buffers of up to 4 KiB are
    /// otherwise kept between messages to spare an allocation per message.)
    pub fn shrink_buffers(&mut self) {
        if self.rbuf.is_empty() {
            self.rbuf = BytesMut::new();
            self.rbuf_big = false;
        }
        self.out.shrink();
    }
}
