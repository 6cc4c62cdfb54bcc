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
//! Behind a reverse proxy (nginx terminating TLS) the TCP peer is the proxy. Each proxy
//! appends the address it saw to `X-Forwarded-For`, and anyone before the first proxy can
//! write whatever they like to the left of it. So ([`Access::client_ip_from`]):
//! - From a peer that is not a trusted proxy, `X-Forwarded-For` and `X-Real-IP` are ignored
//!   (trivially forged): the client is the peer.
//! - From a trusted proxy, every `X-Forwarded-For` line is read, joined in order with commas
//!   (RFC 9110 §5.3; RFC 7239 §5.2 uses the same right-to-left reading), and walked from the
//!   right: the client is the right-most address that is not a trusted proxy. If every
//!   address is a trusted proxy, it is the left-most one.
//! - A malformed entry met on that walk (not an IP address, `IP:port` or `[IPv6]:port`; an
//!   empty entry; bytes that are not UTF-8) ends it, and the client is the peer: what lies
//!   to its left is unverifiable, and the trusted hops to its right are proxies, not the
//!   client. Entries left of the first untrusted address are never read, so a client's own
//!   junk there changes nothing.
//! - `X-Real-IP` is believed only when there is no `X-Forwarded-For` line at all, and only as
//!   a single line holding a single address; otherwise the client is the peer.

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

    /// The client's address: the TCP peer's, or the one trusted proxies forwarded (the rule
    /// is in the [module doc](self#the-real-client-address)).
    pub fn client_ip(&self, peer: SocketAddr, request: &UpgradeRequest<'_>) -> IpAddr {
        let request = request.request();
        let forwarded_for: Vec<&[u8]> = request.header_all("x-forwarded-for").collect();
        let real_ip: Vec<&[u8]> = request.header_all("x-real-ip").collect();
        self.client_ip_from(peer, &real_ip, &forwarded_for)
    }

    /// [`client_ip`](Self::client_ip) on the header lines themselves: every `X-Real-IP` line
    /// and every `X-Forwarded-For` line, in the order they came.
    pub fn client_ip_from(
        &self,
        peer: SocketAddr,
        x_real_ip: &[&[u8]],
        x_forwarded_for: &[&[u8]],
    ) -> IpAddr {
        let peer_ip = peer.ip().to_canonical();
        if !self.is_trusted_proxy(peer_ip) {
            return peer_ip;
        }
        if x_forwarded_for.is_empty() {
            return match x_real_ip {
                [one] => forwarded_ip(one).unwrap_or(peer_ip),
                _ => peer_ip,
            };
        }
        // Right to left over the lines joined in order: each proxy appended the address it
        // saw, so the first untrusted one is the client as far as our proxies can vouch.
        let mut hops = x_forwarded_for
            .iter()
            .rev()
            .flat_map(|line| line.rsplit(|&b| b == b','));
        let mut client = peer_ip;
        loop {
            let Some(hop) = hops.next() else {
                return client; // every hop a trusted proxy: the left-most one
            };
            let Some(ip) = forwarded_ip(hop) else {
                return peer_ip;
            };
            client = ip;
            if !self.is_trusted_proxy(ip) {
                return client;
            }
        }
    }
}

/// One forwarded address: `IP`, `IPv4:port` or `[IPv6]:port`, spaces around it allowed;
/// `None` for anything else.
fn forwarded_ip(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim();
    let ip = IpAddr::from_str(text)
        .or_else(|_| SocketAddr::from_str(text).map(|s| s.ip()))
        .ok()?;
    Some(ip.to_canonical())
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

    fn proxies() -> Access {
        Access {
            trusted_proxies: vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()],
            ..Access::default()
        }
    }

    const PROXY: &str = "127.0.0.1:5000";

    /// The client `proxies()` finds behind `peer` given these header lines.
    fn client(peer: &str, real_ip: &[&str], forwarded_for: &[&str]) -> String {
        let real_ip: Vec<&[u8]> = real_ip.iter().map(|l| l.as_bytes()).collect();
        let forwarded_for: Vec<&[u8]> = forwarded_for.iter().map(|l| l.as_bytes()).collect();
        proxies()
            .client_ip_from(peer.parse().unwrap(), &real_ip, &forwarded_for)
            .to_string()
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
    fn a_malformed_entry_on_the_walk_gives_the_peer() {
        for chain in [
            "garbage",
            "",
            "203.0.113.9,",
            "203.0.113.9, , 10.0.0.2",
            "203.0.113.9, unknown",
            "203.0.113.9, 10.0.0.2, 999.0.0.1",
            "203.0.113.9, [2001:db8::7]",
            "203.0.113.9, 10.0.0.2/8",
        ] {
            assert_eq!(client(PROXY, &[], &[chain]), "127.0.0.1", "{chain:?}");
        }
        assert_eq!(client(PROXY, &[], &["203.0.113.9", ""]), "127.0.0.1");
        // Junk left of the client is never read.
        assert_eq!(client(PROXY, &[], &["garbage, 203.0.113.9"]), "203.0.113.9");
        assert_eq!(
            client(PROXY, &[], &["garbage", "203.0.113.9"]),
            "203.0.113.9"
        );
        // Bytes that are not UTF-8.
        let proxy: SocketAddr = PROXY.parse().unwrap();
        let bad: &[u8] = b"203.0.113.9, \xff";
        assert_eq!(
            proxies().client_ip_from(proxy, &[], &[bad]).to_string(),
            "127.0.0.1"
        );
    }
}
