//! The body a buffered response is handed on with.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// A response body read to the end: its bytes and trailers, handed on as a body.
#[derive(Debug, Clone, Default)]
pub struct Buffered {
    bytes: Bytes,
    trailers: Option<HeaderMap>,
    sent: bool,
}

impl Buffered {
    /// A buffered body of `bytes`.
    pub fn new(bytes: Bytes, trailers: Option<HeaderMap>) -> Self {
        Buffered {
            bytes,
            trailers,
            sent: false,
        }
    }

    /// The whole body.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The trailers, if the body had any.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }
}

impl Body for Buffered {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if !self.sent {
            self.sent = true;
            if !self.bytes.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(self.bytes.clone()))));
            }
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        (self.sent || self.bytes.is_empty()) && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let left = if self.sent {
            0
        } else {
            self.bytes.len() as u64
        };
        SizeHint::with_exact(left)
    }
}
