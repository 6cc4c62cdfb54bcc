//! Tether's sans-IO WebSocket core (RFC 6455): bytes in, events out; messages in, bytes out.
//!
//! No sockets, threads, clock or hidden randomness: the caller moves bytes, and client masks
//! come from an injected [`MaskSource`]. That makes the codec deterministic, fuzzable, and
//! embeddable in any server, blocking or async.
//!
//! ```text
//!  socket bytes ─▶ handshake::parse_request ─▶ validate_request ─▶ AcceptResponse ─▶ socket
//!                  (Status::Partial until the head is whole;      or write_error_response)
//!  socket bytes ─▶ Connection::receive ─▶ poll_event() ─▶ Event::{Message, Ping, Pong, Close…}
//!                                        (poll_event_ref() lends the payload instead)
//!  your read buffer ─▶ Connection::take_in_place ─▶ MessageRef (whole frames, unmasked where
//!                      they lie; anything else ─▶ receive)
//!  app ─▶ Connection::send / close ─▶ pending_output() ─▶ socket ─▶ consume_output(n)
//! ```
//!
//! # Driving a server connection
//! From the raw request bytes to an echoed frame:
//!
//! ```
//! use tether_codec::handshake::{parse_request, validate_request, write_error_response, AcceptResponse};
//! use tether_codec::{Config, Connection, Event, Status};
//!
//! // What a client sent: its request head and, in the same packet, a masked text frame "Hello".
//! let mut input = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n".to_vec();
//! input.extend_from_slice(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
//!
//! let config = Config::default();
//! let mut to_socket = Vec::new();
//! let (req, used) = match parse_request(&input, &config) {
//!     Ok(Status::Complete(parsed)) => parsed,
//!     Ok(Status::Partial) => unreachable!("a real server reads more bytes and tries again"),
//!     Err(e) => {
//!         write_error_response(&e, &mut to_socket); // 400, 405, 426, 431 or 505
//!         return;
//!     }
//! };
//! match validate_request(&req) {
//!     Ok(key) => AcceptResponse::new(key).write(&req, &mut to_socket).unwrap(),
//!     Err(e) => return write_error_response(&e, &mut to_socket),
//! }
//! assert!(to_socket.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//!
//! // The bytes after the head are the start of the frame stream.
//! let mut conn = Connection::server(config).unwrap();
//! conn.receive(&input[used..]).unwrap();
//! while let Some(event) = conn.poll_event() {
//!     match event {
//!         Ok(Event::Message(msg)) => conn.send(msg.as_outgoing()).unwrap(),
//!         Ok(_) => {}
//!         Err(e) => eprintln!("peer failed the connection: {e}"), // its Close is queued
//!     }
//! }
//! to_socket.extend_from_slice(conn.pending_output());
//! let n = conn.pending_output().len();
//! conn.consume_output(n);
//! assert!(to_socket.ends_with(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']));
//! ```
//!
//! # What is here
//! Every item has one path: the [`handshake`] module (§4, both roles), and everything else at
//! the crate root.
//! - [`Connection`]: the state machine for messages, control frames and the close (§5–§7).
//! - [`FrameHeader`] and [`apply_mask`]: the header codec and masking (§5.2, §5.3). Masking
//!   has AVX2 builds chosen at run time, in `frame::simd`: the crate's only `unsafe`, paid for
//!   by a measured 1.6× at 64 KiB.
//! - [`Config`]: every limit, in one place.
//!
//! The modules behind the root are private, so internals stay internal: the incremental
//! UTF-8 validator, the byte-loop masking reference, the size ceiling of `Config`, and a
//! header's fields (read them through [`FrameHeader`]'s methods, which keep `decode`'s rules).
//!
//! ```compile_fail
//! use tether_codec::utf8::Utf8Validator;
//! ```
//! ```compile_fail
//! use tether_codec::frame::mask::apply_mask_reference;
//! ```
//! ```compile_fail
//! use tether_codec::config::MAX_LIMIT;
//! ```
//! ```compile_fail
//! use tether_codec::connection::Connection; // one path: tether_codec::Connection
//! ```
//! ```compile_fail
//! use tether_codec::{FrameHeader, Status};
//! if let Ok(Status::Complete((h, _))) = FrameHeader::decode(&[0x81, 0x05]) {
//!     let _ = h.payload_len; // a field: use h.payload_len()
//! }
//! ```
#![deny(unsafe_code)] // allowed in `frame::simd` alone
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod close;
mod config;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
mod encoded;
mod error;
mod frame;
pub mod handshake;
mod mask_source;
mod message;
mod status;
mod utf8;

pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, Event, EventRef, Role, State};
pub use encoded::EncodedFrame;
pub use error::{CapacityError, Error, HandshakeError, ProtocolError, UsageError};
pub use frame::header::FrameHeader;
pub use frame::mask::apply_mask;
pub use frame::opcode::Opcode;
pub use mask_source::{FixedMasks, MaskSource, OsRandom};
pub use message::{Message, MessageRef, Outgoing, Utf8Bytes};
pub use status::Status;

/// Not public API: what this repository's fuzz targets, benches and tests reach into. It may
/// change in any release; nothing outside the repository should use it.
///
/// A hidden module rather than a cargo feature: a feature that one member of the workspace
/// turns on is on for every member (features unify), so it would not keep these items out of
/// the build anyway, and the fuzz crate, the benches and the integration tests would each
/// have to name it.
#[doc(hidden)]
pub mod __private {
    pub use crate::frame::mask::{apply_mask_reference, extend_unmasked};
}
