//! The chaos layer: rates, switches, predicates, latency and the errors and events it
//! injects, on a paused clock.

#![cfg(feature = "chaos")]

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::chaos::{
    BehaviorInjection, ChaosError, ChaosLayer, ChaosSwitch, FaultInjection, Injection,
    LatencyInjection, OutcomeInjection,
};
use steadfast::BoxError;
use steadfast_test::{ReadinessProbe, TestError};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};

/// The inner service: answers `n * 10`, counting its calls and recording when each call's
/// future is first polled.
#[derive(Clone, Default)]
struct Backend {
    calls: Arc<AtomicUsize>,
    polled_at: Arc<Mutex<Vec<Instant>>>,
}

impl Backend {
    fn service(
        &self,
    ) -> impl Service<u64, Response = u64, Error = io::Error, Future: Send> + Clone + Send {
        let (calls, polled_at) = (self.calls.clone(), self.polled_at.clone());
        service_fn(move |n: u64| {
            calls.fetch_add(1, Ordering::SeqCst);
            let polled_at = polled_at.clone();
            async move {
                polled_at.lock().unwrap().push(Instant::now());
                Ok::<_, io::Error>(n * 10)
            }
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Sends requests `0..n` and returns the ones that were answered with a `ChaosError`.
async fn faulted(layer: &ChaosLayer<u64, u64>, n: u64) -> Vec<u64> {
    let mut svc = layer.layer(Backend::default().service());
    let mut hit = Vec::new();
    for i in 0..n {
        match svc.ready().await.unwrap().call(i).await {
            Ok(v) => assert_eq!(v, i * 10),
            Err(e) => {
                assert!(e.is::<ChaosError>(), "{e}");
                hit.push(i);
            }
        }
    }
    hit
}

fn fault_layer(rate: f64, seed: u64) -> ChaosLayer<u64, u64> {
    ChaosLayer::builder()
        .seed(seed)
        .fault(FaultInjection::chaos().rate(rate))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn rate_zero_never_injects_and_rate_one_always_does() {
    assert!(faulted(&fault_layer(0.0, 1), 10_000).await.is_empty());
    assert_eq!(faulted(&fault_layer(1.0, 1), 10_000).await.len(), 10_000);

    // The same for the other three injections, each alone.
    for rate in [0.0, 1.0] {
        let backend = Backend::default();
        let behaved = Arc::new(AtomicUsize::new(0));
        let layer = ChaosLayer::builder()
            .seed(5)
            .behavior(
                BehaviorInjection::new({
                    let behaved = behaved.clone();
                    move |_: &mut u64| {
                        behaved.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .rate(rate),
            )
            .latency(LatencyInjection::fixed(Duration::from_secs(1)).rate(rate))
            .outcome(OutcomeInjection::value(7).rate(rate))
            .build()
            .unwrap();
        let mut svc = layer.layer(backend.service());
        let start = Instant::now();
        for i in 0..1_000 {
            let answer = svc.ready().await.unwrap().call(i).await.unwrap();
            assert_eq!(answer, if rate == 1.0 { 7 } else { i * 10 });
        }
        let expected = if rate == 1.0 { 1_000 } else { 0 };
        assert_eq!(behaved.load(Ordering::SeqCst), expected);
        assert_eq!(start.elapsed(), Duration::from_secs(expected as u64));
        assert_eq!(backend.calls(), 1_000 - expected);
    }
}

#[tokio::test(start_paused = true)]
async fn injection_rates_converge_to_the_configured_rate() {
    // 20 000 requests at rate r: the count is within five standard deviations of r * n
    // for every seed (a broken rate, or one applied twice, is far outside).
    let n = 20_000u64;
    for (rate, seed) in [(0.05, 11), (0.3, 12), (0.5, 13), (0.9, 14)] {
        let expected = rate * n as f64;
        let sd = (n as f64 * rate * (1.0 - rate)).sqrt();
        let got = faulted(&fault_layer(rate, seed), n).await.len() as f64;
        assert!(
            (got - expected).abs() <= 5.0 * sd,
            "rate {rate}: {got} injected of {n}, expected about {expected}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_seed_fixes_which_requests_are_injected_into() {
    let a = faulted(&fault_layer(0.2, 99), 2_000).await;
    let b = faulted(&fault_layer(0.2, 99), 2_000).await;
    let c = faulted(&fault_layer(0.2, 100), 2_000).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[tokio::test(start_paused = true)]
async fn switches_flipped_from_another_thread_take_effect_on_the_next_request() {
    let layer_switch = ChaosSwitch::new(false);
    let fault_switch = ChaosSwitch::new(true);
    let layer = ChaosLayer::builder()
        .switch(layer_switch.clone())
        .fault(FaultInjection::chaos().switch(fault_switch.clone()))
        .build()
        .unwrap();
    let backend = Backend::default();
    let mut svc = layer.layer(backend.service());
    let flip = |switch: &ChaosSwitch, on: bool| {
        let switch = switch.clone();
        std::thread::spawn(move || switch.set(on)).join().unwrap();
    };

    // Off: straight through.
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 10);
    flip(&layer_switch, true);
    assert!(layer.switch().is_on());
    let err = svc.ready().await.unwrap().call(2).await.unwrap_err();
    assert!(err.is::<ChaosError>());
    // The injection's own switch turns it off while the layer's stays on.
    flip(&fault_switch, false);
    assert_eq!(svc.ready().await.unwrap().call(3).await.unwrap(), 30);
    flip(&fault_switch, true);
    assert!(svc.ready().await.unwrap().call(4).await.is_err());
    flip(&layer_switch, false);
    assert_eq!(svc.ready().await.unwrap().call(5).await.unwrap(), 50);
    assert_eq!(backend.calls(), 3);
}

#[test]
fn a_switch_flipped_while_requests_run_on_another_thread_stops_injection() {
    let switch = ChaosSwitch::new(true);
    let layer = ChaosLayer::builder()
        .switch(switch.clone())
        .fault(FaultInjection::chaos())
        .build()
        .unwrap();
    let svc = layer.layer(Backend::default().service());
    let (first_failure, seen) = std::sync::mpsc::channel();
    // A worker thread with a runtime of its own sends requests until one is answered.
    let worker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut failed = 0u64;
            while let Err(e) = svc.clone().oneshot(1).await {
                assert!(e.is::<ChaosError>());
                failed += 1;
                assert!(
                    failed < 1_000_000,
                    "the switch was flipped but chaos went on"
                );
                if failed == 1 {
                    first_failure.send(()).unwrap();
                }
                tokio::task::yield_now().await;
            }
            failed
        })
    });
    seen.recv().unwrap();
    switch.turn_off();
    // The worker stops failing once it sees the switch off (it would loop forever otherwise).
    assert!(worker.join().unwrap() >= 1);
}

#[tokio::test(start_paused = true)]
async fn predicates_limit_injection_to_the_requests_they_accept() {
    // The layer's predicate: even requests only; the fault's: above 100.
    let layer = ChaosLayer::builder()
        .seed(3)
        .when(|n: &u64| n % 2 == 0)
        .fault(FaultInjection::chaos().when(|n: &u64| *n > 100))
        .build()
        .unwrap();
    let hit = faulted(&layer, 1_000).await;
    let expected: Vec<u64> = (0..1_000).filter(|n| n % 2 == 0 && *n > 100).collect();
    assert_eq!(hit, expected);

    // Two `when`s on one injection: both must accept.
    let layer = ChaosLayer::builder()
        .fault(
            FaultInjection::chaos()
                .when(|n: &u64| n % 3 == 0)
                .when(|n: &u64| n % 5 == 0),
        )
        .build()
        .unwrap();
    let hit = faulted(&layer, 100).await;
    assert_eq!(hit, (0..100).filter(|n| n % 15 == 0).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn latency_delays_the_answer_and_the_inner_call_starts_after_it() {
    let backend = Backend::default();
    let layer = ChaosLayer::builder()
        .latency(LatencyInjection::fixed(Duration::from_millis(250)))
        .build()
        .unwrap();
    let probe = ReadinessProbe::new(backend.service());
    let mut svc = layer.layer(probe.clone());
    let start = Instant::now();
    let fut = svc.ready().await.unwrap().call(4);
    // The inner service was called while it was ready, before the delay...
    assert_eq!(probe.calls(), 1);
    assert_eq!(fut.await.unwrap(), 40);
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    // ...and its future first polled once the delay had passed.
    assert_eq!(
        backend.polled_at.lock().unwrap().as_slice(),
        [start + Duration::from_millis(250)]
    );
}

/// An inner service with one readiness slot shared by its clones: `poll_ready` takes it
/// (or stays pending while another clone holds it), `call` gives it back, as a bounded
/// queue's place is taken and freed.
struct OneSlot<S> {
    inner: S,
    taken: Arc<std::sync::atomic::AtomicBool>,
    mine: bool,
}

impl<S: Clone> Clone for OneSlot<S> {
    fn clone(&self) -> Self {
        OneSlot {
            inner: self.inner.clone(),
            taken: self.taken.clone(),
            mine: false,
        }
    }
}

impl<S: Service<u64>> Service<u64> for OneSlot<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        if !self.mine {
            if self.taken.swap(true, Ordering::SeqCst) {
                // Never woken: the test's timeout tells.
                return std::task::Poll::Pending;
            }
            self.mine = true;
        }
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> S::Future {
        assert!(self.mine, "called without readiness");
        self.mine = false;
        self.taken.store(false, Ordering::SeqCst);
        self.inner.call(req)
    }
}

#[tokio::test(start_paused = true)]
async fn a_delayed_request_does_not_hold_the_inner_readiness() {
    let backend = Backend::default();
    let inner = OneSlot {
        inner: backend.service(),
        taken: Arc::default(),
        mine: false,
    };
    let layer = ChaosLayer::builder()
        .latency(LatencyInjection::fixed(Duration::from_secs(1)).when(|n: &u64| *n == 1))
        .build()
        .unwrap();
    let mut slow_svc = layer.layer(inner);
    let mut fast_svc = slow_svc.clone();
    let start = Instant::now();
    let slow = tokio::spawn(slow_svc.ready().await.unwrap().call(1));
    // Another clone gets the slot at once and is answered while the first request sleeps.
    let ready = tokio::time::timeout(Duration::from_millis(10), fast_svc.ready()).await;
    let fast = ready
        .expect("the slot is free while the delayed request sleeps")
        .unwrap()
        .call(2)
        .await
        .unwrap();
    assert_eq!(fast, 20);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(slow.await.unwrap().unwrap(), 10);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_delayed_fault_comes_after_the_delay_and_never_calls_the_service() {
    let backend = Backend::default();
    let layer = ChaosLayer::builder()
        .latency(LatencyInjection::fixed(Duration::from_millis(300)))
        .fault(FaultInjection::error(TestError("timed out".into())).rate(1.0))
        .outcome(OutcomeInjection::value(1))
        .build()
        .unwrap();
    let svc = layer.layer(backend.service());
    let start = Instant::now();
    let err = svc.oneshot(1).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    // The user's error, as given; the outcome did not fire over it.
    assert_eq!(
        err.downcast_ref::<TestError>().unwrap(),
        &TestError("timed out".into())
    );
    assert_eq!(backend.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn injected_errors_downcast_to_chaos_error_or_to_the_users_type() {
    let layer = ChaosLayer::builder()
        .name("ledger")
        .fault(FaultInjection::chaos())
        .build()
        .unwrap();
    let err: BoxError = layer
        .layer(Backend::default().service())
        .oneshot(1)
        .await
        .unwrap_err();
    let chaos = err.downcast_ref::<ChaosError>().unwrap();
    assert_eq!(chaos.layer(), "ledger");
    assert_eq!(chaos.injection(), Injection::Fault);
    assert!(steadfast::classify::AsDynError::as_dyn_error(chaos).is::<ChaosError>());

    let layer = ChaosLayer::builder()
        .fault(FaultInjection::error_fn(|n: &u64| {
            io::Error::new(io::ErrorKind::ConnectionReset, format!("reset on {n}"))
        }))
        .build()
        .unwrap();
    let err = layer
        .layer(Backend::default().service())
        .oneshot(9)
        .await
        .unwrap_err();
    let io = err.downcast_ref::<io::Error>().unwrap();
    assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(io.to_string(), "reset on 9");
}

#[tokio::test(start_paused = true)]
async fn a_behavior_runs_on_the_request_before_it_is_sent() {
    let backend = Backend::default();
    let layer = ChaosLayer::builder()
        .behavior(BehaviorInjection::new(|n: &mut u64| *n += 1).when(|n: &u64| *n < 5))
        .build()
        .unwrap();
    let svc = layer.layer(backend.service());
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 20);
    assert_eq!(svc.oneshot(8).await.unwrap(), 80);
}

#[test]
fn invalid_settings_are_rejected_naming_the_field() {
    fn field(b: steadfast::chaos::ChaosLayerBuilder<u64, u64>) -> &'static str {
        b.build().unwrap_err().field()
    }
    let b = ChaosLayer::<u64, u64>::builder;
    assert_eq!(field(b()), "injections");
    assert_eq!(
        field(b().fault(FaultInjection::chaos().rate(-0.5))),
        "fault.rate"
    );
    assert_eq!(
        field(b().outcome(OutcomeInjection::value(1).rate(f64::NAN))),
        "outcome.rate"
    );
    assert_eq!(
        field(b().latency(LatencyInjection::fixed(Duration::ZERO).rate(1.01))),
        "latency.rate"
    );
    assert_eq!(
        field(b().latency(LatencyInjection::uniform(
            Duration::from_secs(2),
            Duration::from_secs(1)
        ))),
        "latency.max"
    );
    assert_eq!(
        field(b().behavior(BehaviorInjection::new(|_| ()).rate(7.0))),
        "behavior.rate"
    );
    assert!(b()
        .latency(LatencyInjection::uniform(Duration::MAX, Duration::MAX))
        .build()
        .is_ok());
}

mod events {
    use super::*;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Every event's `layer`, `injection` and `delay_ms` fields, as text, with the thread it
    /// was emitted on. Installed as the global subscriber (the other tests of this file run
    /// at the same time on other threads, and a thread's own subscriber could miss events
    /// whose interest they cached meanwhile).
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<(std::thread::ThreadId, String)>>>);

    fn capture() -> &'static Capture {
        static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(capture.clone()).unwrap();
            capture
        })
    }

    struct Fields(Vec<String>);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push(format!("{}={value}", field.name()));
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.0.push(format!("{}={value}", field.name()));
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            self.0
                .lock()
                .unwrap()
                .push((std::thread::current().id(), fields.0.join(" ")));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[tokio::test(start_paused = true)]
    async fn each_injection_is_announced_by_a_tracing_event_naming_it() {
        let capture = capture();
        let layer = ChaosLayer::builder()
            .name("search")
            .behavior(BehaviorInjection::new(|_: &mut u64| ()))
            .latency(LatencyInjection::fixed(Duration::from_millis(20)))
            .outcome(OutcomeInjection::value(5))
            .build()
            .unwrap();
        let svc = layer.layer(Backend::default().service());
        assert_eq!(svc.oneshot(1).await.unwrap(), 5);
        let layer = ChaosLayer::builder()
            .fault(FaultInjection::chaos().when(|n: &u64| *n == 2))
            .build()
            .unwrap();
        let svc = layer.layer(Backend::default().service());
        svc.clone().oneshot(1).await.unwrap();
        svc.oneshot(2).await.unwrap_err();
        let here = std::thread::current().id();
        let seen: Vec<String> = capture
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(thread, _)| *thread == here)
            .map(|(_, event)| event.clone())
            .collect();
        assert_eq!(
            seen,
            [
                "layer=search injection=behavior",
                "layer=search injection=latency delay_ms=20",
                "layer=search injection=outcome",
                "layer=chaos injection=fault",
            ]
        );
    }
}
