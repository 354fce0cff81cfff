//! Live reload: a client stack built from a settings file, and a task that watches the file
//! (it polls its modification time; no extra dependency) and reloads the stack when it
//! changes, while requests keep flowing.
//!
//! ```sh
//! # The self-check: writes a copy of examples/config/inventory.toml, edits it, and checks
//! # that the stack follows.
//! cargo run -p steadfast-examples --example config_reload
//! # Watch a file of your own and print each reload (its stack must be called `inventory`).
//! cargo run -p steadfast-examples --example config_reload -- path/to/settings.toml
//! ```
//!
//! What the self-check shows, and checks (it exits non-zero if the stack does not follow):
//! 1. the stack makes the file's three attempts per request;
//! 2. after the file is edited to five attempts, the next requests make five, and the
//!    breaker is the same breaker, its counts kept;
//! 3. after the file is broken, the reload is refused with every problem and its path, and
//!    requests keep the five attempts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::classify::AnyError;
use steadfast::config::{load, ReloadableStack};
use tower::{service_fn, Layer, ServiceExt};

/// The file's modification time and length, to notice a change. (A file's time is the file
/// system's wall-clock time, which no paused tokio clock stands in for.)
#[allow(clippy::disallowed_types)]
fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reloads `stack` from `path` each time the file changes; checks every `every`.
fn watch(stack: ReloadableStack, path: PathBuf, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = stamp(&path);
        loop {
            tokio::time::sleep(every).await;
            let now = stamp(&path);
            if now == seen {
                continue;
            }
            seen = now;
            match stack.reload_file(&path) {
                Ok(version) => println!("  reloaded: settings version {version}"),
                Err(e) => {
                    println!("  reload refused, the settings in use stay:");
                    for line in e.to_string().lines() {
                        println!("    {line}");
                    }
                }
            }
        }
    })
}

fn check(ok: bool, what: &str, failures: &mut u32) {
    if ok {
        println!("  ok    {what}");
    } else {
        println!("  FAIL  {what}");
        *failures += 1;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    if let Some(path) = std::env::args().nth(1) {
        // Watch a file of the user's, until interrupted.
        let stack = match load(&path).and_then(|c| ReloadableStack::new(&c, "inventory", AnyError))
        {
            Ok(stack) => stack,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        println!("watching {path}: settings version {}", stack.version());
        let _ = watch(stack, path.into(), Duration::from_secs(1)).await;
        return ExitCode::SUCCESS;
    }

    let original = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/inventory.toml"
    ))
    .expect("the sample settings file");
    let dir = std::env::temp_dir().join(format!("steadfast-config-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join("inventory.toml");
    // Short waits, so the example runs quickly: no backoff between attempts.
    let file = |attempts: u32| {
        original.replace(
            "retry = { max_attempts = 3 }",
            &format!("retry = {{ max_attempts = {attempts}, backoff = {{ kind = \"none\" }} }}"),
        )
    };
    std::fs::write(&path, file(3)).expect("write the settings");

    let stack = ReloadableStack::new(
        &load(&path).expect("the settings read"),
        "inventory",
        AnyError,
    )
    .expect("the stack builds");
    let watcher = watch(stack.clone(), path.clone(), Duration::from_millis(20));
    // A downstream that always fails, counting its calls.
    let calls = Arc::new(AtomicU32::new(0));
    let svc = stack.layer(service_fn({
        let calls = calls.clone();
        move |_: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(std::io::Error::other("out of stock service down")) }
        }
    }));
    let attempts = |calls: &AtomicU32| calls.swap(0, Ordering::SeqCst);
    // Waits until the watcher has seen the change (or gives up after 5 s).
    let settle = |want: u64| {
        let stack = stack.clone();
        async move {
            for _ in 0..250 {
                if stack.version() == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let mut failures = 0;

    println!("1. the file says three attempts");
    let _ = svc.clone().oneshot(1).await;
    check(attempts(&calls) == 3, "three attempts", &mut failures);
    let breaker = stack.breaker().expect("the stack has a breaker");

    println!("2. the file is edited to five attempts");
    // Past the file system's timestamp granularity, so the change is seen.
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::write(&path, file(5)).expect("write the settings");
    settle(2).await;
    check(
        stack.version() == 2,
        "the watcher reloaded the stack",
        &mut failures,
    );
    let _ = svc.clone().oneshot(2).await;
    check(attempts(&calls) == 5, "five attempts", &mut failures);
    check(
        breaker.metrics().failures == 8,
        "the breaker is the same one, with its counts: 3 + 5 failures",
        &mut failures,
    );

    println!("3. the file is broken");
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::write(
        &path,
        file(5).replace(
            "attempt_timeout = \"1s\"",
            "attempt_timeout = \"1 s\"\nmax_atempts = 2",
        ),
    )
    .expect("write the settings");
    // The watcher reads the broken file and keeps version 2.
    tokio::time::sleep(Duration::from_millis(300)).await;
    check(
        stack.version() == 2,
        "the reload was refused",
        &mut failures,
    );
    // Eight failures in a row are close to tripping the file's breaker (half of ten calls):
    // start it afresh, so the next request makes all its attempts.
    breaker.reset();
    let _ = svc.clone().oneshot(3).await;
    check(attempts(&calls) == 5, "still five attempts", &mut failures);

    watcher.abort();
    let _ = std::fs::remove_dir_all(&dir);
    if failures == 0 {
        println!("every check passed");
        ExitCode::SUCCESS
    } else {
        println!("{failures} check(s) failed");
        ExitCode::FAILURE
    }
}
