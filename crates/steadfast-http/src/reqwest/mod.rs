//! reqwest: the client preset, or any stack of steadfast layers, around a `reqwest::Client`
//! (feature `reqwest`), and as a `reqwest_middleware::Middleware` (feature
//! `reqwest-middleware`).
//!
//! * [`ReqwestTransport`] sends the stack's `http::Request`s with a `reqwest::Client`, so every
//!   layer works as over hyper-util's client: replayed bodies, the cancel token, server
//!   hints, the deadline header.
//! * [`ReqwestClient`] takes and gives reqwest's own `Request` and `Response` around such a
//!   stack; [`StandardClientLayer::reqwest`](crate::preset::StandardClientLayer::reqwest)
//!   builds the whole thing from the preset.
//! * `SteadfastMiddleware` (feature `reqwest-middleware`) runs the preset's retries, breaker
//!   and timeouts inside a `reqwest_middleware::ClientWithMiddleware`.
//!
//! Bodies are replayed by steadfast's [`ReplayLayer`](crate::replay::ReplayLayer), not by
//! `reqwest::Request::try_clone`, so a streamed body is retried too (up to the replay cap).
//!
//! ```
//! use steadfast_http::preset::standard_http_client;
//! use tower::ServiceExt;
//!
//! # async fn run() -> Result<(), steadfast::BoxError> {
//! let reqwest = reqwest::Client::new();
//! let client = standard_http_client().name("inventory").build()?.reqwest(reqwest.clone());
//! let req = reqwest.get("http://inventory.internal/stock").build()?;
//! let res: reqwest::Response = client.oneshot(req).await?;
//! # let _ = res;
//! # Ok(()) }
//! ```

mod client;
mod convert;
mod future;
#[cfg(feature = "reqwest-middleware")]
mod middleware;
mod transport;

pub use client::ReqwestClient;
pub use future::{ClientFuture, TransportFuture};
#[cfg(feature = "reqwest-middleware")]
pub use middleware::{MiddlewareFuture, NextTransport, SteadfastMiddleware};
pub use transport::ReqwestTransport;
