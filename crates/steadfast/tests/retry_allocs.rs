//! Heap allocations made by the retry layer for one request, counted by a global allocator
//! that is local to this test binary.
//!
//! Only allocations made on the test's own thread are counted, so the test harness and other
//! tests running in parallel do not disturb the figures.

#![cfg(feature = "retry")]

use std::error::Error as StdError;
use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use steadfast::retry::{Backoff, RetryError, RetryLayer, RetryPolicy};
use tower::{Layer, Service};

use steadfast_test::alloc::{allocations_in as allocations, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// An error that allocates nothing, not even when boxed (it has no size).
#[derive(Debug, Clone, Copy)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused")
    }
}

impl StdError for Refused {}

/// Fails a call at once with the error `make` gives when its flag is raised (and lowers the
/// flag), succeeds otherwise.
struct Flaky<E> {
    fail_next: Arc<AtomicBool>,
    make: fn() -> E,
}

// By hand: a derived `Clone` would ask `E: Clone`.
impl<E> Clone for Flaky<E> {
    fn clone(&self) -> Self {
        Flaky {
            fail_next: self.fail_next.clone(),
            make: self.make,
        }
    }
}

impl<E> Flaky<E> {
    fn new(make: fn() -> E) -> Self {
        Flaky {
            fail_next: Arc::new(AtomicBool::new(true)),
            make,
        }
    }

    fn always_ok(make: fn() -> E) -> Self {
        Flaky {
            fail_next: Arc::new(AtomicBool::new(false)),
            make,
        }
    }
}

impl<E> Service<u64> for Flaky<E> {
    type Response = u64;
    type Error = E;
    type Future = Ready<Result<u64, E>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        // Only the first call after the flag is raised fails.
        if self.fail_next.swap(false, Ordering::Relaxed) {
            ready(Err((self.make)()))
        } else {
            ready(Ok(req + 1))
        }
    }
}

fn zero_delay() -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .build()
        .unwrap()
}

/// Polls the call's future once, by hand: with no delay and no token to watch, the retry
/// must not wait for anything (no timer, no runtime).
fn call_once<S: Service<u64>>(svc: &mut S, req: u64) -> Result<S::Response, S::Error> {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a zero-delay retry must not wait"),
    }
}

/// Runs `one` (one request) many times, after a warm-up (lazily initialised statics, `tracing`
/// call sites), and returns the allocations per request.
fn per_request(mut one: impl FnMut()) -> u64 {
    const WARM_UP: u64 = 16;
    const REQUESTS: u64 = 64;
    for _ in 0..WARM_UP {
        one();
    }
    let total = allocations(|| {
        for _ in 0..REQUESTS {
            one();
        }
    });
    assert_eq!(
        total % REQUESTS,
        0,
        "{total} allocations over {REQUESTS} requests"
    );
    total / REQUESTS
}

/// A service that fails the first attempt of every request and answers its retry.
fn flaky_per_request<E>(
    make: fn() -> E,
) -> impl Service<u64, Response = u64, Error = steadfast::BoxError>
where
    E: Into<steadfast::BoxError>,
{
    let inner = Flaky::new(make);
    let flag = inner.fail_next.clone();
    let svc = RetryLayer::new(zero_delay()).layer(inner);
    Rearm { svc, flag }
}

/// Re-arms the failure before each request, so that every request fails once.
struct Rearm<S> {
    svc: S,
    flag: Arc<AtomicBool>,
}

impl<S: Service<u64>> Service<u64> for Rearm<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.svc.poll_ready(cx)
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.flag.store(true, Ordering::Relaxed);
        self.svc.call(req)
    }
}

#[test]
fn a_successful_retry_of_a_zero_sized_error_allocates_once() {
    // The one allocation is the record of the failed attempt, made when it fails. No timer,
    // no waiting state, no history deque, no message.
    let mut svc = flaky_per_request(|| Refused);
    let n = per_request(|| assert_eq!(call_once(&mut svc, 7).unwrap(), 8));
    assert_eq!(n, 1, "allocations per request, one failure and one retry");
}

#[test]
fn a_successful_retry_boxes_the_failed_error_once_and_formats_nothing() {
    // A bare-kind `io::Error` does not allocate; turning it into a `BoxError` does, once:
    // that box is what lets the layer recognise steadfast's own errors in it. Besides it,
    // only the failed attempt's record is allocated.
    let mut svc = flaky_per_request(|| std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    let n = per_request(|| assert_eq!(call_once(&mut svc, 7).unwrap(), 8));
    assert_eq!(n, 2, "allocations per request, one failure and one retry");
}

#[test]
fn a_request_waiting_for_its_retry_holds_one_box() {
    // The failed attempt's record and the timer share one box: a request dropped while it
    // waits has allocated that box and nothing else (its error has no size).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::constant(std::time::Duration::from_secs(10)))
        .build()
        .unwrap();
    let inner = Flaky::new(|| Refused);
    let flag = inner.fail_next.clone();
    let mut svc = RetryLayer::new(policy).layer(inner);
    let n = per_request(|| {
        flag.store(true, Ordering::Relaxed);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        let fut = pin!(svc.call(7));
        assert!(fut.poll(&mut cx).is_pending(), "waiting for the retry");
    });
    assert_eq!(n, 1, "allocations per request dropped while it waits");
}

#[test]
fn the_success_path_allocates_nothing() {
    let mut svc = RetryLayer::new(zero_delay()).layer(Flaky::always_ok(|| Refused));
    let size = {
        let mut s = svc.clone();
        std::mem::size_of_val(&s.call(7))
    };
    println!("retry response future: {size} bytes");
    let n = per_request(|| assert_eq!(call_once(&mut svc, 7).unwrap(), 8));
    assert_eq!(n, 0, "allocations per request on the success path");
}

#[test]
fn attempts_running_out_still_report_every_error() {
    // The errors kept unformatted on the way are all in the final history.
    let mut svc =
        RetryLayer::new(zero_delay()).layer(AlwaysFail(|| std::io::Error::other("reset")));
    let err = call_once(&mut svc, 7).unwrap_err();
    let err = err.downcast_ref::<RetryError>().expect("a RetryError");
    assert_eq!(err.attempts(), 3);
    let messages: Vec<_> = err
        .history()
        .map(|r| (r.number, r.error.clone(), r.delay_after))
        .collect();
    let z = Some(std::time::Duration::ZERO);
    assert_eq!(
        messages,
        [
            (1, Some("reset".to_string()), z),
            (2, Some("reset".to_string()), z),
            (3, Some("reset".to_string()), None),
        ]
    );
    assert_eq!(err.errors().count(), 3);
}

/// Fails every call with the error its function makes.
struct AlwaysFail<E>(fn() -> E);

impl<E> Clone for AlwaysFail<E> {
    fn clone(&self) -> Self {
        AlwaysFail(self.0)
    }
}

impl<E> Service<u64> for AlwaysFail<E> {
    type Response = u64;
    type Error = E;
    type Future = Ready<Result<u64, E>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u64) -> Self::Future {
        ready(Err((self.0)()))
    }
}
