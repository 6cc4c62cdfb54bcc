//! What parsing a PROXY protocol header gives, and which version's parser a buffer goes to (spec §2.2: the two signatures differ from the first byte).

use std::net::SocketAddr;

use super::{v1, v2};

/// The longest v2 header [`parse`] accepts, in bytes, its 16-byte fixed part included.
///
/// The spec expects a header to fit in 536 bytes, but TLVs (TLS details, AWS and Tencent
/// extensions) may make it longer; 4 KiB leaves room for them and still bounds the buffer.
pub const DEFAULT_MAX_V2_LEN: usize = 4096;

/// What a PROXY header says about the connection it precedes.
///
/// Both addresses are `Some` when the proxy relayed a TCP (or UDP) connection over IPv4 or
/// IPv6, and both `None` when it does not say: v1 `UNKNOWN`, v2 `LOCAL` (the proxy's own
/// health check), and v2's `AF_UNSPEC` and `AF_UNIX` families. With `None` the spec says to use
/// the real connection's addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client's address: where the proxied connection came from.
    pub source: Option<SocketAddr>,
    /// The address the client connected to, on the proxy.
    pub destination: Option<SocketAddr>,
}

/// The outcome of [`parse`] on the bytes read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The bytes so far begin a valid header but do not finish it: read more and call again.
    Partial,
    /// A whole header, and its length: the application's bytes start right after it.
    Complete(ProxyHeader, usize),
}

/// Why bytes are not a valid PROXY header. Every one means: close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The bytes start with neither version's signature (`PROXY ` or v2's 12 bytes): perhaps
    /// a client that bypassed the proxy.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// A v1 line without its CRLF within 107 bytes.
    #[error("PROXY v1: no CRLF within 107 bytes")]
    V1TooLong,
    /// A v1 line with a CR or LF that is not its final CRLF.
    #[error("PROXY v1: a CR or LF outside the final CRLF")]
    V1LineEnd,
    /// A v1 protocol other than `TCP4`, `TCP6` and `UNKNOWN`.
    #[error("PROXY v1: the protocol is not TCP4, TCP6 or UNKNOWN")]
    V1Protocol,
    /// A v1 line without exactly four fields after `TCP4` or `TCP6`, each after one space.
    #[error("PROXY v1: not two addresses and two ports, each after exactly one space")]
    V1Fields,
    /// A v1 address that is not one of the family its protocol names.
    #[error("PROXY v1: an address that is not of the family its protocol names")]
    V1Address,
    /// A v1 port that is not decimal, in 0-65535, without leading zeros.
    #[error("PROXY v1: a port that is not decimal 0-65535 without leading zeros")]
    V1Port,
    /// A v2 header whose version is not 2.
    #[error("PROXY v2: version {0}, not 2")]
    V2Version(u8),
    /// A v2 command other than `LOCAL` (0) and `PROXY` (1).
    #[error("PROXY v2: unassigned command {0}")]
    V2Command(u8),
    /// A v2 address family (high nibble, 0-3) or transport (low nibble, 0-2) that is not assigned.
    #[error("PROXY v2: unassigned address family or transport {0:#04x}")]
    V2Family(u8),
    /// A v2 length that does not cover the addresses its family needs.
    #[error("PROXY v2: length {len} does not cover the {need} address bytes of its family")]
    V2ShortAddress {
        /// The length the header announces.
        len: usize,
        /// What its address family and transport take.
        need: usize,
    },
    /// A v2 header that is, or is bound to be, longer than the limit.
    #[error("PROXY v2: the header is longer than the limit of {max} bytes")]
    V2TooLong {
        /// The limit it passes.
        max: usize,
    },
}

/// Parses the PROXY header at the start of `buf`, either version, a v2 header being at most
/// [`DEFAULT_MAX_V2_LEN`] bytes long. See [`parse_with_limit`].
pub fn parse(buf: &[u8]) -> Result<Status, ProxyError> {
    parse_with_limit(buf, DEFAULT_MAX_V2_LEN)
}

/// Parses the PROXY header at the start of `buf`, either version, refusing a v2 header longer
/// than `max_len` bytes (its 16-byte fixed part included); a v1 line is at most 107 bytes
/// whatever `max_len` says.
///
/// Incremental: `Partial` means the bytes so far can still become a valid header, and an
/// error is returned as soon as they cannot, so a caller buffers at most
/// `max(107, max_len)` bytes. After `Complete(header, n)` the first `n` bytes were the header
/// and the rest belong to the application. Nothing here panics, whatever the bytes.
pub fn parse_with_limit(buf: &[u8], max_len: usize) -> Result<Status, ProxyError> {
    let is_v1 = match buf.first() {
        None => return Ok(Status::Partial),
        Some(b'P') => true,
        Some(b'\r') => false,
        Some(_) => return Err(ProxyError::NotProxy),
    };
    let signature = if is_v1 { v1::PREFIX } else { &v2::SIGNATURE };
    let seen = buf.len().min(signature.len());
    if buf.get(..seen) != signature.get(..seen) {
        return Err(ProxyError::NotProxy);
    }
    if is_v1 {
        v1::parse(buf)
    } else {
        v2::parse(buf, max_len)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    /// Every cut of `bytes` short of `n` is `Partial`, and `n` bytes or more give `want`.
    pub(in crate::proxy) fn assert_cuts(bytes: &[u8], want: ProxyHeader, n: usize) {
        for cut in 0..n {
            assert_eq!(parse(&bytes[..cut]), Ok(Status::Partial), "cut at {cut}");
        }
        for end in n..=bytes.len() {
            assert_eq!(
                parse(&bytes[..end]),
                Ok(Status::Complete(want, n)),
                "{end} bytes"
            );
        }
    }

    #[test]
    fn proxy_not_proxy_is_refused_at_the_first_wrong_byte() {
        assert_eq!(parse(b""), Ok(Status::Partial));
        assert_eq!(parse(b"G"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"\x16\x03\x01\x02\x00"), Err(ProxyError::NotProxy)); // TLS
        assert_eq!(parse(b"PROXY"), Ok(Status::Partial));
        assert_eq!(parse(b"PRO\r"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"PROXY\r\n"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"POST / HTTP/1.1\r\n"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"\r\n\r\n"), Ok(Status::Partial));
        assert_eq!(parse(b"\r\n\r\n\r\n"), Err(ProxyError::NotProxy)); // a blank line, then more
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIX"), Err(ProxyError::NotProxy));
    }

    // ---- a test-only encoder, for the round trip ------------------------------------------

    /// How a header is written: the version, and what the parser must skip or ignore.
    #[derive(Debug, Clone)]
    enum Wire {
        /// v1; with no addresses, `UNKNOWN` followed by this text (maybe empty).
        V1 { unknown_tail: String },
        /// v2 with TLVs after the addresses; with no addresses, `LOCAL` or an address-less
        /// family (`fam`) and a block of `block` bytes.
        V2 {
            udp: bool,
            local: bool,
            fam: u8,
            block: Vec<u8>,
            tlvs: Vec<(u8, Vec<u8>)>,
        },
    }

    fn encode(header: &ProxyHeader, wire: &Wire) -> Vec<u8> {
        let pair = header.source.zip(header.destination);
        match wire {
            Wire::V1 { unknown_tail } => match pair {
                Some((s, d)) => {
                    let proto = if s.is_ipv4() { "TCP4" } else { "TCP6" };
                    let (sip, dip, sp, dp) = (s.ip(), d.ip(), s.port(), d.port());
                    format!("PROXY {proto} {sip} {dip} {sp} {dp}\r\n").into_bytes()
                }
                None => format!("PROXY UNKNOWN{unknown_tail}\r\n").into_bytes(),
            },
            Wire::V2 {
                udp,
                local,
                fam,
                block,
                tlvs,
            } => {
                let mut out = v2::SIGNATURE.to_vec();
                let mut body = Vec::new();
                let (cmd, fam) = match pair {
                    Some((s, d)) => {
                        let fam = match (s.ip(), d.ip()) {
                            (IpAddr::V4(a), IpAddr::V4(b)) => {
                                body.extend(a.octets());
                                body.extend(b.octets());
                                0x10
                            }
                            (IpAddr::V6(a), IpAddr::V6(b)) => {
                                body.extend(a.octets());
                                body.extend(b.octets());
                                0x20
                            }
                            _ => unreachable!("one family per header"),
                        };
                        body.extend(s.port().to_be_bytes());
                        body.extend(d.port().to_be_bytes());
                        (0x21, fam | if *udp { 2 } else { 1 })
                    }
                    None => {
                        body.extend(block);
                        (if *local { 0x20 } else { 0x21 }, *fam)
                    }
                };
                for (t, v) in tlvs {
                    body.push(*t);
                    body.extend(u16::try_from(v.len()).unwrap().to_be_bytes());
                    body.extend(v);
                }
                out.extend([cmd, fam]);
                out.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
                out.extend(body);
                out
            }
        }
    }

    fn addr_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
        let v4 = any::<([u8; 4], [u8; 4], u16, u16)>().prop_map(|(a, b, p, q)| {
            let a = SocketAddr::new(Ipv4Addr::from(a).into(), p);
            (a, SocketAddr::new(Ipv4Addr::from(b).into(), q))
        });
        let v6 = any::<([u8; 16], [u8; 16], u16, u16)>().prop_map(|(a, b, p, q)| {
            let a = SocketAddr::new(Ipv6Addr::from(a).into(), p);
            (a, SocketAddr::new(Ipv6Addr::from(b).into(), q))
        });
        // IPv4-mapped, as HAProxy writes a v1 line for mixed families (`::ffff:1.2.3.4`).
        let mapped = any::<([u8; 4], [u8; 4], u16, u16)>().prop_map(|(a, b, p, q)| {
            let a = SocketAddr::new(Ipv4Addr::from(a).to_ipv6_mapped().into(), p);
            (
                a,
                SocketAddr::new(Ipv4Addr::from(b).to_ipv6_mapped().into(), q),
            )
        });
        // Runs of zero groups, so that `::` appears in several places.
        let sparse = any::<(u16, u8, u16, u16)>().prop_map(|(g, at, p, q)| {
            let mut groups = [0u16; 8];
            groups[usize::from(at % 8)] = g;
            let ip = Ipv6Addr::from(groups);
            (SocketAddr::new(ip.into(), p), SocketAddr::new(ip.into(), q))
        });
        prop_oneof![v4, v6, mapped, sparse]
    }

    fn case() -> impl Strategy<Value = (ProxyHeader, Wire)> {
        let addresses = prop_oneof![
            Just(ProxyHeader::default()),
            addr_pair().prop_map(|(s, d)| ProxyHeader {
                source: Some(s),
                destination: Some(d),
            }),
        ];
        // `UNKNOWN` may be followed by anything but CR and LF, up to 107 bytes in all.
        let v1 = "( [ -~]{0,90})?".prop_map(|unknown_tail| Wire::V1 { unknown_tail });
        // Address-less v2: LOCAL with any family and block, or PROXY with AF_UNSPEC or
        // AF_UNIX and a block of at least the family's size.
        let addressless =
            prop_oneof![
                (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40))
                    .prop_map(|(fam, block)| (true, fam, block)),
                (0u8..3, proptest::collection::vec(any::<u8>(), 0..40))
                    .prop_map(|(t, block)| (false, t, block)),
                (0u8..3, proptest::collection::vec(any::<u8>(), 216..240))
                    .prop_map(|(t, block)| (false, 0x30 | t, block)),
            ];
        let tlvs = proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)),
            0..4,
        );
        let v2 = (any::<bool>(), addressless, tlvs).prop_map(|(udp, (local, fam, block), tlvs)| {
            Wire::V2 {
                udp,
                local,
                fam,
                block,
                tlvs,
            }
        });
        (addresses, prop_oneof![v1, v2])
    }

    proptest! {
        #[test]
        fn proxy_round_trip_cut_anywhere(
            (header, wire) in case(),
            trailing in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut bytes = encode(&header, &wire);
            let n = bytes.len();
            bytes.extend(trailing);
            for cut in 0..n {
                prop_assert_eq!(parse(&bytes[..cut]), Ok(Status::Partial), "cut at {}", cut);
            }
            for end in n..=bytes.len() {
                prop_assert_eq!(parse(&bytes[..end]), Ok(Status::Complete(header, n)));
            }
        }
    }
}
