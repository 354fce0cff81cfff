//! The client presets as settings of a file, and a file's stack put on top of them (feature
//! `config`).

use steadfast::config::{
    BackoffSettings, BreakerSettings, BudgetSettings, CancelSettings, ClassifyRules, DelaySettings,
    FailureRate, HedgeModeSetting, HedgeSettings, RetrySettings, StackSettings, Strategy,
    WindowSettings,
};
use steadfast::retry::Jitter;
use steadfast::ConfigError;

use super::client::{
    StandardClient, ATTEMPT_TIMEOUT, BACKOFF_BASE, BACKOFF_MAX, BREAKER_WINDOW, FAILURE_RATE,
    MAX_ATTEMPTS, MAX_HINT, MINIMUM_CALLS, OPEN_FOR, TOTAL_TIMEOUT,
};
use super::hedging::{StandardHedgingClient, HEDGE_DELAY, HEDGE_MAX_ATTEMPTS};
use crate::idempotency::Idempotency;
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
        let cancel = timeout(TOTAL_TIMEOUT);
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
        let mut stack = StackSettings::default();
        stack.cancel = Some(cancel);
        stack.retry = Some(retry);
        stack.breaker = Some(breaker_settings());
        stack.attempt_timeout = Some(timeout(ATTEMPT_TIMEOUT));
        stack
    }

    /// The preset with `stack`'s settings on top, setting by setting, as a file's stack
    /// overrides its defaults: a layer the stack does not give keeps the preset's settings,
    /// and so does every setting of a layer it does not give. The layers the stack gives are
    /// named as it names them (a file names them after the stack's key); the others keep no
    /// name unless [`name`](Self::name) names every layer.
    ///
    /// The classifier stays [`HttpClassifier`], with the rules the stack's `retry.classify`
    /// gives it (`{ name = "http", retry = [500] }`), for the retry layer and the breaker: a
    /// stack whose `retry.classify` names another classifier is refused, and so is one with a
    /// `hedge` or `validate` section (the preset has neither layer; `standard_hedging_client`
    /// has a hedge), or settings a layer's builder refuses.
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
        let layer = "standard client";
        refuse(
            layer,
            "hedge",
            stack.hedge.is_some(),
            "standard_hedging_client",
        )?;
        refuse(layer, "validate", stack.validate.is_some(), "")?;
        let Shared {
            total,
            attempt,
            breaker,
        } = Shared::over(&preset, stack);
        let retry = over(&preset.retry, &stack.retry, RetrySettings::overridden_by);
        let classifier = preset_classifier(
            layer,
            "retry.classify",
            retry.classify.as_deref(),
            retry.classify_rules.as_ref(),
        )?;
        let mut client = StandardClient {
            total: total.builder(),
            retry: retry
                .builder()?
                .classify(classifier.clone())
                .clone_requests(ReplayCloner),
            classifier,
            breaker: breaker.builder(),
            attempt: attempt.builder(),
            ..StandardClient::default()
        };
        client.total_timeout = total.timeout.unwrap_or(client.total_timeout);
        client.attempt_timeout = attempt.timeout.unwrap_or(client.attempt_timeout);
        Ok(client)
    }
}

impl StandardHedgingClient {
    /// The hedging preset's settings as a settings file holds a stack (its body replay and
    /// deadline header are code only, and so is hedging idempotent requests only): what
    /// [`from_stack`](Self::from_stack) starts from.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast_http::preset::StandardHedgingClient;
    ///
    /// let stack = StandardHedgingClient::stack_settings();
    /// assert_eq!(stack.hedge.unwrap().max_attempts, Some(2));
    /// assert!(stack.retry.is_none());
    /// ```
    pub fn stack_settings() -> StackSettings {
        let mut hedge = HedgeSettings::default();
        hedge.mode = Some(HedgeModeSetting::Latency);
        hedge.delay = Some(DelaySettings::Fixed(HEDGE_DELAY));
        hedge.max_attempts = Some(HEDGE_MAX_ATTEMPTS);
        hedge.budget = Some(BudgetSettings::Ratio {
            ratio: None,
            min_per_second: None,
            window: None,
        });
        hedge.classify = Some(CLASSIFY.into());
        let mut stack = StackSettings::default();
        stack.cancel = Some(timeout(TOTAL_TIMEOUT));
        stack.hedge = Some(hedge);
        stack.breaker = Some(breaker_settings());
        stack.attempt_timeout = Some(timeout(ATTEMPT_TIMEOUT));
        stack
    }

    /// The hedging preset with `stack`'s settings on top, setting by setting, as
    /// [`StandardClient::from_stack`] does for the client preset: a layer the stack does not
    /// give keeps the preset's settings, and so does every setting of a layer it does not
    /// give. The layers the stack gives are named as it names them.
    ///
    /// The classifier stays [`HttpClassifier`], with the rules the stack's `hedge.classify`
    /// gives it, for the hedge layer and the breaker, and requests are copied for idempotent
    /// requests only: a stack whose `hedge.classify` names another classifier is refused, and so is one with a `retry` or `validate` section (the preset has neither
    /// layer), or settings a layer's builder refuses.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::config::{Config, Format};
    /// use steadfast_http::preset::StandardHedgingClient;
    ///
    /// let config = Config::from_str(
    ///     r#"{ "stacks": { "catalog": { "hedge": { "delay": "300ms" } } } }"#,
    ///     Format::Json,
    /// )
    /// .unwrap();
    /// let layer = StandardHedgingClient::from_stack(config.stack("catalog").unwrap())
    ///     .unwrap()
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.hedge().delay().to_string(), "fixed 300ms");
    /// assert_eq!(layer.hedge().max_attempts(), 2);
    /// ```
    pub fn from_stack(stack: &StackSettings) -> Result<StandardHedgingClient, ConfigError> {
        let preset = Self::stack_settings();
        let layer = "standard hedging client";
        refuse(
            layer,
            "retry",
            stack.retry.is_some(),
            "standard_http_client",
        )?;
        refuse(layer, "validate", stack.validate.is_some(), "")?;
        let Shared {
            total,
            attempt,
            breaker,
        } = Shared::over(&preset, stack);
        let hedge = over(&preset.hedge, &stack.hedge, HedgeSettings::overridden_by);
        let classifier = preset_classifier(
            layer,
            "hedge.classify",
            hedge.classify.as_deref(),
            hedge.classify_rules.as_ref(),
        )?;
        let mut client = StandardHedgingClient {
            total: total.builder(),
            hedge: hedge
                .builder()?
                .classify(classifier.clone())
                .clone_requests(Idempotency::default().cloner(ReplayCloner)),
            classifier,
            breaker: breaker.builder(),
            attempt: attempt.builder(),
            ..StandardHedgingClient::default()
        };
        client.total_timeout = total.timeout.unwrap_or(client.total_timeout);
        client.attempt_timeout = attempt.timeout.unwrap_or(client.attempt_timeout);
        Ok(client)
    }
}

/// A total or attempt timeout of `d`, unnamed.
fn timeout(d: std::time::Duration) -> CancelSettings {
    let mut s = CancelSettings::default();
    s.timeout = Some(d);
    s
}

/// The breaker both presets share: 10% failures over 30 s, at least 100 calls, open 5 s.
fn breaker_settings() -> BreakerSettings {
    let mut breaker = BreakerSettings::default();
    breaker.failure_rate = Some(FailureRate::Percent(FAILURE_RATE));
    breaker.window = Some(WindowSettings::Time {
        length: BREAKER_WINDOW,
        buckets: 10,
    });
    breaker.minimum_calls = Some(MINIMUM_CALLS);
    breaker.open_for = Some(OPEN_FOR);
    breaker
}

/// The layers both client presets have, each with the stack's settings on top of the
/// preset's.
struct Shared {
    total: CancelSettings,
    attempt: CancelSettings,
    breaker: BreakerSettings,
}

impl Shared {
    fn over(preset: &StackSettings, stack: &StackSettings) -> Shared {
        Shared {
            total: over(&preset.cancel, &stack.cancel, CancelSettings::overridden_by),
            attempt: over(
                &preset.attempt_timeout,
                &stack.attempt_timeout,
                CancelSettings::overridden_by,
            ),
            breaker: over(
                &preset.breaker,
                &stack.breaker,
                BreakerSettings::overridden_by,
            ),
        }
    }
}

/// The preset's settings of a layer with the stack's on top.
fn over<T: Clone + Default>(preset: &Option<T>, stack: &Option<T>, merge: fn(&T, &T) -> T) -> T {
    match (preset, stack) {
        (Some(a), Some(b)) => merge(a, b),
        (a, b) => b.clone().or_else(|| a.clone()).unwrap_or_default(),
    }
}

/// Refuses a section the preset has no layer for, rather than leaving it out unseen; `other`
/// names the preset that has that layer, if one does.
fn refuse(
    layer: &'static str,
    field: &'static str,
    given: bool,
    other: &str,
) -> Result<(), ConfigError> {
    if !given {
        return Ok(());
    }
    let rule = if other.is_empty() {
        "the preset has no such layer: build this stack with `StackSettings::builder`".to_owned()
    } else {
        format!("the preset has no such layer (`{other}` has one)")
    };
    Err(ConfigError::new(layer, field, rule))
}

/// The presets' classifier, `http` with the rules the file gives it; a classifier other than
/// the presets' own is refused, with the known names for a name no classifier has.
fn preset_classifier(
    layer: &'static str,
    field: &'static str,
    name: Option<&str>,
    rules: Option<&ClassifyRules>,
) -> Result<HttpClassifier, ConfigError> {
    let name = name.unwrap_or(CLASSIFY);
    if name != CLASSIFY {
        if let Err(e) = crate::by_name::classifier_by_name(field, name) {
            return Err(ConfigError::new(layer, field, e.to_string()));
        }
        return Err(ConfigError::new(
            layer,
            field,
            format!("the preset classifies with `{CLASSIFY}` (got `{name}`)"),
        ));
    }
    match crate::by_name::classifier_with_rules(field, name, rules) {
        Ok(crate::by_name::NamedClassifier::Http(c)) => Ok(c),
        Ok(_) => Ok(HttpClassifier::default()),
        Err(e) => Err(ConfigError::new(layer, field, e.to_string())),
    }
}
