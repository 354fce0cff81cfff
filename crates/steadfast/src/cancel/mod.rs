//! Per-request cancellation: a [`CancelToken`](crate::token::CancelToken) in every request's
//! extensions, fired by a timeout, a deadline, a parent (server shutdown), the caller, or a
//! client that goes away.
//!
//! Put [`CancelLayer`] outermost: its token bounds everything inside. A retry layer inside
//! stops retrying (and stops sleeping) the moment the token fires, a circuit breaker ignores
//! calls that failed because they were cancelled, and handlers can pass the token to the work
//! they start.
//!
//! On an HTTP or gRPC server, use the layer's server forms from `steadfast-http`
//! (`steadfast_http::CancelLayerExt`: `CancelLayer::builder()...build()?.for_http()`), which
//! answer a cancelled request with a status and keep its token alive while the response body
//! streams. They are built on [`Cancel::race`] and [`ResponseFuture::poll_race`], which a
//! wrapper of your own can use too.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::cancel::CancelLayer;
//! use steadfast::retry::{Backoff, RetryError, RetryLayer, RetryPolicy, StopReason};
//! use steadfast::token::CancelReason;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let svc = ServiceBuilder::new()
//!     .layer(CancelLayer::builder().timeout(Duration::from_secs(1)).build().unwrap())
//!     .layer(RetryLayer::new(
//!         RetryPolicy::builder()
//!             .max_attempts(10)
//!             .backoff(Backoff::constant(Duration::from_millis(400)))
//!             .build()
//!             .unwrap(),
//!     ))
//!     .service(service_fn(|_: http::Request<()>| async {
//!         Err::<(), _>(std::io::Error::other("unavailable"))
//!     }));
//!
//! // Attempts at 0, 400 and 800 ms; the next would start at 1.2 s, past the request's
//! // deadline, so the retry layer stops there instead of sleeping into the timeout.
//! let err = svc.oneshot(http::Request::new(())).await.unwrap_err();
//! let retry = err.downcast_ref::<RetryError>().unwrap();
//! assert_eq!(retry.reason(), &StopReason::Deadline);
//! assert_eq!(retry.attempts(), 3);
//! # let _ = CancelReason::Shutdown;
//! # }
//! ```
//!
//! For a request carrying a [decision trace](crate::trace), the layer records why its token
//! was cancelled, while the layer waited for the answer or before the request was sent
//! ([`Decision::Cancelled`](crate::trace::Decision::Cancelled), whose reason names the
//! source: timeout, deadline, shutdown, the caller, a client gone), under the layer's name or
//! `"cancel"`. The [`Cancelled`] error carries the trace ([`Cancelled::decision_trace`]).

mod condition;
mod describe;
mod error;
mod events;
mod future;
mod layer;
pub mod operations;
mod plan;
mod scope;
mod service;
mod shield;
mod shutdown;
mod signal;

pub use error::Cancelled;
pub use events::CancelEvent;
pub use future::ResponseFuture;
pub use layer::{CancelLayer, CancelLayerBuilder};
pub use operations::Operations;
pub use scope::ScopeError;
pub use service::Cancel;
pub use shield::shield;
pub use shutdown::Shutdown;
pub use signal::signal_token;
