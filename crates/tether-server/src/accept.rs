//! Accepting connections: until `WouldBlock`, past per-connection errors, pausing briefly when descriptors run out, and answering over-capacity clients with a 503 they can read (RFC 9110 §15.6.4).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mio::{Interest, Token};
use tether_codec::{CloseCode, Connection};

use crate::conn::{http_response, Conn, Phase};
use crate::handler::Handler;
use crate::id::ConnId;
use crate::worker::Worker;

/// How long accepting pauses when the process is out of descriptors (unless one frees first).
const FD_PAUSE: Duration = Duration::from_millis(100);
/// 503 answers lingering at once on one worker, beyond which a refused client is just closed.
const MAX_REFUSING: usize = 256;

/// Errors that say the process or the system has no descriptor or buffer for a new
/// socket: accepting again at once would fail the same way.
fn out_of_resources(e: &io::Error) -> bool {
    const ENOMEM: i32 = 12;
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    const ENOBUFS: i32 = 105;
    matches!(e.raw_os_error(), Some(ENOMEM | ENFILE | EMFILE | ENOBUFS))
}

impl<H: Handler> Worker<H> {
    pub(crate) fn accept(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            let (stream, peer) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if out_of_resources(&e) => {
                    // Retrying now would spin: wait for a descriptor to free (a connection on
                    // this worker closing resumes at once) or a short pause.
                    self.core.shared.metrics.accept_errors.inc();
                    if let Some(held) = self.accept_log.check(self.core.now) {
                        log::warn!("accept paused: {e} ({held} more since the last report)");
                    }
                    self.accept_paused_until = Some(self.core.now + FD_PAUSE);
                    return;
                }
                Err(e) => {
                    // One connection's failure (ECONNABORTED, a network error passed on):
                    // the rest of the backlog is fine.
                    self.core.shared.metrics.accept_errors.inc();
                    log::debug!("accept: {e}");
                    continue;
                }
            };
            let shared = &self.core.shared;
            let full = shared.connections.fetch_add(1, Ordering::Relaxed)
                >= self.core.config.max_connections;
            if full {
                shared.connections.fetch_sub(1, Ordering::Relaxed);
                shared.metrics.rejection(503);
                log::debug!("refused {peer}: max_connections reached");
            }
            if self.core.config.tcp_nodelay {
                let _ = stream.set_nodelay(true);
            }
            let codec = match Connection::server(Arc::clone(&self.core.codec_config)) {
                Ok(c) => c,
                Err(e) => {
                    log::error!("codec config: {e}");
                    if !full {
                        self.core.shared.connections.fetch_sub(1, Ordering::Relaxed);
                    }
                    continue;
                }
            };
            let now = self.core.now_ms;
            let mut conn = Conn::new(stream, peer, codec, now, now);
            if let Some(tls) = &self.core.shared.tls {
                let config = tls
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .rustls()
                    .clone();
                match crate::tls::accept(&config) {
                    Ok(session) => conn.set_tls(session),
                    Err(e) => {
                        log::error!("TLS session for {peer}: {e}");
                        if !full {
                            self.core.shared.connections.fetch_sub(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                }
            }
            if full {
                if self.core.refusing >= MAX_REFUSING {
                    continue; // dropped: closed at once
                }
                // Answer 503 like any refused request: written, FIN, then read until the
                // client closes, so it reads the answer rather than a reset.
                http_response(
                    503,
                    "text/plain; charset=utf-8",
                    b"server full\n",
                    &mut conn.hs().http_out,
                );
                conn.phase = Phase::HttpOnly;
                conn.counted = false;
                self.core.refusing += 1;
                conn.deadline = self.core.after(self.core.config.close_timeout);
            } else {
                conn.deadline = self.core.after(self.core.config.handshake_timeout);
                if self.core.config.proxy_protocol
                    && self.core.config.trusted_proxies.contains(peer.ip())
                {
                    conn.phase = Phase::Proxy;
                }
            }
            let deadline = conn.deadline;
            let serial = self.core.serials.next();
            let slot = self.core.conns.insert(serial, conn);
            let id = ConnId::new(serial, slot);
            let Some(conn) = self.core.conns.get_mut(slot) else {
                continue;
            };
            if let Err(e) = self.core.registry.register(
                &mut conn.stream,
                Token(slot as usize),
                Interest::READABLE,
            ) {
                if let Some(held) = crate::core::REGISTER.check(self.core.now) {
                    log::warn!("register {peer}: {e} ({held} more since the last report)");
                }
                self.core
                    .drop_conn(id, CloseCode::ABNORMAL, "register failed");
                continue;
            }
            self.core.arm(slot, serial, deadline);
            if full {
                self.core.mark_dirty(id);
            }
        }
    }

    /// Ends an accept pause when it has run out or a descriptor was freed.
    pub(crate) fn resume_accept(&mut self) {
        let freed = std::mem::take(&mut self.core.freed_fd);
        match self.accept_paused_until {
            Some(t) if freed || t <= self.core.now => {
                self.accept_paused_until = None;
                self.accept();
            }
            _ => {}
        }
    }
}
