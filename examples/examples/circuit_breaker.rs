//! A circuit breaker in front of a downstream that goes down and comes back.
//!
//! ```sh
//! cargo run -p steadfast-examples --example circuit_breaker
//! ```
//!
//! The downstream fails for a stretch of calls. The breaker trips on the failure rate, rejects
//! calls at once while open (answering from a fallback), probes after the open time, and closes
//! again when the probes succeed. Every state change is printed as it happens.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerLayer, CircuitState, Rejected, SlidingWindow,
};
use tower::{service_fn, Layer, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let breaker = CircuitBreaker::builder()
        .name("inventory")
        .failure_rate(50.0)
        .minimum_calls(4)
        .window(SlidingWindow::count(8))
        .open_for(Duration::from_millis(200))
        .half_open_max_calls(2)
        .success_threshold(2)
        .on_event(|event: &BreakerEvent<'_>| {
            if let BreakerEvent::StateTransition {
                name,
                from,
                to,
                reason,
            } = event
            {
                println!("  breaker '{name}': {from} -> {to} ({reason})");
            }
        })
        .build()
        .expect("valid breaker settings");

    // The downstream is down while items 5 to 15 are asked for, then recovers.
    let calls = Arc::new(AtomicU32::new(0));
    let downstream = service_fn({
        let calls = calls.clone();
        move |item: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if (5..=15).contains(&item) {
                    Err(std::io::Error::other("inventory service unavailable"))
                } else {
                    Ok(format!("{} in stock", item * 3))
                }
            }
        }
    });
    let svc = CircuitBreakerLayer::new(breaker.clone())
        .fallback(|_item: u32, rejected: &Rejected| {
            Ok::<_, steadfast::BoxError>(format!("unknown (cached answer; {rejected})"))
        })
        .layer(downstream);

    let mut opened = false;
    for item in 1..=30 {
        let answer = svc.clone().oneshot(item).await;
        let state = breaker.state();
        opened |= state == CircuitState::Open;
        match answer {
            Ok(text) => println!("item {item:>2}: {text}  [{state}]"),
            Err(e) => println!("item {item:>2}: error: {e}  [{state}]"),
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    let m = breaker.metrics();
    println!(
        "\nsent to the downstream: {}, successes: {}, failures: {}, rejected: {}, trips: {}",
        calls.load(Ordering::SeqCst),
        m.successes,
        m.failures,
        m.rejections,
        m.trips
    );
    if !opened || m.rejections == 0 || breaker.state() != CircuitState::Closed {
        eprintln!("expected the breaker to open, reject calls, and close again");
        std::process::exit(1);
    }
}
