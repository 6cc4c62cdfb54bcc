//! permessage-deflate negotiation: the server's answer to offers, the client's offer and its check of the answer (RFC 7692 §5, §7.1).
//!
//! Server: [`accept_offer`] over the request's `Sec-WebSocket-Extensions` values, then
//! [`DeflateParams::response_header_value`] into the 101 response. Client:
//! [`offer_header_value`] into the request, then [`check_response`] over the 101's values.
//! Both ends then drive their streams from the [`DeflateParams`] role helpers.

use crate::connection::Role;
use crate::error::{HandshakeError, UsageError};
use crate::handshake::{is_token, list_tokens, split_unquoted};

/// The extension's registered name (RFC 7692 §7).
const NAME: &str = "permessage-deflate";

/// What this end is willing to use for permessage-deflate, in either role.
///
/// Change fields on `DeflateConfig::default()` and call [`DeflateConfig::validate`]. A value
/// out of range that was not validated is clamped into range when used, never a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Largest LZ77 window (base-2 log, 9..=15) the server compresses with. A server states
    /// it in its response when below 15 (RFC 7692 §7.1.2.1 lets it, offered or not); a client
    /// below 15 asks for it with `server_max_window_bits=N` and fails on a larger answer.
    /// Default 15: the RFC's default, nothing asked of the peer, the best ratio.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (9..=15) the client compresses with. A server states it only when
    /// the offer carries `client_max_window_bits` (§7.1.2.2 forbids it otherwise, and the
    /// server then inflates with 15); a client offers `client_max_window_bits` always, with
    /// this value when below 15, and never compresses with more. Default 15, as above.
    pub client_max_window_bits: u8,
    /// The server resets its compression context after each message. A server adds
    /// `server_no_context_takeover` to its response even when not offered (§7.1.1.1); a
    /// client offers it and fails on a response without it. Default `false`: context
    /// takeover compresses repeated JSON shapes several times better, at the price of the
    /// compressor state held between messages.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message. A server asks for it
    /// with `client_no_context_takeover` in its response even when not offered (§7.1.1.2; it
    /// also echoes it whenever offered, so it can drop its inflate context); a client offers
    /// it and then honours it whatever the answer. Default `false`, as above.
    pub client_no_context_takeover: bool,
    /// Compression level, 0 (stored) ..= 9 (best). Default 6: zlib's own default, which
    /// Node `ws` and Python `websockets` use too; short JSON gains little above it.
    pub level: u32,
    /// zlib memory level, 1..=9: the size of the compressor's hash table and output buffer
    /// (about `2^(mem_level + 9)` bytes). Default 8: zlib's default, the one `flate2`'s
    /// `Compress` uses (lower values need a backend call that sets it).
    pub mem_level: u8,
    /// Messages with fewer payload bytes than this are sent uncompressed (RFC 7692 §6 lets
    /// any message go uncompressed). Default 0, every message compressed: with context
    /// takeover even short messages shrink, and the Autobahn suite expects compression.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            level: 6,
            mem_level: 8,
            threshold: 0,
        }
    }
}

impl DeflateConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), UsageError> {
        if !WINDOWS.contains(&self.server_max_window_bits) {
            return Err(UsageError::Config(
                "deflate server_max_window_bits must be 9..=15",
            ));
        }
        if !WINDOWS.contains(&self.client_max_window_bits) {
            return Err(UsageError::Config(
                "deflate client_max_window_bits must be 9..=15",
            ));
        }
        if self.level > 9 {
            return Err(UsageError::Config("deflate level must be 0..=9"));
        }
        if !(1..=9).contains(&self.mem_level) {
            return Err(UsageError::Config("deflate mem_level must be 1..=9"));
        }
        Ok(())
    }
}

/// The windows zlib can compress with: 8 is valid on the wire but not producible (zlib
/// raises a raw window of 8 to 9), and any window inflates with 9 or more.
const WINDOWS: std::ops::RangeInclusive<u8> = 9..=15;

/// What a connection agreed, every value resolved (15 and `false` where the answer said
/// nothing). Windows are always in 9..=15: an 8 the peer compresses with is inflated with 9.
///
/// Equality compares the four agreed values, so connections that can share one compressed
/// message compare equal.
#[derive(Debug, Clone, Copy, Eq)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, base-2 log.
    pub server_max_window_bits: u8,
    /// The client's LZ77 window, base-2 log.
    pub client_max_window_bits: u8,
    /// The offer carried `server_max_window_bits`, so the response states it even at 15
    /// (RFC 7692 §7.1.2.1: a server accepts it by including it).
    state_server_window: bool,
}

impl Default for DeflateParams {
    /// The RFC's defaults: windows of 15, context takeover on both sides.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            state_server_window: false,
        }
    }
}

impl PartialEq for DeflateParams {
    fn eq(&self, other: &Self) -> bool {
        self.server_no_context_takeover == other.server_no_context_takeover
            && self.client_no_context_takeover == other.client_no_context_takeover
            && self.server_max_window_bits == other.server_max_window_bits
            && self.client_max_window_bits == other.client_max_window_bits
    }
}

impl std::hash::Hash for DeflateParams {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (
            self.server_no_context_takeover,
            self.client_no_context_takeover,
            self.server_max_window_bits,
            self.client_max_window_bits,
        )
            .hash(state);
    }
}

impl DeflateParams {
    /// The server's `Sec-WebSocket-Extensions` value: exactly the parameters it commits to,
    /// e.g. `permessage-deflate; server_no_context_takeover; client_max_window_bits=12`.
    ///
    /// A window of 15 is left out (it is the default) unless the offer named the server's
    /// window; `client_max_window_bits` appears only below 15, which [`accept_offer`] allows
    /// only when the offer carried it (RFC 7692 §7.1.2.2).
    pub fn response_header_value(&self) -> String {
        let server = self.server_max_window_bits;
        let client = self.client_max_window_bits;
        Wire {
            server_nct: self.server_no_context_takeover,
            client_nct: self.client_no_context_takeover,
            server_bits: (server < 15 || self.state_server_window).then_some(server),
            client_bits: (client < 15).then_some(Some(client)),
        }
        .header_value()
    }

    /// The window this end compresses with, in 9..=15.
    pub fn compress_window_bits(&self, role: Role) -> u8 {
        clamp_window(match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        })
    }

    /// The window this end inflates with, in 9..=15 (a peer's 8-bit window inflates with 9).
    pub fn decompress_window_bits(&self, role: Role) -> u8 {
        clamp_window(match role {
            Role::Server => self.client_max_window_bits,
            Role::Client => self.server_max_window_bits,
        })
    }

    /// Whether this end resets its compressor after each message.
    pub fn compress_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// Whether this end resets its decompressor after each message (the peer resets its
    /// compressor, so nothing of the last message is referenced).
    pub fn decompress_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.client_no_context_takeover,
            Role::Client => self.server_no_context_takeover,
        }
    }
}

/// A window zlib accepts: hand-made or unvalidated values never reach it out of range.
fn clamp_window(bits: u8) -> u8 {
    bits.clamp(*WINDOWS.start(), *WINDOWS.end())
}

/// Server: the answer to a request's `Sec-WebSocket-Extensions` values (every header line,
/// in order): the first permessage-deflate offer this end can honour, resolved with
/// `config`, or `None` (answer without the extension).
///
/// Other extensions are ignored. An invalid offer (a parameter unknown, repeated, with a
/// value out of 8..=15 or with leading zeros, a value on a flag, `server_max_window_bits`
/// without one) is declined as RFC 7692 §5 requires, and so is one asking for a server
/// window of 8, which zlib cannot produce; the next offer is then considered.
///
/// # Errors
/// [`HandshakeError::BadExtensions`] (400) when a value does not parse as an extension list
/// (RFC 6455 §9.1: names and parameter names are tokens, values tokens or quoted-strings):
/// no offer in it can be trusted to mean what it seems, and Node `ws` and Python
/// `websockets` answer it with 400 too.
///
/// ```
/// use tether_codec::deflate::{accept_offer, check_response, offer_header_value, DeflateConfig};
/// use tether_codec::Role;
///
/// let server = DeflateConfig::default();
/// // Two offers (RFC 7692 §7.1.3): the first can be honoured.
/// let offers = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, \
///               permessage-deflate; client_max_window_bits";
/// let params = accept_offer([offers.as_bytes()], &server)?.expect("accepted");
/// let answer = params.response_header_value(); // into the 101's Sec-WebSocket-Extensions
/// assert_eq!(answer, "permessage-deflate; server_max_window_bits=10");
/// assert_eq!(params.compress_window_bits(Role::Server), 10);
///
/// // The client's side of the same conversation.
/// let client = DeflateConfig::default();
/// assert_eq!(offer_header_value(&client), "permessage-deflate; client_max_window_bits");
/// let agreed = check_response([answer.as_bytes()], &client)?.expect("accepted");
/// assert_eq!(agreed.decompress_window_bits(Role::Client), 10);
/// # Ok::<(), tether_codec::HandshakeError>(())
/// ```
pub fn accept_offer<'a>(
    extension_header_values: impl IntoIterator<Item = &'a [u8]>,
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let list = parse_list(extension_header_values).map_err(HandshakeError::BadExtensions)?;
    Ok(list
        .iter()
        .filter(|e| e.name.eq_ignore_ascii_case(NAME))
        .filter_map(|e| Wire::parse(&e.params, Side::Offer).ok())
        .find_map(|offer| answer_offer(&offer, config)))
}

/// The parameters that answer a valid offer, or `None` if this end cannot honour it.
fn answer_offer(offer: &Wire, config: &DeflateConfig) -> Option<DeflateParams> {
    // RFC 7692 §7.1.2.1: answered with the same or a smaller value; stated even unasked.
    let server_max_window_bits = match offer.server_bits {
        Some(bits) if bits < *WINDOWS.start() => return None,
        Some(bits) => bits.min(clamp_window(config.server_max_window_bits)),
        None => clamp_window(config.server_max_window_bits),
    };
    // §7.1.2.2: stated only when offered; a hint is used, but never below 9 (a client asked
    // for 8 may compress with 9, as zlib before 1.2.9 silently did).
    let client_max_window_bits = match offer.client_bits {
        None => 15,
        Some(hint) => clamp_window(
            hint.unwrap_or(15)
                .min(clamp_window(config.client_max_window_bits)),
        ),
    };
    Some(DeflateParams {
        // §7.1.1.1: an offered flag must be in the acceptance; it may be added unasked.
        server_no_context_takeover: offer.server_nct || config.server_no_context_takeover,
        // §7.1.1.2: an offered flag is used (our inflater then keeps no context); the
        // server may also ask for it unasked.
        client_no_context_takeover: offer.client_nct || config.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
        state_server_window: offer.server_bits.is_some(),
    })
}

/// Client: the `Sec-WebSocket-Extensions` value to offer, e.g.
/// `permessage-deflate; client_no_context_takeover; client_max_window_bits`.
///
/// `client_max_window_bits` is always offered (without a value at 15, as a hint below it),
/// so a server may bound the client's window; `server_max_window_bits=N` when the config
/// asks for less than 15; each no-context-takeover flag when the config sets it.
pub fn offer_header_value(config: &DeflateConfig) -> String {
    client_offer(config).header_value()
}

/// What [`offer_header_value`] offers, and [`check_response`] holds the answer to.
fn client_offer(config: &DeflateConfig) -> Wire {
    let server = clamp_window(config.server_max_window_bits);
    let client = clamp_window(config.client_max_window_bits);
    Wire {
        server_nct: config.server_no_context_takeover,
        client_nct: config.client_no_context_takeover,
        server_bits: (server < 15).then_some(server),
        client_bits: Some((client < 15).then_some(client)),
    }
}

/// Client: checks the response's `Sec-WebSocket-Extensions` values against the offer
/// [`offer_header_value`] made from the same `config`: `Ok(None)` when the server did not
/// accept it, the agreed parameters when it did.
///
/// The client's own limits hold whatever the answer: it never compresses with a window
/// above its config's, and resets its context when its config says so.
///
/// # Errors
/// The client must fail the connection (RFC 7692 §5) on
/// [`HandshakeError::UnofferedExtension`], an extension other than permessage-deflate
/// (this is the only extension the offer named), and on
/// [`HandshakeError::BadExtensionResponse`]: a value that does not parse, permessage-deflate
/// accepted twice, a parameter unknown or repeated, a value out of 8..=15 or on a flag,
/// `client_max_window_bits` without a value, unoffered or of 8 (zlib cannot compress with
/// it), a server window larger than asked or missing when asked, or
/// `server_no_context_takeover` missing when asked. `server_no_context_takeover` and
/// `client_no_context_takeover` are otherwise always acceptable.
pub fn check_response<'a>(
    extension_header_values: impl IntoIterator<Item = &'a [u8]>,
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let bad = HandshakeError::BadExtensionResponse;
    let list = parse_list(extension_header_values).map_err(bad)?;
    let offer = client_offer(config);
    let mut agreed = None;
    for extension in &list {
        if !extension.name.eq_ignore_ascii_case(NAME) {
            return Err(HandshakeError::UnofferedExtension);
        }
        if agreed.is_some() {
            return Err(bad("permessage-deflate accepted twice"));
        }
        let response = Wire::parse(&extension.params, Side::Response).map_err(bad)?;
        agreed = Some(resolve_response(&offer, &response, config).map_err(bad)?);
    }
    Ok(agreed)
}

/// The parameters a valid response agrees to, given the offer, or why the client cannot
/// accept it.
fn resolve_response(
    offer: &Wire,
    response: &Wire,
    config: &DeflateConfig,
) -> Result<DeflateParams, &'static str> {
    if offer.server_nct && !response.server_nct {
        return Err("server_no_context_takeover asked for and not granted");
    }
    let server_max_window_bits = match (offer.server_bits, response.server_bits) {
        (Some(asked), Some(bits)) if bits > asked => {
            return Err("server_max_window_bits larger than asked")
        }
        (Some(_), None) => return Err("server_max_window_bits asked for and not granted"),
        // An 8-bit window inflates with 9.
        (_, bits) => clamp_window(bits.unwrap_or(15)),
    };
    let client_max_window_bits = match (offer.client_bits, response.client_bits) {
        (None, Some(_)) => return Err("client_max_window_bits was not offered"),
        (_, Some(Some(bits))) if bits < *WINDOWS.start() => {
            return Err("client_max_window_bits=8: zlib cannot compress with it")
        }
        (_, bits) => bits
            .flatten()
            .unwrap_or(15)
            .min(clamp_window(config.client_max_window_bits)),
    };
    Ok(DeflateParams {
        server_no_context_takeover: response.server_nct,
        client_no_context_takeover: response.client_nct || config.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
        state_server_window: false,
    })
}

/// The four parameters as they stand on the wire: in an offer or a response.
#[derive(Debug, Default, Clone, Copy)]
struct Wire {
    server_nct: bool,
    client_nct: bool,
    server_bits: Option<u8>,
    /// `Some(None)`: named without a value (an offer only).
    client_bits: Option<Option<u8>>,
}

/// Which element is parsed: `client_max_window_bits` needs a value only in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Response,
}

impl Wire {
    /// The permessage-deflate parameters, or why they are invalid (RFC 7692 §5, §7.1).
    fn parse(params: &[Param<'_>], side: Side) -> Result<Wire, &'static str> {
        let mut wire = Wire::default();
        for param in params {
            let name = param.name;
            let flag = |set: &mut bool| {
                if param.value.is_some() {
                    Err("a value on a flag parameter")
                } else if std::mem::replace(set, true) {
                    Err("a repeated parameter")
                } else {
                    Ok(())
                }
            };
            if name.eq_ignore_ascii_case("server_no_context_takeover") {
                flag(&mut wire.server_nct)?;
            } else if name.eq_ignore_ascii_case("client_no_context_takeover") {
                flag(&mut wire.client_nct)?;
            } else if name.eq_ignore_ascii_case("server_max_window_bits") {
                let value = param
                    .value
                    .ok_or("server_max_window_bits without a value")?;
                let bits = window_bits(value)?;
                if wire.server_bits.replace(bits).is_some() {
                    return Err("a repeated parameter");
                }
            } else if name.eq_ignore_ascii_case("client_max_window_bits") {
                let bits = match param.value {
                    Some(value) => Some(window_bits(value)?),
                    None if side == Side::Response => {
                        return Err("client_max_window_bits without a value")
                    }
                    None => None,
                };
                if wire.client_bits.replace(bits).is_some() {
                    return Err("a repeated parameter");
                }
            } else {
                return Err("an unknown parameter");
            }
        }
        Ok(wire)
    }

    /// The element in canonical form: name, then the parameters in a fixed order.
    fn header_value(&self) -> String {
        let mut out = String::from(NAME);
        if self.server_nct {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_nct {
            out.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_bits {
            out.push_str(&format!("; server_max_window_bits={bits}"));
        }
        match self.client_bits {
            Some(Some(bits)) => out.push_str(&format!("; client_max_window_bits={bits}")),
            Some(None) => out.push_str("; client_max_window_bits"),
            None => {}
        }
        out
    }
}

/// A window value: a decimal integer in 8..=15 without leading zeros (RFC 7692 §7.1.2).
fn window_bits(value: Value<'_>) -> Result<u8, &'static str> {
    const BAD: &str = "a window value that is not 8..=15";
    let mut digits = value.unescaped();
    let n = match (digits.next(), digits.next(), digits.next()) {
        (Some(d @ b'8'..=b'9'), None, _) => d - b'0',
        (Some(b'1'), Some(d @ b'0'..=b'5'), None) => 10 + d - b'0',
        _ => return Err(BAD),
    };
    Ok(n)
}

/// One element of an extension list (RFC 6455 §9.1).
struct Extension<'a> {
    name: &'a str,
    params: Vec<Param<'a>>,
}

/// One `name[=value]` parameter of an extension.
struct Param<'a> {
    name: &'a str,
    value: Option<Value<'a>>,
}

/// A parameter value: a token, or the inside of a quoted-string with its escapes.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Token(&'a str),
    Quoted(&'a str),
}

impl<'a> Value<'a> {
    /// The value's bytes, quoted-string escapes undone (RFC 9110 §5.6.4).
    fn unescaped(self) -> impl Iterator<Item = u8> + 'a {
        let (text, quoted) = match self {
            Value::Token(t) => (t, false),
            Value::Quoted(q) => (q, true),
        };
        let mut escaped = false;
        text.bytes().filter(move |&b| {
            let keep = !(quoted && !escaped && b == b'\\');
            escaped = !keep;
            keep
        })
    }
}

/// Every element of every value, or why one does not parse.
fn parse_list<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Extension<'a>>, &'static str> {
    let mut list = Vec::new();
    for value in values {
        let value = std::str::from_utf8(value).map_err(|_| "not UTF-8")?;
        for element in list_tokens(value.as_bytes()) {
            list.push(parse_extension(element)?);
        }
    }
    Ok(list)
}

/// `extension-token *( ";" extension-param )`, with optional whitespace around `;` and `=`.
fn parse_extension(element: &str) -> Result<Extension<'_>, &'static str> {
    // The splitter drops a last empty part, so `name;` is caught here.
    if element.ends_with(';') {
        return Err("an empty parameter");
    }
    let mut parts = split_unquoted(element, b';').map(|p| p.trim_matches([' ', '\t']));
    let name = parts.next().unwrap_or("");
    if !is_token(name.as_bytes()) {
        return Err("an extension name that is not a token");
    }
    let params = parts.map(parse_param).collect::<Result<_, _>>()?;
    Ok(Extension { name, params })
}

/// `token [ "=" ( token | quoted-string ) ]`.
fn parse_param(param: &str) -> Result<Param<'_>, &'static str> {
    let (name, value) = match param.split_once('=') {
        Some((name, value)) => (name.trim_end_matches([' ', '\t']), Some(value)),
        None => (param, None),
    };
    if !is_token(name.as_bytes()) {
        return Err("a parameter name that is not a token");
    }
    let value = match value.map(|v| v.trim_start_matches([' ', '\t'])) {
        None => None,
        Some(v) if is_token(v.as_bytes()) => Some(Value::Token(v)),
        Some(v) => Some(Value::Quoted(quoted_inside(v)?)),
    };
    Ok(Param { name, value })
}

/// The inside of a whole quoted-string: `"` qdtext or `\`-escapes `"` (RFC 9110 §5.6.4).
fn quoted_inside(v: &str) -> Result<&str, &'static str> {
    const BAD: &str = "a parameter value that is neither a token nor a quoted-string";
    let inside = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or(BAD)?;
    let mut escaped = false;
    for b in inside.bytes() {
        let ok = match b {
            _ if escaped => b == b'\t' || b >= 0x20 && b != 0x7F,
            b'\\' => true,
            b'"' => false,
            _ => b == b'\t' || b >= 0x20 && b != 0x7F,
        };
        if !ok {
            return Err(BAD);
        }
        escaped = !escaped && b == b'\\';
    }
    if escaped {
        return Err(BAD);
    }
    Ok(inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str], config: &DeflateConfig) -> Result<Option<String>, HandshakeError> {
        let params = accept_offer(values.iter().map(|v| v.as_bytes()), config)?;
        Ok(params.map(|p| p.response_header_value()))
    }

    /// The server's answer with the default config.
    fn answer(values: &[&str]) -> Option<String> {
        accept(values, &DeflateConfig::default()).expect("parses")
    }

    fn config(f: impl FnOnce(&mut DeflateConfig)) -> DeflateConfig {
        let mut c = DeflateConfig::default();
        f(&mut c);
        c
    }

    fn check(value: &str, config: &DeflateConfig) -> Result<Option<DeflateParams>, HandshakeError> {
        check_response([value.as_bytes()], config)
    }

    fn params(snct: bool, cnct: bool, sbits: u8, cbits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
            ..DeflateParams::default()
        }
    }

    #[test]
    fn config_validates_ranges() {
        assert_eq!(DeflateConfig::default().validate(), Ok(()));
        for bad in [
            config(|c| c.server_max_window_bits = 8),
            config(|c| c.server_max_window_bits = 16),
            config(|c| c.client_max_window_bits = 8),
            config(|c| c.level = 10),
            config(|c| c.mem_level = 0),
            config(|c| c.mem_level = 10),
        ] {
            assert!(
                matches!(bad.validate(), Err(UsageError::Config(_))),
                "{bad:?}"
            );
        }
        let ok = config(|c| {
            c.server_max_window_bits = 9;
            c.client_max_window_bits = 15;
            c.level = 0;
            c.mem_level = 1;
        });
        assert_eq!(ok.validate(), Ok(()));
    }

    #[test]
    fn plain_offers() {
        assert_eq!(answer(&[]), None);
        assert_eq!(answer(&["x-webkit-deflate-frame"]), None);
        assert_eq!(answer(&["permessage-deflate"]).as_deref(), Some(NAME));
        // What browsers send: client_max_window_bits without a value means "supported".
        assert_eq!(
            answer(&["permessage-deflate; client_max_window_bits"]).as_deref(),
            Some(NAME)
        );
        // Names and parameter names compare case-insensitively; OWS around ; and =.
        assert_eq!(
            answer(&["PerMessage-Deflate ;\tServer_No_Context_Takeover"]).as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
    }

    #[test]
    fn flags_are_echoed_or_asked_for() {
        assert_eq!(
            answer(&["permessage-deflate; server_no_context_takeover; client_no_context_takeover"])
                .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        // Asked for unoffered (RFC 7692 §7.1.1.1, §7.1.1.2).
        let c = config(|c| {
            c.server_no_context_takeover = true;
            c.client_no_context_takeover = true;
        });
        assert_eq!(
            accept(&["permessage-deflate"], &c).unwrap().as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
    }

    #[test]
    fn server_window() {
        // Offered: answered with the same or smaller value, stated even at 15 (§7.1.2.1).
        assert_eq!(
            answer(&["permessage-deflate; server_max_window_bits=10"]).as_deref(),
            Some("permessage-deflate; server_max_window_bits=10")
        );
        assert_eq!(
            answer(&["permessage-deflate; server_max_window_bits=15"]).as_deref(),
            Some("permessage-deflate; server_max_window_bits=15")
        );
        let c12 = config(|c| c.server_max_window_bits = 12);
        assert_eq!(
            accept(&["permessage-deflate; server_max_window_bits=14"], &c12)
                .unwrap()
                .as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
        assert_eq!(
            accept(&["permessage-deflate; server_max_window_bits=9"], &c12)
                .unwrap()
                .as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
        // Not offered: a server may still state its own (§7.1.2.1).
        assert_eq!(
            accept(&["permessage-deflate"], &c12).unwrap().as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
        // 8: zlib cannot compress with it, so that offer is declined, the next one taken.
        assert_eq!(
            answer(&["permessage-deflate; server_max_window_bits=8"]),
            None
        );
        assert_eq!(
            answer(&["permessage-deflate; server_max_window_bits=8, permessage-deflate"])
                .as_deref(),
            Some(NAME)
        );
    }

    #[test]
    fn client_window() {
        let c12 = config(|c| c.client_max_window_bits = 12);
        // Offered without a value: the server picks its configured window.
        assert_eq!(
            accept(&["permessage-deflate; client_max_window_bits"], &c12)
                .unwrap()
                .as_deref(),
            Some("permessage-deflate; client_max_window_bits=12")
        );
        // With a value (a hint): the smaller of the two.
        assert_eq!(
            accept(&["permessage-deflate; client_max_window_bits=10"], &c12)
                .unwrap()
                .as_deref(),
            Some("permessage-deflate; client_max_window_bits=10")
        );
        assert_eq!(
            answer(&["permessage-deflate; client_max_window_bits=11"]).as_deref(),
            Some("permessage-deflate; client_max_window_bits=11")
        );
        // A hint of 8 is answered with 9: our inflater uses 9 anyway.
        let p = accept_offer(
            [&b"permessage-deflate; client_max_window_bits=8"[..]],
            &DeflateConfig::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.client_max_window_bits, 9);
        assert_eq!(
            p.response_header_value(),
            "permessage-deflate; client_max_window_bits=9"
        );
        // Not offered: the server may not state it (§7.1.2.2) and inflates with 15.
        let p = accept_offer([&b"permessage-deflate"[..]], &c12)
            .unwrap()
            .unwrap();
        assert_eq!(p.client_max_window_bits, 15);
        assert_eq!(p.response_header_value(), NAME);
    }

    #[test]
    fn invalid_offers_are_declined() {
        for offer in [
            "permessage-deflate; foo",
            "permessage-deflate; foo=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10; SERVER_MAX_WINDOW_BITS=11",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; server_max_window_bits=1a",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=\"\"",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"x\"",
        ] {
            assert_eq!(answer(&[offer]), None, "{offer}");
            // ... and the next, valid offer is taken.
            let two = format!("{offer}, permessage-deflate; client_no_context_takeover");
            assert_eq!(
                answer(&[&two]).as_deref(),
                Some("permessage-deflate; client_no_context_takeover"),
                "{two}"
            );
        }
    }

    #[test]
    fn quoted_values() {
        // RFC 7692 §7.1 allows the quoted-string form of a value (RFC 6455 §9.1).
        let c = config(|c| c.client_max_window_bits = 13);
        assert_eq!(
            accept(
                &[r#"permessage-deflate; server_max_window_bits="12"; client_max_window_bits="14""#],
                &c
            )
            .unwrap()
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=13")
        );
        // Escapes are undone before the value is read.
        assert_eq!(
            answer(&[r#"permessage-deflate; server_max_window_bits="1\1""#]).as_deref(),
            Some("permessage-deflate; server_max_window_bits=11")
        );
        // A quoted comma or semicolon belongs to its value: the offer is one, and invalid.
        assert_eq!(
            answer(&[r#"permessage-deflate; server_max_window_bits="10,11""#]),
            None
        );
        assert_eq!(
            answer(&[r#"permessage-deflate; server_max_window_bits="10;foo""#]),
            None
        );
        // Other extensions' quoted values do not split the list.
        assert_eq!(
            answer(&[r#"x-foo; a="permessage-deflate, b", permessage-deflate"#]).as_deref(),
            Some(NAME)
        );
    }

    #[test]
    fn rfc_7692_examples() {
        // §7.1.3: several offers, the first one that can be honoured is taken.
        let offers = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, \
                      permessage-deflate; client_max_window_bits";
        assert_eq!(
            answer(&[offers]).as_deref(),
            Some("permessage-deflate; server_max_window_bits=10")
        );
        let c = config(|c| c.client_max_window_bits = 10);
        assert_eq!(
            accept(&[offers], &c).unwrap().as_deref(),
            Some("permessage-deflate; server_max_window_bits=10; client_max_window_bits=10")
        );
        // The same offers across two header lines.
        assert_eq!(
            answer(&[
                "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
                "permessage-deflate; client_max_window_bits",
            ])
            .as_deref(),
            Some("permessage-deflate; server_max_window_bits=10")
        );
        // A first offer declined (8), the second on the next line taken.
        assert_eq!(
            answer(&[
                "x-foo, permessage-deflate; server_max_window_bits=8",
                "permessage-deflate; server_no_context_takeover",
            ])
            .as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        // §7.1.3's accepted responses, as a client checking them.
        let client = config(|c| c.server_max_window_bits = 10);
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=10", &client),
            Ok(Some(params(false, false, 10, 15)))
        );
        assert_eq!(
            check(
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10",
                &client
            ),
            Ok(Some(params(false, false, 10, 10)))
        );
    }

    #[test]
    fn malformed_headers_are_refused_with_400() {
        for header in [
            "permessage-deflate; =5",
            "permessage-deflate; a b",
            "permessage-deflate;",
            "permessage-deflate; ; server_no_context_takeover",
            "; server_no_context_takeover",
            "permessage deflate",
            "permessage-deflate; server_max_window_bits=",
            r#"permessage-deflate; server_max_window_bits="10"#,
            r#"permessage-deflate; server_max_window_bits="1"0"#,
            "permessage-deflate; server_max_window_bits=1 0",
            "x-foo; a=\"b\"c",
        ] {
            let r = accept(&[header], &DeflateConfig::default());
            assert!(
                matches!(r, Err(HandshakeError::BadExtensions(_))),
                "{header}: {r:?}"
            );
            assert_eq!(r.unwrap_err().http_status(), Some(400));
        }
        let r = accept_offer([&b"permessage-deflate\xff"[..]], &DeflateConfig::default());
        assert!(matches!(r, Err(HandshakeError::BadExtensions(_))));
        let mut out = Vec::new();
        crate::handshake::write_error_response(&r.unwrap_err(), &mut out);
        assert!(out.starts_with(b"HTTP/1.1 400 "));
        // Empty elements are allowed in lists (RFC 9110 §5.6.1).
        assert_eq!(answer(&[" , permessage-deflate,,"]).as_deref(), Some(NAME));
        assert_eq!(answer(&[""]), None);
    }

    #[test]
    fn role_helpers() {
        let p = params(true, false, 10, 12);
        assert_eq!(p.compress_window_bits(Role::Server), 10);
        assert_eq!(p.decompress_window_bits(Role::Server), 12);
        assert_eq!(p.compress_window_bits(Role::Client), 12);
        assert_eq!(p.decompress_window_bits(Role::Client), 10);
        assert!(p.compress_no_context_takeover(Role::Server));
        assert!(!p.decompress_no_context_takeover(Role::Server));
        assert!(!p.compress_no_context_takeover(Role::Client));
        assert!(p.decompress_no_context_takeover(Role::Client));
        // Hand-made values out of range never reach zlib.
        let odd = params(false, false, 8, 20);
        assert_eq!(odd.decompress_window_bits(Role::Client), 9);
        assert_eq!(odd.compress_window_bits(Role::Client), 15);
    }

    #[test]
    fn equality_ignores_how_the_window_was_stated() {
        let stated = accept_offer(
            [&b"permessage-deflate; server_max_window_bits=15"[..]],
            &DeflateConfig::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(stated, DeflateParams::default());
        assert_ne!(
            stated.response_header_value(),
            DeflateParams::default().response_header_value()
        );
    }

    #[test]
    fn offers() {
        assert_eq!(
            offer_header_value(&DeflateConfig::default()),
            "permessage-deflate; client_max_window_bits"
        );
        let c = config(|c| {
            c.client_no_context_takeover = true;
            c.server_no_context_takeover = true;
            c.server_max_window_bits = 10;
            c.client_max_window_bits = 12;
        });
        assert_eq!(
            offer_header_value(&c),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
        );
        // A server of ours accepts what a client of ours offers, and the client its answer.
        for c in [DeflateConfig::default(), c] {
            let offer = offer_header_value(&c);
            let p = accept_offer([offer.as_bytes()], &c).unwrap().unwrap();
            let back = check_response([p.response_header_value().as_bytes()], &c);
            assert_eq!(back, Ok(Some(p)), "{offer}");
        }
    }

    #[test]
    fn client_accepts_what_it_allowed() {
        let d = DeflateConfig::default();
        assert_eq!(check_response(std::iter::empty(), &d), Ok(None));
        assert_eq!(check(NAME, &d), Ok(Some(DeflateParams::default())));
        // server_no_context_takeover is always acceptable (RFC 7692 §7.1.1.1, erratum 4982),
        // and client_no_context_takeover too (§7.1.1.2).
        assert_eq!(
            check(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                &d
            ),
            Ok(Some(params(true, true, 15, 15)))
        );
        // A server may state its window unasked; 8 is inflated with 9.
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=11", &d),
            Ok(Some(params(false, false, 11, 15)))
        );
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=8", &d),
            Ok(Some(params(false, false, 9, 15)))
        );
        // We offered client_max_window_bits: the server may bound us.
        assert_eq!(
            check("permessage-deflate; client_max_window_bits=9", &d),
            Ok(Some(params(false, false, 15, 9)))
        );
        assert_eq!(
            check(r#"permessage-deflate; client_max_window_bits="12""#, &d),
            Ok(Some(params(false, false, 15, 12)))
        );
        // Our own limits hold whatever the answer: a smaller client window, no takeover.
        let c = config(|c| {
            c.client_max_window_bits = 11;
            c.client_no_context_takeover = true;
        });
        assert_eq!(check(NAME, &c), Ok(Some(params(false, true, 15, 11))));
        assert_eq!(
            check("permessage-deflate; client_max_window_bits=13", &c),
            Ok(Some(params(false, true, 15, 11)))
        );
        // A window smaller than asked is fine.
        let c = config(|c| c.server_max_window_bits = 12);
        assert_eq!(
            check("permessage-deflate; server_max_window_bits=9", &c),
            Ok(Some(params(false, false, 9, 15)))
        );
    }

    #[test]
    fn client_rejects_what_it_did_not_ask_for() {
        let d = DeflateConfig::default();
        let c = config(|c| {
            c.server_max_window_bits = 10;
            c.server_no_context_takeover = true;
        });
        for (response, config) in [
            ("permessage-deflate; foo", &d),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                &d,
            ),
            ("permessage-deflate; server_no_context_takeover=1", &d),
            ("permessage-deflate; client_no_context_takeover=\"\"", &d),
            ("permessage-deflate; server_max_window_bits", &d),
            ("permessage-deflate; server_max_window_bits=16", &d),
            ("permessage-deflate; server_max_window_bits=7", &d),
            ("permessage-deflate; server_max_window_bits=09", &d),
            // A response must give the client window a value (§7.1.2.2).
            ("permessage-deflate; client_max_window_bits", &d),
            ("permessage-deflate; client_max_window_bits=16", &d),
            // zlib cannot compress with an 8-bit window: do not pretend to.
            ("permessage-deflate; client_max_window_bits=8", &d),
            // Accepted twice.
            ("permessage-deflate, permessage-deflate", &d),
            // Larger than asked, or our request ignored.
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                &c,
            ),
            ("permessage-deflate; server_no_context_takeover", &c),
            ("permessage-deflate; server_max_window_bits=10", &c),
            // Malformed.
            ("permessage-deflate; =1", &d),
            ("permessage-deflate;", &d),
        ] {
            let r = check(response, config);
            assert!(
                matches!(r, Err(HandshakeError::BadExtensionResponse(_))),
                "{response}: {r:?}"
            );
        }
        // Two header lines each accepting it.
        let r = check_response([&b"permessage-deflate"[..], &b"permessage-deflate"[..]], &d);
        assert!(matches!(r, Err(HandshakeError::BadExtensionResponse(_))));
        // An extension we never offered.
        assert_eq!(check("x-foo", &d), Err(HandshakeError::UnofferedExtension));
        assert_eq!(
            check("permessage-deflate, x-foo", &d),
            Err(HandshakeError::UnofferedExtension)
        );
    }

    #[test]
    fn client_max_window_bits_needs_the_offer() {
        // Our offer always carries it; a response is judged against what was offered.
        let offer = Wire {
            client_bits: None,
            ..Wire::default()
        };
        let response = Wire {
            client_bits: Some(Some(12)),
            ..Wire::default()
        };
        assert!(resolve_response(&offer, &response, &DeflateConfig::default()).is_err());
    }

    #[test]
    fn both_ends_agree_for_every_pair_of_configs() {
        let configs = (0..16u8).flat_map(|flags| {
            (9..=15).flat_map(move |server| {
                (9..=15).map(move |client| {
                    config(|c| {
                        c.server_no_context_takeover = flags & 1 != 0;
                        c.client_no_context_takeover = flags & 2 != 0;
                        c.server_max_window_bits = server;
                        c.client_max_window_bits = client;
                    })
                })
            })
        });
        let configs: Vec<_> = configs.collect();
        // Every client config against a spread of server configs (all 784 x 784 is slow
        // unoptimized): the server's window pairs and flag sets, both windows equal.
        for client in &configs {
            let offer = offer_header_value(client);
            for server in configs.iter().step_by(8) {
                let accepted = accept_offer([offer.as_bytes()], server).unwrap().unwrap();
                let answer = accepted.response_header_value();
                let agreed = check_response([answer.as_bytes()], client);
                assert_eq!(agreed, Ok(Some(accepted)), "{offer} -> {answer}");
                assert!(accepted.client_max_window_bits <= client.client_max_window_bits);
                assert!(accepted.server_max_window_bits <= server.server_max_window_bits);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_header_is_answered_without_panic(
            value in "[ -~\t]{0,60}",
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "permessage-deflate", "server_no_context_takeover",
                    "client_no_context_takeover", "server_max_window_bits",
                    "client_max_window_bits", "=", "8", "9", "15", "\"", ";", ",", " ", "\\",
                ]),
                0..12,
            ),
        ) {
            let joined = words.concat();
            for v in [value.as_str(), joined.as_str()] {
                let d = DeflateConfig::default();
                if let Ok(Some(p)) = accept_offer([v.as_bytes()], &d) {
                    // What a server answers always parses back as a response.
                    let back = check_response([p.response_header_value().as_bytes()], &d);
                    proptest::prop_assert!(back.is_ok(), "{:?}", back);
                }
                let _ = check_response([v.as_bytes()], &d);
            }
        }
    }
}
