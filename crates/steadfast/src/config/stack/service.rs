//! [`Optional`]: a layer's service when the stack has that layer, the inner service when it
//! does not, behind one type.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::OptionalFuture;
use crate::BoxError;

/// A layer a stack may or may not have: applies `L` when it is there, and nothing when it is
/// not. Its service is an [`Optional`].
///
/// ```
/// use steadfast::config::OptionalLayer;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower::layer::util::Identity;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let absent = OptionalLayer::<Identity>::new(None);
/// let svc = absent.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n + 1) }));
/// assert_eq!(svc.oneshot(1).await.unwrap(), 2);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct OptionalLayer<L> {
    layer: Option<L>,
}

impl<L> OptionalLayer<L> {
    /// Applies `layer` when it is `Some`.
    pub fn new(layer: Option<L>) -> Self {
        OptionalLayer { layer }
    }

    /// The layer, when there is one.
    pub fn get(&self) -> Option<&L> {
        self.layer.as_ref()
    }
}

impl<L: Layer<S>, S> Layer<S> for OptionalLayer<L> {
    type Service = Optional<L::Service, S>;

    #[inline]
    fn layer(&self, inner: S) -> Self::Service {
        match &self.layer {
            Some(l) => Optional::On(l.layer(inner)),
            None => Optional::Off(inner),
        }
    }
}

/// The service of an [`OptionalLayer`]: the layer's service (`On`) or the inner service
/// alone (`Off`). Either way its errors are [`BoxError`]s, so the layers above see one error
/// type whichever layers the stack has.
#[derive(Debug, Clone)]
pub enum Optional<A, S> {
    /// The layer is there: its service, wrapping the inner one.
    On(A),
    /// The layer is not there: the inner service.
    Off(S),
}

impl<A, S, Req> Service<Req> for Optional<A, S>
where
    A: Service<Req>,
    A::Error: Into<BoxError>,
    S: Service<Req, Response = A::Response>,
    S::Error: Into<BoxError>,
{
    type Response = A::Response;
    type Error = BoxError;
    type Future = OptionalFuture<A::Future, S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Optional::On(a) => a.poll_ready(cx).map_err(Into::into),
            Optional::Off(s) => s.poll_ready(cx).map_err(Into::into),
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self {
            Optional::On(a) => OptionalFuture::On { fut: a.call(req) },
            Optional::Off(s) => OptionalFuture::Off { fut: s.call(req) },
        }
    }
}
