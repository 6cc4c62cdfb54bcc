//! One worker's mio event loop: poll, then read, dispatch, run commands and timers, and shut down within the deadline (RFC 6455 §7.1.1 closing on shutdown).
//!
//! The shape of mio's `tcp_server` example: accept until `WouldBlock`; read until `WouldBlock`
//! (or a per-turn budget, then the connection waits in a ready queue); write until
//! `WouldBlock`, and ask for writable readiness only while output waits.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use tether_codec::CloseCode;

use crate::config::ServerConfig;
use crate::conn::Phase;
use crate::core::Core;
use crate::ctx::Ctx;
use crate::handler::Handler;
use crate::id::ConnId;
use crate::log_limit::LogLimit;
use crate::metrics::Metrics;
use crate::shared::{Command, Shared};
use crate::timers::Fired;

pub(crate) const LISTENER: Token = Token(usize::MAX - 1);
pub(crate) const WAKER: Token = Token(usize::MAX);
const READ_BUF: usize = 64 * 1024;
/// Commands run per turn before sockets get their turn again.
const COMMAND_BATCH: usize = 1024;
/// At most one line per this period for each kind of repeated warning.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A worker thread: the application and the core it acts on.
pub(crate) struct Worker<H: Handler> {
    pub(crate) core: Core,
    pub(crate) handler: H,
    poll: Poll,
    pub(crate) listener: Option<TcpListener>,
    rx: Receiver<Command>,
    pub(crate) read_buf: Box<[u8]>,
    pub(crate) accept_paused_until: Option<Instant>,
    pub(crate) accept_log: LogLimit,
    pub(crate) panic_log: LogLimit,
    /// The shared counters, held here so a guarded call needs no reference count.
    pub(crate) metrics: Arc<Metrics>,
    /// The last turn stopped draining commands at its batch: poll without waiting.
    more_commands: bool,
    /// When worker 0 logs its next summary, and the counts at the last one.
    summary: Option<(Instant, u64, u64)>,
}

/// Runs an application callback, catching a panic: it is logged (rate-limited) and counted,
/// and the caller decides what the panic costs (one connection, or nothing).
pub(crate) fn guarded<R>(
    metrics: &Metrics,
    log: &LogLimit,
    what: &str,
    f: impl FnOnce() -> R,
) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            metrics.handler_panics.inc();
            if let Some(held) = log.check(Instant::now()) {
                let msg = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(not a string)");
                log::error!(
                    "handler panicked in {what}: {msg} ({held} more since the last report)"
                );
            }
            None
        }
    }
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
        let summary = (worker == 0 && !config.summary_interval.is_zero())
            .then(|| (Instant::now() + config.summary_interval, 0, 0));
        let metrics = shared.metrics.clone();
        Ok(Worker {
            core: Core::new(worker, config, shared, registry),
            metrics,
            handler,
            poll,
            listener: Some(listener),
            rx,
            read_buf: vec![0u8; READ_BUF].into_boxed_slice(),
            accept_paused_until: None,
            accept_log: LogLimit::new(LOG_EVERY),
            panic_log: LogLimit::new(LOG_EVERY),
            more_commands: false,
            summary,
        })
    }

    /// Runs an application callback with a `Ctx`, catching a panic.
    pub(crate) fn call<R>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut H, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let (handler, core) = (&mut self.handler, &mut self.core);
        guarded(&self.metrics, &self.panic_log, what, || {
            f(handler, &mut Ctx { core })
        })
    }

    /// How long the next poll may wait.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.core.ready.is_empty() || self.more_commands {
            return Some(Duration::ZERO);
        }
        let deadlines = [
            self.core.timers.next_deadline(),
            self.accept_paused_until,
            self.core.shutdown_deadline,
            self.summary.map(|s| s.0),
        ];
        let next = deadlines.into_iter().flatten().min()?;
        Some(next.saturating_duration_since(Instant::now()))
    }

    /// Runs until shutdown completes.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        self.call("on_start", |h, ctx| h.on_start(ctx));
        self.settle();
        loop {
            if let Err(e) = self.poll.poll(&mut events, self.poll_timeout()) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            self.core.tick();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(slot) => {
                        let slot = slot as u32;
                        let Some(serial) = self.core.conns.serial(slot) else {
                            continue;
                        };
                        if event.is_writable() {
                            self.core.service(slot, serial);
                        }
                        let drain = event.is_read_closed() || event.is_error();
                        if drain {
                            if let Some(c) = self.core.conns.get_gen_mut(slot, serial) {
                                c.read_closed = true;
                            }
                        }
                        if event.is_readable() || drain {
                            self.read(slot, serial, drain);
                        }
                    }
                }
            }
            self.commands();
            self.run_ready();
            self.fire_timers();
            self.resume_accept();
            self.settle();
            if self.core.shared.shutting_down.load(Ordering::SeqCst) {
                self.begin_shutdown();
            }
            self.core.end_turn();
            self.log_summary();
            if let Some(deadline) = self.core.shutdown_deadline {
                if self.core.conns.len() == 0 || self.core.now >= deadline {
                    self.finish_shutdown();
                    return Ok(());
                }
            }
        }
    }

    /// Delivers owed `on_close` calls, in order, and services dirty connections until quiet.
    pub(crate) fn settle(&mut self) {
        loop {
            while let Some((id, code, reason)) = self.core.closed.pop_front() {
                self.call("on_close", |h, ctx| h.on_close(ctx, id, code, &reason));
            }
            let dirty = std::mem::take(&mut self.core.dirty);
            if dirty.is_empty() && self.core.closed.is_empty() {
                return;
            }
            for (slot, serial) in dirty {
                self.core.service(slot, serial);
            }
            if self.core.closed.is_empty() && self.core.dirty.is_empty() {
                return;
            }
        }
    }

    /// Runs a bounded batch of the commands other threads queued.
    fn commands(&mut self) {
        let w = self.core.worker;
        if let Some(link) = self.core.shared.links.get(w) {
            link.woken();
        }
        self.more_commands = false;
        for _ in 0..COMMAND_BATCH {
            let Ok(cmd) = self.rx.try_recv() else {
                return;
            };
            match cmd {
                Command::Send(id, frame) => {
                    let _ = self.core.send_frame_local(id, &frame);
                }
                Command::Close(id, code, reason) => self.core.close_local(id, code, &reason),
                Command::Broadcast(frame) => self.core.broadcast_local(&frame),
                Command::Publish(room, frame, except) => {
                    self.core.publish_local(&room, &frame, except)
                }
                Command::Join(id, room) => self.core.join_local(id, &room),
                Command::Leave(id, room) => self.core.leave_local(id, &room),
                Command::Notify(v) => {
                    self.call("on_notify", |h, ctx| h.on_notify(ctx, v));
                }
            }
        }
        self.more_commands = true;
    }

    /// Stops accepting and sends Close 1001 to every connection, once.
    fn begin_shutdown(&mut self) {
        if self.core.shutdown_deadline.is_some() {
            return;
        }
        let deadline = self.core.now + self.core.config.shutdown_timeout;
        self.core.shutdown_deadline = Some(deadline);
        if let Some(mut l) = self.listener.take() {
            let _ = self.core.registry.deregister(&mut l);
        }
        self.accept_paused_until = None;
        let ids: Vec<(u32, u64)> = self.core.conns.ids().collect();
        let deadline = self.core.timers.millis(deadline);
        for (slot, serial) in ids {
            let id = ConnId::new(serial, slot);
            match self.core.conns.get(slot).map(|c| c.phase) {
                Some(Phase::Open) => {
                    self.core
                        .close_local(id, CloseCode::GOING_AWAY, "server shutting down")
                }
                Some(Phase::Proxy | Phase::Handshake) => {
                    self.core
                        .drop_conn(id, CloseCode::GOING_AWAY, "server shutting down")
                }
                _ => {
                    // Closing or lingering: no deadline may pass the shutdown's.
                    if let Some(c) = self.core.conns.get_mut(slot) {
                        c.deadline = c.deadline.min(deadline);
                    }
                    self.core.arm(slot, serial, deadline);
                }
            }
        }
        self.settle();
        log::info!("worker {} shutting down", self.core.worker);
    }

    /// The deadline passed or every connection is gone: write what the sockets take of the
    /// queued Close frames, then drop what is left.
    fn finish_shutdown(&mut self) {
        let ids: Vec<(u32, u64)> = self.core.conns.ids().collect();
        for (slot, serial) in ids {
            if let Some(c) = self.core.conns.get_gen_mut(slot, serial) {
                let _ = c.flush(&mut self.core.stats.bytes_sent);
            }
            self.core.drop_conn(
                ConnId::new(serial, slot),
                CloseCode::GOING_AWAY,
                "server shut down",
            );
        }
        self.settle();
        self.core.end_turn();
    }

    fn fire_timers(&mut self) {
        let now = self.core.now;
        while let Some(fired) = self.core.timers.pop_due(now) {
            match fired {
                Fired::App(token) => {
                    self.call("on_timer", |h, ctx| h.on_timer(ctx, token));
                }
                Fired::Conn { slot, at } => {
                    if let Some(serial) = self.core.conns.serial(slot) {
                        self.conn_timer(slot, serial, at);
                    }
                }
            }
        }
    }

    /// Worker 0 logs one line per `summary_interval`: connections and message rates.
    fn log_summary(&mut self) {
        let Some((at, last_in, last_out)) = self.summary else {
            return;
        };
        if self.core.now < at {
            return;
        }
        let m = &self.core.shared.metrics;
        let every = self.core.config.summary_interval;
        let (rx, tx) = (m.messages_received.get(), m.messages_sent.get());
        let secs = every.as_secs_f64().max(0.001);
        log::info!(
            "{} connections, {:.0} msg/s in, {:.0} msg/s out, {} bytes buffered",
            m.connections.get(),
            (rx - last_in) as f64 / secs,
            (tx - last_out) as f64 / secs,
            m.buffered_bytes.get()
        );
        self.summary = Some((self.core.now + every, rx, tx));
    }
}
