//! Cross-thread control: `ServerHandle` pushes, publishes and shuts down through each worker's bounded command queue.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tether_codec::{CloseCode, EncodedFrame, Outgoing};

use crate::broker::Keep;
use crate::error::SendError;
use crate::id::ConnId;
use crate::shared::{Command, Shared};
use crate::tls_config::{TlsConfig, TlsError};

/// Controls a running server from any thread: push messages, publish to rooms, shut down.
///
/// Every command goes through the target worker's bounded queue: when it is full the call
/// returns [`SendError::QueueFull`] at once and nothing is queued.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("workers", &self.shared.links.len())
            .field("connections", &self.connection_count())
            .finish()
    }
}

impl ServerHandle {
    /// Starts a graceful shutdown: stop accepting, send Close 1001 to everyone, wait at most
    /// `shutdown_timeout` for the replies. [`Server::run`](crate::Server::run) then returns.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }

    /// Serves new connections with `tls` from now on (a renewed certificate); open ones keep
    /// theirs. Fails with [`TlsError::NotEnabled`] on a server started without TLS.
    pub fn set_tls(&self, tls: TlsConfig) -> Result<(), TlsError> {
        let lock = self.shared.tls.as_ref().ok_or(TlsError::NotEnabled)?;
        // A poisoned lock only means a panic elsewhere while it was held: the value is whole.
        *lock.write().unwrap_or_else(|e| e.into_inner()) = tls;
        Ok(())
    }

    /// Whether a shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// Connections open or opening, over all workers.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The server's counters in the Prometheus text format (what `--metrics-listen` serves).
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.encode()
    }

    /// Sends a message to one connection, on whatever worker holds it.
    pub fn send(&self, conn: ConnId, msg: Outgoing<'_>) -> Result<(), SendError> {
        let frame = EncodedFrame::server(msg)?;
        self.shared
            .send_to(conn.worker(), Command::Send(conn, frame))
    }

    /// Closes one connection with a code and reason.
    pub fn close(&self, conn: ConnId, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.shared
            .send_to(conn.worker(), Command::Close(conn, code, reason.to_owned()))
    }

    /// Sends a message to every open connection (encoded once). Every worker is tried; the
    /// first refusal is returned.
    pub fn broadcast(&self, msg: Outgoing<'_>) -> Result<(), SendError> {
        let frame = EncodedFrame::server(msg)?;
        self.shared
            .fan_out(None, || Command::Broadcast(frame.clone()))
    }

    /// Publishes a message to a room on this instance and, through the broker, on the others,
    /// in the room's one order (see [`Ctx::publish`](crate::Ctx::publish)).
    pub fn publish(&self, room: &str, msg: Outgoing<'_>) -> Result<(), SendError> {
        self.shared.publish(room, msg, None, None)
    }

    /// Like [`publish`](Self::publish), and with a broker also appends `keep` to a shared
    /// history in the same step, so that the history's order is the order members saw (the
    /// Redis engine runs both in one script). Without a broker nothing is kept: the
    /// application keeps its own.
    pub fn publish_and_keep(
        &self,
        room: &str,
        msg: Outgoing<'_>,
        keep: Keep,
    ) -> Result<(), SendError> {
        self.shared.publish(room, msg, None, Some(keep))
    }

    /// Like [`publish`](Self::publish), but `except` (typically the sender) does not get it.
    pub fn publish_except(
        &self,
        room: &str,
        msg: Outgoing<'_>,
        except: ConnId,
    ) -> Result<(), SendError> {
        self.shared.publish(room, msg, Some(except), None)
    }

    /// Adds a connection to a room.
    pub fn join(&self, conn: ConnId, room: &str) -> Result<(), SendError> {
        self.shared
            .send_to(conn.worker(), Command::Join(conn, Arc::from(room)))
    }

    /// Removes a connection from a room.
    pub fn leave(&self, conn: ConnId, room: &str) -> Result<(), SendError> {
        self.shared
            .send_to(conn.worker(), Command::Leave(conn, Arc::from(room)))
    }

    /// Calls [`Handler::on_notify`](crate::Handler::on_notify) with `value` on every worker:
    /// a way for other threads to wake the application.
    pub fn notify(&self, value: u64) -> Result<(), SendError> {
        self.shared.fan_out(None, || Command::Notify(value))
    }
}
