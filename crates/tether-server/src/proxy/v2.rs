//! Version 2 of the PROXY header: a 16-byte binary prefix with the length of what follows, the addresses, then TLVs, which are skipped (spec §2.2).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::header::{ProxyError, ProxyHeader, Status};

/// How a v2 header starts.
pub(super) const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The signature, the version and command, the family and transport, the length.
const FIXED_LEN: usize = 16;

/// Parses the v2 header at the start of `buf`, which begins with (a prefix of) [`SIGNATURE`].
///
/// Each byte is judged as soon as it is in, so that bytes which cannot become a header of at
/// most `max_len` bytes are refused at once rather than waited on.
pub(super) fn parse(buf: &[u8], max_len: usize) -> Result<Status, ProxyError> {
    let too_long = |len: usize| {
        if len > max_len {
            return Err(ProxyError::V2TooLong { max: max_len });
        }
        Ok(())
    };
    too_long(FIXED_LEN)?;
    let Some(&version_command) = buf.get(12) else {
        return Ok(Status::Partial);
    };
    if version_command >> 4 != 2 {
        return Err(ProxyError::V2Version(version_command >> 4));
    }
    let proxy = match version_command & 0x0F {
        0 => false, // LOCAL: the proxy's own connection, e.g. a health check
        1 => true,
        command => return Err(ProxyError::V2Command(command)),
    };
    let Some(&family) = buf.get(13) else {
        return Ok(Status::Partial);
    };
    // LOCAL ignores the family byte along with the addresses (§2.2).
    let need = if proxy { address_len(family)? } else { 0 };
    too_long(FIXED_LEN + need)?;
    let Some(&high) = buf.get(14) else {
        return Ok(Status::Partial);
    };
    too_long(FIXED_LEN + (usize::from(high) << 8))?;
    let Some(&low) = buf.get(15) else {
        return Ok(Status::Partial);
    };
    let len = usize::from(u16::from_be_bytes([high, low]));
    if len < need {
        return Err(ProxyError::V2ShortAddress { len, need });
    }
    too_long(FIXED_LEN + len)?;
    let Some(block) = buf.get(FIXED_LEN..FIXED_LEN + len) else {
        return Ok(Status::Partial);
    };
    let (source, destination) = if proxy {
        addresses(family, block).unzip()
    } else {
        (None, None)
    };
    let header = ProxyHeader {
        source,
        destination,
    };
    Ok(Status::Complete(header, FIXED_LEN + len))
}

/// How many bytes the addresses of family and transport `family` take: 0 where the spec
/// defines none (an unspecified family or transport).
fn address_len(family: u8) -> Result<usize, ProxyError> {
    let len = match family >> 4 {
        0 => 0,   // AF_UNSPEC
        1 => 12,  // AF_INET: two addresses of 4 bytes, two ports
        2 => 36,  // AF_INET6: two addresses of 16 bytes, two ports
        3 => 216, // AF_UNIX: two paths of 108 bytes
        _ => return Err(ProxyError::V2Family(family)),
    };
    match family & 0x0F {
        0 => Ok(0),       // UNSPEC transport: no addresses to read
        1 | 2 => Ok(len), // STREAM, DGRAM
        _ => Err(ProxyError::V2Family(family)),
    }
}

/// The source and destination of an IPv4 or IPv6 family over TCP or UDP; `None` for the
/// others, which carry no IP address. `block` holds at least [`address_len`] bytes.
fn addresses(family: u8, block: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    match family {
        0x11 | 0x12 => {
            let (src, dst, src_port, dst_port) = split::<4>(block)?;
            Some((
                SocketAddr::new(Ipv4Addr::from(src).into(), src_port),
                SocketAddr::new(Ipv4Addr::from(dst).into(), dst_port),
            ))
        }
        0x21 | 0x22 => {
            let (src, dst, src_port, dst_port) = split::<16>(block)?;
            Some((
                SocketAddr::new(Ipv6Addr::from(src).into(), src_port),
                SocketAddr::new(Ipv6Addr::from(dst).into(), dst_port),
            ))
        }
        _ => None,
    }
}

/// Two addresses of `N` bytes then two big-endian ports, from the start of `block`.
fn split<const N: usize>(block: &[u8]) -> Option<([u8; N], [u8; N], u16, u16)> {
    let (src, rest) = block.split_first_chunk::<N>()?;
    let (dst, rest) = rest.split_first_chunk::<N>()?;
    let (src_port, rest) = rest.split_first_chunk::<2>()?;
    let (dst_port, _) = rest.split_first_chunk::<2>()?;
    Some((
        *src,
        *dst,
        u16::from_be_bytes(*src_port),
        u16::from_be_bytes(*dst_port),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::header::tests::assert_cuts;
    use super::super::header::{parse, parse_with_limit, DEFAULT_MAX_V2_LEN};
    use super::*;

    /// A v2 header: signature, `version_command`, `family`, the length of `body`, `body`.
    fn v2(version_command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend([version_command, family]);
        out.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend(body);
        out
    }

    fn header(src: &str, dst: &str) -> ProxyHeader {
        ProxyHeader {
            source: Some(src.parse().unwrap()),
            destination: Some(dst.parse().unwrap()),
        }
    }

    const V4_BLOCK: [u8; 12] = [192, 168, 0, 1, 192, 168, 0, 11, 0xDC, 0x04, 0x01, 0xBB];

    fn v6_block() -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        [&src.octets()[..], &dst.octets(), &[0x12, 0x67, 0x01, 0xBB]].concat()
    }

    #[test]
    fn proxy_v2_tcp4_leaves_the_request_unconsumed() {
        let mut bytes = v2(0x21, 0x11, &V4_BLOCK);
        bytes.extend(b"GET / HTTP/1.1\r\n\r\n");
        let want = header("192.168.0.1:56324", "192.168.0.11:443");
        assert_cuts(&bytes, want, 28);
    }

    #[test]
    fn proxy_v2_tcp6_udp4_udp6() {
        let want = header("[2001:db8::1]:4711", "[2001:db8::2]:443");
        assert_cuts(&v2(0x21, 0x21, &v6_block()), want, 52);
        assert_cuts(&v2(0x21, 0x22, &v6_block()), want, 52);
        let want = header("192.168.0.1:56324", "192.168.0.11:443");
        assert_cuts(&v2(0x21, 0x12, &V4_BLOCK), want, 28);
    }

    #[test]
    fn proxy_v2_tlvs_are_skipped() {
        let mut body = V4_BLOCK.to_vec();
        body.extend(b"\x01\x00\x02h2"); // PP2_TYPE_ALPN
        body.extend(b"\x02\x00\x0bexample.com"); // PP2_TYPE_AUTHORITY
        body.extend(b"\x04\x00\x00"); // PP2_TYPE_NOOP, empty
        body.extend(b"\xEA\x00\x04vpce"); // an AWS-style custom type
        let mut bytes = v2(0x21, 0x11, &body);
        let n = bytes.len();
        bytes.extend(b"GET");
        let want = header("192.168.0.1:56324", "192.168.0.11:443");
        assert_cuts(&bytes, want, n);
    }

    #[test]
    fn proxy_v2_local_ignores_family_and_addresses() {
        let none = ProxyHeader::default();
        assert_cuts(&v2(0x20, 0x00, &[]), none, 16);
        assert_cuts(&v2(0x20, 0x11, &V4_BLOCK), none, 28);
        // Unassigned family, and a block too short for the family it names: ignored too.
        assert_cuts(&v2(0x20, 0xFF, &[1, 2, 3]), none, 19);
        assert_cuts(&v2(0x20, 0x21, &V4_BLOCK), none, 28);
    }

    #[test]
    fn proxy_v2_unspec_and_unix_carry_no_address() {
        let none = ProxyHeader::default();
        assert_cuts(&v2(0x21, 0x00, &[]), none, 16);
        assert_cuts(&v2(0x21, 0x00, &[7; 5]), none, 21);
        assert_cuts(&v2(0x21, 0x10, &[]), none, 16); // AF_INET, unspecified transport
        assert_cuts(&v2(0x21, 0x02, &[]), none, 16); // AF_UNSPEC over DGRAM
        assert_cuts(&v2(0x21, 0x31, &[b'/'; 216]), none, 232);
        assert_cuts(&v2(0x21, 0x32, &[b'/'; 220]), none, 236);
    }

    #[test]
    fn proxy_v2_length_must_cover_the_addresses() {
        for (family, need) in [(0x11, 12), (0x12, 12), (0x21, 36), (0x31, 216)] {
            let bytes = v2(0x21, family, &vec![0; need - 1]);
            let want = ProxyError::V2ShortAddress {
                len: need - 1,
                need,
            };
            assert_eq!(parse(&bytes[..16]), Err(want), "{family:#x}");
            assert_eq!(parse(&bytes[..15]), Ok(Status::Partial));
        }
    }

    #[test]
    fn proxy_v2_bad_version_command_family() {
        let bytes = v2(0x11, 0x11, &V4_BLOCK);
        assert_eq!(parse(&bytes[..12]), Ok(Status::Partial));
        assert_eq!(parse(&bytes[..13]), Err(ProxyError::V2Version(1)));
        assert_eq!(
            parse(&v2(0x22, 0x11, &V4_BLOCK)[..13]),
            Err(ProxyError::V2Command(2))
        );
        assert_eq!(
            parse(&v2(0x2F, 0x11, &V4_BLOCK)[..13]),
            Err(ProxyError::V2Command(15))
        );
        for family in [0x13, 0x41, 0x03, 0xF0] {
            let bytes = v2(0x21, family, &V4_BLOCK);
            assert_eq!(parse(&bytes[..13]), Ok(Status::Partial));
            assert_eq!(parse(&bytes[..14]), Err(ProxyError::V2Family(family)));
        }
    }

    #[test]
    fn proxy_v2_length_cap() {
        let max = DEFAULT_MAX_V2_LEN;
        let at_cap = v2(0x21, 0x11, &vec![0; max - 16]);
        assert_eq!(parse(&at_cap[..max - 1]), Ok(Status::Partial));
        let zeros = header("0.0.0.0:0", "0.0.0.0:0");
        assert_eq!(parse(&at_cap), Ok(Status::Complete(zeros, max)));
        let too_long = Err(ProxyError::V2TooLong { max });
        let over = v2(0x21, 0x11, &vec![0; max - 15]);
        assert_eq!(parse(&over[..16]), too_long); // known from the length, not the bytes
                                                  // The high byte of the length alone can tell: 0x10 means at least 4096 + 16.
        assert_eq!(
            parse(&[&SIGNATURE[..], &[0x21, 0x11, 0x0F]].concat()),
            Ok(Status::Partial)
        );
        assert_eq!(
            parse(&[&SIGNATURE[..], &[0x21, 0x11, 0x10]].concat()),
            too_long
        );
        // A lower cap, and a family whose addresses alone pass it.
        let with_tlv = v2(0x21, 0x11, &[&V4_BLOCK[..], b"\x04\x00\x00"].concat());
        let want = header("192.168.0.1:56324", "192.168.0.11:443");
        assert_eq!(
            parse_with_limit(&with_tlv, 31),
            Ok(Status::Complete(want, 31))
        );
        let short = Err(ProxyError::V2TooLong { max: 30 });
        assert_eq!(parse_with_limit(&with_tlv, 30), short);
        let unix = v2(0x21, 0x31, &[0; 216]);
        let max = 100;
        assert_eq!(parse_with_limit(&unix[..13], max), Ok(Status::Partial));
        assert_eq!(
            parse_with_limit(&unix[..14], max),
            Err(ProxyError::V2TooLong { max })
        );
        // Below the fixed part nothing fits: refused as soon as it is v2.
        assert_eq!(
            parse_with_limit(b"\r", 15),
            Err(ProxyError::V2TooLong { max: 15 })
        );
        assert_eq!(
            parse_with_limit(b"PROXY UNKNOWN\r\n", 15),
            Ok(Status::Complete(ProxyHeader::default(), 15))
        );
    }
}
