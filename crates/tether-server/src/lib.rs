//! Tether's WebSocket server: mio event loops on the sans-IO [`tether_codec`] (RFC 6455 server role).
//!
//! # If you know the PHP `socket_select` push server
//! The classic PHP server keeps a master socket and a `$users` array, loops on
//! `socket_select`, calls `doHandShake` on a user's first bytes, `unwrap`s frames, answers,
//! and disconnects. Tether does the same job:
//!
//! | PHP push server                         | Tether                                                    |
//! |-----------------------------------------|-----------------------------------------------------------|
//! | `socket_create` + `bind` + `listen`     | [`Server::bind`] (one listener per worker, `SO_REUSEPORT`) |
//! | `socket_select($changed, …)` loop       | a `mio::Poll` loop per worker thread                      |
//! | `socket_accept` on the master socket    | accept until `WouldBlock`, `503` past `max_connections`   |
//! | `$users[]` array                        | a slab of connections, ids with generations ([`ConnId`])  |
//! | `doHandShake($buffer, $socket)`         | `tether_codec::handshake`: parse, validate, 101 or 4xx    |
//! | `unwrap($buffer)` / `mask($text)`       | `tether_codec::Connection`: frames, UTF-8, close, pongs   |
//! | `socket_write` to every user            | [`Ctx::broadcast`]: one encoding, every peer, all threads |
//! | `socket_close` + `unset($users[$i])`    | close handshake, FIN first, `on_close`                    |
//!
//! What it adds: non-blocking I/O with a shared read buffer per loop; backpressure (stop
//! reading a peer whose output passes a high-water mark, close a slow consumer with 1008);
//! a process-wide budget for buffered bytes; handshake, ping, idle and close timeouts; rooms
//! and timers; several cores with bounded queues between them; panics in application
//! callbacks caught per connection; metrics; a graceful shutdown within its deadline.
//!
//! # Layout
//! | file | owns |
//! |---|---|
//! | `server.rs` | binding, starting the workers, a dead worker stopping the rest |
//! | `worker.rs` | one worker's poll loop, commands, shutdown |
//! | `accept.rs`, `handshake.rs`, `dispatch.rs`, `timeouts.rs` | the loop's steps |
//! | `core.rs` | the connection table and what can be done to a connection |
//! | `conn.rs`, `slab.rs`, `id.rs`, `rooms.rs`, `timers.rs` | its parts |
//! | `tls.rs`, `tls_config.rs` | `wss://`: TLS on a connection, certificates |
//! | `proxy.rs` | the client's address behind proxies: PROXY protocol, `X-Forwarded-For` |
//! | `handler.rs`, `ctx.rs`, `handle.rs` | what applications see |
//! | `shared.rs`, `metrics.rs`, `log_limit.rs` | what the threads share |
//! | `broker/` | the seam to other server instances, the room order, the Redis engine (feature `redis`) |
//!
//! # Writing an application
//! Implement [`Handler`] (one instance per worker) and act through [`Ctx`]; push from other
//! threads with [`ServerHandle`]. See [`Server`] for a complete echo server.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod accept;
pub mod broker;
mod config;
mod conn;
mod core;
mod ctx;
mod dispatch;
mod error;
mod handle;
mod handler;
mod handshake;
mod id;
mod log_limit;
mod metrics;
pub mod proxy;
mod rooms;
mod server;
mod shared;
mod slab;
mod timeouts;
mod timers;
mod tls;
mod tls_config;
mod worker;

pub use broker::{Broker, BrokerLink, BrokerStats, Keep, RoomMessage};
pub use config::ServerConfig;
pub use ctx::Ctx;
pub use error::{SendError, ServerError};
pub use handle::ServerHandle;
pub use handler::{Handler, HttpResponse, Upgrade, UpgradeRequest};
pub use id::{ConnId, TimerId};
pub use log_limit::LogLimit;
/// The TLS library [`TlsConfig::new`] takes a configuration from.
pub use rustls;
pub use server::Server;
/// permessage-deflate settings (RFC 7692), for [`ServerConfig::deflate`].
pub use tether_codec::deflate::DeflateConfig;
/// The codec types an application touches, so it depends on this crate alone.
pub use tether_codec::{
    Bytes, CloseCode, CloseFrame, EncodedFrame, Message, MessageRef, Outgoing, Utf8Bytes,
};
pub use tls_config::{TlsConfig, TlsError};
