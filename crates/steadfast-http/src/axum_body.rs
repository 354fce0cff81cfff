//! axum's own body type back from the cancel layer.
//!
//! [`for_http`](crate::CancelLayerExt::for_http) answers with a
//! [`CancelBody`] around the inner service's body. axum wants its own `Body`, and boxes any other
//! body type into one: an allocation per response. [`into_axum_response`] hands axum its body
//! back unwrapped when the wrapper watches no token (nothing but the layer held the request's
//! token when the answer left it, so nobody could see it fire), and boxes it only when it
//! watches one.

use crate::cancel::CancelBody;
use axum_core::body::Body;
use http::Response;

/// The cancel layer's response with axum's body type: the inner body itself when the
/// [`CancelBody`] watches no token ([`CancelBody::is_watching`]), else the `CancelBody` boxed in
/// axum's `Body`, still cancelling the request's token with `ClientDisconnected` if the client
/// leaves before the body's end. For `map_response` on the service the cancel layer makes:
///
/// ```
/// use axum::{routing::get, Router};
/// use steadfast::cancel::CancelLayer;
/// use steadfast_http::{into_axum_response, CancelLayerExt};
/// use tower::ServiceBuilder;
///
/// let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(
///     ServiceBuilder::new()
///         .map_response(into_axum_response)
///         .layer(CancelLayer::new().for_http()),
/// );
/// # let _ = app;
/// ```
pub fn into_axum_response(resp: Response<CancelBody<Body>>) -> Response<Body> {
    resp.map(|body| {
        if body.is_watching() {
            Body::new(body)
        } else {
            body.into_inner()
        }
    })
}
