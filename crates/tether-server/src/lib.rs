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
//! handshake, ping, idle and close timeouts; rooms and timers; several cores; graceful shutdown.
//!
//! # Writing an application
//! Implement [`Handler`] (one instance per worker) and act through [`Ctx`]; push from other
//! threads with [`ServerHandle`]. See [`Server`] for a complete echo server.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod conn;
mod ctx;
mod error;
mod event_loop;
mod handle;
mod handler;
mod rooms;
mod server;
mod slab;
mod timers;

pub use config::ServerConfig;
pub use ctx::Ctx;
pub use error::{SendError, ServerError};
pub use handle::{Broker, ServerHandle};
pub use handler::{ConnId, Handler, HttpResponse, Upgrade, UpgradeRequest};
pub use server::Server;
pub use timers::TimerId;
