//! What every HTTP handler shares: the body type, response builders, query parsing and
//! [`Rejection`], the 4xx a handler returns instead of a response.
//!
//! Transport modules import these from here rather than from the router in [`crate::http`], and
//! this module imports no transport, so the router alone depends on the transports.

use std::borrow::Cow;
use std::cell::Cell;
use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use crate::hub::HubError;

/// Every response body: whole or streamed.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A request push-server will not serve, and why: becomes a 4xx with `reason` as the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 400, 404, 405, 413, ...
    pub status: StatusCode,
    /// One line for the client and the log.
    pub reason: String,
    /// The methods the path takes, for a 405.
    pub allow: Option<&'static str>,
}

impl Rejection {
    /// A 400 Bad Request.
    pub fn bad(reason: impl Into<String>) -> Self {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
            allow: None,
        }
    }
}

impl From<HubError> for Rejection {
    fn from(e: HubError) -> Self {
        let status = match e {
            HubError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HubError::TooManyTopics(_) | HubError::MemoryFull { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            HubError::AfterAhead { .. } => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        Rejection {
            status,
            reason: e.to_string(),
            allow: None,
        }
    }
}

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response with `content-type` and `cache-control: no-store` (push data must never be cached).
pub fn response(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An IMF-fixdate (RFC 9110 §5.6.7) is always this long.
const DATE_LEN: usize = 29;

/// A `date` header's value.
#[derive(Debug, Clone, Copy)]
pub struct Date([u8; DATE_LEN]);

impl Date {
    /// The value, e.g. `Tue, 01 Dec 2026 10:36:42 GMT`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an HTTP date is ASCII")
    }
}

/// The `date` header's value for now, formatted once a second per thread, as hyper caches its
/// own, for the answers push-server writes itself.
pub fn date() -> Date {
    thread_local! {
        static CACHED: Cell<(u64, Date)> = const { Cell::new((u64::MAX, Date([b' '; DATE_LEN]))) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let (at, date) = cached.get();
        if at == second {
            return date;
        }
        let mut text = [b' '; DATE_LEN];
        let formatted = httpdate::fmt_http_date(now);
        let n = formatted.len().min(DATE_LEN);
        text[..n].copy_from_slice(&formatted.as_bytes()[..n]);
        let date = Date(text);
        cached.set((second, date));
        date
    })
}

/// A request's query string, parsed once.
#[derive(Debug)]
pub struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    /// Parses `application/x-www-form-urlencoded` pairs; a missing query is an empty one.
    ///
    /// Pairs with nothing to decode (no `%`, no `+`), which is what clients send for topics,
    /// sequence numbers and timeouts, are borrowed as they are; only the others go through
    /// `form_urlencoded`. Decoding every pair, with its UTF-8 check, was 2% of push-server's
    /// CPU on long polls at 200 subscribers × 100 messages/s.
    pub fn parse(query: Option<&'a str>) -> Self {
        let query = query.unwrap_or("");
        let mut pairs = Vec::with_capacity(4);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            if pair.bytes().any(|b| b == b'%' || b == b'+') {
                pairs.extend(form_urlencoded::parse(pair.as_bytes()));
            } else {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                pairs.push((Cow::Borrowed(k), Cow::Borrowed(v)));
            }
        }
        Query { pairs }
    }

    /// The value of `key`; a key given twice is refused rather than guessed at. Keys push-server
    /// does not know are ignored, so cache-busting parameters browsers add do no harm.
    pub fn get(&self, key: &str) -> Result<Option<&str>, Rejection> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == key);
        let first = values.next().map(|(_, v)| v.as_ref());
        if values.next().is_some() {
            return Err(Rejection::bad(format!(
                "query parameter {key} given more than once"
            )));
        }
        Ok(first)
    }

    /// The required `topic` parameter (checked by the hub).
    pub fn topic(&self) -> Result<&str, Rejection> {
        self.get("topic")?
            .ok_or_else(|| Rejection::bad("missing query parameter topic"))
    }

    /// An optional unsigned number.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, Rejection> {
        self.get(key)?
            .map(|v| {
                v.parse().map_err(|_| {
                    Rejection::bad(format!(
                        "query parameter {key}={v:?} is not an unsigned integer"
                    ))
                })
            })
            .transpose()
    }

    /// `padding=` for the streams that have a prelude, bounded by `--max-padding`.
    pub fn padding(&self, default: usize, max: usize) -> Result<usize, Rejection> {
        let padding = self.u64("padding")?.map_or(default, |p| p as usize);
        if padding > max {
            return Err(Rejection::bad(format!(
                "padding={padding} exceeds the limit of {max}"
            )));
        }
        Ok(padding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The borrowed fast path and `form_urlencoded` agree on every query, encoded or not.
    #[test]
    fn queries_parse_as_form_urlencoded_does() {
        for q in [
            "",
            "topic=a&after=3",
            "topic=a&&after=3&",
            "topic",
            "topic=&x=1",
            "=v&topic=a=b",
            "topic=a%2Eb&after=1",
            "topic=a+b&padding=%32",
            "t%6Fpic=x&after=2",
            "topic=%E2%82%AC&bad=%ZZ",
            "topic=%FF",
        ] {
            let fast: Vec<(String, String)> = Query::parse(Some(q))
                .pairs
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let reference: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(fast, reference, "{q:?}");
        }
        assert_eq!(Query::parse(None).pairs, Vec::new());
    }

    #[test]
    fn the_cached_date_is_the_date_now() {
        let before = httpdate::fmt_http_date(SystemTime::now());
        let cached = date();
        let again = date();
        let after = httpdate::fmt_http_date(SystemTime::now());
        assert!(cached.as_str() == before || cached.as_str() == after);
        assert!(again.as_str() == cached.as_str() || again.as_str() == after);
        assert_eq!(cached.as_str().len(), DATE_LEN);
    }
}
