//! Errors of the server: failing to start, and failing to queue a message (RFC 6455 §5.5 limits apply to what is sent).

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// Binding, polling or spawning failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A worker thread panicked (a bug in a handler).
    #[error("worker {0} panicked")]
    WorkerPanicked(usize),
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No open connection has this id (it closed, or never existed).
    #[error("no such open connection")]
    NotFound,
    /// The connection is closing; nothing more may be sent.
    #[error("connection is closing")]
    Closed,
    /// The connection's output is over `max_output_buffer`: it was closed with 1008.
    #[error("slow consumer: output buffer full, connection closed with 1008")]
    SlowConsumer,
    /// The message cannot be encoded (e.g. a ping over 125 bytes).
    #[error("cannot encode: {0}")]
    Codec(#[from] tether_codec::Error),
}
