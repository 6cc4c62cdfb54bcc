//! The opening handshake on the event loop: gather the request head in one linear pass, parse it once, ask the application, answer 101 or an HTTP error (RFC 6455 §4.2, RFC 9112 §2).

use std::sync::atomic::Ordering;

use tether_codec::deflate::accept_offer;
use tether_codec::handshake::{
    parse_request, token_list_contains, validate_request, write_error_response,
    write_reject_response, AcceptResponse,
};
use tether_codec::{CloseCode, Status};

use crate::conn::{final_status_with_body, http_response, Phase};
use crate::handler::{Handler, Upgrade, UpgradeRequest};
use crate::id::ConnId;
use crate::log_limit::LogLimit;
use crate::worker::Worker;

/// An application's unusable answers: a bug, but one each request can trigger again.
static APP_ANSWER: LogLimit = LogLimit::new(std::time::Duration::from_secs(10));

/// Whether `head` holds the end of a request head (`CRLF CRLF`, or a bare `LF LF` that the
/// parser will refuse), looking only at bytes past `scanned` and the three before them (a
/// terminator split across reads); moves `scanned` to the end. Each byte is looked at a
/// bounded number of times however the head is cut into reads.
pub(crate) fn head_complete(head: &[u8], scanned: &mut usize) -> bool {
    let from = scanned.saturating_sub(3);
    *scanned = head.len();
    let tail = head.get(from..).unwrap_or_default();
    tail.windows(2).any(|w| w == b"\n\n") || tail.windows(4).any(|w| w == b"\r\n\r\n")
}

/// The 500 a server writes when the application's own answer cannot be used.
fn internal_error(out: &mut Vec<u8>) {
    out.clear();
    http_response(500, "text/plain; charset=utf-8", b"internal error\n", out);
}

impl<H: Handler> Worker<H> {
    /// Takes `n` request bytes just read; parses once the head is whole (or over the limit).
    pub(crate) fn head_input(&mut self, slot: u32, serial: u64, n: usize) {
        let max = self.core.config.codec.max_head_size;
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        conn.head.extend_from_slice(&self.read_buf[..n]);
        // The head is bounded by max_head_size plus one read: a u32 holds it.
        let mut scanned = conn.scanned as usize;
        let complete = head_complete(&conn.head, &mut scanned);
        conn.scanned = u32::try_from(scanned).unwrap_or(u32::MAX);
        if complete || conn.head.len() > max {
            self.handshake(slot, serial);
        }
    }

    /// Ends the handshake with the HTTP answer in `http_out`: write it, FIN, linger.
    fn answer_http(&mut self, id: ConnId, status: u16) {
        let deadline = self.core.now + self.core.config.close_timeout;
        if let Some(conn) = self.core.conn(id) {
            conn.phase = Phase::HttpOnly;
            conn.deadline = deadline;
            conn.head = Vec::new();
        }
        if status >= 400 {
            self.core.shared.metrics.rejection(status);
        }
        self.core.arm(id.slot(), id.serial(), deadline);
        self.core.mark_dirty(id);
    }

    /// Parses the opening request (whole, or over the size limit) and answers it.
    fn handshake(&mut self, slot: u32, serial: u64) {
        let id = ConnId::new(serial, slot);
        let cfg = self.core.config.codec;
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
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
                log::debug!("refused {peer}: {e}");
                write_error_response(&e, &mut conn.http_out);
                self.answer_http(id, e.http_status().unwrap_or(400));
                return;
            }
        };
        let ureq = UpgradeRequest {
            request: &req,
            peer,
        };
        if !token_list_contains(req.header_all("upgrade"), "websocket") {
            let answer = self.call("on_http", |h, _| h.on_http(&ureq));
            let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
                return;
            };
            let status = match answer {
                Some(Some(resp)) if final_status_with_body(resp.status) => {
                    http_response(
                        resp.status,
                        resp.content_type,
                        &resp.body,
                        &mut conn.http_out,
                    );
                    Some(resp.status)
                }
                Some(Some(resp)) => {
                    if let Some(held) = APP_ANSWER.check(self.core.now) {
                        log::error!(
                            "on_http answered {} for {}: not a final status with a body; sent 500 ({held} more since the last report)",
                            resp.status,
                            req.target
                        );
                    }
                    internal_error(&mut conn.http_out);
                    Some(500)
                }
                Some(None) => None, // not handled: the handshake's own error below
                None => {
                    internal_error(&mut conn.http_out);
                    Some(500)
                }
            };
            if let Some(status) = status {
                self.answer_http(id, status);
                return;
            }
        }
        let negotiated = validate_request(&req).and_then(|key| {
            let deflate = match &self.core.config.deflate {
                Some(cfg) => accept_offer(req.header_all("sec-websocket-extensions"), cfg)?,
                None => None,
            };
            Ok((key, deflate))
        });
        let (key, deflate) = match negotiated {
            Ok(k) => k,
            Err(e) => {
                log::debug!("refused {peer}: {e}");
                if let Some(conn) = self.core.conns.get_gen_mut(slot, serial) {
                    write_error_response(&e, &mut conn.http_out);
                }
                self.answer_http(id, e.http_status().unwrap_or(400));
                return;
            }
        };
        let extensions = deflate.map(|p| p.response_header_value());
        let decision = if self.core.shared.shutting_down.load(Ordering::SeqCst) {
            Upgrade::reject(503, "server shutting down")
        } else if self.core.over_budget {
            Upgrade::reject(503, "server busy")
        } else {
            self.call("on_upgrade", |h, _| h.on_upgrade(id, &ureq))
                .unwrap_or_else(|| Upgrade::reject(500, "internal error"))
        };
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        let status = match decision {
            Upgrade::Accept { subprotocol } => {
                let mut resp = AcceptResponse::new(key);
                if let Some(p) = subprotocol.as_deref() {
                    resp = resp.subprotocol(p);
                }
                if let Some(e) = extensions.as_deref() {
                    resp = resp.extensions(e);
                }
                let compress = match (deflate, self.core.config.deflate.as_ref()) {
                    (Some(params), Some(cfg)) => conn.codec.enable_deflate(&params, cfg),
                    _ => Ok(()),
                };
                match compress.map_err(|e| e.to_string()).and_then(|()| {
                    resp.write(&req, &mut conn.http_out)
                        .map_err(|e| e.to_string())
                }) {
                    Ok(()) => 101,
                    Err(e) => {
                        if let Some(held) = APP_ANSWER.check(self.core.now) {
                            log::error!("on_upgrade's answer to {peer} is invalid: {e}; sent 500 ({held} more since the last report)");
                        }
                        internal_error(&mut conn.http_out);
                        500
                    }
                }
            }
            Upgrade::Reject { status, reason } => {
                log::debug!("refused {peer} with {status}: {reason}");
                if write_reject_response(status, &reason, &[], &mut conn.http_out).is_ok() {
                    status
                } else {
                    if let Some(held) = APP_ANSWER.check(self.core.now) {
                        log::error!(
                            "on_upgrade refused {peer} with status {status}: not 400-599; sent 500 ({held} more since the last report)"
                        );
                    }
                    internal_error(&mut conn.http_out);
                    500
                }
            }
        };
        if status != 101 {
            self.answer_http(id, status);
            return;
        }
        conn.phase = Phase::Open;
        conn.app_open = true;
        conn.was_open = true;
        log::debug!("open {id} {peer} {}", req.target);
        let rest = &head[used..];
        if !rest.is_empty() {
            let _ = conn.codec.receive(rest);
        }
        drop(req);
        drop(head);
        self.core.shared.metrics.connections.inc();
        self.core.mark_dirty(id);
        let first_ping = self.core.now + self.core.config.ping_interval;
        self.core.arm(slot, serial, first_ping);
        if self.call("on_open", |h, ctx| h.on_open(ctx, id)).is_none() {
            self.core
                .close_local(id, CloseCode::INTERNAL_ERROR, "internal error");
        }
        // Frames that came in the same packet as the request.
        self.dispatch(slot, serial, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_end_is_found_once_whatever_the_cuts() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for cut in 1..head.len() {
            let mut scanned = 0usize;
            let mut buf = Vec::new();
            let mut found_at = None;
            let mut looked = 0;
            for (i, chunk) in head.chunks(cut).enumerate() {
                buf.extend_from_slice(chunk);
                looked += buf.len() - scanned.saturating_sub(3);
                if head_complete(&buf, &mut scanned) {
                    found_at = Some(i);
                    break;
                }
            }
            assert_eq!(found_at, Some(head.len().div_ceil(cut) - 1), "cut {cut}");
            // Linear: each byte looked at no more than four times, even one byte per read.
            assert!(
                looked <= 4 * head.len(),
                "cut {cut}: looked at {looked} bytes"
            );
        }
    }

    #[test]
    fn a_bare_lf_head_ends_too_so_the_parser_can_refuse_it() {
        let mut scanned = 0;
        assert!(head_complete(b"GET / HTTP/1.1\nHost: a\n\n", &mut scanned));
        let mut scanned = 0;
        assert!(!head_complete(
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            &mut scanned
        ));
    }
}
