//! Response bodies: whole buffers, or blob bytes streamed from a blocking reader.

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
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
