//! Per-key circuit breakers: open circuits are never forgotten, a table full of them refuses
//! new keys with a typed error, idle breakers go as (paused) time passes, room is made by
//! dropping breakers not used lately, and settings are checked when the set is built.

#![cfg(feature = "circuit-breaker")]
use std::time::Duration;

use steadfast::circuit_breaker::{
    CircuitBreaker, CircuitState, KeyTableFull, KeyedBreakers, KeyedCircuitBreakerLayer,
    KeyedError, SlidingWindow,
};
use steadfast::BoxError;
use tower::{Layer, Service, ServiceExt};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Breakers that trip on one failure and stay open `open_for`; a small window keeps them
/// cheap to make by the thousand.
fn tripping(open_for: Duration) -> impl Fn() -> steadfast::circuit_breaker::CircuitBreakerBuilder {
    move || {
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .no_failure_rate()
            .window(SlidingWindow::count(1))
            .minimum_calls(1)
            .open_for(open_for)
    }
}

/// A service over key numbers: key 1 and key 2 always fail, the others succeed.
fn guarded(
    per_key: &KeyedBreakers<u32>,
) -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone {
    let svc = tower::service_fn(|k: u32| async move {
        if k == 1 || k == 2 {
            Err::<u32, _>(std::io::Error::other("down"))
        } else {
            Ok(k)
        }
    });
    KeyedCircuitBreakerLayer::new(per_key.clone(), |k: &u32| *k).layer(svc)
}

#[tokio::test(start_paused = true)]
async fn open_breakers_are_never_evicted_for_new_keys() {
    let per_key = KeyedBreakers::builder(tripping(secs(120)))
        .max_keys(3)
        .idle_timeout(secs(60))
        .build()
        .unwrap();
    let s = guarded(&per_key);
    assert!(s.clone().oneshot(1).await.is_err(), "key 1 fails and trips");
    assert_eq!(per_key.peek(&1).unwrap().state(), CircuitState::Open);

    // A flood of new keys, long enough for key 1 to be idle, but not past its open time.
    for k in 10..1_000 {
        if k == 500 {
            tokio::time::advance(secs(90)).await;
        }
        assert_eq!(s.clone().oneshot(k).await.unwrap(), k);
        assert!(per_key.len() <= 3);
        let one = per_key.peek(&1).expect("the open breaker of key 1 is kept");
        assert_eq!(one.state(), CircuitState::Open);
    }
    // The next call for key 1 is still rejected: its circuit was not forgotten.
    let err = s.clone().oneshot(1).await.unwrap_err();
    assert!(err.is::<steadfast::circuit_breaker::Rejected>(), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_table_full_of_open_circuits_refuses_new_keys() {
    let per_key = KeyedBreakers::builder(tripping(secs(30)))
        .max_keys(2)
        .idle_timeout(secs(60))
        .build()
        .unwrap();
    let s = guarded(&per_key);
    assert!(s.clone().oneshot(1).await.is_err());
    assert!(s.clone().oneshot(2).await.is_err());

    // Both slots hold open circuits: a new key's call fails, typed, without being sent.
    let err = s.clone().oneshot(3).await.unwrap_err();
    let full = err
        .downcast_ref::<KeyTableFull>()
        .unwrap_or_else(|| panic!("not a KeyTableFull: {err}"));
    assert_eq!(full.slots(), 2);
    assert!(
        err.to_string().contains("key table full of open circuits"),
        "{err}"
    );
    match per_key.get(&3) {
        Err(KeyedError::Full(e)) => assert_eq!(e.slots(), 2),
        other => panic!("expected a full table, got {other:?}"),
    }
    assert_eq!(per_key.len(), 2);
    assert!(per_key.peek(&3).is_none());
    assert_eq!(per_key.peek(&1).unwrap().state(), CircuitState::Open);

    // Open time over, but the breakers are not idle yet: still kept, still refused.
    tokio::time::advance(secs(31)).await;
    assert!(s.clone().oneshot(3).await.unwrap_err().is::<KeyTableFull>());
    assert_eq!(per_key.peek(&2).unwrap().state(), CircuitState::Open);

    // Idle too: they may go, and the new key gets a breaker.
    tokio::time::advance(secs(30)).await;
    assert_eq!(s.clone().oneshot(3).await.unwrap(), 3);
    assert!(per_key.len() <= 2);
}

#[tokio::test(start_paused = true)]
async fn forced_open_breakers_are_kept_however_idle() {
    let per_key = KeyedBreakers::builder(tripping(secs(30)))
        .max_keys(1)
        .idle_timeout(secs(60))
        .build()
        .unwrap();
    per_key.get(&1).unwrap().force_open();
    tokio::time::advance(secs(3_600)).await;
    assert_eq!(per_key.evict_idle(), 0);
    assert!(matches!(per_key.get(&2), Err(KeyedError::Full(_))));
    assert_eq!(per_key.peek(&1).unwrap().state(), CircuitState::ForcedOpen);

    // Closed by hand, it is an idle closed breaker like any other.
    per_key.peek(&1).unwrap().reset();
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(per_key.get(&2).is_ok());
    assert!(per_key.peek(&1).is_none());
}

#[tokio::test(start_paused = true)]
async fn idle_breakers_go_as_time_passes_without_evict_idle() {
    let per_key = KeyedBreakers::builder(tripping(secs(30)))
        .max_keys(100_000)
        .idle_timeout(secs(60))
        .build()
        .unwrap();
    for k in 0..20_000 {
        per_key.get(&k).unwrap();
    }
    assert_eq!(per_key.len(), 20_000);

    // Only key 7 stays in use; every other key goes idle. The calls for key 7 sweep the set
    // as time passes, a slice at a time: all of it every half idle timeout.
    let mut waited = Duration::ZERO;
    while per_key.len() > 1 {
        assert!(
            waited <= secs(60 + 30 + 2),
            "{} breakers left after {waited:?}",
            per_key.len()
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
        per_key.get(&7).unwrap();
    }
    assert!(per_key.peek(&7).is_some());
    assert_eq!(per_key.evict_idle(), 0);
}

#[tokio::test(start_paused = true)]
async fn new_keys_drop_breakers_not_used_lately_first() {
    let per_key = KeyedBreakers::builder(tripping(secs(30)))
        .max_keys(4)
        .idle_timeout(secs(600))
        .build()
        .unwrap();
    for k in 1..=4 {
        per_key.get(&k).unwrap();
    }
    // Keys 1 and 2 stay in use while one-off keys come and go.
    for k in 5..100 {
        tokio::time::advance(secs(1)).await;
        per_key.get(&1).unwrap();
        per_key.get(&2).unwrap();
        per_key.get(&k).unwrap();
        assert_eq!(per_key.len(), 4);
        assert!(per_key.peek(&1).is_some(), "key 1 kept");
        assert!(per_key.peek(&2).is_some(), "key 2 kept");
        assert!(per_key.peek(&k).is_some(), "key {k} admitted");
    }
    assert!(per_key.peek(&3).is_none() && per_key.peek(&4).is_none());
}

#[test]
fn settings_are_checked_when_built() {
    let field = |r: Result<KeyedBreakers<u32>, steadfast::ConfigError>| r.unwrap_err().field();
    assert_eq!(
        field(KeyedBreakers::builder(|| CircuitBreaker::builder().failure_rate(150.0)).build()),
        "failure_rate"
    );
    assert_eq!(
        field(
            KeyedBreakers::builder(|| CircuitBreaker::builder().minimum_calls(0))
                .max_keys(10)
                .build()
        ),
        "minimum_calls"
    );
    assert_eq!(
        field(
            KeyedBreakers::builder(CircuitBreaker::builder)
                .max_keys(0)
                .build()
        ),
        "max_keys"
    );
    assert_eq!(
        field(
            KeyedBreakers::builder(CircuitBreaker::builder)
                .idle_timeout(Duration::ZERO)
                .build()
        ),
        "idle_timeout"
    );
    // No bound is too large to build (the shard count is capped).
    let huge = KeyedBreakers::<u32>::builder(CircuitBreaker::builder)
        .max_keys(usize::MAX)
        .idle_timeout(Duration::MAX)
        .build()
        .unwrap();
    assert!(huge.get(&1).is_ok());
    let e = KeyedBreakers::<u32>::builder(CircuitBreaker::builder)
        .max_keys(0)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid keyed circuit breaker configuration: `max_keys` must be at least 1 (got 0)"
    );
}

#[test]
fn the_bound_holds_under_concurrent_new_keys() {
    let per_key = KeyedBreakers::builder(tripping(secs(30)))
        .max_keys(300)
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u32 {
            let per_key = &per_key;
            scope.spawn(move || {
                for i in 0..5_000u32 {
                    let key = if i % 3 == 0 { i % 50 } else { t * 100_000 + i };
                    per_key.get(&key).unwrap();
                    assert!(per_key.len() <= 300);
                }
            });
        }
    });
    assert!(per_key.len() <= 300);
}

#[test]
fn the_set_and_its_errors_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<KeyedBreakers<String>>();
    shared::<KeyedError>();
    shared::<KeyTableFull>();
}
