//! The checks behind the cargo-fuzz targets in `fuzz_targets/`.
//!
//! Every target is one call to a `check_*` function here. Each takes the raw fuzzer input and
//! panics (through `assert!`) when an invariant of tether-codec (or of tether-server's PROXY
//! header parser) breaks, so a crash means a bug there or a wrong invariant, never "the input
//! was odd". They are plain functions so that `tests/seeds.rs` replays the committed seeds on
//! stable Rust with `cargo test`.

use std::mem::discriminant;

use tether_codec::__private::{apply_mask_reference, extend_unmasked};
use tether_codec::handshake::{
    self, list_tokens, AcceptKey, AcceptResponse, ClientHandshake, ClientRequest,
};
use tether_codec::{
    apply_mask, CloseCode, Config, Connection, Error, Event, FixedMasks, FrameHeader,
    HandshakeError, Message, Opcode, Role, State, Status,
};
use tether_server::proxy;

// ---------------------------------------------------------------------------------------------
// frame_header

/// `FrameHeader::decode`: round trip, prefixes, and errors that more bytes cannot undo.
pub fn check_frame_header(data: &[u8]) {
    match FrameHeader::decode(data) {
        Ok(Status::Complete((h, n))) => {
            assert!(n <= data.len(), "consumed {n} of {}", data.len());
            assert_eq!(n, h.encoded_len(), "{h:?}");
            let mut out = [0u8; FrameHeader::MAX_LEN];
            let m = h.encode(&mut out);
            assert_eq!(&out[..m], &data[..n], "re-encoding {h:?}");
            // What decode promises about every header it returns.
            assert_eq!(h.rsv() & !0x70, 0, "{h:?}");
            assert_eq!(h.payload_len() >> 63, 0, "{h:?}");
            if h.opcode().is_control() {
                assert!(h.fin() && h.payload_len() <= 125, "{h:?}");
            }
            // Bytes after the header change nothing; fewer bytes are never enough.
            assert_eq!(
                FrameHeader::decode(&data[..n]),
                Ok(Status::Complete((h, n)))
            );
            for k in 0..n {
                assert_eq!(
                    FrameHeader::decode(&data[..k]),
                    Ok(Status::Partial),
                    "prefix of {k} bytes"
                );
            }
        }
        Ok(Status::Partial) => {
            assert!(
                data.len() < FrameHeader::MAX_LEN,
                "partial after {} bytes",
                data.len()
            );
            for tail in [[0x00; FrameHeader::MAX_LEN], [0xFF; FrameHeader::MAX_LEN]] {
                let longer = [data, &tail[..]].concat();
                assert!(!FrameHeader::decode(&longer).is_ok_and(|s| s.is_partial()));
            }
        }
        Err(e) => {
            for tail in [[0x00; FrameHeader::MAX_LEN], [0xFF; FrameHeader::MAX_LEN]] {
                let longer = [data, &tail[..]].concat();
                assert_eq!(
                    FrameHeader::decode(&longer),
                    Err(e),
                    "more bytes changed the error"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// handshake_request

/// `parse_request` and what follows it on a server, with the default limits and with small
/// ones (libFuzzer's inputs stay under 4 KiB, below the default 8 KiB head limit).
pub fn check_handshake_request(data: &[u8]) {
    let mut small = Config::default();
    small.max_head_size = 256;
    small.max_headers = 8;
    for config in [Config::default(), small] {
        check_request_with(data, &config);
    }
}

fn check_request_with(data: &[u8], config: &Config) {
    let whole = handshake::parse_request(data, config);
    let limit = match &whole {
        Ok(Status::Complete((req, n))) => {
            let n = *n;
            assert!(n <= data.len(), "consumed {n} of {}", data.len());
            assert!(n <= config.max_head_size, "head of {n} bytes accepted");
            assert!(data[..n].ends_with(b"\r\n\r\n"));
            assert_eq!(handshake::parse_request(&data[..n], config), whole);
            check_accept_or_refuse(req);
            n
        }
        Ok(Status::Partial) => {
            assert!(
                data.len() < config.max_head_size,
                "partial after {} bytes",
                data.len()
            );
            data.len()
        }
        Err(e) => {
            check_error_response(e);
            data.len()
        }
    };
    // Bytes arriving in pieces: an earlier look gives Partial or an error of the same kind.
    for k in prefix_points(limit) {
        let part = handshake::parse_request(&data[..k], config);
        match (&whole, &part) {
            (_, Ok(Status::Partial)) => {}
            (Err(w), Err(p)) if discriminant(w) == discriminant(p) => {}
            _ => panic!(
                "first {k} bytes give {part:?}, all {} give {whole:?}",
                data.len()
            ),
        }
    }
}

/// What a server does with a complete request: a 101 if it validates, an HTTP error otherwise.
fn check_accept_or_refuse(req: &handshake::Request<'_>) {
    match handshake::validate_request(req) {
        Ok(key) => {
            let sent = req
                .header("sec-websocket-key")
                .expect("a valid request has a key");
            assert_eq!(key, AcceptKey::from_key(sent));
            let mut out = Vec::new();
            AcceptResponse::new(key)
                .write(req, &mut out)
                .expect("a validated request can always be accepted");
            assert!(
                out.starts_with(b"HTTP/1.1 101 "),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
            assert!(out.ends_with(b"\r\n\r\n"));
            let accept = [&b"\r\nSec-WebSocket-Accept: "[..], key.as_bytes(), b"\r\n"].concat();
            assert!(find(&out, &accept).is_some());
        }
        Err(e) => check_error_response(&e),
    }
}

/// Every fault of a request has an HTTP status, and the error response starts with it.
fn check_error_response(e: &HandshakeError) {
    let status = e
        .http_status()
        .unwrap_or_else(|| panic!("request fault {e:?} has no HTTP status"));
    let mut out = Vec::new();
    handshake::write_error_response(e, &mut out);
    let line = format!("HTTP/1.1 {status} ");
    assert!(
        out.starts_with(line.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(find(&out, b"\r\n\r\n").is_some());
}

// ---------------------------------------------------------------------------------------------
// handshake_response

/// The key that `FixedMasks::new(*b"the sample nonce")` produces (RFC 6455 §1.3).
pub const SAMPLE_KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";
/// Its accept value (RFC 6455 §1.3).
pub const SAMPLE_ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const OFFERED_PROTOCOLS: &[&str] = &["chat", "superchat"];

/// A client's `parse_response` after a request with the RFC's sample key.
pub fn check_handshake_response(data: &[u8]) {
    let config = Config::default();
    let offer = ClientRequest {
        host: "server.example.com",
        target: "/chat",
        subprotocols: OFFERED_PROTOCOLS,
        extensions: &["permessage-deflate; client_max_window_bits"],
        headers: &[("Origin", "http://example.com")],
    };
    let mut request = Vec::new();
    let mut nonce = FixedMasks::new(*b"the sample nonce");
    let hs = ClientHandshake::start(&offer, &mut nonce, &mut request).expect("a valid offer");
    assert!(find(&request, SAMPLE_KEY).is_some());

    let whole = hs.parse_response(data, &config);
    match &whole {
        Ok(Status::Complete((resp, n))) => {
            let n = *n;
            assert!(n <= data.len(), "consumed {n} of {}", data.len());
            assert!(data[..n].ends_with(b"\r\n\r\n"));
            assert_eq!(resp.status, 101);
            assert_eq!(resp.header("sec-websocket-accept"), Some(SAMPLE_ACCEPT));
            let chosen: Vec<&str> = resp
                .header_all("sec-websocket-protocol")
                .flat_map(list_tokens)
                .collect();
            assert!(chosen.len() <= 1 && chosen.iter().all(|p| OFFERED_PROTOCOLS.contains(p)));
            assert_eq!(hs.parse_response(&data[..n], &config), whole);
            for k in prefix_points(n) {
                assert_eq!(
                    hs.parse_response(&data[..k], &config),
                    Ok(Status::Partial),
                    "{k}"
                );
            }
        }
        Ok(Status::Partial) => {
            assert!(
                data.len() < config.max_head_size,
                "partial after {} bytes",
                data.len()
            );
        }
        Err(e) => assert_eq!(
            e.http_status(),
            None,
            "a response fault has no status: {e:?}"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

/// Limits and switches picked by one input byte; small limits let the fuzzer reach them.
pub fn config_from(b: u8) -> Config {
    let mut c = Config::default();
    c.auto_pong = b & 1 == 0;
    if b & 2 != 0 {
        c.allowed_rsv_bits = 0x40;
    }
    match (b >> 2) & 3 {
        1 => (c.max_frame_size, c.max_message_size) = (125, 125),
        2 => (c.max_frame_size, c.max_message_size) = (200, 1000),
        3 => (c.max_frame_size, c.max_message_size) = (1000, 300),
        _ => {}
    }
    c.validate().expect("fuzz configs are valid");
    c
}

fn new_connection(role: Role, config: Config) -> Connection {
    match role {
        Role::Server => Connection::server(config),
        Role::Client => Connection::client(config, FixedMasks::new([0x37, 0xfa, 0x21, 0x3d, 9])),
    }
    .expect("valid config")
}

/// A connection driven like a real peer would, checking every event and every output byte.
pub struct Checked {
    conn: Connection,
    role: Role,
    config: Config,
    /// Every event, in order.
    pub events: Vec<Result<Event, Error>>,
    /// Every byte the connection wanted to write, in order.
    pub output: Vec<u8>,
    /// Input bytes offered so far.
    fed: usize,
    eof: bool,
    /// The code the `Closed` event after a `CloseReceived` must carry.
    closed_due: Option<CloseCode>,
    /// An `Err` or `Closed` event was returned: nothing may follow.
    last_seen: bool,
}

impl Checked {
    /// A fresh connection in `role`.
    pub fn new(role: Role, config: Config) -> Checked {
        Checked {
            conn: new_connection(role, config),
            role,
            config,
            events: Vec::new(),
            output: Vec::new(),
            fed: 0,
            eof: false,
            closed_due: None,
            last_seen: false,
        }
    }

    /// Feeds `pieces` one `receive` at a time, draining events after each, then ends the stream.
    pub fn run(role: Role, config: Config, pieces: &[&[u8]]) -> Checked {
        let mut c = Checked::new(role, config);
        for piece in pieces {
            c.receive(piece);
            c.drain();
        }
        c.finish();
        c
    }

    /// One `receive`: refused only with the error that failed the connection.
    pub fn receive(&mut self, bytes: &[u8]) {
        let sticky = self.conn.error();
        let r = self.conn.receive(bytes);
        match sticky {
            Some(e) => assert_eq!(r, Err(e)),
            None => assert_eq!(
                r,
                Ok(()),
                "receive refused bytes although events were drained"
            ),
        }
        self.fed += bytes.len();
    }

    /// Like [`receive`](Self::receive), as a server reading into a buffer of its own does:
    /// whole messages are taken in place first (each checked like a polled event), and the
    /// rest goes to `receive`. After a failure the rest of `bytes` is dropped.
    pub fn receive_in_place(&mut self, bytes: &[u8]) {
        let mut buf = bytes.to_vec();
        let mut input = &mut buf[..];
        loop {
            let before = input.len();
            let ev = match self.conn.take_in_place(&mut input) {
                Ok(None) => break,
                Ok(Some(m)) => Ok(Event::Message(m.to_message())),
                Err(e) => Err(e),
            };
            self.fed += before - input.len();
            let out = self.conn.pending_output().to_vec();
            self.conn.consume_output(out.len());
            let failed = ev.is_err();
            self.check_event(&ev, &out);
            self.output.extend_from_slice(&out);
            self.events.push(ev);
            if failed {
                self.fed += input.len();
                return;
            }
        }
        self.receive(input);
    }

    /// `poll_event` until `None`, writing out what each event queued.
    pub fn drain(&mut self) {
        loop {
            let ev = self.conn.poll_event();
            let out = self.conn.pending_output().to_vec();
            self.conn.consume_output(out.len());
            assert!(!self.conn.wants_write());
            let Some(ev) = ev else {
                assert!(out.is_empty(), "output queued by a poll that returned None");
                break;
            };
            // Each event but the last consumes a frame header of 2 bytes or more.
            assert!(
                self.events.len() <= self.fed / 2 + 1,
                "more events than frames could carry"
            );
            self.check_event(&ev, &out);
            self.output.extend_from_slice(&out);
            self.events.push(ev);
        }
        assert!(self.conn.poll_event().is_none(), "None is not sticky");
        // A drained connection holds at most one partial frame, so `receive` cannot refuse.
        let bound = self.config.max_frame_size + FrameHeader::MAX_LEN;
        assert!(
            self.conn.buffered_input() < bound,
            "{} buffered",
            self.conn.buffered_input()
        );
        if self.last_seen {
            assert_eq!(self.conn.state(), State::Closed);
            assert!(self.conn.is_finished());
            assert!(!self.conn.wants_read());
        }
    }

    /// Ends the stream: the connection must end up closed with a final event.
    pub fn finish(&mut self) {
        self.conn.receive_eof();
        self.eof = true;
        self.drain();
        assert_eq!(self.conn.state(), State::Closed);
        assert!(
            self.last_seen,
            "stream ended without an Err or Closed event"
        );
        assert!(self.conn.is_finished());
        // Late bytes change nothing.
        self.receive(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        assert!(self.conn.poll_event().is_none());
        assert!(!self.conn.wants_write());
    }

    fn check_event(&mut self, ev: &Result<Event, Error>, out: &[u8]) {
        assert!(!self.last_seen, "{ev:?} after the last event");
        if let Some(code) = self.closed_due.take() {
            assert_eq!(
                ev,
                &Ok(Event::Closed { code, clean: true }),
                "after CloseReceived"
            );
            assert!(out.is_empty());
            self.last_seen = true;
            return;
        }
        let max_control = 125;
        match ev {
            Err(e) => {
                assert_eq!(self.conn.state(), State::Closed);
                assert_eq!(self.conn.error(), Some(*e));
                let code = e
                    .close_code()
                    .unwrap_or_else(|| panic!("peer fault {e:?} has no code"));
                // We never sent a Close, so the error's Close must be queued.
                assert_eq!(out.first(), Some(&0x88), "no close frame after {e:?}");
                let (op, payload) = self.single_frame(out);
                assert_eq!(op, Opcode::Close);
                assert!(payload.len() >= 2, "close frame without a code after {e:?}");
                assert_eq!(payload[..2], code.0.to_be_bytes(), "close code for {e:?}");
                assert!(std::str::from_utf8(&payload[2..]).is_ok());
                self.last_seen = true;
            }
            Ok(Event::Message(m)) => {
                assert_eq!(self.conn.state(), State::Open);
                assert!(out.is_empty());
                let len = m.as_bytes().len();
                assert!(
                    len <= self.config.max_message_size,
                    "message of {len} bytes"
                );
                assert!(len <= self.fed);
                if let Message::Text(t) = m {
                    assert!(
                        std::str::from_utf8(t.as_bytes()).is_ok(),
                        "text is not UTF-8"
                    );
                }
            }
            Ok(Event::Ping(p)) => {
                assert_eq!(self.conn.state(), State::Open);
                assert!(p.len() <= max_control);
                if self.config.auto_pong {
                    let (op, payload) = self.single_frame(out);
                    assert_eq!(op, Opcode::Pong);
                    assert_eq!(payload, p[..], "pong payload");
                } else {
                    assert!(out.is_empty());
                }
            }
            Ok(Event::Pong(p)) => {
                assert_eq!(self.conn.state(), State::Open);
                assert!(p.len() <= max_control);
                assert!(out.is_empty());
            }
            Ok(Event::CloseReceived(frame)) => {
                assert_eq!(self.conn.state(), State::Closed);
                assert_eq!(self.conn.error(), None);
                let (op, payload) = self.single_frame(out);
                assert_eq!(op, Opcode::Close);
                match frame {
                    None => {
                        assert!(payload.is_empty());
                        self.closed_due = Some(CloseCode::NO_STATUS);
                    }
                    Some(f) => {
                        assert!(f.code.is_valid_on_wire(), "{f:?}");
                        assert!(f.reason.len() <= 123, "{f:?}");
                        assert_eq!(payload, f.code.0.to_be_bytes(), "echoed close code");
                        self.closed_due = Some(f.code);
                    }
                }
            }
            Ok(Event::Closed { code, clean }) => {
                // Without a CloseReceived first, only the end of the stream closes.
                assert!(self.eof);
                assert_eq!((*code, *clean), (CloseCode::ABNORMAL, false));
                assert_eq!(self.conn.state(), State::Closed);
                assert!(out.is_empty());
                self.last_seen = true;
            }
        }
    }

    /// `out` is exactly one final, unreserved frame, masked as the role requires: its payload.
    fn single_frame(&self, out: &[u8]) -> (Opcode, Vec<u8>) {
        let Ok(Status::Complete((h, n))) = FrameHeader::decode(out) else {
            panic!("output is not a frame: {out:02x?}");
        };
        assert!(h.fin() && h.rsv() == 0, "{h:?}");
        assert_eq!(h.mask().is_some(), self.role == Role::Client, "{h:?}");
        let mut payload = out[n..].to_vec();
        assert_eq!(
            payload.len() as u64,
            h.payload_len(),
            "output is not one frame: {out:02x?}"
        );
        if let Some(key) = h.mask() {
            apply_mask(&mut payload, key, 0);
        }
        (h.opcode(), payload)
    }
}

/// `[chunk size, config, stream...]`: the stream in pieces of `chunk size` (0: whole).
fn check_connection(role: Role, data: &[u8]) {
    let [chunk, cfg, stream @ ..] = data else {
        return;
    };
    let size = if *chunk == 0 {
        stream.len().max(1)
    } else {
        usize::from(*chunk)
    };
    let pieces: Vec<&[u8]> = stream.chunks(size).collect();
    Checked::run(role, config_from(*cfg), &pieces);
}

/// A server connection fed arbitrary bytes.
pub fn check_server_connection(data: &[u8]) {
    check_connection(Role::Server, data);
}

/// A client connection fed arbitrary bytes.
pub fn check_client_connection(data: &[u8]) {
    check_connection(Role::Client, data);
}

/// `[config (bit 7: client role), n, n cut deltas, stream...]`: the events and the output do
/// not depend on how the stream is cut into `receive` calls.
pub fn check_chunk_invariance(data: &[u8]) {
    let Some((role, config, stream, pieces)) = cut_stream(data) else {
        return;
    };
    let whole = Checked::run(role, config, &[stream]);
    let split = Checked::run(role, config, &pieces);
    assert_eq!(
        split.events,
        whole.events,
        "cut into {:?}",
        lengths(&pieces)
    );
    assert_eq!(
        split.output,
        whole.output,
        "cut into {:?}",
        lengths(&pieces)
    );
    if stream.len() <= 512 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let single = Checked::run(role, config, &bytes);
        assert_eq!(single.events, whole.events, "byte by byte");
        assert_eq!(single.output, whole.output, "byte by byte");
    }
}

/// The input of [`check_chunk_invariance`]: a connection that takes whole messages in place
/// out of each piece (`Connection::take_in_place`), handing the rest to `receive`, sees the
/// same events and writes the same bytes as one fed the whole stream through `receive`.
pub fn check_in_place(data: &[u8]) {
    let Some((role, config, stream, pieces)) = cut_stream(data) else {
        return;
    };
    let whole = Checked::run(role, config, &[stream]);
    for pieces in [&pieces[..], &[stream][..]] {
        let mut c = Checked::new(role, config);
        for piece in pieces {
            c.receive_in_place(piece);
            c.drain();
        }
        c.finish();
        let cut = lengths(pieces);
        assert_eq!(c.events, whole.events, "in place, cut into {cut:?}");
        assert_eq!(c.output, whole.output, "in place, cut into {cut:?}");
    }
}

/// A role, limits, a stream and the stream in pieces.
type CutStream<'a> = (Role, Config, &'a [u8], Vec<&'a [u8]>);

/// `[cfg, ncuts, cuts..., stream...]`: the role and limits `cfg` picks, the stream, and the
/// stream cut after each of the `ncuts % 16` cut lengths.
fn cut_stream(data: &[u8]) -> Option<CutStream<'_>> {
    let [cfg, ncuts, rest @ ..] = data else {
        return None;
    };
    let role = if cfg & 0x80 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let (cuts, stream) = rest.split_at(usize::from(ncuts % 16).min(rest.len()));
    let mut pieces = Vec::new();
    let mut at = 0;
    for &d in cuts {
        let end = (at + usize::from(d)).min(stream.len());
        pieces.push(&stream[at..end]);
        at = end;
    }
    pieces.push(&stream[at..]);
    Some((role, config_from(*cfg), stream, pieces))
}

fn lengths(pieces: &[&[u8]]) -> Vec<usize> {
    pieces.iter().map(|p| p.len()).collect()
}

// ---------------------------------------------------------------------------------------------
// mask

/// `[key 4, offset 2 (big-endian), split, payload...]`: the fast mask equals the reference,
/// resumes at any split point, and undoes itself.
pub fn check_mask(data: &[u8]) {
    let [k0, k1, k2, k3, o0, o1, split, buf @ ..] = data else {
        return;
    };
    let key = [*k0, *k1, *k2, *k3];
    let offset = usize::from(u16::from_be_bytes([*o0, *o1]));
    let mut fast = buf.to_vec();
    apply_mask(&mut fast, key, offset);
    let mut slow = buf.to_vec();
    apply_mask_reference(&mut slow, key, offset);
    assert_eq!(fast, slow, "key {key:02x?} offset {offset}");

    let at = usize::from(*split) % (buf.len() + 1);
    let mut pieces = buf.to_vec();
    let (a, b) = pieces.split_at_mut(at);
    apply_mask(a, key, offset);
    apply_mask(b, key, offset + at);
    assert_eq!(pieces, fast, "split at {at}");

    apply_mask(&mut fast, key, offset);
    assert_eq!(fast, buf, "masking twice is not the identity");

    // Unmasking while appending, short and long (over 4 KiB takes the block path).
    let long: Vec<u8> = buf
        .iter()
        .copied()
        .cycle()
        .take(if buf.is_empty() { 0 } else { 4097 + at })
        .collect();
    for src in [buf, &long[..]] {
        let mut dst = bytes::BytesMut::from(&b"head"[..]);
        extend_unmasked(&mut dst, src, key, offset);
        let mut slow = src.to_vec();
        apply_mask_reference(&mut slow, key, offset);
        assert_eq!(&dst[..4], b"head");
        assert_eq!(&dst[4..], &slow[..], "extend_unmasked, {} bytes", src.len());
    }
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate (RFC 7692 §7.2)

/// The stream parameters a fuzz input's first byte picks: window bits 9-15, level 0-9, memory
/// level 1-9, context takeover or not.
fn deflate_params(b: u8, c: u8) -> (u8, u32, u8, bool) {
    (9 + b % 7, u32::from(c % 10), 1 + (b / 7) % 9, c & 0x80 != 0)
}

/// `[params 2, limit 2, cut, bytes...]`: arbitrary bytes inflated as one message's compressed
/// payload, in two pieces: never a panic, never more than the limit plus one byte kept, and
/// every error is the peer's fault (1007 corrupt data, 1009 too big).
pub fn check_deflate_inflate(data: &[u8]) {
    let [b, c, l0, l1, cut, input @ ..] = data else {
        return;
    };
    let (window, _, _, takeover_off) = deflate_params(*b, *c);
    let limit = usize::from(u16::from_be_bytes([*l0, *l1]));
    let Ok(mut inf) = tether_codec::deflate::Inflater::new(window, takeover_off) else {
        return;
    };
    let at = usize::from(*cut) % (input.len() + 1);
    let mut out = bytes::BytesMut::new();
    let first = inf.inflate(&input[..at], false, limit, &mut out);
    let result = first.and_then(|()| inf.inflate(&input[at..], true, limit, &mut out));
    assert!(
        out.len() <= limit + 1,
        "{} bytes kept over a limit of {limit}",
        out.len()
    );
    if let Err(e) = result {
        let code = e.close_code().map(|c| c.0);
        assert!(
            matches!(code, Some(1007 | 1009)),
            "{e:?} closes with {code:?}"
        );
    }
}

/// `[params 2, cuts 2, message...]`: compress then inflate is the identity, for every
/// parameter set, the message cut into two frames' worth of compressed bytes anywhere, and
/// twice in a row (context kept or reset as configured).
pub fn check_deflate_round_trip(data: &[u8]) {
    let [b, c, cut, split, msg @ ..] = data else {
        return;
    };
    let (window, level, mem, fresh) = deflate_params(*b, *c);
    let mut def = tether_codec::deflate::Deflater::new(window, level, mem, fresh)
        .expect("every parameter set in range is accepted");
    let mut inf = tether_codec::deflate::Inflater::new(window, fresh)
        .expect("every window in range is accepted");
    let at = usize::from(*split) % (msg.len() + 1);
    for message in [msg, &msg[..at], msg] {
        let mut z = bytes::BytesMut::new();
        def.compress(message, &mut z)
            .expect("compressing never fails");
        let k = usize::from(*cut) % (z.len() + 1);
        let mut out = bytes::BytesMut::new();
        inf.inflate(&z[..k], false, message.len(), &mut out)
            .and_then(|()| inf.inflate(&z[k..], true, message.len(), &mut out))
            .expect("our own compressed message inflates");
        assert_eq!(&out[..], message);
    }
}

// ---------------------------------------------------------------------------------------------
// proxy_header (tether-server)

/// Limits for v2 headers: the default, one that the addresses of IPv6 pass, and one below the
/// 16-byte fixed part, which no v2 header fits.
const PROXY_LIMITS: [usize; 3] = [proxy::DEFAULT_MAX_V2_LEN, 40, 15];

/// The longest v1 line, CRLF included.
const PROXY_V1_MAX: usize = 107;

/// `proxy::parse_with_limit` on arbitrary bytes, under each of [`PROXY_LIMITS`]: consumed ≤
/// input, bytes after a header change nothing and fewer are never enough, `Partial` only for
/// bytes that some ending makes a header, and an error stays an error.
pub fn check_proxy_header(data: &[u8]) {
    for max in PROXY_LIMITS {
        check_proxy_with(data, max);
    }
}

fn check_proxy_with(data: &[u8], max: usize) {
    let parse = |bytes: &[u8]| proxy::parse_with_limit(bytes, max);
    match parse(data) {
        Ok(proxy::Status::Complete(h, n)) => {
            assert!(n <= data.len(), "consumed {n} of {}", data.len());
            assert!(
                n <= max.max(PROXY_V1_MAX),
                "{n} bytes under a limit of {max}"
            );
            match (h.source, h.destination) {
                (Some(s), Some(d)) => assert_eq!(s.is_ipv4(), d.is_ipv4(), "{h:?}"),
                (None, None) => {}
                _ => panic!("one address without the other: {h:?}"),
            }
            if data[0] == b'P' {
                assert!(data[..n].ends_with(b"\r\n") && n <= PROXY_V1_MAX);
            } else {
                assert_eq!(
                    n,
                    16 + usize::from(u16::from_be_bytes([data[14], data[15]]))
                );
            }
            assert_eq!(parse(&data[..n]), Ok(proxy::Status::Complete(h, n)));
            for k in 0..n {
                assert_eq!(
                    parse(&data[..k]),
                    Ok(proxy::Status::Partial),
                    "prefix of {k}"
                );
            }
        }
        Ok(proxy::Status::Partial) => {
            assert!(
                data.len() < max.max(PROXY_V1_MAX),
                "partial after {} bytes",
                data.len()
            );
            let whole = proxy_endings(data).into_iter().any(|ending| {
                let bytes = [data, &ending].concat();
                matches!(parse(&bytes), Ok(proxy::Status::Complete(_, n)) if n == bytes.len())
            });
            assert!(
                whole,
                "partial, yet no ending makes {:?} a header",
                data.escape_ascii().to_string()
            );
        }
        Err(e) => {
            for tail in [&b"\r\n"[..], b" 0 0\r\n", &[0; 64]] {
                let longer = [data, tail].concat();
                assert!(parse(&longer).is_err(), "{e:?}, then more bytes parse");
            }
        }
    }
}

/// Endings that should make `start`, a valid start of a header, a whole one: of either
/// version while `start` is empty.
fn proxy_endings(start: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if start.first().map_or(true, |&b| b == b'P') {
        out.extend(proxy_v1_endings(start));
    }
    if start.first().map_or(true, |&b| b == b'\r') {
        out.extend(proxy_v2_endings(start));
    }
    out
}

/// The rest of one of three simple lines: from any point while the protocol name is being
/// written, else from a field boundary after one of the shortest ways to end a field.
fn proxy_v1_endings(start: &[u8]) -> Vec<Vec<u8>> {
    let lines: [&[u8]; 3] = [
        b"PROXY UNKNOWN\r\n",
        b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n",
        b"PROXY TCP6 :: :: 0 0\r\n",
    ];
    let in_name = !start.iter().skip(6).any(|&b| b == b' ');
    let field_endings: [&[u8]; 10] = [
        b"", b"0", b":", b"::", b".0", b"0.0", b".0.0", b"0.0.0", b".0.0.0", b"0.0.0.0",
    ];
    let mut out = Vec::new();
    for line in lines {
        for j in 0..=line.len() {
            if in_name {
                out.push(line[j..].to_vec());
            } else if matches!(line.get(j), Some(b' ' | b'\r' | b'\n')) {
                out.extend(field_endings.iter().map(|f| [f, &line[j..]].concat()));
            }
        }
    }
    out
}

/// The rest of a header with the bytes of `start` (`LOCAL` where it has no command yet) and
/// a length that covers each family's addresses.
fn proxy_v2_endings(start: &[u8]) -> Vec<Vec<u8>> {
    let lows = [0u16, 12, 36, 216];
    let lens: Vec<u16> = match (start.get(14), start.get(15)) {
        (Some(&h), Some(&l)) => vec![u16::from_be_bytes([h, l])],
        (Some(&h), None) => lows.iter().map(|l| u16::from(h) << 8 | l).collect(),
        _ => lows.to_vec(),
    };
    lens.into_iter()
        .filter_map(|len| {
            let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
            header.push(start.get(12).copied().unwrap_or(0x20));
            header.push(start.get(13).copied().unwrap_or(0x00));
            header.extend(len.to_be_bytes());
            header.resize(16 + usize::from(len), 0);
            header.get(start.len()..).map(<[u8]>::to_vec)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// helpers

/// Prefix lengths below `limit` worth checking: all of them for short inputs, else both ends
/// and a stride (keeps a 4 KiB input to a few hundred parses).
fn prefix_points(limit: usize) -> impl Iterator<Item = usize> {
    (0..limit).filter(move |&k| k < 128 || k + 128 >= limit || k % 61 == 0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
