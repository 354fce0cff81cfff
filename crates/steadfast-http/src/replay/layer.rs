//! The replay layer: wraps every request body in a [`ReplayBody`].

use std::task::{Context, Poll};

use http::Request;
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::body::ReplayBody;
use steadfast::ConfigError;

/// The cap used by [`ReplayLayer::new`]: 64 KiB of body data kept per request.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// Wraps each request's body in a [`ReplayBody`], so that a retry layer inside it can send the
/// request again.
///
/// Put it *outside* steadfast's `RetryLayer` (earlier in a `ServiceBuilder`), and give the
/// retry policy a [`ReplayCloner`](super::ReplayCloner): every attempt then sends a copy of
/// the same body, and the retry layer stops with
/// [`StopReason::NotReplayable`](steadfast::retry::StopReason::NotReplayable) once a body has
/// outgrown the cap. See the [module docs](super) for the whole stack.
///
/// ```
/// use steadfast_http::replay::ReplayLayer;
///
/// let layer = ReplayLayer::builder().max_bytes(1024 * 1024).build().unwrap();
/// assert_eq!(layer.max_bytes(), 1024 * 1024);
/// assert_eq!(ReplayLayer::new().max_bytes(), 64 * 1024);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReplayLayer {
    max_bytes: usize,
}

impl ReplayLayer {
    /// A layer that keeps up to [`DEFAULT_MAX_BYTES`] (64 KiB) of each body for replay.
    pub fn new() -> Self {
        ReplayLayer {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Starts a builder with the default cap.
    pub fn builder() -> ReplayLayerBuilder {
        ReplayLayerBuilder {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// The most bytes of a body kept for replay.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl Default for ReplayLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ReplayLayer {
    type Service = Replay<S>;

    fn layer(&self, inner: S) -> Replay<S> {
        Replay {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// Builds a [`ReplayLayer`]; from [`ReplayLayer::builder`]. Every setting is checked by
/// [`build`](Self::build).
///
/// ```
/// use steadfast_http::replay::ReplayLayer;
///
/// let layer = ReplayLayer::builder().max_bytes(8 * 1024).build().unwrap();
/// assert_eq!(layer.max_bytes(), 8 * 1024);
///
/// let err = ReplayLayer::builder().max_bytes(0).build().unwrap_err();
/// assert_eq!((err.layer(), err.field()), ("replay", "max_bytes"));
/// ```
#[derive(Debug, Clone)]
pub struct ReplayLayerBuilder {
    max_bytes: usize,
}

impl ReplayLayerBuilder {
    /// The most bytes of a body kept for replay (greater than zero; default 64 KiB). A body
    /// that grows past it is still sent once, whole, but cannot be sent again.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Checks every setting and builds the layer.
    pub fn build(self) -> Result<ReplayLayer, ConfigError> {
        if self.max_bytes == 0 {
            return Err(ConfigError::new(
                "replay",
                "max_bytes",
                "must be greater than zero",
            ));
        }
        Ok(ReplayLayer {
            max_bytes: self.max_bytes,
        })
    }
}

/// The service made by [`ReplayLayer`]: hands the inner service `Request<ReplayBody<B>>` for
/// each `Request<B>`. Its response, error and future are the inner service's own.
#[derive(Debug, Clone)]
pub struct Replay<S> {
    pub(crate) inner: S,
    pub(crate) max_bytes: usize,
}

impl<S> Replay<S> {
    /// Wraps `inner`, keeping up to `layer`'s cap of each body: what `layer.layer(inner)`
    /// makes.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use steadfast_http::replay::{Replay, ReplayBody, ReplayLayer};
    /// use tower::{service_fn, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let inner = service_fn(|req: http::Request<ReplayBody<Full<Bytes>>>| async move {
    ///     let kept = req.body().clone(); // what a retry layer keeps for the next attempt
    ///     let sent = req.into_body().collect().await?.to_bytes();
    ///     let again = kept.collect().await?.to_bytes();
    ///     Ok::<_, steadfast::BoxError>(sent == again)
    /// });
    /// let svc = Replay::new(inner, ReplayLayer::new());
    /// let req = http::Request::new(Full::new(Bytes::from_static(b"payload")));
    /// assert!(svc.oneshot(req).await.unwrap());
    /// # }
    /// ```
    pub fn new(inner: S, layer: ReplayLayer) -> Self {
        layer.layer(inner)
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

impl<S, B> Service<Request<B>> for Replay<S>
where
    S: Service<Request<ReplayBody<B>>>,
    B: Body,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> S::Future {
        let max_bytes = self.max_bytes;
        self.inner
            .call(req.map(|body| ReplayBody::new(body, max_bytes)))
    }
}
