//! Integration tests of the `demo` app: every endpoint, every `/live` rule, the allowlists, over real sockets on 127.0.0.1.
//!
//! One test binary with modules (link time on small machines). Servers run in-process
//! through `tether::apps` on port 0; every wait is bounded.

mod access;
mod cluster;
mod endpoints;
mod http;
mod live;
#[path = "../support/log_capture.rs"]
mod log_capture;
mod logs;
#[path = "../support/redis.rs"]
mod redis_server;
mod util;
