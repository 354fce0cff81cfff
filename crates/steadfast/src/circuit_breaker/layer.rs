//! The circuit breaker layer.

use std::time::Duration;

use tower_layer::Layer;

use super::breaker::{BreakerRef, CircuitBreaker};
use super::error::Rejected;
use super::service::{CircuitBreakerService, FallbackFn, NoFallback};
use crate::classify::{classify_fn, AnyError, Attempt, ClassifyFn, Outcome};
use crate::BoxError;

/// Wraps services in a [`CircuitBreakerService`] that shares one [`CircuitBreaker`].
///
/// ```
/// use std::time::Duration;
/// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitState, Rejected};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let breaker = CircuitBreaker::builder()
///     .consecutive_failures(2)
///     .open_for(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// let down = service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("refused")) });
/// let svc = CircuitBreakerLayer::new(breaker.clone()).layer(down);
///
/// for _ in 0..2 {
///     assert!(svc.clone().oneshot(()).await.is_err());
/// }
/// assert_eq!(breaker.state(), CircuitState::Open);
///
/// // Now calls fail fast, without reaching the service.
/// let err = svc.oneshot(()).await.unwrap_err();
/// let rejected = err.downcast_ref::<Rejected>().unwrap();
/// assert_eq!(rejected.retry_after(), Some(Duration::from_secs(30)));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = AnyError, F = NoFallback, B = CircuitBreaker> {
    breaker: B,
    classifier: C,
    fallback: F,
    backpressure: Option<Duration>,
}

impl<B: BreakerRef> CircuitBreakerLayer<AnyError, NoFallback, B> {
    /// A layer guarding services with `breaker` (a [`CircuitBreaker`], or a
    /// `&'static CircuitBreaker` for the cheapest closed path; see [`BreakerRef`]): every
    /// `Ok` is a success and every `Err` a failure until you [`classify`](Self::classify)
    /// otherwise.
    pub fn new(breaker: B) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier: AnyError,
            fallback: NoFallback,
            backpressure: None,
        }
    }
}

impl<C, F, B: BreakerRef> CircuitBreakerLayer<C, F, B> {
    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        self.breaker.breaker()
    }

    /// Decides which results are failures, successes or ignored (see
    /// [`crate::classify`]): retryable, non-retryable and invalid outcomes count as failures.
    pub fn classify<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2, F, B> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
            fallback: self.fallback,
            backpressure: self.backpressure,
        }
    }

    /// Classifies with a closure.
    ///
    /// ```
    /// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
    /// use steadfast::classify::{Attempt, Outcome};
    ///
    /// // 5xx and transport errors are failures; 4xx is the caller's problem, not the server's.
    /// let layer = CircuitBreakerLayer::new(CircuitBreaker::builder().build().unwrap())
    ///     .classify_with(|_: &Attempt<'_, ()>, r: Result<&u16, &std::io::Error>| match r {
    ///         Ok(s) if *s >= 500 => Outcome::retryable(),
    ///         Ok(_) => Outcome::Success,
    ///         Err(_) => Outcome::retryable(),
    ///     });
    /// # let _ = layer;
    /// ```
    pub fn classify_with<Req, Res, E, G>(self, f: G) -> CircuitBreakerLayer<ClassifyFn<G>, F, B>
    where
        G: Fn(&Attempt<'_, Req>, Result<&Res, &E>) -> Outcome,
    {
        self.classify(classify_fn(f))
    }

    /// Answers rejected calls with `f` instead of failing them.
    ///
    /// ```
    /// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, Rejected};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let breaker = CircuitBreaker::builder().build().unwrap();
    /// breaker.force_open();
    /// let prices = service_fn(|_: &str| async { Ok::<u32, std::io::Error>(42) });
    /// let svc = CircuitBreakerLayer::new(breaker)
    ///     .fallback(|_sku: &str, _: &Rejected| Ok::<u32, steadfast::BoxError>(0)) // a cached price
    ///     .layer(prices);
    /// assert_eq!(svc.oneshot("sku-1").await.unwrap(), 0);
    /// # }
    /// ```
    pub fn fallback<Req, Res, G>(self, f: G) -> CircuitBreakerLayer<C, FallbackFn<G>, B>
    where
        G: Fn(Req, &Rejected) -> Result<Res, BoxError>,
    {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier: self.classifier,
            fallback: FallbackFn(f),
            backpressure: self.backpressure,
        }
    }

    /// Applies backpressure instead of failing fast: `poll_ready` stays pending while the
    /// breaker would reject, checking again when the open time ends or every `recheck`
    /// (for forced-open breakers and half-open periods with no permit left), whichever is
    /// sooner. A `recheck` under 1 ms counts as 1 ms; `Duration::MAX` means "only when the
    /// open time ends".
    ///
    /// * These checks are not rejections: they are not counted in
    ///   [`BreakerMetrics::rejections`](super::BreakerMetrics::rejections) and send no event.
    /// * Closed, `poll_ready` holds nothing: `call` admits the call as without backpressure,
    ///   so a breaker that opens in between rejects it (or answers with the fallback).
    /// * Half-open, `poll_ready` takes a probe permit for the next `call`. A service that is
    ///   readied but never called gives the permit back when it is dropped, or when it is
    ///   polled again after that half-open period ended; a clone of the service does not
    ///   carry it. Until then it counts against
    ///   [`half_open_max_calls`](super::CircuitBreakerBuilder::half_open_max_calls), so a
    ///   balancer that readies many services sharing one breaker (tower's p2c) may hold
    ///   permits it does not use; [`max_half_open`](super::CircuitBreakerBuilder::max_half_open)
    ///   bounds how long.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let breaker = CircuitBreaker::builder().build().unwrap();
    /// breaker.isolate(Duration::from_secs(5));
    /// let svc = CircuitBreakerLayer::new(breaker)
    ///     .backpressure(Duration::from_millis(500))
    ///     .layer(service_fn(|_: ()| async { Ok::<_, std::io::Error>("served") }));
    /// let start = tokio::time::Instant::now();
    /// assert_eq!(svc.oneshot(()).await.unwrap(), "served"); // waited instead of failing
    /// assert_eq!(start.elapsed(), Duration::from_secs(5));
    /// # }
    /// ```
    pub fn backpressure(mut self, recheck: Duration) -> Self {
        self.backpressure = Some(recheck);
        self
    }
}

impl<C, F, B> CircuitBreakerLayer<C, F, B> {
    /// How often a waiting `poll_ready` rechecks the breaker, in backpressure mode.
    pub(crate) fn backpressure_recheck(&self) -> Option<Duration> {
        self.backpressure
    }
}

impl<S, C: Clone, F: Clone, B: BreakerRef> Layer<S> for CircuitBreakerLayer<C, F, B> {
    type Service = CircuitBreakerService<S, C, F, B>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(
            inner,
            self.breaker.clone(),
            self.classifier.clone(),
            self.fallback.clone(),
            self.backpressure,
        )
    }
}
