//! `hello`: answers each text message with `"hello " + data`, like the Workerman example (RFC 6455 §5.6 text messages).

use tether_server::{ConnId, Ctx, Handler, MessageRef, Outgoing};

/// The hello application.
#[derive(Debug, Default, Clone, Copy)]
pub struct Hello;

impl Handler for Hello {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, message: MessageRef<'_>) {
        let reply = match message.as_text() {
            Some(t) => format!("hello {t}"),
            None => format!("hello {}", String::from_utf8_lossy(message.as_bytes())),
        };
        if let Err(e) = ctx.send(conn, Outgoing::Text(&reply)) {
            log::debug!("hello to {conn}: {e}");
        }
    }
}
