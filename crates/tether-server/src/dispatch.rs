//! Reading a connection and turning its bytes into application calls: read budget, backpressure and memory pauses, the peer's FIN (RFC 6455 §5.6 data frames, §7.1.5 an abnormal close).

use std::io;

use tether_codec::{CloseCode, Event, MessageRef};

use crate::conn::{Paused, Phase};
use crate::core::Core;
use crate::ctx::Ctx;
use crate::handler::Handler;
use crate::id::ConnId;
use crate::log_limit::LogLimit;
use crate::metrics::Metrics;
use crate::worker::{guarded, Worker};

impl<H: Handler> Worker<H> {
    /// Reads from a connection until it is drained, its budget is spent, or it is paused.
    ///
    /// A read shorter than the buffer means the socket is empty: with edge-triggered
    /// readiness, new data brings a new event, so the `recv` that would only say
    /// `WouldBlock` is saved (a third of the syscalls of a small echo). After the peer's FIN
    /// or an error (`drain`), it reads on until EOF.
    pub(crate) fn read(&mut self, slot: u32, serial: u64, drain: bool) {
        self.read_until_blocked(slot, serial, drain);
        self.core.account(slot, serial);
    }

    fn read_until_blocked(&mut self, slot: u32, serial: u64, drain: bool) {
        let id = ConnId::new(serial, slot);
        let mut budget = self.core.config.read_budget;
        // Events left in the codec when a pause stopped the last dispatch come first.
        if self.core.conns.get_gen(slot, serial).is_some_and(|c| {
            c.paused == Paused::No
                && matches!(c.phase, Phase::Open | Phase::Closing)
                && c.codec.buffered_input() > 0
        }) {
            self.dispatch(slot, serial, true);
        }
        loop {
            let Some(conn) = self.core.conns.get_gen(slot, serial) else {
                return;
            };
            if conn.paused == Paused::Memory && (drain || conn.read_closed) {
                // It stopped sending (or failed) while we held its bytes for the budget: it
                // cannot finish what it started, so its memory goes back now.
                self.core
                    .drop_conn(id, CloseCode::ABNORMAL, "peer closed while paused");
                return;
            }
            if conn.paused != Paused::No {
                return;
            }
            if conn.phase == Phase::HttpOnly
                || (conn.phase == Phase::Closing && !conn.codec.wants_read())
            {
                // Nothing more is wanted: leave the bytes in the kernel until we shut down.
                return;
            }
            if self.core.over_share(conn) {
                if drain || conn.read_closed {
                    // Its FIN has come: it will send nothing more, and no event will say so
                    // again. Holding its bytes cannot end well: give them back now.
                    self.core
                        .drop_conn(id, CloseCode::ABNORMAL, "peer closed while over budget");
                } else {
                    self.core.pause_for_memory(slot, serial);
                }
                return;
            }
            let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
                return;
            };
            let read = conn.read(&mut self.read_buf);
            if conn.tls_wants_write() {
                // A handshake flight or an alert to send.
                self.core.mark_dirty(id);
            }
            let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
                return;
            };
            match read {
                Ok((0, _)) => {
                    self.eof(slot, serial);
                    return;
                }
                Ok((n, more)) => {
                    conn.last_rx = self.core.now_ms;
                    conn.ping_sent = false;
                    self.core.stats.bytes_received += n as u64;
                    self.input(slot, serial, n);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.core.ready.push_back((slot, serial));
                        return;
                    }
                    if !more && !drain {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("read from {} failed: {e}", conn.peer);
                    self.core.drop_conn(id, CloseCode::ABNORMAL, "read failed");
                    return;
                }
            }
        }
    }

    pub(crate) fn run_ready(&mut self) {
        for _ in 0..self.core.ready.len() {
            let Some((slot, serial)) = self.core.ready.pop_front() else {
                break;
            };
            self.read(slot, serial, false);
        }
    }

    /// The peer's stream ended (FIN). Every message it sent before is delivered; a peer that
    /// only half-closed may still read, so queued output drains before our FIN.
    fn eof(&mut self, slot: u32, serial: u64) {
        let id = ConnId::new(serial, slot);
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        if !matches!(conn.phase, Phase::Open | Phase::Closing) {
            self.core
                .drop_conn(id, CloseCode::ABNORMAL, "connection dropped");
            return;
        }
        conn.codec.receive_eof();
        // No more input can come, so the rest is bounded: deliver it despite backpressure.
        self.dispatch(slot, serial, false);
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        if conn.pending() == 0 {
            self.core
                .drop_conn(id, CloseCode::ABNORMAL, "connection dropped");
        } else {
            // The close deadline (from leaving the open state) bounds the wait.
            self.core.mark_dirty(id);
            self.settle();
        }
    }

    /// Handles `n` bytes just read into the worker's buffer.
    fn input(&mut self, slot: u32, serial: u64, n: usize) {
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        match conn.phase {
            Phase::Proxy => self.proxy_input(slot, serial, n),
            Phase::Handshake => self.head_input(slot, serial, n),
            Phase::Open | Phase::Closing => self.frames(slot, serial, n),
            Phase::HttpOnly | Phase::Linger => {}
        }
    }

    /// Hands the whole messages at the front of the `n` bytes just read to the application
    /// where they lie (unmasked in the read buffer: no copy, no allocation), then gives the
    /// rest (a partial frame, a control frame, a fragment) to the codec.
    fn frames(&mut self, slot: u32, serial: u64, n: usize) {
        let id = ConnId::new(serial, slot);
        let high_water = self.core.config.output_high_water;
        let Worker {
            core,
            handler,
            read_buf,
            metrics,
            panic_log,
            ..
        } = self;
        let mut input = &mut read_buf[..n];
        let mut paused = false;
        while let Some(conn) = core.conns.get_gen_mut(slot, serial) {
            let over = conn.pending() >= high_water;
            match conn.codec.take_in_place(&mut input) {
                Ok(Some(msg)) => {
                    deliver(core, handler, metrics, panic_log, id, msg);
                    core.mark_dirty(id);
                    if over {
                        // Backpressure, as in `dispatch`: the rest waits in the codec.
                        core.pause_for_backpressure(id);
                        paused = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    core.peer_failed(id, e);
                    core.mark_dirty(id);
                    input = &mut [];
                    break;
                }
            }
        }
        if let Some(conn) = core.conns.get_gen_mut(slot, serial) {
            if !input.is_empty() {
                if let Err(e) = conn.codec.receive(input) {
                    log::debug!("receive on {}: {e}", conn.peer);
                }
            }
        }
        if paused {
            self.settle();
        } else {
            self.dispatch(slot, serial, true);
        }
    }

    /// Turns the codec's events into application calls. With `backpressure`, it stops (and
    /// pauses reading) once the connection's output passes the high-water mark.
    pub(crate) fn dispatch(&mut self, slot: u32, serial: u64, backpressure: bool) {
        let id = ConnId::new(serial, slot);
        loop {
            let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
                return;
            };
            let Some(event) = conn.codec.poll_event() else {
                break;
            };
            let over = conn.pending() >= self.core.config.output_high_water;
            match event {
                Ok(Event::Message(msg)) => deliver(
                    &mut self.core,
                    &mut self.handler,
                    &self.metrics,
                    &self.panic_log,
                    id,
                    msg.as_message_ref(),
                ),
                Ok(Event::Ping(_)) => {}
                Ok(Event::Pong(_)) => {
                    // Most likely the answer to our keepalive ping: an idle connection goes
                    // back to holding no buffers, not for a whole ping interval.
                    conn.codec.shrink_buffers();
                }
                Ok(Event::CloseReceived(frame)) => {
                    let (code, reason) = frame.map_or((CloseCode::NO_STATUS, String::new()), |f| {
                        (f.code, f.reason)
                    });
                    self.core.leave_open(id, code, &reason);
                }
                Ok(Event::Closed { code, .. }) => self.core.leave_open(id, code, ""),
                Err(e) => self.core.peer_failed(id, e),
            }
            self.core.mark_dirty(id);
            if over && backpressure {
                // Backpressure: stop reading this peer until its output drains.
                self.core.pause_for_backpressure(id);
                break;
            }
        }
        self.settle();
    }
}

/// Runs `on_message` under the panic guard: a panic costs this connection alone (1011).
fn deliver<H: Handler>(
    core: &mut Core,
    handler: &mut H,
    metrics: &Metrics,
    panic_log: &LogLimit,
    id: ConnId,
    msg: MessageRef<'_>,
) {
    core.stats.messages_received += 1;
    let run = guarded(metrics, panic_log, "on_message", || {
        handler.on_message(&mut Ctx { core: &mut *core }, id, msg)
    });
    if run.is_none() {
        // An application bug must not take the worker's other peers down.
        core.close_local(id, CloseCode::INTERNAL_ERROR, "internal error");
    }
}
