//! Invalid settings are rejected when built, naming the field; none needs Redis.

use std::sync::Arc;
use std::time::Duration;

use steadfast::circuit_breaker::CircuitBreaker;
use steadfast::retry::TokenBucket;
use steadfast_redis::{Fleet, FleetBudget};

const URL: &str = "redis://127.0.0.1:1/0";

#[tokio::test]
async fn the_fleet_rejects_bad_settings() {
    let field = |b: steadfast_redis::FleetBuilder| b.build().unwrap_err().field();
    assert_eq!(field(Fleet::builder("not a url")), "url");
    assert_eq!(field(Fleet::builder(URL).namespace("a:b")), "namespace");
    assert_eq!(field(Fleet::builder(URL).namespace("")), "namespace");
    assert_eq!(
        field(Fleet::builder(URL).sync_interval(Duration::ZERO)),
        "sync_interval"
    );
    assert_eq!(
        field(Fleet::builder(URL).sync_every_calls(0)),
        "sync_every_calls"
    );
    assert_eq!(
        field(Fleet::builder(URL).sync_every_calls(1_000_000_001)),
        "sync_every_calls"
    );
    assert_eq!(
        field(Fleet::builder(URL).timeout(Duration::ZERO)),
        "timeout"
    );
    assert_eq!(
        field(Fleet::builder(URL).key_ttl(Duration::from_millis(500))),
        "key_ttl"
    );
    assert!(
        Fleet::builder(URL).build().is_ok(),
        "nothing connects at build"
    );
}

#[tokio::test]
async fn a_shared_breaker_rejects_bad_settings() {
    let fleet = Fleet::builder(URL).build().unwrap();
    let named = || CircuitBreaker::builder().name("b").build().unwrap();
    let field = |b: steadfast_redis::SharedBreakerBuilder| b.start().unwrap_err().field();
    assert_eq!(
        field(fleet.share_breaker(named()).failure_rate(0.0)),
        "failure_rate"
    );
    assert_eq!(
        field(fleet.share_breaker(named()).failure_rate(f64::NAN)),
        "failure_rate"
    );
    assert_eq!(
        field(fleet.share_breaker(named()).minimum_calls(0)),
        "minimum_calls"
    );
    assert_eq!(
        field(fleet.share_breaker(named()).window(Duration::ZERO)),
        "window"
    );
    assert_eq!(
        field(fleet.share_breaker(named()).open_for(Duration::ZERO)),
        "open_for"
    );
    assert_eq!(field(fleet.share_breaker(named()).probes(0)), "probes");
    assert_eq!(
        field(
            fleet
                .share_breaker(named())
                .half_open_timeout(Duration::from_millis(10))
        ),
        "half_open_timeout"
    );
    let unnamed = CircuitBreaker::builder().name("").build().unwrap();
    assert_eq!(field(fleet.share_breaker(unnamed)), "name");
}

#[tokio::test]
async fn a_shared_budget_rejects_bad_settings() {
    let fleet = Fleet::builder(URL).build().unwrap();
    let local = || Arc::new(TokenBucket::builder().build().unwrap());
    let field = |name: &str, rules: FleetBudget| {
        fleet
            .share_budget(name, rules, local())
            .unwrap_err()
            .field()
    };
    assert_eq!(
        field("b", FleetBudget::token_bucket(10, 0, 1)),
        "retry_cost"
    );
    assert_eq!(field("b", FleetBudget::ratio(-1.0, 10)), "ratio");
    assert_eq!(field("b", FleetBudget::ratio(f64::INFINITY, 10)), "ratio");
    assert_eq!(field("b", FleetBudget::ratio(0.1, 0)), "capacity");
    assert_eq!(field("", FleetBudget::ratio(0.1, 10)), "name");
}

#[test]
fn outside_a_runtime_is_an_error_not_a_panic() {
    assert_eq!(Fleet::builder(URL).build().unwrap_err().field(), "runtime");
}
