//! `Client`: one blocking WebSocket connection over `std::net::TcpStream`, driving the codec (RFC 6455 §4.1 client handshake, §5 data framing, §7 closing).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use tether_codec::deflate::{check_response, offer_header_value};
use tether_codec::handshake::{ClientHandshake, ClientRequest};
use tether_codec::{
    CloseCode, CloseFrame, Connection, Event, Message, Opcode, OsRandom, Outgoing, State, Status,
};

use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::transport::Transport;
use crate::url::WsUrl;

/// Size of the reusable read buffer: one read takes at most this much from the socket.
const READ_BUFFER: usize = 64 * 1024;

/// A blocking WebSocket client connection.
///
/// # Driving it
/// - [`connect`](Self::connect) or [`connect_with`](Self::connect_with) opens the TCP
///   connection and performs the opening handshake.
/// - `send*` methods queue a frame with the codec and write it fully before returning.
/// - [`recv`](Self::recv) blocks for the next [`Event`]; pongs and the reply to the server's
///   Close are written by the codec before it returns. [`recv_message`](Self::recv_message)
///   skips pings and pongs and turns the end of the connection into
///   [`ClientError::Closed`].
/// - [`close`](Self::close) performs the closing handshake and waits for the server to end
///   the TCP connection (the server closes first, §7.1.1).
///
/// A read timeout ([`ClientError::is_timeout`]) leaves the connection intact: partial frames
/// stay buffered and the call can be repeated. Dropping a `Client` ends the TCP connection
/// at once, without a closing handshake.
pub struct Client {
    stream: Transport,
    conn: Connection,
    buf: Box<[u8]>,
    subprotocol: Option<String>,
    read_timeout: Option<Duration>,
    /// The server's Close frame, once received (`None` inside when it had no payload).
    peer_close: Option<Option<CloseFrame>>,
    /// The code of the `Closed` event, once seen.
    closed: Option<CloseCode>,
    /// Whether the server's byte stream ended.
    eof: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("stream", self.stream.tcp())
            .field("tls", &matches!(self.stream, Transport::Tls(_)))
            .field("conn", &self.conn)
            .field("subprotocol", &self.subprotocol)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Client {
    // ---- opening ----

    /// Connects to a `ws://host[:port][/path][?query]` URL with the default
    /// [`ClientConfig`].
    pub fn connect(url: &str) -> Result<Client, ClientError> {
        Self::connect_with(url, ClientConfig::default())
    }

    /// Connects to `url` and performs the opening handshake (§4.1).
    ///
    /// The host is resolved with [`ToSocketAddrs`] and each address is tried in turn within
    /// `connect_timeout`. Frames the server sent right behind its 101 response are kept.
    pub fn connect_with(url: &str, config: ClientConfig) -> Result<Client, ClientError> {
        let url = WsUrl::parse(url).map_err(ClientError::Url)?;
        config.codec.validate().map_err(ClientError::Usage)?;
        if let Some(d) = &config.deflate {
            d.validate().map_err(ClientError::Usage)?;
        }
        let offer = config.deflate.as_ref().map(offer_header_value);
        let offers: Vec<&str> = offer.iter().map(String::as_str).collect();
        let mut masks = OsRandom::new();
        let host = url.host_header();
        let protocols: Vec<&str> = config.subprotocols.iter().map(String::as_str).collect();
        let headers: Vec<(&str, &str)> = config
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = ClientRequest {
            host: &host,
            target: &url.target,
            subprotocols: &protocols,
            extensions: &offers,
            headers: &headers,
        };
        let mut head = Vec::new();
        let handshake =
            ClientHandshake::start(&request, &mut masks, &mut head).map_err(ClientError::Usage)?;

        let tcp = open(&url, config.connect_timeout)?;
        tcp.set_nodelay(config.nodelay)?;
        tcp.set_read_timeout(config.read_timeout)?;
        tcp.set_write_timeout(config.write_timeout)?;
        let mut stream = if url.secure {
            Transport::tls(tcp, &url.host, config.tls.as_ref())?
        } else {
            Transport::Plain(tcp)
        };
        stream.write_all(&head)?;

        // Read until the response head is whole; whatever follows it is already frames.
        let mut buf = vec![0u8; READ_BUFFER].into_boxed_slice();
        head.clear();
        let (subprotocol, used, deflate) = loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection during the opening handshake",
                )
                .into());
            }
            head.extend_from_slice(&buf[..n]);
            match handshake.parse_response(&head, &config.codec) {
                Ok(Status::Complete((response, used))) => {
                    let deflate = match &config.deflate {
                        Some(d) => {
                            check_response(response.header_all("sec-websocket-extensions"), d)
                                .map_err(ClientError::Handshake)?
                                .map(|params| (params, *d))
                        }
                        None => None,
                    };
                    break (response.subprotocol().map(str::to_owned), used, deflate);
                }
                Ok(Status::Partial) => {}
                Err(e) => return Err(ClientError::Handshake(e)),
            }
        };
        let mut conn = Connection::client(config.codec, masks).map_err(ClientError::from_codec)?;
        if let Some((params, d)) = deflate {
            conn.enable_deflate(&params, &d)
                .map_err(ClientError::from_codec)?;
        }
        conn.receive(&head[used..])
            .map_err(ClientError::from_codec)?;
        Ok(Client {
            stream,
            conn,
            buf,
            subprotocol,
            read_timeout: config.read_timeout,
            peer_close: None,
            closed: None,
            eof: false,
        })
    }

    // ---- getters ----

    /// The permessage-deflate parameters agreed with the server, if it accepted the offer.
    pub fn deflate_params(&self) -> Option<tether_codec::deflate::DeflateParams> {
        self.conn.deflate_params()
    }

    /// The subprotocol the server selected, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The TCP stream (under TLS for `wss://`), e.g. for its peer address or socket options.
    pub fn get_ref(&self) -> &TcpStream {
        self.stream.tcp()
    }

    /// The local address of the TCP connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.tcp().local_addr()
    }

    /// Whether the connection runs over TLS (`wss://`).
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Transport::Tls(_))
    }

    /// Changes the read timeout (`None` blocks forever); it also bounds the wait in
    /// [`close`](Self::close).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.stream.tcp().set_read_timeout(timeout)?;
        self.read_timeout = timeout;
        Ok(())
    }

    // ---- sending ----

    /// Sends a message, ping or pong, blocking until it is written.
    pub fn send(&mut self, msg: Outgoing<'_>) -> Result<(), ClientError> {
        self.conn.send(msg).map_err(ClientError::from_codec)?;
        self.flush()
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.send(Outgoing::Text(text))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), ClientError> {
        self.send(Outgoing::Binary(data))
    }

    /// Sends a ping (payload at most 125 bytes); its pong arrives as [`Event::Pong`].
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        self.send(Outgoing::Ping(payload))
    }

    /// Sends one fragment of a message (§5.4): `Text` or `Binary` first, then
    /// `Continuation`s, the last with `fin`. Text fragments together must be UTF-8.
    pub fn send_fragment(
        &mut self,
        opcode: Opcode,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), ClientError> {
        self.conn
            .send_fragment(opcode, payload, fin)
            .map_err(ClientError::from_codec)?;
        self.flush()
    }

    /// Writes `bytes` to the socket as they are, after any queued output: for tests that
    /// send malformed frames. The codec does not see them.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.flush()?;
        self.stream.write_all(bytes)?;
        Ok(())
    }

    // ---- receiving ----

    /// The next event, blocking until one arrives or the read times out.
    ///
    /// A ping's pong and the reply to the server's Close are written before this returns.
    /// The events end with [`Event::Closed`]; after it, this returns [`ClientError::Closed`].
    /// A violation by the server is [`ClientError::Protocol`], once; our Close frame is
    /// written best-effort first.
    pub fn recv(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(polled) = self.conn.poll_event() {
                return self.on_event(polled);
            }
            if !self.conn.wants_read() {
                return Err(self.ended());
            }
            self.fill()?;
        }
    }

    /// The next message, skipping pings and pongs (pongs to pings are still sent).
    ///
    /// The end of the connection, orderly or not, is [`ClientError::Closed`] with the
    /// server's close code (1006 when the stream ended without a Close frame).
    pub fn recv_message(&mut self) -> Result<Message, ClientError> {
        loop {
            match self.recv()? {
                Event::Message(msg) => return Ok(msg),
                Event::Ping(_) | Event::Pong(_) => {}
                Event::CloseReceived(_) | Event::Closed { .. } => return Err(self.ended()),
            }
        }
    }

    // ---- closing ----

    /// Performs the closing handshake (§7.1.2): sends a Close frame with `code` and `reason`
    /// (cut to 123 bytes), reads until the server's Close (discarding messages), then waits
    /// up to the read timeout for the server to end the TCP connection (§7.1.1).
    ///
    /// Returns the server's Close frame (`None` when it carried no code). If the server
    /// closed first, no Close is sent and this just finishes the wait. If the connection had
    /// failed, the wait happens too and the failure is returned again. A stream that ended
    /// without a Close frame is [`ClientError::Closed`] with code 1006.
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
    ) -> Result<Option<CloseFrame>, ClientError> {
        if self.conn.state() == State::Open {
            self.conn
                .close(code, reason)
                .map_err(ClientError::from_codec)?;
        }
        self.flush()?;
        let outcome = loop {
            match self.recv() {
                Ok(Event::Closed { .. }) => break Ok(()),
                Ok(_) => {}
                Err(ClientError::Closed { .. }) => break Ok(()),
                Err(e @ ClientError::Protocol(_)) => break Err(e),
                Err(e) => return Err(e),
            }
        };
        self.linger();
        outcome?;
        match &self.peer_close {
            Some(frame) => Ok(frame.clone()),
            None => Err(self.ended()),
        }
    }

    // ---- internals ----

    /// Reads once from the socket into the codec; notes the end of the stream.
    fn fill(&mut self) -> Result<(), ClientError> {
        let n = self.stream.read(&mut self.buf)?;
        if n == 0 {
            self.eof = true;
            self.conn.receive_eof();
            return Ok(());
        }
        self.conn
            .receive(&self.buf[..n])
            .map_err(ClientError::from_codec)
    }

    /// Records what an event means for the close, and writes what the codec queued for it.
    fn on_event(
        &mut self,
        polled: Result<Event, tether_codec::Error>,
    ) -> Result<Event, ClientError> {
        match polled {
            Ok(event) => {
                match &event {
                    Event::CloseReceived(frame) => {
                        self.peer_close = Some(frame.clone());
                        // The server may already be gone: the reply is best-effort.
                        let _ = self.flush();
                    }
                    Event::Closed { code, .. } => {
                        self.closed = Some(*code);
                        let _ = self.flush();
                    }
                    Event::Message(_) | Event::Ping(_) | Event::Pong(_) => self.flush()?,
                }
                Ok(event)
            }
            Err(e) => {
                // The codec queued the Close for this violation (§7.1.7).
                let _ = self.flush();
                Err(ClientError::from_codec(e))
            }
        }
    }

    /// The error for a connection that is over.
    fn ended(&self) -> ClientError {
        if let Some(e) = self.conn.error() {
            return ClientError::from_codec(e);
        }
        match &self.peer_close {
            Some(Some(frame)) => ClientError::Closed {
                code: frame.code,
                reason: frame.reason.clone(),
            },
            Some(None) => ClientError::Closed {
                code: CloseCode::NO_STATUS,
                reason: String::new(),
            },
            None => ClientError::Closed {
                code: self.closed.unwrap_or(CloseCode::ABNORMAL),
                reason: String::new(),
            },
        }
    }

    /// Writes all queued output.
    fn flush(&mut self) -> Result<(), ClientError> {
        while !self.conn.pending_output().is_empty() {
            match self.stream.write(self.conn.pending_output()) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => self.conn.consume_output(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Waits, for at most the read timeout in all, for the server to end the TCP
    /// connection, discarding what it still sends (§7.1.1: the server closes first).
    fn linger(&mut self) {
        let deadline = self.read_timeout.map(|t| Instant::now() + t);
        while !self.eof {
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || self.stream.tcp().set_read_timeout(Some(left)).is_err() {
                    break;
                }
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = self.stream.tcp().set_read_timeout(self.read_timeout);
    }
}

impl Drop for Client {
    /// Ends the TCP connection at once (clones of the stream included), without a closing
    /// handshake (after TLS's `close_notify`, on `wss://`): call [`Client::close`] first for
    /// an orderly close.
    fn drop(&mut self) {
        self.stream.close_notify();
        let _ = self.stream.tcp().shutdown(Shutdown::Both);
    }
}

/// Resolves the URL's host and opens a TCP connection to the first address that answers.
fn open(url: &WsUrl, timeout: Option<Duration>) -> Result<TcpStream, ClientError> {
    let mut last = None;
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the host has no address"))
        .into())
}
