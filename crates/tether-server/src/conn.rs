//! One TCP connection on an event loop: its phase, its deadlines and its socket I/O (RFC 6455 §4 handshake, §7.1.1 who closes TCP).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use tether_codec::Connection;

use crate::timers::{Millis, NO_TIMER};

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
/// socket: the read buffer is the worker's, output is held only while pending, and what only
/// the handshake, rooms or TLS need is boxed apart (see `an_open_connection_is_small`).
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) phase: Phase,
    /// Not reading, and why.
    pub(crate) paused: Paused,
    pub(crate) ping_sent: bool,
    /// Registered for writable readiness.
    pub(crate) write_interest: bool,
    /// An event said the peer's FIN (or an error) has come: edge-triggered readiness will not
    /// say it again.
    pub(crate) read_closed: bool,
    /// `on_open` is owed or was called, and `on_close` is still owed.
    pub(crate) app_open: bool,
    /// Counted in `tether_connections` (it reached the open state).
    pub(crate) was_open: bool,
    /// Holds one of the `max_connections` places (false for a 503 on its way out).
    pub(crate) counted: bool,
    /// Queued for servicing at the end of the turn.
    pub(crate) dirty: bool,
    pub(crate) codec: Connection,
    /// When the peer last sent anything.
    pub(crate) last_rx: Millis,
    /// Deadline of the handshake, close or linger phase.
    pub(crate) deadline: Millis,
    /// When the timer entry now armed for this connection fires ([`NO_TIMER`]: none).
    pub(crate) timer_at: Millis,
    /// Bytes of buffered input and pending output last added to the worker's total.
    pub(crate) accounted: usize,
    pub(crate) peer: SocketAddr,
    /// The request and the HTTP answer, until the handshake is over and the answer written.
    pub(crate) hs: Option<Box<Handshake>>,
    /// Rooms and TLS, for the connections that have either.
    pub(crate) extra: Option<Box<Extra>>,
}

/// What a connection holds only during the opening handshake.
#[derive(Debug, Default)]
pub(crate) struct Handshake {
    /// Request bytes while in `Proxy` or `Handshake`.
    pub(crate) head: Vec<u8>,
    /// Bytes of `head` already searched for the end of the head: each byte is looked at once.
    pub(crate) scanned: u32,
    /// HTTP bytes (the 101 or an error) to write before any frame.
    pub(crate) http_out: Vec<u8>,
}

/// What only some connections have, boxed together: a plaintext connection in no room pays
/// one pointer for both.
#[derive(Default)]
pub(crate) struct Extra {
    /// The rooms it is in: joins and leaves are rare next to messages.
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
        now: Millis,
        deadline: Millis,
    ) -> Conn {
        Conn {
            stream,
            phase: Phase::Handshake,
            paused: Paused::No,
            ping_sent: false,
            write_interest: false,
            read_closed: false,
            app_open: false,
            was_open: false,
            counted: true,
            dirty: false,
            codec,
            last_rx: now,
            deadline,
            timer_at: NO_TIMER,
            accounted: 0,
            peer,
            hs: Some(Box::default()),
            extra: None,
        }
    }

    /// The handshake's buffers (boxed again if they were freed: the 503 path reuses them).
    pub(crate) fn hs(&mut self) -> &mut Handshake {
        self.hs.get_or_insert_with(Box::default)
    }

    /// The TLS session, if there is one.
    pub(crate) fn tls(&self) -> Option<&rustls::ServerConnection> {
        self.extra.as_ref()?.tls.as_deref()
    }

    pub(crate) fn tls_mut(&mut self) -> Option<&mut rustls::ServerConnection> {
        self.extra.as_mut()?.tls.as_deref_mut()
    }

    pub(crate) fn set_tls(&mut self, tls: Box<rustls::ServerConnection>) {
        self.extra.get_or_insert_with(Box::default).tls = Some(tls);
    }

    /// Takes the rooms it is in, leaving none.
    pub(crate) fn take_rooms(&mut self) -> Box<[Arc<str>]> {
        let rooms = self.extra.as_mut().map(|x| std::mem::take(&mut x.rooms));
        self.set_rooms(Box::default());
        rooms.unwrap_or_default()
    }

    /// Replaces the rooms it is in; the box goes when it holds nothing.
    pub(crate) fn set_rooms(&mut self, rooms: Box<[Arc<str>]>) {
        match self.extra.as_mut() {
            Some(x) => x.rooms = rooms,
            None if rooms.is_empty() => {}
            None => self.extra = Some(Box::new(Extra { rooms, tls: None })),
        }
        if self
            .extra
            .as_ref()
            .is_some_and(|x| x.rooms.is_empty() && x.tls.is_none())
        {
            self.extra = None;
        }
    }

    /// HTTP bytes waiting to be written.
    fn http_pending(&self) -> usize {
        self.hs.as_ref().map_or(0, |h| h.http_out.len())
    }

    /// Bytes waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        self.http_pending() + self.codec.pending_output_len()
    }

    /// Memory this connection holds for buffered input and pending output: what
    /// `max_buffered_bytes` bounds over the process.
    pub(crate) fn buffered(&self) -> usize {
        let head = self.hs.as_ref().map_or(0, |h| h.head.capacity());
        head + self.pending() + self.codec.buffered_capacity()
    }

    /// Frees the handshake's box once its answer is written and no request is being read.
    fn handshake_done(&mut self) {
        let done = self.hs.as_ref().is_some_and(|h| h.http_out.is_empty())
            && !matches!(self.phase, Phase::Proxy | Phase::Handshake);
        if done {
            self.hs = None;
        }
    }

    /// Writes pending HTTP bytes, then pending frames, until done or the socket is full;
    /// adds what it wrote to `written`.
    pub(crate) fn flush(&mut self, written: &mut u64) -> io::Result<Flush> {
        if let Some(tls) = self.extra.as_mut().and_then(|x| x.tls.as_deref_mut()) {
            let mut none = Vec::new();
            let http_out = self.hs.as_mut().map_or(&mut none, |h| &mut h.http_out);
            let flushed =
                crate::tls::flush(tls, &mut self.stream, http_out, &mut self.codec, written);
            self.handshake_done();
            return flushed;
        }
        if let Some(hs) = self.hs.as_mut() {
            while !hs.http_out.is_empty() {
                match self.stream.write(&hs.http_out) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        *written += n as u64;
                        hs.http_out.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            hs.http_out = Vec::new();
            self.handshake_done();
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
        if self.phase != Phase::Proxy {
            if let Some(tls) = self.extra.as_mut().and_then(|x| x.tls.as_deref_mut()) {
                return crate::tls::read(tls, &mut self.stream, buf);
            }
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
        self.tls().is_some_and(|t| t.wants_write())
    }

    /// Sends TLS's `close_notify`, if there is TLS, before our FIN.
    pub(crate) fn close_notify(&mut self) {
        if let Some(tls) = self.extra.as_mut().and_then(|x| x.tls.as_deref_mut()) {
            crate::tls::close_notify(tls, &mut self.stream);
        }
    }

    /// Whether all output is written and nothing more will be produced: time to shut TCP.
    pub(crate) fn ready_to_shut(&self) -> bool {
        if self.tls().is_some_and(|t| !crate::tls::settled(t)) {
            return false;
        }
        match self.phase {
            Phase::HttpOnly => self.http_pending() == 0,
            Phase::Open | Phase::Closing => self.http_pending() == 0 && self.codec.is_finished(),
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
        // The per-connection user-space cost while idle: this struct in the slab, no buffers
        // (benches/idle-layout.md has the layout).
        let size = std::mem::size_of::<Conn>();
        // mio's socket carries a selector id in debug builds: 16 bytes, not 4.
        let bound = if cfg!(debug_assertions) { 144 } else { 128 };
        assert!(size <= bound, "Conn is {size} bytes");
    }
}
