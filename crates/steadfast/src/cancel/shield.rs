//! Work that must finish even when its request is cancelled.

use std::future::Future;

/// Runs `fut` to completion even if the caller stops waiting (its request was cancelled and
/// its future dropped): cleanup, a write that must not be left half done.
///
/// The work runs as its own task on the current tokio runtime; awaiting the returned future
/// gives its output. Dropping the returned future does not stop the work. If the work panics,
/// the panic is resumed in the caller.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast::cancel::shield;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let flushed = Arc::new(AtomicBool::new(false));
/// let request = tokio::spawn({
///     let flushed = flushed.clone();
///     async move {
///         shield(async move {
///             tokio::time::sleep(Duration::from_secs(1)).await; // the write
///             flushed.store(true, Ordering::SeqCst);
///         })
///         .await
///     }
/// });
/// tokio::time::sleep(Duration::from_millis(10)).await;
/// request.abort(); // the request is cancelled mid-write...
/// tokio::time::sleep(Duration::from_secs(2)).await;
/// assert!(flushed.load(Ordering::SeqCst)); // ...and the write still finished
/// # }
/// ```
pub async fn shield<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match tokio::spawn(fut).await {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The task is never aborted (no handle to it escapes), so it can only have been
        // cancelled by the runtime shutting down.
        Err(e) => panic!("shielded work did not finish: {e}"),
    }
}
