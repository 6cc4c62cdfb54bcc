//! The client's real address behind a proxy: the PROXY protocol header, versions 1 and 2 (HAProxy's spec, <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>), and the de facto `X-Forwarded-For` header (not RFC 7239's `Forwarded`); pure functions on bytes, no I/O.
//!
//! HAProxy, AWS NLB and Tencent Cloud CLB put a PROXY header before the first byte of the
//! client's stream; nginx adds `X-Forwarded-For` to the HTTP request instead. A listener that
//! expects the PROXY header feeds what it has read to [`parse`] until it is
//! [`Status::Complete`], then hands the bytes after it to the HTTP handshake. Any error,
//! [`ProxyError::NotProxy`] included, means: answer 400 and close, never read the bytes as
//! HTTP (spec §2: a receiver must not guess whether the header is there).
//!
//! Either source is believed only from a trusted proxy: a listener that expects the PROXY
//! header should take connections from [`TrustedProxies`] alone (spec §5), and
//! [`client_addr_from_forwarded`] ignores `X-Forwarded-For` from anyone else.
//!
//! | file | owns |
//! |---|---|
//! | `proxy/header.rs` | the parse result and errors, telling the two versions apart |
//! | `proxy/v1.rs`, `proxy/v2.rs` | each version's format |
//! | `proxy/trusted.rs` | the set of trusted proxy addresses |
//! | `proxy/forwarded.rs` | the client's address from `X-Forwarded-For` |

mod forwarded;
mod header;
mod trusted;
mod v1;
mod v2;

pub use forwarded::client_addr_from_forwarded;
pub(crate) use forwarded::parse_entry;
pub use header::{parse, parse_with_limit, ProxyError, ProxyHeader, Status, DEFAULT_MAX_V2_LEN};
pub use trusted::{TrustedProxies, TrustedProxiesError};
