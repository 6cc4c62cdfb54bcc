//! The opening handshake on the event loop: the PROXY header from a trusted proxy, then the request head gathered in one linear pass, parsed once, the application asked, 101 or an HTTP error answered (RFC 6455 §4.2, RFC 9112 §2, HAProxy's PROXY protocol).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tether_codec::deflate::accept_offer;
use tether_codec::handshake::Request;
use tether_codec::handshake::{
    parse_request, token_list_contains, validate_request, write_error_response,
    write_reject_response, AcceptResponse,
};
use tether_codec::{CloseCode, Status};

use crate::conn::{final_status_with_body, http_response, Phase};
use crate::handler::{Handler, Upgrade, UpgradeRequest};
use crate::id::ConnId;
use crate::log_limit::LogLimit;
use crate::proxy::{self, TrustedProxies};
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

/// The client's address: `base` (the PROXY header's source, or the TCP peer), or what a
/// trusted `base` forwarded in `X-Forwarded-For`, or in a lone `X-Real-IP` without it.
fn client_addr(base: SocketAddr, trusted: &TrustedProxies, req: &Request<'_>) -> SocketAddr {
    if !trusted.contains(base.ip()) {
        return base;
    }
    let mut forwarded = req.header_all("x-forwarded-for").peekable();
    if forwarded.peek().is_some() {
        return proxy::client_addr_from_forwarded(base, trusted, forwarded);
    }
    let mut real_ip = req.header_all("x-real-ip");
    match (real_ip.next(), real_ip.next()) {
        (Some(one), None) => proxy::parse_entry(one.trim_ascii()).unwrap_or(base),
        _ => base,
    }
}

/// The 500 a server writes when the application's own answer cannot be used.
fn internal_error(out: &mut Vec<u8>) {
    out.clear();
    http_response(500, "text/plain; charset=utf-8", b"internal error\n", out);
}

impl<H: Handler> Worker<H> {
    /// Takes `n` bytes of a PROXY header just read from a trusted proxy. Once whole, the
    /// header stays at the start of `head` (the handshake reads the client's address from
    /// it) and what followed it is the client's stream: TLS records, or the request head.
    /// Anything else than a PROXY header gets 400 and is never read as HTTP.
    pub(crate) fn proxy_input(&mut self, slot: u32, serial: u64, n: usize) {
        let id = ConnId::new(serial, slot);
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        let peer = conn.peer;
        let hs = conn.hs();
        hs.head.extend_from_slice(&self.read_buf[..n]);
        let used = match proxy::parse(&hs.head) {
            Ok(proxy::Status::Partial) => return,
            Ok(proxy::Status::Complete(_, used)) => used,
            Err(e) => {
                log::debug!("refused {peer}: PROXY header: {e}");
                http_response(
                    400,
                    "text/plain; charset=utf-8",
                    b"bad PROXY header\n",
                    &mut hs.http_out,
                );
                self.answer_http(id, 400);
                return;
            }
        };
        let rest = hs.head.split_off(used);
        hs.scanned = u32::try_from(used).unwrap_or(u32::MAX);
        conn.phase = Phase::Handshake;
        if let Some(tls) = conn.tls_mut() {
            // The client's first TLS records: into rustls, as if read from the socket.
            let mut records = &rest[..];
            while !records.is_empty() {
                if tls.read_tls(&mut records).is_err() {
                    break;
                }
            }
            if let Err(e) = tls.process_new_packets() {
                log::debug!("TLS from {}: {e}", conn.peer);
                self.core.drop_conn(id, CloseCode::ABNORMAL, "TLS error");
                return;
            }
            if tls.wants_write() {
                self.core.mark_dirty(id);
            }
            // Plaintext it already holds is read by the next read, before the socket.
            return;
        }
        conn.hs().head.extend_from_slice(&rest);
        self.head_check(slot, serial);
    }

    /// Takes `n` request bytes just read; parses once the head is whole (or over the limit).
    pub(crate) fn head_input(&mut self, slot: u32, serial: u64, n: usize) {
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        conn.hs().head.extend_from_slice(&self.read_buf[..n]);
        self.head_check(slot, serial);
    }

    /// Parses the request head gathered so far once it is whole (or over the limit).
    fn head_check(&mut self, slot: u32, serial: u64) {
        let max = self.core.config.codec.max_head_size;
        let Some(conn) = self.core.conns.get_gen_mut(slot, serial) else {
            return;
        };
        let hs = conn.hs();
        // The head is bounded by max_head_size plus one read: a u32 holds it.
        let mut scanned = hs.scanned as usize;
        let complete = head_complete(&hs.head, &mut scanned);
        hs.scanned = u32::try_from(scanned).unwrap_or(u32::MAX);
        if complete || hs.head.len() > max {
            self.handshake(slot, serial);
        }
    }

    /// Ends the handshake with the HTTP answer in `http_out`: write it, FIN, linger.
    fn answer_http(&mut self, id: ConnId, status: u16) {
        let deadline = self.core.after(self.core.config.close_timeout);
        if let Some(conn) = self.core.conn(id) {
            conn.phase = Phase::HttpOnly;
            conn.deadline = deadline;
            conn.hs().head = Vec::new();
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
        let head = std::mem::take(&mut conn.hs().head);
        let peer = conn.peer;
        let (mut source, mut start) = (peer, 0);
        if self.core.config.proxy_protocol {
            match proxy::parse(&head) {
                // A trusted proxy's header, kept by `proxy_input`.
                Ok(proxy::Status::Complete(h, used))
                    if self.core.config.trusted_proxies.contains(peer.ip()) =>
                {
                    source = h.source.unwrap_or(peer);
                    start = used;
                }
                Err(proxy::ProxyError::NotProxy) => {}
                _ => {
                    // Anyone else's PROXY header (or the start of one) is not believed, and
                    // is not HTTP either.
                    log::debug!("refused {peer}: a PROXY header from an untrusted peer");
                    http_response(
                        400,
                        "text/plain; charset=utf-8",
                        b"PROXY header not accepted\n",
                        &mut conn.hs().http_out,
                    );
                    self.answer_http(id, 400);
                    return;
                }
            }
        }
        let (req, used) = match parse_request(&head[start..], &cfg) {
            Ok(Status::Partial) => {
                conn.hs().head = head;
                return;
            }
            Ok(Status::Complete(parsed)) => parsed,
            Err(e) => {
                log::debug!("refused {peer}: {e}");
                write_error_response(&e, &mut conn.hs().http_out);
                self.answer_http(id, e.http_status().unwrap_or(400));
                return;
            }
        };
        let ureq = UpgradeRequest {
            request: &req,
            peer,
            client: client_addr(source, &self.core.config.trusted_proxies, &req),
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
                        &mut conn.hs().http_out,
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
                    internal_error(&mut conn.hs().http_out);
                    Some(500)
                }
                Some(None) => None, // not handled: the handshake's own error below
                None => {
                    internal_error(&mut conn.hs().http_out);
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
                    write_error_response(&e, &mut conn.hs().http_out);
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
                    resp.write(&req, &mut conn.hs().http_out)
                        .map_err(|e| e.to_string())
                }) {
                    Ok(()) => 101,
                    Err(e) => {
                        if let Some(held) = APP_ANSWER.check(self.core.now) {
                            log::error!("on_upgrade's answer to {peer} is invalid: {e}; sent 500 ({held} more since the last report)");
                        }
                        internal_error(&mut conn.hs().http_out);
                        500
                    }
                }
            }
            Upgrade::Reject { status, reason } => {
                log::debug!("refused {peer} with {status}: {reason}");
                if write_reject_response(status, &reason, &[], &mut conn.hs().http_out).is_ok() {
                    status
                } else {
                    if let Some(held) = APP_ANSWER.check(self.core.now) {
                        log::error!(
                            "on_upgrade refused {peer} with status {status}: not 400-599; sent 500 ({held} more since the last report)"
                        );
                    }
                    internal_error(&mut conn.hs().http_out);
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
        let rest = &head[start + used..];
        if !rest.is_empty() {
            let _ = conn.codec.receive(rest);
        }
        drop(req);
        drop(head);
        self.core.shared.metrics.connections.inc();
        self.core.mark_dirty(id);
        let first_ping = self.core.after(self.core.config.ping_interval);
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

/// The client's address behind proxies: every rule of `client_addr`.
#[cfg(test)]
mod client_addr_tests {
    use super::*;

    const PROXY: &str = "127.0.0.1:5000";

    /// The client found behind `peer` (trusting 127.0.0.1 and 10.0.0.0/8) given these
    /// header lines, as raw bytes.
    fn client_raw(peer: &str, real_ip: &[&[u8]], forwarded_for: &[&[u8]]) -> String {
        let trusted = TrustedProxies::new(["127.0.0.1", "10.0.0.0/8"]).unwrap();
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for (name, lines) in [("X-Real-IP", real_ip), ("X-Forwarded-For", forwarded_for)] {
            for line in lines {
                head.extend_from_slice(format!("{name}: ").as_bytes());
                head.extend_from_slice(line);
                head.extend_from_slice(b"\r\n");
            }
        }
        head.extend_from_slice(b"\r\n");
        let cfg = tether_codec::Config::default();
        let (req, _) = match parse_request(&head, &cfg) {
            Ok(Status::Complete(done)) => done,
            other => panic!("{other:?}"),
        };
        client_addr(peer.parse().unwrap(), &trusted, &req)
            .ip()
            .to_canonical()
            .to_string()
    }

    fn client(peer: &str, real_ip: &[&str], forwarded_for: &[&str]) -> String {
        let real_ip: Vec<&[u8]> = real_ip.iter().map(|l| l.as_bytes()).collect();
        let forwarded_for: Vec<&[u8]> = forwarded_for.iter().map(|l| l.as_bytes()).collect();
        client_raw(peer, &real_ip, &forwarded_for)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let stranger = "192.0.2.7:5000";
        assert_eq!(client(stranger, &["203.0.113.9"], &[]), "192.0.2.7");
        assert_eq!(client(stranger, &[], &["1.2.3.4"]), "192.0.2.7");
        assert_eq!(client(stranger, &[], &["1.2.3.4, 127.0.0.1"]), "192.0.2.7");
        assert_eq!(
            client("[::ffff:192.0.2.7]:1", &[], &["1.2.3.4"]),
            "192.0.2.7"
        );
    }

    #[test]
    fn the_right_most_untrusted_address_not_a_spoofed_left_most_one() {
        // The client wrote 6.6.6.6 itself; nginx appended the address it saw.
        assert_eq!(client(PROXY, &[], &["6.6.6.6, 203.0.113.9"]), "203.0.113.9");
        assert_eq!(
            client(PROXY, &[], &["6.6.6.6,203.0.113.9,10.0.0.2"]),
            "203.0.113.9"
        );
        // A chain of trusted proxies is walked through; the first untrusted hop is the client.
        assert_eq!(
            client(
                PROXY,
                &[],
                &["198.51.100.1, 203.0.113.9, 10.1.0.1, 10.0.0.2"]
            ),
            "203.0.113.9"
        );
        // Every hop trusted: the left-most, the first proxy's own client.
        assert_eq!(client(PROXY, &[], &["10.0.0.3"]), "10.0.0.3");
        assert_eq!(client(PROXY, &[], &["10.0.0.3, 10.0.0.4"]), "10.0.0.3");
        // IPv6, mapped IPv4 and ports.
        assert_eq!(client(PROXY, &[], &["2001:db8::7"]), "2001:db8::7");
        assert_eq!(client(PROXY, &[], &["::ffff:203.0.113.9"]), "203.0.113.9");
        assert_eq!(client(PROXY, &[], &["203.0.113.9:4711"]), "203.0.113.9");
        assert_eq!(client(PROXY, &[], &["[2001:db8::7]:443"]), "2001:db8::7");
        // No headers: the peer.
        assert_eq!(client(PROXY, &[], &[]), "127.0.0.1");
    }

    #[test]
    fn every_forwarded_for_line_joined_in_order() {
        // The client sent its own line first; the proxy added a second one.
        assert_eq!(
            client(PROXY, &[], &["6.6.6.6", "203.0.113.9"]),
            "203.0.113.9"
        );
        assert_eq!(
            client(
                PROXY,
                &[],
                &["6.6.6.6", "203.0.113.9, 10.0.0.5", "10.0.0.2"]
            ),
            "203.0.113.9"
        );
        // A trusted hop at the end of the last line continues into the line before it.
        assert_eq!(
            client(PROXY, &[], &["198.51.100.1", "10.0.0.2"]),
            "198.51.100.1"
        );
    }

    #[test]
    fn x_real_ip_only_without_forwarded_for() {
        assert_eq!(client(PROXY, &["203.0.113.9"], &[]), "203.0.113.9");
        // X-Forwarded-For, when there is one, decides; X-Real-IP is ignored.
        assert_eq!(
            client(PROXY, &["6.6.6.6"], &["198.51.100.1"]),
            "198.51.100.1"
        );
        assert_eq!(client(PROXY, &["6.6.6.6"], &["garbage"]), "127.0.0.1");
        // Not one line with one address: the peer.
        assert_eq!(client(PROXY, &["garbage"], &[]), "127.0.0.1");
        assert_eq!(client(PROXY, &["6.6.6.6", "203.0.113.9"], &[]), "127.0.0.1");
        assert_eq!(client(PROXY, &["6.6.6.6, 203.0.113.9"], &[]), "127.0.0.1");
    }

    #[test]
    fn a_malformed_entry_ends_the_walk() {
        for chain in [
            "garbage",
            "203.0.113.9, unknown",
            "203.0.113.9, 10.0.0.2, 999.0.0.1",
            "203.0.113.9, 10.0.0.2/8",
        ] {
            assert_eq!(client(PROXY, &[], &[chain]), "127.0.0.1", "{chain:?}");
        }
        // Past a trusted hop, the walk stops at that hop: a proxy, not the client either.
        assert_eq!(client(PROXY, &[], &["garbage, 10.0.0.2"]), "10.0.0.2");
        // Empty list elements are allowed (RFC 9110 §5.6.1) and skipped; a bracketed IPv6
        // address without a port is an address.
        assert_eq!(client(PROXY, &[], &["203.0.113.9,"]), "203.0.113.9");
        assert_eq!(
            client(PROXY, &[], &["203.0.113.9, , 10.0.0.2"]),
            "203.0.113.9"
        );
        assert_eq!(client(PROXY, &[], &["203.0.113.9", ""]), "203.0.113.9");
        assert_eq!(client(PROXY, &[], &[""]), "127.0.0.1");
        assert_eq!(
            client(PROXY, &[], &["203.0.113.9, [2001:db8::7]"]),
            "2001:db8::7"
        );
        // Junk left of the client is never read.
        assert_eq!(client(PROXY, &[], &["garbage, 203.0.113.9"]), "203.0.113.9");
        assert_eq!(
            client(PROXY, &[], &["garbage", "203.0.113.9"]),
            "203.0.113.9"
        );
        // Bytes that are not UTF-8.
        let bad: &[u8] = b"203.0.113.9, \xff";
        assert_eq!(client_raw(PROXY, &[], &[bad]), "127.0.0.1");
    }
}
