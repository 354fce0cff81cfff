//! The HTTP cancel layer.

use steadfast::cancel::CancelLayer;
use tower_layer::Layer;

use super::service::HttpCancel;

/// steadfast's [`CancelLayer`] for HTTP servers; made by
/// [`for_http`](super::CancelLayerExt::for_http) or [`for_grpc`](super::CancelLayerExt::for_grpc).
///
/// The response body type must implement `Default` (axum's, hyper's `Empty` and `Full` do):
/// a status answer carries an empty body. The cancellation reason is put in the status
/// response's extensions.
///
/// ```
/// use std::time::Duration;
/// use steadfast::cancel::CancelLayer;
/// use steadfast_http::cancel::HttpCancelLayer;
/// use steadfast_http::CancelLayerExt;
///
/// let layer: HttpCancelLayer =
///     CancelLayer::builder().timeout(Duration::from_secs(10)).build().unwrap().for_http();
/// let app: axum::Router = axum::Router::new().layer(layer);
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct HttpCancelLayer {
    pub(crate) layer: CancelLayer,
    pub(crate) grpc: bool,
}

impl HttpCancelLayer {
    pub(crate) fn new(layer: CancelLayer, grpc: bool) -> Self {
        HttpCancelLayer { layer, grpc }
    }
}

impl<S> Layer<S> for HttpCancelLayer {
    type Service = HttpCancel<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpCancel::new(self.layer.layer(inner), self.grpc)
    }
}

impl steadfast::builder::CancelKind for HttpCancelLayer {}
