//! HTTP glue for [steadfast](https://docs.rs/steadfast): what a generic tower layer cannot know
//! about HTTP.
//!
//! * [`cancel`]: steadfast's cancel layer for HTTP and gRPC servers, through
//!   [`CancelLayerExt`]: `CancelLayer::builder()...build()?.for_http()` answers a cancelled
//!   request with a status and keeps its token alive while the response body streams.
//! * [`RequestToken`]: an axum extractor for the request's
//!   [`CancelToken`](steadfast::token::CancelToken), put there by steadfast's `CancelLayer`.
//! * [`WithCancelToken`]: hands a token to an outbound request in one call, so the outbound
//!   retry layer stops the moment the inbound client goes away.
//! * [`hint`]: reads how long a server asks its clients to wait before retrying
//!   (`Retry-After`, `RateLimit-Reset`, `X-RateLimit-Reset`, `grpc-retry-pushback-ms`), with
//!   [`ServerHints`], a reader that tries them in a configured order and clamps the delay.
//! * [`grpc_timeout`]: reads and writes the `grpc-timeout` header.
//! * [`grpc_status`]: the gRPC status sent in the trailers of a streamed answer, seen by the
//!   circuit breaker when the body ends.
//! * [`preset`]: the client and server stacks to start from, [`standard_http_client`] and
//!   [`standard_http_server`], with their defaults and the reasons for them.
//! * `reqwest` (feature `reqwest`): the presets and steadfast's layers around a
//!   `reqwest::Client`, and (feature `reqwest-middleware`) as a `reqwest_middleware`
//!   middleware.
//! * [`replay`]: request bodies that can be sent again, so the retry layer can retry requests
//!   whose bodies stream.
//!
//! ```
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use steadfast::cancel::CancelLayer;
//! use steadfast_http::{CancelLayerExt, RequestToken, WithCancelToken};
//!
//! async fn report(RequestToken(token): RequestToken) -> &'static str {
//!     // Outbound calls carry the inbound token: they stop when the client leaves.
//!     let outbound = http::Request::get("http://inventory.internal/stock")
//!         .with_cancel_token(&token)
//!         .body(())
//!         .unwrap();
//!     # let _ = outbound;
//!     "ok"
//! }
//!
//! let app: Router = Router::new()
//!     .route("/report", get(report))
//!     .layer(CancelLayer::builder().timeout(Duration::from_secs(10)).build().unwrap().for_http());
//! # let _ = app;
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod attempt;
#[cfg(feature = "axum")]
mod axum_body;
pub mod by_name;
pub mod cancel;
pub mod chaos;
pub mod classify;
pub mod deadline;
mod describe;
#[cfg(feature = "axum")]
mod extract;
pub mod grpc;
mod grpc_code;
pub mod grpc_status;
pub mod grpc_timeout;
mod headers;
pub mod hint;
pub mod idempotency;
pub mod preset;
mod propagate;
pub mod replay;
#[cfg(feature = "reqwest")]
pub mod reqwest;
pub mod transport;
pub mod validate;

#[cfg(feature = "axum")]
pub use axum_body::into_axum_response;
pub use cancel::CancelLayerExt;
pub use classify::{HttpClassifier, HttpClassifierBuilder, Rule};
#[cfg(feature = "axum")]
pub use extract::{MissingToken, RequestToken};
pub use grpc::{GrpcClassifier, GrpcCode};
#[cfg(feature = "tonic")]
pub use grpc::{TonicBody, TonicBodyLayer};
pub use hint::{ServerHint, ServerHints};
pub use idempotency::{Idempotency, IdempotentOnly};
pub use preset::{standard_http_client, standard_http_server};
pub use propagate::WithCancelToken;
