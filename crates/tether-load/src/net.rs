//! The load generator's sockets (RFC 6455 §4.1 client side): non-blocking connects from chosen 127.0.0.x sources, the opening handshake, and buffered reads and writes on one mio loop.
//!
//! [`Net`] owns every connection and the shared read buffer. A mode drives it: it calls
//! [`Net::poll`], then gets each connection's verified messages through a callback and queues
//! replies with [`Net::queue`]; [`Net::flush_dirty`] writes them once per turn, so replies to
//! a batch of echoes leave in one `write`.
//!
//! A `wss://` connection has a rustls `ClientConnection` between its socket and the rest, on
//! the same thread: ciphertext read from the socket goes into rustls and the plaintext out of
//! it into the `FrameReader`; queued bytes go into rustls and its records to the socket. A
//! `ws://` connection only checks that it has none.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::ClientConnection;
use socket2::{Domain, Socket, Type};

use crate::tls::TlsClient;
use crate::wire::{self, FrameReader, FrameTemplate, Got, WireError};

/// Size of the read buffer shared by all connections.
const READ_BUF: usize = 256 * 1024;
/// Size of the buffer for the plaintext out of rustls, shared by all TLS connections (a
/// record holds 16 KiB at most; more is read in turns).
const PLAIN_BUF: usize = 64 * 1024;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect in progress; the request is queued.
    Connecting,
    /// Request sent (or sending); waiting for the `101`.
    Handshake,
    /// Frames flow.
    Open,
    /// Failed or closed; ignored from now on.
    Dead,
}

/// One client connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    /// Where it stands.
    pub phase: Phase,
    /// Response head bytes while in `Handshake`.
    head: Vec<u8>,
    /// Bytes waiting to be written (reused; its capacity is kept).
    out: Vec<u8>,
    /// How much of `out` is written.
    out_pos: usize,
    reader: FrameReader,
    /// TLS, on a `wss://` connection.
    tls: Option<Box<ClientConnection>>,
    write_interest: bool,
    dirty: bool,
}

impl Conn {
    /// What the TLS handshake agreed (`None` for `ws://` or before it completes).
    pub fn tls_description(&self) -> Option<String> {
        self.tls
            .as_deref()
            .filter(|t| !t.is_handshaking())
            .map(crate::tls::describe)
    }
}

/// What a turn of the loop reports to the mode for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The handshake completed.
    Opened,
    /// Verified messages, in arrival order.
    Messages,
    /// The connection failed.
    Failed(String),
}

/// All connections of one run on one `mio::Poll`.
pub struct Net {
    poll: Poll,
    events: Events,
    /// The connections, indexed by token.
    pub conns: Vec<Conn>,
    /// Where connections go, round-robin by index.
    targets: Vec<SocketAddr>,
    request: Vec<u8>,
    tls: Option<TlsClient>,
    read_buf: Box<[u8]>,
    /// Plaintext out of rustls (empty without TLS).
    plain_buf: Box<[u8]>,
    got: Vec<Got>,
    dirty: Vec<usize>,
    /// Source addresses in use: 127.0.0.1 up to 127.0.0.`sources`.
    sources: u8,
    max_sources: u8,
    /// Bytes read from and written to every connection's socket, handshakes included.
    pub wire_in: u64,
    /// See `wire_in`.
    pub wire_out: u64,
}

/// A `Net` for a parsed `--url`: its loopback address and its opening request (offering
/// permessage-deflate when `tpl` is compressed).
pub fn for_target(
    target: &crate::cli::Target,
    sources: u8,
    tpl: &FrameTemplate,
) -> Result<Net, String> {
    let mut net = Net::new(
        target.addr,
        crate::wire::request(&target.host, &target.path, tpl.compressed()),
        sources,
    )
    .map_err(|e| format!("poll: {e}"))?;
    if let Some(tls) = &target.tls {
        net.set_tls(tls.clone());
    }
    Ok(net)
}

impl Net {
    /// A loop aimed at `target` (loopback only), sending `request` on each new connection.
    pub fn new(target: SocketAddr, request: Vec<u8>, sources: u8) -> io::Result<Net> {
        if !target.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only loopback targets are allowed",
            ));
        }
        Ok(Net {
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            conns: Vec::new(),
            targets: vec![target],
            request,
            tls: None,
            read_buf: vec![0u8; READ_BUF].into_boxed_slice(),
            plain_buf: Box::default(),
            got: Vec::new(),
            dirty: Vec::new(),
            sources: sources.max(1),
            max_sources: 64,
            wire_in: 0,
            wire_out: 0,
        })
    }

    /// Sends connections to `addr` too: connection `i` goes to the `i % n`th target.
    pub fn add_target(&mut self, addr: SocketAddr) -> io::Result<()> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only loopback targets are allowed",
            ));
        }
        self.targets.push(addr);
        Ok(())
    }

    /// Speaks TLS on every connection made from now on (`wss://`).
    pub fn set_tls(&mut self, tls: TlsClient) {
        self.tls = Some(tls);
        self.plain_buf = vec![0u8; PLAIN_BUF].into_boxed_slice();
    }

    /// How many source addresses are in use.
    pub fn sources(&self) -> u8 {
        self.sources
    }

    /// Starts one more connection; returns its index. Moves to the next 127.0.0.x source
    /// address when the kernel runs out of ports on the current ones.
    pub fn connect(&mut self) -> io::Result<usize> {
        let idx = self.conns.len();
        loop {
            let src = Ipv4Addr::new(127, 0, 0, 1 + (idx % self.sources as usize) as u8);
            let target = self.targets[idx % self.targets.len()];
            match open_socket(src, target) {
                Ok(stream) => return self.add(stream),
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EADDRNOTAVAIL | libc::EADDRINUSE)
                    ) && self.sources < self.max_sources =>
                {
                    self.sources += 1;
                    eprintln!(
                        "tether-load: ports short ({e}); now spreading over {} source addresses",
                        self.sources
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn add(&mut self, mut stream: TcpStream) -> io::Result<usize> {
        let idx = self.conns.len();
        let tls = match &self.tls {
            Some(client) => Some(client.connect().map_err(io::Error::other)?),
            None => None,
        };
        self.poll.registry().register(
            &mut stream,
            Token(idx),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.conns.push(Conn {
            stream,
            phase: Phase::Connecting,
            head: Vec::new(),
            out: self.request.clone(),
            out_pos: 0,
            reader: FrameReader::default(),
            tls,
            write_interest: true,
            dirty: false,
        });
        Ok(idx)
    }

    /// Queues bytes on an open connection; they are written by [`flush_dirty`](Self::flush_dirty).
    pub fn queue(&mut self, idx: usize, f: impl FnOnce(&mut Vec<u8>)) {
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        if c.phase == Phase::Dead {
            return;
        }
        f(&mut c.out);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(idx);
        }
    }

    /// Bytes queued and not yet written on a connection.
    pub fn pending(&self, idx: usize) -> usize {
        self.conns.get(idx).map_or(0, |c| c.out.len() - c.out_pos)
    }

    /// Writes every connection that got new output this turn.
    pub fn flush_dirty(&mut self) -> Vec<(usize, String)> {
        let mut failed = Vec::new();
        for idx in std::mem::take(&mut self.dirty) {
            if let Some(c) = self.conns.get_mut(idx) {
                c.dirty = false;
                if let Err(e) = self.flush_one(idx) {
                    failed.push((idx, e));
                }
            }
        }
        failed
    }

    fn flush_one(&mut self, idx: usize) -> Result<(), String> {
        let registry = self.poll.registry();
        let Some(c) = self.conns.get_mut(idx) else {
            return Ok(());
        };
        if c.phase == Phase::Connecting || c.phase == Phase::Dead {
            return Ok(());
        }
        let want = match c.tls.as_deref_mut() {
            None => {
                while c.out_pos < c.out.len() {
                    match c.stream.write(&c.out[c.out_pos..]) {
                        Ok(0) => return Err(fail(c, "write returned 0")),
                        Ok(n) => {
                            c.out_pos += n;
                            self.wire_out += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(fail(c, &format!("write: {e}"))),
                    }
                }
                c.out_pos < c.out.len()
            }
            Some(tls) => match tls_flush(tls, &mut c.stream, &c.out, &mut c.out_pos) {
                Ok((wrote, want)) => {
                    self.wire_out += wrote;
                    want
                }
                Err(e) => return Err(fail(c, &e)),
            },
        };
        if c.out_pos == c.out.len() {
            c.out.clear();
            c.out_pos = 0;
        }
        if want != c.write_interest {
            c.write_interest = want;
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry
                .reregister(&mut c.stream, Token(idx), interest)
                .map_err(|e| fail(c, &format!("reregister: {e}")))?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for readiness, then reads and verifies. `on` is called per
    /// connection with what happened and, for `Messages`, the verified ids (pings are
    /// answered here).
    pub fn poll(
        &mut self,
        timeout: Duration,
        tpl: &FrameTemplate,
        mut on: impl FnMut(&mut Net, usize, Report, &[u32]),
    ) -> io::Result<()> {
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let ready: Vec<(usize, bool, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token().0,
                    e.is_readable() || e.is_error(),
                    e.is_writable(),
                    e.is_read_closed() || e.is_error(),
                )
            })
            .collect();
        let mut ids = Vec::new();
        for (idx, readable, writable, closed) in ready {
            if !self.conns.get(idx).is_some_and(|c| c.phase != Phase::Dead) {
                continue;
            }
            if writable {
                if let Err(msg) = self.on_writable(idx) {
                    on(self, idx, Report::Failed(msg), &[]);
                    continue;
                }
            }
            if readable || closed {
                ids.clear();
                for r in self.on_readable(idx, tpl, closed, &mut ids) {
                    on(self, idx, r, &ids);
                }
            }
        }
        Ok(())
    }

    fn on_writable(&mut self, idx: usize) -> Result<(), String> {
        let Some(c) = self.conns.get_mut(idx) else {
            return Ok(());
        };
        if c.phase == Phase::Connecting {
            if let Ok(Some(e)) | Err(e) = c.stream.take_error() {
                return Err(fail(c, &format!("connect: {e}")));
            }
            match c.stream.peer_addr() {
                Ok(_) => c.phase = Phase::Handshake,
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return Ok(()),
                Err(e) => return Err(fail(c, &format!("connect: {e}"))),
            }
        }
        self.flush_one(idx)
    }

    /// Reads until `WouldBlock` (or a short read on a socket that is not closing), verifying
    /// frames; answers pings; returns what happened and appends verified ids to `ids`.
    fn on_readable(
        &mut self,
        idx: usize,
        tpl: &FrameTemplate,
        closing: bool,
        ids: &mut Vec<u32>,
    ) -> Vec<Report> {
        let mut reports = Vec::new();
        self.got.clear();
        while let Some(c) = self.conns.get_mut(idx) {
            if matches!(c.phase, Phase::Connecting | Phase::Dead) {
                break;
            }
            let n = match c.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    reports.push(Report::Failed(fail(c, "server closed the connection")));
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    reports.push(Report::Failed(fail(c, &format!("read: {e}"))));
                    break;
                }
            };
            self.wire_in += n as u64;
            let fed = match c.tls.take() {
                None => deliver(c, &self.read_buf[..n], tpl, &mut self.got, &mut reports),
                Some(mut tls) => {
                    let fed = tls_read(&mut tls, &self.read_buf[..n], &mut self.plain_buf, |p| {
                        deliver(c, p, tpl, &mut self.got, &mut reports)
                    });
                    // Handshake records to answer, or the request once the handshake is done.
                    if tls.wants_write() && !c.dirty {
                        c.dirty = true;
                        self.dirty.push(idx);
                    }
                    c.tls = Some(tls);
                    fed
                }
            };
            if let Err(e) = fed {
                reports.push(Report::Failed(fail(c, &e)));
                break;
            }
            if n < self.read_buf.len() && !closing {
                // Edge-triggered: a short read drained the socket; new data brings a new edge.
                break;
            }
        }
        let mut pongs = Vec::new();
        for g in &self.got {
            match g {
                Got::Message(id) => ids.push(*id),
                Got::Ping(p, n) => wire::push_pong(&p[..*n], &mut pongs),
            }
        }
        if !pongs.is_empty() {
            self.queue(idx, |o| o.extend_from_slice(&pongs));
        }
        if !ids.is_empty() {
            reports.push(Report::Messages);
        }
        reports
    }

    /// Opens connections until `n` are open, at most `max_opening` at once, within `timeout`.
    ///
    /// A connection that fails while opening is replaced, up to `n / 100 + 10` failures.
    /// Prints progress to stderr when `progress` is set. Returns how long it took.
    pub fn open_all(
        &mut self,
        n: usize,
        max_opening: usize,
        timeout: Duration,
        tpl: &FrameTemplate,
        progress: bool,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        let mut failures = Vec::new();
        let mut last_note = start;
        loop {
            let open = self.open_count();
            let opening = self.opening();
            if open >= n {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                return Err(format!(
                    "only {open} of {n} connections open after {timeout:?} ({} failed{})",
                    failures.len(),
                    failures
                        .first()
                        .map(|f| format!(", first: {f}"))
                        .unwrap_or_default()
                ));
            }
            if failures.len() > n / 100 + 10 {
                return Err(format!(
                    "{} connections failed while opening, first: {}",
                    failures.len(),
                    failures.first().map_or("?", |s: &String| s.as_str())
                ));
            }
            let mut room = max_opening.saturating_sub(opening).min(n - open - opening);
            while room > 0 {
                if let Err(e) = self.connect() {
                    failures.push(format!("connect: {e}"));
                    break;
                }
                room -= 1;
            }
            for (_, e) in self.flush_dirty() {
                failures.push(e);
            }
            self.poll(Duration::from_millis(5), tpl, |_, _, report, _| {
                if let Report::Failed(e) = report {
                    failures.push(e);
                }
            })
            .map_err(|e| format!("poll: {e}"))?;
            if progress && last_note.elapsed() > Duration::from_secs(2) {
                last_note = Instant::now();
                eprintln!(
                    "tether-load: {open}/{n} open, {opening} opening, {:.1} s",
                    start.elapsed().as_secs_f64()
                );
            }
        }
    }

    /// Connections open now.
    pub fn open_count(&self) -> usize {
        self.conns.iter().filter(|c| c.phase == Phase::Open).count()
    }

    /// Connections still connecting or in the handshake.
    pub fn opening(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| matches!(c.phase, Phase::Connecting | Phase::Handshake))
            .count()
    }
}

/// Hands plaintext read from a connection to the response check, then to the frame reader.
fn deliver(
    c: &mut Conn,
    data: &[u8],
    tpl: &FrameTemplate,
    got: &mut Vec<Got>,
    reports: &mut Vec<Report>,
) -> Result<(), String> {
    let fed = if c.phase == Phase::Handshake {
        c.head.extend_from_slice(data);
        match wire::check_response(&c.head, tpl.compressed()) {
            Ok(None) => Ok(()),
            Ok(Some(opened)) => {
                c.phase = Phase::Open;
                reports.push(Report::Opened);
                let head = std::mem::take(&mut c.head);
                match opened.deflate.map(|p| c.reader.set_deflate(&p)) {
                    Some(Err(e)) => Err(e),
                    _ => c.reader.feed(&head[opened.head_len..], tpl, got),
                }
            }
            Err(e) => Err(e),
        }
    } else {
        c.reader.feed(data, tpl, got)
    };
    fed.map_err(|e: WireError| e.to_string())
}

/// Puts ciphertext read from the socket through rustls and hands the plaintext to `on`, a
/// record at a time (rustls takes at most a few KiB per `read_tls`).
fn tls_read(
    tls: &mut ClientConnection,
    mut ciphertext: &[u8],
    plain: &mut [u8],
    mut on: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    // An empty slice would read as the end of the stream; the socket's own EOF says that.
    while !ciphertext.is_empty() {
        tls.read_tls(&mut ciphertext)
            .map_err(|e| format!("tls: {e}"))?;
        tls.process_new_packets().map_err(|e| format!("tls: {e}"))?;
        loop {
            match tls.reader().read(plain) {
                Ok(0) => return Err("server sent close_notify".into()),
                Ok(n) => on(&plain[..n])?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("tls: {e}")),
            }
        }
    }
    Ok(())
}

/// Hands `out[*pos..]` to rustls as far as it takes it and writes its records until all is
/// written or the socket is full. Returns the bytes written to the socket, and whether
/// records wait for it to become writable. Plaintext given during the handshake leaves when
/// it completes (the read side marks the connection then).
fn tls_flush(
    tls: &mut ClientConnection,
    stream: &mut TcpStream,
    out: &[u8],
    pos: &mut usize,
) -> Result<(u64, bool), String> {
    let mut wrote = 0;
    loop {
        if *pos < out.len() {
            *pos += tls
                .writer()
                .write(&out[*pos..])
                .map_err(|e| format!("tls: {e}"))?;
        }
        if !tls.wants_write() {
            return Ok((wrote, false));
        }
        match tls.write_tls(stream) {
            Ok(0) => return Err("write returned 0".into()),
            Ok(n) => wrote += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((wrote, true)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
}

/// Marks a connection dead and returns the reason.
fn fail(c: &mut Conn, why: &str) -> String {
    c.phase = Phase::Dead;
    c.out = Vec::new();
    c.out_pos = 0;
    c.tls = None;
    why.to_owned()
}

/// A non-blocking socket bound to `src` (port chosen at connect time) and connecting.
fn open_socket(src: Ipv4Addr, target: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if src != Ipv4Addr::LOCALHOST {
        // Let connect() pick the port per destination, not bind() per source.
        let one: libc::c_int = 1;
        // SAFETY: a valid fd and a pointer to a c_int that outlives the call.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        socket.bind(&SocketAddr::new(IpAddr::V4(src), 0).into())?;
    }
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Seconds since `t`, as a float.
pub fn secs_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}
