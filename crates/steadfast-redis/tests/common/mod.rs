//! What the Redis tests share: a fleet on a test server, a local breaker that never trips on
//! its own, and a real-time wait for a condition.

// Each test file uses only part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use steadfast::circuit_breaker::CircuitBreaker;
use steadfast_redis::Fleet;
use steadfast_test::redis::RedisServer;

/// The sync interval the tests' fleets use.
pub(crate) const SYNC: Duration = Duration::from_millis(50);

/// A fleet on `server` under `namespace`, syncing every [`SYNC`], giving Redis 100 ms.
pub(crate) fn fleet(server: &RedisServer, namespace: &str) -> Fleet {
    Fleet::builder(server.url())
        .namespace(namespace)
        .sync_interval(SYNC)
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap()
}

/// A local breaker named "backend" that never trips on its own within these tests (minimum
/// 100 calls, one half-open probe).
pub(crate) fn local_breaker() -> CircuitBreaker {
    CircuitBreaker::builder()
        .name("backend")
        .minimum_calls(100)
        .half_open_max_calls(1)
        .build()
        .unwrap()
}

/// Polls `cond` every 5 ms for up to `limit` of real time; whether it became true.
pub(crate) async fn within(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}
