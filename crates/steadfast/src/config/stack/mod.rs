//! A whole stack from its settings in one call: [`StackSettings::layer`] (or
//! [`StackSettings::builder`], for the parts that stay in code) returns one tower `Layer` that
//! applies the stack's total timeout, retry policy, circuit breaker, attempt timeout and
//! validate layer in the order `docs/composition.md` explains, leaving out the layers the
//! stack does not give.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::config::{Config, Format};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let config = Config::from_str(
//!     r#"{ "stacks": { "inventory": {
//!         "cancel": "5s",
//!         "retry": { "max_attempts": 3, "backoff": { "kind": "none" } },
//!         "breaker": { "consecutive_failures": 10 },
//!         "attempt_timeout": "1s"
//!     } } }"#,
//!     Format::Json,
//! )
//! .unwrap();
//! let stack = config.find_stack("inventory").unwrap().layer(steadfast::classify::AnyError).unwrap();
//!
//! // A downstream that never answers: three attempts of 1s each, then the attempt's timeout.
//! let svc = stack.layer(service_fn(|_: u32| async {
//!     std::future::pending::<Result<u32, std::io::Error>>().await
//! }));
//! let started = tokio::time::Instant::now();
//! assert!(svc.oneshot(1).await.is_err());
//! assert_eq!(started.elapsed(), Duration::from_secs(3));
//! # }
//! ```

mod builder;
mod describe;
mod future;
#[cfg(feature = "hedge")]
mod hedged;
mod layer;
mod service;
mod validate;

pub use builder::StackBuilder;
pub use future::OptionalFuture;
#[cfg(feature = "hedge")]
pub use hedged::{HedgedStackLayer, HedgedStackService};
pub use layer::{StackLayer, StackService};
pub use service::{Optional, OptionalLayer};
pub use validate::{BuildValidate, NoValidate};
