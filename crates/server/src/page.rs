//! `GET /`: a page that subscribes to one topic with every transport a browser can reach, each
//! through the API a web app would use (`fetch` for short and long polling, `XMLHttpRequest`
//! progress events, a hidden iframe, `EventSource`, `WebSocket`), publishes to it, and shows
//! side by side what each received, gaps, reconnects and latency.
//!
//! The page is plain HTML, CSS and JavaScript under `src/page/`, embedded in the binary and
//! assembled once; it loads nothing from anywhere else, which its `content-security-policy`
//! enforces. Its script documents the page itself and the `window.pushbench` hooks the browser
//! test (`tests/browser.rs`) drives.

use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_SECURITY_POLICY};
use http::{Response, StatusCode};

use crate::http::reply::{full, response, Body};

const TEMPLATE: &str = include_str!("page/index.html");
const STYLE: &str = include_str!("page/page.css");
const SCRIPT: &str = include_str!("page/page.js");

/// Same origin only: inline style and script are the page's own, everything it fetches, frames or
/// opens a socket to is push-server (`'self'` covers `ws:` to the same host).
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                   connect-src 'self'; frame-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'";

static PAGE: LazyLock<Bytes> = LazyLock::new(|| {
    Bytes::from(
        TEMPLATE
            .replacen("/*{{style}}*/", STYLE, 1)
            .replacen("/*{{script}}*/", SCRIPT, 1),
    )
});

/// The page, as one self-contained HTML document.
pub fn index() -> Response<Body> {
    let mut r = response(
        StatusCode::OK,
        "text/html; charset=utf-8",
        full(PAGE.clone()),
    );
    r.headers_mut()
        .insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_wire::{iframe, Transport};

    #[test]
    fn the_page_is_assembled_and_self_contained() {
        let page = std::str::from_utf8(&PAGE).unwrap();
        assert!(!page.contains("{{"), "every placeholder is filled");
        assert!(page.contains(STYLE) && page.contains(SCRIPT));
        for external in ["http://", "https://", "src=\"//", "@import"] {
            assert!(!page.contains(external), "the page refers to {external}");
        }
        // Inlined, these would end their element early.
        assert!(!SCRIPT.to_ascii_lowercase().contains("</script"));
        assert!(!STYLE.to_ascii_lowercase().contains("</style"));
    }

    #[test]
    fn the_page_uses_every_browser_transport_by_its_path() {
        for t in Transport::ALL {
            match t.path() {
                Some(path) => assert!(SCRIPT.contains(&format!("'{path}'")), "{t} is on the page"),
                None => assert!(SCRIPT.contains(t.name()), "{t} is shown as unreachable"),
            }
        }
        // The iframe stream calls the page back by this name.
        let prelude = iframe::prelude(0);
        assert!(std::str::from_utf8(&prelude)
            .unwrap()
            .contains("parent.pushbench_iframe"));
        assert!(SCRIPT.contains("window.pushbench_iframe ="));
    }
}
