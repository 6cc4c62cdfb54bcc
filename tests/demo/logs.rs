//! What the apps log, caught by a logger installed for this test binary: nothing a peer does per connection or per message reaches `info`, and a peer's text is logged only as a bounded excerpt at `debug`.

use log::Level;
use tether::apps::push::ACK_TEXT;

use crate::log_capture::{self, Capture};
use crate::util::{recv_text, refused_status, wait_until, TestServer};

fn capture() -> &'static Capture {
    log_capture::capture("tether::apps")
}

/// The captured lines that contain `needle`.
fn lines_with(needle: &str) -> Vec<(Level, String)> {
    capture().lines_with(needle)
}

/// Asserts `needle` was logged, and only at `debug`.
fn only_at_debug(needle: &str) -> Vec<String> {
    let lines = lines_with(needle);
    assert!(!lines.is_empty(), "{needle} was not logged at all");
    for (level, line) in &lines {
        assert_eq!(*level, Level::Debug, "{line}");
    }
    lines.into_iter().map(|(_, l)| l).collect()
}

#[test]
fn per_connection_and_per_message_lines_stay_at_debug() {
    capture();
    let s = TestServer::from_cli(&[
        "--allowed-origin",
        "https://demo.example",
        "--trusted-proxy",
        "127.0.0.1",
    ]);
    // Each client gets an address of its own, forwarded by the "proxy" 127.0.0.1 in two
    // X-Forwarded-For lines, the first one spoofed.
    let via = |ip: &'static str| [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", ip)];
    // Accepted, a message with a long text, then closed.
    let secret = format!("SECRET-{}", "x".repeat(10_000));
    let mut c = s
        .connect_with("/push", &via("198.51.100.71"))
        .expect("push");
    c.send_text(&secret).unwrap();
    while recv_text(&mut c) != ACK_TEXT {}
    drop(c);
    wait_until("the close", || s.connections() == 0);
    // Refused: no endpoint; an origin not on the list.
    assert_eq!(
        refused_status(s.connect_with("/nope", &via("198.51.100.72"))),
        404
    );
    let mut bad_origin = via("198.51.100.73").to_vec();
    bad_origin.push(("Origin", "https://evil.example"));
    assert_eq!(refused_status(s.connect_with("/echo", &bad_origin)), 403);

    let push = only_at_debug("198.51.100.71");
    assert!(push.iter().any(|l| l.contains("closed")), "{push:?}");
    only_at_debug("198.51.100.72");
    only_at_debug("198.51.100.73");
    assert!(lines_with("6.6.6.6").is_empty(), "the spoofed address");
    for line in only_at_debug("SECRET-") {
        assert!(
            line.len() < 200,
            "{} bytes of a peer's text logged",
            line.len()
        );
    }
}
