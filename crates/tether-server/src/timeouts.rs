//! A connection's deadlines: handshake, ping, idle, close and linger timeouts (RFC 6455 §5.5.2 pings, §7.1.1 closing TCP).

use std::time::Duration;

use tether_codec::{CloseCode, Outgoing};

use crate::conn::{Paused, Phase};
use crate::handler::Handler;
use crate::id::ConnId;
use crate::timers::{Millis, Timers};
use crate::worker::Worker;

impl<H: Handler> Worker<H> {
    /// A connection's deadline check, from its timer entry armed for `at`.
    pub(crate) fn conn_timer(&mut self, slot: u32, serial: u64, at: Millis) {
        let now = self.core.now_ms;
        let cfg = self.core.config.clone();
        let id = ConnId::new(serial, slot);
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        if conn.timer_at != at {
            return; // superseded by an earlier entry, or another connection's
        }
        conn.timer_at = crate::timers::NO_TIMER;
        let next = match conn.phase {
            Phase::Open => {
                let (ping_interval, idle_timeout) = (
                    Timers::span(cfg.ping_interval),
                    Timers::span(cfg.idle_timeout),
                );
                let idle = now.saturating_sub(conn.last_rx);
                if idle >= ping_interval {
                    // Quiet for a while: an idle connection holds no buffers.
                    conn.codec.shrink_buffers();
                }
                if idle >= idle_timeout {
                    let idle = Duration::from_millis(idle);
                    if conn.paused != Paused::No {
                        // Silent because *we* stopped reading it: its output did not drain
                        // (or the process is over its memory budget). Say so.
                        log::debug!("{id} paused ({:?}) for {idle:?}: closing", conn.paused);
                        self.core
                            .close_local(id, CloseCode::POLICY, "output not drained");
                    } else {
                        log::debug!("{id} idle for {idle:?}: closing");
                        self.core
                            .close_local(id, CloseCode::GOING_AWAY, "idle timeout");
                    }
                    return;
                }
                if idle >= ping_interval
                    && !conn.ping_sent
                    && conn.codec.send(Outgoing::Ping(b"")).is_ok()
                {
                    conn.ping_sent = true;
                    self.core.mark_dirty(id);
                }
                let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
                    return;
                };
                let next = if conn.ping_sent {
                    conn.last_rx.saturating_add(idle_timeout)
                } else {
                    conn.last_rx.saturating_add(ping_interval)
                };
                // A ping that could not be queued leaves `next` due now: check again in a
                // millisecond rather than in this turn's loop over due timers, for ever.
                next.max(now.saturating_add(1))
            }
            Phase::Proxy | Phase::Handshake | Phase::HttpOnly | Phase::Closing | Phase::Linger => {
                if now >= conn.deadline {
                    let what = match conn.phase {
                        Phase::Proxy | Phase::Handshake => "handshake timeout",
                        Phase::Closing => "close timeout",
                        _ => "linger timeout",
                    };
                    log::debug!("{id}: {what}");
                    self.core.drop_conn(id, CloseCode::ABNORMAL, what);
                    return;
                }
                conn.deadline
            }
        };
        self.core.arm(slot, serial, next);
    }
}
