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
    #[pin]
    kind: Kind<F, Res>,
}

#[pin_project(project = KindProj)]
enum Kind<F, Res> {
    /// Nothing injected: the inner call alone.
    Called {
        #[pin]
        fut: F,
    },
    /// The inner call, polled once the delay has passed (the delay is `None` from then on).
    Delayed {
        delay: Option<Pin<Box<Sleep>>>,
        #[pin]
        fut: F,
    },
    /// An injected answer, given once the delay (if any) has passed.
    Injected {
        delay: Option<Pin<Box<Sleep>>>,
        answer: Option<Result<Res, BoxError>>,
    },
}

impl<F, Res> fmt::Debug for ResponseFuture<F, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, delayed) = match &self.kind {
            Kind::Called { .. } => ("called", false),
            Kind::Delayed { delay, .. } => ("called", delay.is_some()),
            Kind::Injected { delay, .. } => ("injected", delay.is_some()),
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .field("delayed", &delayed)
            .finish_non_exhaustive()
    }
}

fn sleep(delay: Option<Duration>) -> Option<Pin<Box<Sleep>>> {
    delay.map(|d| Box::pin(tokio::time::sleep(d)))
}

/// Waits out `delay`, if there is one left, and clears it once it has passed.
fn wait(delay: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    if let Some(sleep) = delay {
        ready!(sleep.as_mut().poll(cx));
        *delay = None;
    }
    Poll::Ready(())
}

impl<F, Res> ResponseFuture<F, Res> {
    /// The inner service's future, nothing injected.
    #[inline]
    pub(crate) fn called(fut: F) -> Self {
        ResponseFuture {
            kind: Kind::Called { fut },
        }
    }

    /// The inner service's future, polled once `delay` (if any) has passed.
    pub(crate) fn delayed(fut: F, delay: Option<Duration>) -> Self {
        ResponseFuture {
            kind: Kind::Delayed {
                delay: sleep(delay),
                fut,
            },
        }
    }

    /// An injected answer, given once `delay` (if any) has passed.
    pub(crate) fn injected(answer: Result<Res, BoxError>, delay: Option<Duration>) -> Self {
        ResponseFuture {
            kind: Kind::Injected {
                delay: sleep(delay),
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
        match self.project().kind.project() {
            KindProj::Called { fut } => fut.poll(cx).map_err(Into::into),
            KindProj::Delayed { delay, fut } => {
                ready!(wait(delay, cx));
                fut.poll(cx).map_err(Into::into)
            }
            KindProj::Injected { delay, answer } => {
                ready!(wait(delay, cx));
                Poll::Ready(answer.take().unwrap_or_else(|| {
                    Err("chaos response future polled after it completed".into())
                }))
            }
        }
    }
}
