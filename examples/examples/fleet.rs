//! Three instances of a service share one circuit breaker through Redis.
//!
//! ```sh
//! reliability/redis.sh   # installs redis-server when it is missing
//! cargo run -p steadfast-examples --example fleet
//! ```
//!
//! The example starts its own `redis-server` on a free port of 127.0.0.1. Each instance has
//! its own local breaker, which alone would open only after 20 calls of its own; shared, the
//! fleet opens everywhere once the fleet's 20 calls fail, and one instance probes for all of
//! them. Exits non-zero if the fleet does not behave so.

// Real time on purpose: the paused clock cannot drive a Redis server.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, SlidingWindow};
use steadfast_redis::{Fleet, SharedBreaker};
use steadfast_test::redis::RedisServer;
use tower::{service_fn, Layer, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = RedisServer::start();
    let backend_calls = Arc::new(AtomicU32::new(0));
    let mut instances: Vec<SharedBreaker> = Vec::new();
    for _ in 0..3 {
        // One fleet handle (one Redis client) per instance, as three processes would have.
        let fleet = Fleet::builder(server.url())
            .namespace("example")
            .sync_interval(Duration::from_millis(50))
            // And as soon as ten outcomes wait, without waiting for the interval.
            .sync_every_calls(10)
            .build()
            .expect("valid settings");
        let local = CircuitBreaker::builder()
            .name("inventory")
            .failure_rate(50.0)
            .minimum_calls(20)
            .window(SlidingWindow::count(20))
            .half_open_max_calls(1)
            .build()
            .expect("valid settings");
        instances.push(
            fleet
                .share_breaker(local)
                .failure_rate(50.0)
                .minimum_calls(20)
                .open_for(Duration::from_millis(300))
                .probes(1)
                .start()
                .expect("valid settings"),
        );
    }
    tokio::time::sleep(Duration::from_millis(150)).await;

    let start = Instant::now();
    let mut all_open = None;
    while start.elapsed() < Duration::from_millis(1200) {
        for (i, shared) in instances.iter().enumerate() {
            let calls = backend_calls.clone();
            let svc = CircuitBreakerLayer::new(shared.breaker().clone()).layer(service_fn(
                move |_: ()| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    async { Err::<(), _>(std::io::Error::other("inventory is down")) }
                },
            ));
            let _ = svc.oneshot(()).await;
            if all_open.is_none() && instances.iter().all(|s| s.breaker().state().rejects()) {
                all_open = Some((start.elapsed(), backend_calls.load(Ordering::Relaxed)));
                println!(
                    "all three open after {:?}: {} calls reached the backend (instance {i} made \
                     the last)",
                    start.elapsed(),
                    backend_calls.load(Ordering::Relaxed)
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, before_open) = all_open.unwrap_or_else(|| {
        eprintln!("the fleet never opened on every instance");
        std::process::exit(1);
    });
    let probes = backend_calls.load(Ordering::Relaxed) - before_open;
    let permits: u64 = instances.iter().map(|s| s.stats().permits).sum();
    println!("afterwards: {probes} probes reached the backend, {permits} fleet permits granted");
    // Alone, each local breaker needs 20 failures of its own: 60 calls.
    if before_open >= 60 || u64::from(probes) > permits {
        eprintln!("the fleet did not act as one");
        std::process::exit(1);
    }
}
