//! The response future of the HTTP cancel service.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use http_body::Body;
use pin_project::pin_project;
use steadfast::cancel::ResponseFuture;

use super::body::CancelBody;
use super::status::{grpc_status_for, status_for};

/// Response future of [`HttpCancel`](super::HttpCancel): the inner future raced against the
/// request's token; a cancellation becomes a status answer, and the answer's body is wrapped
/// in a [`CancelBody`].
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct HttpResponseFuture<F, B> {
    #[pin]
    inner: ResponseFuture<F>,
    grpc: bool,
    _body: PhantomData<fn() -> B>,
}

impl<F, B> HttpResponseFuture<F, B> {
    pub(crate) fn new(inner: ResponseFuture<F>, grpc: bool) -> Self {
        HttpResponseFuture {
            inner,
            grpc,
            _body: PhantomData,
        }
    }
}

impl<F, B> fmt::Debug for HttpResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponseFuture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for HttpResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body + Default,
{
    type Output = Result<Response<CancelBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        match ready!(this.inner.as_mut().poll_race(cx)) {
            Ok(Ok(resp)) => {
                // The answer is in: the body takes the layer's own token, and keeps it only if
                // someone else still holds it (see `for_http`).
                let token = this.inner.take_shared_token();
                Poll::Ready(Ok(resp.map(|b| CancelBody::new(b, token))))
            }
            Ok(Err(e)) => Poll::Ready(Err(e)),
            Err(reason) => {
                let mut resp = Response::new(CancelBody::new(B::default(), None));
                if *this.grpc {
                    let headers = resp.headers_mut();
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/grpc"),
                    );
                    headers.insert("grpc-status", u16::from(grpc_status_for(&reason)).into());
                    // grpc-message is percent-encoded; the reasons' texts are plain ASCII
                    // except for user messages, which are left out if they would need it.
                    let text = reason.to_string();
                    if let Ok(v) = http::HeaderValue::from_str(&text) {
                        if text.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'%') {
                            headers.insert("grpc-message", v);
                        }
                    }
                } else {
                    *resp.status_mut() = status_for(&reason);
                }
                resp.extensions_mut().insert(reason);
                Poll::Ready(Ok(resp))
            }
        }
    }
}
