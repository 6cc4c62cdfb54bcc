//! Cross-thread control: `ServerHandle` pushes, publishes and shuts down through each worker's command queue and `mio::Waker`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use tether_codec::{CloseCode, EncodedFrame, Outgoing};

use crate::error::SendError;
use crate::handler::ConnId;

/// Work sent to a worker thread.
#[derive(Debug)]
pub(crate) enum Command {
    Send(ConnId, EncodedFrame),
    Close(ConnId, CloseCode, String),
    Broadcast(EncodedFrame),
    Publish(Arc<str>, EncodedFrame),
    Join(ConnId, Arc<str>),
    Leave(ConnId, Arc<str>),
    Notify(u64),
    Shutdown,
}

/// One worker's inbox.
pub(crate) struct WorkerLink {
    pub(crate) tx: Sender<Command>,
    pub(crate) waker: Arc<mio::Waker>,
}

/// Carries room messages between server instances (e.g. over Redis pub/sub).
///
/// The server calls [`publish`](Broker::publish) for every [`Ctx::publish`](crate::Ctx::publish)
/// made on this instance, after delivering it locally. A broker delivers what other instances
/// published with [`ServerHandle::deliver`]. Applications do not change when one is plugged in.
pub trait Broker: Send + Sync + 'static {
    /// Forward a message published to `room` on this instance to the other instances.
    fn publish(&self, room: &str, frame: &EncodedFrame);
}

/// State shared by all workers.
pub(crate) struct Shared {
    pub(crate) links: Vec<WorkerLink>,
    pub(crate) connections: AtomicUsize,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) broker: Option<Arc<dyn Broker>>,
}

impl Shared {
    pub(crate) fn send_to(&self, worker: usize, cmd: Command) {
        if let Some(link) = self.links.get(worker) {
            if link.tx.send(cmd).is_ok() {
                if let Err(e) = link.waker.wake() {
                    log::error!("waking worker {worker}: {e}");
                }
            }
        }
    }

    /// Sends a copy of a command to every worker except `except`.
    pub(crate) fn fan_out(&self, except: Option<usize>, make: impl Fn() -> Command) {
        for w in 0..self.links.len() {
            if Some(w) != except {
                self.send_to(w, make());
            }
        }
    }
}

/// Controls a running server from any thread: push messages, publish to rooms, shut down.
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
    /// Starts a graceful shutdown: stop accepting, send Close 1001 to everyone, wait a bounded
    /// time for the replies. [`Server::run`](crate::Server::run) then returns.
    pub fn shutdown(&self) {
        if !self.shared.shutting_down.swap(true, Ordering::SeqCst) {
            self.shared.fan_out(None, || Command::Shutdown);
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// Connections open or opening, over all workers.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Sends a message to one connection, on whatever worker holds it.
    pub fn send(&self, conn: ConnId, msg: Outgoing<'_>) -> Result<(), SendError> {
        let frame = EncodedFrame::server(msg)?;
        self.shared
            .send_to(conn.worker(), Command::Send(conn, frame));
        Ok(())
    }

    /// Closes one connection with a code and reason.
    pub fn close(&self, conn: ConnId, code: CloseCode, reason: &str) {
        self.shared
            .send_to(conn.worker(), Command::Close(conn, code, reason.to_owned()));
    }

    /// Sends a message to every open connection (encoded once).
    pub fn broadcast(&self, msg: Outgoing<'_>) -> Result<(), SendError> {
        let frame = EncodedFrame::server(msg)?;
        self.shared
            .fan_out(None, || Command::Broadcast(frame.clone()));
        Ok(())
    }

    /// Publishes a message to a room on this instance and, through the broker, on the others.
    pub fn publish(&self, room: &str, msg: Outgoing<'_>) -> Result<(), SendError> {
        let frame = EncodedFrame::server(msg)?;
        self.deliver(room, &frame);
        if let Some(b) = &self.shared.broker {
            b.publish(room, &frame);
        }
        Ok(())
    }

    /// Delivers a room message to this instance's members only: what a [`Broker`] calls with
    /// messages from other instances.
    pub fn deliver(&self, room: &str, frame: &EncodedFrame) {
        let room: Arc<str> = Arc::from(room);
        self.shared
            .fan_out(None, || Command::Publish(room.clone(), frame.clone()));
    }

    /// Adds a connection to a room.
    pub fn join(&self, conn: ConnId, room: &str) {
        self.shared
            .send_to(conn.worker(), Command::Join(conn, Arc::from(room)));
    }

    /// Removes a connection from a room.
    pub fn leave(&self, conn: ConnId, room: &str) {
        self.shared
            .send_to(conn.worker(), Command::Leave(conn, Arc::from(room)));
    }

    /// Calls [`Handler::on_notify`](crate::Handler::on_notify) with `value` on every worker:
    /// a way for other threads to wake the application.
    pub fn notify(&self, value: u64) {
        self.shared.fan_out(None, || Command::Notify(value));
    }
}
