//! The outcome vocabulary shared by every layer.
//!
//! Each call a layer watches ends in a `Result<Response, Error>`. A [`Classify`] turns that
//! result into an [`Outcome`]: a success, a retryable failure (optionally with a server hint
//! for the delay), a non-retryable failure, an ignored outcome, or an invalid response. Retry
//! decides whether to try again from it, the circuit breaker decides what to record, and
//! validation produces the `Invalid` outcome.
//!
//! Classifiers are values: closures, the ready-made ones in this module, or your own type.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::classify::{Classify, Outcome, Attempt, ErrorIs, classify_fn};
//!
//! // Retry I/O errors (wrapped or not); every other error is final.
//! let by_type = ErrorIs::<std::io::Error>::new();
//! let err: steadfast::BoxError = Box::new(std::io::Error::other("reset"));
//! let ctx = Attempt::first(&());
//! assert_eq!(Classify::<(), u16, steadfast::BoxError>::classify(&by_type, &ctx, Err(&err)),
//!            Outcome::retryable());
//!
//! // Classify responses with a closure: 503 is retryable after a second, 4xx is final.
//! let by_status = classify_fn(|_: &Attempt<'_, ()>, r: Result<&u16, &std::io::Error>| match r {
//!     Ok(503) => Outcome::retry_after(Duration::from_secs(1)),
//!     Ok(s) if *s >= 400 => Outcome::NonRetryable,
//!     Ok(_) => Outcome::Success,
//!     Err(_) => Outcome::retryable(),
//! });
//! assert_eq!(by_status.classify(&ctx, Ok(&503)), Outcome::retry_after(Duration::from_secs(1)));
//! assert_eq!(by_status.classify(&ctx, Ok(&404)), Outcome::NonRetryable);
//! ```
//!
//! This module holds [`Outcome`], the [`Classify`] trait and the [`Attempt`] it judges,
//! [`LateOutcome`] for outcomes known only when an answer ends, the ready-made classifiers
//! ([`AnyError`], [`Never`], [`ErrorIs`], [`AnyOf`], [`RetryIfResponse`], [`classify_fn`]), and
//! [`refine`], which adjusts any classifier's verdict with what steadfast's own errors say.
//!
//! For a request that carries a [decision trace](crate::trace), layers ask
//! [`Classify::explain`] instead of `classify`: the same verdict, with the rule that gave it.
//! The ready-made classifiers name theirs (`"any error"`, `"never retried"`, `"error is T"`,
//! `"response matched"`; [`AnyOf`] says which side decided: `"second: error is T"`); a
//! closure names none.

// One file per concept: `outcome.rs` (the verdict), `classifier.rs` (the trait and the attempt
// it judges), `late.rs`, `ready.rs` (the ready-made classifiers). `refine`, the only code that
// names the layers' own error types, is the crate's `refine.rs`, above them; re-exported here.
mod classifier;
mod late;
mod outcome;
mod ready;
#[cfg(test)]
mod tests;

pub use crate::error::{find_source, AsDynError};
pub use crate::refine::{is_invalid, is_rejected_request, refine};
pub use classifier::{Attempt, Classify};
pub use late::LateOutcome;
pub use outcome::Outcome;
pub use ready::{classify_fn, AnyError, AnyOf, ClassifyFn, ErrorIs, Never, RetryIfResponse};
