//! The chaos layer's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::time::Sleep;

use crate::BoxError;

/// The error of a response future polled again after it gave its answer.
const COMPLETED: &str = "chaos response future polled after it completed";

/// Response future of [`Chaos`](super::Chaos): the inner call, or an injected answer, either
/// of them after an injected delay.
///
/// A request nothing is injected into (every request while the switch is off) gets a future
/// that is the inner service's future and a tag, and does nothing but poll it. A delay or an
/// injected answer lives on the heap, in one allocation made when the injection fires.
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
    /// A delay, an injected answer, or both.
    Injected { injected: Heap<F, Res> },
}

/// The heap part of a future something was injected into. `None` only while it is dropped.
struct Heap<F, Res>(Option<Pin<Box<Injected<F, Res>>>>);

impl<F, Res> Drop for Heap<F, Res> {
    /// Hands the box to a function of its own, so the response future's drop is a check of
    /// its tag wherever nothing was injected.
    #[inline]
    fn drop(&mut self) {
        if let Some(injected) = self.0.take() {
            drop_injected(injected);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_injected<T>(injected: T) {
    drop(injected);
}

#[pin_project(project = InjectedProj)]
enum Injected<F, Res> {
    /// The inner call, polled once the delay has passed (`slept` from then on).
    Delayed {
        #[pin]
        sleep: Sleep,
        slept: bool,
        #[pin]
        fut: F,
    },
    /// An injected answer, given once the delay has passed.
    DelayedAnswer {
        #[pin]
        sleep: Sleep,
        answer: Option<Result<Res, BoxError>>,
    },
    /// An injected answer, given at once.
    Answer {
        answer: Option<Result<Res, BoxError>>,
    },
}

impl<F, Res> fmt::Debug for ResponseFuture<F, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, delayed) = match &self.kind {
            Kind::Called { .. } => ("called", false),
            Kind::Injected { injected } => match injected.0.as_deref() {
                Some(Injected::Delayed { slept, .. }) => ("called", !*slept),
                Some(Injected::DelayedAnswer { answer, .. }) => ("injected", answer.is_some()),
                Some(Injected::Answer { .. }) | None => ("injected", false),
            },
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .field("delayed", &delayed)
            .finish_non_exhaustive()
    }
}

impl<F, Res> ResponseFuture<F, Res> {
    /// The inner service's future, nothing injected.
    #[inline]
    pub(crate) fn called(fut: F) -> Self {
        ResponseFuture {
            kind: Kind::Called { fut },
        }
    }

    /// The inner service's future, polled once `delay` has passed.
    pub(crate) fn delayed(fut: F, delay: Duration) -> Self {
        Self::boxed(Injected::Delayed {
            sleep: tokio::time::sleep(delay),
            slept: false,
            fut,
        })
    }

    /// An injected answer, given once `delay` (if any) has passed.
    pub(crate) fn injected(answer: Result<Res, BoxError>, delay: Option<Duration>) -> Self {
        let answer = Some(answer);
        Self::boxed(match delay {
            Some(delay) => Injected::DelayedAnswer {
                sleep: tokio::time::sleep(delay),
                answer,
            },
            None => Injected::Answer { answer },
        })
    }

    fn boxed(injected: Injected<F, Res>) -> Self {
        ResponseFuture {
            kind: Kind::Injected {
                injected: Heap(Some(Box::pin(injected))),
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
            KindProj::Injected { injected } => match &mut injected.0 {
                Some(injected) => poll_injected(injected.as_mut(), cx),
                None => Poll::Ready(Err(COMPLETED.into())),
            },
        }
    }
}

/// Polls the heap part of a future something was injected into.
#[cold]
#[inline(never)]
fn poll_injected<F, Res, E>(
    injected: Pin<&mut Injected<F, Res>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Res, BoxError>>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
{
    let answer = match injected.project() {
        InjectedProj::Delayed { sleep, slept, fut } => {
            if !*slept {
                ready!(sleep.poll(cx));
                *slept = true;
            }
            return fut.poll(cx).map_err(Into::into);
        }
        InjectedProj::DelayedAnswer { sleep, answer } => {
            if answer.is_some() {
                ready!(sleep.poll(cx));
            }
            answer
        }
        InjectedProj::Answer { answer } => answer,
    };
    Poll::Ready(answer.take().unwrap_or_else(|| Err(COMPLETED.into())))
}

#[cfg(test)]
mod tests {
    use std::future::{ready, Ready};
    use std::io;
    use std::task::Waker;

    use super::*;

    type Inner = Ready<Result<u64, io::Error>>;

    #[test]
    fn a_future_with_nothing_injected_is_the_inner_future_and_a_tag() {
        // Neither a timer nor an injected answer (however large) is carried inline.
        let tag = std::mem::size_of::<usize>();
        assert!(
            std::mem::size_of::<ResponseFuture<Inner, u64>>() <= std::mem::size_of::<Inner>() + tag
        );
        assert!(
            std::mem::size_of::<ResponseFuture<Inner, [u64; 32]>>()
                <= std::mem::size_of::<Inner>() + tag
        );
    }

    #[test]
    fn an_injected_answer_is_given_once_then_an_error() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut fut = std::pin::pin!(ResponseFuture::<Inner, u64>::injected(Ok(5), None));
        assert_eq!(
            format!("{fut:?}"),
            r#"ResponseFuture { kind: "injected", delayed: false, .. }"#
        );
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(5))));
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(e.to_string(), COMPLETED),
            _ => panic!("a completed future answered again"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_delayed_future_says_so_until_the_delay_has_passed() {
        let fut = ResponseFuture::<Inner, u64>::delayed(ready(Ok(7)), Duration::from_secs(1));
        assert_eq!(
            format!("{fut:?}"),
            r#"ResponseFuture { kind: "called", delayed: true, .. }"#
        );
        let start = tokio::time::Instant::now();
        assert_eq!(fut.await.unwrap(), 7);
        assert_eq!(start.elapsed(), Duration::from_secs(1));

        let fut = ResponseFuture::<Inner, u64>::injected(Ok(8), Some(Duration::from_secs(2)));
        assert_eq!(
            format!("{fut:?}"),
            r#"ResponseFuture { kind: "injected", delayed: true, .. }"#
        );
        assert_eq!(fut.await.unwrap(), 8);
        assert_eq!(start.elapsed(), Duration::from_secs(3));

        let fut = ResponseFuture::<Inner, u64>::called(ready(Ok(9)));
        assert_eq!(
            format!("{fut:?}"),
            r#"ResponseFuture { kind: "called", delayed: false, .. }"#
        );
        assert_eq!(fut.await.unwrap(), 9);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }
}
