//! The page at `GET /`, 404 for other plain HTTP paths, 404 before the upgrade for unknown WebSocket paths.

use crate::util::{http_get, refused_status, TestServer};

#[test]
fn page_is_served_at_root_with_three_panels_and_no_cdn() {
    let s = TestServer::default_one();
    let (status, ctype, body) = http_get(s.addr, "/");
    assert_eq!(status, 200);
    assert_eq!(ctype, "text/html; charset=utf-8");
    assert_eq!(body, tether::apps::demo::PAGE);
    for id in [
        "stock-chart",
        "live-list",
        "live-online",
        "echo-log",
        "echo-send",
    ] {
        assert!(body.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    // Works offline: nothing is loaded from elsewhere.
    assert!(!body.contains("<script src"));
    assert!(!body.contains("<link "));
    assert!(!body.contains("https://"));
    let (status, _, _) = http_get(s.addr, "/?from=test");
    assert_eq!(status, 200);
}

#[test]
fn other_plain_paths_are_404() {
    let s = TestServer::default_one();
    for path in ["/nope", "/favicon.ico", "/echo", "/live", "/page.html"] {
        let (status, _, body) = http_get(s.addr, path);
        assert_eq!(status, 404, "{path}");
        assert_eq!(body, "not found\n");
    }
}

#[test]
fn unknown_websocket_paths_are_404_before_the_upgrade() {
    let s = TestServer::default_one();
    for path in ["/", "/nope", "/live/", "/stocks", "/echo/x"] {
        assert_eq!(refused_status(s.connect_with(path, &[])), 404, "{path}");
    }
    // The server is still fine.
    let mut c = s.connect("/echo");
    c.send_text("ok").unwrap();
    assert_eq!(crate::util::recv_text(&mut c), "ok");
}
