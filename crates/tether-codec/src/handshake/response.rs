//! The server's answer to an opening request (RFC 6455 §4.2.2): the 101 response, or an HTTP error that says why not.

use super::accept::AcceptKey;
use super::http::check_caller_header;
use super::reason::reason_phrase;
use super::request::Request;
use crate::error::{HandshakeError, UsageError};

/// Builds the `101 Switching Protocols` response.
///
/// ```
/// use tether_codec::handshake::{parse_request, validate_request, AcceptResponse};
/// use tether_codec::{Config, Status};
/// let head = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///     Sec-WebSocket-Protocol: chat\r\n\r\n";
/// let Ok(Status::Complete((req, _))) = parse_request(head, &Config::default()) else { panic!() };
/// let key = validate_request(&req).unwrap();
/// let mut out = Vec::new();
/// AcceptResponse::new(key).subprotocol("chat").write(&req, &mut out).unwrap();
/// assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use = "a response does nothing until it is written"]
pub struct AcceptResponse<'a> {
    key: AcceptKey,
    subprotocol: Option<&'a str>,
    extensions: Option<&'a str>,
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> AcceptResponse<'a> {
    /// A response carrying `key` from [`validate_request`](super::validate_request).
    pub fn new(key: AcceptKey) -> Self {
        AcceptResponse {
            key,
            subprotocol: None,
            extensions: None,
            headers: &[],
        }
    }

    /// Selects a subprotocol; it must be one the client offered.
    pub fn subprotocol(mut self, protocol: &'a str) -> Self {
        self.subprotocol = Some(protocol);
        self
    }

    /// Sets `Sec-WebSocket-Extensions` to the extensions the server accepted.
    pub fn extensions(mut self, extensions: &'a str) -> Self {
        self.extensions = Some(extensions);
        self
    }

    /// Adds headers (e.g. `Set-Cookie`).
    pub fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Appends the response to `out`.
    ///
    /// Fails, writing nothing, if the subprotocol was not offered in `req` or a header is not
    /// valid HTTP (CR and LF cannot be smuggled in).
    pub fn write(&self, req: &Request<'_>, out: &mut Vec<u8>) -> Result<(), UsageError> {
        if let Some(p) = self.subprotocol {
            if !req.subprotocols().any(|o| o == p) {
                return Err(UsageError::SubprotocolNotOffered);
            }
        }
        if let Some(e) = self.extensions {
            if !check_caller_header("x", e) {
                return Err(UsageError::InvalidHeader);
            }
        }
        if !self.headers.iter().all(|(n, v)| check_caller_header(n, v)) {
            return Err(UsageError::InvalidHeader);
        }
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
        );
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(p) = self.subprotocol {
            push_header(out, "Sec-WebSocket-Protocol", p);
        }
        if let Some(e) = self.extensions {
            push_header(out, "Sec-WebSocket-Extensions", e);
        }
        for (n, v) in self.headers {
            push_header(out, n, v);
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the HTTP answer to a failed handshake: its status, a one-line reason, and the
/// headers RFC 6455 asks for (`Sec-WebSocket-Version: 13` with 426, `Allow: GET` with 405).
///
/// Faults found by a client (no status) are written as 400.
pub fn write_error_response(err: &HandshakeError, out: &mut Vec<u8>) {
    let status = err.http_status().unwrap_or(400);
    let extra: &[(&str, &str)] = match err {
        HandshakeError::UnsupportedVersion => &[("Sec-WebSocket-Version", "13")],
        HandshakeError::MethodNotAllowed => &[("Allow", "GET")],
        _ => &[],
    };
    write_status(status, &err.to_string(), extra, out);
}

/// Appends an application's refusal (e.g. `403` for a disallowed `Origin`) with a short text body.
///
/// `status` must be 400–599, and the headers valid HTTP; otherwise nothing is written.
pub fn write_reject_response(
    status: u16,
    body: &str,
    headers: &[(&str, &str)],
    out: &mut Vec<u8>,
) -> Result<(), UsageError> {
    if !(400..=599).contains(&status) {
        return Err(UsageError::RejectStatus(status));
    }
    if !headers.iter().all(|(n, v)| check_caller_header(n, v)) {
        return Err(UsageError::InvalidHeader);
    }
    write_status(status, body, headers, out);
    Ok(())
}

fn write_status(status: u16, body: &str, headers: &[(&str, &str)], out: &mut Vec<u8>) {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason_phrase(status).unwrap_or(""),
        body.len() + 1
    );
    out.extend_from_slice(head.as_bytes());
    for (n, v) in headers {
        push_header(out, n, v);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{parse_request, validate_request};
    use crate::{Config, Status};

    const HEAD: &[u8] =
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Protocol: chat, v2\r\n\r\n";

    #[test]
    fn accept_response_bytes() {
        let Ok(Status::Complete((req, _))) = parse_request(HEAD, &Config::default()) else {
            panic!()
        };
        let key = validate_request(&req).unwrap();
        let mut out = Vec::new();
        let extra = [("X-Served-By", "tether")];
        AcceptResponse::new(key)
            .subprotocol("v2")
            .headers(&extra)
            .write(&req, &mut out)
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: v2\r\n\
             X-Served-By: tether\r\n\r\n"
        );
        let mut out = Vec::new();
        let r = AcceptResponse::new(key)
            .subprotocol("mqtt")
            .write(&req, &mut out);
        assert_eq!(r, Err(UsageError::SubprotocolNotOffered));
        let bad = [("X-Evil", "a\r\nSet-Cookie: x")];
        let r = AcceptResponse::new(key).headers(&bad).write(&req, &mut out);
        assert_eq!(r, Err(UsageError::InvalidHeader));
        assert!(out.is_empty());
    }

    #[test]
    fn error_responses() {
        let mut out = Vec::new();
        write_error_response(&HandshakeError::UnsupportedVersion, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{s}");
        assert!(s.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        let mut out = Vec::new();
        write_error_response(&HandshakeError::MethodNotAllowed, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")
                && s.contains("\r\nAllow: GET\r\n")
        );
        let mut out = Vec::new();
        write_error_response(&HandshakeError::HeadTooLarge, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        let mut out = Vec::new();
        write_error_response(&HandshakeError::HttpVersion, &mut out);
        assert!(out.starts_with(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"));
        // An unnamed status is written with an empty reason (RFC 9112 §4 allows it).
        let mut out = Vec::new();
        write_reject_response(499, "", &[], &mut out).unwrap();
        assert!(out.starts_with(b"HTTP/1.1 499 \r\n"));
        let mut out = Vec::new();
        write_reject_response(403, "origin not allowed", &[], &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(
            s.contains("Content-Length: 19\r\n") && s.ends_with("\r\n\r\norigin not allowed\n")
        );
        for status in [200, 101, 399, 600] {
            let mut out = Vec::new();
            let r = write_reject_response(status, "", &[], &mut out);
            assert_eq!(r, Err(UsageError::RejectStatus(status)));
            assert!(out.is_empty());
        }
    }
}
