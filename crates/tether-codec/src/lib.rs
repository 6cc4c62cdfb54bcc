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
//! # Modules
//! - [`handshake`]: the opening handshake, both roles (§4).
//! - [`frame`]: header codec and masking (§5.2, §5.3). Masking has AVX2 builds chosen at run
//!   time, in `frame::simd`: the crate's only `unsafe`, paid for by a measured 1.6× at 64 KiB.
//! - [`Connection`]: the state machine for messages, control frames and the close (§5–§7).
//! - [`Config`]: every limit, in one place.
#![deny(unsafe_code)] // allowed in `frame::simd` alone
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod close;
pub mod config;
pub mod connection;
pub mod encoded;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask_source;
pub mod message;
pub mod status;
pub mod utf8;

pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, Event, EventRef, Role, State};
pub use encoded::EncodedFrame;
pub use error::{CapacityError, Error, HandshakeError, ProtocolError, UsageError};
pub use frame::header::FrameHeader;
pub use frame::opcode::Opcode;
pub use mask_source::{FixedMasks, MaskSource, OsRandom};
pub use message::{Message, Outgoing, Utf8Bytes};
pub use status::Status;
