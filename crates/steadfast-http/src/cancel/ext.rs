//! The HTTP and gRPC forms of steadfast's cancel layer, as methods on it.

use steadfast::cancel::CancelLayer;

use super::layer::HttpCancelLayer;

/// The HTTP and gRPC forms of steadfast's [`CancelLayer`]: bring the trait into scope and
/// call them on a built layer.
///
/// Sealed: implemented for [`CancelLayer`] only.
///
/// ```
/// use std::time::Duration;
/// use steadfast::cancel::CancelLayer;
/// use steadfast_http::CancelLayerExt;
///
/// let layer = CancelLayer::builder().timeout(Duration::from_secs(10)).build().unwrap().for_http();
/// let app: axum::Router = axum::Router::new().layer(layer);
/// # let _ = app;
/// ```
pub trait CancelLayerExt: sealed::Sealed {
    /// The same layer for an HTTP server: a cancelled request is answered with a status (see
    /// [`status_for`](super::status_for)) instead of failing, so the service keeps its error
    /// type and drops into `axum::Router::layer` as is; and the request's token stays alive
    /// while the response body streams, firing with `ClientDisconnected` if the body is
    /// dropped before its end.
    ///
    /// The body watches the token only while something else still holds it (a task the
    /// handler spawned, a child token, a registry of operations): when the answer leaves the
    /// layer and nothing but the layer holds the token, nobody could see it fire, so the
    /// token is dropped there and the body passes through unwatched
    /// ([`CancelBody::is_watching`](super::CancelBody::is_watching)).
    fn for_http(self) -> HttpCancelLayer;

    /// The same layer for a gRPC server (tonic's `Server::layer`, say): a cancelled call is
    /// answered with a trailers-only gRPC response whose status says why (see
    /// [`grpc_status_for`](super::grpc_status_for)), as gRPC clients expect; otherwise as
    /// [`for_http`](Self::for_http).
    fn for_grpc(self) -> HttpCancelLayer;
}

impl CancelLayerExt for CancelLayer {
    fn for_http(self) -> HttpCancelLayer {
        HttpCancelLayer::new(self, false)
    }

    fn for_grpc(self) -> HttpCancelLayer {
        HttpCancelLayer::new(self, true)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for steadfast::cancel::CancelLayer {}
}
