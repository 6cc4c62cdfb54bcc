//! What the workers share: a bounded command queue per worker, woken once per batch, the connection count, the shutdown flag and the metrics.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};

use tether_codec::{CloseCode, EncodedFrame, Outgoing};

use crate::broker::{Broker, Interest, Keep, RoomMessage, Sequencer};
use crate::error::SendError;
use crate::id::ConnId;
use crate::metrics::Metrics;
use crate::tls_config::TlsConfig;

/// Work sent to a worker thread.
#[derive(Debug)]
pub(crate) enum Command {
    Send(ConnId, EncodedFrame),
    Close(ConnId, CloseCode, String),
    Broadcast(EncodedFrame),
    /// A room message, and the connection that must not get it.
    Publish(Arc<str>, EncodedFrame, Option<ConnId>),
    Join(ConnId, Arc<str>),
    Leave(ConnId, Arc<str>),
    Notify(u64),
}

/// One worker's inbox: a bounded queue and the waker of its loop.
///
/// A sender wakes the loop only when no wake-up is pending: the loop clears `wake_pending`
/// before it drains, so a burst of N commands costs one `eventfd` write, not N.
pub(crate) struct WorkerLink {
    tx: SyncSender<Command>,
    waker: mio::Waker,
    wake_pending: AtomicBool,
}

impl WorkerLink {
    /// A link with room for `capacity` commands, and the receiving end for the worker.
    pub(crate) fn new(waker: mio::Waker, capacity: usize) -> (WorkerLink, Receiver<Command>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        let link = WorkerLink {
            tx,
            waker,
            wake_pending: AtomicBool::new(false),
        };
        (link, rx)
    }

    /// Wakes the loop unless a wake-up is already pending; returns whether it wrote one.
    pub(crate) fn wake(&self) -> bool {
        if self.wake_pending.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Err(e) = self.waker.wake() {
            log::error!("waking a worker: {e}");
        }
        true
    }

    /// Called by the worker before it drains its queue: later commands wake it again.
    pub(crate) fn woken(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }
}

/// State shared by all workers and handles.
pub(crate) struct Shared {
    pub(crate) links: Vec<WorkerLink>,
    /// Connections holding a slot, over all workers (what `max_connections` bounds).
    pub(crate) connections: AtomicUsize,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) broker: Option<Arc<dyn Broker>>,
    /// Rooms with members on this instance (kept only with a broker).
    pub(crate) interest: Interest,
    /// Gives each room one order in every worker's queue.
    pub(crate) sequencer: Sequencer,
    pub(crate) metrics: Arc<Metrics>,
    /// The certificate new connections get, on a `wss://` server (replaced on reload).
    pub(crate) tls: Option<RwLock<TlsConfig>>,
}

impl Shared {
    /// Queues a command to one worker. A full queue refuses it (and counts it): nothing waits,
    /// nothing grows without bound.
    pub(crate) fn send_to(&self, worker: usize, cmd: Command) -> Result<(), SendError> {
        let link = self.links.get(worker).ok_or(SendError::NotFound)?;
        match link.tx.try_send(cmd) {
            Ok(()) => {
                if link.wake() {
                    self.metrics.worker_wakeups.inc();
                }
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                self.metrics.worker_queue_full.inc();
                Err(SendError::QueueFull)
            }
            Err(TrySendError::Disconnected(_)) => Err(SendError::WorkerGone),
        }
    }

    /// Sends a copy of a command to every worker except `except`. Every worker is tried; the
    /// first refusal is returned.
    pub(crate) fn fan_out(
        &self,
        except: Option<usize>,
        make: impl Fn() -> Command,
    ) -> Result<(), SendError> {
        let mut result = Ok(());
        for w in 0..self.links.len() {
            if Some(w) != except {
                if let Err(e) = self.send_to(w, make()) {
                    result = result.and(Err(e));
                }
            }
        }
        result
    }

    /// Publishes a room message so that every member sees the room's messages in one order:
    /// through the broker when there is one, else queued to every worker under the room's lock.
    pub(crate) fn publish(
        &self,
        room: &str,
        msg: Outgoing<'_>,
        except: Option<ConnId>,
        keep: Option<Keep>,
    ) -> Result<(), SendError> {
        if let Some(b) = &self.broker {
            let mut m = RoomMessage::new(room, msg, except)?;
            m.keep = keep.map(Arc::new);
            return b.publish(m);
        }
        let frame = EncodedFrame::server(msg)?;
        let room: Arc<str> = Arc::from(room);
        let _order = self.sequencer.lock(&room);
        self.fan_out(None, || {
            Command::Publish(room.clone(), frame.clone(), except)
        })
    }

    /// Starts a shutdown: sets the flag and wakes every loop (no queue slot needed).
    pub(crate) fn shutdown(&self) -> bool {
        let first = !self.shutting_down.swap(true, Ordering::SeqCst);
        for link in &self.links {
            link.wake_pending.store(true, Ordering::Release);
            let _ = link.waker.wake();
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn shared(capacity: usize) -> (Shared, Receiver<Command>, mio::Poll) {
        let poll = mio::Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), mio::Token(0)).unwrap();
        let (link, rx) = WorkerLink::new(waker, capacity);
        let shared = Shared {
            links: vec![link],
            connections: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            broker: None,
            interest: Interest::default(),
            sequencer: Sequencer::new(1),
            metrics: Arc::new(Metrics::new()),
            tls: None,
        };
        (shared, rx, poll)
    }

    #[test]
    fn a_full_queue_refuses_and_counts() {
        let (shared, rx, _poll) = shared(4);
        for v in 0..4 {
            assert_eq!(shared.send_to(0, Command::Notify(v)), Ok(()));
        }
        assert_eq!(
            shared.send_to(0, Command::Notify(4)),
            Err(SendError::QueueFull)
        );
        assert_eq!(shared.metrics.worker_queue_full.get(), 1);
        // Draining makes room again.
        assert!(matches!(rx.try_recv(), Ok(Command::Notify(0))));
        assert_eq!(shared.send_to(0, Command::Notify(5)), Ok(()));
        assert_eq!(
            shared.send_to(7, Command::Notify(5)),
            Err(SendError::NotFound)
        );
    }

    #[test]
    fn a_burst_wakes_the_worker_once() {
        let (shared, rx, mut poll) = shared(10_000);
        for v in 0..1000 {
            shared.send_to(0, Command::Notify(v)).unwrap();
        }
        assert_eq!(
            shared.metrics.worker_wakeups.get(),
            1,
            "one wake-up per batch"
        );
        let mut events = mio::Events::with_capacity(8);
        poll.poll(&mut events, Some(Duration::from_secs(1)))
            .unwrap();
        assert_eq!(events.iter().count(), 1);
        // The worker takes the wake-up, then drains: the next command wakes it again.
        shared.links[0].woken();
        assert_eq!(rx.try_iter().count(), 1000);
        shared.send_to(0, Command::Notify(0)).unwrap();
        assert_eq!(shared.metrics.worker_wakeups.get(), 2);
    }
}
