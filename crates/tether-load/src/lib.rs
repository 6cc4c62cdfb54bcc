//! `tether-load`: a loopback WebSocket load generator (RFC 6455 client role) that is never the bottleneck, and the library behind its binaries.
//!
//! One thread, one `mio` loop, pre-encoded masked frames, reused buffers, and a streaming
//! check of every echoed byte; `wss://` through rustls on the same loop. Four modes:
//!
//! - [`echo`]: N connections × K messages in flight of S bytes for a duration; messages/s,
//!   MB/s, latency percentiles (hdrhistogram), server CPU µs per message from `/proc`.
//! - [`idle`]: hold N open connections (over several 127.0.0.x sources when ports run short)
//!   and report the server's RSS per connection.
//! - [`broadcast`]: N subscribers; one of them publishes to a `/broadcast` endpoint (see the
//!   `tether-bench-server` binary) and every delivery's latency is measured.
//! - [`handshakes`]: open and close N connections a batch at a time; handshakes per second
//!   and per server CPU-second.
//!
//! Every run ends with one JSON line on stdout, for `benches/compare.sh`.

pub mod broadcast;
pub mod cli;
pub mod echo;
pub mod handshakes;
pub mod idle;
pub mod net;
pub mod stats;
pub mod tls;
pub mod wire;
