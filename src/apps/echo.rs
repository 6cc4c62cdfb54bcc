//! `echo`: every text and binary message goes back to its sender as received (what the Autobahn TestSuite drives, RFC 6455 §5.6).

use tether_server::{ConnId, Ctx, Handler, MessageRef};

/// The echo application.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl Handler for Echo {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, message: MessageRef<'_>) {
        if let Err(e) = ctx.send_message(conn, message) {
            log::debug!("echo to {conn}: {e}");
        }
    }
}
