//! Close codes and close frames (RFC 6455 §5.5.1, §7.4): which codes may cross the wire, and the payload format.

use crate::error::{ProtocolError, UsageError};

/// A close status code (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection dropped without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a message's data did not match its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message is too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);

    /// Whether this code may appear in a close frame on the wire:
    /// 1000–1003, 1007–1014 and 3000–4999.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The most reason bytes a close frame can carry: 125 minus the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// A parsed close frame payload: a code and a UTF-8 reason of at most 123 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason text (may be empty).
    pub reason: String,
}

impl CloseFrame {
    /// Parses a received close payload: empty (no code) or a valid code and a UTF-8 reason.
    pub fn parse(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::ClosePayloadTooShort),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(CloseFrame {
                    code,
                    reason: reason.to_owned(),
                }))
            }
        }
    }
}

/// Builds a close payload to send, checking the code and trimming the reason to 123 bytes
/// at a character boundary.
pub(crate) fn encode_payload(
    code: CloseCode,
    reason: &str,
    out: &mut [u8; 125],
) -> Result<usize, UsageError> {
    if !code.is_valid_on_wire() {
        return Err(UsageError::InvalidCloseCode(code.0));
    }
    let mut end = reason.len().min(MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    out[..2].copy_from_slice(&code.0.to_be_bytes());
    out[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    Ok(2 + end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_of_every_code() {
        for c in 0..=u16::MAX {
            let ok = CloseCode(c).is_valid_on_wire();
            let expect = matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(ok, expect, "{c}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!CloseCode(bad).is_valid_on_wire(), "{bad}");
        }
    }

    #[test]
    fn parses_payloads() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
        assert_eq!(
            CloseFrame::parse(&[0x03]),
            Err(ProtocolError::ClosePayloadTooShort)
        );
        let f = CloseFrame::parse(&[0x03, 0xE8, b'o', b'k'])
            .unwrap()
            .unwrap();
        assert_eq!((f.code, f.reason.as_str()), (CloseCode::NORMAL, "ok"));
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xED]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xE8, 0xFF]),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn encoding_trims_reason_at_char_boundary() {
        let mut out = [0u8; 125];
        let reason = "é".repeat(70); // 140 bytes
        let n = encode_payload(CloseCode::NORMAL, &reason, &mut out).unwrap();
        assert_eq!(n, 2 + 122);
        assert!(std::str::from_utf8(&out[2..n]).is_ok());
        assert_eq!(
            encode_payload(CloseCode(1006), "", &mut out),
            Err(UsageError::InvalidCloseCode(1006))
        );
    }
}
