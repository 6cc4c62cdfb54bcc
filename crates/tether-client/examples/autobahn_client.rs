//! Autobahn TestSuite client-role runner: echoes every case served by a fuzzing server (RFC 6455 as a whole, client side).
//!
//! ```text
//! cargo run --release -p tether-client --example autobahn_client -- ws://127.0.0.1:9002
//! ```
//!
//! Speaks the standard Autobahn client protocol: `/getCaseCount`, then
//! `/runCase?case=N&agent=A` for every case (echoing each message unchanged until the
//! connection ends), then `/updateReports?agent=A`. The agent name comes from
//! `AUTOBAHN_AGENT` (default `tether`). See `tests/autobahn/README.md`.

use std::process::ExitCode;
use std::time::Duration;

use tether_client::{Client, ClientConfig, ClientError};
use tether_codec::{CloseCode, Message};

/// Per-read timeout during a case: no case goes quiet for this long.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest message and frame the suite sends (9.1.6, 9.2.6).
const MAX_SIZE: usize = 16 << 20;

fn config() -> ClientConfig {
    let mut codec = tether_codec::Config::default();
    codec.max_message_size = MAX_SIZE;
    codec.max_frame_size = MAX_SIZE;
    ClientConfig {
        read_timeout: Some(CASE_TIMEOUT),
        codec,
        ..Default::default()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for the query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Reads the case count, then lets the server close.
fn case_count(base: &str) -> Result<u32, String> {
    let url = format!("{base}/getCaseCount");
    let mut client = Client::connect_with(&url, config()).map_err(|e| format!("{url}: {e}"))?;
    let count = match client.recv_message() {
        Ok(Message::Text(t)) => t
            .as_str()
            .trim()
            .parse()
            .map_err(|_| format!("case count is not a number: {t:?}"))?,
        Ok(Message::Binary(_)) => return Err("case count came as binary".into()),
        Err(e) => return Err(format!("{url}: {e}")),
    };
    finish(&mut client);
    Ok(count)
}

/// Echoes until the connection ends; any error ends the case.
fn run_case(url: &str) -> Result<(), ClientError> {
    let mut client = Client::connect_with(url, config())?;
    let result = loop {
        match client.recv_message() {
            Ok(msg) => {
                if let Err(e) = client.send(msg.as_outgoing()) {
                    break Err(e);
                }
            }
            Err(ClientError::Closed { .. }) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    finish(&mut client);
    result
}

/// Completes the closing handshake (or waits out a failed connection) so that the server
/// closes TCP first, as RFC 6455 §7.1.1 asks; bounded by a short timeout.
fn finish(client: &mut Client) {
    if client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .is_ok()
    {
        let _ = client.close(CloseCode::NORMAL, "");
    }
}

fn main() -> ExitCode {
    let Some(base) = std::env::args().nth(1) else {
        eprintln!("usage: autobahn_client ws://HOST:PORT");
        return ExitCode::from(2);
    };
    let base = base.trim_end_matches('/').to_owned();
    let agent = std::env::var("AUTOBAHN_AGENT").unwrap_or_else(|_| "tether".to_owned());
    let agent_q = encode(&agent);

    let count = match case_count(&base) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("autobahn_client: {count} cases, agent {agent:?}");
    for n in 1..=count {
        let url = format!("{base}/runCase?case={n}&agent={agent_q}");
        if let Err(e) = run_case(&url) {
            eprintln!("autobahn_client: case {n}: {e}");
        }
    }

    // kosoku writes the reports, then drops this connection without a Close frame.
    let url = format!("{base}/updateReports?agent={agent_q}");
    match Client::connect_with(&url, config()) {
        Ok(mut client) => {
            let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
            loop {
                match client.recv() {
                    Ok(_) => {}
                    Err(e) if e.is_timeout() => {
                        eprintln!("autobahn_client: /updateReports did not end: {e}");
                        break;
                    }
                    Err(_) => break,
                }
            }
            finish(&mut client);
        }
        Err(e) => {
            eprintln!("autobahn_client: {url}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
