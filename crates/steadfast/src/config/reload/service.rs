//! [`ReloadService`]: a service behind a [`ReloadableStack`](super::ReloadableStack), each
//! request through the version of the stack in use.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::ReloadFuture;
use super::version::Current;
use crate::config::StackService;

/// The service a [`ReloadableStack`](super::ReloadableStack) makes: the inner service under
/// the layers of the stack's version in use.
///
/// It keeps the stack of the version it last saw, built around a clone of the inner service
/// (so `S` must be `Clone`). `poll_ready` first reads the number of the version in use (one
/// atomic load); if it changed, it builds its stack anew from the new version, then polls
/// that stack ready. The request `call` then sends goes through that stack, and keeps its
/// version to its end: the stack's futures own what they need, so a later rebuild does not
/// touch requests in flight.
pub struct ReloadService<S, C, K> {
    /// The inner service, cloned into each new version's stack.
    inner: S,
    /// The stack of version `number`.
    stack: StackService<S, C, K>,
    number: u64,
    current: Arc<Current<C, K>>,
}

impl<S: Clone, C: Clone, K: Clone> ReloadService<S, C, K> {
    pub(crate) fn new(inner: S, current: Arc<Current<C, K>>) -> Self {
        let version = current.version.load();
        ReloadService {
            stack: version.layer.layer(inner.clone()),
            number: version.number,
            inner,
            current: current.clone(),
        }
    }
}

impl<S, C, K> ReloadService<S, C, K> {
    /// The inner service (the one each new version's stack is built around).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The number of the stack's version the next request will use, as of the last
    /// `poll_ready`.
    pub fn version(&self) -> u64 {
        self.number
    }
}

impl<S: Clone, C: Clone, K: Clone> Clone for ReloadService<S, C, K> {
    fn clone(&self) -> Self {
        ReloadService {
            inner: self.inner.clone(),
            stack: self.stack.clone(),
            number: self.number,
            current: self.current.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C, K> std::fmt::Debug for ReloadService<S, C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadService")
            .field("inner", &self.inner)
            .field("version", &self.number)
            .finish_non_exhaustive()
    }
}

impl<S, C, K, Req> Service<Req> for ReloadService<S, C, K>
where
    S: Clone,
    C: Clone,
    K: Clone,
    StackService<S, C, K>: Service<Req>,
{
    type Response = <StackService<S, C, K> as Service<Req>>::Response;
    type Error = <StackService<S, C, K> as Service<Req>>::Error;
    type Future = ReloadFuture<<StackService<S, C, K> as Service<Req>>::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.current.number.load(Ordering::Acquire) != self.number {
            self.refresh();
        }
        self.stack.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        ReloadFuture::new(self.stack.call(req), self.number)
    }
}

impl<S: Clone, C: Clone, K: Clone> ReloadService<S, C, K> {
    /// Builds the stack of the version in use around a clone of the inner service.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self) {
        let version = self.current.version.load();
        self.stack = version.layer.layer(self.inner.clone());
        self.number = version.number;
    }
}

impl<S, C, K> crate::describe::Describe for ReloadService<S, C, K>
where
    StackService<S, C, K>: crate::describe::Describe,
{
    /// The layers of the version this service last saw.
    fn describe(&self) -> Vec<crate::describe::LayerDescription> {
        self.stack.describe()
    }
}
