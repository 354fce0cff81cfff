//! The chaos layer's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::time::Sleep;

use crate::BoxError;

/// Response future of [`Chaos`](super::Chaos): the inner call, or an injected answer, either
/// of them after an injected delay.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F, Res> {
    /// The injected delay, until it has passed.
    delay: Option<Pin<Box<Sleep>>>,
    #[pin]
    kind: Kind<F, Res>,
}

#[pin_project(project = KindProj)]
enum Kind<F, Res> {
    Called {
        #[pin]
        fut: F,
    },
    Injected {
        answer: Option<Result<Res, BoxError>>,
    },
}

impl<F, Res> fmt::Debug for ResponseFuture<F, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Injected { .. } => "injected",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .field("delayed", &self.delay.is_some())
            .finish_non_exhaustive()
    }
}

fn sleep(delay: Option<Duration>) -> Option<Pin<Box<Sleep>>> {
    delay.map(|d| Box::pin(tokio::time::sleep(d)))
}

impl<F, Res> ResponseFuture<F, Res> {
    /// The inner service's future, polled once `delay` (if any) has passed.
    #[inline]
    pub(crate) fn called(fut: F, delay: Option<Duration>) -> Self {
        ResponseFuture {
            delay: sleep(delay),
            kind: Kind::Called { fut },
        }
    }

    /// An injected answer, given once `delay` (if any) has passed.
    pub(crate) fn injected(answer: Result<Res, BoxError>, delay: Option<Duration>) -> Self {
        ResponseFuture {
            delay: sleep(delay),
            kind: Kind::Injected {
                answer: Some(answer),
            },
        }
    }
}

impl<F, Res, E> Future for ResponseFuture<F, Res>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Res, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(delay) = this.delay {
            ready!(delay.as_mut().poll(cx));
            *this.delay = None;
        }
        match this.kind.project() {
            KindProj::Called { fut } => fut.poll(cx).map_err(Into::into),
            KindProj::Injected { answer } => {
                Poll::Ready(answer.take().unwrap_or_else(|| {
                    Err("chaos response future polled after it completed".into())
                }))
            }
        }
    }
}
