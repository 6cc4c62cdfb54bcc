//! One worker's mio event loop: accept, handshake, read frames, dispatch, write, time out, shut down (RFC 6455 §4, §5, §7).
//!
//! The shape of mio's `tcp_server` example: accept until `WouldBlock`; read until `WouldBlock`
//! (or a per-turn budget, then the connection waits in a ready queue); write until
//! `WouldBlock`, and ask for writable readiness only while output waits.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Registry, Token};
use tether_codec::handshake::{
    parse_request, token_list_contains, validate_request, write_error_response,
    write_reject_response, AcceptResponse,
};
use tether_codec::{CloseCode, Connection, EncodedFrame, Event, Outgoing, Status};

use crate::config::ServerConfig;
use crate::conn::{http_response, Conn, Flush, Phase};
use crate::ctx::Ctx;
use crate::error::SendError;
use crate::handle::{Command, Shared};
use crate::handler::{ConnId, Handler, Upgrade, UpgradeRequest};
use crate::rooms::Rooms;
use crate::slab::Slab;
use crate::timers::{Fired, Timers};

pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
pub(crate) const WAKER: Token = Token(usize::MAX);
const READ_BUF: usize = 64 * 1024;

/// Everything of a worker except the application: what a [`Ctx`] reaches.
pub(crate) struct Core {
    pub(crate) worker: usize,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) registry: Registry,
    pub(crate) conns: Slab<Conn>,
    pub(crate) timers: Timers,
    pub(crate) rooms: Rooms,
    pub(crate) now: Instant,
    /// Connections with output or state to service at the end of the turn.
    dirty: Vec<(u32, u32)>,
    /// Connections with unread input left after their budget, or resumed after backpressure.
    ready: VecDeque<(u32, u32)>,
    /// `on_close` calls owed to the application.
    pub(crate) closed: Vec<(ConnId, CloseCode, String)>,
    scratch: Vec<ConnId>,
}

impl Core {
    pub(crate) fn id_of(&self, slot: u32) -> Option<ConnId> {
        self.conns
            .generation(slot)
            .map(|g| ConnId::new(self.worker, slot, g))
    }

    fn conn(&mut self, id: ConnId) -> Option<&mut Conn> {
        if id.worker() != self.worker {
            return None;
        }
        self.conns.get_gen_mut(id.slot(), id.generation())
    }

    /// Queues the connection for servicing at the end of the turn, once however often it
    /// is marked.
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_gen_mut(id.slot(), id.generation()) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push((id.slot(), id.generation()));
            }
        }
    }

    /// Arms the connection's timer for `at` unless an earlier one is armed.
    fn arm(&mut self, slot: u32, at: Instant) {
        let Some(generation) = self.conns.generation(slot) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        conn.timer_at = Some(at);
        self.timers.arm_conn(at, slot, generation);
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
            self.close_local(id, CloseCode::POLICY, "slow consumer");
            return Err(SendError::SlowConsumer);
        }
        op(&mut conn.codec).map_err(|e| match e {
            tether_codec::Error::Usage(tether_codec::UsageError::Closed) => SendError::Closed,
            other => SendError::Codec(other),
        })?;
        self.mark_dirty(id);
        Ok(())
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
    fn leave_open(&mut self, id: ConnId, code: CloseCode, reason: &str) {
        let deadline = self.now + self.config.close_timeout;
        let Some(conn) = self.conn(id) else { return };
        if conn.phase == Phase::Open {
            conn.phase = Phase::Closing;
            conn.deadline = deadline;
        }
        let rooms = std::mem::take(&mut conn.rooms);
        let owed = std::mem::replace(&mut conn.app_open, false);
        for room in rooms {
            self.rooms.leave(&room, id);
        }
        if owed {
            log::info!("closed {id} code={code} {reason}");
            self.closed.push((id, code, reason.to_owned()));
        }
        self.arm(id.slot(), deadline);
    }

    pub(crate) fn join_local(&mut self, id: ConnId, room: &str) {
        let Some(conn) = self.conn(id) else { return };
        if conn.phase != Phase::Open {
            return;
        }
        if let Some(name) = self.rooms.join(room, id) {
            if let Some(conn) = self.conn(id) {
                conn.rooms.push(name);
            }
        }
    }

    pub(crate) fn leave_local(&mut self, id: ConnId, room: &str) {
        if self.rooms.leave(room, id) {
            if let Some(conn) = self.conn(id) {
                conn.rooms.retain(|r| &**r != room);
            }
        }
    }

    pub(crate) fn broadcast_local(&mut self, frame: &EncodedFrame) {
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        targets.extend(self.conns.slots().filter_map(|s| {
            let c = self.conns.get(s)?;
            (c.phase == Phase::Open)
                .then(|| ConnId::new(self.worker, s, self.conns.generation(s).unwrap_or(0)))
        }));
        for &id in &targets {
            let _ = self.send_frame_local(id, frame);
        }
        self.scratch = targets;
    }

    pub(crate) fn publish_local(&mut self, room: &str, frame: &EncodedFrame) {
        let mut targets = std::mem::take(&mut self.scratch);
        self.rooms.members_into(room, &mut targets);
        for &id in &targets {
            let _ = self.send_frame_local(id, frame);
        }
        self.scratch = targets;
    }

    /// Removes a connection at once (peer gone, timeout, I/O error).
    fn drop_conn(&mut self, slot: u32, code: CloseCode, reason: &str) {
        let Some(id) = self.id_of(slot) else { return };
        self.leave_open(id, code, reason);
        if let Some(mut conn) = self.conns.remove(slot) {
            let _ = self.registry.deregister(&mut conn.stream);
            self.shared.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Writes what is pending, moves phases on, and fixes the readiness interest.
    fn service(&mut self, slot: u32, generation: u32) {
        let high_water = self.config.output_high_water;
        let Some(conn) = self.conns.get_gen_mut(slot, generation) else {
            return;
        };
        conn.dirty = false;
        let flushed = conn.flush();
        let mut resume = false;
        match flushed {
            Err(e) => {
                log::debug!("write to {} failed: {e}", conn.peer);
                self.drop_conn(slot, CloseCode::ABNORMAL, "write failed");
                return;
            }
            Ok(_) if conn.ready_to_shut() => {
                // The server closes TCP first (§7.1.1): FIN now, then read until the peer's.
                let _ = conn.stream.shutdown(std::net::Shutdown::Write);
                conn.phase = Phase::Linger;
                conn.deadline = self.now + self.config.close_timeout;
                resume = true;
            }
            Ok(_) => {}
        }
        let want_write = conn.pending() > 0;
        if conn.read_paused && conn.pending() < high_water {
            conn.read_paused = false;
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
                log::warn!("reregister: {e}");
            }
        }
        if resume {
            self.ready.push_back((slot, generation));
        }
        let lingering = self.conns.get(slot).filter(|c| c.phase == Phase::Linger);
        if let (Ok(Flush::Done), Some(deadline)) = (flushed, lingering.map(|c| c.deadline)) {
            self.arm(slot, deadline);
        }
    }
}

/// A worker thread: the application and the core it acts on.
pub(crate) struct Worker<H: Handler> {
    core: Core,
    handler: H,
    poll: Poll,
    listener: Option<TcpListener>,
    rx: Receiver<Command>,
    read_buf: Box<[u8]>,
    shutdown_deadline: Option<Instant>,
    accept_paused_until: Option<Instant>,
}

impl<H: Handler> Worker<H> {
    pub(crate) fn new(
        worker: usize,
        config: Arc<ServerConfig>,
        shared: Arc<Shared>,
        poll: Poll,
        mut listener: TcpListener,
        rx: Receiver<Command>,
        handler: H,
    ) -> io::Result<Self> {
        let registry = poll.registry().try_clone()?;
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Worker {
            core: Core {
                worker,
                config,
                shared,
                registry,
                conns: Slab::new(),
                timers: Timers::default(),
                rooms: Rooms::default(),
                now: Instant::now(),
                dirty: Vec::new(),
                ready: VecDeque::new(),
                closed: Vec::new(),
                scratch: Vec::new(),
            },
            handler,
            poll,
            listener: Some(listener),
            rx,
            read_buf: vec![0u8; READ_BUF].into_boxed_slice(),
            shutdown_deadline: None,
            accept_paused_until: None,
        })
    }

    /// Runs until shutdown completes.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        self.handler.on_start(&mut Ctx {
            core: &mut self.core,
        });
        self.settle();
        loop {
            let timeout = if !self.core.ready.is_empty() {
                Some(Duration::ZERO)
            } else {
                let mut next = self.core.timers.next_deadline();
                if let Some(t) = self.accept_paused_until {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
                next.map(|t| t.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            self.core.now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(slot) => {
                        let slot = slot as u32;
                        let Some(generation) = self.core.conns.generation(slot) else {
                            continue;
                        };
                        if event.is_writable() {
                            self.core.service(slot, generation);
                        }
                        let drain = event.is_read_closed() || event.is_error();
                        if event.is_readable() || drain {
                            self.read(slot, generation, drain);
                        }
                    }
                }
            }
            self.commands();
            self.run_ready();
            self.fire_timers();
            if self.accept_paused_until.is_some_and(|t| t <= self.core.now) {
                self.accept_paused_until = None;
                self.accept();
            }
            self.settle();
            if self.core.shared.shutting_down.load(Ordering::SeqCst) {
                self.begin_shutdown();
                let expired = self.shutdown_deadline.is_some_and(|d| self.core.now >= d);
                if self.core.conns.len() == 0 || expired {
                    let slots: Vec<u32> = self.core.conns.slots().collect();
                    for slot in slots {
                        self.core
                            .drop_conn(slot, CloseCode::GOING_AWAY, "server shut down");
                    }
                    self.settle();
                    return Ok(());
                }
            }
        }
    }

    /// Delivers owed `on_close` calls and services dirty connections until quiet.
    fn settle(&mut self) {
        loop {
            while let Some((id, code, reason)) = self.core.closed.pop() {
                self.handler.on_close(
                    &mut Ctx {
                        core: &mut self.core,
                    },
                    id,
                    code,
                    &reason,
                );
            }
            let dirty = std::mem::take(&mut self.core.dirty);
            if dirty.is_empty() && self.core.closed.is_empty() {
                return;
            }
            for (slot, generation) in dirty {
                self.core.service(slot, generation);
            }
            if self.core.closed.is_empty() && self.core.dirty.is_empty() {
                return;
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            let (stream, peer) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: try again shortly.
                    log::warn!("accept failed: {e}");
                    self.accept_paused_until = Some(self.core.now + Duration::from_millis(100));
                    return;
                }
            };
            let shared = &self.core.shared;
            if shared.connections.fetch_add(1, Ordering::Relaxed)
                >= self.core.config.max_connections
            {
                shared.connections.fetch_sub(1, Ordering::Relaxed);
                log::warn!("refused {peer}: max_connections reached");
                let mut out = Vec::new();
                http_response(503, "text/plain; charset=utf-8", b"server full\n", &mut out);
                let mut stream = stream;
                let _ = io::Write::write(&mut stream, &out);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                continue;
            }
            if self.core.config.tcp_nodelay {
                let _ = stream.set_nodelay(true);
            }
            let codec = match Connection::server(self.core.config.codec) {
                Ok(c) => c,
                Err(e) => {
                    log::error!("codec config: {e}");
                    self.core.shared.connections.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
            };
            let now = self.core.now;
            let deadline = now + self.core.config.handshake_timeout;
            let (slot, _) = self
                .core
                .conns
                .insert(Conn::new(stream, peer, codec, now, deadline));
            if slot > 0xFF_FFFF {
                self.core
                    .drop_conn(slot, CloseCode::ABNORMAL, "too many slots");
                continue;
            }
            let Some(conn) = self.core.conns.get_mut(slot) else {
                continue;
            };
            if let Err(e) = self.core.registry.register(
                &mut conn.stream,
                Token(slot as usize),
                Interest::READABLE,
            ) {
                log::warn!("register {peer}: {e}");
                self.core
                    .drop_conn(slot, CloseCode::ABNORMAL, "register failed");
                continue;
            }
            self.core.arm(slot, deadline);
        }
    }

    /// Reads from a connection until it is drained, its budget is spent, or backpressure.
    ///
    /// A read shorter than the buffer means the socket is empty: with edge-triggered
    /// readiness, new data brings a new event, so the `recv` that would only say
    /// `WouldBlock` is saved (a third of the syscalls of a small echo). After the peer's FIN
    /// or an error (`drain`), it reads on until EOF.
    fn read(&mut self, slot: u32, generation: u32, drain: bool) {
        let mut budget = self.core.config.read_budget;
        // Events left in the codec when backpressure stopped the last dispatch come first.
        if self
            .core
            .conns
            .get_gen_mut(slot, generation)
            .is_some_and(|c| !c.read_paused && c.codec.buffered_input() > 0)
        {
            self.dispatch(slot, generation);
        }
        loop {
            let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
                return;
            };
            if conn.read_paused {
                return;
            }
            if conn.phase == Phase::HttpOnly
                || (conn.phase == Phase::Closing && !conn.codec.wants_read())
            {
                // Nothing more is wanted: leave the bytes in the kernel until we shut down.
                return;
            }
            match conn.read(&mut self.read_buf) {
                Ok(0) => {
                    self.eof(slot, generation);
                    return;
                }
                Ok(n) => {
                    conn.last_rx = self.core.now;
                    conn.ping_sent = false;
                    self.input(slot, generation, n);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.core.ready.push_back((slot, generation));
                        return;
                    }
                    if n < self.read_buf.len() && !drain {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("read from {} failed: {e}", conn.peer);
                    self.core
                        .drop_conn(slot, CloseCode::ABNORMAL, "read failed");
                    return;
                }
            }
        }
    }

    fn run_ready(&mut self) {
        for _ in 0..self.core.ready.len() {
            let Some((slot, generation)) = self.core.ready.pop_front() else {
                break;
            };
            self.read(slot, generation, false);
        }
    }

    fn eof(&mut self, slot: u32, generation: u32) {
        let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
            return;
        };
        match conn.phase {
            Phase::Open | Phase::Closing => {
                conn.codec.receive_eof();
                self.dispatch(slot, generation);
                // Whatever is still unwritten cannot matter to a peer that has gone.
                self.core
                    .drop_conn(slot, CloseCode::ABNORMAL, "connection dropped");
            }
            _ => self
                .core
                .drop_conn(slot, CloseCode::ABNORMAL, "connection dropped"),
        }
    }

    /// Handles `n` bytes just read into the worker's buffer.
    fn input(&mut self, slot: u32, generation: u32, n: usize) {
        let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
            return;
        };
        match conn.phase {
            Phase::Handshake => {
                conn.head.extend_from_slice(&self.read_buf[..n]);
                self.handshake(slot, generation);
            }
            Phase::Open | Phase::Closing => {
                if let Err(e) = conn.codec.receive(&self.read_buf[..n]) {
                    log::warn!("receive on {}: {e}", conn.peer);
                }
                self.dispatch(slot, generation);
            }
            Phase::HttpOnly | Phase::Linger => {}
        }
    }

    /// Turns the codec's events into application calls.
    fn dispatch(&mut self, slot: u32, generation: u32) {
        let id = ConnId::new(self.core.worker, slot, generation);
        loop {
            let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
                return;
            };
            let Some(event) = conn.codec.poll_event() else {
                break;
            };
            let over = conn.pending() >= self.core.config.output_high_water;
            match event {
                Ok(Event::Message(msg)) => {
                    let (handler, core) = (&mut self.handler, &mut self.core);
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        handler.on_message(&mut Ctx { core }, id, msg)
                    }));
                    if run.is_err() {
                        // An application bug must not take the worker's other peers down.
                        log::error!(
                            "handler panicked on a message from {id}: closing it with 1011"
                        );
                        self.core
                            .close_local(id, CloseCode::INTERNAL_ERROR, "internal error");
                    }
                }
                Ok(Event::Ping(_)) | Ok(Event::Pong(_)) => {}
                Ok(Event::CloseReceived(frame)) => {
                    let (code, reason) = frame.map_or((CloseCode::NO_STATUS, String::new()), |f| {
                        (f.code, f.reason)
                    });
                    self.core.leave_open(id, code, &reason);
                }
                Ok(Event::Closed { code, .. }) => self.core.leave_open(id, code, ""),
                Err(e) => {
                    log::warn!("peer {} failed the protocol: {e}", conn.peer);
                    let code = e.close_code().unwrap_or(CloseCode::PROTOCOL_ERROR);
                    self.core.leave_open(id, code, &e.to_string());
                }
            }
            self.core.mark_dirty(id);
            if over {
                // Backpressure: stop reading this peer until its output drains.
                if let Some(conn) = self.core.conns.get_gen_mut(slot, generation) {
                    conn.read_paused = true;
                }
                break;
            }
        }
        self.settle();
    }

    /// Parses the opening request once it is whole and answers it.
    fn handshake(&mut self, slot: u32, generation: u32) {
        let id = ConnId::new(self.core.worker, slot, generation);
        let cfg = self.core.config.codec;
        let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
            return;
        };
        let head = std::mem::take(&mut conn.head);
        let peer = conn.peer;
        let (req, used) = match parse_request(&head, &cfg) {
            Ok(Status::Partial) => {
                conn.head = head;
                return;
            }
            Ok(Status::Complete(parsed)) => parsed,
            Err(e) => {
                log::warn!("refused {peer}: {e}");
                write_error_response(&e, &mut conn.http_out);
                conn.phase = Phase::HttpOnly;
                self.core.mark_dirty(id);
                return;
            }
        };
        let ureq = UpgradeRequest {
            request: &req,
            peer,
        };
        if !token_list_contains(req.header_all("upgrade"), "websocket") {
            if let Some(resp) = self.handler.on_http(&ureq) {
                let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
                    return;
                };
                http_response(
                    resp.status,
                    resp.content_type,
                    &resp.body,
                    &mut conn.http_out,
                );
                conn.phase = Phase::HttpOnly;
                self.core.mark_dirty(id);
                return;
            }
        }
        let decision = match validate_request(&req) {
            Ok(key) if self.core.shared.shutting_down.load(Ordering::SeqCst) => {
                let _ = key;
                Err((503, "server shutting down".to_owned()))
            }
            Ok(key) => match self.handler.on_upgrade(id, &ureq) {
                Upgrade::Accept { subprotocol } => Ok((key, subprotocol)),
                Upgrade::Reject { status, reason } => Err((status, reason)),
            },
            Err(e) => {
                log::warn!("refused {peer}: {e}");
                let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
                    return;
                };
                write_error_response(&e, &mut conn.http_out);
                conn.phase = Phase::HttpOnly;
                self.core.mark_dirty(id);
                return;
            }
        };
        let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
            return;
        };
        conn.phase = Phase::HttpOnly;
        match decision {
            Ok((key, subprotocol)) => {
                let mut resp = AcceptResponse::new(key);
                if let Some(p) = subprotocol.as_deref() {
                    resp = resp.subprotocol(p);
                }
                if let Err(e) = resp.write(&req, &mut conn.http_out) {
                    log::error!("handler's answer to {peer} is invalid: {e}");
                    http_response(
                        500,
                        "text/plain; charset=utf-8",
                        b"internal error\n",
                        &mut conn.http_out,
                    );
                } else {
                    conn.phase = Phase::Open;
                    conn.app_open = true;
                    log::info!("open {id} {peer} {}", req.target);
                    let rest = &head[used..];
                    if !rest.is_empty() {
                        let _ = conn.codec.receive(rest);
                    }
                }
            }
            Err((status, reason)) => {
                log::warn!("refused {peer} with {status}: {reason}");
                if write_reject_response(status, &reason, &[], &mut conn.http_out).is_err() {
                    http_response(
                        500,
                        "text/plain; charset=utf-8",
                        b"internal error\n",
                        &mut conn.http_out,
                    );
                }
            }
        }
        let open = conn.phase == Phase::Open;
        drop(req);
        drop(head);
        self.core.mark_dirty(id);
        if open {
            let first_ping = self.core.now + self.core.config.ping_interval;
            self.core.arm(slot, first_ping);
            self.handler.on_open(
                &mut Ctx {
                    core: &mut self.core,
                },
                id,
            );
            // Frames that came in the same packet as the request.
            self.dispatch(slot, generation);
        }
    }

    fn commands(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Command::Send(id, frame) => {
                    let _ = self.core.send_frame_local(id, &frame);
                }
                Command::Close(id, code, reason) => self.core.close_local(id, code, &reason),
                Command::Broadcast(frame) => self.core.broadcast_local(&frame),
                Command::Publish(room, frame) => self.core.publish_local(&room, &frame),
                Command::Join(id, room) => self.core.join_local(id, &room),
                Command::Leave(id, room) => self.core.leave_local(id, &room),
                Command::Notify(v) => self.handler.on_notify(
                    &mut Ctx {
                        core: &mut self.core,
                    },
                    v,
                ),
                Command::Shutdown => self.begin_shutdown(),
            }
        }
    }

    /// Stops accepting and sends Close 1001 to every connection, once.
    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(self.core.now + self.core.config.shutdown_timeout);
        if let Some(mut l) = self.listener.take() {
            let _ = self.core.registry.deregister(&mut l);
        }
        let slots: Vec<u32> = self.core.conns.slots().collect();
        for slot in slots {
            let Some(id) = self.core.id_of(slot) else {
                continue;
            };
            match self.core.conns.get(slot).map(|c| c.phase) {
                Some(Phase::Open) => {
                    self.core
                        .close_local(id, CloseCode::GOING_AWAY, "server shutting down")
                }
                Some(Phase::Handshake) => {
                    self.core
                        .drop_conn(slot, CloseCode::GOING_AWAY, "server shutting down")
                }
                _ => {}
            }
        }
        log::info!("worker {} shutting down", self.core.worker);
    }

    fn fire_timers(&mut self) {
        let now = self.core.now;
        while let Some(fired) = self.core.timers.pop_due(now) {
            match fired {
                Fired::App(token) => self.handler.on_timer(
                    &mut Ctx {
                        core: &mut self.core,
                    },
                    token,
                ),
                Fired::Conn {
                    slot,
                    generation,
                    at,
                } => self.conn_timer(slot, generation, at),
            }
        }
    }

    /// A connection's deadline check: handshake, ping, idle, close and linger timeouts.
    fn conn_timer(&mut self, slot: u32, generation: u32, at: Instant) {
        let now = self.core.now;
        let cfg = self.core.config.clone();
        let id = ConnId::new(self.core.worker, slot, generation);
        let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
            return;
        };
        if conn.timer_at != Some(at) {
            return; // superseded by an earlier entry
        }
        conn.timer_at = None;
        let next = match conn.phase {
            Phase::Open => {
                let idle = now.saturating_duration_since(conn.last_rx);
                if idle >= cfg.ping_interval {
                    // Quiet for a while: an idle connection holds no buffers.
                    conn.codec.shrink_buffers();
                }
                if idle >= cfg.idle_timeout {
                    log::info!("{id} idle for {idle:?}: closing");
                    self.core
                        .close_local(id, CloseCode::GOING_AWAY, "idle timeout");
                    return;
                }
                if idle >= cfg.ping_interval
                    && !conn.ping_sent
                    && conn.codec.send(Outgoing::Ping(b"")).is_ok()
                {
                    conn.ping_sent = true;
                    self.core.mark_dirty(id);
                }
                let Some(conn) = self.core.conns.get_gen_mut(slot, generation) else {
                    return;
                };
                if conn.ping_sent {
                    conn.last_rx + cfg.idle_timeout
                } else {
                    conn.last_rx + cfg.ping_interval
                }
            }
            Phase::Handshake | Phase::HttpOnly | Phase::Closing | Phase::Linger => {
                if now >= conn.deadline {
                    let what = match conn.phase {
                        Phase::Handshake => "handshake timeout",
                        Phase::Closing => "close timeout",
                        _ => "linger timeout",
                    };
                    log::debug!("{id}: {what}");
                    self.core.drop_conn(slot, CloseCode::ABNORMAL, what);
                    return;
                }
                conn.deadline
            }
        };
        self.core.arm(slot, next);
    }
}
