//! `/push`: timed server push: every interval each worker pushes `你好!` to its `/push` clients, and answers whatever they send.

use std::collections::HashMap;
use std::net::IpAddr;

use tether_server::{ConnId, Ctx, EncodedFrame, MessageRef, Outgoing};

use super::excerpt;

/// What every `/push` client receives on every tick.
pub const PUSH_TEXT: &str = "你好!";

/// The answer to any message a `/push` client sends.
pub const ACK_TEXT: &str = "服务器已经收到了你的消息";

/// Longest excerpt of a client's message written to the (debug) log, in characters.
pub const LOG_EXCERPT: usize = 64;

/// One worker's `/push` clients.
#[derive(Debug, Default)]
pub struct Pusher {
    clients: HashMap<ConnId, IpAddr>,
}

impl Pusher {
    /// A `/push` connection opened; `client` is its (possibly forwarded) address, for logs.
    pub fn on_open(&mut self, conn: ConnId, client: IpAddr) {
        self.clients.insert(conn, client);
    }

    /// A `/push` connection closed.
    pub fn on_close(&mut self, conn: ConnId) {
        self.clients.remove(&conn);
    }

    /// Acknowledges a client's message, and logs its start (at most [`LOG_EXCERPT`]
    /// characters) at `debug`: a peer decides how often and how much it sends.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, msg: MessageRef<'_>) {
        let client = self
            .clients
            .get(&conn)
            .map_or_else(|| "?".to_owned(), IpAddr::to_string);
        match msg.as_text() {
            Some(t) => {
                let start = excerpt(t, LOG_EXCERPT);
                log::debug!("push: {conn} from {client} says {start:?}");
            }
            None => log::debug!("push: {conn} from {client} sent {} bytes", msg.len()),
        }
        if let Err(e) = ctx.send(conn, Outgoing::Text(ACK_TEXT)) {
            log::debug!("push ack to {conn}: {e}");
        }
    }

    /// The push tick: [`PUSH_TEXT`] to every `/push` client of this worker, encoded once.
    pub fn on_tick(&mut self, ctx: &mut Ctx<'_>) {
        if self.clients.is_empty() {
            return;
        }
        let frame = match EncodedFrame::server(Outgoing::Text(PUSH_TEXT)) {
            Ok(f) => f,
            Err(e) => {
                log::error!("push: cannot encode: {e}");
                return;
            }
        };
        for &conn in self.clients.keys() {
            if let Err(e) = ctx.send_frame(conn, &frame) {
                log::debug!("push to {conn}: {e}");
            }
        }
    }
}
