//! Frame opcodes (RFC 6455 §5.2, §11.8): the four data and three control kinds; the rest are reserved.

use crate::error::ProtocolError;

/// The kind of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// `0x0`: a later fragment of a message.
    Continuation = 0x0,
    /// `0x1`: the first frame of a UTF-8 text message.
    Text = 0x1,
    /// `0x2`: the first frame of a binary message.
    Binary = 0x2,
    /// `0x8`: the closing handshake.
    Close = 0x8,
    /// `0x9`: a ping, answered with a pong.
    Ping = 0x9,
    /// `0xA`: a pong.
    Pong = 0xA,
}

impl Opcode {
    /// Parses the low nibble of the first header byte; reserved values are a protocol error.
    pub fn from_u8(v: u8) -> Result<Opcode, ProtocolError> {
        Ok(match v {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// Control frames (close, ping, pong) have the high bit of the opcode set.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nibble() {
        for v in 0u8..16 {
            match Opcode::from_u8(v) {
                Ok(op) => {
                    assert_eq!(op as u8, v);
                    assert_eq!(op.is_control(), v >= 8);
                }
                Err(e) => {
                    assert!(matches!(v, 3..=7 | 0xB..=0xF), "{v}");
                    assert_eq!(e, ProtocolError::ReservedOpcode(v));
                }
            }
        }
    }
}
