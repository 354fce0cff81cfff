//! Chaos: inject faults, outcomes, latency and behaviour into a share of requests, so tests
//! rehearse the failures production will bring, and the resilience around them (retries,
//! breakers, timeouts, fallbacks) is seen to work.
//!
//! [`ChaosLayer`] follows Polly's chaos strategies (formerly Simmy), one injection for each:
//!
//! | Polly | steadfast | what it does |
//! |---|---|---|
//! | fault strategy | [`FaultInjection`] | an error ([`ChaosError`] or yours) instead of the answer |
//! | outcome strategy | [`OutcomeInjection`] | a response of yours instead of the answer |
//! | latency strategy | [`LatencyInjection`] | a delay, fixed or drawn from a distribution |
//! | behavior strategy | [`BehaviorInjection`] | a closure run on the request before it is sent |
//!
//! Each injection fires for a share of requests (its *rate*, from 0.0 to 1.0), only while its
//! [`ChaosSwitch`] and the layer's are on (flip them from any thread while the service runs),
//! and only for requests its predicates accept (`when`). The draws come from the layer's
//! [random source](crate::random), which a test seeds to get the same injections on every run.
//! Every injection is announced by a `tracing` event (`"chaos injected"`, with fields `layer`
//! and `injection`, and `delay_ms` for latency). With its switch off, the layer passes every
//! request straight through.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::chaos::{ChaosError, ChaosLayer, FaultInjection, LatencyInjection, OutcomeInjection};
//! use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // Rehearse a flaky dependency: a fifth of the calls fail, a tenth answer "busy", half are slow.
//! let chaos = ChaosLayer::builder()
//!     .seed(2024)
//!     .fault(FaultInjection::chaos().rate(0.2))
//!     .outcome(OutcomeInjection::value("busy".to_string()).rate(0.1))
//!     .latency(LatencyInjection::fixed(Duration::from_millis(40)).rate(0.5))
//!     .build()
//!     .unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::builder().max_attempts(5).backoff(Backoff::none()).build().unwrap()))
//!     .layer(chaos)
//!     .service_fn(|q: String| async move { Ok::<_, std::io::Error>(format!("answer to {q}")) });
//!
//! // The retry layer rides out the injected faults.
//! let answer = svc.oneshot("q".to_string()).await.unwrap();
//! assert!(answer == "answer to q" || answer == "busy");
//! # let _ = ChaosError::new("chaos", steadfast::chaos::Injection::Fault);
//! # }
//! ```
//!
//! See `docs/chaos.md` in the repository for using it in tests, and `steadfast-http`'s `chaos`
//! module for HTTP responses and predicates.
//!
//! For a request carrying a [decision trace](crate::trace), every injection is recorded
//! under the layer's name ([`Decision::Injected`](crate::trace::Decision::Injected), with
//! `"behavior"`, `"latency"`, `"fault"` or `"outcome"`), and a [`ChaosError`] it injects
//! carries the trace ([`ChaosError::decision_trace`]). The trace is looked for only when an
//! injection fires.

mod behavior;
mod config;
mod describe;
mod error;
mod events;
mod fault;
mod future;
mod latency;
mod layer;
mod outcome;
mod service;
mod switch;
mod trigger;

pub use behavior::BehaviorInjection;
pub use error::{ChaosError, Injection};
pub use events::ChaosEvent;
pub use fault::FaultInjection;
pub use future::ResponseFuture;
pub use latency::LatencyInjection;
pub use layer::{ChaosLayer, ChaosLayerBuilder};
pub use outcome::OutcomeInjection;
pub use service::Chaos;
pub use switch::ChaosSwitch;
