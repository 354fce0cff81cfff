//! How often a shared breaker and budget talk to Redis: operations per second per instance at
//! 1,000 and 10,000 requests a second (bounded by the sync cadence, not the request rate), and
//! `sync_every_calls`, which sends a batch early once enough outcomes wait. On a real
//! `redis-server` on 127.0.0.1 and the real clock: a paused clock would fire the Redis
//! timeout while the server is still answering. Run with `--nocapture` to see the figures.

// Real time on purpose: the paused clock cannot drive a Redis server.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use steadfast::circuit_breaker::CircuitBreakerLayer;
use steadfast::retry::{RatioBudget, RetryBudget, TokenBucket};
use steadfast_redis::{Fleet, FleetBudget};
use steadfast_test::redis::RedisServer;
use tower::{service_fn, Layer, ServiceExt};

mod common;
use common::{local_breaker, within, SYNC};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One instance (one shared breaker, one shared token-bucket budget) serving `rate` requests
/// a second for one second, each request a breaker call, a deposit and a success. Returns the
/// request rate reached and the Redis operations per second.
fn ops_at(server: &RedisServer, rate: u64, every: Option<u32>) -> (f64, f64) {
    runtime().block_on(async {
        let mut builder = Fleet::builder(server.url())
            .namespace(format!("ops-{rate}-{}", every.unwrap_or(0)))
            .sync_interval(SYNC);
        if let Some(n) = every {
            builder = builder.sync_every_calls(n);
        }
        let fleet = builder.build().unwrap();
        let shared = fleet
            .share_breaker(local_breaker())
            .minimum_calls(100)
            .start()
            .unwrap();
        let local = Arc::new(TokenBucket::builder().build().unwrap());
        let budget = fleet
            .share_budget("ops", FleetBudget::token_bucket(500, 5, 1), local)
            .unwrap();
        let svc = CircuitBreakerLayer::new(shared.breaker().clone())
            .layer(service_fn(|_: ()| async { Ok::<_, std::io::Error>(()) }));
        tokio::time::sleep(SYNC * 2).await;
        let before = fleet.status().operations;
        let t0 = Instant::now();
        let mut requests = 0u64;
        // Paced: whatever is due by now, then a millisecond's sleep.
        while t0.elapsed() < Duration::from_secs(1) {
            let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
            while requests < due {
                budget.deposit();
                svc.clone().oneshot(()).await.unwrap();
                budget.on_success(1);
                requests += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let secs = t0.elapsed().as_secs_f64();
        let ops = fleet.status().operations - before;
        assert_eq!(fleet.status().failed_operations, 0, "Redis answered");
        (requests as f64 / secs, ops as f64 / secs)
    })
}

/// Redis operations per instance follow the sync cadence, not the request rate.
#[test]
fn redis_operations_follow_the_cadence_not_the_request_rate() {
    let server = RedisServer::start();
    let (low_rate, low_ops) = ops_at(&server, 1_000, None);
    let (high_rate, high_ops) = ops_at(&server, 10_000, None);
    let (every_rate, every_ops) = ops_at(&server, 10_000, Some(200));
    println!(
        "redis operations per instance (one breaker and one budget, sync every {SYNC:?}): \
         {low_ops:.0}/s at {low_rate:.0} requests/s, {high_ops:.0}/s at {high_rate:.0} \
         requests/s; with sync_every_calls(200): {every_ops:.0}/s at {every_rate:.0} requests/s"
    );
    // Two objects, one script each per sync interval (and a subscription now and then).
    let cadence = 2.0 / SYNC.as_secs_f64();
    assert!(
        high_rate >= 9_000.0,
        "10,000 requests a second: {high_rate:.0}"
    );
    assert!(high_rate > low_rate * 5.0, "the request rate rose tenfold");
    assert!(high_ops <= cadence * 1.5, "{high_ops:.0} ops/s");
    assert!(
        (high_ops - low_ops).abs() <= cadence * 0.5,
        "{low_ops:.0} vs {high_ops:.0} ops/s"
    );
    // With a batch every 200 outcomes: at most one more round per 200 outcomes of each
    // object, on top of the cadence.
    let extra = 2.0 * every_rate / 200.0;
    assert!(
        every_ops <= (cadence + extra) * 1.5,
        "{every_ops:.0} ops/s with sync_every_calls"
    );
}

/// A ratio budget that fills by one retry per request: with `sync_every_calls(50)`, fifty
/// requests reach Redis (and come back as a lease) long before the 5 s interval ends; without
/// it, not before.
#[test]
fn a_budget_syncs_after_n_counts_without_waiting_for_the_interval() {
    let server = RedisServer::start();
    let leased_soon = |every: Option<u32>| -> bool {
        runtime().block_on(async {
            let mut builder = Fleet::builder(server.url())
                .namespace(format!("every-budget-{}", every.unwrap_or(0)))
                .sync_interval(Duration::from_secs(5));
            if let Some(n) = every {
                builder = builder.sync_every_calls(n);
            }
            let fleet = builder.build().unwrap();
            let local = Arc::new(RatioBudget::builder().build().unwrap());
            let budget = fleet
                .share_budget("b", FleetBudget::ratio(1.0, 1000), local)
                .unwrap();
            // The first round (at once): an empty balance, nothing leased.
            assert!(within(Duration::from_secs(2), || budget.is_shared()).await);
            assert_eq!(budget.lease(), 0);
            for _ in 0..50 {
                budget.deposit();
            }
            within(Duration::from_secs(1), || budget.lease() > 0).await
        })
    };
    assert!(
        leased_soon(Some(50)),
        "the 50th request woke the task: 50 retries leased"
    );
    assert!(
        !leased_soon(None),
        "without sync_every_calls, nothing before the interval ends"
    );
}

/// A shared breaker whose local breaker would not trip: with `sync_every_calls(5)`, five
/// failures reach the fleet (which opens on five) within a tenth of the 2 s interval, not at
/// its end.
#[test]
fn a_breaker_syncs_after_n_outcomes_without_waiting_for_the_interval() {
    let server = RedisServer::start();
    let opened_soon = |every: Option<u32>| -> bool {
        runtime().block_on(async {
            let mut builder = Fleet::builder(server.url())
                .namespace(format!("every-breaker-{}", every.unwrap_or(0)))
                .sync_interval(Duration::from_secs(2));
            if let Some(n) = every {
                builder = builder.sync_every_calls(n);
            }
            let fleet = builder.build().unwrap();
            let breaker = local_breaker();
            let shared = fleet
                .share_breaker(breaker.clone())
                .minimum_calls(5)
                .half_open_timeout(Duration::from_secs(4))
                .start()
                .unwrap();
            assert!(within(Duration::from_secs(2), || shared.stats().syncs > 0).await);
            let svc = CircuitBreakerLayer::new(breaker.clone()).layer(service_fn(|_: ()| async {
                Err::<(), _>(std::io::Error::other("down"))
            }));
            for _ in 0..5 {
                let _ = svc.clone().oneshot(()).await;
            }
            within(Duration::from_millis(800), || breaker.state().rejects()).await
        })
    };
    assert!(
        opened_soon(Some(5)),
        "the fleet saw five failures early and opened"
    );
    assert!(
        !opened_soon(None),
        "without sync_every_calls, the failures wait for the interval"
    );
}
