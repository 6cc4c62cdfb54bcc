//! One TCP connection on an event loop: its phase, its deadlines and its socket I/O (RFC 6455 §4 handshake, §7.1.1 who closes TCP).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use tether_codec::Connection;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Reading the PROXY protocol header a trusted proxy sends before anything else (kept at
    /// the start of `head`, where the handshake reads the client's address from it).
    Proxy,
    /// Reading the opening request.
    Handshake,
    /// Refused or served over plain HTTP: writing the response, then closing.
    HttpOnly,
    /// Messages flow.
    Open,
    /// A Close was sent or received, or the peer failed: finishing the closing handshake.
    Closing,
    /// Our side of TCP is shut (FIN sent): reading until the peer closes too, or the deadline.
    Linger,
}

/// Why reads from a connection are paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paused {
    /// Reading.
    No,
    /// Its own output is over `output_high_water`.
    Backpressure,
    /// The process is over `max_buffered_bytes` and this connection holds more than its share.
    Memory,
}

/// A connection's state on its worker. Idle and open, it owns no heap memory but its
/// socket: the read buffer is the worker's, and output is held only while pending.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) phase: Phase,
    /// Request bytes while in `Handshake`.
    pub(crate) head: Vec<u8>,
    /// Bytes of `head` already searched for the end of the head: each byte is looked at once.
    pub(crate) scanned: u32,
    /// HTTP bytes (the 101 or an error) to write before any frame.
    pub(crate) http_out: Vec<u8>,
    pub(crate) codec: Connection,
    /// When the peer last sent anything.
    pub(crate) last_rx: Instant,
    /// Deadline of the handshake, close or linger phase.
    pub(crate) deadline: Instant,
    /// When the timer entry now armed for this connection fires.
    pub(crate) timer_at: Option<Instant>,
    pub(crate) ping_sent: bool,
    /// Registered for writable readiness.
    pub(crate) write_interest: bool,
    /// Not reading, and why.
    pub(crate) paused: Paused,
    /// An event said the peer's FIN (or an error) has come: edge-triggered readiness will not
    /// say it again.
    pub(crate) read_closed: bool,
    /// `on_open` is owed or was called, and `on_close` is still owed.
    pub(crate) app_open: bool,
    /// Counted in `tether_connections` (it reached the open state).
    pub(crate) was_open: bool,
    /// Holds one of the `max_connections` places (false for a 503 on its way out).
    pub(crate) counted: bool,
    /// Bytes of buffered input and pending output last added to the worker's total.
    pub(crate) accounted: usize,
    /// Queued for servicing at the end of the turn.
    pub(crate) dirty: bool,
    /// The rooms it is in: a boxed slice, 8 bytes smaller than a `Vec` in every
    /// connection, for joins and leaves that are rare next to messages.
    pub(crate) rooms: Box<[Arc<str>]>,
    /// The TLS session, on a `wss://` listener.
    pub(crate) tls: Option<Box<rustls::ServerConnection>>,
}

/// What a flush achieved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flush {
    /// Everything pending is written.
    Done,
    /// The socket is full; more is pending.
    Blocked,
}

impl Conn {
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        codec: Connection,
        now: Instant,
        deadline: Instant,
    ) -> Conn {
        Conn {
            stream,
            peer,
            phase: Phase::Handshake,
            head: Vec::new(),
            scanned: 0,
            http_out: Vec::new(),
            codec,
            last_rx: now,
            deadline,
            timer_at: None,
            ping_sent: false,
            write_interest: false,
            paused: Paused::No,
            read_closed: false,
            app_open: false,
            was_open: false,
            counted: true,
            accounted: 0,
            dirty: false,
            rooms: Box::default(),
            tls: None,
        }
    }

    /// Bytes waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        self.http_out.len() + self.codec.pending_output_len()
    }

    /// Memory this connection holds for buffered input and pending output: what
    /// `max_buffered_bytes` bounds over the process.
    pub(crate) fn buffered(&self) -> usize {
        self.head.capacity() + self.pending() + self.codec.buffered_capacity()
    }

    /// Writes pending HTTP bytes, then pending frames, until done or the socket is full;
    /// adds what it wrote to `written`.
    pub(crate) fn flush(&mut self, written: &mut u64) -> io::Result<Flush> {
        if let Some(tls) = self.tls.as_deref_mut() {
            let flushed = crate::tls::flush(
                tls,
                &mut self.stream,
                &mut self.http_out,
                &mut self.codec,
                written,
            );
            if self.http_out.is_empty() && self.http_out.capacity() > 0 {
                self.http_out = Vec::new();
            }
            return flushed;
        }
        while !self.http_out.is_empty() {
            match self.stream.write(&self.http_out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    *written += n as u64;
                    self.http_out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.http_out.capacity() > 0 {
            self.http_out = Vec::new();
        }
        while self.codec.wants_write() {
            // One vectored write for every piece queued (frames written by reference included).
            let mut slices = [io::IoSlice::new(&[]); 16];
            let n = self.codec.pending_output_vectored(&mut slices);
            // One piece goes by `send`: the kernel's path for it is shorter than `writev`'s.
            let wrote = if n == 1 {
                self.stream.write(&slices[0])
            } else {
                self.stream.write_vectored(&slices[..n])
            };
            match wrote {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    *written += n as u64;
                    self.codec.consume_output(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Flush::Done)
    }

    /// One read into the worker's buffer (plaintext, through TLS when there is TLS), and
    /// whether the socket may hold more: not after a read shorter than asked.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        // The PROXY header comes before TLS, in clear.
        if let (Some(tls), false) = (self.tls.as_deref_mut(), self.phase == Phase::Proxy) {
            return crate::tls::read(tls, &mut self.stream, buf);
        }
        loop {
            match self.stream.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other.map(|n| (n, n == buf.len())),
            }
        }
    }

    /// Whether TLS has records to write (a handshake flight, an alert, data).
    pub(crate) fn tls_wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Sends TLS's `close_notify`, if there is TLS, before our FIN.
    pub(crate) fn close_notify(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            crate::tls::close_notify(tls, &mut self.stream);
        }
    }

    /// Whether all output is written and nothing more will be produced: time to shut TCP.
    pub(crate) fn ready_to_shut(&self) -> bool {
        if self.tls.as_deref().is_some_and(|t| !crate::tls::settled(t)) {
            return false;
        }
        match self.phase {
            Phase::HttpOnly => self.http_out.is_empty(),
            Phase::Open | Phase::Closing => self.http_out.is_empty() && self.codec.is_finished(),
            Phase::Proxy | Phase::Handshake | Phase::Linger => false,
        }
    }
}

/// Whether a plain HTTP answer may have `status`: a final status (200–599) that carries a
/// body (not 204 or 304; RFC 9110 §6.4.1). The server never sends 1xx but the 101.
pub(crate) fn final_status_with_body(status: u16) -> bool {
    (200..=599).contains(&status) && tether_codec::handshake::status_has_body(status)
}

/// A plain HTTP response with a body (the server's own answers: 503, pages), its reason
/// phrase from the codec's one table.
pub(crate) fn http_response(status: u16, content_type: &str, body: &[u8], out: &mut Vec<u8>) {
    let reason = tether_codec::handshake::reason_phrase(status).unwrap_or("");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_connection_is_small() {
        // The per-connection user-space cost while idle: this struct in the slab, no buffers.
        let size = std::mem::size_of::<Conn>();
        assert!(size <= 512, "Conn is {size} bytes");
    }
}
