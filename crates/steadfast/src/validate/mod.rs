//! Validation: reject bad requests before they are sent, and treat a response that came back
//! but is wrong (malformed JSON from a model, an empty page, a missing header) as a failure
//! that can be retried.
//!
//! [`ValidateLayer`] runs [`Validator`]s on both sides of a service:
//!
//! * **Requests** are checked before the inner service sees them. A request that fails fails
//!   with [`InvalidRequest`] and the inner service is not called. The retry layer does not
//!   retry it and a circuit breaker does not count it.
//! * **Responses** are checked when they arrive. A response that fails becomes an
//!   [`Invalid<Res>`](Invalid) error that keeps the response and every reason. Its
//!   non-generic [`InvalidResponse`] source lets any layer recognise it without knowing
//!   `Res`: the retry layer retries it (recording [`Outcome::Invalid`](crate::classify::Outcome::Invalid)),
//!   and a circuit breaker counts it as a *semantic* failure, apart from transport failures
//!   (see [`count_invalid`](crate::circuit_breaker::CircuitBreakerBuilder::count_invalid)).
//!
//! Validators see a [`ValidationContext`]: the attempt number, which the retry layer above passes down
//! in the request (see [`RetryAttempt`](crate::token::RetryAttempt)), and the time elapsed.
//! So a validator can lower its bar after a few attempts.
//!
//! Put the retry layer outside the validate layer, and it retries until the output is valid.
//! When the attempts run out, the [`RetryError`](crate::retry::RetryError) keeps every
//! remembered attempt's `Invalid` error, and [`best_of`] can answer with the best of them.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
//! use steadfast::validate::{ensure, ValidateLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // A model that answers with broken JSON twice before getting it right.
//! let calls = Arc::new(AtomicU32::new(0));
//! let model = service_fn({
//!     let calls = calls.clone();
//!     move |_prompt: String| {
//!         let n = calls.fetch_add(1, Ordering::SeqCst);
//!         async move {
//!             Ok::<_, std::io::Error>(if n < 2 { "{\"answer\": 4".to_string() } else { "{\"answer\": 42}".to_string() })
//!         }
//!     }
//! });
//!
//! let svc = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::builder().max_attempts(5).backoff(Backoff::none()).build().unwrap()))
//!     .layer(
//!         ValidateLayer::builder()
//!             .request(ensure("empty prompt", |p: &String| !p.is_empty()))
//!             .response(ensure("unbalanced braces", |s: &String| s.matches('{').count() == s.matches('}').count()))
//!             .build()
//!             .unwrap(),
//!     )
//!     .service(model);
//!
//! assert_eq!(svc.oneshot("what is six times seven?".to_string()).await.unwrap(), "{\"answer\": 42}");
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! # }
//! ```
//!
//! See `docs/validate.md` in the repository for the whole model.
//!
//! For a request carrying a [decision trace](crate::trace), every reason a validator gives
//! for refusing the request or its response is recorded
//! ([`Decision::Invalid`](crate::trace::Decision::Invalid), with `"request validator"` or
//! `"response validator"` and the reason), under the layer's name or `"validate"`.
//! [`InvalidRequest`], [`Invalid`] and [`InvalidResponse`] carry the trace
//! (`decision_trace()`).

mod error;
mod events;
mod future;
mod layer;
mod reason;
mod service;
mod validator;

#[cfg(feature = "retry")]
mod best;
mod describe;

#[cfg(feature = "retry")]
pub use best::{best_of, BestOf};
pub use error::{Invalid, InvalidRequest, InvalidResponse};
pub use events::ValidateEvent;
pub use future::ResponseFuture;
pub use layer::{ValidateLayer, ValidateLayerBuilder};
pub use reason::Reason;
pub use service::Validate;
#[allow(deprecated)]
pub use validator::Context;
pub use validator::{
    ensure, from_attempt, non_empty, until_attempt, validator_fn, AcceptAll, And, Attempts, Ensure,
    NonEmpty, ValidationContext, Validator, ValidatorFn,
};
