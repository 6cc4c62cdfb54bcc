//! Sending (RFC 6455 §5.1–§5.5, §7.1.2): messages, fragments, control frames and the Close, queued as frames.

use super::compress::{self, Broadcast};
use super::{Connection, Role, State};
use crate::close::{self, CloseCode};
use crate::encoded::EncodedFrame;
use crate::error::{CapacityError, Error, UsageError};
use crate::frame::header::{encode_header, encode_header_rsv};
use crate::frame::opcode::Opcode;
use crate::message::{Message, Outgoing};
use crate::utf8::Utf8Validator;

/// Encoded frames at least this long are queued by reference rather than copied into the
/// output: one broadcast frame is then held once, not once per peer.
const SHARE_MIN: usize = 1024;

/// Received payloads at least this long are sent back on by reference. Below it, copying is
/// cheaper: the output stays one piece, which goes out by `send` rather than `writev`, and
/// the payload's reference count is not touched.
const SHARE_MESSAGE_MIN: usize = 8 * 1024;

impl Connection {
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
    /// a character: [`UsageError::InvalidUtf8`] otherwise. A fragment refused for any reason
    /// leaves the message where it was.
    pub fn send_fragment(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        let (first, mut utf8) = match (opcode, self.out_fragment()) {
            (Opcode::Text | Opcode::Binary, None) => (opcode, Utf8Validator::new()),
            (Opcode::Continuation, Some(started)) => started,
            _ => return Err(UsageError::FragmentOrder.into()),
        };
        if first == Opcode::Text {
            let ok = utf8.feed(payload).is_ok() && (!fin || utf8.finish().is_ok());
            if !ok {
                return Err(UsageError::InvalidUtf8.into());
            }
        }
        self.write_frame(opcode, fin, payload)?;
        self.io_mut().out_fragment = (!fin).then_some((first, utf8));
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

    /// Queues a frame encoded once for many connections (a broadcast). Server role only
    /// ([`UsageError::WrongRole`] otherwise), since client frames each need their own mask.
    pub fn send_encoded(&mut self, frame: &EncodedFrame) -> Result<(), Error> {
        self.check_open()?;
        if self.role != Role::Server {
            return Err(UsageError::WrongRole.into());
        }
        if self.out_fragment().is_some() {
            return Err(UsageError::FragmentOrder.into());
        }
        self.check_room()?;
        if let Some((opcode, payload)) = frame.data_payload() {
            match self.broadcast_compressed(frame)? {
                Broadcast::Shared(bytes) => {
                    self.io_mut().out.push_shared(bytes);
                    return Ok(());
                }
                Broadcast::Own => return self.send_data(opcode, payload),
                Broadcast::AsIs => {}
            }
        }
        let out = &mut self.io_mut().out;
        if frame.as_bytes().len() >= SHARE_MIN {
            out.push_shared(frame.shared());
        } else {
            out.extend(frame.as_bytes());
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
            Message::Text(t) => (Opcode::Text, t.shared()),
            Message::Binary(b) => (Opcode::Binary, b),
        };
        if self.role == Role::Client || payload.len() < SHARE_MESSAGE_MIN || self.deflate_on() {
            // Copying a small payload is cheaper than sharing it (an atomic count each way).
            return self.send_data(opcode, payload);
        }
        if self.out_fragment().is_some() {
            return Err(UsageError::FragmentOrder.into());
        }
        let (head, n) = encode_header(true, opcode, None, payload.len());
        self.check_room()?;
        let out = &mut self.io_mut().out;
        out.extend(&head[..n]);
        out.push_shared(payload.clone());
        Ok(())
    }

    /// The outgoing fragmented message in progress, if one is.
    #[inline]
    fn out_fragment(&self) -> Option<(Opcode, Utf8Validator)> {
        self.io.as_ref().and_then(|io| io.out_fragment)
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.state != State::Open {
            return Err(UsageError::Closed.into());
        }
        Ok(())
    }

    fn send_data(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Error> {
        if self.ext.is_none() {
            // No masks and no compression (a plaintext server connection, most of them): the
            // frame as it is, with the checks `write_frame` makes, and one look at `io`.
            let max = self.config.max_output_buffer;
            let io = self.io_mut();
            if io.out_fragment.is_some() {
                return Err(UsageError::FragmentOrder.into());
            }
            if io.out.len() >= max {
                return Err(CapacityError::OutputFull.into());
            }
            let (head, n) = encode_header(true, opcode, None, payload.len());
            io.out.push_frame(&head[..n], payload, None);
            return Ok(());
        }
        if self.out_fragment().is_some() {
            return Err(UsageError::FragmentOrder.into());
        }
        if self.deflate_on() {
            // Refuse before compressing, not after: `write_frame` checks again for the rest.
            self.check_room()?;
        }
        if let Some(compressed) = self.compress_message(payload)? {
            let sent = self.write_frame_rsv(opcode, true, compress::RSV1, &compressed);
            self.recycle(compressed);
            return sent;
        }
        self.write_frame(opcode, true, payload)
    }

    fn send_control(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > 125 {
            return Err(UsageError::ControlTooLong.into());
        }
        self.write_frame(opcode, true, payload)
    }

    /// Fails while the output is at `Config::max_output_buffer`; below it, one more frame or
    /// message of any size may be queued.
    fn check_room(&self) -> Result<(), Error> {
        if self.pending_output_len() >= self.config.max_output_buffer {
            return Err(CapacityError::OutputFull.into());
        }
        Ok(())
    }

    /// Appends one frame to the output, masking it in the client role. Every frame but the
    /// Close (there is only ever one) needs the output below `Config::max_output_buffer`.
    pub(super) fn write_frame(
        &mut self,
        opcode: Opcode,
        fin: bool,
        payload: &[u8],
    ) -> Result<(), Error> {
        self.write_frame_rsv(opcode, fin, 0, payload)
    }

    /// [`write_frame`](Self::write_frame) with RSV bits (RSV1 for a compressed message).
    fn write_frame_rsv(
        &mut self,
        opcode: Opcode,
        fin: bool,
        rsv: u8,
        payload: &[u8],
    ) -> Result<(), Error> {
        if opcode != Opcode::Close {
            self.check_room()?;
        }
        let mask = self.mask_key()?;
        let (head, n) = encode_header_rsv(fin, rsv, opcode, mask, payload.len());
        self.io_mut().out.push_frame(&head[..n], payload, mask);
        Ok(())
    }

    /// Queues the automatic answer to a ping, in place of a pong not yet written (§5.5.3).
    pub(super) fn queue_pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        let mask = self.mask_key()?;
        let (head, n) = encode_header(true, Opcode::Pong, mask, payload.len());
        let max = self.config.max_output_buffer;
        if !self.io_mut().out.push_pong(&head[..n], payload, mask, max) {
            return Err(CapacityError::OutputFull.into());
        }
        Ok(())
    }

    /// A fresh masking key in the client role; none in the server role.
    fn mask_key(&mut self) -> Result<Option<[u8; 4]>, Error> {
        if self.role != Role::Client {
            return Ok(None);
        }
        match self.ext.as_deref_mut().and_then(|x| x.masks.as_mut()) {
            Some(src) => Ok(Some(src.mask_key()?)),
            None => Ok(None),
        }
    }
}
