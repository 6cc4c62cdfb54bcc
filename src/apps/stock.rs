//! `/stock`: the simulated stock ticker: subscriptions, their per-connection interval timers, and the quote arrays.
//!
//! A client that sends `stock` gets a JSON array of six simulated trading amounts (万元, two
//! decimals) at once, then a fresh one every tick until it sends `unsubscribe` or leaves.
//! `ping` is answered with `pong` (an application heartbeat); anything else gets a one-line hint.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use tether_server::{ConnId, Ctx, MessageRef, Outgoing, TimerId};

/// How many amounts one quote holds.
pub const QUOTE_LEN: usize = 6;

/// The answer to a text the ticker does not know.
pub const HINT: &str = "unknown command: send \"stock\", \"unsubscribe\" or \"ping\"";

/// A fresh quote: a JSON array of [`QUOTE_LEN`] amounts between 100.00 and 999.99, each
/// written with exactly two decimals (e.g. `[512.30,101.07,…]`).
pub fn quote() -> String {
    let mut out = String::with_capacity(8 * QUOTE_LEN);
    out.push('[');
    for i in 0..QUOTE_LEN {
        if i > 0 {
            out.push(',');
        }
        let cents = fastrand::u32(10_000..100_000);
        let _ = write!(out, "{}.{:02}", cents / 100, cents % 100);
    }
    out.push(']');
    out
}

/// The first timer token the ticker uses; the ones below it are free for the application.
pub const FIRST_TOKEN: u64 = 1;

/// One worker's ticker: who is subscribed, and the timer that feeds each.
#[derive(Debug)]
pub struct Ticker {
    interval: Duration,
    next_token: u64,
    /// Subscribed connections and their interval timer.
    subscribers: HashMap<ConnId, (u64, TimerId)>,
    /// Timer tokens back to their connection.
    tokens: HashMap<u64, ConnId>,
}

impl Ticker {
    /// A ticker that pushes every `interval`.
    pub fn new(interval: Duration) -> Ticker {
        Ticker {
            interval,
            next_token: FIRST_TOKEN,
            subscribers: HashMap::new(),
            tokens: HashMap::new(),
        }
    }

    /// Handles a message from a `/stock` client.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_>, conn: ConnId, msg: MessageRef<'_>) {
        let command = msg.as_text().map_or("", str::trim);
        match command {
            "stock" => {
                send(ctx, conn, &quote());
                if !self.subscribers.contains_key(&conn) {
                    let token = self.next_token;
                    self.next_token += 1;
                    let timer = ctx.set_interval(self.interval, token);
                    self.subscribers.insert(conn, (token, timer));
                    self.tokens.insert(token, conn);
                }
            }
            "unsubscribe" => self.unsubscribe(ctx, conn),
            "ping" => send(ctx, conn, "pong"),
            _ => send(ctx, conn, HINT),
        }
    }

    /// A timer fired: pushes a fresh quote if `token` belongs to a subscription. Returns
    /// whether it did.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_>, token: u64) -> bool {
        let Some(&conn) = self.tokens.get(&token) else {
            return false;
        };
        send(ctx, conn, &quote());
        true
    }

    /// Ends `conn`'s subscription, if any (on `unsubscribe` and on close).
    pub fn unsubscribe(&mut self, ctx: &mut Ctx<'_>, conn: ConnId) {
        if let Some((token, timer)) = self.subscribers.remove(&conn) {
            ctx.cancel_timer(timer);
            self.tokens.remove(&token);
        }
    }
}

fn send(ctx: &mut Ctx<'_>, conn: ConnId, text: &str) {
    if let Err(e) = ctx.send(conn, Outgoing::Text(text)) {
        log::debug!("stock to {conn}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_six_amounts_with_two_decimals() {
        for _ in 0..200 {
            let q = quote();
            let inner = q
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .unwrap();
            let parts: Vec<&str> = inner.split(',').collect();
            assert_eq!(parts.len(), QUOTE_LEN, "{q}");
            for p in parts {
                let (whole, frac) = p.split_once('.').unwrap();
                assert_eq!(frac.len(), 2, "{q}");
                let v: f64 = p.parse().unwrap();
                assert!((100.0..1000.0).contains(&v), "{q}");
                assert!(!whole.starts_with('0'));
            }
        }
    }
}
