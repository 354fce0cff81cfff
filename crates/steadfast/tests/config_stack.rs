//! A stack built from a settings file in one call: its layers in the documented order (total
//! timeout, retry, breaker, attempt timeout), the layers a stack leaves out left out, and the
//! parts that stay in code.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::circuit_breaker::{CircuitBreaker, CircuitState, Rejected};
use steadfast::classify::{AnyError, Attempt, Outcome};
use steadfast::config::{Config, Format};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

fn config(text: &str) -> Config {
    Config::from_str(text, Format::Toml).unwrap_or_else(|e| panic!("{e}"))
}

/// A downstream that never answers, counting its calls.
fn hanging(
    calls: Arc<AtomicU32>,
) -> impl tower::Service<
    u32,
    Response = u32,
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<u32, std::io::Error>> + Send,
> + Clone {
    service_fn(move |_: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<Result<u32, std::io::Error>>()
    })
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_timed_counted_by_the_breaker_and_retried() {
    let config = config(
        r#"
        [stacks.inventory]
        cancel = "10s"
        retry = { max_attempts = 3, backoff = { kind = "constant", delay = "500ms" } }
        breaker = { consecutive_failures = 100 }
        attempt_timeout = "1s"
        "#,
    );
    let stack = config
        .find_stack("inventory")
        .unwrap()
        .layer(AnyError)
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let svc = stack.layer(hanging(calls.clone()));
    let started = Instant::now();
    assert!(svc.oneshot(1).await.is_err());
    // The attempt timeout is inside the retry layer: three attempts of 1s, two waits of 500ms.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(started.elapsed(), Duration::from_secs(4));
    // The breaker is inside the retry layer, and the attempt timeout inside the breaker: each
    // timed-out attempt is one failure.
    let m = stack.breaker().unwrap().metrics();
    assert_eq!(m.failures, 3);
}

#[tokio::test(start_paused = true)]
async fn the_total_timeout_bounds_every_attempt_and_wait() {
    let config = config(
        r#"
        [stacks.s]
        cancel = "2500ms"
        retry = { max_attempts = 5, backoff = { kind = "none" } }
        attempt_timeout = "1s"
        "#,
    );
    let stack = config.find_stack("s").unwrap().layer(AnyError).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    assert!(stack
        .layer(hanging(calls.clone()))
        .oneshot(1)
        .await
        .is_err());
    assert_eq!(started.elapsed(), Duration::from_millis(2500));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the third attempt was cut short"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_stops_the_retries() {
    let config = config(
        r#"
        [stacks.s]
        retry = { max_attempts = 5, backoff = { kind = "none" } }
        breaker = { consecutive_failures = 2, open_for = "30s" }
        "#,
    );
    let stack = config.find_stack("s").unwrap().layer(AnyError).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let svc = stack.layer(service_fn({
        let calls = calls.clone();
        move |_: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, _>(std::io::Error::other("down")) }
        }
    }));
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "two failures open the breaker"
    );
    assert_eq!(stack.breaker().unwrap().state(), CircuitState::Open);
    assert!(
        steadfast::classify::find_source::<Rejected>(&*err).is_some(),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stack_has_only_the_layers_it_gives() {
    let config = config(
        r#"
        [defaults.breaker]
        failure_rate = 50
        [defaults.cancel]
        timeout = "1s"
        [stacks.bare]
        [stacks.retry_only]
        retry = { max_attempts = 2, backoff = { kind = "none" } }
        "#,
    );
    let bare = config.find_stack("bare").unwrap().layer(AnyError).unwrap();
    assert!(bare.cancel().is_some(), "cancel comes from the defaults");
    assert!(bare.retry_policy().is_none() && bare.breaker().is_none());
    assert!(bare.attempt_timeout().is_none());
    let only = config
        .find_stack("retry_only")
        .unwrap()
        .layer(AnyError)
        .unwrap();
    assert_eq!(only.retry_policy().unwrap().max_attempts(), 2);
    assert!(only.breaker().is_none());
    // With no layer at all, the service's own answer comes through.
    let mut plain = config.find_stack("bare").unwrap().clone();
    plain.cancel = None;
    let layer = plain.layer(AnyError).unwrap();
    let svc = layer.layer(service_fn(|n: u32| async move {
        Ok::<_, std::io::Error>(n + 1)
    }));
    assert_eq!(svc.oneshot(1).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_classifier_and_the_breaker_come_from_code() {
    let config = config(
        r#"
        [stacks.s]
        retry = { max_attempts = 4, backoff = { kind = "none" } }
        breaker = { consecutive_failures = 100 }
        "#,
    );
    // Odd answers are failures worth retrying; the others are final.
    let classifier = |_: &Attempt<'_, u32>, r: Result<&u32, &steadfast::BoxError>| match r {
        Ok(n) if n % 2 == 1 => Outcome::retryable(),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::retryable(),
    };
    let shared = CircuitBreaker::builder()
        .name("shared")
        .consecutive_failures(100)
        .build()
        .unwrap();
    let stack = config
        .find_stack("s")
        .unwrap()
        .builder()
        .classify(steadfast::classify::classify_fn(classifier))
        .breaker(shared.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let svc = stack.layer(service_fn({
        let calls = calls.clone();
        move |_: u32| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<u32, std::io::Error>(n) }
        }
    }));
    // Answers 0: final.
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 0);
    // Answers 1 (retried), then 2.
    assert_eq!(svc.oneshot(1).await.unwrap(), 2);
    assert_eq!(
        shared.metrics().failures,
        1,
        "the stack uses the breaker it was given"
    );
    assert_eq!(stack.breaker().unwrap().name(), "shared");
}

#[test]
fn settings_that_break_a_rule_fail_to_build() {
    let config = config("[stacks.s]\nretry = { max_attempts = 2 }\n");
    let mut settings = config.find_stack("s").unwrap().clone();
    settings.retry.as_mut().unwrap().max_attempts = Some(0);
    let err = settings.layer(AnyError).unwrap_err();
    assert_eq!(err.field(), "max_attempts");
}
