//! Incremental parsing of the client's opening request (RFC 6455 §4.1, §4.2.1), zero-copy over the input buffer.

use super::http::{self, HeadError, Header};
use super::subprotocol::list_tokens;
use crate::config::Config;
use crate::error::HandshakeError;
use crate::status::Status;

/// A parsed HTTP request head, borrowing from the input buffer.
///
/// Parsing checks HTTP syntax only; [`validate_request`](super::validate_request) checks the
/// WebSocket rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'b> {
    /// The method, e.g. `GET`.
    pub method: &'b str,
    /// The request target as sent: path and optional `?query`.
    pub target: &'b str,
    /// The HTTP version as (major, minor).
    pub version: (u8, u8),
    headers: Vec<Header<'b>>,
}

impl<'b> Request<'b> {
    /// The path part of the target (before `?`).
    pub fn path(&self) -> &'b str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    /// The query string (after `?`), if any.
    pub fn query(&self) -> Option<&'b str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// Every header in order, repeated ones included.
    pub fn headers(&self) -> &[Header<'b>] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        http::find(&self.headers, name).map(|h| h.value)
    }

    /// The first value of header `name` as text.
    pub fn header_str(&self, name: &str) -> Option<&'b str> {
        http::find(&self.headers, name).and_then(|h| h.value_str())
    }

    /// Every value of header `name`, in order.
    pub fn header_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'b [u8]> + 's {
        http::find_all(&self.headers, name)
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&'b str> {
        self.header_str("host")
    }

    /// The `Origin` header, sent by browsers (RFC 6455 §10.2).
    pub fn origin(&self) -> Option<&'b str> {
        self.header_str("origin")
    }

    /// The subprotocols offered in `Sec-WebSocket-Protocol`, in the client's order of preference.
    pub fn subprotocols<'s>(&'s self) -> impl Iterator<Item = &'b str> + 's {
        self.header_all("sec-websocket-protocol")
            .flat_map(list_tokens)
    }

    /// The extension offers in `Sec-WebSocket-Extensions`, each with its parameters
    /// (e.g. `permessage-deflate; client_max_window_bits`).
    pub fn extensions<'s>(&'s self) -> impl Iterator<Item = &'b str> + 's {
        self.header_all("sec-websocket-extensions")
            .flat_map(list_tokens)
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns the request and the length of the head: bytes after it already belong to the
/// WebSocket stream. `Partial` means the head is not complete yet; a head longer than
/// `config.max_head_size` is an error as soon as that many bytes have arrived, and a bad
/// request line is an error as soon as its line is complete.
pub fn parse_request<'b>(
    buf: &'b [u8],
    config: &Config,
) -> Result<Status<(Request<'b>, usize)>, HandshakeError> {
    // The request line is judged first, as soon as it is whole, so the answer to a request
    // does not depend on how its bytes were split into packets.
    let window = &buf[..buf.len().min(config.max_head_size)];
    if let Some(end) = window.windows(2).position(|w| w == b"\r\n") {
        parse_request_line(&buf[..end])?;
    }
    let len = match http::head_len(buf, config.max_head_size).map_err(map_err)? {
        Status::Complete(n) => n,
        Status::Partial => return Ok(Status::Partial),
    };
    let (start, headers) = http::parse_head(&buf[..len], config.max_headers).map_err(map_err)?;
    let (method, target, version) = parse_request_line(start)?;
    let req = Request {
        method,
        target,
        version,
        headers,
    };
    Ok(Status::Complete((req, len)))
}

fn map_err(e: HeadError) -> HandshakeError {
    match e {
        HeadError::Malformed(why) => HandshakeError::Malformed(why),
        HeadError::TooLarge => HandshakeError::HeadTooLarge,
        HeadError::TooManyHeaders => HandshakeError::TooManyHeaders,
    }
}

fn parse_request_line(line: &[u8]) -> Result<(&str, &str, (u8, u8)), HandshakeError> {
    let bad = HandshakeError::Malformed("invalid request line");
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if !http::is_token(method) {
        return Err(bad);
    }
    if target.is_empty() || !target.iter().all(|&b| (0x21..0x7F).contains(&b)) {
        return Err(HandshakeError::Malformed("invalid request target"));
    }
    let version = http::parse_version(version).ok_or(bad)?;
    let method = std::str::from_utf8(method).map_err(|_| bad)?;
    let target = std::str::from_utf8(target).map_err(|_| bad)?;
    Ok((method, target, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"GET /chat?room=1001&x=y HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Protocol: v2\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn parses_the_rfc_request_and_keeps_trailing_bytes() {
        let mut buf = REQ.to_vec();
        buf.extend_from_slice(&[0x81, 0x80]);
        let Status::Complete((req, used)) = parse_request(&buf, &Config::default()).unwrap() else {
            panic!("partial")
        };
        assert_eq!(used, REQ.len());
        assert_eq!(&buf[used..], &[0x81, 0x80]);
        assert_eq!(req.method, "GET");
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.query(), Some("room=1001&x=y"));
        assert_eq!(req.version, (1, 1));
        assert_eq!(req.host(), Some("server.example.com"));
        assert_eq!(req.origin(), Some("http://example.com"));
        assert_eq!(
            req.subprotocols().collect::<Vec<_>>(),
            ["chat", "superchat", "v2"]
        );
        assert_eq!(
            req.extensions().collect::<Vec<_>>(),
            ["permessage-deflate; client_max_window_bits", "x-foo"]
        );
        assert_eq!(req.header_all("sec-websocket-protocol").count(), 2);
    }

    #[test]
    fn every_prefix_is_partial() {
        for cut in 0..REQ.len() {
            assert_eq!(
                parse_request(&REQ[..cut], &Config::default()),
                Ok(Status::Partial),
                "{cut}"
            );
        }
    }

    #[test]
    fn the_answer_does_not_depend_on_packet_boundaries() {
        // Found by the handshake_request fuzz target: a bad request line with too many headers
        // was 400 when split and 431 when whole.
        let cfg = Config::default();
        let mut req = b"X\r\n".to_vec();
        for _ in 0..=cfg.max_headers {
            req.extend_from_slice(b"a:\r\n");
        }
        req.extend_from_slice(b"\r\n");
        let whole = parse_request(&req, &cfg);
        assert!(
            matches!(whole, Err(HandshakeError::Malformed(_))),
            "{whole:?}"
        );
        for cut in 3..req.len() {
            assert_eq!(parse_request(&req[..cut], &cfg), whole, "{cut}");
        }
        let mut big = b"X\r\n".to_vec();
        big.resize(cfg.max_head_size, b'a');
        assert!(matches!(
            parse_request(&big, &cfg),
            Err(HandshakeError::Malformed(_))
        ));
    }

    #[test]
    fn limits_and_bad_lines() {
        let cfg = Config::default();
        let huge = vec![b'a'; cfg.max_head_size];
        assert_eq!(
            parse_request(&huge, &cfg),
            Err(HandshakeError::HeadTooLarge)
        );
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=cfg.max_headers {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_request(&many, &cfg),
            Err(HandshakeError::TooManyHeaders)
        );
        // A bad request line fails before the head is complete.
        assert!(parse_request(b"\x16\x03\x01 garbage\r\n", &cfg).is_err());
        assert!(parse_request(b"GET  / HTTP/1.1\r\n\r\n", &cfg).is_err());
        assert!(parse_request(b"GET / HTTP/1.1 extra\r\n\r\n", &cfg).is_err());
    }
}
