//! OS signals as a cancellation source: one listener for the whole process, however many
//! layers and requests wait on it.

use std::sync::OnceLock;

use crate::token::{CancelReason, CancelToken};

/// A token cancelled, with [`CancelReason::Signal`], when the process receives `SIGINT` or
/// `SIGTERM` (on Windows, Ctrl-C).
///
/// The first call starts one listener task on the current tokio runtime; later calls return
/// clones of the same token. Called outside a runtime, it returns the token without starting
/// the listener, and the next call made inside a runtime starts it.
///
/// ```no_run
/// # #[tokio::main] async fn main() {
/// let stop = steadfast::cancel::signal_token();
/// stop.cancelled().await; // returns on Ctrl-C or SIGTERM
/// println!("stopping: {}", stop.reason().unwrap());
/// # }
/// ```
pub fn signal_token() -> CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    static LISTENING: std::sync::Once = std::sync::Once::new();
    let token = TOKEN.get_or_init(CancelToken::new).clone();
    if tokio::runtime::Handle::try_current().is_ok() {
        LISTENING.call_once(|| {
            let token = token.clone();
            tokio::spawn(async move {
                let number = wait_for_signal().await;
                token.cancel_with(CancelReason::Signal(number));
            });
        });
    }
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        // No signal handling on this platform: never fire.
        _ => std::future::pending().await,
    };
    tokio::select! {
        _ = int.recv() => 2,
        _ = term.recv() => 15,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> i32 {
    match tokio::signal::ctrl_c().await {
        Ok(()) => 2,
        Err(_) => std::future::pending().await,
    }
}
