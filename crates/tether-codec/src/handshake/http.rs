//! HTTP/1.1 head syntax shared by requests and responses (RFC 9112 §2–§5, as RFC 6455 §4.1 requires).

use crate::status::Status;

/// One header line, borrowed from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'b> {
    /// The name, as sent (compare case-insensitively).
    pub name: &'b str,
    /// The value with surrounding whitespace removed (may hold obs-text bytes).
    pub value: &'b [u8],
}

impl<'b> Header<'b> {
    /// The value as text, if it is ASCII/UTF-8.
    pub fn value_str(&self) -> Option<&'b str> {
        std::str::from_utf8(self.value).ok()
    }
}

/// Why a head failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    Malformed(&'static str),
    TooLarge,
    TooManyHeaders,
}

/// Finds the end of the head: returns its length including the blank line, or `Partial`.
pub(crate) fn head_len(buf: &[u8], max_head: usize) -> Result<Status<usize>, HeadError> {
    let window = &buf[..buf.len().min(max_head)];
    match window.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => Ok(Status::Complete(i + 4)),
        None if buf.len() >= max_head => Err(HeadError::TooLarge),
        None => Ok(Status::Partial),
    }
}

pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Whether `b` may appear in a header value (field-vchar, SP, HTAB, obs-text).
pub(crate) fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (0x20..0x7F).contains(&b) || b >= 0x80
}

/// Parses `HTTP/x.y` into (major, minor).
pub(crate) fn parse_version(v: &[u8]) -> Option<(u8, u8)> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', maj, b'.', min]
            if maj.is_ascii_digit() && min.is_ascii_digit() =>
        {
            Some((maj - b'0', min - b'0'))
        }
        _ => None,
    }
}

/// Splits the head (without its final blank line) into the start line and parsed headers.
pub(crate) fn parse_head(
    head: &[u8],
    max_headers: usize,
) -> Result<(&[u8], Vec<Header<'_>>), HeadError> {
    // `head` ends with "\r\n\r\n"; drop the blank line.
    let body = head
        .strip_suffix(b"\r\n\r\n")
        .ok_or(HeadError::Malformed("unterminated head"))?;
    if body.contains(&b'\n')
        && body
            .windows(2)
            .filter(|w| w[1] == b'\n')
            .any(|w| w[0] != b'\r')
    {
        return Err(HeadError::Malformed("bare LF in head"));
    }
    let mut lines = CrlfLines(body);
    let start = lines.next().unwrap_or_default();
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == max_headers {
            return Err(HeadError::TooManyHeaders);
        }
        headers.push(parse_header(line)?);
    }
    Ok((start, headers))
}

/// Lines separated by CRLF (bare LF was refused before).
struct CrlfLines<'b>(&'b [u8]);

impl<'b> Iterator for CrlfLines<'b> {
    type Item = &'b [u8];
    fn next(&mut self) -> Option<&'b [u8]> {
        if self.0.is_empty() {
            return None;
        }
        match self.0.windows(2).position(|w| w == b"\r\n") {
            Some(i) => {
                let line = &self.0[..i];
                self.0 = &self.0[i + 2..];
                Some(line)
            }
            None => Some(std::mem::take(&mut self.0)),
        }
    }
}

fn parse_header(line: &[u8]) -> Result<Header<'_>, HeadError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::Malformed("header line without colon"))?;
    let (name, rest) = line.split_at(colon);
    if !is_token(name) {
        // Also catches obs-fold (a line starting with whitespace) and "Name : value".
        return Err(HeadError::Malformed("invalid header name"));
    }
    let value = trim_ows(&rest[1..]);
    if !value.iter().all(|&b| is_value_byte(b)) {
        return Err(HeadError::Malformed("invalid byte in header value"));
    }
    let name =
        std::str::from_utf8(name).map_err(|_| HeadError::Malformed("invalid header name"))?;
    Ok(Header { name, value })
}

pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The first header named `name` (case-insensitive).
pub(crate) fn find<'h, 'b>(headers: &'h [Header<'b>], name: &str) -> Option<&'h Header<'b>> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name))
}

/// All values of headers named `name`.
pub(crate) fn find_all<'h, 'b: 'h>(
    headers: &'h [Header<'b>],
    name: &'h str,
) -> impl Iterator<Item = &'b [u8]> + 'h {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Checks a header name and value given by the caller, so no CR/LF can be injected.
pub(crate) fn check_caller_header(name: &str, value: &str) -> bool {
    is_token(name.as_bytes()) && value.bytes().all(is_value_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_and_limits() {
        assert_eq!(head_len(b"GET / HTTP/1.1\r\n", 100), Ok(Status::Partial));
        assert_eq!(
            head_len(b"GET / HTTP/1.1\r\n\r\nxx", 100),
            Ok(Status::Complete(18))
        );
        assert_eq!(head_len(&[b'a'; 100], 100), Err(HeadError::TooLarge));
        assert_eq!(
            head_len(b"GET / HTTP/1.1\r\n\r\n", 10),
            Err(HeadError::TooLarge)
        );
    }

    #[test]
    fn header_lines() {
        let (start, hs) = parse_head(b"X\r\nA: 1\r\nB:\t two words \r\nC:\r\n\r\n", 10).unwrap();
        assert_eq!(start, b"X");
        assert_eq!(hs.len(), 3);
        assert_eq!(hs[1].value, b"two words");
        assert_eq!(hs[2].value, b"");
        assert!(parse_head(b"X\r\n folded\r\n\r\n", 10).is_err());
        assert!(parse_head(b"X\r\nA : b\r\n\r\n", 10).is_err());
        assert!(parse_head(b"X\r\nA: b\nC: d\r\n\r\n", 10).is_err());
        assert!(parse_head(b"X\r\nA: b\x00\r\n\r\n", 10).is_err());
        assert_eq!(
            parse_head(b"X\r\nA: 1\r\nB: 2\r\n\r\n", 1),
            Err(HeadError::TooManyHeaders)
        );
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version(b"HTTP/1.1"), Some((1, 1)));
        assert_eq!(parse_version(b"HTTP/1"), None);
        assert_eq!(parse_version(b"http/1.1"), None);
    }
}
