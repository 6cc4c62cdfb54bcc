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

    /// A view of this message, as [`MessageRef`] lends it.
    pub fn as_message_ref(&self) -> MessageRef<'_> {
        MessageRef(Lent::Owned(self))
    }
}

/// A received data message, lent for the length of a call: text (UTF-8 checked) or binary.
///
/// It borrows either the bytes where they arrived ([`Connection::take_in_place`]
/// unmasks a whole frame in the caller's read buffer) or a [`Message`] the codec assembled
/// (a large, fragmented or compressed one). Reading it costs no allocation and no reference
/// count; [`to_message`](Self::to_message) keeps it, by copy only when it was borrowed.
///
/// [`Connection::take_in_place`]: crate::Connection::take_in_place
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRef<'a>(Lent<'a>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lent<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
    Owned(&'a Message),
}

impl<'a> MessageRef<'a> {
    /// A text message lent from where it lies.
    pub fn text(text: &'a str) -> MessageRef<'a> {
        MessageRef(Lent::Text(text))
    }

    /// A binary message lent from where it lies.
    pub fn binary(data: &'a [u8]) -> MessageRef<'a> {
        MessageRef(Lent::Binary(data))
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&'a str> {
        match self.0 {
            Lent::Text(t) => Some(t),
            Lent::Owned(Message::Text(t)) => Some(t.as_str()),
            _ => None,
        }
    }

    /// The payload bytes, whatever the kind.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self.0 {
            Lent::Text(t) => t.as_bytes(),
            Lent::Binary(b) => b,
            Lent::Owned(m) => m.as_bytes(),
        }
    }

    /// Whether this is a text message.
    pub fn is_text(&self) -> bool {
        match self.0 {
            Lent::Text(_) => true,
            Lent::Binary(_) => false,
            Lent::Owned(m) => m.is_text(),
        }
    }

    /// Length of the payload in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// The message as something to send (an echo, a relay): the codec copies it.
    pub fn as_outgoing(&self) -> Outgoing<'a> {
        match self.0 {
            Lent::Text(t) => Outgoing::Text(t),
            Lent::Binary(b) => Outgoing::Binary(b),
            Lent::Owned(m) => m.as_outgoing(),
        }
    }

    /// The owned message behind this view, when the codec assembled one: sending it with
    /// [`Connection::send_message`](crate::Connection::send_message) shares its buffer.
    pub fn owned(&self) -> Option<&'a Message> {
        match self.0 {
            Lent::Owned(m) => Some(m),
            _ => None,
        }
    }

    /// Keeps the message past the call: a reference count when the codec assembled it, one
    /// allocation and copy when it was lent from the read buffer.
    pub fn to_message(&self) -> Message {
        match self.0 {
            Lent::Text(t) => Message::Text(Utf8Bytes::from(t.to_owned())),
            Lent::Binary(b) => Message::Binary(Bytes::copy_from_slice(b)),
            Lent::Owned(m) => m.clone(),
        }
    }
}

impl<'a> From<&'a Message> for MessageRef<'a> {
    fn from(m: &'a Message) -> MessageRef<'a> {
        m.as_message_ref()
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
