//! Shared set-up of the codec benches (RFC 6455 §5.2–§5.3): masked client frames, a tether server connection, and an in-memory stream for tungstenite and fastwebsockets.

use std::cell::Cell;
use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tether_codec::__private::apply_mask_reference;
use tether_codec::{Config, Connection, FrameHeader, Opcode};

/// Payload sizes the issue asks for: tiny, largest control-sized, 1 KiB, 64 KiB, 1 MiB.
pub const SIZES: [usize; 5] = [16, 125, 1024, 64 * 1024, 1 << 20];
/// The RFC 6455 §5.7 example key.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A deterministic payload (printable ASCII, so it is valid text too).
pub fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| b' ' + (i % 95) as u8).collect()
}

/// One masked client frame carrying `data`, encoded with tether's header codec and the
/// reference masker (so the input does not depend on the code under test's fast path).
pub fn masked_frame(opcode: Opcode, data: &[u8]) -> Vec<u8> {
    let header = FrameHeader::new(true, opcode, Some(KEY), data.len() as u64);
    let mut head = [0u8; FrameHeader::MAX_LEN];
    let n = header.encode(&mut head);
    let mut out = head[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(data);
    apply_mask_reference(&mut out[start..], KEY, 0);
    out
}

/// A server connection that accepts frames up to 2 MiB (the default limit is 1 MiB of payload).
pub fn tether_server() -> Connection {
    let mut config = Config::default();
    config.max_frame_size = 2 << 20;
    config.max_message_size = 2 << 20;
    Connection::server(config).expect("valid config")
}

/// An in-memory socket: reads replay `data` from a shared position, writes are discarded.
///
/// The position is shared so a bench can rewind a stream that a library owns (fastwebsockets
/// gives no access to its stream).
pub struct Replay {
    data: Rc<[u8]>,
    pos: Rc<Cell<usize>>,
}

impl Replay {
    /// The stream and a handle that rewinds it.
    pub fn new(data: &[u8]) -> (Self, Rc<Cell<usize>>) {
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
pub fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    NOOP.with(|waker| {
        let mut cx = Context::from_waker(waker);
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("an in-memory stream never blocks"),
        }
    })
}

pub fn tungstenite_server(data: &[u8]) -> (tungstenite::WebSocket<Replay>, Rc<Cell<usize>>) {
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

pub fn fws_server(data: &[u8]) -> (fastwebsockets::WebSocket<Replay>, Rc<Cell<usize>>) {
    let (stream, pos) = Replay::new(data);
    let ws = fastwebsockets::WebSocket::after_handshake(stream, fastwebsockets::Role::Server);
    (ws, pos)
}
