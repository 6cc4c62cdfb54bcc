//! The scale-out seam: a [`Broker`] carries room messages between server instances off the event loop, and puts every room's messages in one order (RFC 6455 §5.6 data messages, relayed).
//!
//! # Order
//! Every member of a room, on every worker of every instance, sees the room's messages in
//! one order. Without a broker, a process with several workers takes a per-room lock while
//! it queues a message to every worker (a striped lock): the queues are FIFO, so the order in
//! which publishers took the lock is the order everyone sees. With a broker, a published
//! message is not delivered locally at once: it goes to the broker, and every instance
//! delivers what comes back from it (its own messages included, once) in the order it
//! arrives, which the engine makes the same everywhere (Redis serializes a channel's
//! `PUBLISH`es).
//!
//! # Interest
//! The server tells the broker when a room gets its first member on this instance and when
//! it loses its last ([`Broker::interest`]), so an engine subscribes only to rooms that have
//! members here.

mod interest;
#[cfg(feature = "redis")]
pub mod redis;
pub mod wire;

pub(crate) use interest::Interest;

use std::sync::{Arc, Mutex, MutexGuard};

use tether_codec::{EncodedFrame, Outgoing};

use crate::error::SendError;
use crate::id::ConnId;
use crate::shared::{Command, Shared};

/// A room message as it crosses the seam: the payload, its type, and who must not get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMessage {
    /// The room.
    pub room: Arc<str>,
    /// A text message (valid UTF-8) rather than a binary one.
    pub text: bool,
    /// The message as the application gave it (never compressed: each connection's own
    /// permessage-deflate settings apply on the way out).
    pub payload: bytes::Bytes,
    /// A connection of the publishing instance that does not get it (the sender of a relay,
    /// as Socket.IO's `socket.to(room)`); meaningless on other instances.
    pub except: Option<ConnId>,
    /// An entry to append to a shared history in the same step as the publish, so the
    /// history's order is the order members saw (see [`Keep`]).
    pub keep: Option<Arc<Keep>>,
}

/// A history entry kept with a room message: appended to the list `list`, which keeps its last
/// `max` entries, atomically with the publish (the Redis engine does both in one script).
/// Without a broker nothing is kept: a single process keeps its own history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keep {
    /// The list's name (a Redis key).
    pub list: String,
    /// The entry.
    pub entry: bytes::Bytes,
    /// Entries the list keeps, at most (at least 1).
    pub max: usize,
}

impl RoomMessage {
    /// A message for `room` from an application's [`Outgoing`] text or binary message.
    pub fn new(
        room: &str,
        msg: Outgoing<'_>,
        except: Option<ConnId>,
    ) -> Result<RoomMessage, SendError> {
        let (text, payload) = match msg {
            Outgoing::Text(t) => (true, t.as_bytes()),
            Outgoing::Binary(b) => (false, b),
            // Control frames belong to one connection, not to a room.
            Outgoing::Ping(_) | Outgoing::Pong(_) => return Err(SendError::NotARoomMessage),
        };
        Ok(RoomMessage {
            room: Arc::from(room),
            text,
            payload: bytes::Bytes::copy_from_slice(payload),
            except,
            keep: None,
        })
    }
}

/// Carries room messages between server instances (Redis pub/sub, say).
///
/// Every method is called from event-loop threads and **must not block**: queue the work for
/// the engine's own thread and return. [`Server::bind_with_broker`](crate::Server::bind_with_broker)
/// calls [`start`](Broker::start) once, before any worker runs.
pub trait Broker: Send + Sync + 'static {
    /// Starts the engine's threads; from now on it delivers what it receives to `link`.
    fn start(&self, link: BrokerLink) -> std::io::Result<()>;

    /// Sends a message published on this instance to every instance with members in its
    /// room, this one included. A full queue returns [`SendError::QueueFull`] at once.
    ///
    /// While the engine cannot reach its peers (Redis is down), it delivers the message to
    /// this instance's members itself, through the link, so local rooms keep working.
    fn publish(&self, msg: RoomMessage) -> Result<(), SendError>;

    /// `room` got its first member on this instance (`true`) or lost its last (`false`).
    /// Calls for one room come in the order the changes happened.
    fn interest(&self, room: &Arc<str>, on: bool);

    /// The server has stopped: the engine's threads end (called once).
    fn stop(&self);
}

/// Where a [`Broker`] delivers: this instance's workers.
#[derive(Clone)]
pub struct BrokerLink {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for BrokerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerLink")
            .field("workers", &self.shared.links.len())
            .finish()
    }
}

impl BrokerLink {
    /// Delivers a room message to this instance's members of its room: encoded once, queued
    /// to every worker in the order of the calls. Call it from one thread per room (the
    /// engine's receiving thread) so that the order is the one the engine received.
    pub fn deliver(&self, msg: &RoomMessage) -> Result<(), SendError> {
        let out = if msg.text {
            Outgoing::Text(std::str::from_utf8(&msg.payload).map_err(|_| SendError::NotUtf8)?)
        } else {
            Outgoing::Binary(&msg.payload)
        };
        let frame = EncodedFrame::server(out)?;
        let _order = self.shared.sequencer.lock(&msg.room);
        self.shared.fan_out(None, || {
            Command::Publish(msg.room.clone(), frame.clone(), msg.except)
        })
    }

    /// Whether the server is shutting down.
    pub fn is_shutting_down(&self) -> bool {
        self.shared
            .shutting_down
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The rooms with members on this instance now (what an engine subscribes to again after
    /// a reconnect).
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.shared.interest.rooms()
    }

    /// The engine's counters, exported with the server's metrics (`tether_broker_*`).
    pub fn stats(&self) -> &BrokerStats {
        &self.shared.metrics.broker
    }
}

/// What a broker engine reports: exported as `tether_broker_*` in the Prometheus format.
#[derive(Debug, Default)]
pub struct BrokerStats {
    pub(crate) connected: prometheus_client::metrics::gauge::Gauge,
    pub(crate) published: prometheus_client::metrics::counter::Counter,
    pub(crate) received: prometheus_client::metrics::counter::Counter,
    pub(crate) queue_full: prometheus_client::metrics::counter::Counter,
    pub(crate) delivered_locally: prometheus_client::metrics::counter::Counter,
    pub(crate) reconnects: prometheus_client::metrics::counter::Counter,
    pub(crate) gaps: prometheus_client::metrics::counter::Counter,
    pub(crate) rejected: prometheus_client::metrics::counter::Counter,
}

impl BrokerStats {
    /// Connected to the engine's peers or not (`tether_broker_connected`).
    pub fn set_connected(&self, up: bool) {
        self.connected.set(i64::from(up));
    }
    /// Whether the engine last said it was connected.
    pub fn is_connected(&self) -> bool {
        self.connected.get() == 1
    }
    /// `n` messages were handed to the engine's peers.
    pub fn note_published(&self, n: u64) {
        self.published.inc_by(n);
    }
    /// A message came from the engine's peers and was delivered here.
    pub fn note_received(&self) {
        self.received.inc();
    }
    /// A publish was refused: the engine's queue was full.
    pub fn note_queue_full(&self) {
        self.queue_full.inc();
    }
    /// A message went to local members only: the peers were unreachable.
    pub fn note_delivered_locally(&self) {
        self.delivered_locally.inc();
    }
    /// The engine connected again after a failure.
    pub fn note_reconnect(&self) {
        self.reconnects.inc();
    }
    /// `n` messages are missing from another instance's sequence (lost in transit).
    pub fn note_gap(&self, n: u64) {
        self.gaps.inc_by(n);
    }
    /// A received message could not be decoded or delivered, and was dropped.
    pub fn note_rejected(&self) {
        self.rejected.inc();
    }
}

/// One lock per room stripe: holding a room's lock while queueing its message to every
/// worker gives the room one order in every queue.
pub(crate) struct Sequencer {
    stripes: Box<[Mutex<()>]>,
}

impl Sequencer {
    pub(crate) fn new(stripes: usize) -> Sequencer {
        Sequencer {
            stripes: (0..stripes.max(1)).map(|_| Mutex::new(())).collect(),
        }
    }

    /// The lock of `room`'s stripe.
    pub(crate) fn lock(&self, room: &str) -> MutexGuard<'_, ()> {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(room);
        let i = (h % self.stripes.len() as u64) as usize;
        // A panic while queueing leaves nothing half-done that the lock protects.
        self.stripes[i].lock().unwrap_or_else(|e| e.into_inner())
    }
}
