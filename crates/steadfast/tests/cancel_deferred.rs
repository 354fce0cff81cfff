//! The cancel layer on request types that cannot carry a token (`u64` here): nothing outside
//! the response future can see the token, so it is made (with its deadline and timer) only
//! when the answer is not ready at once. Checked on tokio's paused clock, with a counting
//! allocator to see whether a token was made.

#![cfg(all(feature = "cancel", feature = "http"))]

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast::cancel::operations::Operations;
use steadfast::cancel::{CancelLayer, Cancelled, Shutdown};
use steadfast::token::{CancelReason, CancelToken, HasCancelToken};
use steadfast::BoxError;
use steadfast_test::alloc::{allocations_in, CountingAllocator};
use steadfast_test::{Reply, Scripted};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A cancel layer whose only source is a timeout of `n` seconds.
fn timeout_layer(n: u64) -> CancelLayer {
    CancelLayer::builder().timeout(secs(n)).build().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn cancelled(err: &BoxError) -> &CancelReason {
    err.downcast_ref::<Cancelled>()
        .unwrap_or_else(|| panic!("expected Cancelled, got {err:?}"))
        .reason()
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(std::task::Waker::noop()))
}

/// Answers every request at once.
fn instant(
) -> impl Service<u64, Response = u64, Error = std::io::Error, Future = impl Future> + Clone {
    service_fn(|n: u64| std::future::ready(Ok::<_, std::io::Error>(n + 1)))
}

/// Makes `calls` calls through `svc`, each answered at once, and returns the allocations
/// they made (after one call to warm up).
fn allocations_per_calls<S>(svc: &mut S, calls: u64) -> u64
where
    S: Service<u64, Response = u64, Error = BoxError>,
{
    let mut one = |i: u64| {
        assert!(matches!(poll_once(pin!(svc.ready())), Poll::Ready(Ok(_))));
        match poll_once(pin!(svc.call(i))) {
            Poll::Ready(Ok(n)) => assert_eq!(n, i + 1),
            other => panic!("answered at once, got {other:?}"),
        }
    };
    one(0);
    allocations_in(|| (1..=calls).for_each(&mut one))
}

#[tokio::test(start_paused = true)]
async fn a_request_answered_at_once_makes_no_token() {
    let shutdown = Shutdown::new(secs(5));
    let (_maintenance, rx) = tokio::sync::watch::channel(false);
    let layers = [
        ("no source", CancelLayer::new()),
        ("timeout", timeout_layer(30)),
        (
            "deadline",
            CancelLayer::builder()
                .deadline(Instant::now() + secs(30))
                .build()
                .unwrap(),
        ),
        (
            "parent and timeout",
            CancelLayer::builder()
                .parent(CancelToken::new())
                .timeout(secs(30))
                .build()
                .unwrap(),
        ),
        (
            "shutdown",
            CancelLayer::builder().shutdown(&shutdown).build().unwrap(),
        ),
        (
            "condition",
            CancelLayer::builder().cancel_when(rx).build().unwrap(),
        ),
    ];
    for (name, layer) in layers {
        let mut svc = layer.layer(instant());
        assert_eq!(allocations_per_calls(&mut svc, 100), 0, "{name}");
    }

    // The counter does see a token being made: an answer that is not ready at once needs
    // one (and a timer)...
    let mut slow = timeout_layer(30).layer(service_fn(|n: u64| async move {
        tokio::task::yield_now().await;
        Ok::<_, std::io::Error>(n)
    }));
    let mut fut = Box::pin(slow.call(1));
    assert!(allocations_in(|| assert!(poll_once(fut.as_mut()).is_pending())) > 0);
    drop(fut);
    // ...and so does a request that carries its token to the inner service.
    let mut http = timeout_layer(30).layer(service_fn(|r: http::Request<()>| {
        std::future::ready(Ok::<_, std::io::Error>(r.cancel_token().is_some()))
    }));
    let made = allocations_in(|| {
        let fut = pin!(http.call(http::Request::new(())));
        assert!(matches!(poll_once(fut), Poll::Ready(Ok(true))));
    });
    assert!(made > 0);
}

#[tokio::test(start_paused = true)]
async fn the_timeout_counts_from_the_first_poll_that_finds_no_answer() {
    let inner = Scripted::<u64, u64>::new([]).then_always(Reply::ok(7).after(secs(10)));
    let mut svc = timeout_layer(2).layer(inner.clone());
    let fut = svc.call(1);
    // The future waits five seconds before anyone polls it: the timeout has not started.
    tokio::time::advance(secs(5)).await;
    let start = Instant::now();
    let err = fut.await.unwrap_err();
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(cancelled(&err), &CancelReason::Timeout(secs(2)));
    assert_eq!(inner.calls(), 1);

    // An absolute deadline stays absolute, and the earlier limit wins.
    let t0 = Instant::now();
    let svc = CancelLayer::builder()
        .deadline(t0 + secs(3))
        .timeout(secs(60))
        .build()
        .unwrap()
        .layer(inner.clone());
    let fut = svc.oneshot(2);
    tokio::time::advance(secs(1)).await;
    let err = fut.await.unwrap_err();
    assert_eq!(t0.elapsed(), secs(3));
    assert_eq!(cancelled(&err), &CancelReason::Deadline);

    // An answer in time passes through.
    let svc = timeout_layer(11).layer(inner);
    assert_eq!(svc.oneshot(3).await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn parent_drain_and_condition_still_refuse_without_calling_the_service() {
    let inner = Scripted::<u64, u64>::new([]).then_always(Reply::ok(1));

    let parent = CancelToken::new();
    let svc = CancelLayer::builder()
        .parent(parent.clone())
        .timeout(secs(30))
        .build()
        .unwrap()
        .layer(inner.clone());
    parent.cancel_with(CancelReason::Signal(15));
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Signal(15));

    let shutdown = Shutdown::new(secs(60));
    let svc = CancelLayer::builder()
        .shutdown(&shutdown)
        .build()
        .unwrap()
        .layer(inner.clone());
    shutdown.begin();
    assert!(!shutdown.is_stopped(), "draining, within the grace period");
    let err = svc.oneshot(2).await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Shutdown);

    let (maintenance, rx) = tokio::sync::watch::channel(false);
    let svc = CancelLayer::builder()
        .cancel_when(rx)
        .build()
        .unwrap()
        .layer(inner.clone());
    assert_eq!(svc.clone().oneshot(3).await.unwrap(), 1);
    maintenance.send(true).unwrap();
    tokio::task::yield_now().await;
    let err = svc.oneshot(4).await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Condition(None));

    assert_eq!(inner.requests(), [3], "refused requests are never sent");
}

#[tokio::test(start_paused = true)]
async fn parent_shutdown_and_condition_still_interrupt_deferred_requests() {
    let inner = Scripted::<u64, u64>::new([]).then_always(Reply::ok(1).after(secs(60)));

    // A parent that fires while the request waits.
    let parent = CancelToken::new();
    let svc = CancelLayer::builder()
        .parent(parent.clone())
        .timeout(secs(30))
        .build()
        .unwrap()
        .layer(inner.clone());
    let task = tokio::spawn(svc.clone().oneshot(1));
    tokio::time::sleep(secs(1)).await;
    let start = Instant::now();
    parent.cancel_with(CancelReason::Shutdown);
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Shutdown);
    assert_eq!(start.elapsed(), Duration::ZERO);

    // A parent that fired after the call but before the first poll.
    let parent = CancelToken::new();
    let mut svc = CancelLayer::builder()
        .parent(parent.clone())
        .build()
        .unwrap()
        .layer(inner.clone());
    let fut = svc.call(2);
    parent.cancel_with(CancelReason::manual("gone"));
    let err = fut.await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::manual("gone"));

    // A shutdown: in-flight work runs through the grace period, then is cancelled.
    let shutdown = Shutdown::new(secs(5));
    let svc = CancelLayer::builder()
        .shutdown(&shutdown)
        .build()
        .unwrap()
        .layer(inner.clone());
    let task = tokio::spawn(svc.oneshot(3));
    tokio::time::sleep(secs(1)).await;
    let start = Instant::now();
    shutdown.begin();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Shutdown);
    assert_eq!(start.elapsed(), secs(5));

    // A condition that starts holding.
    let (maintenance, rx) = tokio::sync::watch::channel(false);
    let svc = CancelLayer::builder()
        .cancel_when(rx)
        .build()
        .unwrap()
        .layer(inner.clone());
    let task = tokio::spawn(svc.oneshot(4));
    tokio::time::sleep(secs(1)).await;
    maintenance.send(true).unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Condition(None));
    assert_eq!(inner.calls(), 4);
}

/// A handler that records the token it was given, then takes `work` to answer.
fn http_handler(
    work: Duration,
    seen: Arc<Mutex<Option<CancelToken>>>,
) -> impl Service<
    http::Request<()>,
    Response = &'static str,
    Error = std::io::Error,
    Future = impl Future<Output = Result<&'static str, std::io::Error>> + Send,
> + Clone {
    service_fn(move |req: http::Request<()>| {
        let seen = seen.clone();
        async move {
            *seen.lock().unwrap() = req.cancel_token().cloned();
            tokio::time::sleep(work).await;
            Ok("done")
        }
    })
}

#[tokio::test(start_paused = true)]
async fn an_http_request_carries_its_token_and_its_timeout_counts_from_the_call() {
    let seen = Arc::new(Mutex::new(None));
    let mut svc = timeout_layer(2).layer(http_handler(secs(10), seen.clone()));
    let called = Instant::now();
    let fut = svc.call(http::Request::new(()));
    tokio::time::advance(secs(1)).await;
    let err = fut.await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Timeout(secs(2)));
    assert_eq!(called.elapsed(), secs(2));
    let token = seen
        .lock()
        .unwrap()
        .clone()
        .expect("the handler got a token");
    assert_eq!(token.deadline(), Some(called + secs(2)));
    assert_eq!(token.reason(), Some(CancelReason::Timeout(secs(2))));

    // A boxed request carries it too.
    let boxed = timeout_layer(2).layer(service_fn(|req: Box<http::Request<()>>| async move {
        Ok::<_, std::io::Error>(req.cancel_token().and_then(CancelToken::deadline))
    }));
    let now = Instant::now();
    let deadline = boxed
        .oneshot(Box::new(http::Request::new(())))
        .await
        .unwrap();
    assert_eq!(deadline, Some(now + secs(2)));
}

/// A request that arrives with its caller's token but has nowhere to put another.
#[derive(Clone, Debug)]
struct Job(CancelToken);

impl HasCancelToken for Job {
    fn cancel_token(&self) -> Option<&CancelToken> {
        Some(&self.0)
    }
}

#[tokio::test(start_paused = true)]
async fn a_callers_token_or_a_registry_still_gets_a_token_at_the_call() {
    // The caller's token reaches a request that cannot carry the layer's.
    let inner = Scripted::<u64, Job>::new([]).then_always(Reply::ok(1).after(secs(60)));
    let svc = timeout_layer(30).layer(inner);
    let caller = CancelToken::new();
    let task = tokio::spawn(svc.oneshot(Job(caller.clone())));
    tokio::time::sleep(secs(1)).await;
    caller.cancel_with(CancelReason::ClientDisconnected);
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::ClientDisconnected);

    // A registry lists the request from the call on, and can cancel it.
    let ops = Operations::new();
    let mut svc = CancelLayer::builder()
        .operations(&ops)
        .build()
        .unwrap()
        .layer(Scripted::<u64, u64>::new([]).then_always(Reply::ok(1).after(secs(60))));
    let fut = svc.call(5);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops.list()[0].name(), "request");
    let start = Instant::now();
    let task = tokio::spawn(fut);
    tokio::time::sleep(secs(1)).await;
    assert_eq!(ops.cancel_all(CancelReason::manual("admin")), 1);
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::manual("admin"));
    assert_eq!(start.elapsed(), secs(1));
    assert!(ops.is_empty());
}

/// A request type of its own with room for a token.
#[derive(Clone, Debug, Default)]
struct Task {
    token: Option<CancelToken>,
    /// Turns every token down, although it says it can carry one.
    refuses: bool,
}

impl HasCancelToken for Task {
    fn cancel_token(&self) -> Option<&CancelToken> {
        self.token.as_ref()
    }

    fn can_carry_cancel_token(&self) -> bool {
        true
    }

    fn set_cancel_token(&mut self, token: CancelToken) -> Result<(), CancelToken> {
        if self.refuses {
            return Err(token);
        }
        self.token = Some(token);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_type_that_can_carry_a_token_gets_it_at_the_call() {
    let inner = Scripted::<u64, Task>::new([]).then_always(Reply::ok(1).after(secs(10)));
    let mut svc = timeout_layer(2).layer(inner.clone());
    let called = Instant::now();
    let fut = svc.call(Task::default());
    tokio::time::advance(secs(1)).await;
    let err = fut.await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Timeout(secs(2)));
    assert_eq!(called.elapsed(), secs(2), "counted from the call");
    let sent = inner.requests().pop().unwrap();
    let token = sent.token.expect("the service got the layer's token");
    assert_eq!(token.deadline(), Some(called + secs(2)));
    assert_eq!(token.reason(), Some(CancelReason::Timeout(secs(2))));

    // One that turns the token down is still cut at its timeout.
    let start = Instant::now();
    let refusing = Task {
        token: None,
        refuses: true,
    };
    let err = svc.oneshot(refusing).await.unwrap_err();
    assert_eq!(cancelled(&err), &CancelReason::Timeout(secs(2)));
    assert_eq!(start.elapsed(), secs(2));
    assert!(inner.requests().pop().unwrap().token.is_none());
}
