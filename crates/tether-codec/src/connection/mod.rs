//! The WebSocket connection (RFC 6455 §5–§7): its state, construction and getters; `decode`, `send` and `output` hold the rest.

use std::sync::Arc;

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
/// A quiet connection is 32 bytes and owns no heap memory (but its client masks, its
/// compression state, and an error that failed it): a server holds many of them idle.
pub struct Connection {
    /// The limits: one allocation shared by every connection built from the same `Arc`.
    config: Arc<Config>,
    /// Everything about bytes in flight, allocated at the first byte in or out and freed by
    /// `shrink_buffers` once all of it is empty again.
    io: Option<Box<Io>>,
    /// What few connections have: a client's mask source, permessage-deflate, an error.
    ext: Option<Box<Ext>>,
    /// The `Closed` event to report after `CloseReceived`.
    closed_event: Option<(CloseCode, bool)>,
    role: Role,
    state: State,
    eof: bool,
}

/// A connection's buffers and the state of the frames and messages in flight.
#[derive(Debug, Default)]
struct Io {
    rbuf: BytesMut,
    /// `rbuf` held more than `RETAIN` since it was last empty: give it back once it is.
    rbuf_big: bool,
    out: OutputQueue,
    frame: Option<InFrame>,
    /// Bytes at the front of `rbuf` lent out by `poll_event_ref`, freed at the next call.
    lent: usize,
    assembly: Option<Box<Assembly>>,
    utf8: Utf8Validator,
    /// Outgoing fragmented message in progress: its opcode and a validator for text.
    out_fragment: Option<(Opcode, Utf8Validator)>,
}

impl Io {
    /// A frame has begun: its header was taken, or bytes of it are buffered.
    fn mid_frame(&self) -> bool {
        self.frame.is_some() || !self.rbuf.is_empty()
    }

    /// Holds nothing that a fresh `Io` would not: it may be dropped.
    fn is_quiet(&self) -> bool {
        self.rbuf.is_empty()
            && self.out.len() == 0
            && self.frame.is_none()
            && self.assembly.is_none()
            && self.out_fragment.is_none()
            && self.utf8 == Utf8Validator::new()
    }
}

/// The rarer parts of a connection, boxed together so that a plaintext server connection
/// pays one pointer for all of them.
#[derive(Default)]
struct Ext {
    masks: Option<Box<dyn MaskSource>>,
    /// permessage-deflate, when negotiated.
    deflate: Option<Box<compress::DeflateState>>,
    /// The error that failed the connection: it sticks.
    error: Option<Error>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered_in", &self.buffered_input())
            .field("pending_out", &self.pending_output_len())
            .field("error", &self.error())
            .finish_non_exhaustive()
    }
}

impl Connection {
    // ---- construction and getters ----

    /// A server-side connection, after the opening handshake succeeded. `config` is a
    /// [`Config`], or an `Arc<Config>` that many connections share (a server's many
    /// connections then hold a pointer each, not a copy).
    pub fn server(config: impl Into<Arc<Config>>) -> Result<Self, Error> {
        Self::new(Role::Server, config.into(), None)
    }

    /// A client-side connection, masking its frames with keys from `masks`
    /// ([`OsRandom`](crate::OsRandom) outside tests).
    pub fn client(
        config: impl Into<Arc<Config>>,
        masks: impl MaskSource + 'static,
    ) -> Result<Self, Error> {
        let ext = Ext {
            masks: Some(Box::new(masks)),
            ..Ext::default()
        };
        Self::new(Role::Client, config.into(), Some(Box::new(ext)))
    }

    fn new(role: Role, config: Arc<Config>, ext: Option<Box<Ext>>) -> Result<Self, Error> {
        config.validate()?;
        Ok(Connection {
            config,
            io: None,
            ext,
            closed_event: None,
            role,
            state: State::Open,
            eof: false,
        })
    }

    /// The buffers and frames in flight, allocated on first use.
    #[inline]
    fn io_mut(&mut self) -> &mut Io {
        self.io.get_or_insert_with(Box::default)
    }

    /// The rarer parts, allocated on first use.
    fn ext_mut(&mut self) -> &mut Ext {
        self.ext.get_or_insert_with(Box::default)
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
        self.ext.as_ref().and_then(|x| x.error)
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
        self.io.as_ref().map_or(0, |io| io.rbuf.len() - io.lent)
    }

    /// Bytes of heap the input buffers hold: the frame being received and a fragmented
    /// message being reassembled. They grow with the bytes that arrive, not with what a
    /// header declares (see [`Config`]'s memory bound).
    pub fn buffered_capacity(&self) -> usize {
        self.io.as_ref().map_or(0, |io| {
            io.rbuf.capacity() + io.assembly.as_ref().map_or(0, |a| a.data.capacity())
        })
    }

    // ---- output ----

    /// The next bytes to write to the peer: all that is pending, unless shared buffers
    /// ([`send_message`](Self::send_message), [`send_encoded`](Self::send_encoded)) were
    /// queued; then one piece at a time, so write while [`wants_write`](Self::wants_write), or
    /// use [`pending_output_vectored`](Self::pending_output_vectored).
    pub fn pending_output(&self) -> &[u8] {
        self.io.as_ref().map_or(&[], |io| io.out.front())
    }

    /// Fills `out` with the pending pieces in order, for one vectored write; returns how many.
    #[must_use = "only that many slices of `out` were filled"]
    pub fn pending_output_vectored<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
        self.io.as_ref().map_or(0, |io| io.out.vectored(out))
    }

    /// How many bytes are waiting to be written, over all pieces.
    #[inline]
    pub fn pending_output_len(&self) -> usize {
        self.io.as_ref().map_or(0, |io| io.out.len())
    }

    /// Marks the first `n` pending bytes as written (they may span several pieces).
    pub fn consume_output(&mut self, n: usize) {
        if let Some(io) = self.io.as_deref_mut() {
            io.out.consume(n);
        }
    }

    /// Frees the input and output buffers if they hold nothing: call it when the connection
    /// goes quiet, so an idle connection owns no heap memory. (Buffers of up to 4 KiB, and
    /// the state they hang off, are otherwise kept between messages to spare an allocation
    /// per message.)
    pub fn shrink_buffers(&mut self) {
        let Some(io) = self.io.as_deref_mut() else {
            return;
        };
        if io.is_quiet() {
            self.io = None;
            return;
        }
        if io.rbuf.is_empty() {
            io.rbuf = BytesMut::new();
            io.rbuf_big = false;
        }
        io.out.shrink();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_connection_is_small() {
        // What a server holds per idle connection in the codec: a few words, no heap.
        let size = std::mem::size_of::<Connection>();
        assert!(size <= 32, "Connection is {size} bytes");
    }

    #[test]
    fn shrink_buffers_frees_the_state_of_a_quiet_connection() {
        let config = Arc::new(Config::default());
        let mut c = Connection::server(Arc::clone(&config)).unwrap();
        assert!(c.io.is_none(), "nothing allocated before the first byte");
        // A masked text frame "Hi" in two reads, then its echo.
        c.receive(&[0x81, 0x82, 0x37, 0xfa]).unwrap();
        assert_eq!(c.poll_event(), None);
        c.shrink_buffers();
        assert!(c.io.is_some(), "a frame in flight is kept");
        c.receive(&[0x21, 0x3d, 0x7f, 0x93]).unwrap();
        let Some(Ok(Event::Message(m))) = c.poll_event() else {
            panic!("no message");
        };
        c.send_message(&m).unwrap();
        c.shrink_buffers();
        assert!(c.io.is_some(), "pending output is kept");
        assert_eq!(c.pending_output(), b"\x81\x02Hi");
        c.consume_output(4);
        c.shrink_buffers();
        assert!(c.io.is_none() && c.ext.is_none());
        assert_eq!(
            Arc::strong_count(&config),
            2,
            "the config is shared, not copied"
        );
        // And it works on as before.
        c.receive(&[0x89, 0x80, 1, 2, 3, 4]).unwrap();
        assert_eq!(c.poll_event(), Some(Ok(Event::Ping(Bytes::new()))));
        assert_eq!(c.pending_output(), b"\x8a\x00");
    }
}
