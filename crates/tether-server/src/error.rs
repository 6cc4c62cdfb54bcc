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
    /// A worker thread died of a panic that escaped every guard (a bug); the others were
    /// shut down rather than serve on with one loop fewer.
    #[error("worker {0} panicked")]
    WorkerPanicked(usize),
    /// A worker's event loop failed (its poll or waker); the others were shut down.
    #[error("worker {0} failed: {1}")]
    WorkerFailed(usize, std::io::Error),
    /// The broker could not start.
    #[error("broker: {0}")]
    Broker(std::io::Error),
    /// The metrics endpoint could not be bound.
    #[error("metrics endpoint on {0}: {1}")]
    Metrics(std::net::SocketAddr, std::io::Error),
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
    /// The target worker's command queue is full (see `ServerConfig::worker_queue_capacity`):
    /// nothing was queued. Counted in `tether_worker_queue_full_total`.
    #[error("the worker's command queue is full")]
    QueueFull,
    /// The target worker has stopped (the server is shutting down).
    #[error("the worker has stopped")]
    WorkerGone,
    /// Pings and pongs go to one connection: a room takes text and binary messages only.
    #[error("only text and binary messages can be published to a room")]
    NotARoomMessage,
    /// A text room message from another instance is not UTF-8 (dropped).
    #[error("text room message is not UTF-8")]
    NotUtf8,
    /// The broker's queue to other instances is full: nothing was queued. Counted in
    /// `tether_broker_queue_full_total`.
    #[error("the broker's queue is full")]
    BrokerBusy,
    /// The message cannot be encoded (e.g. a ping over 125 bytes).
    #[error("cannot encode: {0}")]
    Codec(#[from] tether_codec::Error),
}
