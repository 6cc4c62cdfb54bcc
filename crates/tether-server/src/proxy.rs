//! The client's real address behind a proxy: the PROXY protocol header, versions 1 and 2 (HAProxy's spec, <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>); pure functions on bytes, no I/O.
//!
//! HAProxy, AWS NLB and Tencent Cloud CLB put a PROXY header before the first byte of the
//! client's stream. A listener that expects it feeds what it has read to [`parse`] until it is
//! [`Status::Complete`], then hands the bytes after it to the HTTP handshake. Any error,
//! [`ProxyError::NotProxy`] included, means: answer 400 and close, never read the bytes as
//! HTTP (spec §2: a receiver must not guess whether the header is there).
//!
//! The header is believed only from a trusted proxy: a listener that expects it should take
//! connections from [`TrustedProxies`] alone (spec §5).
//!
//! | file | owns |
//! |---|---|
//! | `proxy/header.rs` | the parse result and errors, telling the two versions apart |
//! | `proxy/v1.rs`, `proxy/v2.rs` | each version's format |
//! | `proxy/trusted.rs` | the set of trusted proxy addresses |

mod header;
mod trusted;
mod v1;
mod v2;

pub use header::{parse, parse_with_limit, ProxyError, ProxyHeader, Status, DEFAULT_MAX_V2_LEN};
pub use trusted::{TrustedProxies, TrustedProxiesError};
