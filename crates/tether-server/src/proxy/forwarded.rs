//! The client's address from the de facto `X-Forwarded-For` header (not RFC 7239's `Forwarded`), believed only as far back as a chain of trusted proxies vouches for it.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::trusted::TrustedProxies;

/// The most bytes of `X-Forwarded-For` looked at, counted from the right.
const MAX_BYTES: usize = 8 * 1024;

/// The most entries looked at, counted from the right.
const MAX_ENTRIES: usize = 64;

/// The client's address, given the TCP peer and the request's `X-Forwarded-For` values in
/// the order they came.
///
/// An untrusted peer's headers are its own word: the peer is returned and the header
/// ignored. Otherwise the values form one comma-separated list, read from the right, where
/// each proxy appended the address it saw: trusted proxies are skipped, and the first entry
/// that is not one is the client. An entry that is not an address (`unknown`, an obfuscated
/// name) ends the walk at the last trusted hop before it, or the peer; if every entry is
/// trusted, the left-most one is returned. An entry is `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`; without a port the result's port is 0.
///
/// A client can make the left end as long as it likes, so only the right end is read: the
/// last 8 KiB and 64 entries. Reaching either bound ends the walk like an unreadable entry.
pub fn client_addr_from_forwarded<'a>(
    peer: SocketAddr,
    trusted: &TrustedProxies,
    header_values: impl IntoIterator<Item = &'a [u8]>,
) -> SocketAddr {
    if !trusted.contains(peer.ip()) {
        return peer;
    }
    // Each value holds at least one entry, so the last MAX_ENTRIES values are enough.
    let mut values = VecDeque::with_capacity(MAX_ENTRIES);
    for value in header_values {
        if values.len() == MAX_ENTRIES {
            values.pop_front();
        }
        values.push_back(value);
    }
    let mut client = peer;
    let mut budget = MAX_BYTES;
    let mut entries = 0;
    for value in values.iter().rev() {
        // Past the budget an entry would be read cut short, and a cut `2001:db8::1` is
        // still an address (`db8::1`): only entries wholly inside it are read.
        let (whole, cut) = match value.len().checked_sub(budget) {
            Some(start) if start > 0 => {
                let tail = value.get(start..).unwrap_or_default();
                let after_comma = tail.iter().position(|&b| b == b',').map_or(0, |i| i + 1);
                (tail.get(after_comma..).unwrap_or_default(), true)
            }
            _ => (*value, false),
        };
        for entry in whole.rsplit(|&b| b == b',') {
            entries += 1;
            if entries > MAX_ENTRIES {
                return client;
            }
            let entry = entry.trim_ascii();
            if entry.is_empty() {
                continue; // empty list elements are allowed (RFC 9110 §5.6.1)
            }
            let Some(hop) = parse_entry(entry) else {
                return client;
            };
            if !trusted.contains(hop.ip()) {
                return hop;
            }
            client = hop;
        }
        if cut {
            return client;
        }
        budget = budget.saturating_sub(value.len() + 1); // and the separator
    }
    client
}

/// An address with an optional port: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`.
pub(crate) fn parse_entry(entry: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(entry).ok()?;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip = match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(v6) => IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?),
        None => text.parse().ok()?,
    };
    Some(SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(["10.0.0.0/8", "::1", "fd00::/8"]).unwrap()
    }

    fn client(peer: &str, values: &[&str]) -> SocketAddr {
        let values = values.iter().map(|v| v.as_bytes());
        client_addr_from_forwarded(addr(peer), &trusted(), values)
    }

    #[test]
    fn proxy_xff_untrusted_peer_is_not_believed() {
        assert_eq!(
            client("203.0.113.5:4000", &["198.51.100.1"]),
            addr("203.0.113.5:4000")
        );
        assert_eq!(
            client("[2001:db8::5]:1", &["10.0.0.1"]),
            addr("[2001:db8::5]:1")
        );
    }

    #[test]
    fn proxy_xff_right_most_untrusted_entry_is_the_client() {
        assert_eq!(
            client("10.0.0.1:5000", &["198.51.100.1"]),
            addr("198.51.100.1:0")
        );
        // A client that sends its own header cannot hide behind it: the proxy appended the
        // address it saw.
        let spoofed = ["1.1.1.1, 10.0.0.99", "198.51.100.1, 10.0.0.2"];
        assert_eq!(client("10.0.0.1:5000", &spoofed), addr("198.51.100.1:0"));
        // Several lines are one list, in order.
        let lines = ["198.51.100.7", "10.0.0.3 ,10.0.0.2", "\t10.0.0.4 "];
        assert_eq!(client("10.0.0.1:5000", &lines), addr("198.51.100.7:0"));
    }

    #[test]
    fn proxy_xff_no_header_or_all_trusted() {
        assert_eq!(client("10.0.0.1:5000", &[]), addr("10.0.0.1:5000"));
        assert_eq!(client("10.0.0.1:5000", &[""]), addr("10.0.0.1:5000"));
        let all = ["10.0.0.9, fd00::2", "::1"];
        assert_eq!(client("10.0.0.1:5000", &all), addr("10.0.0.9:0"));
    }

    #[test]
    fn proxy_xff_unreadable_entry_ends_the_walk() {
        let values = ["198.51.100.1, unknown, 10.0.0.2"];
        assert_eq!(client("10.0.0.1:5000", &values), addr("10.0.0.2:0"));
        assert_eq!(
            client("10.0.0.1:5000", &["198.51.100.1, _hidden"]),
            addr("10.0.0.1:5000")
        );
        assert_eq!(
            client("10.0.0.1:5000", &["1.2.3.4:99999"]),
            addr("10.0.0.1:5000")
        );
        assert_eq!(client("10.0.0.1:5000", &["\u{e9}"]), addr("10.0.0.1:5000"));
        let bytes: [&[u8]; 1] = [b"198.51.100.1, \xff"];
        let got = client_addr_from_forwarded(addr("10.0.0.1:5000"), &trusted(), bytes);
        assert_eq!(got, addr("10.0.0.1:5000"));
        // Empty elements are skipped, not unreadable.
        assert_eq!(
            client("10.0.0.1:5000", &["198.51.100.1,, ,10.0.0.2,"]),
            addr("198.51.100.1:0")
        );
    }

    #[test]
    fn proxy_xff_ports_and_ipv6_brackets() {
        let peer = "10.0.0.1:5000";
        assert_eq!(client(peer, &["1.2.3.4:80"]), addr("1.2.3.4:80"));
        assert_eq!(
            client(peer, &["[2001:db8::1]:4711"]),
            addr("[2001:db8::1]:4711")
        );
        assert_eq!(client(peer, &["2001:db8::1"]), addr("[2001:db8::1]:0"));
        assert_eq!(client(peer, &["[2001:db8::1]"]), addr("[2001:db8::1]:0"));
        assert_eq!(
            client(peer, &["198.51.100.1, [fd00::1]:443"]),
            addr("198.51.100.1:0")
        );
        assert_eq!(client(peer, &["[1.2.3.4]"]), addr(peer)); // brackets are for IPv6
    }

    #[test]
    fn proxy_xff_ipv4_mapped_peer_and_entries() {
        // A dual-stack listener sees an IPv4 proxy as ::ffff:10.0.0.1.
        assert_eq!(
            client("[::ffff:10.0.0.1]:5000", &["198.51.100.1"]),
            addr("198.51.100.1:0")
        );
        let values = ["198.51.100.1, ::ffff:10.0.0.2"];
        assert_eq!(client("10.0.0.1:5000", &values), addr("198.51.100.1:0"));
        let spoof = ["10.0.0.2"];
        assert_eq!(
            client("[::ffff:203.0.113.5]:5000", &spoof),
            addr("[::ffff:203.0.113.5]:5000")
        );
    }

    #[test]
    fn proxy_xff_reads_only_the_right_end() {
        let peer = "10.0.0.1:5000";
        // A huge left end written by the client, then what the proxies appended.
        let mut line = "1.1.1.1, ".repeat(100_000);
        line.push_str("198.51.100.1, 10.0.0.2");
        assert_eq!(client(peer, &[line.as_str()]), addr("198.51.100.1:0"));
        // More than 64 trusted entries: the walk stops at the 64th from the right.
        let hops: Vec<String> = (1..=70).map(|i| format!("10.0.0.{i}")).collect();
        let mut values: Vec<&str> = vec!["198.51.100.1"];
        values.extend(hops.iter().map(String::as_str));
        assert_eq!(client(peer, &values), addr("10.0.0.7:0"));
        let joined = hops.join(",");
        assert_eq!(client(peer, &[joined.as_str()]), addr("10.0.0.7:0"));
    }

    #[test]
    fn proxy_xff_an_entry_cut_by_the_byte_bound_is_not_read() {
        let peer = "10.0.0.1:5000";
        // The bound falls inside `2001:db8::1`, whose tail `db8::1` would parse.
        let right = format!("{:>1$}", "10.0.0.2", MAX_BYTES - "db8::1,".len());
        let line = format!("2001:db8::1,{right}");
        assert!(line[line.len() - MAX_BYTES..].starts_with("db8::1,"));
        assert_eq!(client(peer, &[line.as_str()]), addr("10.0.0.2:0"));
        // Across lines: the budget is shared, and the line it ends in is cut. Entries
        // padded with spaces reach the byte bound before the entry bound.
        let padded = |ip: &str, n: usize| vec![format!("{ip:>200}"); n].join(",");
        let last = padded("10.0.0.4", 30);
        let first = format!("198.51.100.1,{}", padded("10.0.0.5", 30));
        assert!(first.len() + last.len() > MAX_BYTES);
        assert_eq!(client(peer, &[&first, &last]), addr("10.0.0.5:0"));
        assert_eq!(
            client(peer, &["198.51.100.1", &last]),
            addr("198.51.100.1:0")
        );
    }
}
