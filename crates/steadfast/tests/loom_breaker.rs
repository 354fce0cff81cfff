//! Model checks of the circuit breaker's concurrent transitions, under every interleaving
//! `loom` can find. Run with:
//!
//! ```sh
//! RUSTFLAGS="--cfg steadfast_loom" cargo test -p steadfast --test loom_breaker --release
//! ```
#![cfg(steadfast_loom)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use loom::thread;
use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerLayer, CircuitState, HalfOpenRule,
};
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

/// Two callers race for the only probe permit: exactly one gets it.
#[test]
fn one_probe_slot_two_callers() {
    loom::model(|| {
        let b = half_open(1, 1);
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
        // The probe's success closes the breaker; the other caller was either rejected while
        // the probe was out, or came after and met the breaker closed.
        assert!((1..=2).contains(&admitted));
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(b.check().is_ok(), "no permit is left taken");
    });
}

/// Counts the calls a breaker lets through while half-open.
fn counting_half_open_permits(
    builder: steadfast::circuit_breaker::CircuitBreakerBuilder,
) -> (CircuitBreaker, Arc<AtomicUsize>) {
    let permits = Arc::new(AtomicUsize::new(0));
    let seen = permits.clone();
    let b = builder
        .on_event(move |e| {
            if let BreakerEvent::CallPermitted {
                state: CircuitState::HalfOpen,
                ..
            } = e
            {
                seen.fetch_add(1, StdOrdering::Relaxed);
            }
        })
        .build()
        .unwrap();
    b.isolate(Duration::ZERO);
    (b, permits)
}

/// Two callers make two quick calls each against a half-open period of two permits: the
/// period never lets more than its two calls through, however the probes interleave (a
/// limit on probes in flight would let a third through once the first has answered).
#[test]
fn never_more_than_n_permits_per_half_open_period() {
    // Four calls make for many interleavings: bounded to three preemptions, which is where
    // loom finds most ordering bugs, to keep the model checkable in minutes.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let (b, permits) = counting_half_open_permits(
            CircuitBreaker::builder()
                .consecutive_failures(1)
                .half_open_max_calls(2)
                .success_threshold(2),
        );
        let layer = CircuitBreakerLayer::new(b.clone());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut s = layer.layer(svc(true));
                thread::spawn(move || {
                    call(&mut s);
                    call(&mut s);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Both permits were used (the breaker closes only on two successes), and no more.
        assert_eq!(permits.load(StdOrdering::Relaxed), 2);
        assert_eq!(b.state(), CircuitState::Closed);
    });
}

/// Under the rate rule, a failed and a successful probe race to finish the period: whoever
/// finishes last sees the other's verdict, and the period is judged exactly once (or decided
/// early by the failure, when it alone reaches the threshold).
#[test]
fn the_rate_rule_judges_the_period_once() {
    for (threshold, expected) in [(50.0, CircuitState::Open), (60.0, CircuitState::Closed)] {
        loom::model(move || {
            let (b, permits) = counting_half_open_permits(
                CircuitBreaker::builder()
                    .failure_rate(threshold)
                    .minimum_calls(1)
                    .half_open_max_calls(2)
                    .half_open_rule(HalfOpenRule::Rates),
            );
            let layer = CircuitBreakerLayer::new(b.clone());
            let mut good = layer.layer(svc(true));
            let mut bad = layer.layer(svc(false));
            let t1 = thread::spawn(move || call(&mut good));
            let t2 = thread::spawn(move || call(&mut bad));
            t1.join().unwrap();
            t2.join().unwrap();
            // One failure in two: 50%. At a 50% threshold the failure alone decides, and
            // reopens at once, so the success may come too late to get a permit.
            let permits = permits.load(StdOrdering::Relaxed);
            match expected {
                CircuitState::Open => assert!((1..=2).contains(&permits)),
                _ => assert_eq!(permits, 2),
            }
            assert_eq!(b.state(), expected);
            // The isolate, plus the reopening when there is one.
            let trips = if expected == CircuitState::Open { 2 } else { 1 };
            assert_eq!(b.metrics().trips, trips);
        });
    }
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
        let b = half_open(1, 1);
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

/// Backpressure's readiness check races a manual close: the check finds the breaker open with
/// its open time over, and the close can land before it looks, before it moves the breaker to
/// half-open, or after. Whenever the check ends up seeing the breaker closed it holds nothing
/// and tells nothing: the only `CallPermitted` event a readiness check may send is for the
/// half-open probe it takes, and nothing is counted as a rejection.
#[test]
fn readiness_check_racing_a_close_sends_no_closed_permit() {
    loom::model(|| {
        let closed_permits = Arc::new(AtomicUsize::new(0));
        let seen = closed_permits.clone();
        let b = CircuitBreaker::builder()
            .on_event(move |e| {
                if let BreakerEvent::CallPermitted { state, .. } = e {
                    if *state != CircuitState::HalfOpen {
                        seen.fetch_add(1, StdOrdering::Relaxed);
                    }
                }
            })
            .build()
            .unwrap();
        b.isolate(Duration::ZERO);
        let mut s = CircuitBreakerLayer::new(b.clone())
            .backpressure(Duration::from_millis(1))
            .layer(svc(true));
        let closer = {
            let b = b.clone();
            thread::spawn(move || b.close())
        };
        let mut cx = Context::from_waker(Waker::noop());
        // Open time over, then half-open with a free probe, or closed: ready at once.
        assert!(matches!(
            Service::<()>::poll_ready(&mut s, &mut cx),
            Poll::Ready(Ok(()))
        ));
        closer.join().unwrap();
        drop(s);
        assert_eq!(
            closed_permits.load(StdOrdering::Relaxed),
            0,
            "a readiness check lets no call through"
        );
        assert_eq!(b.metrics().rejections, 0);
        assert_eq!(b.state(), CircuitState::Closed);
    });
}
