//! Messages as the application sees them (RFC 6455 §5.6): text known to be UTF-8, binary, and what may be sent.

use bytes::Bytes;

/// Bytes that are known to be valid UTF-8: the payload of a text message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Utf8Bytes(pub(crate) Bytes);

impl Utf8Bytes {
    /// Wraps bytes after checking they are UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }

    /// Wraps bytes the codec has already validated.
    pub(crate) fn validated(bytes: Bytes) -> Self {
        Utf8Bytes(bytes)
    }

    /// The text.
    ///
    /// The bytes were validated when the message arrived, so this never fails; it checks
    /// again rather than use `unsafe` (std's check runs at many GB/s).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The raw bytes, without copying.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Gives back the underlying buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
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
