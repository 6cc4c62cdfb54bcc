//! Messages as the application sees them (RFC 6455 §5.6): text known to be UTF-8, binary, and what may be sent.

use bytes::Bytes;

pub use crate::frame::Utf8Bytes;

impl Utf8Bytes {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }
}

impl std::fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A complete data message received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message, validated as UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The payload bytes, whatever the kind.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// Whether this is a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// This message as something to send back (an echo).
    pub fn as_outgoing(&self) -> Outgoing<'_> {
        match self {
            Message::Text(t) => Outgoing::Text(t.as_str()),
            Message::Binary(b) => Outgoing::Binary(b),
        }
    }
}

/// A message to send, borrowed from the caller: the codec copies it into its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping (payload at most 125 bytes).
    Ping(&'a [u8]),
    /// An unsolicited pong (payload at most 125 bytes), e.g. a unidirectional heartbeat.
    Pong(&'a [u8]),
}
