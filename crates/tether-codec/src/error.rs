//! Error kinds, sorted by who is at fault, each knowing its wire answer (RFC 6455 §4.2.2 statuses, §7.4.1 close codes).

use crate::close::CloseCode;

/// Every error the codec returns.
///
/// Peer faults carry their own answer: [`Error::http_status`] before the upgrade,
/// [`Error::close_code`] after it. Usage errors are the caller's and put nothing on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The opening handshake was invalid (RFC 6455 §4).
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer broke the framing rules (RFC 6455 §5, §7).
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// The peer sent more than the configured limits allow.
    #[error("limit exceeded: {0}")]
    Capacity(#[from] CapacityError),
    /// The caller used the API wrongly; nothing was sent.
    #[error("invalid use: {0}")]
    Usage(#[from] UsageError),
}

impl Error {
    /// The close code to send for this error once the connection is open, if any.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => Some(e.close_code()),
            Error::Capacity(e) => Some(e.close_code()),
            Error::Handshake(_) | Error::Usage(_) => None,
        }
    }

    /// The HTTP status to answer with before the upgrade, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Handshake(e) => e.http_status(),
            _ => None,
        }
    }
}

/// A fault in the opening handshake (RFC 6455 §4.1, §4.2).
///
/// Faults of a client's request map to the HTTP status a server answers with;
/// faults of a server's response (seen by a client) have no status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The request head is not valid HTTP/1.1.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The method is not `GET`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// An Upgrade request in any HTTP version but 1.1 (RFC 6455 §4.1), answered with 505.
    #[error("an upgrade must be an HTTP/1.1 request")]
    HttpVersion,
    /// An Upgrade request with a body (`Content-Length` other than 0, or `Transfer-Encoding`).
    #[error("an upgrade request may not have a body")]
    RequestBody,
    /// No `Host` header.
    #[error("missing Host header")]
    MissingHost,
    /// `Upgrade` lacks the `websocket` token.
    #[error("Upgrade header must contain websocket")]
    MissingUpgrade,
    /// `Connection` lacks the `Upgrade` token.
    #[error("Connection header must contain Upgrade")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, or not 16 bytes of base64.
    #[error("Sec-WebSocket-Key must be 16 bytes in base64")]
    BadKey,
    /// `Sec-WebSocket-Version` is missing.
    #[error("missing Sec-WebSocket-Version")]
    MissingVersion,
    /// `Sec-WebSocket-Version` is not 13.
    #[error("unsupported Sec-WebSocket-Version")]
    UnsupportedVersion,
    /// The request head is longer than `Config::max_head_size`.
    #[error("request head too large")]
    HeadTooLarge,
    /// The request has more headers than `Config::max_headers`.
    #[error("too many headers")]
    TooManyHeaders,
    /// `Sec-WebSocket-Extensions` does not follow the extension-list syntax (RFC 6455 §9.1),
    /// answered with 400. Offers that parse but are invalid are declined, not refused.
    #[error("malformed Sec-WebSocket-Extensions: {0}")]
    BadExtensions(&'static str),
    /// The server's response is not valid HTTP/1.1.
    #[error("malformed response: {0}")]
    MalformedResponse(&'static str),
    /// The server answered with a status other than 101.
    #[error("server refused the upgrade with status {0}")]
    Refused(u16),
    /// The response lacks `Upgrade: websocket` or `Connection: Upgrade`.
    #[error("response is missing the upgrade headers")]
    ResponseNotUpgrade,
    /// `Sec-WebSocket-Accept` is missing or does not match the key.
    #[error("Sec-WebSocket-Accept does not match")]
    BadAccept,
    /// The server chose a subprotocol the client did not offer.
    #[error("server chose a subprotocol that was not offered")]
    UnofferedSubprotocol,
    /// The server enabled an extension the client did not offer.
    #[error("server enabled an extension that was not offered")]
    UnofferedExtension,
    /// The server's permessage-deflate answer is malformed, or grants what the client did
    /// not offer or cannot use (RFC 7692 §5): the client fails the connection.
    #[error("unacceptable permessage-deflate response: {0}")]
    BadExtensionResponse(&'static str),
}

impl HandshakeError {
    /// The HTTP status a server answers with, or `None` for faults found by a client.
    pub fn http_status(&self) -> Option<u16> {
        use HandshakeError::*;
        match self {
            MethodNotAllowed => Some(405),
            UnsupportedVersion => Some(426),
            HttpVersion => Some(505),
            HeadTooLarge | TooManyHeaders => Some(431),
            Malformed(_)
            | RequestBody
            | MissingHost
            | MissingUpgrade
            | MissingConnectionUpgrade
            | BadKey
            | MissingVersion
            | BadExtensions(_) => Some(400),
            MalformedResponse(_)
            | Refused(_)
            | ResponseNotUpgrade
            | BadAccept
            | UnofferedSubprotocol
            | UnofferedExtension
            | BadExtensionResponse(_) => None,
        }
    }
}

/// A violation of the framing rules by the peer (RFC 6455 §5, §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Opcode 3–7 or 0xB–0xF (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// An RSV bit is set without a negotiated extension (§5.2).
    #[error("reserved bits set")]
    ReservedBits,
    /// A control frame without FIN (§5.5).
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload (§5.5).
    #[error("control frame payload over 125 bytes")]
    ControlTooLong,
    /// A 64-bit length with its most significant bit set (§5.2).
    #[error("payload length has its most significant bit set")]
    LengthOverflow,
    /// A length not encoded in the fewest bytes (§5.2 "the minimal number of bytes MUST be used").
    #[error("payload length not minimally encoded")]
    NonMinimalLength,
    /// A client sent an unmasked frame (§5.1).
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A server sent a masked frame (§5.1).
    #[error("server frame is masked")]
    MaskedFrame,
    /// A continuation frame with no message in progress (§5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished (§5.4).
    #[error("new message started before the previous one finished")]
    ExpectedContinuation,
    /// A text message or close reason that is not UTF-8 (§8.1).
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A close payload of exactly one byte (§5.5.1).
    #[error("close payload of one byte")]
    ClosePayloadTooShort,
    /// A close code that may not appear on the wire (§7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A compressed message that is not a valid deflate stream (RFC 7692 §7.2.2).
    #[error("invalid compressed data")]
    BadCompressedData,
}

impl ProtocolError {
    /// The close code that answers this violation: 1007 for bad UTF-8 or compressed data,
    /// 1002 otherwise.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::BadCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// A configured limit was reached: by what the peer sent (answered with 1009), or by output
/// the peer does not read (1008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    /// A frame's declared length is over `Config::max_frame_size`.
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The declared payload length.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message grew past `Config::max_message_size`.
    #[error("message of at least {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The size reached so far.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// The output would pass `Config::max_output_buffer`: the peer is not reading.
    #[error("output buffer full: the peer is not reading")]
    OutputFull,
}

impl CapacityError {
    /// The close code that answers it: 1008 (policy) for output the peer does not read, 1009
    /// for a frame or message over the limit.
    pub fn close_code(&self) -> CloseCode {
        match self {
            CapacityError::OutputFull => CloseCode::POLICY,
            CapacityError::FrameTooLarge { .. } | CapacityError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
        }
    }
}

/// The caller used the API in a way the protocol forbids; nothing went on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// The connection already sent a Close frame or failed; no more data may be sent (§5.5.1).
    #[error("the connection is closing or closed")]
    Closed,
    /// A close code that an endpoint may not send (§7.4.1: 1005, 1006, 1015 and unassigned ranges).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// A ping, pong or close payload over 125 bytes (§5.5).
    #[error("control payload over 125 bytes")]
    ControlTooLong,
    /// A fragment sent in the wrong order (§5.4).
    #[error("fragment out of order")]
    FragmentOrder,
    /// Text fragments given to `send_fragment` that do not form UTF-8 (§5.6).
    #[error("text fragment is not valid UTF-8")]
    InvalidUtf8,
    /// A server-only call in the client role: `send_encoded` (client frames each need a mask, §5.3).
    #[error("only a server connection can send a pre-encoded frame")]
    WrongRole,
    /// `receive` was given input while over `Config::max_frame_size` plus a header was buffered and not polled.
    #[error("receive buffer full: call poll_event before receiving more")]
    ReceiveBufferFull,
    /// A status given to `write_reject_response` that is not an error status (400–599).
    #[error("status {0} is not a rejection (400-599)")]
    RejectStatus(u16),
    /// A header name or value the caller gave is not valid HTTP (e.g. holds CR or LF).
    #[error("invalid header name or value")]
    InvalidHeader,
    /// The subprotocol chosen by the server was not offered by the client (RFC 6455 §4.2.2).
    #[error("subprotocol was not offered by the client")]
    SubprotocolNotOffered,
    /// The configured random source failed to produce bytes.
    #[error("random source failed")]
    Random,
    /// A `Config` value is out of range.
    #[error("invalid config: {0}")]
    Config(&'static str),
    /// The deflate backend refused to compress: a bug, not the peer's doing; nothing was sent.
    #[error("the compressor failed")]
    Compressor,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_small() {
        assert!(
            std::mem::size_of::<Error>() <= 32,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn wire_answers() {
        assert_eq!(
            Error::from(ProtocolError::InvalidUtf8).close_code(),
            Some(CloseCode(1007))
        );
        assert_eq!(
            Error::from(ProtocolError::BadCompressedData).close_code(),
            Some(CloseCode(1007))
        );
        assert_eq!(
            Error::from(ProtocolError::UnmaskedFrame).close_code(),
            Some(CloseCode(1002))
        );
        let big = CapacityError::MessageTooLarge { size: 10, max: 5 };
        assert_eq!(Error::from(big).close_code(), Some(CloseCode(1009)));
        assert_eq!(
            Error::from(HandshakeError::UnsupportedVersion).http_status(),
            Some(426)
        );
        assert_eq!(
            Error::from(HandshakeError::MethodNotAllowed).http_status(),
            Some(405)
        );
        assert_eq!(
            Error::from(HandshakeError::HeadTooLarge).http_status(),
            Some(431)
        );
        assert_eq!(Error::from(HandshakeError::BadKey).http_status(), Some(400));
        assert_eq!(Error::from(HandshakeError::BadAccept).http_status(), None);
        let bad = HandshakeError::BadExtensions("syntax");
        assert_eq!(Error::from(bad).http_status(), Some(400));
        let bad = HandshakeError::BadExtensionResponse("window");
        assert_eq!(Error::from(bad).http_status(), None);
        assert_eq!(Error::from(UsageError::Closed).close_code(), None);
    }
}
