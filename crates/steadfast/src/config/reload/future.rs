//! [`ReloadFuture`]: one request through the version of a reloadable stack it was sent on.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

/// The response future of a [`ReloadService`](super::ReloadService): the future of the
/// request's stack, and the number of the version that stack was built from.
#[pin_project]
#[derive(Debug)]
pub struct ReloadFuture<F> {
    version: u64,
    #[pin]
    fut: F,
}

impl<F> ReloadFuture<F> {
    pub(crate) fn new(fut: F, version: u64) -> Self {
        ReloadFuture { version, fut }
    }

    /// The number of the stack's version this request runs on.
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl<F: Future> Future for ReloadFuture<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().fut.poll(cx)
    }
}
