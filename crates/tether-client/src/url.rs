//! Parsing `ws://` and `wss://` URLs into what the client dials and sends (RFC 6455 §3 WebSocket URIs, §4.1 `Host` and request target).

/// The parts of a `ws[s]://host[:port][/path][?query]` URL the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WsUrl {
    /// The host as written, with the brackets of an IPv6 literal removed: what to resolve.
    pub(crate) host: String,
    /// Whether `host` is an IPv6 literal (it needs brackets in the `Host` header).
    ipv6: bool,
    /// The port, 80 (443 for `wss://`) when the URL has none (§3).
    pub(crate) port: u16,
    /// `wss://`: TLS.
    pub(crate) secure: bool,
    /// The request target: the path (`/` when empty) and the query, if any.
    pub(crate) target: String,
}

impl WsUrl {
    /// Parses `url`, or says in a few words what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<WsUrl, &'static str> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("expected ws[s]://host[:port][/path][?query]")?;
        let secure = scheme.eq_ignore_ascii_case("wss");
        if !secure && !scheme.eq_ignore_ascii_case("ws") {
            return Err("the scheme must be ws:// or wss://");
        }
        if rest.contains('#') {
            return Err("a WebSocket URL may not have a #fragment (RFC 6455 §3)");
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err("user information (user@host) is not supported");
        }
        let (host, port, ipv6) = split_authority(authority, if secure { 443 } else { 80 })?;
        let target = match target.chars().next() {
            None => "/".to_owned(),
            Some('?') => format!("/{target}"),
            Some(_) => target.to_owned(),
        };
        if !target.bytes().all(|b| (0x21..0x7F).contains(&b)) {
            return Err("the path and query must be visible ASCII (percent-encode the rest)");
        }
        Ok(WsUrl {
            host: host.to_owned(),
            ipv6,
            port,
            secure,
            target,
        })
    }

    /// The `Host` header value: the host, and the port unless it is the scheme's default
    /// (§4.1).
    pub(crate) fn host_header(&self) -> String {
        let host = if self.ipv6 {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.secure { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Splits `host[:port]` or `[v6][:port]` into host, port and whether the host is IPv6.
fn split_authority(authority: &str, default_port: u16) -> Result<(&str, u16, bool), &'static str> {
    let (host, port, ipv6) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 host needs its closing ]")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address");
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("unexpected text after ]")?),
        };
        (host, port, true)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (authority, None, false),
        }
    };
    if host.is_empty() {
        return Err("missing host");
    }
    if !ipv6
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err("invalid character in host");
    }
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => match p.parse() {
            Ok(0) | Err(_) => return Err("the port must be 1-65535"),
            Ok(n) => n,
        },
        Some(_) => return Err("the port must be 1-65535"),
    };
    Ok((host, port, ipv6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, u16, String, String) {
        let u = WsUrl::parse(url).unwrap();
        let header = u.host_header();
        (u.host, u.port, u.target, header)
    }

    #[test]
    fn valid_urls() {
        let s = |x: &str| x.to_owned();
        assert_eq!(
            parts("ws://example.com"),
            (s("example.com"), 80, s("/"), s("example.com"))
        );
        assert_eq!(
            parts("WS://127.0.0.1:9002/runCase?case=1&agent=tether"),
            (
                s("127.0.0.1"),
                9002,
                s("/runCase?case=1&agent=tether"),
                s("127.0.0.1:9002")
            )
        );
        assert_eq!(parts("ws://h:80?x=1"), (s("h"), 80, s("/?x=1"), s("h")));
        assert_eq!(
            parts("ws://[::1]:8080/live"),
            (s("::1"), 8080, s("/live"), s("[::1]:8080"))
        );
        assert_eq!(parts("ws://[::1]").3, "[::1]");
    }

    #[test]
    fn invalid_urls() {
        for bad in [
            "",
            "example.com",
            "http://example.com/",
            "wss://h:0/",
            "ws://",
            "ws:///path",
            "ws://:80/",
            "ws://h:/",
            "ws://h:0/",
            "ws://h:65536/",
            "ws://h:8x/",
            "ws://h:-1/",
            "ws://user@h/",
            "ws://h/#frag",
            "ws://h/a b",
            "ws://h/ü",
            "ws://[::1/",
            "ws://[nope]/",
            "ws://[::1]x/",
            "ws://h h/",
            "ws://a:1:2/",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            WsUrl::parse("https://h/"),
            Err("the scheme must be ws:// or wss://")
        );
    }

    #[test]
    fn wss_urls_default_to_port_443() {
        let u = WsUrl::parse("wss://example.com/live").unwrap();
        assert!(u.secure);
        assert_eq!((u.port, u.host_header()), (443, "example.com".to_owned()));
        let u = WsUrl::parse("WSS://example.com:8443").unwrap();
        assert_eq!(
            (u.port, u.host_header()),
            (8443, "example.com:8443".to_owned())
        );
        let u = WsUrl::parse("ws://example.com:443/").unwrap();
        assert!(!u.secure);
        assert_eq!(u.host_header(), "example.com:443");
    }
}
