//! [`StandardClientLayer`]: the client preset's layers, built and checked.

use steadfast::cancel::{Cancel, CancelLayer};
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitBreakerService};
use steadfast::describe::{Describe, LayerDescription};
use steadfast::retry::{Retry, RetryLayer, RetryPolicy};
use tower::limit::ConcurrencyLimit;
use tower::load_shed::LoadShed;
use tower::util::Either;
use tower_layer::Layer;

use crate::attempt::{AttemptHeader, AttemptHeaderLayer};
use crate::deadline::{PropagateDeadline, PropagateDeadlineLayer};
use crate::replay::{Replay, ReplayCloner, ReplayLayer};
use crate::HttpClassifier;

/// The retry policy of the client preset.
pub type StandardRetryPolicy = RetryPolicy<HttpClassifier, ReplayCloner>;

/// The client preset's layers under its concurrency limit, around a transport `S`, outermost
/// first: total timeout, replay, retry, breaker, attempt timeout, attempt header, deadline.
pub type StandardClientStack<S> = Cancel<
    Replay<
        Retry<
            CircuitBreakerService<Cancel<AttemptHeader<PropagateDeadline<S>>>, HttpClassifier>,
            StandardRetryPolicy,
        >,
    >,
>;

/// The service [`StandardClientLayer`] makes: the stack behind a concurrency limit that
/// refuses the request over the limit at once, or the stack alone when the limit is off.
pub type StandardClientService<S> =
    Either<LoadShed<ConcurrencyLimit<StandardClientStack<S>>>, StandardClientStack<S>>;

/// The client preset, built: a tower [`Layer`] to put around an HTTP client (hyper-util's
/// `Client<_, ReplayBody<B>>`, say: the replay layer hands the client its requests with
/// their bodies wrapped in a [`ReplayBody`](crate::replay::ReplayBody)).
///
/// Made by [`StandardClient::build`](super::StandardClient::build). Every service it makes
/// shares the one breaker, retry policy and budget; each has its own concurrency limit,
/// shared by that service's clones. Errors are `BoxError`s to downcast: `Overloaded` (tower's,
/// over the concurrency limit), [`Cancelled`](steadfast::cancel::Cancelled) (the total
/// timeout), [`RetryError`](steadfast::retry::RetryError) (retries ran out on an error),
/// [`Rejected`](steadfast::circuit_breaker::Rejected) (the breaker is open), or the client's
/// own; a retryable *answer* (a 503) that runs out of retries is returned as it is.
#[derive(Debug, Clone)]
pub struct StandardClientLayer {
    pub(crate) limit: Option<usize>,
    pub(crate) total: CancelLayer,
    pub(crate) replay: ReplayLayer,
    pub(crate) retry: RetryLayer<StandardRetryPolicy>,
    pub(crate) breaker: CircuitBreakerLayer<HttpClassifier>,
    pub(crate) attempt: CancelLayer,
    pub(crate) attempt_header: AttemptHeaderLayer,
    pub(crate) propagate: PropagateDeadlineLayer,
}

impl StandardClientLayer {
    /// The breaker, to read its state and metrics.
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
    }

    /// The retry policy.
    pub fn policy(&self) -> &StandardRetryPolicy {
        self.retry.policy()
    }

    /// The concurrency limit, if there is one.
    pub fn concurrency_limit(&self) -> Option<usize> {
        self.limit
    }
}

impl StandardClientLayer {
    /// The layers under the concurrency limit, around `inner`.
    pub(crate) fn stack<S>(&self, inner: S) -> StandardClientStack<S> {
        self.total.layer(
            self.replay.layer(
                self.retry.layer(
                    self.breaker.layer(
                        self.attempt
                            .layer(self.attempt_header.layer(self.propagate.layer(inner))),
                    ),
                ),
            ),
        )
    }
}

impl<S> Layer<S> for StandardClientLayer {
    type Service = StandardClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let stack = self.stack(inner);
        match self.limit {
            Some(n) => Either::Left(LoadShed::new(ConcurrencyLimit::new(stack, n))),
            None => Either::Right(stack),
        }
    }
}

impl Describe for StandardClientLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = Vec::new();
        if let Some(n) = self.limit {
            layers.push(LayerDescription::new("load shed"));
            layers.push(LayerDescription::new("concurrency limit").with("max", n as u64));
        }
        layers.extend(self.total.describe());
        layers.extend(self.replay.describe());
        layers.extend(self.retry.describe());
        layers.extend(self.breaker.describe());
        layers.extend(self.attempt.describe());
        layers.extend(self.attempt_header.describe());
        layers.extend(self.propagate.describe());
        layers
    }
}
