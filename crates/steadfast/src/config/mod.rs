//! Settings as data: the layers' settings read from TOML, YAML or JSON files (feature
//! `serde`; TOML with `toml`, YAML with `yaml`), with human durations, every problem reported
//! at once with its path, and turned into the layers' builders.
//!
//! A file holds `[defaults]` (for `retry`, `hedge`, `breaker`, `cancel` and
//! `attempt_timeout`), named retry policies (`[policies.NAME]`), named hedge layers
//! (`[hedges.NAME]`), named breakers (`[breakers.NAME]`), chaos experiments
//! (`[chaos.NAME]`) and stacks (`[stacks.NAME]`) of a
//! total timeout (`cancel`), a `retry` policy, a `hedge` layer, a `breaker` and an
//! `attempt_timeout`, and the checks of its `validate` layer. Each policy, hedge layer, breaker and stack layer starts from the
//! defaults and overrides them setting by setting; a stack's `retry`, `hedge` or `breaker` may
//! name one of the file (`retry = "standard"`), or start from one and override some of its
//! settings (`retry = { from = "standard", max_attempts = 5 }`). See `docs/configuration.md`
//! in the repository for the whole format.
//!
//! ```
//! # #[cfg(all(feature = "retry", feature = "circuit-breaker"))] {
//! use std::time::Duration;
//! use steadfast::config::{Config, Format};
//!
//! let text = r#"{
//!     "defaults": { "retry": { "max_attempts": 3, "backoff": { "max": "2s" } } },
//!     "policies": { "standard": { "backoff": { "kind": "constant", "delay": "250ms" } } },
//!     "stacks": {
//!         "inventory": {
//!             "cancel": "5s",
//!             "retry": { "from": "standard", "max_attempts": 5 },
//!             "breaker": { "failure_rate": 25, "window": { "time": "1m" } }
//!         }
//!     }
//! }"#;
//! let config = Config::from_str(text, Format::Json).unwrap();
//! let stack = config.stack("inventory").unwrap();
//! let retry = stack.retry.as_ref().unwrap();
//! assert_eq!(retry.max_attempts, Some(5));
//! assert_eq!(retry.name.as_deref(), Some("inventory"));
//! assert_eq!(stack.cancel.as_ref().unwrap().timeout, Some(Duration::from_secs(5)));
//!
//! // Settings become the layers' builders, for the parts that stay in code.
//! let policy = retry.builder().unwrap().build().unwrap();
//! assert_eq!(policy.max_attempts(), 5);
//! let breaker = stack.breaker.as_ref().unwrap().build().unwrap();
//! # let _ = breaker;
//!
//! // Every problem at once, with its path.
//! let err = Config::from_str(
//!     r#"{ "policies": { "fast": { "max_atempts": 2, "max_elapsed": "2x" } } }"#,
//!     Format::Json,
//! )
//! .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "policies.fast.max_elapsed = \"2x\": not a duration (use a unit: \"2s\")\n\
//!      policies.fast.max_atempts = 2: unknown setting (did you mean `max_attempts`?)"
//! );
//! # }
//! ```

/// The path the builders import `ConfigError` from; it is defined with the rest of the error
/// vocabulary, in the `error` module.
pub(crate) use crate::error::ConfigError;

#[cfg(feature = "serde")]
mod backoff;
#[cfg(feature = "serde")]
mod breaker;
#[cfg(feature = "serde")]
mod cancel;
#[cfg(feature = "serde")]
mod chaos;
#[cfg(feature = "serde")]
mod classify;
#[cfg(feature = "serde")]
mod duration;
#[cfg(feature = "serde")]
mod file;
#[cfg(feature = "serde")]
mod hedge;
#[cfg(feature = "serde")]
mod lint;
#[cfg(feature = "serde")]
mod node;
#[cfg(feature = "serde")]
mod read;
#[cfg(feature = "reload")]
mod reload;
#[cfg(feature = "serde")]
mod retry;
#[cfg(all(
    feature = "serde",
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel"
))]
mod stack;
#[cfg(feature = "serde")]
mod validate;

#[cfg(feature = "serde")]
pub use backoff::{BackoffSettings, Strategy};
#[cfg(feature = "serde")]
pub use breaker::{BreakerSettings, FailureRate, HalfOpenMode, SlowCallRate, WindowSettings};
#[cfg(feature = "serde")]
pub use cancel::CancelSettings;
#[cfg(feature = "serde")]
pub use chaos::{ChaosLatency, ChaosSettings, LatencySettings};
#[cfg(feature = "serde")]
pub use classify::{ClassifyRules, CodeSetting, GRPC_CODE_NAMES};
#[cfg(feature = "serde")]
pub use duration::{format_duration, parse_duration};
#[cfg(feature = "serde")]
pub use file::{load, Config, StackSettings};
#[cfg(feature = "serde")]
pub use hedge::{DelaySettings, HedgeModeSetting, HedgeSettings};
#[cfg(feature = "serde")]
pub use lint::{lint, Lint, LintKind};
#[cfg(feature = "serde")]
pub use node::{Format, Node};
#[cfg(feature = "serde")]
pub use read::{Problem, SettingsError};
#[cfg(feature = "reload")]
pub use reload::{ReloadFuture, ReloadService, ReloadableStack};
#[cfg(feature = "serde")]
pub use retry::{BudgetSettings, RetrySettings};
#[cfg(all(
    feature = "serde",
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel"
))]
pub use stack::{
    BuildValidate, NoValidate, Optional, OptionalFuture, OptionalLayer, StackBuilder, StackLayer,
    StackService,
};
#[cfg(all(
    feature = "serde",
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "hedge"
))]
pub use stack::{HedgedStackLayer, HedgedStackService};
#[cfg(feature = "serde")]
pub use validate::ValidateSettings;
