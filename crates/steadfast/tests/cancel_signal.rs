//! OS signals cancel requests: a child process runs a service behind a `CancelLayer` with
//! `on_signals`, the test sends it `SIGTERM`, and the child reports the reason.
#![cfg(all(unix, feature = "cancel", feature = "http"))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use steadfast::cancel::{CancelLayer, Cancelled};
use tower::{service_fn, Layer, ServiceExt};

const CHILD_ENV: &str = "STEADFAST_SIGNAL_CHILD";

/// Runs only in the child process: waits on a request until a signal cancels it.
#[tokio::test]
async fn child_waits_for_a_signal() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let svc = CancelLayer::builder()
        .on_signals()
        .build()
        .unwrap()
        .layer(service_fn(|_: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, std::io::Error>(())
        }));
    let call = tokio::spawn(svc.oneshot(http::Request::new(())));
    // Let the listener start before saying we are ready.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("ready");
    let err = call.await.unwrap().unwrap_err();
    let reason = err.downcast_ref::<Cancelled>().unwrap().reason().clone();
    println!("reason: {reason}");
}

#[test]
fn sigterm_cancels_requests_with_reason_signal() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_waits_for_a_signal",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut ready = false;
    for line in lines.by_ref() {
        if line.unwrap().trim_end().ends_with("ready") {
            ready = true;
            break;
        }
    }
    assert!(ready, "the child never got ready");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    // Read everything the child prints, so it never writes into a closed pipe.
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let reason = rest
        .iter()
        .find(|l| l.starts_with("reason: "))
        .expect("the child reports a reason");
    assert_eq!(reason, "reason: received signal 15");
    assert!(child.wait().unwrap().success());
}
