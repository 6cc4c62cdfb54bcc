//! What goes over the wire (RFC 6455 §4.1, §5.2–§5.3): the opening request, the 101 check, pre-encoded masked frames and a streaming verifier for the server's frames.
//!
//! Every message the load generator sends is `ID ‖ PATTERN[8..]`: an 8-byte id (ASCII, so text
//! frames stay valid UTF-8) followed by a fixed printable pattern. A frame is encoded and
//! masked once; sending message `id` copies it and re-masks only the 8 id bytes. The reader
//! checks every payload byte of every echo against the pattern as it streams in, without
//! buffering a whole message.

use std::fmt;

use tether_codec::{FrameHeader, Opcode, Status};

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

/// The opening request for `path` on `host`.
pub fn request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Checks a response head: `Ok(Some(n))` once the head (`n` bytes) is whole and is a valid
/// 101 for our key, `Ok(None)` while more bytes are needed.
pub fn check_response(buf: &[u8]) -> Result<Option<usize>, WireError> {
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
    Ok(Some(end + 4))
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
    /// The unmasked payload (id bytes included, as zeros), for verifying echoes.
    payload: Vec<u8>,
}

impl FrameTemplate {
    /// A template for `size`-byte payloads (at least [`ID_LEN`]) sent as text or binary.
    pub fn new(size: usize, text: bool) -> FrameTemplate {
        let size = size.max(ID_LEN);
        let payload: Vec<u8> = (0..size).map(pattern_byte).collect();
        let opcode = if text { Opcode::Text } else { Opcode::Binary };
        let header = FrameHeader::new(true, opcode, Some(MASK), size as u64);
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let header_len = header.encode(&mut head);
        let mut bytes = head[..header_len].to_vec();
        bytes.extend_from_slice(&payload);
        tether_codec::apply_mask(&mut bytes[header_len..], MASK, 0);
        FrameTemplate {
            bytes,
            header_len,
            payload,
        }
    }

    /// The payload size.
    pub fn size(&self) -> usize {
        self.payload.len()
    }

    /// The encoded frame length.
    pub fn frame_len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends the frame carrying `id` to `out`.
    pub fn push(&self, id: u32, out: &mut Vec<u8>) {
        let start = out.len() + self.header_len;
        out.extend_from_slice(&self.bytes);
        for (i, b) in encode_id(id).iter().enumerate() {
            out[start + i] = b ^ MASK[i & 3];
        }
    }

    /// The unmasked payload bytes at `offset..offset + len` (id bytes excluded by callers).
    fn expected(&self, offset: usize, len: usize) -> &[u8] {
        &self.payload[offset..offset + len]
    }
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
#[derive(Debug, Default)]
pub struct FrameReader {
    head: [u8; FrameHeader::MAX_LEN],
    head_len: usize,
    /// The frame whose payload is arriving.
    cur: Option<InFrame>,
}

#[derive(Debug, Clone, Copy)]
struct InFrame {
    opcode: Opcode,
    len: usize,
    got: usize,
    id: [u8; ID_LEN],
    ctl: [u8; 125],
}

impl FrameReader {
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
                        self.finish_if_done(out)?;
                    }
                    Err(e) => return Err(WireError::Frame(e.to_string())),
                }
                continue;
            };
            let take = (f.len - f.got).min(data.len());
            let chunk = &data[..take];
            match f.opcode {
                Opcode::Text | Opcode::Binary => {
                    // The id bytes are kept; the rest must match the pattern.
                    let mut at = 0;
                    while f.got + at < ID_LEN && at < take {
                        f.id[f.got + at] = chunk[at];
                        at += 1;
                    }
                    if at < take && chunk[at..] != *tpl.expected(f.got + at, take - at) {
                        return Err(WireError::Frame("echoed payload differs".into()));
                    }
                }
                _ => f.ctl[f.got..f.got + take].copy_from_slice(chunk),
            }
            f.got += take;
            data = &data[take..];
            self.finish_if_done(out)?;
        }
        Ok(())
    }

    fn start(&mut self, h: FrameHeader, tpl: &FrameTemplate) -> Result<(), WireError> {
        if h.mask().is_some() {
            return Err(WireError::Frame("masked frame from server".into()));
        }
        if !h.fin() || h.rsv() != 0 {
            return Err(WireError::Frame("fragmented or RSV frame".into()));
        }
        let len = usize::try_from(h.payload_len())
            .map_err(|_| WireError::Frame("frame too long".into()))?;
        match h.opcode() {
            Opcode::Text | Opcode::Binary if len != tpl.size() => {
                return Err(WireError::Frame(format!(
                    "message of {len} bytes, expected {}",
                    tpl.size()
                )))
            }
            Opcode::Close => return Err(WireError::Closed),
            Opcode::Continuation => return Err(WireError::Frame("unexpected continuation".into())),
            _ => {}
        }
        self.cur = Some(InFrame {
            opcode: h.opcode(),
            len,
            got: 0,
            id: [0; ID_LEN],
            ctl: [0; 125],
        });
        Ok(())
    }

    fn finish_if_done(&mut self, out: &mut Vec<Got>) -> Result<(), WireError> {
        let Some(f) = self.cur.filter(|f| f.got == f.len) else {
            return Ok(());
        };
        self.cur = None;
        match f.opcode {
            Opcode::Text | Opcode::Binary => {
                let id = decode_id(&f.id).ok_or_else(|| WireError::Frame("bad id".into()))?;
                out.push(Got::Message(id));
            }
            Opcode::Ping => out.push(Got::Ping(f.ctl, f.len)),
            _ => {}
        }
        Ok(())
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
            Ok(Status::Complete((h, n))) => (h, n),
            other => panic!("{other:?}"),
        };
        let mut payload = sent[h.1..].to_vec();
        tether_codec::apply_mask(&mut payload, MASK, 0);
        let header = FrameHeader::new(h.0.fin(), h.0.opcode(), None, h.0.payload_len());
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
        assert_eq!(check_response(&ok[..20]), Ok(None));
        assert_eq!(check_response(ok), Ok(Some(ok.len() - 2)));
        assert!(check_response(b"HTTP/1.1 503 Busy\r\n\r\n").is_err());
    }
}
