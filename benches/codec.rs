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

mod support;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use support::{
    fws_server, masked_frame, now, payload, tether_server, tungstenite_server, Replay, KEY, SIZES,
};
use tether_codec::__private::apply_mask_reference;
use tether_codec::apply_mask;
use tether_codec::handshake::{parse_request, validate_request, AcceptResponse};
use tether_codec::{Config, Connection, Event, FrameHeader, Opcode, Outgoing, Status};

/// Frames in the `stream_small` buffer.
const STREAM_FRAMES: usize = 1000;
/// Payload size of each frame in `stream_small`.
const STREAM_PAYLOAD: usize = 20;

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n\r\n";

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
            let end = n + h.payload_len() as usize;
            if let Some(key) = h.mask() {
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
                let h = FrameHeader::new(true, Opcode::Binary, None, size as u64);
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
