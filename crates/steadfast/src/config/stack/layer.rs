//! [`StackLayer`]: a stack's layers, built from its settings, as one tower `Layer`.

use tower_layer::{Identity, Layer};

use super::service::{Optional, OptionalLayer};
use crate::cancel::{Cancel, CancelLayer};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitBreakerService};
use crate::classify::AnyError;
use crate::retry::{CloneAll, Retry, RetryLayer, RetryPolicy};

/// A stack's layers, outermost first: the total timeout (a [`CancelLayer`]), the retry layer,
/// the circuit breaker, the attempt timeout (another `CancelLayer`), each there only when the
/// stack's settings give it, and the validate layer `V`: [`Identity`] (nothing) for a stack
/// built without [`validate_with`](super::StackBuilder::validate_with), and otherwise what
/// that builds from the stack's `validate` section. Applied to a service, it is the same as putting the layers it
/// has in a `ServiceBuilder` with [`ServiceBuilderExt`](crate::ServiceBuilderExt)'s `cancel`,
/// `retry_with`, `circuit_breaker` and `attempt_timeout`, in that order.
///
/// Built by [`StackSettings::layer`](crate::config::StackSettings::layer) or a
/// [`StackBuilder`](super::StackBuilder). `C` is the classifier of the retry layer and the
/// breaker, `K` what copies a request for a retry (see
/// [`RetryPolicyBuilder::clone_requests`](crate::retry::RetryPolicyBuilder::clone_requests)). Cheap to clone; every service it makes shares the stack's breaker and budget.
///
/// ```
/// use steadfast::config::{Config, Format};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let config = Config::from_str(r#"{ "stacks": { "s": { "retry": { "max_attempts": 2 } } } }"#, Format::Json).unwrap();
/// let stack = config.find_stack("s").unwrap().layer(steadfast::classify::AnyError).unwrap();
/// assert!(stack.retry_policy().is_some() && stack.breaker().is_none());
/// let svc = stack.layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n * 2) }));
/// assert_eq!(svc.oneshot(21).await.unwrap(), 42);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StackLayer<C = AnyError, K = CloneAll, V = Identity> {
    pub(crate) cancel: OptionalLayer<CancelLayer>,
    pub(crate) retry: OptionalLayer<RetryLayer<RetryPolicy<C, K>>>,
    pub(crate) breaker: OptionalLayer<CircuitBreakerLayer<C>>,
    pub(crate) attempt_timeout: OptionalLayer<CancelLayer>,
    pub(crate) validate: V,
}

/// The service a [`StackLayer`] makes of `S`: each of the four layers, or the service below it
/// when the stack does not have that layer, over `V`'s service of `S` (`S` itself when `V` is
/// [`Identity`]).
pub type StackService<S, C = AnyError, K = CloneAll, V = Identity> =
    Optional<Cancel<Retried<Checked<S, V>, C, K>>, Retried<Checked<S, V>, C, K>>;

/// The validate layer over `S` (`S` itself for [`Identity`]).
pub(super) type Checked<S, V> = <V as Layer<S>>::Service;
/// The attempt timeout over `S`, if any.
type Timed<S> = Optional<Cancel<S>, S>;
/// The breaker over the attempt timeout, if any.
pub(super) type Guarded<S, C> = Optional<CircuitBreakerService<Timed<S>, C>, Timed<S>>;
/// The retry layer over the breaker, if any.
type Retried<S, C, K> = Optional<Retry<Guarded<S, C>, RetryPolicy<C, K>>, Guarded<S, C>>;

impl<C: Clone, K: Clone, V> StackLayer<C, K, V> {
    /// The total timeout, when the stack has one.
    pub fn cancel(&self) -> Option<&CancelLayer> {
        self.cancel.get()
    }

    /// The retry policy, when the stack has a retry layer.
    pub fn retry_policy(&self) -> Option<&RetryPolicy<C, K>> {
        self.retry.get().map(RetryLayer::policy)
    }

    /// The circuit breaker, when the stack has one.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.get().map(CircuitBreakerLayer::breaker)
    }

    /// The timeout of each attempt, when the stack has one.
    pub fn attempt_timeout(&self) -> Option<&CancelLayer> {
        self.attempt_timeout.get()
    }

    /// The validate layer: [`Identity`] for a stack built without
    /// [`validate_with`](super::StackBuilder::validate_with).
    pub fn validate(&self) -> &V {
        &self.validate
    }
}

impl<S, C: Clone, K: Clone, V: Layer<S>> Layer<S> for StackLayer<C, K, V> {
    type Service = StackService<S, C, K, V>;

    #[inline]
    fn layer(&self, inner: S) -> Self::Service {
        let checked = self.validate.layer(inner);
        let timed = self.attempt_timeout.layer(checked);
        let guarded = self.breaker.layer(timed);
        let retried = self.retry.layer(guarded);
        self.cancel.layer(retried)
    }
}
