//! The other crates' layers, and steadfast's own, built with the same settings as far as each
//! crate allows:
//!
//! * retry: 3 attempts in all, exponential backoff from 100 ms (jittered where the crate
//!   jitters by default), every error retried, requests copied with `Clone`;
//! * circuit breaker: opens at a 50% failure rate once 100 calls were seen (over the last 100
//!   calls where the crate counts calls, over 30 s where it samples by time);
//! * timeout: 30 s.
//!
//! Errors the peers ask us to produce (a rejection, a timeout) are `io::Error`s of a bare
//! kind, which do not allocate.

use std::io;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use seatbelt::{RecoveryInfo, ResilienceContext};
use steadfast::cancel::{Cancel, CancelLayer};
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::retry::{Backoff, Retry, RetryLayer, RetryPolicy};
use steadfast::BoxError;
use tower::{Layer, Service, ServiceBuilder};

use super::{breaker, plain_error, Bare, RetryOnErr};

/// Every timeout layer's limit.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);
/// The first retry's delay (before jitter) for every retry layer on the success path.
pub(crate) const BASE_DELAY: Duration = Duration::from_millis(100);
/// A backoff long enough that a request is still asleep when the benchmark cancels it.
pub(crate) const LONG_DELAY: Duration = Duration::from_secs(10);
/// How long a tripped breaker stays open in the rejection benchmarks.
pub(crate) const OPEN_FOR: Duration = Duration::from_secs(3600);

/// What every service here answers, as seatbelt names it (its layers are typed by it).
pub(crate) type Out = Result<u64, io::Error>;

// ---------------------------------------------------------------------------------------
// seatbelt
// ---------------------------------------------------------------------------------------

/// seatbelt's layers take their clock from a context. The clock is `tick`'s tokio clock, so
/// a tokio runtime must be entered when this is called (it spawns the clock's driver).
pub(crate) fn seatbelt_context<Req>() -> ResilienceContext<Req, Out> {
    ResilienceContext::new(tick::Clock::new_tokio())
}

/// Every `Err` is a failure to retry or count; every `Ok` is a success.
fn seatbelt_recovery(out: &Out) -> RecoveryInfo {
    match out {
        Ok(_) => RecoveryInfo::never(),
        Err(_) => RecoveryInfo::retry(),
    }
}

/// How the retry layers under test wait between attempts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delay {
    /// The success-path setting: exponential from [`BASE_DELAY`].
    Exponential,
    /// The same fixed delay before every retry, without jitter.
    Fixed(Duration),
}

/// seatbelt's retry layer. seatbelt counts retries, not attempts: 2 retries are 3 attempts.
pub(crate) fn seatbelt_retry<Req, S>(
    ctx: &ResilienceContext<Req, Out>,
    inner: S,
    delay: Delay,
) -> seatbelt::retry::Retry<Req, Out, S>
where
    Req: Clone + Send + Sync + 'static,
{
    let layer = seatbelt::retry::Retry::layer("retry", ctx)
        .clone_input()
        .recovery_with(|out: &Out, _| seatbelt_recovery(out))
        .max_retry_attempts(2);
    let layer = match delay {
        Delay::Exponential => layer
            .backoff(seatbelt::retry::Backoff::Exponential)
            .base_delay(BASE_DELAY)
            .max_delay(Duration::from_secs(10)),
        Delay::Fixed(d) => layer
            .backoff(seatbelt::retry::Backoff::Constant)
            .base_delay(d)
            .use_jitter(false),
    };
    layer.layer(inner)
}

/// seatbelt's circuit breaker: 50% failures over at least 100 calls in its (default 30 s)
/// sampling window; open for `open_for`.
pub(crate) fn seatbelt_breaker<S>(
    ctx: &ResilienceContext<u64, Out>,
    inner: S,
    open_for: Duration,
) -> seatbelt::breaker::Breaker<u64, Out, S> {
    seatbelt::breaker::Breaker::layer("breaker", ctx)
        .recovery_with(|out: &Out, _| seatbelt_recovery(out))
        .rejected_input_error(|_, _| plain_error())
        .failure_threshold(0.5)
        .min_throughput(100)
        .break_duration(open_for)
        .layer(inner)
}

/// seatbelt's timeout.
pub(crate) fn seatbelt_timeout<S>(
    ctx: &ResilienceContext<u64, Out>,
    inner: S,
) -> seatbelt::timeout::Timeout<u64, Out, S> {
    seatbelt::timeout::Timeout::layer("timeout", ctx)
        .timeout(TIMEOUT)
        .timeout_error(|_| io::Error::from(io::ErrorKind::TimedOut))
        .layer(inner)
}

/// timeout → retry → breaker → `Bare`, composed with `tower::ServiceBuilder`.
pub(crate) fn seatbelt_stack(
    ctx: &ResilienceContext<u64, Out>,
) -> impl Service<u64, Response = u64, Error = io::Error> + Clone + Send + 'static {
    ServiceBuilder::new()
        .layer_fn(|s| seatbelt_timeout(ctx, s))
        .layer_fn(|s| seatbelt_retry(ctx, s, Delay::Exponential))
        .layer_fn(|s| seatbelt_breaker(ctx, s, Duration::from_secs(5)))
        .service(Bare)
}

// ---------------------------------------------------------------------------------------
// tower-resilience
// ---------------------------------------------------------------------------------------

/// tower-resilience's retry layer: 3 attempts.
pub(crate) fn tr_retry<Req, E, S>(
    inner: S,
    delay: Delay,
) -> tower_resilience_retry::Retry<S, Req, u64, E> {
    let builder = tower_resilience_retry::RetryLayer::<Req, u64, E>::builder().max_attempts(3);
    let builder = match delay {
        Delay::Exponential => builder.exponential_backoff(BASE_DELAY),
        Delay::Fixed(d) => builder.fixed_backoff(d),
    };
    builder.build().layer(inner)
}

/// tower-resilience's retry layer with a shared retry budget.
pub(crate) fn tr_retry_with_budget(
    budget: Arc<dyn tower_resilience_retry::RetryBudget>,
) -> tower_resilience_retry::Retry<Bare, u64, u64, io::Error> {
    tower_resilience_retry::RetryLayer::<u64, u64, io::Error>::builder()
        .max_attempts(3)
        .exponential_backoff(BASE_DELAY)
        .budget(budget)
        .build()
        .layer(Bare)
}

/// tower-resilience's circuit breaker: count-based window of 100 calls, 50% failure rate,
/// at least 100 calls. Clones of the service share the circuit.
pub(crate) fn tr_breaker<S>(
    inner: S,
) -> tower_resilience_circuitbreaker::CircuitBreaker<
    S,
    tower_resilience_circuitbreaker::DefaultClassifier,
> {
    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .minimum_number_of_calls(100)
        .build()
        .expect("a valid tower-resilience breaker")
        .layer(inner)
}

/// tower-resilience's time limiter.
pub(crate) fn tr_timelimiter<S>(
    inner: S,
) -> tower_resilience_timelimiter::TimeLimiter<S, tower_resilience_timelimiter::FixedTimeout> {
    tower_resilience_timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(TIMEOUT)
        .build()
        .layer(inner)
}

/// time limiter → retry → breaker → `Bare`.
pub(crate) fn tr_stack() -> impl Service<u64, Response = u64> + Clone + Send + 'static {
    ServiceBuilder::new()
        .layer_fn(tr_timelimiter)
        .layer_fn(|s| {
            tr_retry::<u64, tower_resilience_circuitbreaker::CircuitBreakerError<io::Error>, _>(
                s,
                Delay::Exponential,
            )
        })
        .layer_fn(tr_breaker)
        .service(Bare)
}

// ---------------------------------------------------------------------------------------
// failsafe
// ---------------------------------------------------------------------------------------

/// failsafe has no tower layer; its futures API wraps a future in
/// `failsafe::futures::CircuitBreaker::call`. This is the smallest service that does so:
/// the inner service's future, wrapped, and nothing else.
#[derive(Debug)]
pub(crate) struct Failsafe<S, P> {
    breaker: failsafe::StateMachine<P, ()>,
    inner: S,
}

/// Clones share the breaker (a `StateMachine` is a reference-counted handle).
impl<S: Clone, P> Clone for Failsafe<S, P> {
    fn clone(&self) -> Self {
        Failsafe {
            breaker: self.breaker.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S, P> Service<u64> for Failsafe<S, P>
where
    S: Service<u64>,
    P: failsafe::FailurePolicy + Send + Sync,
{
    type Response = S::Response;
    type Error = failsafe::Error<S::Error>;
    type Future = failsafe::futures::ResponseFuture<S::Future, P, (), failsafe::Any>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }

    #[inline]
    fn call(&mut self, req: u64) -> Self::Future {
        failsafe::futures::CircuitBreaker::call(&self.breaker, self.inner.call(req))
    }
}

/// The failsafe policy closest to the others: at least 50% successes (so at most 50%
/// failures) over a 30 s window once 100 requests were seen.
pub(crate) type FailsafeRate =
    failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::Constant>;

/// failsafe's breaker with the success-rate policy.
pub(crate) fn failsafe_breaker<S>(inner: S) -> Failsafe<S, FailsafeRate> {
    let policy = failsafe::failure_policy::success_rate_over_time_window(
        0.5,
        100,
        Duration::from_secs(30),
        failsafe::backoff::constant(Duration::from_secs(5)),
    );
    Failsafe {
        breaker: failsafe::Config::new().failure_policy(policy).build(),
        inner,
    }
}

/// failsafe's breaker that opens on the first failure and stays open for [`OPEN_FOR`]: its
/// rate policy only trips after a whole 30 s window, so the rejection benchmark trips this
/// one (an open breaker rejects the same way whatever the policy).
pub(crate) fn failsafe_breaker_tripwire<S>(
    inner: S,
) -> Failsafe<S, failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>> {
    let policy =
        failsafe::failure_policy::consecutive_failures(1, failsafe::backoff::constant(OPEN_FOR));
    Failsafe {
        breaker: failsafe::Config::new().failure_policy(policy).build(),
        inner,
    }
}

// ---------------------------------------------------------------------------------------
// tower and steadfast
// ---------------------------------------------------------------------------------------

/// `tower::timeout`.
pub(crate) fn tower_timeout<S>(inner: S) -> tower::timeout::Timeout<S> {
    tower::timeout::TimeoutLayer::new(TIMEOUT).layer(inner)
}

/// A `tower::retry::Policy` that sleeps `LONG_DELAY` on tokio's timer before each retry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SleepOnErr;

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for SleepOnErr {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        result.is_err().then(|| tokio::time::sleep(LONG_DELAY))
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// `tower::retry` with [`SleepOnErr`].
pub(crate) fn tower_retry_sleeping<S>(inner: S) -> tower::retry::Retry<SleepOnErr, S> {
    tower::retry::RetryLayer::new(SleepOnErr).layer(inner)
}

/// A `tower::retry::Policy` with tower's own retry budget, written the way tower's budget
/// documentation shows: a success deposits, a retry withdraws; every error is retried while
/// the budget allows.
#[derive(Debug, Clone)]
pub(crate) struct TpsPolicy {
    budget: Arc<tower::retry::budget::TpsBudget>,
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for TpsPolicy {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        use tower::retry::budget::Budget;
        match result {
            Ok(_) => {
                self.budget.deposit();
                None
            }
            Err(_) => self.budget.withdraw().then(|| std::future::ready(())),
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// `tower::retry` with tower's `TpsBudget` (its defaults are `RatioBudget`'s: 20% of requests
/// over 10 s, plus 10 retries a second).
pub(crate) fn tower_retry_with_budget() -> tower::retry::Retry<TpsPolicy, Bare> {
    let budget = Arc::new(tower::retry::budget::TpsBudget::default());
    tower::retry::RetryLayer::new(TpsPolicy { budget }).layer(Bare)
}

/// A `tower::retry::Policy` that does what steadfast's default policy does, written with
/// tower's own parts: at most 3 attempts (2 retries), retry on any `Err`, and tower's
/// `ExponentialBackoff` from [`BASE_DELAY`] capped at 10 s with jitter (tower's jitter adds up
/// to 100% of the delay). Like every `tower::retry` policy it is cloned into each request's
/// future, together with the inner service.
#[derive(Clone)]
pub(crate) struct TowerDefaultLike {
    retries_left: u32,
    backoff: tower::retry::backoff::ExponentialBackoff,
}

impl TowerDefaultLike {
    pub(crate) fn new() -> Self {
        use tower::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
        let mut maker = ExponentialBackoffMaker::new(
            BASE_DELAY,
            Duration::from_secs(10),
            1.0,
            tower::util::rng::HasherRng::default(),
        )
        .expect("a valid tower backoff");
        TowerDefaultLike {
            retries_left: 2,
            backoff: maker.make_backoff(),
        }
    }
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for TowerDefaultLike {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        use tower::retry::backoff::Backoff;
        match result {
            Ok(_) => None,
            Err(_) if self.retries_left > 0 => {
                self.retries_left -= 1;
                Some(self.backoff.next_backoff())
            }
            Err(_) => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// `tower::retry::Retry` around `inner` with [`TowerDefaultLike`].
pub(crate) fn tower_retry_default_like<S>(inner: S) -> tower::retry::Retry<TowerDefaultLike, S> {
    tower::retry::RetryLayer::new(TowerDefaultLike::new()).layer(inner)
}

/// tower's closest stack: timeout → retry → `Bare` (tower has no circuit breaker).
pub(crate) fn tower_stack() -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send {
    ServiceBuilder::new()
        .layer(tower::timeout::TimeoutLayer::new(TIMEOUT))
        .layer(tower::retry::RetryLayer::new(RetryOnErr))
        .service(Bare)
}

/// steadfast's cancel layer with a 30 s timeout.
pub(crate) fn steadfast_timeout<S>(inner: S) -> Cancel<S> {
    CancelLayer::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("a valid cancel layer")
        .layer(inner)
}

/// steadfast's retry layer with a fixed delay and no jitter, 3 attempts.
pub(crate) fn steadfast_retry_fixed<S>(inner: S, delay: Duration) -> Retry<S> {
    let policy = RetryPolicy::builder()
        .backoff(Backoff::constant(delay))
        .build()
        .expect("a valid policy");
    RetryLayer::new(policy).layer(inner)
}

/// The default policy with a shared budget.
fn budget_policy(budget: Arc<dyn steadfast::retry::RetryBudget>) -> RetryPolicy {
    RetryPolicy::builder()
        .budget(budget)
        .build()
        .expect("a valid policy")
}

/// steadfast's retry layer (default policy) with a shared budget.
pub(crate) fn steadfast_retry_with_budget(
    budget: Arc<dyn steadfast::retry::RetryBudget>,
) -> Retry<Bare> {
    RetryLayer::new(budget_policy(budget)).layer(Bare)
}

static RATIO_POLICY: LazyLock<RetryPolicy> = LazyLock::new(|| {
    let budget = steadfast::retry::RatioBudget::builder().build();
    budget_policy(Arc::new(budget.expect("a valid budget")))
});
static BUCKET_POLICY: LazyLock<RetryPolicy> = LazyLock::new(|| {
    let budget = steadfast::retry::TokenBucket::builder().build();
    budget_policy(Arc::new(budget.expect("a valid budget")))
});

/// steadfast's retry layer with a `RatioBudget` (default settings), the policy held as
/// `&'static` (the response future does not take a reference count on the policy's extras).
pub(crate) fn steadfast_retry_static_ratio() -> Retry<Bare, &'static RetryPolicy> {
    RetryLayer::new(&*RATIO_POLICY).layer(Bare)
}

/// Like [`steadfast_retry_static_ratio`], with a `TokenBucket` (default settings).
pub(crate) fn steadfast_retry_static_bucket() -> Retry<Bare, &'static RetryPolicy> {
    RetryLayer::new(&*BUCKET_POLICY).layer(Bare)
}

/// cancel (30 s timeout) → retry (default policy) → breaker → `Bare`.
pub(crate) fn steadfast_stack(
    b: &CircuitBreaker,
) -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send {
    ServiceBuilder::new()
        .layer(
            CancelLayer::builder()
                .timeout(TIMEOUT)
                .build()
                .expect("a valid cancel layer"),
        )
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(CircuitBreakerLayer::new(b.clone()))
        .service(Bare)
}

static STACK_POLICY: LazyLock<RetryPolicy> = LazyLock::new(RetryPolicy::default);
static STACK_BREAKER: LazyLock<CircuitBreaker> = LazyLock::new(breaker);

/// The same stack with the policy and the breaker held as `&'static`.
pub(crate) fn steadfast_stack_static(
) -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send {
    ServiceBuilder::new()
        .layer(
            CancelLayer::builder()
                .timeout(TIMEOUT)
                .build()
                .expect("a valid cancel layer"),
        )
        .layer(RetryLayer::new(&*STACK_POLICY))
        .layer(CircuitBreakerLayer::new(&*STACK_BREAKER))
        .service(Bare)
}
