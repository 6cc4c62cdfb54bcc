//! HTTP status codes (RFC 9110 §15): their registered reason phrases, and which responses carry content (RFC 9110 §6.4.1).

/// The reason phrase registered for `status` (RFC 9110 §15 and the IANA HTTP Status Code
/// Registry), or `None` for a code with no name (unassigned, or 306 and 418, which RFC 9110
/// lists as unused).
///
/// ```
/// use tether_codec::handshake::reason_phrase;
/// assert_eq!(reason_phrase(101), Some("Switching Protocols"));
/// assert_eq!(reason_phrase(505), Some("HTTP Version Not Supported"));
/// assert_eq!(reason_phrase(499), None);
/// ```
#[must_use]
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

/// Whether a response with `status` may carry content: not a 1xx, 204 or 304
/// (RFC 9110 §6.4.1, §15.3.5, §15.4.5).
///
/// ```
/// use tether_codec::handshake::status_has_body;
/// assert!(status_has_body(404));
/// assert!(!status_has_body(101) && !status_has_body(204) && !status_has_body(304));
/// ```
#[must_use]
pub fn status_has_body(status: u16) -> bool {
    !matches!(status, 100..=199 | 204 | 304)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_names() {
        assert_eq!(reason_phrase(200), Some("OK"));
        assert_eq!(reason_phrase(413), Some("Content Too Large"));
        assert_eq!(reason_phrase(431), Some("Request Header Fields Too Large"));
        assert_eq!(reason_phrase(503), Some("Service Unavailable"));
        for unnamed in [0, 99, 199, 306, 418, 499, 600, u16::MAX] {
            assert_eq!(reason_phrase(unnamed), None, "{unnamed}");
        }
        let named = (100..=599).filter(|&s| reason_phrase(s).is_some()).count();
        assert_eq!(named, 61);
    }

    #[test]
    fn bodiless_statuses() {
        for s in [100, 101, 103, 199, 204, 304] {
            assert!(!status_has_body(s), "{s}");
        }
        for s in [200, 205, 301, 400, 426, 500, 505] {
            assert!(status_has_body(s), "{s}");
        }
    }
}
