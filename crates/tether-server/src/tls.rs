//! TLS on one connection (RFC 8446 and RFC 5246, by rustls): ciphertext from the socket through rustls to plaintext for the codec, and the codec's output back, on the event loop's thread.
//!
//! rustls is sans-IO like the codec, so a TLS connection needs no thread and no copy but the
//! ones TLS itself makes. A connection without TLS never reaches this file.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::ServerConnection;
use tether_codec::Connection;

use crate::conn::Flush;

/// Plaintext rustls takes in for sending, at most: the rest waits in the codec's queue, where
/// backpressure and the memory budget see it.
const SEND_BUFFER: usize = 64 * 1024;

/// The TLS side of a connection just accepted.
pub(crate) fn accept(
    config: &Arc<rustls::ServerConfig>,
) -> Result<Box<ServerConnection>, rustls::Error> {
    let mut tls = ServerConnection::new(Arc::clone(config))?;
    tls.set_buffer_limit(Some(SEND_BUFFER));
    Ok(Box::new(tls))
}

/// The socket as rustls reads it, noting whether a read came back shorter than asked: then
/// the socket is empty for now, and with edge-triggered readiness the `recv` that would
/// only say `WouldBlock` can be saved, as on the plaintext path.
struct Probe<'a> {
    stream: &'a mut TcpStream,
    short: bool,
}

impl Read for Probe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// The socket as rustls writes it: one buffer goes by `send`, whose kernel path is shorter
/// than `writev`'s (rustls hands its records over as a vectored write even when there is one).
struct Sender<'a>(&'a mut TcpStream);

impl Write for Sender<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut full = bufs.iter().filter(|b| !b.is_empty());
        match (full.next(), full.next()) {
            (Some(one), None) => self.0.write(one),
            (None, _) => Ok(0),
            _ => self.0.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads plaintext into `buf`, reading and decrypting records from the socket as needed;
/// also says whether the socket may hold more (`false` once a socket read came back short).
/// `Ok(0)` is the end of the stream (after `close_notify` or without it: the codec's own
/// close handshake tells a clean end from a truncation). `WouldBlock` when the socket is empty.
/// A TLS error (a bad record, a failed handshake, plain HTTP on this port) sends rustls's
/// alert if the socket takes it and fails with `InvalidData`.
pub(crate) fn read(
    tls: &mut ServerConnection,
    stream: &mut TcpStream,
    buf: &mut [u8],
) -> io::Result<(usize, bool)> {
    let mut probe = Probe {
        stream,
        short: false,
    };
    loop {
        match tls.reader().read(buf) {
            Ok(n) => return Ok((n, !probe.short || n == buf.len())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((0, false)),
            Err(e) => return Err(e),
        }
        if probe.short {
            // Records came, but not a whole one yet: wait for the next edge.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match tls.read_tls(&mut probe) {
            // End of the TCP stream: processed below, then the reader says so.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if let Err(e) = tls.process_new_packets() {
            let _ = tls.write_tls(probe.stream);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
}

/// Hands pending plaintext (HTTP bytes first, then frames) to rustls as far as its buffer
/// takes it, and writes the records to the socket, until everything is written or the
/// socket is full. Plaintext given during the handshake goes out when it completes.
pub(crate) fn flush(
    tls: &mut ServerConnection,
    stream: &mut TcpStream,
    http_out: &mut Vec<u8>,
    codec: &mut Connection,
    written: &mut u64,
) -> io::Result<Flush> {
    loop {
        if !http_out.is_empty() {
            let n = tls.writer().write(http_out)?;
            http_out.drain(..n);
        }
        while http_out.is_empty() && codec.wants_write() {
            let mut slices = [io::IoSlice::new(&[]); 16];
            let k = codec.pending_output_vectored(&mut slices);
            let n = tls.writer().write_vectored(&slices[..k])?;
            if n == 0 {
                break;
            }
            codec.consume_output(n);
        }
        if !tls.wants_write() {
            // All written, or the rest waits for the handshake (the read side marks the
            // connection for writing once rustls has records to send).
            return Ok(Flush::Done);
        }
        match tls.write_tls(&mut Sender(stream)) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether everything handed to TLS is written and the handshake is over: only then may TCP
/// be shut.
pub(crate) fn settled(tls: &ServerConnection) -> bool {
    !tls.is_handshaking() && !tls.wants_write()
}

/// Sends `close_notify` before our FIN, if the socket takes it now (it is 31 bytes after all
/// output was written, so it does unless the peer stopped reading).
pub(crate) fn close_notify(tls: &mut ServerConnection, stream: &mut TcpStream) {
    tls.send_close_notify();
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(n) if n > 0 => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}
