//! Comma-separated header lists (RFC 9110 §5.6.1) as used by `Upgrade`, `Connection`, `Sec-WebSocket-Protocol` and `-Extensions` (RFC 6455 §4.1, §9.1, §11.3.4).

/// The non-empty, trimmed elements of a comma-separated header value.
///
/// Values that are not UTF-8 yield nothing.
pub fn list_tokens(value: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(value)
        .unwrap_or("")
        .split(',')
        .map(|t| t.trim_matches([' ', '\t']))
        .filter(|t| !t.is_empty())
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
}
