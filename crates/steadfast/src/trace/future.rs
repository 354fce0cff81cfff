//! The response future of [`Traced`](super::Traced).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;

use super::carry::CarryTrace;
use super::DecisionTrace;

/// The response future of [`Traced`](super::Traced): the inner future's answer, with the
/// request's trace put on a response.
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    trace: Option<DecisionTrace>,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, trace: Option<DecisionTrace>) -> Self {
        ResponseFuture { inner, trace }
    }
}

impl<F, Res, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Res, E>>,
    Res: CarryTrace,
{
    type Output = Result<Res, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut out = ready!(this.inner.poll(cx));
        if let (Some(trace), Ok(res)) = (this.trace.take(), out.as_mut()) {
            // A response with nowhere to keep it drops it; the caller who asked kept a handle.
            let _ = res.carry_decision_trace(trace);
        }
        Poll::Ready(out)
    }
}
