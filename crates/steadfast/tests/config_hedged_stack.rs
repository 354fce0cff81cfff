//! A stack's hedge section built in its place by `StackSettings::layer_hedged`: between the
//! retry layer and the breaker, judged by the stack's classifier, on tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::classify::AnyError;
use steadfast::config::{Config, Format};
use steadfast::describe::Describe;
use tower::{service_fn, Layer, ServiceExt};

const FILE: &str = r#"
[stacks.search]
cancel = "10s"
retry = { max_attempts = 2, backoff = { kind = "none" } }
hedge = { delay = "100ms", max_attempts = 3, budget = { kind = "ratio", min_per_second = 100 } }
breaker = { consecutive_failures = 100 }
attempt_timeout = "1s"

[stacks.plain]
retry = { max_attempts = 2 }
"#;

#[test]
fn the_hedge_goes_between_the_retry_layer_and_the_breaker() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let stack = config
        .find_stack("search")
        .unwrap()
        .layer_hedged(AnyError)
        .unwrap();
    let layers = stack.describe();
    let kinds: Vec<&str> = layers.iter().map(|l| l.kind()).collect();
    assert_eq!(
        kinds,
        ["cancel", "retry", "hedge", "circuit-breaker", "cancel"]
    );
    assert_eq!(stack.hedge().unwrap().max_attempts(), 3);
    assert_eq!(stack.hedge().unwrap().name(), Some("search"));

    // A stack without a hedge has none, and `layer` builds it as before.
    let plain = config
        .find_stack("plain")
        .unwrap()
        .layer_hedged(AnyError)
        .unwrap();
    assert!(plain.hedge().is_none());
    let kinds: Vec<String> = config
        .find_stack("plain")
        .unwrap()
        .layer(AnyError)
        .unwrap()
        .describe()
        .iter()
        .map(|l| l.kind().to_owned())
        .collect();
    assert_eq!(kinds, ["retry"]);
}

#[test]
fn layer_refuses_a_stack_with_a_hedge_rather_than_drop_it() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let stack = config.find_stack("search").unwrap();
    let err = stack.layer(AnyError).unwrap_err();
    assert_eq!(err.field(), "hedge");
    assert!(err.rule().contains("layer_hedged"), "{err}");
    let err = stack.builder().build().unwrap_err();
    assert_eq!(err.field(), "hedge");
}

#[tokio::test(start_paused = true)]
async fn stragglers_are_hedged_and_each_attempt_is_timed_and_counted() {
    let config = Config::from_str(FILE, Format::Toml).unwrap();
    let stack = config
        .find_stack("search")
        .unwrap()
        .layer_hedged(AnyError)
        .unwrap();
    // The first two attempts hang; the third, sent 200 ms in, answers at once.
    let calls = Arc::new(AtomicU32::new(0));
    let svc = stack.layer(service_fn({
        let calls = calls.clone();
        move |_: u32| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    std::future::pending::<()>().await;
                }
                Ok::<_, std::io::Error>(n)
            }
        }
    }));
    let started = tokio::time::Instant::now();
    assert_eq!(svc.oneshot(7).await.unwrap(), 2);
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // The breaker saw the winner; the losers were cancelled, not counted.
    let metrics = stack.stack().breaker().unwrap().metrics();
    assert_eq!((metrics.successes, metrics.failures), (1, 0), "{metrics:?}");
}
