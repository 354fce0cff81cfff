//! Presets: the client and server stacks to start from, with every default documented and
//! the reason for it.
//!
//! * [`standard_http_client`] returns a [`StandardClient`]: a concurrency limit, a total
//!   timeout, body replay, retries, a circuit breaker and a timeout per attempt, in the order
//!   of .NET's standard resilience handler (`AddStandardResilienceHandler` in
//!   `Microsoft.Extensions.Http.Resilience`, built on Polly) and with its defaults (30 s in
//!   all, 3 retries exponential from 2 s with jitter, a breaker at 10% failures over 30 s
//!   with at least 100 calls that opens for 5 s, 10 s an attempt), plus gRPC's deadline
//!   propagation and retry marking (gRFC A6). Adjust any part, then
//!   [`build`](StandardClient::build) a tower layer for an HTTP client.
//! * [`standard_hedging_client`] returns a [`StandardHedgingClient`]: the layers of .NET's
//!   standard hedging handler (`AddStandardHedgingHandler`) with its defaults: a 30 s total
//!   timeout, one hedge after 2 s with no answer (Polly's hedging defaults), a breaker as the
//!   client preset's, 10 s an attempt.
//! * [`standard_http_server`] returns a [`StandardServer`]: the caller's deadline accepted,
//!   retries not repeated behind a caller that retries, a timeout answered with a status and
//!   a token cancelled when the client disconnects, and request validation if you give it.
//!
//! The same client settings can come from a settings file (`docs/configuration.md` in the
//! repository has the file equivalent of the preset); with the `config` feature,
//! `StandardClient::from_stack` puts a file's stack on top of the preset.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use steadfast_http::preset::standard_http_client;
//! use steadfast_http::replay::ReplayBody;
//! use tower::Layer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let layer = standard_http_client()
//!     .name("inventory")
//!     .retry(|r| r.max_attempts(3))
//!     .build()
//!     .unwrap();
//! let transport = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
//! let client = layer.layer(transport);
//! // client.oneshot(http::Request::get("http://inventory.internal/stock").body(Full::default())?)
//! # let _ = client;
//! # }
//! ```

mod client;
mod client_layer;
#[cfg(feature = "config")]
mod from_stack;
mod hedging;
mod rules;
mod server;

pub use client::{
    StandardClient, ATTEMPT_TIMEOUT, BACKOFF_BASE, BACKOFF_MAX, BREAKER_WINDOW, CONCURRENCY_LIMIT,
    FAILURE_RATE, MAX_ATTEMPTS, MAX_HINT, MINIMUM_CALLS, OPEN_FOR, TOTAL_TIMEOUT,
};
pub use client_layer::{
    StandardClientLayer, StandardClientService, StandardClientStack, StandardRetryPolicy,
};
pub use hedging::{
    standard_hedging_client, HedgeCloner, StandardHedgingClient, StandardHedgingLayer,
    StandardHedgingService, HEDGE_DELAY, HEDGE_MAX_ATTEMPTS,
};
pub use server::{StandardServer, StandardServerLayer, StandardServerService, SERVER_TIMEOUT};

/// The client stack to start from; see [`StandardClient`] for its layers, their defaults
/// and the reasons for them.
pub fn standard_http_client() -> StandardClient {
    StandardClient::default()
}

/// The server stack to start from; see [`StandardServer`] for its layers, their defaults and
/// the reasons for them.
pub fn standard_http_server() -> StandardServer {
    StandardServer::default()
}
