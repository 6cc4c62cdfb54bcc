//! `EncodedFrame`: a server frame (RFC 6455 §5.2, unmasked per §5.1) encoded once and queued on many connections, and compressed once for those that negotiated permessage-deflate without context takeover (RFC 7692 §7.1.1.1).

#[cfg(feature = "deflate")]
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::error::{Error, UsageError};
use crate::frame::header::encode_header;
#[cfg(feature = "deflate")]
use crate::frame::header::encode_header_rsv;
use crate::frame::opcode::Opcode;
use crate::message::Outgoing;

/// What makes two compressions of one message the same bytes: window bits, level, memory level.
#[cfg(feature = "deflate")]
pub(crate) type DeflateKey = (u8, u32, u8);

/// A server frame encoded once, to queue on many connections with
/// [`Connection::send_encoded`](crate::Connection::send_encoded) (a broadcast).
///
/// A connection that negotiated permessage-deflate with no server context takeover gets the
/// message compressed, and the compression is done once for every connection with the same
/// window and level (uWebSockets' shared compressor): each message is then compressed on
/// its own, so the bytes are the same for all of them.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    bytes: Bytes,
    /// Header bytes at the start of `bytes`.
    head_len: u8,
    opcode: Opcode,
    /// The compressed frame for the first (window bits, level, memory level) asked for.
    #[cfg(feature = "deflate")]
    deflated: Arc<std::sync::OnceLock<Option<(DeflateKey, Bytes)>>>,
}

impl PartialEq for EncodedFrame {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for EncodedFrame {}

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
        Ok(EncodedFrame {
            bytes: buf.freeze(),
            head_len: n as u8,
            opcode,
            #[cfg(feature = "deflate")]
            deflated: Arc::default(),
        })
    }

    /// The encoded bytes (uncompressed).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Another handle on the same bytes, for a connection's output queue.
    pub(crate) fn shared(&self) -> Bytes {
        self.bytes.clone()
    }

    /// Whether this is a data frame (text or binary), and its payload.
    pub(crate) fn data_payload(&self) -> Option<(Opcode, &[u8])> {
        (!self.opcode.is_control())
            .then(|| (self.opcode, &self.bytes[usize::from(self.head_len)..]))
    }

    /// The whole frame compressed with `key` (window bits, level, memory level) and RSV1 set,
    /// computed by the first connection that asks and shared by the rest; `None` when
    /// another key was asked first (the caller compresses for itself).
    #[cfg(feature = "deflate")]
    pub(crate) fn deflated(&self, key: DeflateKey) -> Result<Option<Bytes>, Error> {
        let mut failed = None;
        let cached = self.deflated.get_or_init(|| {
            let (opcode, payload) = self.data_payload()?;
            let mut d = match crate::deflate::Deflater::new(key.0, key.1, key.2, true) {
                Ok(d) => d,
                Err(e) => {
                    failed = Some(e);
                    return None;
                }
            };
            let mut z = BytesMut::new();
            if let Err(e) = d.compress(payload, &mut z) {
                failed = Some(e);
                return None;
            }
            let (head, n) = encode_header_rsv(true, 0x40, opcode, None, z.len());
            let mut frame = BytesMut::with_capacity(n + z.len());
            frame.extend_from_slice(&head[..n]);
            frame.extend_from_slice(&z);
            Some((key, frame.freeze()))
        });
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(cached
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, b)| b.clone()))
    }
}
