//! The server's checks of an opening request (RFC 6455 §4.2.1, RFC 9112 §6): method, HTTP/1.1, no body, Host, Upgrade, Connection, key, WebSocket version.

use base64::Engine as _;

use super::accept::AcceptKey;
use super::request::Request;
use super::subprotocol::token_list_contains;
use crate::error::HandshakeError;

/// Checks every rule of RFC 6455 §4.2.1 and returns the accept value for the response.
///
/// The error's [`http_status`](HandshakeError::http_status) says how to answer a failure;
/// [`write_error_response`](super::write_error_response) writes that answer.
pub fn validate_request(req: &Request<'_>) -> Result<AcceptKey, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if req.version != (1, 1) {
        return Err(HandshakeError::HttpVersion);
    }
    // Bytes after the head are frames: a body would be read as them (RFC 9112 §6.3).
    let zero = |v: &[u8]| !v.is_empty() && v.iter().all(|&b| b == b'0');
    if !req.header_all("content-length").all(zero)
        || req.header_all("transfer-encoding").next().is_some()
    {
        return Err(HandshakeError::RequestBody);
    }
    if req.header_all("host").count() != 1 {
        return Err(HandshakeError::MissingHost);
    }
    if !token_list_contains(req.header_all("upgrade"), "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !token_list_contains(req.header_all("connection"), "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let mut versions = req.header_all("sec-websocket-version");
    match (versions.next(), versions.next()) {
        (None, _) => return Err(HandshakeError::MissingVersion),
        (Some(b"13"), None) => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let mut keys = req.header_all("sec-websocket-key");
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(HandshakeError::BadKey);
    };
    let mut nonce = [0u8; 18];
    let decoded = base64::engine::general_purpose::STANDARD.decode_slice(key, &mut nonce);
    if key.len() != 24 || decoded != Ok(16) {
        return Err(HandshakeError::BadKey);
    }
    Ok(AcceptKey::from_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::parse_request;
    use crate::{Config, Status};

    fn check(head: &str) -> Result<AcceptKey, HandshakeError> {
        let cfg = Config::default();
        match parse_request(head.as_bytes(), &cfg)? {
            Status::Complete((req, _)) => validate_request(&req),
            Status::Partial => panic!("partial: {head}"),
        }
    }

    fn request(replace: &str, with: &str) -> String {
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .replacen(replace, with, 1)
    }

    #[test]
    fn accepts_a_valid_request() {
        assert_eq!(
            check(&request("", "")).unwrap().as_str(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        // Token lists are case-insensitive and comma-separated.
        let r = request("Connection: Upgrade", "Connection: keep-alive, upgrade");
        let r = r.replace("Upgrade: websocket", "upgrade: WebSocket");
        assert!(check(&r).is_ok());
        assert!(check(&request("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n")).is_ok());
    }

    #[test]
    fn page_requests_still_parse() {
        // Only an Upgrade is held to HTTP/1.1 without a body; parsing a plain request (the
        // server may answer it as a page) does not judge either.
        let cfg = Config::default();
        for head in [
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
        ] {
            assert!(
                matches!(
                    parse_request(head.as_bytes(), &cfg),
                    Ok(Status::Complete(_))
                ),
                "{head}"
            );
        }
    }

    #[test]
    fn each_rule_has_its_answer() {
        use HandshakeError::*;
        let cases = [
            (request("GET", "POST"), MethodNotAllowed, 405),
            (request("HTTP/1.1", "HTTP/1.0"), HttpVersion, 505),
            (request("HTTP/1.1", "HTTP/2.0"), HttpVersion, 505),
            (request("HTTP/1.1", "HTTP/3.0"), HttpVersion, 505),
            (request("HTTP/1.1", "HTTP/1.2"), HttpVersion, 505),
            (
                request("\r\n\r\n", "\r\nContent-Length: 5\r\n\r\n"),
                RequestBody,
                400,
            ),
            (
                request(
                    "\r\n\r\n",
                    "\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n",
                ),
                RequestBody,
                400,
            ),
            (
                request("\r\n\r\n", "\r\nContent-Length: zero\r\n\r\n"),
                RequestBody,
                400,
            ),
            (
                request("\r\n\r\n", "\r\nTransfer-Encoding: chunked\r\n\r\n"),
                RequestBody,
                400,
            ),
            (
                request("\r\n\r\n", "\r\nTransfer-Encoding: identity\r\n\r\n"),
                RequestBody,
                400,
            ),
            (request("Host: h\r\n", ""), MissingHost, 400),
            (
                request("Host: h\r\n", "Host: h\r\nHost: i\r\n"),
                MissingHost,
                400,
            ),
            (request("websocket", "h2c"), MissingUpgrade, 400),
            (
                request("Connection: Upgrade", "Connection: close"),
                MissingConnectionUpgrade,
                400,
            ),
            (
                request("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
                BadKey,
                400,
            ),
            (
                request("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ=="),
                BadKey,
                400,
            ),
            (
                request("dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!=="),
                BadKey,
                400,
            ),
            (
                request("Sec-WebSocket-Version: 13\r\n", ""),
                MissingVersion,
                400,
            ),
            (
                request("Version: 13", "Version: 8"),
                UnsupportedVersion,
                426,
            ),
        ];
        for (req, err, status) in cases {
            assert_eq!(check(&req), Err(err), "{req}");
            assert_eq!(err.http_status(), Some(status));
        }
    }
}
