//! The client's side of the opening handshake (RFC 6455 §4.1): build the request, then check the server's response.

use base64::Engine as _;

use super::accept::AcceptKey;
use super::http::{self, check_caller_header, HeadError, Header};
use super::subprotocol::{extension_name, list_tokens, token_list_contains};
use crate::config::Config;
use crate::error::{HandshakeError, UsageError};
use crate::mask_source::MaskSource;
use crate::status::Status;

/// What a client asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientRequest<'a> {
    /// The `Host` header value, e.g. `example.com:8080`.
    pub host: &'a str,
    /// The request target: path and optional query, e.g. `/live?room=1001`.
    pub target: &'a str,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: &'a [&'a str],
    /// Extension offers (`Sec-WebSocket-Extensions` elements).
    pub extensions: &'a [&'a str],
    /// Extra headers, e.g. `Origin`, cookies, or a mini-program's `header` option.
    pub headers: &'a [(&'a str, &'a str)],
}

/// A client handshake in progress: remembers the key and offers to check the response.
#[derive(Debug, Clone)]
#[must_use = "the handshake is needed to check the server's response"]
pub struct ClientHandshake {
    accept: AcceptKey,
    subprotocols: Vec<String>,
    extensions: Vec<String>,
}

impl ClientHandshake {
    /// Writes the request to `out` with a fresh random key from `rng`.
    pub fn start(
        req: &ClientRequest<'_>,
        rng: &mut dyn MaskSource,
        out: &mut Vec<u8>,
    ) -> Result<ClientHandshake, UsageError> {
        let target_ok =
            req.target.starts_with('/') && req.target.bytes().all(|b| (0x21..0x7F).contains(&b));
        if !target_ok || !check_caller_header("Host", req.host) || req.host.is_empty() {
            return Err(UsageError::InvalidHeader);
        }
        // A subprotocol is a token; an extension offer is one list element (its parameters
        // may hold quoted commas).
        let protocols_ok = req
            .subprotocols
            .iter()
            .all(|t| http::is_token(t.as_bytes()));
        let extensions_ok = req
            .extensions
            .iter()
            .all(|e| check_caller_header("x", e) && list_tokens(e.as_bytes()).count() == 1);
        if !protocols_ok || !extensions_ok {
            return Err(UsageError::InvalidHeader);
        }
        if !req.headers.iter().all(|(n, v)| check_caller_header(n, v)) {
            return Err(UsageError::InvalidHeader);
        }
        let mut nonce = [0u8; 16];
        rng.fill(&mut nonce)?;
        let mut key = [0u8; 24];
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(nonce, &mut key)
            .map_err(|_| UsageError::Random)?;
        let key = &key[..n];

        out.extend_from_slice(b"GET ");
        out.extend_from_slice(req.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(req.host.as_bytes());
        out.extend_from_slice(
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
        );
        out.extend_from_slice(key);
        out.extend_from_slice(b"\r\nSec-WebSocket-Version: 13\r\n");
        if !req.subprotocols.is_empty() {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(req.subprotocols.join(", ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !req.extensions.is_empty() {
            out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
            out.extend_from_slice(req.extensions.join(", ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        for (n, v) in req.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        Ok(ClientHandshake {
            accept: AcceptKey::from_key(key),
            subprotocols: req.subprotocols.iter().map(|s| s.to_string()).collect(),
            extensions: req
                .extensions
                .iter()
                .map(|s| extension_name(s).to_string())
                .collect(),
        })
    }

    /// Parses and checks the server's response from the start of `buf`.
    ///
    /// Returns the response and the length of its head (later bytes are frames), or `Partial`.
    /// A status other than 101 is [`HandshakeError::Refused`].
    pub fn parse_response<'b>(
        &self,
        buf: &'b [u8],
        config: &Config,
    ) -> Result<Status<(Response<'b>, usize)>, HandshakeError> {
        let map = |e: HeadError| match e {
            HeadError::Malformed(why) => HandshakeError::MalformedResponse(why),
            HeadError::TooLarge => HandshakeError::MalformedResponse("response head too large"),
            HeadError::TooManyHeaders => HandshakeError::MalformedResponse("too many headers"),
        };
        let len = match http::head_len(buf, config.max_head_size).map_err(map)? {
            Status::Complete(n) => n,
            Status::Partial => return Ok(Status::Partial),
        };
        let (start, headers) = http::parse_head(&buf[..len], config.max_headers).map_err(map)?;
        let status = parse_status_line(start)?;
        let resp = Response { status, headers };
        if status != 101 {
            return Err(HandshakeError::Refused(status));
        }
        if !token_list_contains(resp.header_all("upgrade"), "websocket")
            || !token_list_contains(resp.header_all("connection"), "upgrade")
        {
            return Err(HandshakeError::ResponseNotUpgrade);
        }
        {
            let mut accepts = resp.header_all("sec-websocket-accept");
            match (accepts.next(), accepts.next()) {
                (Some(a), None) if a == self.accept.as_bytes() => {}
                _ => return Err(HandshakeError::BadAccept),
            }
            // Exactly one token that was offered: not a list, not empty (RFC 6455 §4.1).
            let mut chosen = resp.header_all("sec-websocket-protocol");
            match (chosen.next(), chosen.next()) {
                (None, _) => {}
                (Some(p), None)
                    if http::is_token(p) && self.subprotocols.iter().any(|o| o.as_bytes() == p) => {
                }
                _ => return Err(HandshakeError::UnofferedSubprotocol),
            }
        }
        for ext in resp
            .header_all("sec-websocket-extensions")
            .flat_map(list_tokens)
        {
            if !self
                .extensions
                .iter()
                .any(|o| o.eq_ignore_ascii_case(extension_name(ext)))
            {
                return Err(HandshakeError::UnofferedExtension);
            }
        }
        Ok(Status::Complete((resp, len)))
    }
}

fn parse_status_line(line: &[u8]) -> Result<u16, HandshakeError> {
    let bad = HandshakeError::MalformedResponse("invalid status line");
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.next().and_then(http::parse_version).ok_or(bad)?;
    if version < (1, 1) {
        return Err(bad);
    }
    match parts.next() {
        Some(code @ [a, b, c]) if code.iter().all(u8::is_ascii_digit) => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(bad),
    }
}

/// A server's response head, borrowing from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'b> {
    /// The status code (101 once validated).
    pub status: u16,
    headers: Vec<Header<'b>>,
}

impl<'b> Response<'b> {
    /// Every header in order.
    pub fn headers(&self) -> &[Header<'b>] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        http::find(&self.headers, name).map(|h| h.value)
    }

    /// Every value of header `name`.
    pub fn header_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'b [u8]> + 's {
        http::find_all(&self.headers, name)
    }

    /// The subprotocol the server selected, if any.
    pub fn subprotocol(&self) -> Option<&'b str> {
        self.header("sec-websocket-protocol")
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{parse_request, validate_request, write_error_response, AcceptResponse};
    use crate::mask_source::FixedMasks;

    fn start(protocols: &[&str]) -> (ClientHandshake, Vec<u8>) {
        let mut out = Vec::new();
        let headers = [(
            "Referer",
            "https://servicewechat.com/wx123/0/page-frame.html",
        )];
        let req = ClientRequest {
            host: "127.0.0.1:8080",
            target: "/live?room=1",
            subprotocols: protocols,
            headers: &headers,
            ..Default::default()
        };
        let hs = ClientHandshake::start(&req, &mut FixedMasks::new([7]), &mut out).unwrap();
        (hs, out)
    }

    #[test]
    fn client_request_passes_server_validation_and_back() {
        let (hs, req_bytes) = start(&["chat", "v2"]);
        let cfg = Config::default();
        let Ok(Status::Complete((req, used))) = parse_request(&req_bytes, &cfg) else {
            panic!()
        };
        assert_eq!(used, req_bytes.len());
        assert_eq!(req.path(), "/live");
        assert_eq!(
            req.header_str("referer"),
            Some("https://servicewechat.com/wx123/0/page-frame.html")
        );
        let key = validate_request(&req).unwrap();
        let mut resp = Vec::new();
        AcceptResponse::new(key)
            .subprotocol("v2")
            .write(&req, &mut resp)
            .unwrap();
        resp.extend_from_slice(b"\x81\x00");
        for cut in 0..resp.len() - 2 {
            assert_eq!(hs.parse_response(&resp[..cut], &cfg), Ok(Status::Partial));
        }
        let Ok(Status::Complete((r, n))) = hs.parse_response(&resp, &cfg) else {
            panic!()
        };
        assert_eq!(
            (r.status, r.subprotocol(), n),
            (101, Some("v2"), resp.len() - 2)
        );
    }

    #[test]
    fn response_faults() {
        let (hs, _) = start(&["chat"]);
        let cfg = Config::default();
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
            hs.accept.as_str()
        );
        let check = |extra: &str, base: &str| {
            hs.parse_response(format!("{base}{extra}\r\n").as_bytes(), &cfg)
                .map(|s| s.map(|(r, n)| (r.status, n)))
        };
        assert!(check("", &ok).is_ok());
        assert_eq!(
            check("Sec-WebSocket-Protocol: mqtt\r\n", &ok),
            Err(HandshakeError::UnofferedSubprotocol)
        );
        assert_eq!(
            check("Sec-WebSocket-Extensions: permessage-deflate\r\n", &ok),
            Err(HandshakeError::UnofferedExtension)
        );
        // The chosen subprotocol is exactly one offered token: no list, no empty element.
        for bad in ["chat,", "chat, chat", ",chat", "", "\"chat\""] {
            assert_eq!(
                check(&format!("Sec-WebSocket-Protocol: {bad}\r\n"), &ok),
                Err(HandshakeError::UnofferedSubprotocol),
                "{bad:?}"
            );
        }
        assert_eq!(
            check(
                "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n",
                &ok
            ),
            Err(HandshakeError::UnofferedSubprotocol)
        );
        assert!(check("Sec-WebSocket-Protocol: chat\r\n", &ok).is_ok());
        let wrong = ok.replace(hs.accept.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(check("", &wrong), Err(HandshakeError::BadAccept));
        let no_upgrade = ok.replace("Upgrade: websocket\r\n", "");
        assert_eq!(
            check("", &no_upgrade),
            Err(HandshakeError::ResponseNotUpgrade)
        );
        let mut refused = Vec::new();
        write_error_response(&HandshakeError::UnsupportedVersion, &mut refused);
        assert_eq!(
            hs.parse_response(&refused, &cfg),
            Err(HandshakeError::Refused(426))
        );
        assert!(matches!(
            check("", "HTTP/1.1 1x1 Nope\r\n"),
            Err(HandshakeError::MalformedResponse(_))
        ));
    }

    #[test]
    fn refuses_injection() {
        let mut out = Vec::new();
        let bad = [("X", "a\r\nb: c")];
        let req = ClientRequest {
            host: "h",
            target: "/",
            headers: &bad,
            ..Default::default()
        };
        assert!(ClientHandshake::start(&req, &mut FixedMasks::new([1]), &mut out).is_err());
        let req = ClientRequest {
            host: "h",
            target: "/ HTTP/1.0",
            ..Default::default()
        };
        assert!(ClientHandshake::start(&req, &mut FixedMasks::new([1]), &mut out).is_err());
        // One offer per element: a top-level comma is two offers, a quoted one is a parameter.
        for (extension, ok) in [("a, b", false), (r#"x; p="a,b""#, true)] {
            let req = ClientRequest {
                host: "h",
                target: "/",
                extensions: &[extension],
                ..Default::default()
            };
            let r = ClientHandshake::start(&req, &mut FixedMasks::new([1]), &mut Vec::new());
            assert_eq!(r.is_ok(), ok, "{extension}");
        }
        assert!(out.is_empty());
    }
}
