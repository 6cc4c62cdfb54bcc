//! Who may connect to the demo, and who is really connecting: the `Origin` and mini-program appid allowlists, and the client address behind a trusted proxy.
//!
//! # The allowlists
//! Both are off by default (the local demo accepts everyone); flags turn them on. They stop
//! *other web pages* and *other mini-programs* from using the server through their users'
//! clients; they are not authentication, since a native client can send any header it likes.
//!
//! A WebSocket handshake is sorted by the headers its client cannot forge:
//! - A mini-program (its `Referer` is `https://servicewechat.com/{appid}/{version}/page-frame.html`,
//!   which the runtime sets and scripts cannot change): with an appid allowlist, the appid must
//!   be on it.
//! - A browser (it sends `Origin`, RFC 6455 §10.2; a page cannot change it): with an origin
//!   allowlist, the origin must be on it. This blocks cross-site WebSocket hijacking.
//! - Anything else (no `Origin`, no mini-program `Referer`) is a native client and passes.
//!
//! A refused handshake gets `403 Forbidden`.
//!
//! # The real client address
//! Behind a reverse proxy (nginx terminating TLS) the TCP peer is the proxy. When, and only
//! when, the peer is a configured trusted proxy, the client address is taken from
//! `X-Real-IP`, else from `X-Forwarded-For` (its right-most address that is not itself a
//! trusted proxy). From anyone else these headers are ignored: they are trivially forged.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use tether_server::UpgradeRequest;

/// The appid of a mini-program, read from its fixed `Referer`
/// (`https://servicewechat.com/{appid}/{version}/page-frame.html`); `None` for anything else.
pub fn miniprogram_appid(referer: &str) -> Option<&str> {
    let rest = referer.strip_prefix("https://servicewechat.com/")?;
    let mut parts = rest.split('/');
    let appid = parts.next()?;
    let version = parts.next()?;
    let page = parts.next()?;
    let well_formed = !appid.is_empty()
        && appid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !version.is_empty()
        && page == "page-frame.html"
        && parts.next().is_none();
    well_formed.then_some(appid)
}

/// An address or a CIDR block (`10.0.0.0/8`, `::1`) of reverse proxies whose forwarding
/// headers are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    addr: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `ip` is in this block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    /// Parses `ADDRESS` or `ADDRESS/PREFIX`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(addr.trim())
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has an invalid prefix length"))?,
        };
        Ok(TrustedProxy { addr, prefix })
    }
}

/// The demo's access policy: allowlists and trusted proxies. The default allows everyone
/// and trusts no proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Browser origins allowed to connect (`https://example.com`, no path); empty: any.
    pub allowed_origins: Vec<String>,
    /// Mini-program appids allowed to connect; empty: any.
    pub allowed_appids: Vec<String>,
    /// Reverse proxies whose `X-Real-IP` / `X-Forwarded-For` headers are believed.
    pub trusted_proxies: Vec<TrustedProxy>,
}

impl Access {
    /// Checks a WebSocket handshake against the allowlists; `Err` holds the reason for a 403.
    pub fn check(&self, request: &UpgradeRequest<'_>) -> Result<(), String> {
        let referer = request.header("referer");
        if let Some(appid) = referer.and_then(miniprogram_appid) {
            if self.allowed_appids.is_empty() || self.allowed_appids.iter().any(|a| a == appid) {
                return Ok(());
            }
            return Err(format!("mini-program appid {appid:?} is not allowed"));
        }
        if let Some(origin) = request.origin() {
            let origin = origin.trim().trim_end_matches('/');
            if self.allowed_origins.is_empty()
                || self
                    .allowed_origins
                    .iter()
                    .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
            {
                return Ok(());
            }
            return Err(format!("origin {origin:?} is not allowed"));
        }
        Ok(())
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|p| p.contains(ip))
    }

    /// The client's address: the TCP peer's, or the one a trusted proxy forwarded.
    pub fn client_ip(&self, peer: SocketAddr, request: &UpgradeRequest<'_>) -> IpAddr {
        self.client_ip_from(
            peer,
            request.header("x-real-ip"),
            request.header("x-forwarded-for"),
        )
    }

    /// [`client_ip`](Self::client_ip) on the header values themselves.
    pub fn client_ip_from(
        &self,
        peer: SocketAddr,
        x_real_ip: Option<&str>,
        x_forwarded_for: Option<&str>,
    ) -> IpAddr {
        let peer_ip = peer.ip().to_canonical();
        if !self.is_trusted_proxy(peer_ip) {
            return peer_ip;
        }
        if let Some(ip) = x_real_ip.and_then(|v| IpAddr::from_str(v.trim()).ok()) {
            return ip.to_canonical();
        }
        let Some(chain) = x_forwarded_for else {
            return peer_ip;
        };
        // Right to left: each hop appended the address it saw; the first untrusted one is
        // the client as far as our proxies can vouch.
        let mut client = peer_ip;
        for hop in chain.rsplit(',') {
            let Ok(ip) = IpAddr::from_str(hop.trim()) else {
                break;
            };
            client = ip.to_canonical();
            if !self.is_trusted_proxy(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appid_from_referer() {
        let r = "https://servicewechat.com/wx1234567890abcdef/0/page-frame.html";
        assert_eq!(miniprogram_appid(r), Some("wx1234567890abcdef"));
        assert_eq!(
            miniprogram_appid("https://servicewechat.com/wxabc/12/page-frame.html"),
            Some("wxabc")
        );
        for bad in [
            "https://servicewechat.com/wxabc/0/other.html",
            "https://servicewechat.com//0/page-frame.html",
            "https://evil.com/wxabc/0/page-frame.html",
            "http://servicewechat.com/wxabc/0/page-frame.html",
            "https://servicewechat.com/wx abc/0/page-frame.html",
            "https://servicewechat.com/wxabc/0/page-frame.html/x",
        ] {
            assert_eq!(miniprogram_appid(bad), None, "{bad}");
        }
    }

    #[test]
    fn cidr_blocks() {
        let p: TrustedProxy = "10.0.0.0/8".parse().unwrap();
        assert!(p.contains("10.1.2.3".parse().unwrap()));
        assert!(p.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!p.contains("11.0.0.1".parse().unwrap()));
        let one: TrustedProxy = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: TrustedProxy = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["x", "10.0.0.0/33", "::1/129", "10.0.0.0/-1", ""] {
            assert!(bad.parse::<TrustedProxy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_addresses_only_from_trusted_proxies() {
        let access = Access {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()],
            ..Access::default()
        };
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            access.client_ip_from(proxy, Some("203.0.113.9"), None),
            ip("203.0.113.9")
        );
        assert_eq!(
            access.client_ip_from(stranger, Some("203.0.113.9"), Some("1.2.3.4")),
            ip("192.0.2.7")
        );
        assert_eq!(
            access.client_ip_from(proxy, None, Some("6.6.6.6, 203.0.113.9, 10.0.0.2")),
            ip("203.0.113.9")
        );
        assert_eq!(
            access.client_ip_from(proxy, Some("garbage"), Some("198.51.100.1")),
            ip("198.51.100.1")
        );
        assert_eq!(access.client_ip_from(proxy, None, None), ip("127.0.0.1"));
        assert_eq!(
            access.client_ip_from(proxy, None, Some("10.0.0.3")),
            ip("10.0.0.3")
        );
    }
}
