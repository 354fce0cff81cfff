//! [`StandardClient`]: the client stack to start from, as a builder of its layers.

use std::borrow::Cow;
use std::time::Duration;

use steadfast::cancel::{CancelLayer, CancelLayerBuilder};
use steadfast::circuit_breaker::{
    CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerLayer, SlidingWindow,
};
use steadfast::retry::{Backoff, Jitter, RatioBudget, RetryLayer, RetryPolicy, RetryPolicyBuilder};
use steadfast::ConfigError;

use super::client_layer::StandardClientLayer;
use super::rules::check_timeouts;
use crate::attempt::AttemptHeaderLayer;
use crate::deadline::PropagateDeadlineLayer;
use crate::replay::{ReplayCloner, ReplayLayer, ReplayLayerBuilder};
use crate::HttpClassifier;

/// The most requests in flight at once through one client (.NET's standard handler: a
/// concurrency limiter of 1000 permits, with no queue).
pub const CONCURRENCY_LIMIT: usize = 1000;
/// The time one request may take in all, every attempt and every wait included.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// The most attempts, the first included: three retries.
pub const MAX_ATTEMPTS: u32 = 4;
/// The first retry's wait before jitter; each next one doubles it.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// The longest wait between two attempts before jitter.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The longest wait a server may ask for (`Retry-After`, gRPC pushback).
pub const MAX_HINT: Duration = Duration::from_secs(30);
/// The failure rate, in percent, that opens the breaker.
pub const FAILURE_RATE: f64 = 10.0;
/// How far back the breaker's failure rate looks.
pub const BREAKER_WINDOW: Duration = Duration::from_secs(30);
/// The calls the window must hold before the failure rate counts.
pub const MINIMUM_CALLS: u32 = 100;
/// How long an open breaker refuses calls before it lets a probe through.
pub const OPEN_FOR: Duration = Duration::from_secs(5);
/// The time one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client stack to start from: a concurrency limit, a total timeout, retries, a circuit
/// breaker and a timeout per attempt, in that order, with HTTP's rules for what to retry.
///
/// Made by [`standard_http_client`](super::standard_http_client) (or `Default`); each part can
/// be adjusted before [`build`](Self::build) checks the whole and returns the
/// [`StandardClientLayer`]. The defaults, outermost first, and why:
///
/// | layer | default | why |
/// |---|---|---|
/// | concurrency limit | [`CONCURRENCY_LIMIT`] (1000) requests in flight; one more is refused at once with tower's `Overloaded` | .NET's standard handler: a bulkhead of 1000 permits and no queue, so a stalled backend cannot pile up unbounded work in the caller |
/// | total timeout | [`TOTAL_TIMEOUT`] (30 s), a [`CancelLayer`] | .NET's total request timeout; the deadline bounds every attempt and every backoff sleep, and the retry layer starts no sleep or attempt that would end after it |
/// | body replay | 64 KiB kept per request body | retries re-send streamed bodies; a larger body is sent once and not retried |
/// | retry | [`MAX_ATTEMPTS`] (1 + 3 retries), exponential from [`BACKOFF_BASE`] (2 s), doubling, capped at [`BACKOFF_MAX`], equal jitter | .NET's 3 retries, exponential from 2 s with jitter. Equal jitter waits between half and all of each step: spread, but never far shorter than the schedule |
/// | | server hints (`Retry-After`, `RateLimit-Reset`, `grpc-retry-pushback-ms`) honoured up to [`MAX_HINT`] (30 s) | .NET honours `Retry-After`; gRPC's pushback (gRFC A6) is the same request; no hint can outlast the total timeout anyway |
/// | | a ratio budget: retries for 20% of requests over 10 s, at least 10 a second | gRFC A6's retry throttling in spirit: when most requests fail, retries stop multiplying the load |
/// | | [`HttpClassifier`]: 408, 429, 502, 503, 504 and transport errors retried; a `POST` only with an `Idempotency-Key` | RFC 9110's idempotent methods. .NET's handler retries every 5xx; a `500` is a bug more often than a passing fault, so it fails without a retry (the breaker still counts it); `HttpClassifier::builder().status(StatusCode::INTERNAL_SERVER_ERROR, Rule::Retry)` puts it back |
/// | circuit breaker | opens at [`FAILURE_RATE`] (10%) failures over the last [`BREAKER_WINDOW`] (30 s) once [`MINIMUM_CALLS`] (100) were seen, for [`OPEN_FOR`] (5 s), then one probe | .NET's (Polly's) breaker defaults; under the retry layer it counts every attempt, and an open breaker ends the request at once |
/// | attempt timeout | [`ATTEMPT_TIMEOUT`] (10 s), a second [`CancelLayer`] | .NET's attempt timeout; a timed-out attempt is retried and counted by the breaker |
/// | attempt header | `x-retry-attempt` on retries (and `grpc-previous-rpc-attempts` on gRPC) | gRFC A6: the server knows a call is a retry, and [`UpstreamRetriesLayer`](crate::attempt::UpstreamRetriesLayer) does not retry again behind it |
/// | deadline | the time left sent as `x-request-timeout-ms` (`grpc-timeout` on gRPC) | gRPC's deadline propagation: the server stops when the client would no longer wait |
///
/// [`build`](Self::build) refuses, besides what each layer's builder refuses, an attempt
/// timeout not shorter than the total timeout (no retry could start) and a breaker time
/// window shorter than twice the attempt timeout (a slow call would end after the window it
/// started in moved on): the rules of .NET's own validator.
///
/// ```
/// use std::time::Duration;
/// use steadfast_http::preset::standard_http_client;
///
/// let layer = standard_http_client()
///     .name("inventory")
///     .total_timeout(Duration::from_secs(10))
///     .attempt_timeout(Duration::from_secs(2))
///     .retry(|r| r.max_attempts(3))
///     .breaker(|b| b.open_for(Duration::from_secs(15)))
///     .build()
///     .unwrap();
/// assert_eq!(layer.breaker().name(), "inventory");
///
/// let err = standard_http_client()
///     .attempt_timeout(Duration::from_secs(60))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "attempt_timeout");
/// ```
#[derive(Debug)]
pub struct StandardClient {
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) concurrency_limit: Option<usize>,
    pub(crate) total: CancelLayerBuilder,
    pub(crate) total_timeout: Duration,
    pub(crate) replay: ReplayLayerBuilder,
    pub(crate) retry: RetryPolicyBuilder<HttpClassifier, ReplayCloner>,
    pub(crate) breaker: CircuitBreakerBuilder,
    pub(crate) classifier: HttpClassifier,
    pub(crate) attempt: CancelLayerBuilder,
    pub(crate) attempt_timeout: Duration,
    pub(crate) attempt_header: AttemptHeaderLayer,
    pub(crate) propagate: PropagateDeadlineLayer,
}

impl Default for StandardClient {
    fn default() -> Self {
        StandardClient {
            name: None,
            concurrency_limit: Some(CONCURRENCY_LIMIT),
            total: CancelLayer::builder(),
            total_timeout: TOTAL_TIMEOUT,
            replay: ReplayLayer::builder(),
            retry: default_retry(),
            breaker: default_breaker(),
            classifier: HttpClassifier::default(),
            attempt: CancelLayer::builder(),
            attempt_timeout: ATTEMPT_TIMEOUT,
            attempt_header: AttemptHeaderLayer::new(),
            propagate: PropagateDeadlineLayer::new(),
        }
    }
}

/// The preset's retry policy, before a name.
pub(crate) fn default_retry() -> RetryPolicyBuilder<HttpClassifier, ReplayCloner> {
    RetryPolicy::builder()
        .max_attempts(MAX_ATTEMPTS)
        .backoff(
            Backoff::exponential(BACKOFF_BASE)
                .max(BACKOFF_MAX)
                .jitter(Jitter::Equal),
        )
        .max_hint(MAX_HINT)
        .budget(default_budget())
        .classify(HttpClassifier::default())
        .clone_requests(ReplayCloner)
}

/// The preset's breaker, before a name.
pub(crate) fn default_breaker() -> CircuitBreakerBuilder {
    CircuitBreaker::builder()
        .failure_rate(FAILURE_RATE)
        .window(SlidingWindow::time(BREAKER_WINDOW))
        .minimum_calls(MINIMUM_CALLS)
        .open_for(OPEN_FOR)
}

impl StandardClient {
    /// Names every layer after the client (the downstream it calls): the retry policy, the
    /// breaker and the total timeout are `name`, the attempt timeout `name-attempt`, as a
    /// settings file names a stack's layers. Errors, events and metrics carry it.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// At most `n` requests in flight at once through each service the layer makes (and its
    /// clones); one more fails at once with `tower::load_shed::error::Overloaded`. Default
    /// [`CONCURRENCY_LIMIT`]. `n` must be at least 1.
    ///
    /// A request holds its place from its call to its answer, retries and their waits
    /// included, as .NET's bulkhead counts it: the limit bounds the work in flight towards
    /// the backend, whatever each request is doing. The layers inside hold no readiness while
    /// they wait.
    pub fn concurrency_limit(mut self, n: usize) -> Self {
        self.concurrency_limit = Some(n);
        self
    }

    /// No concurrency limit: the layer adds no semaphore.
    pub fn no_concurrency_limit(mut self) -> Self {
        self.concurrency_limit = None;
        self
    }

    /// The time one request may take in all (default [`TOTAL_TIMEOUT`]).
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// Adjusts the total timeout's cancel layer (a parent token, a shutdown, listeners); its
    /// timeout is [`total_timeout`](Self::total_timeout)'s.
    pub fn total(mut self, f: impl FnOnce(CancelLayerBuilder) -> CancelLayerBuilder) -> Self {
        self.total = f(self.total);
        self
    }

    /// Adjusts the replay layer (how much of each body is kept for a retry).
    pub fn replay(mut self, f: impl FnOnce(ReplayLayerBuilder) -> ReplayLayerBuilder) -> Self {
        self.replay = f(self.replay);
        self
    }

    /// Adjusts the retry policy: its attempts, backoff, hints, budget, listeners, classifier.
    pub fn retry(
        mut self,
        f: impl FnOnce(
            RetryPolicyBuilder<HttpClassifier, ReplayCloner>,
        ) -> RetryPolicyBuilder<HttpClassifier, ReplayCloner>,
    ) -> Self {
        self.retry = f(self.retry);
        self
    }

    /// Adjusts the circuit breaker: its rates, window, open time, listeners.
    pub fn breaker(
        mut self,
        f: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
    ) -> Self {
        self.breaker = f(self.breaker);
        self
    }

    /// How the breaker tells a failure from an answer (default: [`HttpClassifier`]'s
    /// defaults). The retry policy's classifier is set with [`retry`](Self::retry).
    pub fn breaker_classifier(mut self, classifier: HttpClassifier) -> Self {
        self.classifier = classifier;
        self
    }

    /// The time one attempt may take (default [`ATTEMPT_TIMEOUT`]).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Adjusts the attempt timeout's cancel layer (listeners, observers); its timeout is
    /// [`attempt_timeout`](Self::attempt_timeout)'s.
    pub fn attempt(mut self, f: impl FnOnce(CancelLayerBuilder) -> CancelLayerBuilder) -> Self {
        self.attempt = f(self.attempt);
        self
    }

    /// The header that tells the server a request is a retry (default `x-retry-attempt`).
    pub fn attempt_header(mut self, layer: AttemptHeaderLayer) -> Self {
        self.attempt_header = layer;
        self
    }

    /// How the time left is sent to the server (default `x-request-timeout-ms`, and
    /// `grpc-timeout` on gRPC requests).
    pub fn propagate_deadline(mut self, layer: PropagateDeadlineLayer) -> Self {
        self.propagate = layer;
        self
    }

    /// Checks every setting and the rules between them, and builds the layers.
    ///
    /// Each layer's builder checks its own settings (its error names the layer and field);
    /// then a concurrency limit of 0, an attempt timeout not shorter than the total timeout,
    /// and a breaker time window shorter than twice the attempt timeout are refused.
    pub fn build(self) -> Result<StandardClientLayer, ConfigError> {
        if self.concurrency_limit == Some(0) {
            return Err(ConfigError::new(
                "standard client",
                "concurrency_limit",
                "must be at least 1",
            ));
        }
        let (mut retry, mut breaker, mut total, mut attempt) =
            (self.retry, self.breaker, self.total, self.attempt);
        if let Some(name) = &self.name {
            retry = retry.name(name.clone());
            breaker = breaker.name(name.clone());
            total = total.name(name.clone());
            attempt = attempt.name(format!("{name}-attempt"));
        }
        let total = total.timeout(self.total_timeout).build()?;
        let attempt = attempt.timeout(self.attempt_timeout).build()?;
        let breaker = breaker.build()?;
        check_timeouts(self.total_timeout, self.attempt_timeout, &breaker)?;
        Ok(StandardClientLayer {
            limit: self.concurrency_limit,
            total,
            replay: self.replay.build()?,
            retry: RetryLayer::new(retry.build()?),
            breaker: CircuitBreakerLayer::new(breaker).classify(self.classifier),
            attempt,
            attempt_header: self.attempt_header,
            propagate: self.propagate,
        })
    }
}

/// The budget the preset gives each policy it builds: retries for 20% of the requests over
/// 10 s, and at least 10 a second whatever the traffic.
pub(crate) fn default_budget() -> std::sync::Arc<RatioBudget> {
    std::sync::Arc::new(
        RatioBudget::builder()
            .build()
            .expect("the default budget is valid"),
    )
}
