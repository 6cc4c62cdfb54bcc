//! The `tether` binary's library: the command line and the applications it serves (RFC 6455 servers built on `tether-server`).
//!
//! Kept as a library so integration tests start the same apps in-process.
#![forbid(unsafe_code)]

pub mod apps;
pub mod cli;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
