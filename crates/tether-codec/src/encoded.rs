//! `EncodedFrame`: a server frame (RFC 6455 §5.2, unmasked per §5.1) encoded once and queued on many connections.

use bytes::{Bytes, BytesMut};

use crate::error::{Error, UsageError};
use crate::frame::header::encode_header;
use crate::frame::opcode::Opcode;
use crate::message::Outgoing;

/// A server frame encoded once, to queue on many connections with
/// [`Connection::send_encoded`](crate::Connection::send_encoded) (a broadcast).
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

    /// Another handle on the same bytes, for a connection's output queue.
    pub(crate) fn shared(&self) -> Bytes {
        self.0.clone()
    }
}
