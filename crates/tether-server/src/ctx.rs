//! `Ctx`: what a handler can do from inside a callback: send, close, broadcast, rooms, timers (RFC 6455 §5.6 messages, §7 close).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tether_codec::{CloseCode, EncodedFrame, MessageRef, Outgoing};

use crate::core::Core;
use crate::error::SendError;
use crate::handle::ServerHandle;
use crate::id::{ConnId, TimerId};
use crate::shared::Command;

/// The event loop, as a handler callback sees it.
///
/// Everything here works for connections on any worker: a connection held by another
/// thread is reached through that worker's bounded queue, and a full queue is reported as
/// [`SendError::QueueFull`] (nothing is queued, nothing waits).
pub struct Ctx<'a> {
    pub(crate) core: &'a mut Core,
}

impl Ctx<'_> {
    /// This worker's index.
    pub fn worker(&self) -> usize {
        self.core.worker
    }

    /// The time this turn of the loop started.
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// Connections open or opening, over all workers.
    pub fn connection_count(&self) -> usize {
        self.core.shared.connections.load(Ordering::Relaxed)
    }

    /// The peer address of a connection on this worker.
    pub fn peer_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        if conn.worker() != self.core.worker {
            return None;
        }
        self.core
            .conns
            .get_gen(conn.slot(), conn.serial())
            .map(|c| c.peer)
    }

    /// Queues a message to one connection.
    ///
    /// For a connection on this worker the result is exact; one on another worker is reached
    /// asynchronously and errors there are not reported back.
    pub fn send(&mut self, conn: ConnId, msg: Outgoing<'_>) -> Result<(), SendError> {
        if conn.worker() == self.core.worker {
            return self.core.send_local(conn, msg);
        }
        let frame = EncodedFrame::server(msg)?;
        self.core
            .shared
            .send_to(conn.worker(), Command::Send(conn, frame))
    }

    /// Queues a received message to one connection (an echo or a relay): a [`MessageRef`]
    /// from `on_message` or a kept [`Message`](tether_codec::Message). On this worker a payload of 8 KiB or more that
    /// has a buffer of its own is sent by reference, without a copy; anything else is copied.
    pub fn send_message<'m>(
        &mut self,
        conn: ConnId,
        msg: impl Into<MessageRef<'m>>,
    ) -> Result<(), SendError> {
        let msg = msg.into();
        match msg.owned() {
            Some(owned) if conn.worker() == self.core.worker => {
                self.core.send_message_local(conn, owned)
            }
            _ => self.send(conn, msg.as_outgoing()),
        }
    }

    /// Queues a frame encoded once (see [`EncodedFrame::server`]) to one connection.
    pub fn send_frame(&mut self, conn: ConnId, frame: &EncodedFrame) -> Result<(), SendError> {
        if conn.worker() == self.core.worker {
            return self.core.send_frame_local(conn, frame);
        }
        self.core
            .shared
            .send_to(conn.worker(), Command::Send(conn, frame.clone()))
    }

    /// Starts closing a connection with `code` and `reason`; `on_close` follows.
    pub fn close(&mut self, conn: ConnId, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if conn.worker() == self.core.worker {
            self.core.close_local(conn, code, reason);
            return Ok(());
        }
        self.core
            .shared
            .send_to(conn.worker(), Command::Close(conn, code, reason.to_owned()))
    }

    /// Sends a message to every open connection on every worker, encoded once.
    pub fn broadcast(&mut self, msg: Outgoing<'_>) -> Result<(), SendError> {
        let frame = EncodedFrame::server(msg)?;
        self.core.broadcast_local(&frame);
        let me = self.core.worker;
        self.core
            .shared
            .fan_out(Some(me), || Command::Broadcast(frame.clone()))
    }

    /// Sends a message to every open connection on this worker only.
    pub fn broadcast_local(&mut self, msg: Outgoing<'_>) -> Result<(), SendError> {
        let frame = EncodedFrame::server(msg)?;
        self.core.broadcast_local(&frame);
        Ok(())
    }

    /// Adds a connection to a room.
    pub fn join(&mut self, conn: ConnId, room: &str) -> Result<(), SendError> {
        if conn.worker() == self.core.worker {
            self.core.join_local(conn, room);
            return Ok(());
        }
        self.core
            .shared
            .send_to(conn.worker(), Command::Join(conn, Arc::from(room)))
    }

    /// Removes a connection from a room (closing connections leave all rooms by themselves).
    pub fn leave(&mut self, conn: ConnId, room: &str) -> Result<(), SendError> {
        if conn.worker() == self.core.worker {
            self.core.leave_local(conn, room);
            return Ok(());
        }
        self.core
            .shared
            .send_to(conn.worker(), Command::Leave(conn, Arc::from(room)))
    }

    /// Members of `room` held by this worker.
    pub fn local_room_size(&self, room: &str) -> usize {
        self.core.rooms.len(room)
    }

    /// Sends a message to every member of `room`, on every worker and, through a
    /// [`Broker`](crate::Broker), on other server instances.
    ///
    /// Every member sees a room's messages in one order (see the [`Broker`](crate::Broker)
    /// module). With one worker and no broker they go out at once; otherwise they go
    /// through the workers' queues (or the broker), so even this worker's members get them
    /// at the end of this turn of the loop, not during the call.
    pub fn publish(&mut self, room: &str, msg: Outgoing<'_>) -> Result<(), SendError> {
        self.publish_inner(room, msg, None)
    }

    /// Like [`publish`](Self::publish), but `except` (typically the sender) does not get it.
    pub fn publish_except(
        &mut self,
        room: &str,
        msg: Outgoing<'_>,
        except: ConnId,
    ) -> Result<(), SendError> {
        self.publish_inner(room, msg, Some(except))
    }

    fn publish_inner(
        &mut self,
        room: &str,
        msg: Outgoing<'_>,
        except: Option<ConnId>,
    ) -> Result<(), SendError> {
        let shared = &self.core.shared;
        if shared.broker.is_none() && shared.links.len() == 1 {
            // One loop delivers everything: the call order is the order.
            let frame = EncodedFrame::server(msg)?;
            self.core.publish_local(room, &frame, except);
            return Ok(());
        }
        self.core.shared.clone().publish(room, msg, except, None)
    }

    /// Calls [`Handler::on_timer`](crate::Handler::on_timer) with `token` once, after `after`.
    pub fn set_timer(&mut self, after: Duration, token: u64) -> TimerId {
        self.core.timers.add_app(self.core.now, after, token, false)
    }

    /// Calls [`Handler::on_timer`](crate::Handler::on_timer) with `token` every `every`
    /// (what Workerman's `Timer::add` does).
    pub fn set_interval(&mut self, every: Duration, token: u64) -> TimerId {
        self.core.timers.add_app(self.core.now, every, token, true)
    }

    /// Cancels a timer of this worker; it will not fire again. Returns whether it was
    /// pending. A timer belongs to the worker that set it: another worker's id is left alone.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        id.worker() == self.core.worker && self.core.timers.cancel_app(id)
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.core.shared.clone(),
        }
    }
}
