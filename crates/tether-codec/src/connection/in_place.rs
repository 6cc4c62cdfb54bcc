//! Decoding in the caller's read buffer (RFC 6455 §5.2–§5.3, §5.6, §8.1): a whole data frame is unmasked where it lies and lent out; anything else goes through `receive`.

use super::{Connection, State};
use crate::error::{Error, ProtocolError};
use crate::frame::header::FrameHeader;
use crate::frame::mask::apply_mask;
use crate::frame::opcode::Opcode;
use crate::message::MessageRef;

impl Connection {
    /// Takes the next message straight off the front of `input` (bytes just read from the
    /// peer), without copying it into the connection: a whole, unfragmented, uncompressed
    /// data frame is unmasked in place, checked (UTF-8 for text, every limit) and lent out
    /// for as long as `input`'s buffer is borrowed. `input` then starts after it.
    ///
    /// `Ok(None)` takes nothing: the frame at the front is not whole, is a control frame or
    /// a fragment, is compressed, breaks a rule, or the connection holds buffered input or a
    /// message in progress. Hand the rest of `input` to [`receive`](Self::receive) then, and
    /// drain [`poll_event`](Self::poll_event) as usual, which reports any violation in order.
    /// `Err` is a text message that is not UTF-8: the connection failed as `poll_event` would
    /// have failed it (its Close 1007 queued); drop the rest of `input`.
    ///
    /// This is the path for servers that read into a buffer of their own: small messages
    /// cost no copy, no allocation and no reference count.
    ///
    /// ```
    /// use tether_codec::{Config, Connection};
    /// let mut server = Connection::server(Config::default()).unwrap();
    /// // Two masked text frames "Hi" (RFC 6455 §5.7, key 37 fa 21 3d), read at once.
    /// let mut read = [0x81, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x93,
    ///                 0x81, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x93];
    /// let mut input = &mut read[..];
    /// let first = server.take_in_place(&mut input).unwrap().unwrap();
    /// assert_eq!(first.as_text(), Some("Hi"));
    /// assert_eq!(input.len(), 8);
    /// assert!(server.take_in_place(&mut input).unwrap().is_some());
    /// assert!(input.is_empty());
    /// ```
    pub fn take_in_place<'b>(
        &mut self,
        input: &mut &'b mut [u8],
    ) -> Result<Option<MessageRef<'b>>, Error> {
        self.reclaim();
        let busy = self
            .io
            .as_deref()
            .is_some_and(|io| io.mid_frame() || io.assembly.is_some());
        if self.state != State::Open || busy || self.error().is_some() || self.eof {
            return Ok(None);
        }
        let Ok(crate::Status::Complete((h, n))) = FrameHeader::decode(input) else {
            return Ok(None);
        };
        if !h.fin || !matches!(h.opcode, Opcode::Text | Opcode::Binary) {
            return Ok(None);
        }
        // Whole within `input` (a length past it, or past usize, is left to `receive`).
        let Some(end) = usize::try_from(h.payload_len)
            .ok()
            .and_then(|len| n.checked_add(len))
            .filter(|&end| end <= input.len())
        else {
            return Ok(None);
        };
        // Role, reserved bits and limits, as for any frame; a compressed one is not ours.
        match self.start_frame(h, n) {
            Ok(f) if !f.compressed => {}
            _ => return Ok(None),
        }
        let (frame, rest) = std::mem::take(input).split_at_mut(end);
        *input = rest;
        let payload = &mut frame[n..];
        if let Some(key) = h.mask {
            apply_mask(payload, key, 0);
        }
        let payload: &'b [u8] = payload;
        if h.opcode == Opcode::Binary {
            return Ok(Some(MessageRef::binary(payload)));
        }
        // Whole: one pass of `std`'s check is the fail-fast check already (§8.1).
        match std::str::from_utf8(payload) {
            Ok(text) => Ok(Some(MessageRef::text(text))),
            Err(_) => Err(self.fail(ProtocolError::InvalidUtf8.into())),
        }
    }
}
