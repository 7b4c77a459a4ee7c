//! HTTP plumbing: the unix socket server, response bodies (whole or streamed), query strings.

use crate::error::ApiError;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Every response body.
pub type Body = BoxBody<Bytes, Infallible>;

/// Largest JSON request body read.
const MAX_BODY: usize = 4 << 20;

/// A body fed by a channel: each message is sent as it arrives (pull progress, wait).
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// A streamed response and the sender that feeds it.
pub fn streamed(status: StatusCode, content_type: &str) -> (Response<Body>, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(64);
    let resp = Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .body(ChannelBody(rx).boxed())
        .expect("static response parts");
    (resp, tx)
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(bytes)).boxed())
        .expect("static response parts")
}

/// An empty response.
pub fn empty(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()).boxed())
        .expect("static response parts")
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(body.as_bytes())).boxed())
        .expect("static response parts")
}

/// The error as docker answers it.
pub fn error(e: &ApiError) -> Response<Body> {
    json(e.status, &serde_json::json!({ "message": e.message }))
}

/// Reads a JSON body into `T`; an empty body is `T::default()`-like only if `T` allows `null`.
pub async fn read_json<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, ApiError> {
    let bytes = read_body(req).await?;
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(text).map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))
}

/// Reads the whole request body (bounded).
pub async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(ApiError::bad(format!("request body: {e}"))),
    }
}

/// A parsed query string (a repeated key keeps every value, in order).
#[derive(Debug, Default)]
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    /// Parses `a=b&c=d` with percent and `+` decoding.
    pub fn parse(q: Option<&str>) -> Query {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.entry(decode(k)).or_default().push(decode(v));
        }
        Query(m)
    }

    /// A value, if given (the last one of a repeated key).
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value of a repeated key (`t=a&t=b`), in order.
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .get(k)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// A boolean as docker reads one: present and not "", "0", "no", "false" or "none".
    pub fn flag(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            )
        })
    }

    /// An integer parameter; a malformed one is a 400 naming it.
    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad(format!("invalid value for {k}: {v:?} is not an integer"))
            }),
        }
    }
}

/// Percent-decodes a query component (`+` is a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_percent_escapes_and_flags() {
        let q = Query::parse(Some(
            "fromImage=127.0.0.1%3A5000%2Fbusybox&tag=latest&all=1&force=false&x=%zz",
        ));
        assert_eq!(q.get("fromImage"), Some("127.0.0.1:5000/busybox"));
        assert!(q.flag("all"));
        assert!(!q.flag("force"));
        assert!(!q.flag("missing"));
        assert_eq!(q.get("x"), Some("%zz"));
        let many = Query::parse(Some("t=a%3A1&t=b&names=c"));
        assert_eq!(many.all("t"), ["a:1", "b"]);
        assert_eq!(many.get("t"), Some("b"));
        assert!(many.all("none").is_empty());
    }

    #[test]
    fn bad_integers_name_the_parameter() {
        let q = Query::parse(Some("t=ten"));
        assert!(q.int("t").unwrap_err().message.contains("t: \"ten\""));
    }
}
