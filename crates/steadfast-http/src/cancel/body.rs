//! The response body that keeps the request's token while it streams.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project::{pin_project, pinned_drop};
use steadfast::token::{CancelReason, CancelToken};

/// A response body that keeps the request's token: dropped before its end (the client went
/// away mid-stream), it cancels the token with `ClientDisconnected`.
///
/// [`for_http`](super::CancelLayerExt::for_http) wraps every answer's body in one; you can
/// also wrap a body yourself:
///
/// ```
/// use http_body::Body;
/// use steadfast::token::{CancelReason, CancelToken};
/// use steadfast_http::cancel::CancelBody;
///
/// let token = CancelToken::new();
/// let body = CancelBody::new(String::from("half of it"), Some(token.clone()));
/// assert!(body.is_watching());
/// drop(body); // before its end
/// assert_eq!(token.reason(), Some(CancelReason::ClientDisconnected));
/// ```
#[pin_project(PinnedDrop)]
pub struct CancelBody<B: Body> {
    #[pin]
    inner: B,
    token: Option<CancelToken>,
}

impl<B: Body> CancelBody<B> {
    /// Wraps `inner`; `token` (if any) is cancelled if the body is dropped before its end.
    pub fn new(inner: B, token: Option<CancelToken>) -> Self {
        CancelBody { inner, token }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// `true` while the body holds a token to cancel if it is dropped before its end: the
    /// cancel layer gives it one only when something besides the layer still held the request's
    /// token as the answer left it (see [`for_http`](super::CancelLayerExt::for_http)); it lets
    /// go at the end.
    pub fn is_watching(&self) -> bool {
        self.token.is_some()
    }
}

impl<B: Body + Default> CancelBody<B> {
    /// The wrapped body, without the wrapper: a body that was watching a token no longer
    /// does (its token is dropped uncancelled). For handing a framework back its own body
    /// type when [`is_watching`](Self::is_watching) is `false`.
    pub fn into_inner(mut self) -> B {
        // The emptied wrapper is dropped with its token taken, so it cancels nothing.
        self.token = None;
        std::mem::take(&mut self.inner)
    }
}

impl<B: Body> fmt::Debug for CancelBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelBody")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for CancelBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            // The whole body was sent: nothing left to cancel.
            *this.token = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[pinned_drop]
impl<B: Body> PinnedDrop for CancelBody<B> {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if let Some(token) = this.token.take() {
            // Finished bodies are often dropped without the final poll; only a body that still
            // had something to send means the client left early.
            if !this.inner.is_end_stream() {
                token.cancel_with(CancelReason::ClientDisconnected);
            }
        }
    }
}
