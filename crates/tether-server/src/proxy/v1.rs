//! Version 1 of the PROXY header: one US-ASCII line, `PROXY TCP4|TCP6|UNKNOWN ...\r\n`, at most 107 bytes (spec §2.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::header::{ProxyError, ProxyHeader, Status};

/// How a v1 header starts.
pub(super) const PREFIX: &[u8] = b"PROXY ";

/// The longest line, CRLF included: `UNKNOWN` with two full IPv6 addresses and ports (§2.1).
const MAX_LEN: usize = 107;

/// Parses the v1 line at the start of `buf`, which begins with (a prefix of) [`PREFIX`].
pub(super) fn parse(buf: &[u8]) -> Result<Status, ProxyError> {
    let window = buf.get(..MAX_LEN).unwrap_or(buf);
    let Some(end) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        check_prefix(window)?;
        return Ok(Status::Partial);
    };
    let line = window.get(..end).unwrap_or_default();
    // A bare LF, or a CR without its LF, must not end the line (§2.1).
    match (window.get(end), window.get(end + 1)) {
        (Some(b'\r'), _) if end + 2 > MAX_LEN => Err(ProxyError::V1TooLong),
        (Some(b'\r'), Some(b'\n')) => Ok(Status::Complete(parse_line(line)?, end + 2)),
        (Some(b'\r'), None) => parse_line(line).map(|_| Status::Partial),
        _ => Err(ProxyError::V1LineEnd),
    }
}

/// The address family a protocol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// What a field after `TCP4` or `TCP6` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Addr(Family),
    Port,
}

impl Field {
    /// The fields after the protocol, in order.
    fn all(family: Family) -> [Field; 4] {
        [
            Field::Addr(family),
            Field::Addr(family),
            Field::Port,
            Field::Port,
        ]
    }

    fn error(self) -> ProxyError {
        match self {
            Field::Addr(_) => ProxyError::V1Address,
            Field::Port => ProxyError::V1Port,
        }
    }

    /// Suffixes that finish a valid start of this field, shortest first. Between them they
    /// finish every start that can be finished at all (checked against a brute-force search in
    /// the tests), so the first that works gives the fewest bytes still to come.
    fn endings(self) -> &'static [&'static [u8]] {
        match self {
            Field::Port => &[b"", b"0"],
            Field::Addr(Family::V4) => &[
                b"", b"0", b".0", b"0.0", b".0.0", b"0.0.0", b".0.0.0", b"0.0.0.0",
            ],
            Field::Addr(Family::V6) => &[
                b"", b"0", b":", b"::", b".0", b"0.0", b".0.0", b"0.0.0", b".0.0.0",
            ],
        }
    }

    /// How many bytes, at least, make `start` a whole field; an error if none can.
    fn bytes_to_finish(self, start: &[u8]) -> Result<usize, ProxyError> {
        let mut field = Vec::with_capacity(start.len() + 8);
        for ending in self.endings() {
            field.clear();
            field.extend_from_slice(start);
            field.extend_from_slice(ending);
            if self.is_valid(&field) {
                return Ok(ending.len());
            }
        }
        Err(self.error())
    }

    fn is_valid(self, field: &[u8]) -> bool {
        match self {
            Field::Addr(family) => ip(family, field).is_some(),
            Field::Port => port(field).is_some(),
        }
    }
}

/// An address of `family`, in the forms the standard library reads (for IPv6 that includes
/// `::ffff:1.2.3.4`, which HAProxy writes when the two sides' families differ); IPv4 parts
/// have no leading zeros, as §2.1 asks.
fn ip(family: Family, field: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(field).ok()?;
    match family {
        Family::V4 => text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        Family::V6 => text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
    }
}

/// A decimal port without leading zeros (`u16::from_str` would take `+1` and `01`).
fn port(field: &[u8]) -> Option<u16> {
    let digits = field.len() <= 5 && field.iter().all(u8::is_ascii_digit);
    if !digits || field.is_empty() || (field.len() > 1 && field.first() == Some(&b'0')) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// The protocol named after `PROXY `, or an error.
fn family(protocol: &[u8]) -> Result<Option<Family>, ProxyError> {
    match protocol {
        b"TCP4" => Ok(Some(Family::V4)),
        b"TCP6" => Ok(Some(Family::V6)),
        b"UNKNOWN" => Ok(None),
        _ => Err(ProxyError::V1Protocol),
    }
}

/// A whole line, without its CRLF.
fn parse_line(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let mut fields = line
        .get(PREFIX.len()..)
        .unwrap_or_default()
        .split(|&b| b == b' ');
    // UNKNOWN: whatever follows is to be ignored (§2.1).
    let Some(family) = family(fields.next().unwrap_or_default())? else {
        return Ok(ProxyHeader::default());
    };
    let mut next = || {
        fields
            .next()
            .filter(|f| !f.is_empty())
            .ok_or(ProxyError::V1Fields)
    };
    let src = ip(family, next()?).ok_or(ProxyError::V1Address)?;
    let dst = ip(family, next()?).ok_or(ProxyError::V1Address)?;
    let src_port = port(next()?).ok_or(ProxyError::V1Port)?;
    let dst_port = port(next()?).ok_or(ProxyError::V1Port)?;
    if fields.next().is_some() {
        return Err(ProxyError::V1Fields);
    }
    Ok(ProxyHeader {
        source: Some(SocketAddr::new(src, src_port)),
        destination: Some(SocketAddr::new(dst, dst_port)),
    })
}

/// Checks that `start`, a line cut before any CR or LF, can still become a valid line of at
/// most [`MAX_LEN`] bytes, so that `Partial` is never the answer to bytes that cannot.
fn check_prefix(start: &[u8]) -> Result<(), ProxyError> {
    let rest = start.get(PREFIX.len()..).unwrap_or_default();
    let Some(space) = rest.iter().position(|&b| b == b' ') else {
        let names: [&[u8]; 3] = [b"TCP4", b"TCP6", b"UNKNOWN"];
        if names.iter().any(|name| name.starts_with(rest)) {
            return Ok(());
        }
        return Err(ProxyError::V1Protocol);
    };
    let Some(family) = family(rest.get(..space).unwrap_or_default())? else {
        return fits(start, 0); // UNKNOWN: only the CRLF is missing
    };
    let mut fields = rest
        .get(space + 1..)
        .unwrap_or_default()
        .split(|&b| b == b' ');
    let mut expected = Field::all(family).into_iter();
    let mut text = fields.next().unwrap_or_default();
    for after in fields {
        // A space follows `text`: it is whole.
        let field = expected.next().ok_or(ProxyError::V1Fields)?;
        if text.is_empty() {
            return Err(ProxyError::V1Fields);
        }
        if !field.is_valid(text) {
            return Err(field.error());
        }
        text = after;
    }
    // The last field, perhaps cut short, then the shortest fields that may follow it.
    let field = expected.next().ok_or(ProxyError::V1Fields)?;
    let mut more = field.bytes_to_finish(text)?;
    for later in expected {
        more += 1 + later.bytes_to_finish(b"")?;
    }
    fits(start, more)
}

/// Whether `start` and `more` bytes, then CRLF, fit in [`MAX_LEN`].
fn fits(start: &[u8], more: usize) -> Result<(), ProxyError> {
    if start.len() + more + 2 > MAX_LEN {
        return Err(ProxyError::V1TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::header::tests::assert_cuts;
    use super::super::header::{parse, ProxyError, ProxyHeader, Status};
    use super::*;

    fn header(src: &str, dst: &str) -> ProxyHeader {
        ProxyHeader {
            source: Some(src.parse().unwrap()),
            destination: Some(dst.parse().unwrap()),
        }
    }

    fn err(bytes: &[u8]) -> ProxyError {
        parse(bytes).unwrap_err()
    }

    #[test]
    fn proxy_v1_spec_example_leaves_the_request_unconsumed() {
        let bytes = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
        let want = header("192.168.0.1:56324", "192.168.0.11:443");
        assert_cuts(bytes, want, 47);
        assert_eq!(&bytes[47..51], b"GET ");
    }

    #[test]
    fn proxy_v1_spec_longest_lines() {
        let v4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        assert_eq!(v4.len(), 56);
        assert_cuts(
            v4,
            header("255.255.255.255:65535", "255.255.255.255:65535"),
            56,
        );
        let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let v6 = format!("PROXY TCP6 {f} {f} 65535 65535\r\n");
        assert_eq!(v6.len(), 104);
        let full = format!("[{f}]:65535");
        assert_cuts(v6.as_bytes(), header(&full, &full), 104);
        let unknown = format!("PROXY UNKNOWN {f} {f} 65535 65535\r\n");
        assert_eq!(unknown.len(), 107);
        assert_cuts(unknown.as_bytes(), ProxyHeader::default(), 107);
    }

    #[test]
    fn proxy_v1_tcp6() {
        let bytes = b"PROXY TCP6 2001:db8::1 ::1 4711 0\r\n";
        assert_cuts(bytes, header("[2001:db8::1]:4711", "[::1]:0"), bytes.len());
        // HAProxy's line when the client's and the server's families differ.
        let bytes = b"PROXY TCP6 ::ffff:192.0.2.1 2001:DB8::2 1 2\r\n";
        let want = header("[::ffff:192.0.2.1]:1", "[2001:db8::2]:2");
        assert_cuts(bytes, want, bytes.len());
    }

    #[test]
    fn proxy_v1_unknown_ignores_the_rest_of_its_line() {
        assert_cuts(b"PROXY UNKNOWN\r\n", ProxyHeader::default(), 15);
        let bytes = b"PROXY UNKNOWN 1.2.3.4 whatever, really\r\nGET";
        assert_cuts(bytes, ProxyHeader::default(), bytes.len() - 3);
        assert_eq!(err(b"PROXY UNKNOWNX\r\n"), ProxyError::V1Protocol);
        assert_eq!(err(b"PROXY UNKNOWN junk\n"), ProxyError::V1LineEnd);
        assert_eq!(err(b"PROXY UNKNOWN a\rb\r\n"), ProxyError::V1LineEnd);
    }

    #[test]
    fn proxy_v1_too_long() {
        let line = |n: usize| {
            let mut l = b"PROXY UNKNOWN ".to_vec();
            l.resize(n - 2, b'x');
            l.extend(b"\r\n");
            l
        };
        assert_cuts(&line(107), ProxyHeader::default(), 107);
        let long = line(108);
        assert_eq!(parse(&long[..105]), Ok(Status::Partial));
        assert_eq!(parse(&long[..106]), Err(ProxyError::V1TooLong)); // the CR can no longer fit
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
        let mut cr_at_107 = long.clone();
        cr_at_107[105] = b'x';
        assert_eq!(parse(&cr_at_107[..107]), Err(ProxyError::V1TooLong));
        assert_eq!(err(&[b'P'; 200]), ProxyError::NotProxy);
    }

    #[test]
    fn proxy_v1_errors_come_as_soon_as_the_line_cannot_be_valid() {
        for (start, want) in [
            (&b"PROXY TCP5"[..], ProxyError::V1Protocol),
            (b"PROXY t", ProxyError::V1Protocol),
            (b"PROXY  ", ProxyError::V1Protocol),
            (b"PROXY TCP4  ", ProxyError::V1Fields),
            (b"PROXY TCP4 256", ProxyError::V1Address),
            (b"PROXY TCP4 01", ProxyError::V1Address),
            (b"PROXY TCP4 1.2.3.4.", ProxyError::V1Address),
            (b"PROXY TCP4 :", ProxyError::V1Address),
            (b"PROXY TCP4 1.2.3 ", ProxyError::V1Address),
            (b"PROXY TCP6 1.", ProxyError::V1Address), // dotted only at the end
            (b"PROXY TCP6 1::2::", ProxyError::V1Address),
            (b"PROXY TCP6 12345", ProxyError::V1Address),
            (b"PROXY TCP6 1:2:3:4:5:6:7:8:", ProxyError::V1Address),
            (b"PROXY TCP6 fe80::1%", ProxyError::V1Address),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 01", ProxyError::V1Port),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536", ProxyError::V1Port),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 +", ProxyError::V1Port),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 -", ProxyError::V1Port),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1a", ProxyError::V1Port),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", ProxyError::V1Fields),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1  ", ProxyError::V1Fields),
        ] {
            assert_eq!(parse(start), Err(want), "{}", start.escape_ascii());
            // One byte less was still a valid start.
            let shorter = &start[..start.len() - 1];
            assert_eq!(
                parse(shorter),
                Ok(Status::Partial),
                "{}",
                shorter.escape_ascii()
            );
        }
    }

    #[test]
    fn proxy_v1_whole_lines_with_bad_fields() {
        for (line, want) in [
            (
                &b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"[..],
                ProxyError::V1Fields,
            ),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", ProxyError::V1Fields),
            (b"PROXY TCP4 1.2.3.4\r\n", ProxyError::V1Fields),
            (b"PROXY TCP4\r\n", ProxyError::V1Fields),
            (b"PROXY \r\n", ProxyError::V1Protocol),
            (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", ProxyError::V1Address),
            (b"PROXY TCP6 :: ::1 1 65536\r\n", ProxyError::V1Port),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ProxyError::V1LineEnd),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
                ProxyError::V1LineEnd,
            ),
        ] {
            assert_eq!(parse(line), Err(want), "{}", line.escape_ascii());
        }
        // A lone CR at the end is a valid start only after a whole line.
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"),
            Ok(Status::Partial)
        );
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4\r"), Err(ProxyError::V1Fields));
    }

    #[test]
    fn proxy_v1_ipv6_fields_that_cannot_fit_are_refused_early() {
        // Embedded IPv4 makes an IPv6 address up to 45 bytes: two of them and two 5-digit
        // ports pass 107 bytes.
        let long = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
        let start = format!("PROXY TCP6 {long} {}", &long[..44]);
        assert_eq!(start.len(), 101);
        assert_eq!(parse(start.as_bytes()), Ok(Status::Partial)); // " 0 0\r\n" still fits
        let start = format!("{start}5");
        assert_eq!(parse(start.as_bytes()), Err(ProxyError::V1TooLong));
    }

    /// Every string of `alphabet` up to `len` long, shortest first.
    fn strings(alphabet: &[u8], len: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |&c| {
                        let mut s = s.clone();
                        s.push(c);
                        s
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    /// `bytes_to_finish` against a brute-force search for the shortest completion, for every
    /// short start: the endings it tries are enough, so `Partial` is exact.
    #[test]
    fn proxy_v1_field_completion_is_exact() {
        for (field, starts, completions) in [
            (
                Field::Addr(Family::V4),
                strings(b"0125.", 5),
                strings(b"0.", 7),
            ),
            (
                Field::Addr(Family::V6),
                strings(b"01f:.", 5),
                strings(b"0:.", 6),
            ),
            (Field::Port, strings(b"0169", 6), strings(b"0", 1)),
        ] {
            for start in &starts {
                let brute = completions.iter().find(|c| {
                    let whole = [&start[..], c].concat();
                    field.is_valid(&whole)
                });
                assert_eq!(
                    field.bytes_to_finish(start).ok(),
                    brute.map(Vec::len),
                    "{field:?} {}",
                    start.escape_ascii()
                );
            }
        }
    }
}
