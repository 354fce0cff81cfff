//! The retry layer's shared settings on many threads: a policy held by value counts its
//! references per thread, so copies taken and dropped on different threads must keep it
//! alive, and it must be freed once every copy is gone.

#![cfg(feature = "retry")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::retry::{Backoff, RetryEvent, RetryLayer, RetryMetrics, RetryPolicy};
use steadfast_test::{Reply, Scripted};
use tower::Layer;

/// Services moved to worker threads, and response futures that finish on another worker than
/// the one that started them, must all keep the policy's settings alive, and the settings
/// (with the listener that holds the witness) must be freed once every copy is gone and every
/// thread that used them has ended.
#[test]
fn a_policy_lives_while_used_on_any_thread_and_is_freed_after() {
    let alive = Arc::new(());
    let witness = alive.clone();
    let retries = Arc::new(AtomicU64::new(0));
    let seen = retries.clone();
    let metrics = Arc::new(RetryMetrics::default());
    let owner = std::thread::spawn({
        let metrics = metrics.clone();
        move || {
            let policy = RetryPolicy::builder()
                .max_attempts(2)
                .backoff(Backoff::none())
                .metrics(metrics)
                .on_event(move |event| {
                    let _ = &witness;
                    if matches!(event, RetryEvent::Retry { .. }) {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .build()
                .unwrap();
            // The first calls fail at once (and are retried); the others answer after a short
            // wait, so that their futures are pending and may be resumed by another worker.
            let svc = Scripted::<u32>::new((0..200).map(|_| Reply::err("busy")))
                .then_always(Reply::ok(1).after(Duration::from_micros(50)));
            let layered = RetryLayer::new(policy.clone()).layer(svc.clone());
            // Each clone is made here, moved to a worker, used and dropped there.
            let (answered, rt) = steadfast_test::spawn_calls(&layered, 2_000, 4, || ());
            drop((layered, policy));
            // The workers end here, and their counts with them.
            drop(rt);
            (answered, svc.calls())
        }
    });
    let (answered, calls) = owner.join().unwrap();
    let retried = retries.load(Ordering::Relaxed);
    assert!(retried > 0, "some requests were retried");
    assert_eq!(
        calls as u64,
        2_000 + retried,
        "every attempt reached the service"
    );
    assert!(answered >= 2_000 - 200, "{answered} answered");
    assert_eq!(metrics.snapshot().requests, 2_000);
    // The owner thread has ended too: nothing holds the settings (and their listener).
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "the policy's settings were not freed"
    );
}
