//! [`OptionalFuture`]: the response future of an [`Optional`](super::Optional) service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

use crate::BoxError;

/// The response future of an [`Optional`](super::Optional): the layer's future, or the inner
/// service's, with the error as a [`BoxError`].
#[pin_project(project = OptionalProj)]
#[derive(Debug)]
pub enum OptionalFuture<A, B> {
    /// The layer's future.
    On {
        /// The future.
        #[pin]
        fut: A,
    },
    /// The inner service's future.
    Off {
        /// The future.
        #[pin]
        fut: B,
    },
}

impl<A, B, T, EA, EB> Future for OptionalFuture<A, B>
where
    A: Future<Output = Result<T, EA>>,
    B: Future<Output = Result<T, EB>>,
    EA: Into<BoxError>,
    EB: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            OptionalProj::On { fut } => fut.poll(cx).map_err(Into::into),
            OptionalProj::Off { fut } => fut.poll(cx).map_err(Into::into),
        }
    }
}
