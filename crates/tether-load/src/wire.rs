//! What goes over the wire (RFC 6455 §4.1, §5.2–§5.3): the opening request, the 101 check, pre-encoded masked frames and a streaming verifier for the server's frames.
//!
//! Every message the load generator sends is a fixed payload carrying an 8-byte id (ASCII, so
//! text frames stay valid UTF-8): `ID ‖ PATTERN[8..]`, a printable pattern, or a live-room
//! comment in JSON with the id as its `from_uid`. A frame is encoded and masked once; sending
//! message `id` copies it and re-masks only the 8 id bytes. The reader checks every payload
//! byte of every echo against the template as it streams in, without buffering a whole
//! message.
//!
//! With permessage-deflate (RFC 7692 §7.2.1) the template is compressed once too: the part up
//! to and including the id goes in a stored block, so the id stays in clear at a fixed place,
//! and the rest is one raw deflate stream of its own (window 9, so any window the server
//! allows us fits). The server's compressed echoes are inflated (with the context the server
//! negotiated) and then checked whole.

use std::fmt;

use bytes::BytesMut;
use tether_codec::deflate::{self, DeflateConfig, DeflateParams, Deflater, Inflater};
use tether_codec::{FrameHeader, Opcode, Role, Status};

/// Bytes of id at the start of every payload.
pub const ID_LEN: usize = 8;
/// The mask key of every frame we send (servers must not care which key a client uses).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// The `Sec-WebSocket-Key` of every request (RFC 6455 §1.3's example).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// Its `Sec-WebSocket-Accept`.
const ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// Longest response head we accept.
const MAX_HEAD: usize = 8192;
/// The RSV1 bit: a compressed message's first frame (RFC 7692 §6).
const RSV1: u8 = 0x40;
/// The longest echo inflated (the server's answer to our own messages).
const MAX_INFLATED: usize = 64 << 20;

/// What we offer: what Chromium offers (`permessage-deflate; client_max_window_bits`), so
/// each server picks its own defaults for the rest.
fn offer_config() -> DeflateConfig {
    DeflateConfig::default()
}

/// Why a connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The opening response was not a valid `101`.
    Handshake(String),
    /// A frame broke the protocol or did not match what was sent.
    Frame(String),
    /// The server sent Close.
    Closed,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Handshake(s) => write!(f, "handshake: {s}"),
            WireError::Frame(s) => write!(f, "frame: {s}"),
            WireError::Closed => write!(f, "server sent Close"),
        }
    }
}

/// The opening request for `path` on `host`, offering permessage-deflate when `deflate`.
pub fn request(host: &str, path: &str, deflate: bool) -> Vec<u8> {
    let offer = if deflate {
        format!(
            "Sec-WebSocket-Extensions: {}\r\n",
            deflate::offer_header_value(&offer_config())
        )
    } else {
        String::new()
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .into_bytes()
}

/// A whole, valid `101` response: its length and the deflate parameters it agreed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Bytes of the response head.
    pub head_len: usize,
    /// The agreed permessage-deflate parameters, if the server accepted the offer.
    pub deflate: Option<DeflateParams>,
}

/// Checks a response head: `Ok(Some(_))` once the head is whole and is a valid 101 for our
/// key (and, when `deflate`, accepts our permessage-deflate offer), `Ok(None)` while more
/// bytes are needed.
pub fn check_response(buf: &[u8], deflate: bool) -> Result<Option<Opened>, WireError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(WireError::Handshake("response head too long".into()));
        }
        return Ok(None);
    };
    let head = &buf[..end + 4];
    if !head.starts_with(b"HTTP/1.1 101") {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(WireError::Handshake(format!(
            "status {:?}",
            String::from_utf8_lossy(line)
        )));
    }
    if !head.windows(ACCEPT.len()).any(|w| w == ACCEPT) {
        return Err(WireError::Handshake("wrong Sec-WebSocket-Accept".into()));
    }
    let extensions = head
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .eq_ignore_ascii_case(b"sec-websocket-extensions")
                .then(|| line[colon + 1..].trim_ascii())
        })
        .collect::<Vec<_>>();
    let agreed = deflate::check_response(extensions.iter().copied(), &offer_config())
        .map_err(|e| WireError::Handshake(e.to_string()))?;
    if deflate && agreed.is_none() {
        return Err(WireError::Handshake(
            "the server did not accept permessage-deflate".into(),
        ));
    }
    if !deflate && agreed.is_some() {
        return Err(WireError::Handshake("an extension was not offered".into()));
    }
    Ok(Some(Opened {
        head_len: end + 4,
        deflate: agreed,
    }))
}

/// What a message carries besides its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// The id, then a printable pattern; text or binary.
    Pattern {
        /// Sent as text frames.
        text: bool,
    },
    /// A live-room comment in JSON, as the demo's `/live` relays it (text frames).
    LiveJson,
}

/// The live-room comment: the id goes in place of `from_uid`'s zeros; `content` is padded to
/// reach the requested size.
const LIVE_JSON: (&str, &str) = (
    r#"{"msg_type":"message","room_id":"1001","from_uid":"00000000","from_name":"观众小明","is_anchor":false,"content":"主播好！这件外套还有M码吗？想要蓝色的"#,
    r#""}"#,
);

/// More comment text, cycled to pad a live-room message.
const LIVE_PAD: &[&str] = &[
    "，昨天直播间抢的已经收到了，质量很好",
    " 666，主播讲得太清楚了",
    "，请问什么时候上新款？",
    " 已下单，期待发货",
];

/// The payload of a message of about `size` bytes, with zeros where the id goes, and where
/// that is.
fn payload_of(body: Body, size: usize) -> (Vec<u8>, usize) {
    match body {
        Body::Pattern { .. } => ((0..size.max(ID_LEN)).map(pattern_byte).collect(), 0),
        Body::LiveJson => {
            let (head, tail) = LIVE_JSON;
            let mut s = head.to_owned();
            let mut pads = LIVE_PAD.iter().cycle();
            while s.len() + tail.len() < size {
                let pad = pads.next().copied().unwrap_or(" ");
                if s.len() + pad.len() + tail.len() > size {
                    s.extend(std::iter::repeat('!').take(size - s.len() - tail.len()));
                    break;
                }
                s.push_str(pad);
            }
            s.push_str(tail);
            let at = s.find("00000000").unwrap_or(0);
            let mut bytes = s.into_bytes();
            bytes[at..at + ID_LEN].fill(0);
            (bytes, at)
        }
    }
}

/// The payload pattern at byte `i` (printable ASCII).
fn pattern_byte(i: usize) -> u8 {
    b' ' + (i % 95) as u8
}

/// Encodes `id` as 8 ASCII letters `a`..`p` (one per nibble, most significant first).
pub fn encode_id(id: u32) -> [u8; ID_LEN] {
    let mut out = [0u8; ID_LEN];
    for (i, b) in out.iter_mut().enumerate() {
        *b = b'a' + ((id >> (28 - 4 * i)) & 0xF) as u8;
    }
    out
}

/// Decodes [`encode_id`]'s output.
pub fn decode_id(b: &[u8; ID_LEN]) -> Option<u32> {
    let mut id = 0u32;
    for &c in b {
        let nibble = c.checked_sub(b'a').filter(|&n| n < 16)?;
        id = (id << 4) | nibble as u32;
    }
    Some(id)
}

/// One masked client frame of a fixed size, encoded once and stamped with an id per send.
#[derive(Debug, Clone)]
pub struct FrameTemplate {
    bytes: Vec<u8>,
    header_len: usize,
    /// Where the id starts in the payload on the wire.
    id_on_wire: usize,
    /// Where the id starts in the payload.
    id_at: usize,
    /// The unmasked payload (id bytes included, as zeros), for verifying echoes.
    payload: Vec<u8>,
    /// Sent compressed (permessage-deflate).
    compressed: bool,
}

impl FrameTemplate {
    /// A template for `size`-byte payloads (at least [`ID_LEN`]) sent as text or binary.
    pub fn new(size: usize, text: bool) -> FrameTemplate {
        FrameTemplate::build(Body::Pattern { text }, size, false)
    }

    /// A template for `body` of about `size` bytes, compressed when `compressed`.
    pub fn build(body: Body, size: usize, compressed: bool) -> FrameTemplate {
        let (payload, id_at) = payload_of(body, size);
        let text = !matches!(body, Body::Pattern { text: false });
        let opcode = if text { Opcode::Text } else { Opcode::Binary };
        let (wire, id_on_wire) = if compressed {
            compress_template(&payload, id_at)
        } else {
            (payload.clone(), id_at)
        };
        let mut header = FrameHeader::new(true, opcode, Some(MASK), wire.len() as u64);
        if compressed {
            header = header.with_rsv(RSV1);
        }
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let header_len = header.encode(&mut head);
        let mut bytes = head[..header_len].to_vec();
        bytes.extend_from_slice(&wire);
        tether_codec::apply_mask(&mut bytes[header_len..], MASK, 0);
        FrameTemplate {
            bytes,
            header_len,
            id_on_wire,
            id_at,
            payload,
            compressed,
        }
    }

    /// The (uncompressed) payload size.
    pub fn size(&self) -> usize {
        self.payload.len()
    }

    /// The encoded frame length.
    pub fn frame_len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether messages are sent compressed (and permessage-deflate is offered).
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Appends the frame carrying `id` to `out`.
    pub fn push(&self, id: u32, out: &mut Vec<u8>) {
        let start = out.len() + self.header_len + self.id_on_wire;
        out.extend_from_slice(&self.bytes);
        for (i, b) in encode_id(id).iter().enumerate() {
            out[start + i] = b ^ MASK[(self.id_on_wire + i) & 3];
        }
    }

    /// Checks `chunk`, found at `offset` of an echoed payload, against the template, and
    /// copies the id bytes it holds into `id`.
    fn check(&self, offset: usize, chunk: &[u8], id: &mut [u8; ID_LEN]) -> Result<(), WireError> {
        let end = offset + chunk.len();
        let expected = self
            .payload
            .get(offset..end)
            .ok_or_else(|| WireError::Frame("echo longer than sent".into()))?;
        let ids = self.id_at..self.id_at + ID_LEN;
        let lo = ids.start.clamp(offset, end);
        let hi = ids.end.clamp(offset, end);
        if chunk[..lo - offset] != expected[..lo - offset]
            || chunk[hi - offset..] != expected[hi - offset..]
        {
            return Err(WireError::Frame("echoed payload differs".into()));
        }
        if lo < hi {
            id[lo - self.id_at..hi - self.id_at].copy_from_slice(&chunk[lo - offset..hi - offset]);
        }
        Ok(())
    }
}

/// `payload` compressed for the wire (RFC 7692 §7.2.1): `payload[..id_at + 8]` in a stored
/// block, then the rest as its own raw deflate stream with the sync flush's tail removed.
/// Returns it and where the id lands in it.
fn compress_template(payload: &[u8], id_at: usize) -> (Vec<u8>, usize) {
    let clear = id_at + ID_LEN;
    let len = clear as u16;
    // BFINAL 0, BTYPE 00, padded to the byte; LEN and its complement, little-endian (RFC 1951 §3.2.4).
    let mut wire = vec![0x00];
    wire.extend_from_slice(&len.to_le_bytes());
    wire.extend_from_slice(&(!len).to_le_bytes());
    let id_in_payload = wire.len() + id_at;
    wire.extend_from_slice(&payload[..clear]);
    let mut rest = BytesMut::new();
    // Window 9 with no context: valid whatever client window the server allows. The
    // parameters are constants in range, so neither call can fail.
    if let Ok(mut d) = Deflater::new(9, 6, 8, true) {
        if d.compress(&payload[clear..], &mut rest).is_ok() {
            wire.extend_from_slice(&rest);
        }
    }
    (wire, id_in_payload)
}

/// What the reader found in the server's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    /// A complete data message that matched the pattern, with its id.
    Message(u32),
    /// A ping with its payload (at most 125 bytes): answer with a pong.
    Ping([u8; 125], usize),
}

/// Streams the server's (unmasked) frames, verifying each data payload against the template.
#[derive(Default)]
pub struct FrameReader {
    head: [u8; FrameHeader::MAX_LEN],
    head_len: usize,
    /// The frame whose payload is arriving.
    cur: Option<InFrame>,
    /// The server's compression, once permessage-deflate is agreed.
    inflater: Option<Inflater>,
    /// A compressed message's payload as it arrives.
    compressed: Vec<u8>,
    /// What it inflates to.
    inflated: BytesMut,
}

impl fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("deflate", &self.inflater.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct InFrame {
    opcode: Opcode,
    /// RSV1: the message is compressed.
    compressed: bool,
    len: usize,
    got: usize,
    id: [u8; ID_LEN],
    ctl: [u8; 125],
}

impl FrameReader {
    /// Inflates the server's compressed messages with what the handshake agreed.
    pub fn set_deflate(&mut self, params: &DeflateParams) -> Result<(), WireError> {
        let inflater = Inflater::new(
            params.decompress_window_bits(Role::Client),
            params.decompress_no_context_takeover(Role::Client),
        )
        .map_err(|e| WireError::Handshake(e.to_string()))?;
        self.inflater = Some(inflater);
        Ok(())
    }

    /// Consumes `data`, pushing what completed to `out`. Errors are final for the connection.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        tpl: &FrameTemplate,
        out: &mut Vec<Got>,
    ) -> Result<(), WireError> {
        while !data.is_empty() {
            let Some(f) = self.cur.as_mut() else {
                let take = (FrameHeader::MAX_LEN - self.head_len).min(data.len());
                self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
                let had = self.head_len;
                match FrameHeader::decode(&self.head[..had + take]) {
                    Ok(Status::Partial) => {
                        self.head_len += take;
                        data = &data[take..];
                    }
                    Ok(Status::Complete((h, n))) => {
                        data = &data[n - had..];
                        self.head_len = 0;
                        self.start(h, tpl)?;
                        self.finish_if_done(tpl, out)?;
                    }
                    Err(e) => return Err(WireError::Frame(e.to_string())),
                }
                continue;
            };
            let take = (f.len - f.got).min(data.len());
            let chunk = &data[..take];
            match f.opcode {
                Opcode::Text | Opcode::Binary if f.compressed => {
                    self.compressed.extend_from_slice(chunk)
                }
                Opcode::Text | Opcode::Binary => tpl.check(f.got, chunk, &mut f.id)?,
                _ => f.ctl[f.got..f.got + take].copy_from_slice(chunk),
            }
            f.got += take;
            data = &data[take..];
            self.finish_if_done(tpl, out)?;
        }
        Ok(())
    }

    fn start(&mut self, h: FrameHeader, tpl: &FrameTemplate) -> Result<(), WireError> {
        if h.mask().is_some() {
            return Err(WireError::Frame("masked frame from server".into()));
        }
        let compressed = h.rsv() == RSV1 && self.inflater.is_some();
        if !h.fin() || (h.rsv() != 0 && !compressed) {
            return Err(WireError::Frame("fragmented or RSV frame".into()));
        }
        let len = usize::try_from(h.payload_len())
            .map_err(|_| WireError::Frame("frame too long".into()))?;
        match h.opcode() {
            Opcode::Text | Opcode::Binary if compressed && len > MAX_INFLATED => {
                return Err(WireError::Frame(format!(
                    "compressed message of {len} bytes"
                )))
            }
            Opcode::Text | Opcode::Binary if !compressed && len != tpl.size() => {
                return Err(WireError::Frame(format!(
                    "message of {len} bytes, expected {}",
                    tpl.size()
                )))
            }
            Opcode::Close => return Err(WireError::Closed),
            Opcode::Continuation => return Err(WireError::Frame("unexpected continuation".into())),
            op if compressed && op.is_control() => {
                return Err(WireError::Frame("RSV1 on a control frame".into()))
            }
            _ => {}
        }
        self.cur = Some(InFrame {
            opcode: h.opcode(),
            compressed,
            len,
            got: 0,
            id: [0; ID_LEN],
            ctl: [0; 125],
        });
        Ok(())
    }

    fn finish_if_done(&mut self, tpl: &FrameTemplate, out: &mut Vec<Got>) -> Result<(), WireError> {
        let Some(mut f) = self.cur.filter(|f| f.got == f.len) else {
            return Ok(());
        };
        self.cur = None;
        match f.opcode {
            Opcode::Text | Opcode::Binary => {
                if f.compressed {
                    self.inflate(tpl, &mut f.id)?;
                }
                let id = decode_id(&f.id).ok_or_else(|| WireError::Frame("bad id".into()))?;
                out.push(Got::Message(id));
            }
            Opcode::Ping => out.push(Got::Ping(f.ctl, f.len)),
            _ => {}
        }
        Ok(())
    }

    /// Inflates the compressed message just received and checks it whole.
    fn inflate(&mut self, tpl: &FrameTemplate, id: &mut [u8; ID_LEN]) -> Result<(), WireError> {
        let Some(inflater) = self.inflater.as_mut() else {
            return Err(WireError::Frame("RSV1 without permessage-deflate".into()));
        };
        self.inflated.clear();
        inflater
            .inflate(&self.compressed, true, MAX_INFLATED, &mut self.inflated)
            .map_err(|e| WireError::Frame(format!("inflate: {e}")))?;
        self.compressed.clear();
        if self.inflated.len() != tpl.size() {
            return Err(WireError::Frame(format!(
                "message inflated to {} bytes, expected {}",
                self.inflated.len(),
                tpl.size()
            )));
        }
        tpl.check(0, &self.inflated, id)
    }
}

/// Appends a masked pong carrying `payload` to `out`.
pub fn push_pong(payload: &[u8], out: &mut Vec<u8>) {
    let header = FrameHeader::new(true, Opcode::Pong, Some(MASK), payload.len() as u64);
    let mut head = [0u8; FrameHeader::MAX_LEN];
    let n = header.encode(&mut head);
    out.extend_from_slice(&head[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    tether_codec::apply_mask(&mut out[start..], MASK, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's unmasked echo of message `id`.
    fn echo_of(tpl: &FrameTemplate, id: u32) -> Vec<u8> {
        let mut sent = Vec::new();
        tpl.push(id, &mut sent);
        let h = match FrameHeader::decode(&sent) {
            Ok(Status::Complete((h, _))) => h,
            other => panic!("{other:?}"),
        };
        let mut payload = tpl.payload.clone();
        payload[tpl.id_at..tpl.id_at + ID_LEN].copy_from_slice(&encode_id(id));
        let header = FrameHeader::new(true, h.opcode(), None, payload.len() as u64);
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let n = header.encode(&mut head);
        let mut out = head[..n].to_vec();
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn ids_round_trip() {
        for id in [0, 1, 0xABCD, u32::MAX] {
            assert_eq!(decode_id(&encode_id(id)), Some(id));
        }
        assert_eq!(decode_id(b"zzzzzzzz"), None);
    }

    #[test]
    fn echoes_verify_whole_and_split() {
        for size in [8, 20, 125, 126, 70_000] {
            let tpl = FrameTemplate::new(size, size % 2 == 0);
            let mut stream = echo_of(&tpl, 7);
            stream.extend(echo_of(&tpl, 8));
            for step in [1, 3, 1000, stream.len()] {
                let mut r = FrameReader::default();
                let mut got = Vec::new();
                for chunk in stream.chunks(step) {
                    r.feed(chunk, &tpl, &mut got).unwrap();
                }
                assert_eq!(got, vec![Got::Message(7), Got::Message(8)], "{size} {step}");
            }
        }
    }

    #[test]
    fn corrupt_echo_and_close_fail() {
        let tpl = FrameTemplate::new(20, false);
        let mut bad = echo_of(&tpl, 1);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut got = Vec::new();
        assert!(FrameReader::default().feed(&bad, &tpl, &mut got).is_err());
        let close = [0x88, 0x02, 0x03, 0xe8];
        assert_eq!(
            FrameReader::default().feed(&close, &tpl, &mut got),
            Err(WireError::Closed)
        );
    }

    #[test]
    fn response_check() {
        let ok =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nxx";
        assert_eq!(check_response(&ok[..20], false), Ok(None));
        let opened = check_response(ok, false).unwrap().unwrap();
        assert_eq!((opened.head_len, opened.deflate), (ok.len() - 2, None));
        assert!(check_response(b"HTTP/1.1 503 Busy\r\n\r\n", false).is_err());
        // Offered and declined, or not offered and sent: both fail.
        assert!(check_response(ok, true).is_err());
        let deflate = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(check_response(deflate, false).is_err());
        let params = check_response(deflate, true)
            .unwrap()
            .unwrap()
            .deflate
            .unwrap();
        assert!(params.server_no_context_takeover);
        assert_eq!(params.client_max_window_bits, 10);
    }

    /// The server's echo of message `id`, compressed by `deflater` (one frame, RSV1).
    fn compressed_echo_of(tpl: &FrameTemplate, id: u32, deflater: &mut Deflater) -> Vec<u8> {
        let mut payload = tpl.payload.clone();
        payload[tpl.id_at..tpl.id_at + ID_LEN].copy_from_slice(&encode_id(id));
        let mut wire = BytesMut::new();
        deflater.compress(&payload, &mut wire).unwrap();
        let header = FrameHeader::new(true, Opcode::Text, None, wire.len() as u64).with_rsv(RSV1);
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let n = header.encode(&mut head);
        let mut out = head[..n].to_vec();
        out.extend_from_slice(&wire);
        out
    }

    #[test]
    fn live_json_is_json_with_the_id_as_from_uid() {
        for size in [0, 200, 333, 1000] {
            let tpl = FrameTemplate::build(Body::LiveJson, size, false);
            // The comment alone is 174 bytes; larger sizes are met exactly.
            assert!(tpl.size() == size.max(174), "{size}: {}", tpl.size());
            let mut sent = Vec::new();
            tpl.push(0x1234_abcd, &mut sent);
            let echo = echo_of(&tpl, 0x1234_abcd);
            let (h, n) = match FrameHeader::decode(&echo) {
                Ok(Status::Complete(done)) => done,
                other => panic!("{other:?}"),
            };
            assert_eq!(h.opcode(), Opcode::Text);
            let text = std::str::from_utf8(&echo[n..]).unwrap();
            assert!(text.starts_with(r#"{"msg_type":"message""#) && text.ends_with(r#""}"#));
            assert!(text.contains(r#""from_uid":"bcdeklmn""#), "{text}");
        }
    }

    #[test]
    fn compressed_template_inflates_to_the_payload_with_its_id() {
        for (body, size) in [
            (Body::LiveJson, 0),
            (Body::LiveJson, 700),
            (Body::Pattern { text: false }, 20),
            (Body::Pattern { text: true }, 70_000),
        ] {
            let tpl = FrameTemplate::build(body, size, true);
            assert!(tpl.compressed());
            let mut sent = Vec::new();
            tpl.push(0xfeed_0001, &mut sent);
            let (h, n) = match FrameHeader::decode(&sent) {
                Ok(Status::Complete(done)) => done,
                other => panic!("{other:?}"),
            };
            assert_eq!(h.rsv(), RSV1);
            let mut wire = sent[n..].to_vec();
            tether_codec::apply_mask(&mut wire, MASK, 0);
            // The peer inflates with the smallest window a server may allow us, and no context.
            let mut inflater = Inflater::new(9, true).unwrap();
            let mut got = BytesMut::new();
            inflater.inflate(&wire, true, 1 << 20, &mut got).unwrap();
            let mut id = [0; ID_LEN];
            tpl.check(0, &got, &mut id).unwrap();
            assert_eq!(decode_id(&id), Some(0xfeed_0001));
            assert_eq!(got.len(), tpl.size());
            if size >= 700 {
                assert!(wire.len() < tpl.size(), "{} of {}", wire.len(), tpl.size());
            }
        }
    }

    #[test]
    fn compressed_echoes_verify_with_and_without_context() {
        let tpl = FrameTemplate::build(Body::LiveJson, 300, true);
        for takeover in [true, false] {
            let mut deflater = Deflater::new(15, 6, 8, !takeover).unwrap();
            let mut stream = Vec::new();
            for id in 1..=3 {
                stream.extend(compressed_echo_of(&tpl, id, &mut deflater));
            }
            stream.extend(echo_of(&tpl, 4)); // under a threshold: sent plain
            for step in [1, 7, stream.len()] {
                let mut r = FrameReader {
                    inflater: Some(Inflater::new(15, !takeover).unwrap()),
                    ..FrameReader::default()
                };
                let mut got = Vec::new();
                for chunk in stream.chunks(step) {
                    r.feed(chunk, &tpl, &mut got).unwrap();
                }
                let want: Vec<Got> = (1..=4).map(Got::Message).collect();
                assert_eq!(got, want, "takeover {takeover}, step {step}");
            }
            // A corrupted echo is caught after inflating.
            let mut bad = compressed_echo_of(&tpl, 9, &mut Deflater::new(15, 6, 8, true).unwrap());
            let last = bad.len() - 2;
            bad[last] ^= 0x55;
            let mut r = FrameReader {
                inflater: Some(Inflater::new(15, true).unwrap()),
                ..FrameReader::default()
            };
            assert!(r.feed(&bad, &tpl, &mut Vec::new()).is_err());
        }
        // RSV1 without the extension fails.
        let mut d = Deflater::new(15, 6, 8, true).unwrap();
        let frame = compressed_echo_of(&tpl, 1, &mut d);
        assert!(FrameReader::default()
            .feed(&frame, &tpl, &mut Vec::new())
            .is_err());
    }
}
