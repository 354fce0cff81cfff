//! Body-aware validation for HTTP: read a response's body (up to a cap) so validators can look
//! at it, and answer invalid requests with a status on servers.
//!
//! * [`BufferLayer`] reads each response body to the end, up to a cap, and hands on a
//!   [`Buffered`] body holding the same bytes (and trailers): validators can read it with
//!   [`Buffered::bytes`], and the caller still gets the whole body. A body larger than the cap
//!   is **not** truncated: the call fails with [`BodyTooLarge`], which keeps the status and
//!   headers and says how far it got. Retry classifiers treat it as a non-retryable failure
//!   (the server answered; a bigger answer next time would not fit either).
//! * [`json`] and [`json_fields`] (feature `json`) are validators for buffered JSON bodies,
//!   and [`grpc_status`] one for buffered gRPC answers.
//! * [`success_status`] and [`has_header`] are validators for any HTTP response (and, for
//!   `has_header`, request): a 2xx status, a header that must be there.
//! * [`ValidateRequestsLayer`] (servers): checks requests with steadfast validators and
//!   answers those that fail with `422 Unprocessable Entity` (or the status you choose) and a
//!   body listing the reasons; the response's extensions hold the typed
//!   [`InvalidRequest`](steadfast::validate::InvalidRequest).
//!
//! Stack them so that the retry layer retries until the body is right:
//!
//! ```
//! use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
//! use steadfast::validate::ValidateLayer;
//! use steadfast_http::validate::{json_fields, BufferLayer, Buffered};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // A backend that sends half a JSON document the first time.
//! let calls = Arc::new(AtomicU32::new(0));
//! let backend = service_fn({
//!     let calls = calls.clone();
//!     move |_: http::Request<()>| {
//!         let body = if calls.fetch_add(1, Ordering::SeqCst) == 0 {
//!             r#"{"id": 7, "na"#
//!         } else {
//!             r#"{"id": 7, "name": "widget"}"#
//!         };
//!         async move { Ok::<_, std::io::Error>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)))) }
//!     }
//! });
//! let policy = RetryPolicy::builder().max_attempts(3).backoff(Backoff::none()).build().unwrap();
//! let client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(policy))
//!     .layer(ValidateLayer::builder().response(json_fields(["id", "name"])).build().unwrap())
//!     .layer(BufferLayer::new(64 * 1024))
//!     .service(backend);
//! let res = client.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(res.body().bytes(), &br#"{"id": 7, "name": "widget"}"#[..]);
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # }
//! ```

mod buffer;
mod buffered;
mod error;
mod grpc;
mod header;
#[cfg(feature = "json")]
mod json;
mod requests;
mod status;

pub use buffer::{Buffer, BufferFuture, BufferLayer};
pub use buffered::Buffered;
pub use error::BodyTooLarge;
pub use grpc::{grpc_status, GrpcStatusOk};
pub use header::{has_header, HasHeader};
#[cfg(feature = "json")]
pub use json::{json, json_fields, Json, JsonFields};
pub use requests::{ValidateRequests, ValidateRequestsFuture, ValidateRequestsLayer};
pub use status::{success_status, SuccessStatus};
