//! Tokens that fire by themselves (timeouts, deadlines, conditions, joins), racing work
//! against a token, named conditions and the process-wide registry, on tokio's paused clock.

#![cfg(all(feature = "cancel", feature = "retry", feature = "http"))]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::cancel::operations::{Operation, Operations};
use steadfast::cancel::{CancelLayer, Cancelled, ScopeError};
use steadfast::retry::{Backoff, RetryError, RetryPolicy, StopReason};
use steadfast::token::{CancelReason, CancelToken, Interrupted};
use tokio::time::{advance, Instant};
use tower::{service_fn, Layer, ServiceExt};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Lets spawned watcher tasks run.
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_token_fires_by_itself_when_its_time_is_up() {
    let parent = CancelToken::new();
    let token = parent.child_timeout(secs(60)).unwrap();
    assert_eq!(token.deadline(), Some(Instant::now() + secs(60)));
    advance(secs(59)).await;
    settle().await;
    assert!(!token.is_cancelled());
    advance(secs(1)).await;
    settle().await;
    assert_eq!(token.reason(), Some(CancelReason::Timeout(secs(60))));
    assert!(
        !parent.is_cancelled(),
        "the parent is not cancelled by its child"
    );

    let at = Instant::now() + secs(5);
    let token = CancelToken::new().child_deadline(at).unwrap();
    token.cancelled().await;
    assert_eq!(Instant::now(), at);
    assert_eq!(token.reason(), Some(CancelReason::Deadline));

    // Still cancelled with its parent, with the parent's reason.
    let parent = CancelToken::new();
    let token = parent.child_timeout(secs(60)).unwrap();
    parent.cancel_with(CancelReason::Shutdown);
    assert_eq!(token.reason(), Some(CancelReason::Shutdown));
}

#[tokio::test(start_paused = true)]
async fn invalid_settings_are_refused() {
    let err = CancelToken::new()
        .child_timeout(Duration::ZERO)
        .unwrap_err();
    assert!(err.to_string().contains("child_timeout.timeout"), "{err}");
    let err = CancelToken::new()
        .child_if("x", Duration::from_micros(10), || false)
        .unwrap_err();
    assert!(matches!(&err, ScopeError::Config(_)));
    assert!(err.to_string().contains("child_if.every"), "{err}");
    // Too long to add to the clock: never runs out, no timer.
    let token = CancelToken::new().child_timeout(Duration::MAX).unwrap();
    assert_eq!(token.deadline(), None);
}

#[test]
fn outside_a_runtime_self_firing_tokens_are_refused_not_a_panic() {
    let t = CancelToken::new();
    assert_eq!(t.child_timeout(secs(1)).unwrap_err(), ScopeError::NoRuntime);
    assert_eq!(
        t.child_deadline(Instant::now()).unwrap_err(),
        ScopeError::NoRuntime
    );
    let (_tx, rx) = tokio::sync::watch::channel(false);
    assert_eq!(t.child_when("c", rx).unwrap_err(), ScopeError::NoRuntime);
    assert_eq!(
        CancelToken::any([t.clone()]).unwrap_err(),
        ScopeError::NoRuntime
    );
}

#[tokio::test(start_paused = true)]
async fn conditions_fire_with_their_name() {
    let (open, rx) = tokio::sync::watch::channel(false);
    let token = CancelToken::new().child_when("circuit_open", rx).unwrap();
    settle().await;
    assert!(!token.is_cancelled());
    open.send_replace(true);
    settle().await;
    assert_eq!(
        token.reason(),
        Some(CancelReason::condition("circuit_open"))
    );

    let full = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU32::new(0));
    let token = CancelToken::new()
        .child_if("disk_full", Duration::from_millis(500), {
            let (full, calls) = (full.clone(), calls.clone());
            move || {
                calls.fetch_add(1, Ordering::Relaxed);
                full.load(Ordering::Relaxed)
            }
        })
        .unwrap();
    settle().await;
    for _ in 0..4 {
        advance(Duration::from_millis(500)).await;
        settle().await;
    }
    assert!(!token.is_cancelled());
    assert_eq!(
        calls.load(Ordering::Relaxed),
        5,
        "at 0, 0.5, 1, 1.5 and 2 s"
    );
    full.store(true, Ordering::Relaxed);
    advance(Duration::from_millis(500)).await;
    settle().await;
    assert_eq!(
        token.reason().unwrap().to_string(),
        "cancel condition met: disk_full"
    );
}

#[tokio::test(start_paused = true)]
async fn the_watcher_stops_when_the_token_is_dropped() {
    let check = Arc::new(());
    let token = CancelToken::new()
        .child_if("never", Duration::from_millis(10), {
            let check = check.clone();
            move || {
                let _ = &check;
                false
            }
        })
        .unwrap();
    let child = token.child();
    settle().await;
    drop(token);
    settle().await;
    assert_eq!(Arc::strong_count(&check), 2, "the child keeps it watched");
    drop(child);
    settle().await;
    assert_eq!(
        Arc::strong_count(&check),
        1,
        "the task ended with the token"
    );
}

#[tokio::test(start_paused = true)]
async fn a_joined_token_fires_with_the_first_reason_of_any() {
    let user = CancelToken::new();
    let shutdown = CancelToken::new();
    let overall = CancelToken::new().child_timeout(secs(60)).unwrap();
    let joined = CancelToken::any([user.clone(), shutdown.clone(), overall.clone()]).unwrap();
    assert_eq!(joined.deadline(), overall.deadline());
    settle().await;
    assert!(!joined.is_cancelled());
    shutdown.cancel_with(CancelReason::Shutdown);
    settle().await;
    user.cancel_with(CancelReason::manual("later"));
    joined.cancelled().await;
    assert_eq!(joined.reason(), Some(CancelReason::Shutdown));
    // Cancelling the join cancels none of its sources.
    let a = CancelToken::new();
    let joined = CancelToken::any([a.clone()]).unwrap();
    joined.cancel();
    assert!(!a.is_cancelled());
    // A source that already fired: the join is born cancelled.
    let joined = CancelToken::any([CancelToken::new(), user.clone()]).unwrap();
    assert_eq!(joined.reason(), Some(CancelReason::manual("later")));
    // The timeout source.
    let joined = CancelToken::any([CancelToken::new().child_timeout(secs(3)).unwrap()]).unwrap();
    joined.cancelled().await;
    assert_eq!(joined.reason(), Some(CancelReason::Timeout(secs(3))));
}

#[tokio::test(start_paused = true)]
async fn run_drops_the_work_the_moment_the_token_fires() {
    let token = CancelToken::new().child_timeout(secs(2)).unwrap();
    let started = Instant::now();
    let err: Interrupted = token.run(tokio::time::sleep(secs(10))).await.unwrap_err();
    assert_eq!(started.elapsed(), secs(2));
    assert_eq!(err.reason(), &CancelReason::Timeout(secs(2)));
    assert_eq!(err.to_string(), "work interrupted: timed out after 2s");
}

#[tokio::test(start_paused = true)]
async fn function_retry_interrupts_a_running_attempt() {
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::constant(secs(1)))
        .build()
        .unwrap();
    let token = CancelToken::new().child_timeout(secs(3)).unwrap();
    let attempts = AtomicU32::new(0);
    let started = Instant::now();
    let err = policy
        .run_cancellable(&token, |_| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async {
                tokio::time::sleep(secs(100)).await;
                Ok::<(), std::io::Error>(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), secs(3), "not after the attempt's 100 s");
    assert_eq!(attempts.load(Ordering::Relaxed), 1);
    let retry = err.downcast_ref::<RetryError>().unwrap();
    assert_eq!(
        retry.reason(),
        &StopReason::Cancelled(CancelReason::Timeout(secs(3)))
    );
}

#[tokio::test(start_paused = true)]
async fn a_layer_condition_names_itself_in_the_reason_and_message() {
    let (open, rx) = tokio::sync::watch::channel(false);
    let layer = CancelLayer::builder()
        .cancel_when(rx)
        .condition_name("circuit_open")
        .build()
        .unwrap();
    let svc = layer.layer(service_fn(|_: http::Request<()>| async {
        tokio::time::sleep(secs(10)).await;
        Ok::<_, std::io::Error>(())
    }));
    let call = tokio::spawn(svc.oneshot(http::Request::new(())));
    settle().await;
    open.send_replace(true);
    let err = call.await.unwrap().unwrap_err();
    let cancelled = err.downcast_ref::<Cancelled>().unwrap();
    assert_eq!(cancelled.reason(), &CancelReason::condition("circuit_open"));
    assert_eq!(
        cancelled.to_string(),
        "request cancelled: cancel condition met: circuit_open"
    );
}

#[tokio::test(start_paused = true)]
async fn the_global_registry_is_one_for_the_process_and_apart_from_others() {
    let local = Operations::new();
    let root = CancelToken::new();
    let global_job = Operations::global().register(&root, Operation::new("scopes_test_job 1"));
    let local_job = local.register(&root, Operation::new("scopes_test_job 2"));
    assert!(Operations::global()
        .list()
        .iter()
        .any(|op| op.name() == "scopes_test_job 1"));
    assert_eq!(
        Operations::global().cancel_named("scopes_test_job *", CancelReason::Shutdown),
        1
    );
    assert!(global_job.is_cancelled());
    assert!(!local_job.is_cancelled());
    drop(global_job);
    assert!(!Operations::global()
        .list()
        .iter()
        .any(|op| op.name() == "scopes_test_job 1"));

    // Progress on a self-firing child of a tracked token reaches the operation.
    let timed = local_job.child_timeout(secs(5)).unwrap();
    timed.report_progress("half way");
    assert_eq!(local.list()[0].progress().as_deref(), Some("half way"));
}

#[tokio::test(start_paused = true)]
async fn progress_carries_fields_and_data_to_watchers_and_callbacks() {
    use std::sync::Mutex;
    use steadfast::token::Progress;

    #[derive(Debug, PartialEq)]
    struct Pages(u32, u32);

    let ops = Operations::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    ops.on_progress({
        let seen = seen.clone();
        move |op| {
            let p = op.progress().unwrap();
            seen.lock().unwrap().push((
                op.name().to_string(),
                p.message().to_string(),
                p.get("attempt").map(str::to_string),
            ));
        }
    });
    let token = ops.register(&CancelToken::new(), Operation::new("fetch"));
    let mut rx = token.watch_progress().unwrap();
    let child = token.child();
    child.report_progress(
        Progress::new("Attempt 2/5")
            .field("attempt", 2)
            .with_data(Pages(3, 10)),
    );
    rx.changed().await.unwrap();
    {
        let latest = rx.borrow_and_update();
        let p = latest.as_ref().unwrap();
        assert_eq!(p.message(), "Attempt 2/5");
        assert_eq!(p.data::<Pages>(), Some(&Pages(3, 10)));
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [("fetch".into(), "Attempt 2/5".into(), Some("2".into()))]
    );
    assert_eq!(ops.list()[0].progress().unwrap().get("attempt"), Some("2"));
    token.report_progress("done");
    rx.changed().await.unwrap();
    assert_eq!(rx.borrow().as_deref(), Some("done"));
    assert_eq!(seen.lock().unwrap().len(), 2);

    // Untracked: nothing to watch, nothing recorded.
    let plain = CancelToken::new();
    plain.report_progress("ignored");
    assert!(plain.progress().is_none());
    assert!(plain.watch_progress().is_none());
}
