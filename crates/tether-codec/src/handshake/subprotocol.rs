//! Comma-separated header lists (RFC 9110 §5.6.1, quoted-strings §5.6.4) as used by `Upgrade`, `Connection`, `Sec-WebSocket-Protocol` and `-Extensions` (RFC 6455 §4.1, §9.1, §11.3.4).

/// The non-empty, trimmed elements of a comma-separated header value.
///
/// A comma inside a quoted-string (`"…"`, where `\` escapes the next character, RFC 9110
/// §5.6.4) does not end an element, so `foo; bar="a,b", baz` is two elements. Values that
/// are not UTF-8 yield nothing.
pub fn list_tokens(value: &[u8]) -> impl Iterator<Item = &str> {
    split_unquoted(std::str::from_utf8(value).unwrap_or(""), b',')
        .map(|t| t.trim_matches([' ', '\t']))
        .filter(|t| !t.is_empty())
}

/// The parts of `s` split at `sep` outside quoted-strings (untrimmed): a list's elements at
/// `,`, an extension's parameters at `;` (RFC 6455 §9.1).
pub(crate) fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    ListElements(s, sep)
}

/// The parts of a string, split at a separator outside quoted-strings (untrimmed).
struct ListElements<'a>(&'a str, u8);

impl<'a> Iterator for ListElements<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.0.is_empty() {
            return None;
        }
        let (mut quoted, mut escaped) = (false, false);
        let end = self.0.bytes().position(|b| {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == self.1 && !quoted => return true,
                _ => {}
            }
            false
        });
        let (element, rest) = match end {
            Some(i) => (&self.0[..i], &self.0[i + 1..]),
            None => (self.0, ""),
        };
        self.0 = rest;
        Some(element)
    }
}

/// Whether a comma-separated value holds `token` (ASCII case-insensitive), e.g.
/// `Connection: keep-alive, Upgrade` holds `upgrade`.
pub fn token_list_contains<'a>(values: impl IntoIterator<Item = &'a [u8]>, token: &str) -> bool {
    values
        .into_iter()
        .flat_map(list_tokens)
        .any(|t| t.eq_ignore_ascii_case(token))
}

/// The name of an extension offer: what precedes its first `;`.
pub(crate) fn extension_name(offer: &str) -> &str {
    offer.split(';').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(
            list_tokens(b" a, b ,,\tc ").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(token_list_contains(
            [&b"keep-alive, Upgrade"[..]],
            "upgrade"
        ));
        assert!(!token_list_contains(
            [&b"keep-alive, upgrades"[..]],
            "upgrade"
        ));
        assert!(token_list_contains(
            [&b"x"[..], &b"WebSocket"[..]],
            "websocket"
        ));
        assert_eq!(
            extension_name("permessage-deflate; a=1"),
            "permessage-deflate"
        );
    }

    #[test]
    fn commas_inside_quoted_strings_do_not_split() {
        assert_eq!(
            list_tokens(br#"foo; bar="a,b", baz"#).collect::<Vec<_>>(),
            [r#"foo; bar="a,b""#, "baz"]
        );
        // A backslash escapes the next character, a quote included (RFC 9110 §5.6.4).
        assert_eq!(
            list_tokens(br#"x; q="a\",b", y; r="\\", z"#).collect::<Vec<_>>(),
            [r#"x; q="a\",b""#, r#"y; r="\\""#, "z"]
        );
        // An unterminated quote runs to the end of the value.
        assert_eq!(
            list_tokens(br#"a; b="c, d"#).collect::<Vec<_>>(),
            [r#"a; b="c, d"#]
        );
        assert!(!token_list_contains(
            [&br#"x; p="a, upgrade""#[..]],
            "upgrade"
        ));
        assert!(token_list_contains(
            [&br#"x; p="a, b", upgrade"#[..]],
            "upgrade"
        ));
        // The same rule splits an extension's parameters at `;`.
        assert_eq!(
            split_unquoted(r#"x; p="a;b"; q"#, b';').collect::<Vec<_>>(),
            ["x", r#" p="a;b""#, " q"]
        );
    }
}
