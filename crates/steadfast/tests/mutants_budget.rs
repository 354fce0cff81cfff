//! Tests that catch mutants of the retry budgets (see "Mutation testing" in
//! docs/reliability.md): the edges of the settings each budget accepts.

#![cfg(feature = "retry")]

use std::time::Duration;

use steadfast::retry::{RatioBudget, RetryBudget, TokenBucket};

fn with_window(window: Duration) -> Result<RatioBudget, steadfast::ConfigError> {
    RatioBudget::builder().window(window).build()
}

#[test]
fn a_window_from_ten_milliseconds_to_one_day_is_accepted() {
    for window in [Duration::from_millis(10), Duration::from_secs(86_400)] {
        assert!(with_window(window).is_ok(), "{window:?}");
    }
    for window in [
        Duration::from_millis(9),
        Duration::from_secs(86_401),
        Duration::from_secs(2 * 86_400),
    ] {
        assert_eq!(
            with_window(window).unwrap_err().field(),
            "window",
            "{window:?}"
        );
    }
}

#[test]
fn a_retry_may_cost_the_whole_bucket() {
    let b = TokenBucket::builder()
        .capacity(5)
        .retry_cost(5)
        .build()
        .unwrap();
    assert!(b.withdraw());
    assert!(!b.withdraw());
    let e = TokenBucket::builder()
        .capacity(5)
        .retry_cost(6)
        .build()
        .unwrap_err();
    assert_eq!(e.field(), "retry_cost");
}
