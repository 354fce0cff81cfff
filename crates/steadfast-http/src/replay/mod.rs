//! Request bodies that can be sent again, so that steadfast's retry layer can retry requests
//! whose bodies stream.
//!
//! A retry layer keeps a copy of each request for its next attempt, but a streamed body can be
//! read only once. [`ReplayLayer`] wraps every request's body in a [`ReplayBody`], which keeps
//! what the first attempt reads (up to a cap, 64 KiB by default) and replays it to the copies
//! made by [`ReplayCloner`]. A body that grows past the cap is still sent once, whole; the
//! retry layer then stops with
//! [`StopReason::NotReplayable`](steadfast::retry::StopReason::NotReplayable) instead of
//! sending it again. As with every stop, a retryable *response* (a 503, say) is returned as
//! it is, and a retryable *error* becomes a [`RetryError`](steadfast::retry::RetryError).
//!
//! Put the replay layer outside the retry layer, so every attempt sees a `ReplayBody`:
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use steadfast::classify::{Attempt, Outcome};
//! use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
//! use steadfast_http::replay::{ReplayBody, ReplayCloner, ReplayLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! type Req = Request<ReplayBody<Full<Bytes>>>;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let policy = RetryPolicy::builder()
//!     .max_attempts(3)
//!     .backoff(Backoff::constant(Duration::from_millis(100)))
//!     .classify_with(|_: &Attempt<'_, Req>, r: Result<&Response<()>, &steadfast::BoxError>| {
//!         match r {
//!             Ok(resp) if resp.status() == StatusCode::SERVICE_UNAVAILABLE => Outcome::retryable(),
//!             Ok(_) => Outcome::Success,
//!             Err(_) => Outcome::retryable(),
//!         }
//!     })
//!     .clone_requests(ReplayCloner)
//!     .build()
//!     .unwrap();
//!
//! // A server that reads the body, and is unavailable the first time.
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let server = {
//!     let seen = seen.clone();
//!     tower::service_fn(move |req: Req| {
//!         let seen = seen.clone();
//!         async move {
//!             let body = req.into_body().collect().await?.to_bytes();
//!             let mut seen = seen.lock().unwrap();
//!             seen.push(body);
//!             let status = if seen.len() == 1 { 503 } else { 200 };
//!             Ok::<_, steadfast::BoxError>(Response::builder().status(status).body(()).unwrap())
//!         }
//!     })
//! };
//!
//! let client = ServiceBuilder::new()
//!     .layer(ReplayLayer::builder().max_bytes(1024).build().unwrap())
//!     .layer(RetryLayer::new(policy))
//!     .service(server);
//!
//! let req = Request::post("http://upload.internal/report")
//!     .body(Full::new(Bytes::from_static(b"the report")))
//!     .unwrap();
//! let resp = client.oneshot(req).await.unwrap();
//! assert_eq!(resp.status(), StatusCode::OK);
//! assert_eq!(*seen.lock().unwrap(), ["the report", "the report"]);
//! # }
//! ```

mod body;
mod cloner;
mod error;
mod layer;

pub use body::ReplayBody;
pub use cloner::ReplayCloner;
pub use error::ReplayError;
pub use layer::{Replay, ReplayLayer, ReplayLayerBuilder, DEFAULT_MAX_BYTES};
