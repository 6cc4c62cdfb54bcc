//! Integration tests of `tether-server` over loopback with `tether-client` (RFC 6455 end to end): one test binary, one module per concern.

mod accept;
mod apps;
mod close;
mod deflate;
mod echo;
mod handshake;
mod hardening;
mod limits;
#[path = "../support/log_capture.rs"]
mod log_capture;
mod logs;
mod multi;
mod order;
mod proxy;
#[path = "../support/redis.rs"]
mod redis_server;
mod scale;
mod timeouts;
mod tls;
mod util;
