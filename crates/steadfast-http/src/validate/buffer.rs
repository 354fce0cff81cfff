//! The buffer layer: response bodies read to the end, up to a cap.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use http::{HeaderMap, Response};
use http_body::Body;
use pin_project::pin_project;
use steadfast::BoxError;
use tower_layer::Layer;
use tower_service::Service;

use super::buffered::Buffered;
use super::error::BodyTooLarge;

/// Reads response bodies into [`Buffered`]; see the [module docs](super).
#[derive(Debug, Clone, Copy)]
pub struct BufferLayer {
    pub(crate) cap: usize,
}

impl BufferLayer {
    /// Buffers bodies of up to `cap` bytes.
    pub fn new(cap: usize) -> Self {
        BufferLayer { cap }
    }
}

impl<S> Layer<S> for BufferLayer {
    type Service = Buffer<S>;
    fn layer(&self, inner: S) -> Buffer<S> {
        Buffer {
            inner,
            cap: self.cap,
        }
    }
}

/// The service made by [`BufferLayer`].
#[derive(Debug, Clone)]
pub struct Buffer<S> {
    pub(crate) inner: S,
    pub(crate) cap: usize,
}

impl<S, Req, B> Service<Req> for Buffer<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = Response<Buffered>;
    type Error = BoxError;
    type Future = BufferFuture<S::Future, B>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        BufferFuture {
            state: BufferState::Calling {
                fut: self.inner.call(req),
            },
            cap: self.cap,
        }
    }
}

/// Response future of [`Buffer`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct BufferFuture<F, B> {
    #[pin]
    state: BufferState<F, B>,
    cap: usize,
}

impl<F, B> fmt::Debug for BufferFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferFuture")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

// The reading state holds the response's head while the body arrives; boxing it would cost an
// allocation per call for no gain, as the future is one or the other.
#[allow(clippy::large_enum_variant)]
#[pin_project(project = BufferProj)]
enum BufferState<F, B> {
    Calling {
        #[pin]
        fut: F,
    },
    Reading {
        parts: Option<http::response::Parts>,
        #[pin]
        body: B,
        buf: BytesMut,
        trailers: Option<HeaderMap>,
    },
}

impl<F, B, E> Future for BufferFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Buffered>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                BufferProj::Calling { fut } => {
                    let res = std::task::ready!(fut.poll(cx)).map_err(Into::into)?;
                    let (parts, body) = res.into_parts();
                    if body.size_hint().lower() > *this.cap as u64 {
                        // Known too large from its size: nothing is read.
                        return Poll::Ready(Err(BodyTooLarge::new(*this.cap, 0, parts).into()));
                    }
                    this.state.set(BufferState::Reading {
                        parts: Some(parts),
                        body,
                        buf: BytesMut::new(),
                        trailers: None,
                    });
                }
                BufferProj::Reading {
                    parts,
                    mut body,
                    buf,
                    trailers,
                } => loop {
                    match std::task::ready!(body.as_mut().poll_frame(cx)) {
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(mut data) => {
                                let received = buf.len() as u64 + data.remaining() as u64;
                                if received > *this.cap as u64 {
                                    let parts = parts.take().expect("polled after completion");
                                    let err = BodyTooLarge::new(*this.cap, received, parts);
                                    return Poll::Ready(Err(err.into()));
                                }
                                while data.has_remaining() {
                                    let chunk = data.chunk();
                                    buf.extend_from_slice(chunk);
                                    let n = chunk.len();
                                    data.advance(n);
                                }
                            }
                            Err(frame) => {
                                if let Ok(t) = frame.into_trailers() {
                                    match trailers {
                                        Some(existing) => existing.extend(t),
                                        None => *trailers = Some(t),
                                    }
                                }
                            }
                        },
                        Some(Err(e)) => return Poll::Ready(Err(e.into())),
                        None => {
                            let parts = parts.take().expect("polled after completion");
                            let body = Buffered::new(std::mem::take(buf).freeze(), trailers.take());
                            return Poll::Ready(Ok(Response::from_parts(parts, body)));
                        }
                    }
                },
            }
        }
    }
}
