//! `/echo`, `/hello`, `/stock` and `/push`.

use std::time::{Duration, Instant};

use clap::CommandFactory;
use tether::apps::push::{ACK_TEXT, PUSH_TEXT};
use tether::apps::stock::HINT;
use tether::apps::DemoConfig;
use tether::cli::Cli;
use tether_client::{ClientError, CloseCode, Message};

use crate::util::{assert_silent, recv_text, wait_until, TestServer};

#[test]
fn echo_round_trips_text_and_binary() {
    let s = TestServer::default_one();
    let mut c = s.connect("/echo");
    c.send_text("你好，世界！").unwrap();
    assert_eq!(recv_text(&mut c), "你好，世界！");
    c.send_binary(&[0, 1, 2, 255]).unwrap();
    match c.recv_message().unwrap() {
        Message::Binary(b) => assert_eq!(&b[..], &[0, 1, 2, 255]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hello_prefixes_hello() {
    let s = TestServer::default_one();
    let mut c = s.connect("/hello");
    c.send_text("世界").unwrap();
    assert_eq!(recv_text(&mut c), "hello 世界");
    c.send_text("").unwrap();
    assert_eq!(recv_text(&mut c), "hello ");
}

/// Checks a quote's text: a JSON array of 6 numbers written with exactly two decimals.
fn assert_quote(text: &str) {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not an array: {text}"));
    let parts: Vec<&str> = inner.split(',').collect();
    assert_eq!(parts.len(), 6, "{text}");
    for p in parts {
        let (_, decimals) = p.split_once('.').unwrap_or_else(|| panic!("{text}"));
        assert_eq!(decimals.len(), 2, "{text}");
        assert!(decimals.bytes().all(|b| b.is_ascii_digit()), "{text}");
    }
    let v: Vec<f64> = serde_json::from_str(text).expect("valid JSON");
    assert!(v.iter().all(|x| *x > 0.0), "{text}");
}

fn fast_ticks() -> DemoConfig {
    DemoConfig {
        stock_interval: Duration::from_millis(100),
        push_interval: Duration::from_millis(150),
        ..DemoConfig::default()
    }
}

#[test]
fn stock_pushes_quotes_until_unsubscribe() {
    let s = TestServer::start(fast_ticks(), 1);
    let mut c = s.connect("/stock");
    assert_silent(&mut c, Duration::from_millis(300)); // nothing before subscribing
    let t0 = Instant::now();
    c.send_text("stock").unwrap();
    let mut quotes = Vec::new();
    for _ in 0..4 {
        let q = recv_text(&mut c);
        assert_quote(&q);
        quotes.push(q);
    }
    // One at once, then one per 100 ms tick.
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(3));
    // Fresh every time (6 random amounts repeating would be a 1-in-10^30 event).
    assert_ne!(quotes[1], quotes[2]);
    // Subscribing again answers at once but does not double the rate.
    c.send_text("stock").unwrap();
    c.send_text("ping").unwrap();
    let mut saw_pong = false;
    let t1 = Instant::now();
    let mut n = 0;
    while t1.elapsed() < Duration::from_millis(1000) {
        let m = recv_text(&mut c);
        if m == "pong" {
            saw_pong = true;
        } else {
            assert_quote(&m);
            n += 1;
        }
    }
    assert!(saw_pong);
    assert!((6..=15).contains(&n), "{n} quotes in 1 s at 100 ms");
    c.send_text("unsubscribe").unwrap();
    // At most what was already in flight, then silence.
    let end = Instant::now() + Duration::from_millis(200);
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while Instant::now() < end {
        if let Ok(Message::Text(t)) = c.recv_message() {
            assert_quote(t.as_str());
        }
    }
    assert_silent(&mut c, Duration::from_millis(400));
    c.send_text("what").unwrap();
    assert_eq!(recv_text(&mut c), HINT);
}

#[test]
fn stock_subscription_ends_when_the_client_leaves() {
    let s = TestServer::start(fast_ticks(), 1);
    for _ in 0..3 {
        let mut c = s.connect("/stock");
        c.send_text("stock").unwrap();
        assert_quote(&recv_text(&mut c));
        drop(c);
    }
    wait_until("connections to close", || s.connections() == 0);
    // The ticker did not keep sending to the dead connections; a new client is served normally.
    let mut c = s.connect("/stock");
    c.send_text("stock").unwrap();
    assert_quote(&recv_text(&mut c));
    assert_quote(&recv_text(&mut c));
}

#[test]
fn push_reaches_every_push_client_and_acknowledges_messages() {
    let s = TestServer::start(fast_ticks(), 2);
    let mut a = s.connect("/push");
    let mut b = s.connect("/push");
    let mut echo = s.connect("/echo");
    for c in [&mut a, &mut b] {
        for _ in 0..2 {
            assert_eq!(recv_text(c), PUSH_TEXT);
        }
    }
    a.send_text("我是客户端").unwrap();
    let mut acked = false;
    for _ in 0..50 {
        match recv_text(&mut a).as_str() {
            ACK_TEXT => {
                acked = true;
                break;
            }
            PUSH_TEXT => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(acked);
    // Pushes go to /push clients only.
    assert_silent(&mut echo, Duration::from_millis(400));
}

#[test]
fn push_interval_is_configurable_and_defaults_to_ten_seconds() {
    assert_eq!(DemoConfig::default().push_interval, Duration::from_secs(10));
    let s = TestServer::start(
        DemoConfig {
            push_interval: Duration::from_millis(300),
            ..DemoConfig::default()
        },
        1,
    );
    let mut c = s.connect("/push");
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(recv_text(&mut c), PUSH_TEXT);
    }
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// The demo's message limit as `tether --help` states it, in bytes.
fn demo_limit_in_help() -> usize {
    let help = Cli::command().render_long_help().to_string();
    let line = help
        .split(" for demo")
        .next()
        .filter(|before| before.len() < help.len())
        .unwrap_or_else(|| panic!("--help names no demo message limit:\n{help}"));
    let digits: String = line
        .trim_end_matches(" bytes)")
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no byte count before \" for demo\" in:\n{help}"))
}

#[test]
fn the_message_limit_help_states_is_the_one_enforced() {
    let limit = demo_limit_in_help();
    let s = TestServer::from_cli(&[]);
    let mut c = s.connect("/echo");
    let at_limit = "a".repeat(limit);
    c.send_text(&at_limit).unwrap();
    assert_eq!(recv_text(&mut c).len(), limit);
    c.send_text(&"a".repeat(limit + 1)).unwrap();
    match c.recv_message() {
        Err(ClientError::Closed { code, .. }) => assert_eq!(code, CloseCode::MESSAGE_TOO_BIG),
        other => panic!("{} bytes: {other:?}", limit + 1),
    }
}
