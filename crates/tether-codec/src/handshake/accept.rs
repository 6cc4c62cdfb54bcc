//! `Sec-WebSocket-Accept` (RFC 6455 §4.2.2 step 5.4): base64(SHA-1(key ‖ GUID)), computed without allocating.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The GUID every server appends to the client's key.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The 28-character `Sec-WebSocket-Accept` value for one `Sec-WebSocket-Key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// Derives the accept value from the key exactly as the client sent it (trimmed).
    pub fn from_key(key: &[u8]) -> AcceptKey {
        let mut sha = Sha1::new();
        sha.update(key);
        sha.update(GUID.as_bytes());
        let digest = sha.finalize();
        let mut out = [0u8; 28];
        // 20 bytes always encode to exactly 28 base64 characters.
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(digest, &mut out)
            .unwrap_or(0);
        debug_assert_eq!(n, 28);
        AcceptKey(out)
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The value as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example() {
        assert_eq!(
            AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==").as_str(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
