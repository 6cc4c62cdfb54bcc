//! permessage-deflate on one connection (RFC 7692 §6, §7.2): the negotiated streams, RSV1 on the first frame of a compressed message, and messages below a threshold sent as they are.

use bytes::BytesMut;

use super::Connection;
use crate::error::{Error, ProtocolError};

/// The bit RFC 7692 §6 gives to permessage-deflate: set on the first frame of a compressed message.
pub(super) const RSV1: u8 = 0x40;

/// How a broadcast frame goes out on this connection.
#[cfg_attr(not(feature = "deflate"), allow(dead_code))]
pub(super) enum Broadcast {
    /// Uncompressed, as encoded: no extension, or a message under the threshold.
    AsIs,
    /// The frame compressed once for every connection with the same parameters.
    Shared(bytes::Bytes),
    /// Compressed by this connection's own compressor (its context is kept between messages).
    Own,
}

/// The compression state of a connection that negotiated permessage-deflate.
#[cfg(feature = "deflate")]
pub(super) struct DeflateState {
    params: crate::deflate::DeflateParams,
    deflater: crate::deflate::Deflater,
    inflater: crate::deflate::Inflater,
    /// Messages shorter than this go out uncompressed (RFC 7692 §6.1 allows it).
    threshold: usize,
    /// The compression level and memory level, the key of a shared broadcast compression.
    level: u32,
    mem_level: u8,
    /// Compressed output of the message being sent, reused between messages.
    scratch: BytesMut,
}

/// Without the `deflate` feature there is no compression state: this type has no values.
#[cfg(not(feature = "deflate"))]
pub(super) enum DeflateState {}

#[cfg(feature = "deflate")]
impl Connection {
    /// Turns permessage-deflate on with the parameters the handshake agreed (the server's
    /// [`accept_offer`](crate::deflate::accept_offer), the client's
    /// [`check_response`](crate::deflate::check_response)) and this end's settings (level,
    /// memory, threshold). Call it once, before any frame is received or sent.
    pub fn enable_deflate(
        &mut self,
        params: &crate::deflate::DeflateParams,
        config: &crate::deflate::DeflateConfig,
    ) -> Result<(), Error> {
        config.validate()?;
        let role = self.role;
        let deflater = crate::deflate::Deflater::new(
            params.compress_window_bits(role),
            config.level,
            config.mem_level,
            params.compress_no_context_takeover(role),
        )?;
        let inflater = crate::deflate::Inflater::new(
            params.decompress_window_bits(role),
            params.decompress_no_context_takeover(role),
        )?;
        self.ext_mut().deflate = Some(Box::new(DeflateState {
            params: *params,
            deflater,
            inflater,
            threshold: config.threshold,
            level: config.level,
            mem_level: config.mem_level,
            scratch: BytesMut::new(),
        }));
        Ok(())
    }

    /// The permessage-deflate parameters in force, if the extension was negotiated.
    pub fn deflate_params(&self) -> Option<crate::deflate::DeflateParams> {
        self.deflate().map(|d| d.params)
    }

    /// Compresses `payload` if the extension is on and the message is long enough; returns
    /// the compressed bytes (to be sent with RSV1), or `None` to send it as it is.
    pub(super) fn compress_message(&mut self, payload: &[u8]) -> Result<Option<BytesMut>, Error> {
        let Some(d) = self.deflate_mut() else {
            return Ok(None);
        };
        if payload.len() < d.threshold {
            return Ok(None);
        }
        let mut out = std::mem::take(&mut d.scratch);
        out.clear();
        d.deflater.compress(payload, &mut out)?;
        Ok(Some(out))
    }

    /// How `frame` goes out here (see [`Broadcast`]).
    pub(super) fn broadcast_compressed(
        &self,
        frame: &crate::encoded::EncodedFrame,
    ) -> Result<Broadcast, Error> {
        let Some(d) = self.deflate() else {
            return Ok(Broadcast::AsIs);
        };
        let Some((_, payload)) = frame.data_payload() else {
            return Ok(Broadcast::AsIs);
        };
        if payload.len() < d.threshold {
            return Ok(Broadcast::AsIs);
        }
        if !d.params.compress_no_context_takeover(self.role) {
            return Ok(Broadcast::Own);
        }
        let key = (
            d.params.compress_window_bits(self.role),
            d.level,
            d.mem_level,
        );
        Ok(match frame.deflated(key)? {
            Some(bytes) => Broadcast::Shared(bytes),
            None => Broadcast::Own,
        })
    }

    /// Gives the compression buffer back for the next message.
    pub(super) fn recycle(&mut self, buf: BytesMut) {
        if let Some(d) = self.deflate_mut() {
            // A large message's buffer is not kept: an idle connection holds little.
            if buf.capacity() <= super::RETAIN {
                d.scratch = buf;
            }
        }
    }

    /// Inflates one frame's payload of a compressed message into `out`; `fin` on its last
    /// frame. The inflated size counts against `max_message_size` as it grows.
    pub(super) fn inflate_frame(
        &mut self,
        payload: &[u8],
        fin: bool,
        out: &mut BytesMut,
    ) -> Result<(), Error> {
        let limit = self.config.max_message_size;
        match self.deflate_mut() {
            Some(d) => d.inflater.inflate(payload, fin, limit, out),
            None => Err(ProtocolError::ReservedBits.into()),
        }
    }

    /// Whether RSV1 may start a compressed message here.
    #[inline]
    pub(super) fn deflate_on(&self) -> bool {
        self.deflate().is_some()
    }

    fn deflate(&self) -> Option<&DeflateState> {
        self.ext.as_deref().and_then(|x| x.deflate.as_deref())
    }

    fn deflate_mut(&mut self) -> Option<&mut DeflateState> {
        self.ext
            .as_deref_mut()
            .and_then(|x| x.deflate.as_deref_mut())
    }
}

#[cfg(not(feature = "deflate"))]
impl Connection {
    pub(super) fn broadcast_compressed(
        &self,
        _frame: &crate::encoded::EncodedFrame,
    ) -> Result<Broadcast, Error> {
        Ok(Broadcast::AsIs)
    }

    pub(super) fn compress_message(&mut self, _payload: &[u8]) -> Result<Option<BytesMut>, Error> {
        Ok(None)
    }

    pub(super) fn recycle(&mut self, _buf: BytesMut) {}

    pub(super) fn inflate_frame(
        &mut self,
        _payload: &[u8],
        _fin: bool,
        _out: &mut BytesMut,
    ) -> Result<(), Error> {
        Err(ProtocolError::ReservedBits.into())
    }

    pub(super) fn deflate_on(&self) -> bool {
        // never: `DeflateState` has no values without the feature
        self.ext.as_deref().is_some_and(|x| x.deflate.is_some())
    }
}
