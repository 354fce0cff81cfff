//! The axum extractor for the request's cancellation token.

use std::fmt;
use std::future::Future;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use steadfast::token::CancelToken;

/// The request's [`CancelToken`], as an axum extractor.
///
/// It fires when the request is cancelled: its client disconnected, its timeout or deadline
/// passed, or the server is shutting down. Hand it to the work the handler starts (spawned
/// tasks, outbound requests) so that work stops when nobody waits for it.
///
/// Needs steadfast's `CancelLayer` on the route (usually in its HTTP form,
/// [`for_http`](crate::CancelLayerExt::for_http)); without it the extractor rejects the request with
/// [`MissingToken`], a 500 that says so.
///
/// ```
/// use axum::{body::Body, routing::get, Router};
/// use http_body_util::BodyExt;
/// use steadfast::cancel::CancelLayer;
/// use steadfast_http::{CancelLayerExt, RequestToken};
/// use tower::ServiceExt;
///
/// async fn handler(RequestToken(token): RequestToken) -> String {
///     tokio::select! {
///         _ = token.cancelled() => "cancelled".to_string(),
///         answer = async { "the answer".to_string() } => answer,
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let app = Router::new().route("/", get(handler)).layer(CancelLayer::new().for_http());
/// let res = app.oneshot(http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "the answer");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RequestToken(pub CancelToken);

impl<S: Send + Sync> FromRequestParts<S> for RequestToken {
    type Rejection = MissingToken;

    /// Ready at once: one lookup in the extensions, and a clone of the token.
    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, MissingToken>> + Send {
        std::future::ready(
            parts
                .extensions
                .get::<CancelToken>()
                .cloned()
                .map(RequestToken)
                .ok_or(MissingToken),
        )
    }
}

/// The request has no cancellation token: steadfast's `CancelLayer` is not installed on this
/// route. The rejection of [`RequestToken`]; answers 500 Internal Server Error, with a message
/// that says what is missing.
///
/// ```
/// use axum::{body::Body, routing::get, Router};
/// use steadfast_http::RequestToken;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // No `CancelLayer` on this route.
/// let app = Router::new().route("/", get(|RequestToken(_): RequestToken| async { "unreachable" }));
/// let res = app.oneshot(http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), 500);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MissingToken;

impl fmt::Display for MissingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the request has no cancellation token: add steadfast's CancelLayer to the route",
        )
    }
}

impl std::error::Error for MissingToken {}

impl IntoResponse for MissingToken {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn handler(RequestToken(token): RequestToken) -> String {
        format!("cancelled: {}", token.is_cancelled())
    }

    #[tokio::test]
    async fn extracts_the_token_the_layer_put_there() {
        let app = Router::new()
            .route("/", get(handler))
            .layer(crate::CancelLayerExt::for_http(
                steadfast::cancel::CancelLayer::new(),
            ));
        let resp = app
            .oneshot(
                http::Request::get("/")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn rejects_without_the_layer() {
        let app = Router::new().route("/", get(handler));
        let resp = app
            .oneshot(
                http::Request::get("/")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
