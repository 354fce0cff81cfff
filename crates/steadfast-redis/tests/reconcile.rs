//! What an instance saw while Redis did not answer reaches the fleet when Redis answers again:
//! a breaker's outcomes (within the fleet's window), and the retries a budget's local budget
//! granted alone, taken from the fleet's balance. On a real `redis-server` on 127.0.0.1,
//! stopped and restarted, and the real clock: a paused clock would fire the Redis timeout
//! while the server is still answering.

// Real time on purpose: the paused clock cannot drive a Redis server.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use steadfast::circuit_breaker::CircuitBreakerLayer;
use steadfast::retry::{RetryBudget, TokenBucket};
use steadfast_redis::FleetBudget;
use steadfast_test::redis::RedisServer;
use tower::{service_fn, Layer, ServiceExt};

mod common;
use common::{fleet, local_breaker, within, SYNC};

/// Five failures recorded while Redis was down reach the fleet (which opens on five) once it
/// is back; the local breaker (minimum 100 calls) would not have opened on them.
#[tokio::test(flavor = "current_thread")]
async fn a_breakers_outcomes_during_an_outage_reach_the_fleet_after_it() {
    let mut server = RedisServer::start();
    let fleet = fleet(&server, "reconcile-breaker");
    let breaker = local_breaker();
    let shared = fleet
        .share_breaker(breaker.clone())
        .minimum_calls(5)
        .start()
        .unwrap();
    assert!(within(Duration::from_secs(2), || shared.stats().syncs > 0).await);

    server.stop();
    assert!(within(Duration::from_secs(2), || !fleet.status().online).await);
    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(service_fn(|_: ()| async {
        Err::<(), _>(std::io::Error::other("down"))
    }));
    for _ in 0..5 {
        let _ = svc.clone().oneshot(()).await;
    }
    // A few rounds fail while the failures wait.
    tokio::time::sleep(SYNC * 4).await;
    assert!(
        !breaker.state().rejects(),
        "the local breaker alone stays closed"
    );

    server.restart();
    assert!(
        within(Duration::from_secs(3), || breaker.state().rejects()).await,
        "the failures seen during the outage opened the fleet once Redis answered"
    );
}

/// Retries the local budget granted while Redis was down are taken from the fleet's balance
/// once it answers again (here a restarted, empty Redis: the balance starts full at 100).
#[tokio::test(flavor = "current_thread")]
async fn retries_granted_alone_are_taken_from_the_fleets_balance_afterwards() {
    let mut server = RedisServer::start();
    let fleet = fleet(&server, "reconcile-budget");
    let local = Arc::new(
        TokenBucket::builder()
            .capacity(100)
            .retry_cost(1)
            .build()
            .unwrap(),
    );
    let budget = fleet
        .share_budget("b", FleetBudget::token_bucket(100, 1, 0).lease(10), local)
        .unwrap();
    assert!(within(Duration::from_secs(2), || budget.is_shared()).await);
    assert_eq!(budget.lease(), 10);

    server.stop();
    assert!(within(Duration::from_secs(2), || !budget.is_shared()).await);
    for _ in 0..7 {
        assert!(budget.withdraw(), "the local budget decides");
    }
    server.restart();
    assert!(within(Duration::from_secs(3), || budget.is_shared()).await);
    // The lease (10) is still held, so nothing more was leased: 100 less the 7 granted alone.
    let level = server
        .command("GET steadfast:reconcile-budget:budget:b")
        .unwrap();
    assert!(
        level.contains("\r\n93000"),
        "the fleet's balance in thousandths: {level:?}"
    );
}

/// After an outage longer than the fleet's window, what the breaker saw during it is given up:
/// it would land in the window's newest bucket long after it happened.
#[tokio::test(flavor = "current_thread")]
async fn outcomes_older_than_the_window_are_given_up() {
    let mut server = RedisServer::start();
    let fleet = fleet(&server, "reconcile-window");
    let breaker = local_breaker();
    let shared = fleet
        .share_breaker(breaker.clone())
        .minimum_calls(5)
        .window(Duration::from_millis(300))
        .start()
        .unwrap();
    assert!(within(Duration::from_secs(2), || shared.stats().syncs > 0).await);

    server.stop();
    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(service_fn(|_: ()| async {
        Err::<(), _>(std::io::Error::other("down"))
    }));
    for _ in 0..5 {
        let _ = svc.clone().oneshot(()).await;
    }
    // Twice the window, with rounds failing all along.
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.restart();
    let syncs = shared.stats().syncs;
    assert!(within(Duration::from_secs(3), || shared.stats().syncs > syncs + 2).await);
    assert!(
        !breaker.state().rejects(),
        "failures older than the window did not open the fleet"
    );
}
