//! Response bodies (whole buffers, or blob bytes streamed from a blocking reader), and
//! discarding request bodies a refused request carried.

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The body type of every response.
pub type Body = BoxBody<Bytes, io::Error>;

/// A body of `data`.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|n| match n {}).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|n| match n {}).boxed()
}

/// A body fed chunk by chunk through a channel; an error item aborts the response, so a client
/// never mistakes a failed read for the complete content.
pub struct ChannelBody(pub mpsc::Receiver<io::Result<Bytes>>);

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// Request body bytes a refused request may carry and still keep its connection (Go's HTTP
/// server allows 256 KiB; a blob chunk is often larger).
const DRAIN_LIMIT: u64 = 1 << 20;

/// Reads and discards the body of a request answered without it (a 401 challenge, a bad
/// path), so that the connection can carry the client's next request: clients retry with
/// credentials on the same connection. False when the body is larger than [`DRAIN_LIMIT`] (or
/// broken): the response must then close the connection.
pub async fn discard(mut body: Incoming, declared: Option<u64>) -> bool {
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return false;
    }
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                seen += f.data_ref().map_or(0, |d| d.len() as u64);
                if seen > DRAIN_LIMIT {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}
