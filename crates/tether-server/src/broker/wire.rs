//! How a room message crosses between instances: a small binary envelope (origin instance, per-room sequence number, type, excepted connection) around the payload, never re-framed as WebSocket.
//!
//! ```text
//! version (1) | flags (1: bit 0 text, bit 1 except) | seq (8, big-endian)
//! | [except connection id (8)] | origin length (1) | origin (UTF-8) | payload (the rest)
//! ```
//! The room travels as the channel name, not in the envelope.

use bytes::{BufMut, Bytes, BytesMut};

use super::RoomMessage;
use crate::id::ConnId;

const VERSION: u8 = 1;
const TEXT: u8 = 1;
const EXCEPT: u8 = 2;

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than its fixed fields say.
    #[error("truncated envelope")]
    Truncated,
    /// Another version of the format (an instance of another release).
    #[error("unknown envelope version {0}")]
    Version(u8),
    /// Flags this version does not define.
    #[error("unknown envelope flags {0:#x}")]
    Flags(u8),
    /// The origin is empty or not UTF-8.
    #[error("bad origin")]
    Origin,
    /// A text payload that is not UTF-8.
    #[error("text payload is not UTF-8")]
    NotUtf8,
}

/// A decoded envelope: who sent it, its place in the sender's sequence for the room, and the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The publishing instance's id.
    pub origin: String,
    /// Its per-room sequence number (1, 2, …; a gap means messages were lost), or 0 for a
    /// message published outside the engine's numbering (by an application's Redis script,
    /// say), which receivers do not track.
    pub seq: u64,
    /// A text message.
    pub text: bool,
    /// The connection of the origin that must not get it.
    pub except: Option<ConnId>,
    /// The message.
    pub payload: Bytes,
}

/// Encodes `msg` as published by `origin` (at most 255 bytes) with sequence number `seq`.
pub fn encode(origin: &str, seq: u64, msg: &RoomMessage) -> Bytes {
    let origin = &origin.as_bytes()[..origin.len().min(255)];
    let mut out = BytesMut::with_capacity(19 + origin.len() + msg.payload.len());
    out.put_u8(VERSION);
    let mut flags = 0;
    if msg.text {
        flags |= TEXT;
    }
    if msg.except.is_some() {
        flags |= EXCEPT;
    }
    out.put_u8(flags);
    out.put_u64(seq);
    if let Some(c) = msg.except {
        out.put_u64(c.as_u64());
    }
    out.put_u8(origin.len() as u8);
    out.put_slice(origin);
    out.put_slice(&msg.payload);
    out.freeze()
}

/// Decodes an envelope; the payload is a slice of `data` (no copy). A text payload is
/// checked to be UTF-8 here, once for every worker it goes to.
pub fn decode(data: Bytes) -> Result<Envelope, WireError> {
    let fixed = data.get(..10).ok_or(WireError::Truncated)?;
    if fixed[0] != VERSION {
        return Err(WireError::Version(fixed[0]));
    }
    let flags = fixed[1];
    if flags & !(TEXT | EXCEPT) != 0 {
        return Err(WireError::Flags(flags));
    }
    let seq = u64::from_be_bytes(fixed[2..10].try_into().map_err(|_| WireError::Truncated)?);
    let mut at = 10;
    let except = if flags & EXCEPT != 0 {
        let b = data.get(at..at + 8).ok_or(WireError::Truncated)?;
        at += 8;
        Some(ConnId::from_serial(u64::from_be_bytes(
            b.try_into().map_err(|_| WireError::Truncated)?,
        )))
    } else {
        None
    };
    let len = usize::from(*data.get(at).ok_or(WireError::Truncated)?);
    at += 1;
    let origin = data.get(at..at + len).ok_or(WireError::Truncated)?;
    let origin = std::str::from_utf8(origin).map_err(|_| WireError::Origin)?;
    if origin.is_empty() {
        return Err(WireError::Origin);
    }
    let origin = origin.to_owned();
    at += len;
    let payload = data.slice(at..);
    let text = flags & TEXT != 0;
    if text && std::str::from_utf8(&payload).is_err() {
        return Err(WireError::NotUtf8);
    }
    Ok(Envelope {
        origin,
        seq,
        text,
        except,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn msg(text: bool, payload: &[u8], except: Option<ConnId>) -> RoomMessage {
        RoomMessage {
            room: Arc::from("1001"),
            text,
            payload: Bytes::copy_from_slice(payload),
            except,
            keep: None,
        }
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let good = encode("a", 1, &msg(true, b"hi", None));
        assert!(decode(good.clone()).is_ok());
        for n in 0..12 {
            assert_eq!(decode(good.slice(..n)), Err(WireError::Truncated), "{n}");
        }
        let mut v = good.to_vec();
        v[0] = 2;
        assert_eq!(decode(Bytes::from(v)), Err(WireError::Version(2)));
        let mut v = good.to_vec();
        v[1] = 4;
        assert_eq!(decode(Bytes::from(v)), Err(WireError::Flags(4)));
        let bad_text = encode("a", 1, &msg(true, &[0xff], None));
        assert_eq!(decode(bad_text), Err(WireError::NotUtf8));
        let empty_origin = encode("", 1, &msg(false, b"x", None));
        assert_eq!(decode(empty_origin), Err(WireError::Origin));
        // A binary payload may be anything.
        assert!(decode(encode("a", 1, &msg(false, &[0xff], None))).is_ok());
    }

    proptest! {
        #[test]
        fn round_trips(origin in "[a-z0-9:.-]{1,60}", seq: u64, text: bool,
                       except: Option<u64>, payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let payload = if text { String::from_utf8_lossy(&payload).into_owned().into_bytes() } else { payload };
            let m = msg(text, &payload, except.map(ConnId::from_serial));
            let e = decode(encode(&origin, seq, &m)).unwrap();
            prop_assert_eq!(e.origin, origin);
            prop_assert_eq!(e.seq, seq);
            prop_assert_eq!(e.text, text);
            prop_assert_eq!(e.except, m.except);
            prop_assert_eq!(&e.payload[..], &payload[..]);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(Bytes::from(data));
        }
    }
}
