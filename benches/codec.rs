//! Codec benchmarks (RFC 6455 §4.2, §5.2–§5.3): tether-codec against tungstenite and fastwebsockets, like for like.
//!
//! Every group runs the same bytes through each library's public API, so the figures sit side
//! by side in one criterion run (`cargo bench --bench codec`; `benches/report.py` turns
//! `target/criterion/**/estimates.json` into ratios):
//!
//! - `decode_api/{tether,tungstenite,fastwebsockets}/SIZE`: one masked binary client frame of
//!   SIZE bytes through the server role's real read path (tether: `Connection::receive` +
//!   `poll_event`; tungstenite: `WebSocket::read`; fastwebsockets: `WebSocket::read_frame`),
//!   including the one copy each makes from the "socket" into its buffer.
//! - `decode_raw/tether/SIZE`: copy + `FrameHeader::decode` + `apply_mask`, no state machine.
//! - `stream_small`: 1,000 masked 20-byte frames read from one buffer.
//! - `encode_api` / `encode_raw`: one unmasked server frame of SIZE bytes.
//! - `unmask`: XOR alone: tether's `apply_mask`, its byte-loop reference, fastwebsockets' `unmask`.
//! - `handshake`: parse + validate + `101` response (tether) vs `tungstenite::accept`.
//!
//! The in-memory streams never block, so async reads complete on the first poll.

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tether_codec::frame::mask::{apply_mask, apply_mask_reference};
use tether_codec::handshake::{parse_request, validate_request, AcceptResponse};
use tether_codec::{Config, Connection, Event, FrameHeader, Opcode, Outgoing, Status};

/// Payload sizes the issue asks for: tiny, largest control-sized, 1 KiB, 64 KiB, 1 MiB.
const SIZES: [usize; 5] = [16, 125, 1024, 64 * 1024, 1 << 20];
/// The RFC 6455 §5.7 example key.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Frames in the `stream_small` buffer.
const STREAM_FRAMES: usize = 1000;
/// Payload size of each frame in `stream_small`.
const STREAM_PAYLOAD: usize = 20;

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A deterministic payload (printable ASCII, so it is valid text too).
fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| b' ' + (i % 95) as u8).collect()
}

/// One masked client frame carrying `data`, encoded with tether's header codec and the
/// reference masker (so the input does not depend on the code under test's fast path).
fn masked_frame(opcode: Opcode, data: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: Some(KEY),
        payload_len: data.len() as u64,
    };
    let mut head = [0u8; FrameHeader::MAX_LEN];
    let n = header.encode(&mut head);
    let mut out = head[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(data);
    apply_mask_reference(&mut out[start..], KEY, 0);
    out
}

/// A server connection that accepts frames up to 2 MiB (the default limit is 1 MiB of payload).
fn tether_server() -> Connection {
    let mut config = Config::default();
    config.max_frame_size = 2 << 20;
    config.max_message_size = 2 << 20;
    Connection::server(config).expect("valid config")
}

/// An in-memory socket: reads replay `data` from a shared position, writes are discarded.
///
/// The position is shared so a bench can rewind a stream that a library owns (fastwebsockets
/// gives no access to its stream).
struct Replay {
    data: Rc<[u8]>,
    pos: Rc<Cell<usize>>,
}

impl Replay {
    /// The stream and a handle that rewinds it.
    fn new(data: &[u8]) -> (Self, Rc<Cell<usize>>) {
        let pos = Rc::new(Cell::new(0));
        let r = Replay {
            data: data.into(),
            pos: pos.clone(),
        };
        (r, pos)
    }
    fn chunk(&mut self, max: usize) -> &[u8] {
        let at = self.pos.get();
        let end = (at + max).min(self.data.len());
        self.pos.set(end);
        &self.data[at..end]
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = self.chunk(buf.len());
        let n = s.len();
        buf[..n].copy_from_slice(s);
        Ok(n)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let s = self.chunk(buf.remaining());
        buf.put_slice(s);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Replay {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A waker that does nothing: nothing ever waits.
struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

thread_local! {
    /// Built once, so polling costs no allocation.
    static NOOP: Waker = Waker::from(Arc::new(NoopWake));
}

/// Polls a future once: over [`Replay`] every fastwebsockets call completes at once.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    NOOP.with(|waker| {
        let mut cx = Context::from_waker(waker);
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("an in-memory stream never blocks"),
        }
    })
}

fn tungstenite_server(data: &[u8]) -> (tungstenite::WebSocket<Replay>, Rc<Cell<usize>>) {
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_frame_size(Some(2 << 20))
        .max_message_size(Some(2 << 20));
    let (stream, pos) = Replay::new(data);
    let ws = tungstenite::WebSocket::from_raw_socket(
        stream,
        tungstenite::protocol::Role::Server,
        Some(config),
    );
    (ws, pos)
}

fn fws_server(data: &[u8]) -> (fastwebsockets::WebSocket<Replay>, Rc<Cell<usize>>) {
    let (stream, pos) = Replay::new(data);
    let ws = fastwebsockets::WebSocket::after_handshake(stream, fastwebsockets::Role::Server);
    (ws, pos)
}

/// Server-role decode + unmask of one masked binary frame, through each library's read API.
fn decode_api(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_api");
    for &size in &SIZES {
        let data = payload(size);
        let frame = masked_frame(Opcode::Binary, &data);
        g.throughput(Throughput::Bytes(size as u64));

        let mut conn = tether_server();
        conn.receive(&frame).expect("receive");
        match conn.poll_event() {
            Some(Ok(Event::Message(m))) => assert_eq!(m.as_bytes(), &data[..]),
            other => panic!("tether decoded {other:?}"),
        }
        g.bench_function(BenchmarkId::new("tether", size), |b| {
            b.iter(|| {
                conn.receive(black_box(&frame)).expect("receive");
                match conn.poll_event() {
                    Some(Ok(Event::Message(m))) => black_box(m),
                    _ => unreachable!(),
                };
            })
        });

        let (mut ws, pos) = tungstenite_server(&frame);
        assert_eq!(ws.read().expect("read").into_data().as_ref(), &data[..]);
        g.bench_function(BenchmarkId::new("tungstenite", size), |b| {
            b.iter(|| {
                pos.set(0);
                black_box(ws.read().expect("read"));
            })
        });

        let (mut fws, pos) = fws_server(&frame);
        assert_eq!(&now(fws.read_frame()).expect("read").payload[..], &data[..]);
        g.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
            b.iter(|| {
                pos.set(0);
                let f = now(fws.read_frame()).expect("read");
                black_box(f.payload.len());
            })
        });
    }
    g.finish();
}

/// The tether read path without the state machine: header decode and in-place unmask
/// (the copy stands for the read into a buffer that the API paths make too).
fn decode_raw(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_raw");
    for &size in &SIZES {
        let data = payload(size);
        let frame = masked_frame(Opcode::Binary, &data);
        let mut buf = frame.clone();
        let run = |buf: &mut Vec<u8>| {
            buf.copy_from_slice(black_box(&frame));
            let Ok(Status::Complete((h, n))) = FrameHeader::decode(buf) else {
                unreachable!()
            };
            let end = n + h.payload_len as usize;
            if let Some(key) = h.mask {
                apply_mask(&mut buf[n..end], key, 0);
            }
        };
        // Checked once up front: a filter may skip the benchmark itself.
        run(&mut buf);
        assert_eq!(&buf[frame.len() - size..], &data[..]);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("tether", size), |b| {
            b.iter(|| {
                run(&mut buf);
                black_box(&buf);
            })
        });
    }
    g.finish();
}

/// 1,000 masked 20-byte binary frames arriving in one buffer (a pipelining client).
fn stream_small(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream_small");
    let data = payload(STREAM_PAYLOAD);
    let one = masked_frame(Opcode::Binary, &data);
    let all: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * STREAM_FRAMES)
        .collect();
    g.throughput(Throughput::Elements(STREAM_FRAMES as u64));
    let id = format!("{STREAM_FRAMES}x{STREAM_PAYLOAD}B");

    let mut conn = tether_server();
    g.bench_function(BenchmarkId::new("tether", &id), |b| {
        b.iter(|| {
            conn.receive(black_box(&all)).expect("receive");
            let mut n = 0;
            while let Some(ev) = conn.poll_event() {
                if let Ok(Event::Message(m)) = ev {
                    n += m.as_bytes().len();
                }
            }
            assert_eq!(n, STREAM_FRAMES * STREAM_PAYLOAD);
        })
    });

    let (mut ws, pos) = tungstenite_server(&all);
    g.bench_function(BenchmarkId::new("tungstenite", &id), |b| {
        b.iter(|| {
            pos.set(0);
            for _ in 0..STREAM_FRAMES {
                black_box(ws.read().expect("read"));
            }
        })
    });

    let (mut fws, pos) = fws_server(&all);
    g.bench_function(BenchmarkId::new("fastwebsockets", &id), |b| {
        b.iter(|| {
            pos.set(0);
            for _ in 0..STREAM_FRAMES {
                let f = now(fws.read_frame()).expect("read");
                black_box(f.payload.len());
            }
        })
    });
    g.finish();
}

/// One unmasked server frame of each size, through each library's send path into a sink.
fn encode_api(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_api");
    for &size in &SIZES {
        let data = payload(size);
        g.throughput(Throughput::Bytes(size as u64));

        let mut conn = tether_server();
        g.bench_function(BenchmarkId::new("tether", size), |b| {
            b.iter(|| {
                conn.send(Outgoing::Binary(black_box(&data))).expect("send");
                let n = conn.pending_output().len();
                black_box(conn.pending_output());
                conn.consume_output(n);
            })
        });

        let (mut ws, _) = tungstenite_server(&[]);
        let bytes = tungstenite::Bytes::from(data.clone());
        g.bench_function(BenchmarkId::new("tungstenite", size), |b| {
            b.iter(|| {
                ws.send(tungstenite::Message::Binary(black_box(bytes.clone())))
                    .expect("send");
            })
        });

        let (mut fws, _) = fws_server(&[]);
        g.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
            b.iter(|| {
                let f = fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(
                    black_box(&data),
                ));
                now(fws.write_frame(f)).expect("write");
            })
        });
    }
    g.finish();
}

/// Header encode + payload copy into a reused buffer, each library's frame-level API.
fn encode_raw(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_raw");
    for &size in &SIZES {
        let data = payload(size);
        g.throughput(Throughput::Bytes(size as u64));
        let mut out: Vec<u8> = Vec::with_capacity(size + 14);

        g.bench_function(BenchmarkId::new("tether", size), |b| {
            b.iter(|| {
                out.clear();
                let h = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: Opcode::Binary,
                    mask: None,
                    payload_len: size as u64,
                };
                let mut head = [0u8; FrameHeader::MAX_LEN];
                let n = h.encode(&mut head);
                out.extend_from_slice(&head[..n]);
                out.extend_from_slice(black_box(&data));
                black_box(&out);
            })
        });

        let bytes = tungstenite::Bytes::from(data.clone());
        g.bench_function(BenchmarkId::new("tungstenite", size), |b| {
            b.iter(|| {
                out.clear();
                let f = tungstenite::protocol::frame::Frame::message(
                    black_box(bytes.clone()),
                    tungstenite::protocol::frame::coding::OpCode::Data(
                        tungstenite::protocol::frame::coding::Data::Binary,
                    ),
                    true,
                );
                f.format(&mut out).expect("format");
                black_box(&out);
            })
        });

        g.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
            b.iter(|| {
                out.clear();
                let mut f = fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(
                    black_box(&data),
                ));
                black_box(f.write(&mut out));
            })
        });
    }
    g.finish();
}

/// XOR alone, in place: tether's fast path, its byte-loop reference, fastwebsockets' `unmask`.
fn unmask(c: &mut Criterion) {
    let mut g = c.benchmark_group("unmask");
    for &size in &SIZES {
        let mut buf = payload(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("tether", size), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 0))
        });
        g.bench_function(BenchmarkId::new("reference", size), |b| {
            b.iter(|| apply_mask_reference(black_box(&mut buf), KEY, 0))
        });
        g.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
            b.iter(|| fastwebsockets::unmask(black_box(&mut buf), KEY))
        });
    }
    g.finish();
}

/// Server opening handshake: parse + validate + 101 response + connection state.
fn handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    let config = Config::default();
    let mut out = Vec::with_capacity(256);
    g.bench_function("tether", |b| {
        b.iter(|| {
            out.clear();
            let Ok(Status::Complete((req, _used))) = parse_request(black_box(REQUEST), &config)
            else {
                unreachable!()
            };
            let key = validate_request(&req).expect("valid");
            AcceptResponse::new(key)
                .write(&req, &mut out)
                .expect("write");
            black_box(Connection::server(config).expect("config"));
            black_box(&out);
        })
    });
    g.bench_function("tungstenite", |b| {
        b.iter(|| {
            let (stream, _) = Replay::new(black_box(REQUEST));
            black_box(tungstenite::accept(stream).expect("accept"));
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(30);
    targets = decode_api, decode_raw, stream_small, encode_api, encode_raw, unmask, handshake
}
criterion_main!(benches);
