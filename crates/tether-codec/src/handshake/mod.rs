//! The opening handshake (RFC 6455 §4): HTTP/1.1 Upgrade parsing, validation and responses, for both roles.
//!
//! Server side: [`parse_request`] → [`validate_request`] → [`AcceptResponse`] (or
//! [`write_error_response`] / [`write_reject_response`]). Client side: [`ClientHandshake`].

mod accept;
mod client;
mod http;
mod reason;
mod request;
mod response;
mod subprotocol;
mod validate;

pub use accept::{AcceptKey, GUID};
pub use client::{ClientHandshake, ClientRequest, Response};
#[cfg(feature = "deflate")]
pub(crate) use http::is_token;
pub use http::Header;
pub use reason::{reason_phrase, status_has_body};
pub use request::{parse_request, Request};
pub use response::{write_error_response, write_reject_response, AcceptResponse};
#[cfg(feature = "deflate")]
pub(crate) use subprotocol::split_unquoted;
pub use subprotocol::{list_tokens, token_list_contains};
pub use validate::validate_request;
