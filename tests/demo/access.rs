//! The `Origin` and mini-program appid allowlists: off by default, 403 when on and not matched.

use tether::apps::access::Access;
use tether::apps::DemoConfig;

use crate::util::{recv_json, refused_status, TestServer};

const APP_REFERER: &str = "https://servicewechat.com/wxgood123/0/page-frame.html";
const OTHER_REFERER: &str = "https://servicewechat.com/wxevil999/3/page-frame.html";

fn with_access(access: Access) -> TestServer {
    TestServer::start(
        DemoConfig {
            access,
            ..DemoConfig::default()
        },
        1,
    )
}

#[test]
fn everyone_may_connect_by_default() {
    let s = TestServer::default_one();
    for headers in [
        vec![],
        vec![("Origin", "https://evil.example")],
        vec![("Referer", OTHER_REFERER)],
    ] {
        let mut c = s.connect_with("/live", &headers).expect("allowed");
        assert_eq!(recv_json(&mut c)["msg_type"], "init");
    }
}

#[test]
fn origin_allowlist() {
    let s = with_access(Access {
        allowed_origins: vec![
            "https://demo.example".into(),
            "http://127.0.0.1:8080/".into(),
        ],
        ..Access::default()
    });
    for ok in [
        "https://demo.example",
        "HTTPS://DEMO.EXAMPLE",
        "http://127.0.0.1:8080",
    ] {
        let mut c = s
            .connect_with("/live", &[("Origin", ok)])
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(recv_json(&mut c)["msg_type"], "init");
    }
    for bad in [
        "https://evil.example",
        "https://demo.example.evil",
        "null",
        "http://demo.example",
    ] {
        for path in ["/live", "/echo", "/stock", "/push", "/hello"] {
            assert_eq!(
                refused_status(s.connect_with(path, &[("Origin", bad)])),
                403,
                "{bad} {path}"
            );
        }
    }
    // Not a browser: no Origin to check.
    assert!(s.connect_with("/echo", &[]).is_ok());
    // A mini-program is recognised by its Referer, not by Origin.
    assert!(s.connect_with("/echo", &[("Referer", APP_REFERER)]).is_ok());
    // Unknown paths are still 404.
    assert_eq!(
        refused_status(s.connect_with("/nope", &[("Origin", "https://evil.example")])),
        404
    );
}

#[test]
fn appid_allowlist() {
    let s = with_access(Access {
        allowed_appids: vec!["wxgood123".into()],
        ..Access::default()
    });
    let mut c = s
        .connect_with("/live", &[("Referer", APP_REFERER)])
        .expect("allowed appid");
    assert_eq!(recv_json(&mut c)["msg_type"], "init");
    assert_eq!(
        refused_status(s.connect_with("/live", &[("Referer", OTHER_REFERER)])),
        403
    );
    assert_eq!(
        refused_status(s.connect_with("/stock", &[("Referer", OTHER_REFERER)])),
        403
    );
    // Browsers and native clients are governed by the origin list (off here).
    assert!(s
        .connect_with("/live", &[("Origin", "https://any.example")])
        .is_ok());
    assert!(s
        .connect_with("/live", &[("Referer", "https://example.com/")])
        .is_ok());
}

#[test]
fn both_allowlists_together() {
    let s = with_access(Access {
        allowed_origins: vec!["https://demo.example".into()],
        allowed_appids: vec!["wxgood123".into()],
    });
    assert!(s.connect_with("/live", &[("Referer", APP_REFERER)]).is_ok());
    assert!(s
        .connect_with("/live", &[("Origin", "https://demo.example")])
        .is_ok());
    assert_eq!(
        refused_status(s.connect_with("/live", &[("Referer", OTHER_REFERER)])),
        403
    );
    assert_eq!(
        refused_status(s.connect_with("/live", &[("Origin", "https://x.example")])),
        403
    );
    // A page elsewhere cannot pass as a mini-program: its Referer is not the fixed one.
    assert_eq!(
        refused_status(s.connect_with(
            "/live",
            &[
                ("Origin", "https://x.example"),
                ("Referer", "https://x.example/wxgood123/0/page-frame.html")
            ]
        )),
        403
    );
    // The page itself is plain HTTP and never checked.
    assert_eq!(crate::util::http_get(s.addr, "/").0, 200);
}
