//! Retrying plain functions: [`RetryPolicy::run`] for async code, [`RetryPolicy::run_blocking`]
//! for synchronous code. No `Service` needed.
//!
//! ```sh
//! cargo run -p steadfast-examples --example retry_fn
//! ```
//!
//! The policy classifies by error type: I/O errors (anywhere in the `source()` chain) are
//! retried, every other error is returned at once, unchanged.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use steadfast::classify::ErrorIs;
use steadfast::retry::{Backoff, Jitter, RetryError, RetryEvent, RetryPolicy, StopReason};
use steadfast::BoxError;

/// A failure that retrying cannot fix.
#[derive(Debug)]
struct InvalidConfig(&'static str);

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for InvalidConfig {}

fn main() -> Result<(), BoxError> {
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .backoff(
            Backoff::exponential(Duration::from_millis(10))
                .max(Duration::from_millis(80))
                .jitter(Jitter::Equal),
        )
        .seed(1)
        .classify(ErrorIs::<io::Error>::new())
        .on_event(|event: &RetryEvent<'_>| {
            if let RetryEvent::Retry {
                attempt,
                delay,
                error: Some(e),
                ..
            } = event
            {
                println!("    attempt {attempt} failed ({e}); retrying in {delay:?}");
            }
        })
        .build()?;

    // Synchronous code: the thread sleeps between attempts; no runtime needed.
    println!("run_blocking: read a file that appears on the third try");
    let contents = policy.run_blocking(|attempt| {
        if attempt < 3 {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "settings.toml not there yet",
            ))
        } else {
            Ok("retries = 4")
        }
    })?;
    println!("  -> {contents:?}");
    assert_eq!(contents, "retries = 4");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    runtime.block_on(async {
        // Async code: the closure is called with the attempt number and returns a future.
        println!("run: connect to a service that refuses twice");
        let calls = AtomicU32::new(0);
        let port = policy
            .run(|attempt| {
                calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if attempt <= 2 {
                        Err(io::Error::from(io::ErrorKind::ConnectionRefused))
                    } else {
                        Ok(5432)
                    }
                }
            })
            .await?;
        println!(
            "  -> connected on port {port} after {} calls",
            calls.load(Ordering::Relaxed)
        );
        assert_eq!(calls.load(Ordering::Relaxed), 3);

        // Not an I/O error: the classifier says it is final, so it comes back unchanged after
        // one attempt. Box the errors so both kinds fit one closure.
        println!("run: a configuration error is not retried");
        let calls = AtomicU32::new(0);
        let err = policy
            .run(|_| {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Err::<(), BoxError>(Box::new(InvalidConfig("port out of range"))) }
            })
            .await
            .unwrap_err();
        println!("  -> {err} (after {} call)", calls.load(Ordering::Relaxed));
        assert!(err.is::<InvalidConfig>());
        assert_eq!(calls.load(Ordering::Relaxed), 1);

        // An I/O error that never goes away: the policy gives up with a RetryError that
        // counts the attempts and keeps the last error as its source.
        println!("run: a disk that stays full");
        let err = policy
            .run(|_| async { Err::<(), _>(io::Error::other("no space left on device")) })
            .await
            .unwrap_err();
        let retry = err
            .downcast_ref::<RetryError>()
            .expect("a retryable error that never clears ends in a RetryError");
        println!("  -> {retry}");
        println!(
            "     last error: {}",
            retry.last_error().expect("the last attempt failed")
        );
        assert_eq!(retry.attempts(), 4);
        assert_eq!(retry.reason(), &StopReason::AttemptsExhausted);
        Ok::<_, BoxError>(())
    })?;
    Ok(())
}
