//! Stacks describe themselves: each layer's description lists the settings it was built
//! with, a stack's layers come outermost first, and the whole reads (and, with `serde`,
//! serializes) as documented.

#![cfg(all(
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "validate",
    feature = "chaos"
))]

use std::sync::Arc;
use std::time::Duration;

use steadfast::cancel::CancelLayer;
use steadfast::chaos::{ChaosLayer, FaultInjection, LatencyInjection};
use steadfast::circuit_breaker::{
    CircuitBreaker, CircuitBreakerLayer, HalfOpenRule, KeyedBreakers, KeyedCircuitBreakerLayer,
    SlidingWindow,
};
use steadfast::describe::{Describe, LayerDescription, StackDescription, Value};
use steadfast::retry::{Backoff, Jitter, RatioBudget, RetryLayer, RetryPolicy, TokenBucket};
use steadfast::validate::{NonEmpty, ValidateLayer, ValidationContext};
use steadfast::ServiceBuilderExt;
use tower::ServiceBuilder;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The one layer `layer` describes.
fn one(layer: &impl Describe) -> LayerDescription {
    let mut layers = layer.describe();
    assert_eq!(layers.len(), 1, "{layers:?}");
    layers.remove(0)
}

fn retry(attempts: u32, base: Duration) -> RetryLayer {
    RetryLayer::new(
        RetryPolicy::builder()
            .name("payments")
            .max_attempts(attempts)
            .backoff(
                Backoff::exponential(base)
                    .max(secs(10))
                    .jitter(Jitter::Full),
            )
            .budget(Arc::new(
                RatioBudget::builder()
                    .ratio(0.2)
                    .min_per_second(5)
                    .window(secs(10))
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap(),
    )
}

fn breaker(failure_rate: f64) -> CircuitBreakerLayer {
    CircuitBreakerLayer::new(
        CircuitBreaker::builder()
            .name("payments")
            .failure_rate(failure_rate)
            .minimum_calls(20)
            .window(SlidingWindow::count(50))
            .open_for(secs(30))
            .build()
            .unwrap(),
    )
}

#[test]
fn retry_lists_the_settings_it_was_built_with() {
    let d = one(&retry(3, ms(100)));
    assert_eq!(d.kind(), "retry");
    assert_eq!(d.name(), Some("payments"));
    assert_eq!(d.get("max_attempts"), Some(&Value::Integer(3)));
    assert_eq!(
        d.get("backoff").unwrap().to_string(),
        "exponential (base 100ms, factor 2, max 10s, jitter full)"
    );
    assert_eq!(
        d.get("budget").unwrap().to_string(),
        "ratio (ratio 20%, min_per_second 5, window 10s)"
    );

    // Another setting, another description.
    let d = one(&retry(5, ms(250)));
    assert_eq!(d.get("max_attempts"), Some(&Value::Integer(5)));
    assert!(d
        .get("backoff")
        .unwrap()
        .to_string()
        .starts_with("exponential (base 250ms,"));

    let bucket = RetryLayer::new(
        RetryPolicy::builder()
            .max_elapsed(secs(3))
            .backoff_for(|_| true, Backoff::constant(secs(1)))
            .budget(Arc::new(
                TokenBucket::builder()
                    .capacity(50)
                    .retry_cost(5)
                    .success_refund(1)
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap(),
    );
    let d = one(&bucket);
    assert_eq!(d.name(), None);
    assert_eq!(d.get("max_elapsed"), Some(&Value::Duration(secs(3))));
    assert_eq!(
        d.get("backoff_for").unwrap().to_string(),
        "[constant (delay 1s)]"
    );
    assert_eq!(
        d.get("budget").unwrap().to_string(),
        "token_bucket (capacity 50, retry_cost 5, success_refund 1)"
    );
    // A closure classifier is "custom".
    let custom = RetryLayer::new(
        RetryPolicy::builder()
            .classify_with(
                |_: &steadfast::classify::Attempt<'_, ()>, _: Result<&(), &std::io::Error>| {
                    steadfast::classify::Outcome::Success
                },
            )
            .build()
            .unwrap(),
    );
    assert_eq!(one(&custom).get("classify"), Some(&Value::text("custom")));
}

#[test]
fn start_jitter_is_a_layer_of_its_own() {
    let policy = RetryPolicy::builder()
        .start_jitter(secs(5))
        .build()
        .unwrap();
    let plain = RetryLayer::new(policy.clone());
    assert!(one(&plain).get("start_jitter").is_none());
    let layers = RetryLayer::new(policy).with_start_jitter().describe();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0].to_string(), "start-jitter: start_jitter 5s");
    assert_eq!(layers[1].kind(), "retry");
}

#[test]
fn circuit_breaker_lists_the_settings_it_was_built_with() {
    let d = one(&breaker(50.0));
    assert_eq!(d.kind(), "circuit-breaker");
    assert_eq!(d.name(), Some("payments"));
    assert_eq!(
        d.to_string(),
        "circuit-breaker \"payments\": failure_rate 50%, minimum_calls 20, window count (size 50), \
         half_open_max_calls 1, success_threshold 1, half_open_rule first_failure, \
         max_half_open 1m, open_backoff constant (delay 30s), count_cancellations false, \
         count_invalid true, classify AnyError"
    );
    assert_eq!(
        one(&breaker(25.5)).get("failure_rate"),
        Some(&Value::Percent(25.5))
    );

    let timed = CircuitBreakerLayer::new(
        CircuitBreaker::builder()
            .no_failure_rate()
            .slow_call_rate(80.0, secs(2))
            .consecutive_failures(5)
            .minimum_calls(10)
            .window(SlidingWindow::time(secs(60)))
            .half_open_max_calls(4)
            .half_open_rule(HalfOpenRule::Rates)
            .open_backoff(Backoff::exponential(secs(1)).max(secs(60)))
            .build()
            .unwrap(),
    )
    .backpressure(ms(100));
    assert_eq!(
        one(&timed).to_string(),
        "circuit-breaker: slow_call_rate [80%, 2s], consecutive_failures 5, minimum_calls 10, \
         window time (length 1m, buckets 10), half_open_max_calls 4, half_open_rule rates, \
         max_half_open 1m, open_backoff exponential (base 1s, factor 2, max 1m), \
         count_cancellations false, count_invalid true, classify AnyError, backpressure 100ms"
    );
}

#[test]
fn keyed_breakers_describe_their_limits_and_each_breaker() {
    let set = |max_keys| {
        KeyedBreakers::<u64>::builder(|| CircuitBreaker::builder().failure_rate(20.0))
            .max_keys(max_keys)
            .idle_timeout(secs(120))
            .build()
            .unwrap()
    };
    let layer = KeyedCircuitBreakerLayer::new(set(64), |req: &u64| *req);
    let d = one(&layer);
    assert_eq!(d.kind(), "keyed-circuit-breaker");
    assert_eq!(d.get("max_keys"), Some(&Value::Integer(64)));
    assert_eq!(d.get("idle_timeout"), Some(&Value::Duration(secs(120))));
    assert_eq!(d.get("key"), Some(&Value::text("custom")));
    assert!(d
        .get("breaker")
        .unwrap()
        .to_string()
        .starts_with("circuit-breaker (failure_rate 20%, minimum_calls 100,"));
    let other = KeyedCircuitBreakerLayer::new(set(8), |req: &u64| *req);
    assert_eq!(one(&other).get("max_keys"), Some(&Value::Integer(8)));
}

#[test]
fn cancel_validate_and_chaos_list_their_settings() {
    let cancel = CancelLayer::builder().timeout(secs(2)).build().unwrap();
    assert_eq!(one(&cancel).to_string(), "cancel: timeout 2s");
    let cancel = CancelLayer::builder()
        .timeout(ms(1500))
        .cancel_if(secs(1), || false)
        .condition_name("overloaded")
        .build()
        .unwrap();
    assert_eq!(
        one(&cancel).to_string(),
        "cancel: timeout 1.5s, cancel_if poll (every 1s), condition_name overloaded"
    );
    assert_eq!(one(&CancelLayer::new()).to_string(), "cancel");
    // A named cancel layer is described under its name, and so is the service it builds.
    let named = CancelLayer::builder()
        .name("attempt")
        .timeout(secs(2))
        .build()
        .unwrap();
    assert_eq!(one(&named).to_string(), "cancel \"attempt\": timeout 2s");
    let service = tower::Layer::layer(&named, steadfast::describe::Innermost);
    assert_eq!(service.describe()[0].name(), Some("attempt"));

    let validate = ValidateLayer::builder()
        .response(NonEmpty)
        .response_fn(|_: &String, _: &ValidationContext| Ok::<(), &'static str>(()))
        .build()
        .unwrap();
    assert_eq!(
        one(&validate).to_string(),
        "validate: response [NonEmpty, custom]"
    );
    // A named validate layer is described under its name, and so is the service it builds.
    let named = ValidateLayer::builder()
        .name("profile")
        .response(NonEmpty)
        .build()
        .unwrap();
    assert_eq!(
        one(&named).to_string(),
        "validate \"profile\": response [NonEmpty]"
    );
    let service = tower::Layer::layer(&named, steadfast::describe::Innermost);
    assert_eq!(service.describe()[0].name(), Some("profile"));

    let chaos = ChaosLayer::<u32, u32>::builder()
        .name("rehearsal")
        .latency(LatencyInjection::fixed(ms(50)).rate(0.1))
        .fault(FaultInjection::chaos().rate(0.01))
        .build()
        .unwrap();
    assert_eq!(
        one(&chaos).to_string(),
        "chaos \"rehearsal\": switch on, latency fixed (delay 50ms, rate 10%), \
         fault chaos (rate 1%)"
    );
    chaos.switch().turn_off();
    assert_eq!(one(&chaos).get("switch"), Some(&Value::text("off")));
    // An error of yours is "custom"; a predicate shows as "when custom".
    let chaos = ChaosLayer::<u32, u32>::builder()
        .when(|n: &u32| *n > 10)
        .fault(FaultInjection::error(steadfast_test::TestError("down".into())).rate(0.5))
        .build()
        .unwrap();
    assert_eq!(
        one(&chaos).to_string(),
        "chaos: switch on, when custom, fault custom (rate 50%)"
    );
}

#[test]
fn a_stack_lists_its_layers_outermost_first() {
    // The layer added first to a `ServiceBuilder` is the outermost: it sees a request first.
    let builder = ServiceBuilder::new()
        .layer(breaker(50.0))
        .layer(retry(3, ms(100)))
        .attempt_timeout(CancelLayer::builder().timeout(secs(1)).build().unwrap());
    let kinds: Vec<String> = builder
        .description()
        .layers()
        .iter()
        .map(|l| l.kind().to_owned())
        .collect();
    assert_eq!(kinds, ["circuit-breaker", "retry", "cancel"]);
    // The same through the layers it holds, and by hand.
    let layers = builder.clone().into_inner();
    assert_eq!(layers.description(), builder.description());
    let by_hand = StackDescription::new()
        .layer(&breaker(50.0))
        .layer(&retry(3, ms(100)))
        .layer(&CancelLayer::builder().timeout(secs(1)).build().unwrap());
    assert_eq!(by_hand, builder.description());
    // Nothing describes as nothing.
    assert!(ServiceBuilder::new().description().layers().is_empty());
}

/// A realistic client stack: retries outside the breaker, a timeout per attempt inside, and
/// a foreign layer described by hand.
fn client_stack() -> StackDescription {
    let layers = ServiceBuilder::new()
        .layer(retry(3, ms(100)))
        .layer(breaker(50.0))
        .attempt_timeout(CancelLayer::builder().timeout(secs(2)).build().unwrap())
        .into_inner();
    StackDescription::of(&layers).other("tower timeout", [("timeout", secs(5))])
}

#[test]
fn a_realistic_stack_reads_whole() {
    assert_eq!(
        client_stack().to_string(),
        "1. retry \"payments\": max_attempts 3, \
         backoff exponential (base 100ms, factor 2, max 10s, jitter full), max_hint 1m, \
         max_hint_wait_total 1m, budget ratio (ratio 20%, min_per_second 5, window 10s), \
         classify AnyError, clone_requests CloneAll\n\
         2. circuit-breaker \"payments\": failure_rate 50%, minimum_calls 20, \
         window count (size 50), half_open_max_calls 1, success_threshold 1, \
         half_open_rule first_failure, max_half_open 1m, open_backoff constant (delay 30s), \
         count_cancellations false, count_invalid true, classify AnyError\n\
         3. cancel: timeout 2s\n\
         4. tower timeout: timeout 5s\n"
    );
}

#[cfg(feature = "serde")]
#[test]
fn a_realistic_stack_serializes() {
    let json = serde_json::to_value(client_stack()).unwrap();
    let want = serde_json::json!([
        {
            "kind": "retry",
            "name": "payments",
            "settings": {
                "max_attempts": 3,
                "backoff": {
                    "kind": "exponential", "base": "100ms", "factor": 2.0, "max": "10s",
                    "jitter": "full"
                },
                "max_hint": "1m",
                "max_hint_wait_total": "1m",
                "budget": {
                    "kind": "ratio", "ratio": "20%", "min_per_second": 5, "window": "10s"
                },
                "classify": "AnyError",
                "clone_requests": "CloneAll"
            }
        },
        {
            "kind": "circuit-breaker",
            "name": "payments",
            "settings": {
                "failure_rate": "50%",
                "minimum_calls": 20,
                "window": { "kind": "count", "size": 50 },
                "half_open_max_calls": 1,
                "success_threshold": 1,
                "half_open_rule": "first_failure",
                "max_half_open": "1m",
                "open_backoff": { "kind": "constant", "delay": "30s" },
                "count_cancellations": false,
                "count_invalid": true,
                "classify": "AnyError"
            }
        },
        { "kind": "cancel", "settings": { "timeout": "2s" } },
        { "kind": "tower timeout", "settings": { "timeout": "5s" } }
    ]);
    assert_eq!(json, want);
    // The settings keep their order in the text.
    let text = serde_json::to_string(&client_stack()).unwrap();
    let order = [
        "\"max_attempts\"",
        "\"backoff\"",
        "\"max_hint\"",
        "\"budget\"",
    ];
    let at: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
}

/// The JSON example of the `describe` module's documentation.
#[cfg(feature = "serde")]
#[test]
fn the_documented_json_is_what_serializes() {
    let layers = ServiceBuilder::new()
        .layer(RetryLayer::new(
            RetryPolicy::builder()
                .name("payments")
                .max_attempts(3)
                .backoff(Backoff::exponential(ms(100)).max(secs(2)))
                .build()
                .unwrap(),
        ))
        .layer(CancelLayer::builder().timeout(secs(1)).build().unwrap())
        .into_inner();
    let description = layers
        .description()
        .other("tower timeout", [("timeout", secs(5))]);
    let json = serde_json::to_value(&description).unwrap();
    let want = serde_json::json!([
      {
        "kind": "retry",
        "name": "payments",
        "settings": {
          "max_attempts": 3,
          "backoff": { "kind": "exponential", "base": "100ms", "factor": 2.0, "max": "2s" },
          "max_hint": "1m",
          "max_hint_wait_total": "1m",
          "classify": "AnyError",
          "clone_requests": "CloneAll"
        }
      },
      { "kind": "cancel", "settings": { "timeout": "1s" } },
      { "kind": "tower timeout", "settings": { "timeout": "5s" } }
    ]);
    assert_eq!(json, want);
}

/// A deadline is described by the time left before it, read when the description is made.
#[tokio::test(start_paused = true)]
async fn deadlines_read_as_the_time_left() {
    let at = tokio::time::Instant::now() + secs(30);
    let cancel = CancelLayer::builder().deadline(at).build().unwrap();
    let retry = RetryLayer::new(RetryPolicy::builder().deadline(at).build().unwrap());
    assert_eq!(one(&cancel).to_string(), "cancel: deadline in 30s");
    assert_eq!(one(&retry).get("deadline"), Some(&Value::text("in 30s")));
    tokio::time::advance(ms(29_500)).await;
    assert_eq!(one(&cancel).to_string(), "cancel: deadline in 500ms");
    tokio::time::advance(secs(1)).await;
    assert_eq!(one(&retry).get("deadline"), Some(&Value::text("passed")));
}
