//! steadfast's cancel layer for HTTP and gRPC servers: a cancelled request is answered with a
//! status instead of an error, and the request's token stays alive while the response body
//! streams.
//!
//! Bring [`CancelLayerExt`] into scope and call [`for_http`](CancelLayerExt::for_http) (or
//! [`for_grpc`](CancelLayerExt::for_grpc)) on a built
//! [`CancelLayer`](steadfast::cancel::CancelLayer):
//!
//! * A cancelled request is answered with a status: 504 on a timeout or deadline, 503 on
//!   shutdown (see [`status_for`]); a gRPC call with a trailers-only answer whose
//!   `grpc-status` says why (see [`grpc_status_for`]). The service keeps its error type, so
//!   the layer drops into `axum::Router::layer` as is.
//! * The answer's body is a [`CancelBody`], which cancels the request's token with
//!   `ClientDisconnected` if it is dropped before its end (the client left mid-stream).
//!
//! ```
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use steadfast::cancel::CancelLayer;
//! use steadfast_http::CancelLayerExt;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! async fn slow() -> &'static str {
//!     tokio::time::sleep(Duration::from_secs(60)).await;
//!     "done"
//! }
//! let app: Router = Router::new()
//!     .route("/slow", get(slow))
//!     .layer(CancelLayer::builder().timeout(Duration::from_secs(10)).build().unwrap().for_http());
//! let req = http::Request::get("/slow").body(axum::body::Body::empty()).unwrap();
//! let res = app.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), http::StatusCode::GATEWAY_TIMEOUT);
//! # }
//! ```

mod body;
mod ext;
mod future;
mod layer;
mod service;
mod status;

pub use body::CancelBody;
pub use ext::CancelLayerExt;
pub use future::HttpResponseFuture;
pub use layer::HttpCancelLayer;
pub use service::HttpCancel;
pub use status::{grpc_status_for, status_for};
