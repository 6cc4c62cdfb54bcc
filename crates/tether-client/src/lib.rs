//! Tether's blocking WebSocket client over `std::net` (RFC 6455 client role: §3 URLs, §4.1 handshake, §5 framing, §7 closing).
//!
//! A thin driver around [`tether_codec::Connection`]: it resolves and dials the URL, writes
//! the opening request, feeds every byte it reads to the codec (including any that arrive
//! in the same packet as the `101` response) and writes everything the codec queues (frames,
//! pongs, Close replies). Masking keys and the handshake nonce come from
//! [`tether_codec::OsRandom`]. There is no TLS: `wss://` URLs are refused.
//!
//! Used by integration tests, tools and the Autobahn client-role runner
//! (`examples/autobahn_client.rs`).
//!
//! ```no_run
//! use tether_client::{Client, ClientError};
//! use tether_codec::{CloseCode, Message};
//!
//! fn main() -> Result<(), ClientError> {
//!     let mut client = Client::connect("ws://127.0.0.1:9001/echo")?;
//!     client.send_text("hello")?;
//!     match client.recv_message()? {
//!         Message::Text(text) => println!("echo: {text}"),
//!         Message::Binary(data) => println!("{} bytes", data.len()),
//!     }
//!     let reply = client.close(CloseCode::NORMAL, "done")?;
//!     println!("server closed with {:?}", reply.map(|f| f.code));
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod client;
mod config;
mod error;
mod transport;
mod url;

pub use client::Client;
pub use config::ClientConfig;
pub use error::ClientError;
/// The TLS library [`ClientConfig::tls`] takes a configuration from.
pub use rustls;
pub use tether_codec::{CloseCode, CloseFrame, Event, Message, Opcode, Outgoing};
