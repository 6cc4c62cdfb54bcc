//! Who may connect to the demo, and who is really connecting: the `Origin` and mini-program appid allowlists, and the client address behind a trusted proxy.
//!
//! # The allowlists
//! Both are off by default (the local demo accepts everyone); flags turn them on. They stop
//! *other web pages* and *other mini-programs* from using the server through their users'
//! clients; they are not authentication, since a native client can send any header it likes.
//!
//! A WebSocket handshake is sorted by the headers its client cannot forge:
//! - A mini-program (its `Referer` is `https://servicewechat.com/{appid}/{version}/page-frame.html`,
//!   which the runtime sets and scripts cannot change): with an appid allowlist, the appid must
//!   be on it.
//! - A browser (it sends `Origin`, RFC 6455 §10.2; a page cannot change it): with an origin
//!   allowlist, the origin must be on it. This blocks cross-site WebSocket hijacking.
//! - Anything else (no `Origin`, no mini-program `Referer`) is a native client and passes.
//!
//! A refused handshake gets `403 Forbidden`.
//!
//! # The real client address
//! The server works it out (PROXY header, `X-Forwarded-For`, `X-Real-IP`, believed only from
//! `--trusted-proxy` peers) and hands it over as `UpgradeRequest::client_addr`; the demo logs
//! it.

use tether_server::UpgradeRequest;

/// The appid of a mini-program, read from its fixed `Referer`
/// (`https://servicewechat.com/{appid}/{version}/page-frame.html`); `None` for anything else.
pub fn miniprogram_appid(referer: &str) -> Option<&str> {
    let rest = referer.strip_prefix("https://servicewechat.com/")?;
    let mut parts = rest.split('/');
    let appid = parts.next()?;
    let version = parts.next()?;
    let page = parts.next()?;
    let well_formed = !appid.is_empty()
        && appid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !version.is_empty()
        && page == "page-frame.html"
        && parts.next().is_none();
    well_formed.then_some(appid)
}

/// The demo's access policy: the allowlists. The default allows everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Browser origins allowed to connect (`https://example.com`, no path); empty: any.
    pub allowed_origins: Vec<String>,
    /// Mini-program appids allowed to connect; empty: any.
    pub allowed_appids: Vec<String>,
}

impl Access {
    /// Checks a WebSocket handshake against the allowlists; `Err` holds the reason for a 403.
    pub fn check(&self, request: &UpgradeRequest<'_>) -> Result<(), String> {
        let referer = request.header("referer");
        if let Some(appid) = referer.and_then(miniprogram_appid) {
            if self.allowed_appids.is_empty() || self.allowed_appids.iter().any(|a| a == appid) {
                return Ok(());
            }
            return Err(format!("mini-program appid {appid:?} is not allowed"));
        }
        if let Some(origin) = request.origin() {
            let origin = origin.trim().trim_end_matches('/');
            if self.allowed_origins.is_empty()
                || self
                    .allowed_origins
                    .iter()
                    .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
            {
                return Ok(());
            }
            return Err(format!("origin {origin:?} is not allowed"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appid_from_referer() {
        let r = "https://servicewechat.com/wx1234567890abcdef/0/page-frame.html";
        assert_eq!(miniprogram_appid(r), Some("wx1234567890abcdef"));
        assert_eq!(
            miniprogram_appid("https://servicewechat.com/wxabc/12/page-frame.html"),
            Some("wxabc")
        );
        for bad in [
            "https://servicewechat.com/wxabc/0/other.html",
            "https://servicewechat.com//0/page-frame.html",
            "https://evil.com/wxabc/0/page-frame.html",
            "http://servicewechat.com/wxabc/0/page-frame.html",
            "https://servicewechat.com/wx abc/0/page-frame.html",
            "https://servicewechat.com/wxabc/0/page-frame.html/x",
        ] {
            assert_eq!(miniprogram_appid(bad), None, "{bad}");
        }
    }
}
