//! [`ReloadService`]: a service behind a [`ReloadableStack`](super::ReloadableStack), each
//! request through the stack's current version.

use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use tower_layer::Layer;
use tower_service::Service;

use super::future::ReloadFuture;
use super::handle::Version;
use crate::config::StackService;
use crate::BoxError;

/// The service a [`ReloadableStack`](super::ReloadableStack) makes: each call reads the
/// stack's current version (one atomic load) and puts the ready inner service under that
/// version's layers, which the request keeps to its end.
///
/// `poll_ready` waits for the inner service; `call` takes the ready service and leaves a clone
/// in its place, as the retry layer does (so `S` must be `Clone`).
pub struct ReloadService<S, C, K> {
    inner: S,
    current: Arc<ArcSwap<Version<C, K>>>,
}

impl<S, C, K> ReloadService<S, C, K> {
    pub(crate) fn new(inner: S, current: Arc<ArcSwap<Version<C, K>>>) -> Self {
        ReloadService { inner, current }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C, K> Clone for ReloadService<S, C, K> {
    fn clone(&self) -> Self {
        ReloadService {
            inner: self.inner.clone(),
            current: self.current.clone(),
        }
    }
}

impl<S: std::fmt::Debug, C, K> std::fmt::Debug for ReloadService<S, C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadService")
            .field("inner", &self.inner)
            .field("version", &self.current.load().number)
            .finish()
    }
}

impl<S, C, K, Req> Service<Req> for ReloadService<S, C, K>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Clone,
    K: Clone,
    StackService<S, C, K>: Service<Req, Response = S::Response, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ReloadFuture<StackService<S, C, K>, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        let version = self.current.load();
        ReloadFuture::new(version.layer.layer(ready), req, version.number)
    }
}
