//! The four layers as one stack, in the recommended order, on tokio's paused clock:
//! cancel → retry → circuit breaker → per-attempt timeout → validate → service.

use std::sync::Arc;
use std::time::Duration;

use steadfast::cancel::{CancelLayer, Cancelled};
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitState, Rejected};
use steadfast::retry::{Backoff, RetryError, RetryPolicy, StopReason, TokenBucket};
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast::validate::{ensure, ValidateLayer};
use steadfast::{BoxError, ServiceBuilderExt};
use steadfast_test::{Reply, Scripted};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};

type Req = http::Request<()>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The whole stack around `backend`, with `policy` and `breaker`.
fn stack(
    backend: Scripted<&'static str, Req>,
    policy: RetryPolicy,
    breaker: &CircuitBreaker,
) -> impl tower::Service<Req, Response = &'static str, Error = BoxError, Future = impl Send> + Clone
{
    ServiceBuilder::new()
        .cancel(
            CancelLayer::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        )
        .retry_with(policy)
        .circuit_breaker(CircuitBreakerLayer::new(breaker.clone()))
        .attempt_timeout(CancelLayer::builder().timeout(ms(500)).build().unwrap())
        .validate(
            ValidateLayer::builder()
                .response(ensure("not a complete answer", |s: &&'static str| {
                    s.ends_with('.')
                }))
                .build()
                .unwrap(),
        )
        .service(backend)
}

fn breaker() -> CircuitBreaker {
    CircuitBreaker::builder()
        .consecutive_failures(3)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn retrying(attempts: u32, delay: Duration) -> steadfast::retry::RetryPolicyBuilder {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .backoff(Backoff::constant(delay))
}

#[tokio::test(start_paused = true)]
async fn retry_until_valid_succeeds_on_the_third_attempt() {
    let backend = Scripted::new([
        Reply::ok("The answer is"),
        Reply::ok("The answer is 4"),
        Reply::ok("The answer is 42."),
    ]);
    let b = breaker();
    let svc = stack(backend.clone(), retrying(5, ms(100)).build().unwrap(), &b);
    let start = Instant::now();
    assert_eq!(
        svc.oneshot(Req::new(())).await.unwrap(),
        "The answer is 42."
    );
    assert_eq!(backend.calls(), 3);
    assert_eq!(start.elapsed(), ms(200));
    // The two invalid answers were semantic failures, not transport ones.
    let m = b.metrics();
    assert_eq!((m.invalid, m.failures), (2, 0));
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_times_out_and_the_next_one_is_sent() {
    let backend = Scripted::new([
        Reply::ok("late.").after(Duration::from_secs(5)),
        Reply::ok("in time."),
    ]);
    let b = breaker();
    let svc = stack(backend.clone(), retrying(3, ms(100)).build().unwrap(), &b);
    let start = Instant::now();
    assert_eq!(svc.oneshot(Req::new(())).await.unwrap(), "in time.");
    assert_eq!(start.elapsed(), ms(600));
    assert_eq!(b.metrics().failures, 1);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_and_the_retry_layer_stops_sending() {
    let backend = Scripted::<&'static str, Req>::new([]).then_always(Reply::err("refused"));
    let b = breaker();
    let svc = stack(backend.clone(), retrying(10, ms(10)).build().unwrap(), &b);
    let err = svc.oneshot(Req::new(())).await.unwrap_err();
    // Three failures open the breaker; the fourth attempt is refused, and a refusal is not
    // retried: the request ends with it.
    assert_eq!(backend.calls(), 3);
    assert_eq!(b.state(), CircuitState::Open);
    let rejected = err
        .downcast_ref::<Rejected>()
        .unwrap_or_else(|| panic!("expected Rejected, got {err}"));
    assert_eq!(rejected.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn the_inbound_token_fires_mid_backoff_and_everything_stops() {
    let backend = Scripted::<&'static str, Req>::new([]).then_always(Reply::err("busy"));
    let b = breaker();
    let svc = stack(
        backend.clone(),
        retrying(5, Duration::from_secs(2)).build().unwrap(),
        &b,
    );
    // The token of the inbound request this outbound call was made for.
    let inbound = CancelToken::new();
    let mut req = Req::new(());
    req.set_cancel_token(inbound.clone()).unwrap();
    let start = Instant::now();
    let call = tokio::spawn(svc.oneshot(req));
    tokio::time::sleep(ms(700)).await;
    assert_eq!(backend.calls(), 1); // first attempt failed; now sleeping 2 s
    inbound.cancel_with(CancelReason::ClientDisconnected);
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(start.elapsed(), ms(700));
    assert_eq!(backend.calls(), 1);
    let reason = match (
        err.downcast_ref::<RetryError>(),
        err.downcast_ref::<Cancelled>(),
    ) {
        (Some(r), _) => match r.reason() {
            StopReason::Cancelled(reason) => reason.clone(),
            other => panic!("unexpected stop: {other}"),
        },
        (_, Some(c)) => c.reason().clone(),
        _ => panic!("unexpected error: {err}"),
    };
    assert_eq!(reason, CancelReason::ClientDisconnected);
    assert_eq!(reason.to_string(), "client disconnected");
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_stops_retries_while_the_breaker_stays_closed() {
    // Each request fails once, then succeeds.
    let backend = Scripted::new([
        Reply::err("blip"),
        Reply::ok("one."),
        Reply::err("blip"),
        Reply::ok("two."),
    ]);
    let budget = Arc::new(
        TokenBucket::builder()
            .capacity(1)
            .retry_cost(1)
            .success_refund(0)
            .build()
            .unwrap(),
    );
    let b = CircuitBreaker::builder()
        .failure_rate(50.0)
        .minimum_calls(100)
        .build()
        .unwrap();
    let policy = retrying(3, ms(10)).budget(budget).build().unwrap();
    let svc = stack(backend.clone(), policy, &b);
    assert_eq!(svc.clone().oneshot(Req::new(())).await.unwrap(), "one.");
    let err = svc.oneshot(Req::new(())).await.unwrap_err();
    let err = err.downcast_ref::<RetryError>().expect("a RetryError");
    assert_eq!(err.reason(), &StopReason::BudgetExhausted);
    assert_eq!(backend.calls(), 3);
    assert_eq!(b.state(), CircuitState::Closed);
}
