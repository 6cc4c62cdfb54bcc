//! The connection table of one worker and what can be done to a connection: queue, close, join, leave, drop, and service its output (RFC 6455 §5.6 data, §7.1 closing).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use mio::{Interest, Registry, Token};
use tether_codec::{CloseCode, Connection, EncodedFrame, Outgoing};

use crate::config::ServerConfig;
use crate::conn::{Conn, Flush, Paused, Phase};
use crate::error::SendError;
use crate::id::{ConnId, Serials};
use crate::log_limit::LogLimit;
use crate::metrics::LocalStats;
use crate::rooms::Rooms;
use crate::shared::Shared;
use crate::slab::Slab;
use crate::timers::{Millis, Timers};

/// Entering the over-budget state, which a load can make flap.
static OVER_BUDGET: LogLimit = LogLimit::new(std::time::Duration::from_secs(10));
/// Failures to register a socket with the poller, which repeat while their cause lasts.
pub(crate) static REGISTER: LogLimit = LogLimit::new(std::time::Duration::from_secs(10));

/// Everything of a worker except the application: what a [`Ctx`](crate::Ctx) reaches.
pub(crate) struct Core {
    pub(crate) worker: usize,
    pub(crate) config: Arc<ServerConfig>,
    /// `config.codec`, shared by this worker's connections (each holds a pointer to it).
    pub(crate) codec_config: Arc<tether_codec::Config>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) registry: Registry,
    pub(crate) conns: Slab<Conn>,
    pub(crate) serials: Serials,
    pub(crate) timers: Timers,
    pub(crate) rooms: Rooms,
    /// The time this turn started ([`tick`](Self::tick)), and the same on the timers' clock.
    pub(crate) now: Instant,
    pub(crate) now_ms: Millis,
    /// Set once a shutdown starts: no deadline reaches past it.
    pub(crate) shutdown_deadline: Option<Instant>,
    /// Connections with output or state to service at the end of the turn.
    pub(crate) dirty: Vec<(u32, u64)>,
    /// Connections with unread input left after their budget, or resumed after a pause.
    pub(crate) ready: VecDeque<(u32, u64)>,
    /// `on_close` calls owed to the application, in the order the connections closed.
    pub(crate) closed: VecDeque<(ConnId, CloseCode, String)>,
    scratch: Vec<ConnId>,
    /// Hot counters, added to the shared metrics once per turn.
    pub(crate) stats: LocalStats,
    /// Change of this worker's buffered bytes not yet added to the shared gauge.
    buffered_delta: i64,
    /// The process is over `max_buffered_bytes`.
    pub(crate) over_budget: bool,
    /// Connections paused for the memory budget, resumed when it is met again.
    mem_paused: Vec<(u32, u64)>,
    /// A descriptor was freed this turn: accepting may resume.
    pub(crate) freed_fd: bool,
    /// Over-capacity connections still being answered with 503.
    pub(crate) refusing: usize,
}

impl Core {
    pub(crate) fn new(
        worker: usize,
        config: Arc<ServerConfig>,
        shared: Arc<Shared>,
        registry: Registry,
    ) -> Core {
        let now = Instant::now();
        Core {
            worker,
            codec_config: Arc::new(config.codec),
            config,
            shared,
            registry,
            conns: Slab::new(),
            serials: Serials::new(worker),
            timers: Timers::new(worker, now),
            rooms: Rooms::default(),
            now,
            now_ms: 0,
            shutdown_deadline: None,
            dirty: Vec::new(),
            ready: VecDeque::new(),
            closed: VecDeque::new(),
            scratch: Vec::new(),
            stats: LocalStats::default(),
            buffered_delta: 0,
            over_budget: false,
            mem_paused: Vec::new(),
            freed_fd: false,
            refusing: 0,
        }
    }

    pub(crate) fn conn(&mut self, id: ConnId) -> Option<&mut Conn> {
        if id.worker() != self.worker {
            return None;
        }
        self.conns.get_gen_mut(id.slot(), id.serial())
    }

    /// Reads the clock: the start of a turn.
    pub(crate) fn tick(&mut self) {
        self.now = Instant::now();
        self.now_ms = self.timers.millis(self.now);
    }

    /// `d` from now, on the timers' clock.
    pub(crate) fn after(&self, d: std::time::Duration) -> Millis {
        self.now_ms.saturating_add(Timers::span(d))
    }

    /// `at`, or the shutdown deadline if that comes first.
    pub(crate) fn cap_deadline(&self, at: Millis) -> Millis {
        self.shutdown_deadline
            .map_or(at, |d| self.timers.millis(d).min(at))
    }

    /// Queues the connection for servicing at the end of the turn, once however often it
    /// is marked.
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_gen_mut(id.slot(), id.serial()) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push((id.slot(), id.serial()));
            }
        }
    }

    /// Arms the connection's timer for `at` unless an earlier one is armed.
    pub(crate) fn arm(&mut self, slot: u32, serial: u64, at: Millis) {
        let Some(conn) = self.conns.get_gen_mut(slot, serial) else {
            return;
        };
        if conn.timer_at <= at {
            return;
        }
        conn.timer_at = at;
        self.timers.arm_conn(at, slot);
    }

    /// Queues a message on a local open connection, enforcing the slow-consumer cap.
    pub(crate) fn send_local(&mut self, id: ConnId, msg: Outgoing<'_>) -> Result<(), SendError> {
        self.queue(id, |codec| codec.send(msg))
    }

    pub(crate) fn send_message_local(
        &mut self,
        id: ConnId,
        msg: &tether_codec::Message,
    ) -> Result<(), SendError> {
        self.queue(id, |codec| codec.send_message(msg))
    }

    pub(crate) fn send_frame_local(
        &mut self,
        id: ConnId,
        frame: &EncodedFrame,
    ) -> Result<(), SendError> {
        self.queue(id, |codec| codec.send_encoded(frame))
    }

    fn queue(
        &mut self,
        id: ConnId,
        op: impl FnOnce(&mut Connection) -> Result<(), tether_codec::Error>,
    ) -> Result<(), SendError> {
        let cap = self.config.max_output_buffer;
        let conn = self.conn(id).ok_or(SendError::NotFound)?;
        if conn.phase != Phase::Open {
            return Err(SendError::Closed);
        }
        if conn.pending() >= cap {
            self.shared.metrics.slow_consumer_closes.inc();
            self.close_local(id, CloseCode::POLICY, "slow consumer");
            return Err(SendError::SlowConsumer);
        }
        op(&mut conn.codec).map_err(|e| match e {
            tether_codec::Error::Usage(tether_codec::UsageError::Closed) => SendError::Closed,
            other => SendError::Codec(other),
        })?;
        self.stats.messages_sent += 1;
        self.mark_dirty(id);
        Ok(())
    }

    /// The peer broke the protocol (its Close is already queued by the codec): the open state
    /// ends with the error's close code, 1002 unless it names another.
    pub(crate) fn peer_failed(&mut self, id: ConnId, e: tether_codec::Error) {
        if let Some(conn) = self.conn(id) {
            log::debug!("peer {} failed the protocol: {e}", conn.peer);
        }
        let code = e.close_code().unwrap_or(CloseCode::PROTOCOL_ERROR);
        self.leave_open(id, code, &e.to_string());
    }

    /// Stops reading a connection until its output drains below the high-water mark.
    pub(crate) fn pause_for_backpressure(&mut self, id: ConnId) {
        if let Some(conn) = self.conn(id) {
            if conn.paused == Paused::No {
                conn.paused = Paused::Backpressure;
            }
        }
    }

    /// Starts the closing handshake on a local connection.
    pub(crate) fn close_local(&mut self, id: ConnId, code: CloseCode, reason: &str) {
        let Some(conn) = self.conn(id) else { return };
        if conn.phase == Phase::Open && conn.codec.close(code, reason).is_ok() {
            self.leave_open(id, code, reason);
            self.mark_dirty(id);
        }
    }

    /// The connection stops being open: owe `on_close`, leave rooms, start the close deadline.
    pub(crate) fn leave_open(&mut self, id: ConnId, code: CloseCode, reason: &str) {
        let deadline = self.cap_deadline(self.after(self.config.close_timeout));
        let Some(conn) = self.conn(id) else { return };
        if conn.phase == Phase::Open {
            conn.phase = Phase::Closing;
            conn.deadline = deadline;
        }
        let rooms = conn.take_rooms();
        let owed = std::mem::replace(&mut conn.app_open, false);
        for room in rooms.iter() {
            if self.rooms.leave(room, id) == Some(true) {
                self.lost_last(room);
            }
        }
        if owed {
            log::debug!("closed {id} code={code} {reason}");
            self.shared.metrics.close(code.0);
            self.closed.push_back((id, code, reason.to_owned()));
        }
        self.arm(id.slot(), id.serial(), deadline);
    }

    pub(crate) fn join_local(&mut self, id: ConnId, room: &str) {
        let Some(conn) = self.conn(id) else { return };
        if conn.phase != Phase::Open {
            return;
        }
        if let Some((name, first)) = self.rooms.join(room, id) {
            if first {
                if let Some(b) = &self.shared.broker {
                    self.shared.interest.add(&name, &**b);
                }
            }
            if let Some(conn) = self.conn(id) {
                let mut rooms = conn.take_rooms().into_vec();
                rooms.push(name);
                conn.set_rooms(rooms.into_boxed_slice());
            }
        }
    }

    pub(crate) fn leave_local(&mut self, id: ConnId, room: &str) {
        let Some(last) = self.rooms.leave(room, id) else {
            return;
        };
        let Some(conn) = self.conn(id) else { return };
        let mut rooms = conn.take_rooms().into_vec();
        let name = rooms
            .iter()
            .position(|r| &**r == room)
            .map(|i| rooms.remove(i));
        conn.set_rooms(rooms.into_boxed_slice());
        if let (true, Some(name)) = (last, name) {
            self.lost_last(&name);
        }
    }

    /// This worker's last member of `room` left: the broker may hear of the instance's last.
    fn lost_last(&self, room: &Arc<str>) {
        if let Some(b) = &self.shared.broker {
            self.shared.interest.remove(room, &**b);
        }
    }

    pub(crate) fn broadcast_local(&mut self, frame: &EncodedFrame) {
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        targets.extend(self.conns.ids().filter_map(|(slot, serial)| {
            let c = self.conns.get(slot)?;
            (c.phase == Phase::Open).then(|| ConnId::new(serial, slot))
        }));
        for &id in &targets {
            let _ = self.send_frame_local(id, frame);
        }
        self.scratch = targets;
    }

    /// Sends `frame` to this worker's members of `room`, but `except`.
    pub(crate) fn publish_local(
        &mut self,
        room: &str,
        frame: &EncodedFrame,
        except: Option<ConnId>,
    ) {
        let mut targets = std::mem::take(&mut self.scratch);
        self.rooms.members_into(room, &mut targets);
        for &id in &targets {
            if except.is_some_and(|e| e.same_conn(id)) {
                continue;
            }
            let _ = self.send_frame_local(id, frame);
        }
        self.scratch = targets;
    }

    /// Removes a connection at once (peer gone, timeout, I/O error), if it is still the one
    /// `id` names.
    pub(crate) fn drop_conn(&mut self, id: ConnId, code: CloseCode, reason: &str) {
        if self.conn(id).is_none() {
            return;
        }
        self.leave_open(id, code, reason);
        if let Some(mut conn) = self.conns.remove(id.slot(), id.serial()) {
            let _ = self.registry.deregister(&mut conn.stream);
            if conn.counted {
                self.shared.connections.fetch_sub(1, Ordering::Relaxed);
            } else {
                self.refusing = self.refusing.saturating_sub(1);
            }
            if conn.was_open {
                self.shared.metrics.connections.dec();
            }
            self.buffered_delta -= conn.accounted as i64;
            self.freed_fd = true;
        }
    }

    /// Brings the worker's share of `tether_buffered_bytes` up to date for one connection.
    pub(crate) fn account(&mut self, slot: u32, serial: u64) {
        if let Some(conn) = self.conns.get_gen_mut(slot, serial) {
            let now = conn.buffered();
            self.buffered_delta += now as i64 - conn.accounted as i64;
            conn.accounted = now;
        }
    }

    /// Whether this connection should stop reading for the memory budget: the process is over
    /// it and the connection holds more than an even share (at least 64 KiB).
    pub(crate) fn over_share(&self, conn: &Conn) -> bool {
        if !self.over_budget {
            return false;
        }
        let open = self.shared.connections.load(Ordering::Relaxed).max(1);
        let share = (self.config.max_buffered_bytes / open).max(64 * 1024);
        conn.accounted >= share
    }

    /// Pauses a connection's reads for the memory budget.
    pub(crate) fn pause_for_memory(&mut self, slot: u32, serial: u64) {
        if let Some(conn) = self.conns.get_gen_mut(slot, serial) {
            if conn.paused == Paused::No {
                conn.paused = Paused::Memory;
                self.mem_paused.push((slot, serial));
            }
        }
    }

    /// Once per turn: adds this worker's counters to the shared ones, and checks the process
    /// against `max_buffered_bytes` (resuming paused readers once under 7/8 of it).
    pub(crate) fn end_turn(&mut self) {
        let m = &self.shared.metrics;
        self.stats.flush(m);
        if self.buffered_delta != 0 {
            m.buffered_bytes.inc_by(self.buffered_delta);
            self.buffered_delta = 0;
        }
        let total = m.buffered_bytes.get().max(0) as usize;
        let limit = self.config.max_buffered_bytes;
        if total > limit {
            if !self.over_budget {
                if let Some(held) = OVER_BUDGET.check(self.now) {
                    log::warn!(
                        "buffered bytes {total} over max_buffered_bytes {limit}: pausing the largest readers, refusing upgrades ({held} more since the last report)"
                    );
                }
            }
            self.over_budget = true;
        } else if self.over_budget && total <= limit / 8 * 7 {
            self.over_budget = false;
            for (slot, serial) in std::mem::take(&mut self.mem_paused) {
                if let Some(conn) = self.conns.get_gen_mut(slot, serial) {
                    if conn.paused == Paused::Memory {
                        conn.paused = Paused::No;
                        self.ready.push_back((slot, serial));
                    }
                }
            }
        }
    }

    /// Writes what is pending, moves phases on, and fixes the readiness interest.
    pub(crate) fn service(&mut self, slot: u32, serial: u64) {
        let high_water = self.config.output_high_water;
        let id = ConnId::new(serial, slot);
        let Some(conn) = self.conns.get_gen_mut(slot, serial) else {
            return;
        };
        conn.dirty = false;
        let flushed = conn.flush(&mut self.stats.bytes_sent);
        let mut resume = false;
        match flushed {
            Err(e) => {
                log::debug!("write to {} failed: {e}", conn.peer);
                self.drop_conn(id, CloseCode::ABNORMAL, "write failed");
                return;
            }
            Ok(_) if conn.ready_to_shut() => {
                // The server closes TCP first (§7.1.1): FIN now, then read until the peer's.
                conn.close_notify();
                let _ = conn.stream.shutdown(std::net::Shutdown::Write);
                conn.phase = Phase::Linger;
                // A linger never outlasts the close deadline already running.
                let linger = self
                    .now_ms
                    .saturating_add(Timers::span(self.config.close_timeout));
                let linger = self
                    .shutdown_deadline
                    .map_or(linger, |d| self.timers.millis(d).min(linger));
                conn.deadline = conn.deadline.min(linger).max(self.now_ms);
                resume = true;
            }
            Ok(_) => {}
        }
        let want_write = conn.pending() > 0 || conn.tls_wants_write();
        if conn.paused == Paused::Backpressure && conn.pending() < high_water {
            conn.paused = Paused::No;
            resume = true;
        }
        if want_write != conn.write_interest {
            conn.write_interest = want_write;
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) =
                self.registry
                    .reregister(&mut conn.stream, Token(slot as usize), interest)
            {
                if let Some(held) = REGISTER.check(self.now) {
                    log::warn!("reregister: {e} ({held} more since the last report)");
                }
            }
        }
        if resume {
            self.ready.push_back((slot, serial));
        }
        let lingering = self
            .conns
            .get_gen(slot, serial)
            .filter(|c| c.phase == Phase::Linger);
        if let (Ok(Flush::Done), Some(deadline)) = (flushed, lingering.map(|c| c.deadline)) {
            self.arm(slot, serial, deadline);
        }
        self.account(slot, serial);
    }
}
