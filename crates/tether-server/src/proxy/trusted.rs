//! The set of trusted proxies: CIDR blocks and single addresses, an IPv4-mapped IPv6 address counting as its IPv4 address.

use std::net::IpAddr;
use std::str::FromStr;

/// The proxies whose word about the client's address is taken: CIDR blocks (`10.0.0.0/8`,
/// `fd00::/8`) and single addresses (`127.0.0.1`, `::1`).
///
/// An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what a dual-stack socket reports for an
/// IPv4 peer) is the IPv4 address it maps, and the other way round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<Block>,
}

/// One CIDR block, its host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

/// Why an entry of a trusted proxy list was refused; each holds the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustedProxiesError {
    /// The part before any `/` is not an IPv4 or IPv6 address.
    #[error("{0:?} is not an IP address or CIDR block")]
    Address(String),
    /// The part after `/` is not a decimal number up to 32 (IPv4) or 128 (IPv6).
    #[error("{0:?} has a prefix length that is not 0-32 for IPv4 or 0-128 for IPv6")]
    Prefix(String),
    /// The address has bits set past the prefix length (`10.1.2.3/8`), likely a typo.
    #[error("{0:?} has bits set past its prefix length")]
    HostBits(String),
}

impl TrustedProxies {
    /// The set of `entries`, each a CIDR block or a single address; surrounding whitespace
    /// is ignored. No entry at all makes an empty set, which trusts nobody.
    pub fn new<I>(entries: I) -> Result<Self, TrustedProxiesError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let blocks = entries
            .into_iter()
            .map(|entry| Block::parse(entry.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { blocks })
    }

    /// Whether `ip` is in one of the blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v4, v6) = match ip {
            IpAddr::V4(a) => (Some(a), a.to_ipv6_mapped()),
            IpAddr::V6(a) => (a.to_ipv4_mapped(), a),
        };
        let v4 = v4.map(u32::from);
        let v6 = u128::from(v6);
        self.blocks.iter().any(|block| match *block {
            Block::V4 { net, mask } => v4.is_some_and(|a| a & mask == net),
            Block::V6 { net, mask } => v6 & mask == net,
        })
    }
}

/// A comma-separated list, as [`TrustedProxies::new`] takes it: `"10.0.0.0/8, ::1"`.
impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s.split(','))
    }
}

impl Block {
    fn parse(entry: &str) -> Result<Block, TrustedProxiesError> {
        let text = entry.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let ip = addr
            .parse::<IpAddr>()
            .map_err(|_| TrustedProxiesError::Address(entry.to_owned()))?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => {
                prefix_len(p, bits).ok_or_else(|| TrustedProxiesError::Prefix(entry.to_owned()))?
            }
        };
        let (block, host_bits) = match ip {
            IpAddr::V4(a) => {
                let (net, mask) = (u32::from(a), u32::MAX.checked_shl(32 - prefix).unwrap_or(0));
                (Block::V4 { net, mask }, net & !mask != 0)
            }
            IpAddr::V6(a) => {
                let (net, mask) = (
                    u128::from(a),
                    u128::MAX.checked_shl(128 - prefix).unwrap_or(0),
                );
                (Block::V6 { net, mask }, net & !mask != 0)
            }
        };
        if host_bits {
            return Err(TrustedProxiesError::HostBits(entry.to_owned()));
        }
        Ok(block)
    }
}

/// A prefix length of digits only (`u32::from_str` would also take a sign), at most `bits`.
fn prefix_len(text: &str, bits: u32) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&n| n <= bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn proxy_trusted_blocks_and_single_addresses() {
        let t = TrustedProxies::new(["10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"]).unwrap();
        for inside in [
            "10.0.0.0",
            "10.255.255.255",
            "127.0.0.1",
            "::1",
            "fd00::",
            "fdff::1",
        ] {
            assert!(t.contains(ip(inside)), "{inside}");
        }
        for outside in [
            "11.0.0.0",
            "9.255.255.255",
            "127.0.0.2",
            "::2",
            "fe00::",
            "fc00::1",
        ] {
            assert!(!t.contains(ip(outside)), "{outside}");
        }
        assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
        assert_eq!(
            TrustedProxies::new(Vec::<String>::new()),
            Ok(TrustedProxies::default())
        );
    }

    #[test]
    fn proxy_trusted_ipv4_mapped_matches_both_ways() {
        let t = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(!t.contains(ip("::ffff:11.1.2.3")));
        assert!(!t.contains(ip("::10.1.2.3"))); // IPv4-compatible, deprecated: not mapped
        let t = TrustedProxies::new(["::ffff:10.0.0.0/104"]).unwrap();
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(!t.contains(ip("11.1.2.3")));
    }

    #[test]
    fn proxy_trusted_zero_and_full_prefixes() {
        let all_v4 = TrustedProxies::new(["0.0.0.0/0"]).unwrap();
        assert!(all_v4.contains(ip("203.0.113.9")));
        assert!(all_v4.contains(ip("::ffff:203.0.113.9")));
        assert!(!all_v4.contains(ip("2001:db8::1")));
        let all = TrustedProxies::new(["::/0"]).unwrap();
        assert!(all.contains(ip("2001:db8::1")) && all.contains(ip("203.0.113.9")));
        let one = TrustedProxies::new(["192.0.2.7/32", "2001:db8::7/128"]).unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.6")));
        assert!(one.contains(ip("2001:db8::7")) && !one.contains(ip("2001:db8::6")));
    }

    #[test]
    fn proxy_trusted_from_str_and_errors() {
        let t: TrustedProxies = " 10.0.0.0/8 ,::1".parse().unwrap();
        assert!(t.contains(ip("10.9.9.9")) && t.contains(ip("::1")));
        use TrustedProxiesError::{Address, HostBits, Prefix};
        for (entry, want) in [
            ("", Address(String::new())),
            ("localhost", Address("localhost".into())),
            ("10.0.0.0/8/8", Prefix("10.0.0.0/8/8".into())),
            ("[::1]", Address("[::1]".into())),
            ("10.0.0.0/33", Prefix("10.0.0.0/33".into())),
            ("::/129", Prefix("::/129".into())),
            ("10.0.0.0/", Prefix("10.0.0.0/".into())),
            ("10.0.0.0/+8", Prefix("10.0.0.0/+8".into())),
            (
                "10.0.0.0/99999999999",
                Prefix("10.0.0.0/99999999999".into()),
            ),
            ("10.1.2.3/8", HostBits("10.1.2.3/8".into())),
            ("fd00::1/8", HostBits("fd00::1/8".into())),
        ] {
            assert_eq!(TrustedProxies::new([entry]), Err(want), "{entry:?}");
        }
        assert_eq!(
            "10.0.0.0/8,".parse::<TrustedProxies>(),
            Err(Address(String::new()))
        );
    }
}
