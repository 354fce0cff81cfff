//! [`StackBuilder`]: a stack's settings plus the parts that stay in code, built into a
//! [`StackLayer`].

use std::sync::Arc;

use super::layer::StackLayer;
use super::service::OptionalLayer;
use super::validate::{BuildValidate, NoValidate};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use crate::classify::AnyError;
use crate::config::{ConfigError, StackSettings, ValidateSettings};
use crate::retry::{CloneAll, RetryBudget, RetryLayer};

/// A stack's settings and the parts a file cannot hold, built into one [`StackLayer`]: the
/// classifier of the retry layer and the breaker, what copies a request for a retry (for
/// requests that are not `Clone`, such as steadfast-http's `ReplayCloner` for HTTP requests
/// with bodies), and optionally a breaker of your own (one shared through a
/// [`Registry`](crate::circuit_breaker::Registry), say).
///
/// ```
/// use steadfast::circuit_breaker::CircuitBreaker;
/// use steadfast::config::{Config, Format};
///
/// let config = Config::from_str(
///     r#"{ "stacks": { "inventory": { "cancel": "5s", "retry": { "max_attempts": 3 }, "breaker": { "failure_rate": 50 } } } }"#,
///     Format::Json,
/// ).unwrap();
/// let shared = CircuitBreaker::builder().name("inventory").build().unwrap();
/// let stack = config
///     .find_stack("inventory")
///     .unwrap()
///     .builder()
///     .classify(steadfast::classify::AnyError)
///     .breaker(shared.clone())
///     .build()
///     .unwrap();
/// assert_eq!(stack.retry_policy().unwrap().max_attempts(), 3);
/// assert_eq!(stack.breaker().unwrap().name(), "inventory");
/// ```
pub struct StackBuilder<C = AnyError, K = CloneAll, V = NoValidate> {
    pub(crate) settings: StackSettings,
    pub(crate) classifier: C,
    pub(crate) cloner: K,
    pub(crate) breaker: Option<CircuitBreaker>,
    budget: Option<Arc<dyn RetryBudget>>,
    validate: V,
}

impl<C, K, V> std::fmt::Debug for StackBuilder<C, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackBuilder")
            .field("settings", &self.settings)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl StackSettings {
    /// A builder for this stack's layers, with the default classifier ([`AnyError`]: every
    /// error is a retryable failure) until [`classify`](StackBuilder::classify) gives another.
    pub fn builder(&self) -> StackBuilder {
        StackBuilder {
            settings: self.clone(),
            classifier: AnyError,
            cloner: CloneAll,
            breaker: None,
            budget: None,
            validate: NoValidate,
        }
    }

    /// The stack's layers as one `Layer`, with `classifier` judging calls for the retry layer
    /// and the breaker. Each call builds new layers: a new breaker and a new budget.
    ///
    /// Fails if a layer's settings break its builder's rules; settings that came from a
    /// [`Config`](crate::config::Config) were checked when it was read, and do not fail. A
    /// stack with a `validate` section fails too: its validators are built in code, with
    /// [`StackBuilder::validate_with`]. So does a stack with a `hedge` section: the hedge layer
    /// changes the stack's type, and `layer_hedged` (feature `hedge`) builds it.
    pub fn layer<C: Clone>(&self, classifier: C) -> Result<StackLayer<C>, ConfigError> {
        self.builder().classify(classifier).build()
    }
}

impl<C, K, V> StackBuilder<C, K, V> {
    /// Judges calls with `classifier`, in the retry layer and the breaker (see
    /// [`crate::classify`]).
    pub fn classify<C2>(self, classifier: C2) -> StackBuilder<C2, K, V> {
        StackBuilder {
            settings: self.settings,
            classifier,
            cloner: self.cloner,
            breaker: self.breaker,
            budget: self.budget,
            validate: self.validate,
        }
    }

    /// Copies requests for retries with `cloner` instead of `Clone` (see
    /// [`RetryPolicyBuilder::clone_requests`](crate::retry::RetryPolicyBuilder::clone_requests)).
    pub fn clone_requests<K2>(self, cloner: K2) -> StackBuilder<C, K2, V> {
        StackBuilder {
            settings: self.settings,
            classifier: self.classifier,
            cloner,
            breaker: self.breaker,
            budget: self.budget,
            validate: self.validate,
        }
    }

    /// Builds the stack's validate layer from its `validate` section with `build` (for HTTP,
    /// `steadfast_http::by_name::validate_layer`): the layer goes innermost, under the attempt
    /// timeout, so that the retry layer retries an invalid answer and the breaker counts it.
    /// [`build`](Self::build) then refuses a stack without a `validate` section (a validate
    /// layer may change the response's type, so the stack's type says it has one).
    ///
    /// ```
    /// use steadfast::config::{Config, Format, ValidateSettings};
    /// use steadfast::validate::{non_empty, Invalid, ValidateLayer};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let config = Config::from_str(
    ///     r#"{ "stacks": { "s": { "validate": { "json": true } } } }"#,
    ///     Format::Json,
    /// ).unwrap();
    /// let stack = config.find_stack("s").unwrap();
    /// assert!(stack.layer(steadfast::classify::AnyError).is_err(), "validators are code");
    /// let layer = stack
    ///     .builder()
    ///     // A program's own reading of the section: here, any check asks for a non-empty answer.
    ///     .validate_with(|_: &ValidateSettings| ValidateLayer::builder().response(non_empty()).build())
    ///     .build()
    ///     .unwrap();
    /// let svc = layer.layer(service_fn(|_: u32| async { Ok::<_, std::io::Error>(String::new()) }));
    /// let err = svc.oneshot(1).await.unwrap_err();
    /// assert!(err.downcast_ref::<Invalid<String>>().is_some());
    /// # }
    /// ```
    pub fn validate_with<L, F>(self, build: F) -> StackBuilder<C, K, F>
    where
        F: Fn(&ValidateSettings) -> Result<L, ConfigError>,
    {
        StackBuilder {
            settings: self.settings,
            classifier: self.classifier,
            cloner: self.cloner,
            breaker: self.breaker,
            budget: self.budget,
            validate: build,
        }
    }

    /// Uses `breaker` as it is, instead of building one from the stack's breaker settings
    /// (which are then not used). The stack has a breaker layer only if its settings give one.
    pub fn breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Gives the retry policy `budget` instead of a new one built from its settings (a reload
    /// keeps the budget it had when the budget's settings did not change).
    #[cfg(feature = "reload")]
    pub(crate) fn budget(mut self, budget: Option<Arc<dyn RetryBudget>>) -> Self {
        self.budget = budget;
        self
    }

    /// Builds the layers the settings give, each checked by its builder. A stack with a
    /// `hedge` section is refused, rather than built without its hedge: build it with
    /// `build_hedged` (feature `hedge`).
    pub fn build(self) -> Result<StackLayer<C, K, V::Layer>, ConfigError>
    where
        C: Clone,
        K: Clone,
        V: BuildValidate,
    {
        if self.settings.hedge.is_some() {
            return Err(ConfigError::new(
                "stack",
                "hedge",
                "a hedge layer changes the stack's type and copies its requests: build the stack \
                 with `layer_hedged` or `StackBuilder::build_hedged` (feature `hedge`); a \
                 reloadable stack has no hedge layer",
            ));
        }
        self.build_unhedged()
    }

    /// The layers other than the hedge layer ([`build`](Self::build) without its refusal of
    /// a `hedge` section; `build_hedged` adds the hedge layer to them).
    pub(super) fn build_unhedged(self) -> Result<StackLayer<C, K, V::Layer>, ConfigError>
    where
        C: Clone,
        K: Clone,
        V: BuildValidate,
    {
        let s = &self.settings;
        let validate = self.validate.build_validate(s.validate.as_ref())?;
        let cancel = s.cancel.as_ref().map(|c| c.build()).transpose()?;
        let attempt_timeout = s.attempt_timeout.as_ref().map(|c| c.build()).transpose()?;
        let retry = match &s.retry {
            Some(r) => {
                let mut b = r.builder()?;
                if let Some(budget) = self.budget {
                    b = b.budget(budget);
                }
                let b = b
                    .classify(self.classifier.clone())
                    .clone_requests(self.cloner);
                Some(RetryLayer::new(b.build()?))
            }
            None => None,
        };
        let breaker = match (&s.breaker, self.breaker) {
            (Some(_), Some(own)) => Some(own),
            (Some(b), None) => Some(b.build()?),
            (None, _) => None,
        };
        let breaker = breaker.map(|b| CircuitBreakerLayer::new(b).classify(self.classifier));
        Ok(StackLayer {
            cancel: OptionalLayer::new(cancel),
            retry: OptionalLayer::new(retry),
            breaker: OptionalLayer::new(breaker),
            attempt_timeout: OptionalLayer::new(attempt_timeout),
            validate,
        })
    }
}
