//! Model checks of the circuit breaker's concurrent transitions, under every interleaving
//! `loom` can find. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg steadfast_loom" cargo test -p steadfast --test loom_breaker --release
//! ```
#![cfg(steadfast_loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use loom::thread;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, CircuitState};
use tower::{service_fn, Layer, Service};

type Reply = std::future::Ready<Result<(), &'static str>>;

fn svc(ok: bool) -> impl Service<(), Response = (), Error = &'static str, Future = Reply> + Clone {
    service_fn(move |_: ()| std::future::ready(if ok { Ok(()) } else { Err("down") }))
}

/// Calls once and drives the response future to completion.
fn call<S>(s: &mut S) -> bool
where
    S: Service<()>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(s.poll_ready(&mut cx).is_ready());
    let mut fut = pin!(s.call(()));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r.is_ok(),
        Poll::Pending => unreachable!("ready services answer at once"),
    }
}

fn half_open(max_probes: u32, success_threshold: u32) -> CircuitBreaker {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .half_open_max_calls(max_probes)
        .success_threshold(success_threshold)
        .build()
        .unwrap();
    b.isolate(Duration::ZERO);
    b
}

/// Two callers race for the only probe slot: exactly one gets it.
#[test]
fn one_probe_slot_two_callers() {
    loom::model(|| {
        let b = half_open(1, 2);
        let layer = CircuitBreakerLayer::new(b.clone());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut s = layer.layer(svc(true));
                thread::spawn(move || call(&mut s))
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        // The first success does not close (threshold 2), so the slot is freed and the
        // second caller may get it afterwards: one or two admissions, never a stuck slot.
        assert!((1..=2).contains(&admitted));
        assert_eq!(
            b.state(),
            if admitted == 2 {
                CircuitState::Closed
            } else {
                CircuitState::HalfOpen
            }
        );
        assert!(b.check().is_ok(), "no slot is left taken");
    });
}

/// A successful probe and a failed probe race: exactly one transition wins, and the breaker
/// ends closed or open, never half-open.
#[test]
fn success_and_failure_race_in_half_open() {
    loom::model(|| {
        let b = half_open(2, 1);
        let layer = CircuitBreakerLayer::new(b.clone());
        let mut good = layer.layer(svc(true));
        let mut bad = layer.layer(svc(false));
        let t1 = thread::spawn(move || call(&mut good));
        let t2 = thread::spawn(move || call(&mut bad));
        t1.join().unwrap();
        t2.join().unwrap();
        let state = b.state();
        assert!(
            matches!(state, CircuitState::Closed | CircuitState::Open),
            "ended {state}"
        );
        // The isolate, the move to half-open, and one decision: at most one more trip.
        assert!(b.metrics().trips <= 2);
    });
}

/// Two failures race in the closed state: the breaker trips exactly once.
#[test]
fn concurrent_failures_trip_once() {
    loom::model(|| {
        let b = CircuitBreaker::builder()
            .consecutive_failures(1)
            .build()
            .unwrap();
        let layer = CircuitBreakerLayer::new(b.clone());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut s = layer.layer(svc(false));
                thread::spawn(move || call(&mut s))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.metrics().trips, 1);
    });
}

/// A probe dropped before it finishes gives its slot back, even while another caller races
/// for the slot.
#[test]
fn dropped_probe_releases_its_slot() {
    loom::model(|| {
        let b = half_open(1, 5);
        let layer = CircuitBreakerLayer::new(b.clone());
        let mut s1 = layer.layer(svc(true));
        let mut s2 = layer.layer(svc(true));
        let t1 = thread::spawn(move || {
            let mut cx = Context::from_waker(Waker::noop());
            assert!(s1.poll_ready(&mut cx).is_ready());
            drop(s1.call(()));
        });
        let t2 = thread::spawn(move || call(&mut s2));
        t1.join().unwrap();
        let _ = t2.join().unwrap();
        assert!(b.check().is_ok(), "the slot is free once both are done");
    });
}
