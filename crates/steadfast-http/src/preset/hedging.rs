//! [`StandardHedgingClient`]: the hedging client preset, after .NET's standard hedging
//! handler.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use steadfast::cancel::{Cancel, CancelLayer, CancelLayerBuilder};
use steadfast::circuit_breaker::{
    CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerLayer, CircuitBreakerService,
};
use steadfast::describe::{Describe, LayerDescription};
use steadfast::hedge::{Hedge, HedgeLayer, HedgeLayerBuilder};
use steadfast::ConfigError;
use tower_layer::Layer;

use super::client::{default_breaker, ATTEMPT_TIMEOUT, TOTAL_TIMEOUT};
use super::rules::check_timeouts;
use crate::deadline::{PropagateDeadline, PropagateDeadlineLayer};
use crate::idempotency::{Idempotency, IdempotentOnly};
use crate::replay::{Replay, ReplayCloner, ReplayLayer, ReplayLayerBuilder};
use crate::HttpClassifier;

/// What copies the preset's requests for a hedge: the body replayed, for idempotent requests
/// only (RFC 9110's idempotent methods, or an `idempotency-key` header); any other request is
/// sent once, unhedged.
pub type HedgeCloner = IdempotentOnly<ReplayCloner>;

/// How long the preset waits for an answer before its hedge: 2 s, the default `Delay` of
/// Polly's hedging strategy, which .NET's standard hedging handler keeps.
pub const HEDGE_DELAY: Duration = Duration::from_secs(2);

/// Attempts per request, the first included: 2, Polly's default of one hedged attempt
/// (`MaxHedgedAttempts = 1`).
pub const HEDGE_MAX_ATTEMPTS: u32 = 2;

/// The hedging client preset: the layers of .NET's standard hedging handler
/// (`AddStandardHedgingHandler` in `Microsoft.Extensions.Http.Resilience`), outermost first,
/// with its defaults:
///
/// | layer | default | why |
/// | --- | --- | --- |
/// | total timeout | [`TOTAL_TIMEOUT`](super::TOTAL_TIMEOUT), 30 s | bounds the request and all its attempts |
/// | body replay | | a hedge sends the body again |
/// | hedge | latency mode, [`HEDGE_DELAY`] (2 s), [`HEDGE_MAX_ATTEMPTS`] (2), a ratio budget | a second attempt races a slow first one; the first good answer wins and the other is cancelled |
/// | circuit breaker | 10% failures over 30 s, at least 100 calls, open 5 s | sees every attempt on its own answer; a cancelled loser is never counted |
/// | attempt timeout | [`ATTEMPT_TIMEOUT`](super::ATTEMPT_TIMEOUT), 10 s | one time limit per attempt; one that times out lets the hedge go at once |
/// | deadline header | | the server learns how long the caller waits |
///
/// .NET puts a rate limiter and the breaker per endpoint, for hedges sent to other replicas;
/// this preset sends every attempt to the one transport it wraps, so it has one breaker and
/// leaves a concurrency limit to the caller. Answers are classified by [`HttpClassifier`];
/// only idempotent requests are hedged ([`HedgeCloner`]): a `POST` without an
/// `idempotency-key` header is sent once.
///
/// The same settings as a file's stack (see `docs/configuration.md`; with the `config`
/// feature, `StandardHedgingClient::from_stack` puts a file's stack on top of the preset):
///
/// ```toml
/// [stacks.catalog]
/// cancel = "30s"
/// hedge = { mode = "latency", delay = "2s", max_attempts = 2, budget = { kind = "ratio" }, classify = "http" }
/// breaker = { failure_rate = 10, window = { time = "30s" }, minimum_calls = 100, open_for = "5s" }
/// attempt_timeout = "10s"
/// ```
///
/// ```
/// use std::time::Duration;
/// use steadfast::hedge::HedgeDelay;
/// use steadfast_http::preset::standard_hedging_client;
///
/// let layer = standard_hedging_client()
///     .name("catalog")
///     .hedge(|h| h.delay(HedgeDelay::fixed(Duration::from_millis(300))))
///     .build()
///     .unwrap();
/// assert_eq!(layer.hedge().max_attempts(), 2);
/// ```
pub struct StandardHedgingClient {
    pub(super) name: Option<Cow<'static, str>>,
    pub(super) total: CancelLayerBuilder,
    pub(super) total_timeout: Duration,
    pub(super) replay: ReplayLayerBuilder,
    pub(super) hedge: HedgeLayerBuilder<HttpClassifier, HedgeCloner>,
    pub(super) breaker: CircuitBreakerBuilder,
    pub(super) classifier: HttpClassifier,
    pub(super) attempt: CancelLayerBuilder,
    pub(super) attempt_timeout: Duration,
    pub(super) propagate: PropagateDeadlineLayer,
}

/// The hedging client preset to start from; see [`StandardHedgingClient`].
pub fn standard_hedging_client() -> StandardHedgingClient {
    StandardHedgingClient::default()
}

impl Default for StandardHedgingClient {
    fn default() -> Self {
        let budget = Arc::new(
            steadfast::retry::RatioBudget::builder()
                .build()
                .expect("the default budget is valid"),
        );
        StandardHedgingClient {
            name: None,
            total: CancelLayer::builder(),
            total_timeout: TOTAL_TIMEOUT,
            replay: ReplayLayer::builder(),
            hedge: HedgeLayer::builder()
                .delay(steadfast::hedge::HedgeDelay::fixed(HEDGE_DELAY))
                .max_attempts(HEDGE_MAX_ATTEMPTS)
                .budget(budget)
                .classify(HttpClassifier::default())
                .clone_requests(Idempotency::default().cloner(ReplayCloner)),
            breaker: default_breaker(),
            classifier: HttpClassifier::default(),
            attempt: CancelLayer::builder(),
            attempt_timeout: ATTEMPT_TIMEOUT,
            propagate: PropagateDeadlineLayer::new(),
        }
    }
}

impl std::fmt::Debug for StandardHedgingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardHedgingClient")
            .field("name", &self.name)
            .field("hedge", &self.hedge)
            .field("total_timeout", &self.total_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

impl StandardHedgingClient {
    /// Names every layer after the client: the hedge layer, the breaker and the total timeout
    /// are `name`, the attempt timeout `name-attempt`.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The total timeout (default 30 s).
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// Adjusts the hedge layer's builder (delay, attempts, budget, mode).
    pub fn hedge(
        mut self,
        f: impl FnOnce(
            HedgeLayerBuilder<HttpClassifier, HedgeCloner>,
        ) -> HedgeLayerBuilder<HttpClassifier, HedgeCloner>,
    ) -> Self {
        self.hedge = f(self.hedge);
        self
    }

    /// Adjusts the breaker's builder.
    pub fn breaker(
        mut self,
        f: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder,
    ) -> Self {
        self.breaker = f(self.breaker);
        self
    }

    /// The timeout of each attempt (default 10 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Checks every layer, and the rules between them (the attempt timeout shorter than the
    /// total, a breaker's time window at least twice the attempt timeout), and builds them.
    pub fn build(self) -> Result<StandardHedgingLayer, ConfigError> {
        let (mut hedge, mut breaker, mut total, mut attempt) =
            (self.hedge, self.breaker, self.total, self.attempt);
        if let Some(name) = &self.name {
            hedge = hedge.name(name.clone());
            breaker = breaker.name(name.clone());
            total = total.name(name.clone());
            attempt = attempt.name(format!("{name}-attempt"));
        }
        let breaker = breaker.build()?;
        check_timeouts(self.total_timeout, self.attempt_timeout, &breaker)?;
        Ok(StandardHedgingLayer {
            total: total.timeout(self.total_timeout).build()?,
            replay: self.replay.build()?,
            hedge: hedge.build()?,
            breaker: CircuitBreakerLayer::new(breaker).classify(self.classifier),
            attempt: attempt.timeout(self.attempt_timeout).build()?,
            propagate: self.propagate,
        })
    }
}

/// The service [`StandardHedgingLayer`] makes around a transport `S`, outermost first: total
/// timeout, replay, hedge, breaker, attempt timeout, deadline header.
pub type StandardHedgingService<S> = Cancel<
    Replay<
        Hedge<
            CircuitBreakerService<Cancel<PropagateDeadline<S>>, HttpClassifier>,
            HttpClassifier,
            HedgeCloner,
        >,
    >,
>;

/// The hedging client preset, built: a tower [`Layer`] to put around an HTTP client whose
/// requests carry a [`ReplayBody`](crate::replay::ReplayBody). Every service it makes shares
/// the one breaker and hedge budget.
#[derive(Debug, Clone)]
pub struct StandardHedgingLayer {
    total: CancelLayer,
    replay: ReplayLayer,
    hedge: HedgeLayer<HttpClassifier, HedgeCloner>,
    breaker: CircuitBreakerLayer<HttpClassifier>,
    attempt: CancelLayer,
    propagate: PropagateDeadlineLayer,
}

impl StandardHedgingLayer {
    /// The hedge layer.
    pub fn hedge(&self) -> &HedgeLayer<HttpClassifier, HedgeCloner> {
        &self.hedge
    }

    /// The breaker, to read its state and metrics.
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
    }
}

impl<S> Layer<S> for StandardHedgingLayer {
    type Service = StandardHedgingService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.total.layer(
            self.replay.layer(
                self.hedge.layer(
                    self.breaker
                        .layer(self.attempt.layer(self.propagate.layer(inner))),
                ),
            ),
        )
    }
}

impl Describe for StandardHedgingLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = self.total.describe();
        layers.extend(self.replay.describe());
        layers.extend(self.hedge.describe());
        layers.extend(self.breaker.describe());
        layers.extend(self.attempt.describe());
        layers.extend(self.propagate.describe());
        layers
    }
}
