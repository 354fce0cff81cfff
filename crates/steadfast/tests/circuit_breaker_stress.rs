//! The circuit breaker under real concurrency: exact counts, and never more half-open permits
//! than allowed.

#![cfg(feature = "circuit-breaker")]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerLayer, CircuitState, Rejected,
};
use steadfast_test::{Reply, Scripted};
use tower::{Layer, Service, ServiceExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_concurrent_calls_get_at_most_n_half_open_permits() {
    const PROBES: u32 = 3;
    const TASKS: usize = 4_000;
    let half_open_permits = Arc::new(AtomicU64::new(0));
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .half_open_max_calls(PROBES)
        .success_threshold(PROBES)
        .on_event({
            let permits = half_open_permits.clone();
            move |e| {
                if let BreakerEvent::CallPermitted {
                    state: CircuitState::HalfOpen,
                    ..
                } = e
                {
                    permits.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .build()
        .unwrap();
    // Open for an instant, so the first call moves it to half-open.
    breaker.isolate(Duration::ZERO);
    let svc = Scripted::<u32>::new([]).then_always(Reply::ok(1).after(Duration::from_micros(200)));
    let layered = CircuitBreakerLayer::new(breaker.clone()).layer(svc.clone());

    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let s = layered.clone();
            tokio::spawn(async move { s.oneshot(()).await })
        })
        .collect();
    let (mut ok, mut rejected) = (0u64, 0u64);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) if e.is::<Rejected>() => rejected += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    // Every probe succeeds, so the one half-open period hands out exactly its permits, and
    // the last of them closes the breaker.
    assert_eq!(half_open_permits.load(Ordering::Relaxed), u64::from(PROBES));
    assert_eq!(ok + rejected, TASKS as u64);
    assert_eq!(svc.calls() as u64, ok);
    let m = breaker.metrics();
    assert_eq!(m.state, CircuitState::Closed);
    assert_eq!(m.successes, ok);
    assert_eq!(m.rejections, rejected);
    assert!(ok >= u64::from(PROBES));
}

/// A service that answers at once, failing every third call.
#[derive(Clone)]
struct EveryThird(Arc<AtomicU64>);

impl Service<()> for EveryThird {
    type Response = ();
    type Error = &'static str;
    type Future = std::future::Ready<Result<(), &'static str>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: ()) -> Self::Future {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        std::future::ready(if n % 3 == 2 { Err("third") } else { Ok(()) })
    }
}

#[test]
fn closed_path_counts_are_exact_across_threads() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 25_000;
    let breaker = CircuitBreaker::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    // Record everything, never trip: counts must add up exactly.
    breaker.metrics_only();
    let layered = CircuitBreakerLayer::new(breaker.clone()).layer(EveryThird(Arc::default()));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let mut svc = layered.clone();
            std::thread::spawn(move || {
                let mut cx = Context::from_waker(Waker::noop());
                let (mut ok, mut err) = (0u64, 0u64);
                for _ in 0..CALLS {
                    assert!(svc.poll_ready(&mut cx).is_ready());
                    let mut fut = std::pin::pin!(svc.call(()));
                    match fut.as_mut().poll(&mut cx) {
                        Poll::Ready(Ok(())) => ok += 1,
                        Poll::Ready(Err(_)) => err += 1,
                        Poll::Pending => panic!("ready service returned pending"),
                    }
                }
                (ok, err)
            })
        })
        .collect();
    let (ok, err) = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    assert_eq!(ok + err, THREADS * CALLS);
    let m = breaker.metrics();
    assert_eq!(m.successes, ok);
    assert_eq!(m.failures, err);
    assert_eq!(m.window_calls, 100);
    assert_eq!(m.state, CircuitState::MetricsOnly);
}

/// A breaker held by value counts its references per thread. Clones made on one thread and
/// dropped on another, services moved to worker threads, and futures that finish on another
/// worker than the one that started them must all keep it alive, and it must be freed once
/// every clone is gone and every thread that used it has ended.
#[test]
fn a_breaker_lives_while_used_on_any_thread_and_is_freed_after() {
    let alive = Arc::new(());
    let witness = alive.clone();
    let owner = std::thread::spawn(move || {
        let breaker = CircuitBreaker::builder()
            .name("freed")
            .on_event(move |_| {
                let _ = &witness;
            })
            .build()
            .unwrap();
        let svc =
            Scripted::<u32>::new([]).then_always(Reply::ok(1).after(Duration::from_micros(50)));
        let layered = CircuitBreakerLayer::new(breaker.clone()).layer(svc.clone());
        // Each clone is made here, moved to a worker, used and dropped there.
        let (ok, rt) = steadfast_test::spawn_calls(&layered, 2_000, 4, || ());
        assert_eq!(ok, 2_000);
        assert_eq!(breaker.metrics().successes, 2_000);
        drop((layered, breaker));
        // The workers end here, and their slots with them.
        drop(rt);
        svc.calls()
    });
    assert_eq!(owner.join().unwrap(), 2_000);
    // The owner thread has ended too: nothing holds the breaker (and its listener) any more.
    assert_eq!(Arc::strong_count(&alive), 1, "the breaker was not freed");
}
