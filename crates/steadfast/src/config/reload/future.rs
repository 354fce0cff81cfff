//! [`ReloadFuture`]: one request through the version of a reloadable stack it was called on.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use tower_service::Service;

use crate::BoxError;

/// The response future of a [`ReloadService`](super::ReloadService): the request's own stack,
/// built from the version current when it was called, which it polls ready and then calls.
#[pin_project]
pub struct ReloadFuture<T: Service<Req>, Req> {
    version: u64,
    #[pin]
    state: State<T, T::Future, Req>,
}

#[pin_project(project = StateProj)]
enum State<T, F, Req> {
    /// The stack, until it is ready for the request.
    Ready { svc: T, req: Option<Req> },
    /// The stack's answer.
    Called {
        #[pin]
        fut: F,
    },
}

impl<T: Service<Req>, Req> ReloadFuture<T, Req> {
    pub(crate) fn new(svc: T, req: Req, version: u64) -> Self {
        ReloadFuture {
            version,
            state: State::Ready {
                svc,
                req: Some(req),
            },
        }
    }

    /// The number of the stack's version this request runs on
    /// ([`ReloadableStack::version`](super::ReloadableStack::version) when it was called).
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl<T: Service<Req>, Req> std::fmt::Debug for ReloadFuture<T, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadFuture")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<T, Req> Future for ReloadFuture<T, Req>
where
    T: Service<Req, Error = BoxError>,
{
    type Output = Result<T::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Ready { svc, req } => {
                    ready!(svc.poll_ready(cx))?;
                    let Some(req) = req.take() else {
                        // Unreachable: the request is taken once, and the state moves on.
                        return Poll::Ready(Err("reload future polled after its call".into()));
                    };
                    let fut = svc.call(req);
                    state.set(State::Called { fut });
                }
                StateProj::Called { fut } => return fut.poll(cx),
            }
        }
    }
}
