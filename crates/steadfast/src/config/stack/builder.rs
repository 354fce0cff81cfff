//! [`StackBuilder`]: a stack's settings plus the parts that stay in code, built into a
//! [`StackLayer`].

use std::sync::Arc;

use super::layer::StackLayer;
use super::service::OptionalLayer;
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use crate::classify::AnyError;
use crate::config::{ConfigError, StackSettings};
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
pub struct StackBuilder<C = AnyError, K = CloneAll> {
    pub(crate) settings: StackSettings,
    pub(crate) classifier: C,
    pub(crate) cloner: K,
    pub(crate) breaker: Option<CircuitBreaker>,
    budget: Option<Arc<dyn RetryBudget>>,
}

impl<C, K> std::fmt::Debug for StackBuilder<C, K> {
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
        }
    }

    /// The stack's layers as one `Layer`, with `classifier` judging calls for the retry layer
    /// and the breaker. Each call builds new layers: a new breaker and a new budget.
    ///
    /// Fails if a layer's settings break its builder's rules; settings that came from a
    /// [`Config`](crate::config::Config) were checked when it was read, and do not fail.
    pub fn layer<C: Clone>(&self, classifier: C) -> Result<StackLayer<C>, ConfigError> {
        self.builder().classify(classifier).build()
    }
}

impl<C, K> StackBuilder<C, K> {
    /// Judges calls with `classifier`, in the retry layer and the breaker (see
    /// [`crate::classify`]).
    pub fn classify<C2>(self, classifier: C2) -> StackBuilder<C2, K> {
        StackBuilder {
            settings: self.settings,
            classifier,
            cloner: self.cloner,
            breaker: self.breaker,
            budget: self.budget,
        }
    }

    /// Copies requests for retries with `cloner` instead of `Clone` (see
    /// [`RetryPolicyBuilder::clone_requests`](crate::retry::RetryPolicyBuilder::clone_requests)).
    pub fn clone_requests<K2>(self, cloner: K2) -> StackBuilder<C, K2> {
        StackBuilder {
            settings: self.settings,
            classifier: self.classifier,
            cloner,
            breaker: self.breaker,
            budget: self.budget,
        }
    }

    /// Uses `breaker` as it is, instead of building one from the stack's breaker settings
    /// (which are then not used). The stack has a breaker layer only if its settings give one.
    pub fn breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Gives the retry policy `budget` instead of a new one built from its settings.
    #[cfg_attr(not(feature = "reload"), allow(dead_code))] // Used by reload only.
    pub(crate) fn budget(mut self, budget: Option<Arc<dyn RetryBudget>>) -> Self {
        self.budget = budget;
        self
    }

    /// Builds the layers the settings give, each checked by its builder.
    pub fn build(self) -> Result<StackLayer<C, K>, ConfigError>
    where
        C: Clone,
        K: Clone,
    {
        let s = &self.settings;
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
        })
    }
}
