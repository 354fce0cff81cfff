//! The client preset as settings of a file, and a file's stack put on top of it (feature
//! `config`).

use steadfast::config::{
    BackoffSettings, BreakerSettings, BudgetSettings, CancelSettings, FailureRate, RetrySettings,
    StackSettings, Strategy, WindowSettings,
};
use steadfast::retry::Jitter;
use steadfast::ConfigError;

use super::client::{
    StandardClient, ATTEMPT_TIMEOUT, BACKOFF_BASE, BACKOFF_MAX, BREAKER_WINDOW, FAILURE_RATE,
    MAX_ATTEMPTS, MAX_HINT, MINIMUM_CALLS, OPEN_FOR, TOTAL_TIMEOUT,
};
use crate::replay::ReplayCloner;
use crate::HttpClassifier;

/// The name of the classifier the preset uses, as a file names it.
const CLASSIFY: &str = "http";

impl StandardClient {
    /// The preset's settings as a settings file holds a stack (its concurrency limit, replay,
    /// attempt header and deadline header are code only): what
    /// [`from_stack`](Self::from_stack) starts from.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_http::preset::StandardClient;
    ///
    /// let stack = StandardClient::stack_settings();
    /// assert_eq!(stack.cancel.unwrap().timeout, Some(Duration::from_secs(30)));
    /// assert_eq!(stack.retry.unwrap().max_attempts, Some(4));
    /// ```
    pub fn stack_settings() -> StackSettings {
        let mut cancel = CancelSettings::default();
        cancel.timeout = Some(TOTAL_TIMEOUT);
        let mut backoff = BackoffSettings::default();
        backoff.strategy = Some(Strategy::Exponential {
            base: BACKOFF_BASE,
            factor: None,
        });
        backoff.max = Some(BACKOFF_MAX);
        backoff.jitter = Some(Jitter::Equal);
        let mut retry = RetrySettings::default();
        retry.max_attempts = Some(MAX_ATTEMPTS);
        retry.backoff = Some(backoff);
        retry.max_hint = Some(MAX_HINT);
        retry.budget = Some(BudgetSettings::Ratio {
            ratio: None,
            min_per_second: None,
            window: None,
        });
        retry.classify = Some(CLASSIFY.into());
        let mut breaker = BreakerSettings::default();
        breaker.failure_rate = Some(FailureRate::Percent(FAILURE_RATE));
        breaker.window = Some(WindowSettings::Time {
            length: BREAKER_WINDOW,
            buckets: 10,
        });
        breaker.minimum_calls = Some(MINIMUM_CALLS);
        breaker.open_for = Some(OPEN_FOR);
        let mut attempt = CancelSettings::default();
        attempt.timeout = Some(ATTEMPT_TIMEOUT);
        let mut stack = StackSettings::default();
        stack.cancel = Some(cancel);
        stack.retry = Some(retry);
        stack.breaker = Some(breaker);
        stack.attempt_timeout = Some(attempt);
        stack
    }

    /// The preset with `stack`'s settings on top, setting by setting, as a file's stack
    /// overrides its defaults: a layer the stack does not give keeps the preset's settings,
    /// and so does every setting of a layer it does not give. The layers the stack gives are
    /// named as it names them (a file names them after the stack's key); the others keep no
    /// name unless [`name`](Self::name) names every layer.
    ///
    /// The retry classifier stays [`HttpClassifier`]: a stack whose `retry.classify` names
    /// another is refused, as are settings a layer's builder refuses.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::config::{Config, Format};
    /// use steadfast_http::preset::StandardClient;
    ///
    /// let config = Config::from_str(
    ///     r#"{ "stacks": { "inventory": { "cancel": "20s", "retry": { "max_attempts": 2 } } } }"#,
    ///     Format::Json,
    /// )
    /// .unwrap();
    /// let layer = StandardClient::from_stack(config.stack("inventory").unwrap())
    ///     .unwrap()
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.policy().max_attempts(), 2);
    /// assert_eq!(layer.policy().name(), "inventory");
    /// ```
    pub fn from_stack(stack: &StackSettings) -> Result<StandardClient, ConfigError> {
        let preset = Self::stack_settings();
        let over = |a: &Option<CancelSettings>, b: &Option<CancelSettings>| match (a, b) {
            (Some(a), Some(b)) => a.overridden_by(b),
            (a, b) => b.clone().or_else(|| a.clone()).unwrap_or_default(),
        };
        let total = over(&preset.cancel, &stack.cancel);
        let attempt = over(&preset.attempt_timeout, &stack.attempt_timeout);
        let retry = match (&preset.retry, &stack.retry) {
            (Some(a), Some(b)) => a.overridden_by(b),
            (a, b) => b.clone().or_else(|| a.clone()).unwrap_or_default(),
        };
        let breaker = match (&preset.breaker, &stack.breaker) {
            (Some(a), Some(b)) => a.overridden_by(b),
            (a, b) => b.clone().or_else(|| a.clone()).unwrap_or_default(),
        };
        if let Some(name) = retry.classify.as_deref().filter(|c| *c != CLASSIFY) {
            // A name no classifier has is reported with the known names.
            if let Err(e) = crate::by_name::classifier_by_name("retry.classify", name) {
                return Err(ConfigError::new(
                    "standard client",
                    "retry.classify",
                    e.to_string(),
                ));
            }
            return Err(ConfigError::new(
                "standard client",
                "retry.classify",
                format!("the preset classifies with `{CLASSIFY}` (got `{name}`)"),
            ));
        }
        let mut client = StandardClient {
            total: total.builder(),
            retry: retry
                .builder()?
                .classify(HttpClassifier::default())
                .clone_requests(ReplayCloner),
            breaker: breaker.builder(),
            attempt: attempt.builder(),
            ..StandardClient::default()
        };
        if let Some(t) = total.timeout {
            client.total_timeout = t;
        }
        if let Some(t) = attempt.timeout {
            client.attempt_timeout = t;
        }
        Ok(client)
    }
}
