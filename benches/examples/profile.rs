//! Makes one kind of call many times in a plain loop, for a profiler: instruction counts per
//! call with callgrind (run it with two counts and divide the difference), or samples with
//! `perf record`.
//!
//! ```sh
//! cargo build --profile bench -p steadfast-benches --example profile
//! valgrind --tool=callgrind target/release/examples/profile breaker 100000
//! ```
//!
//! Paths: `bare`, `chaos_off` (the chaos layer with its switch off), `chaos_on` (on, with a fault
//! at rate 0: a draw per call, nothing injected), `tower_retry`, `tower_default_like`, `retry`, `retry_static`, `breaker`, `breaker_static`,
//! `breaker_time` (a breaker over a time window), `stack`, `stack_static`, `ratio`, `ratio_static`, `tower_tps_budget` (the same services as
//! the benchmarks), `bucket` (the retry layer with a `TokenBucket`), `fleet_bucket` and
//! `fleet_ratio` (with a `steadfast-redis` shared budget over a token bucket or a ratio; the
//! success path never reaches Redis, so none is needed), `rejected` (an open breaker), and
//! `mid_backoff_dropped` (a request dropped while the retry layer sleeps), and `retry_once`
//! `tower_retry_once` and `seatbelt_retry_once` (a request that fails once and succeeds on its
//! retry at once). The token paths time one cancellation token operation: `token_new` (a root
//! made and dropped), `token_child` (a child of a long-lived root made, checked and dropped),
//! `token_grandchild` (a child and its child made, the grandchild checked and asked its reason,
//! both dropped) and `token_child_waited` (a child made, waited on once, and dropped).
//! The cancel paths make one call through a cancel layer with a 30 s timeout, answered at
//! once: `cancel_u64` (a `u64`, which cannot carry a token), `cancel_request` (an
//! `http::Request`, given a child token), `cancel_http` (the same through the HTTP form of the
//! layer, its response body wrapped) and `cancel_http_reuse` (the HTTP form with no source of
//! its own, on a request that already carries a token).
//! The export paths make one call through steadfast's retry layer over its breaker over `Bare`:
//! `export_none` (no listener), `export_empty` (a listener on each layer that does nothing),
//! `export_metrics_noop` (`MetricsExport`, no recorder installed), `export_prometheus`
//! (`MetricsExport` over the Prometheus recorder) and `export_otel` (`OtelExport` over the
//! OpenTelemetry SDK); `events_metrics_noop`, `events_prometheus` and `events_otel` give the
//! two events of a request that succeeds at once (the attempt's end, the request's end) to
//! each export's retry listener.
//! `validate` makes one call through a validate layer with a response validator.
//! `trace_bare` makes one call on an `http::Request` to a service that answers at once;
//! `trace_off`, `trace_sampled_out` and `trace_every` make the same call through a
//! `TraceLayer` that starts no trace, one that samples 1 request in a million (the
//! first is traced; the two-count method leaves it out), and one that traces every request. Any path
//! prefixed with `info_` (`info_retry`, `info_breaker`, ...) runs under a global subscriber (a
//! tracing-subscriber registry) whose filter keeps `info` and above: it records none of the
//! layers' `debug` spans, and the layers ask it whether to make them.
#[path = "../benches/common/mod.rs"]
mod common;

use common::*;
use tower::{Layer, Service};

fn run<S: Service<u64>>(mut svc: S, n: u64) {
    for i in 0..n {
        std::hint::black_box(call_now(&mut svc, std::hint::black_box(i)));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_default();
    let path = match path.strip_prefix("info_") {
        Some(rest) => {
            use tracing_subscriber::layer::SubscriberExt;
            let subscriber =
                tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO);
            tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
            rest.to_string()
        }
        None => path,
    };
    let n: u64 = args
        .next()
        .map(|s| s.parse().expect("the count is a number"))
        .unwrap_or(1_000_000);
    let b = breaker();
    match path.as_str() {
        "bare" => run(Bare, n),
        "chaos_off" => run(chaos_off(), n),
        "chaos_on" => run(chaos_on_rate_zero(), n),
        "tower_retry" => run(tower_retry(), n),
        "tower_default_like" => run(peers::tower_retry_default_like(Bare), n),
        "retry" => run(steadfast_default(), n),
        "retry_static" => run(steadfast_static(), n),
        "breaker" => run(steadfast_breaker(&b), n),
        "breaker_static" => run(steadfast_static_breaker(), n),
        "breaker_time" => run(steadfast_breaker(&breaker_time()), n),
        "stack" => run(peers::steadfast_stack(&b), n),
        "stack_static" => run(peers::steadfast_stack_static(), n),
        "ratio" => run(
            peers::steadfast_retry_with_budget(std::sync::Arc::new(
                steadfast::retry::RatioBudget::builder().build().unwrap(),
            )),
            n,
        ),
        "ratio_static" => run(peers::steadfast_retry_static_ratio(), n),
        "tower_tps_budget" => run(peers::tower_retry_with_budget(), n),
        "bucket" => run(
            peers::steadfast_retry_with_budget(std::sync::Arc::new(
                steadfast::retry::TokenBucket::builder().build().unwrap(),
            )),
            n,
        ),
        "fleet_bucket" | "fleet_ratio" => {
            // A shared budget's success path: the fleet is never reached (nothing drives the
            // runtime), which the success path does not depend on.
            let rt = runtime();
            let _guard = rt.enter();
            let fleet = steadfast_redis::Fleet::builder("redis://127.0.0.1:1/0")
                .build()
                .unwrap();
            let shared = if path == "fleet_bucket" {
                fleet.share_budget(
                    "profile",
                    steadfast_redis::FleetBudget::token_bucket(500, 5, 1),
                    std::sync::Arc::new(steadfast::retry::TokenBucket::builder().build().unwrap()),
                )
            } else {
                fleet.share_budget(
                    "profile",
                    steadfast_redis::FleetBudget::ratio(0.2, 1000),
                    std::sync::Arc::new(steadfast::retry::RatioBudget::builder().build().unwrap()),
                )
            };
            run(peers::steadfast_retry_with_budget(shared.unwrap()), n)
        }
        "rejected" => {
            b.force_open();
            let mut svc =
                steadfast::circuit_breaker::CircuitBreakerLayer::new(b.clone()).layer(FailOn);
            for i in 0..n {
                std::hint::black_box(call_result(&mut svc, std::hint::black_box(i)).is_err());
            }
        }
        "mid_backoff_dropped" => {
            let rt = runtime();
            let _guard = rt.enter();
            let mut svc = peers::steadfast_retry_fixed(AlwaysFail, peers::LONG_DELAY);
            for _ in 0..n {
                assert!(drop_mid_backoff(&mut svc, token_request()));
            }
        }
        "retry_once" | "tower_retry_once" | "seatbelt_retry_once" => {
            let rt = runtime();
            let _guard = rt.enter();
            let ctx = peers::seatbelt_context::<u64>();
            let mut seatbelt = peers::seatbelt_retry(
                &ctx,
                Flaky::default(),
                peers::Delay::Fixed(std::time::Duration::ZERO),
            );
            let mut svc = peers::steadfast_retry_fixed(Flaky::default(), std::time::Duration::ZERO);
            let mut tower = tower::retry::RetryLayer::new(RetryOnErr).layer(Flaky::default());
            for i in 0..n {
                let i = std::hint::black_box(i);
                let out = match path.as_str() {
                    "retry_once" => call_blocking(&rt, &mut svc, i),
                    "tower_retry_once" => call_blocking(&rt, &mut tower, i),
                    _ => call_blocking(&rt, &mut seatbelt, i),
                };
                assert!(out.is_some());
            }
        }
        "token_new" | "token_child" | "token_grandchild" | "token_child_waited" => {
            token_path(&path, n)
        }
        "cancel_u64" => run(peers::steadfast_timeout(Bare), n),
        "trace_bare" | "trace_off" | "trace_sampled_out" | "trace_every" => {
            type Answer = std::future::Ready<Result<http::Response<u64>, std::convert::Infallible>>;
            fn answer(req: http::Request<u64>) -> Answer {
                std::future::ready(Ok(http::Response::new(req.into_body().wrapping_add(1))))
            }
            if path == "trace_bare" {
                let mut svc = tower::service_fn(answer as fn(_) -> Answer);
                for i in 0..n {
                    let req = http::Request::new(std::hint::black_box(i));
                    std::hint::black_box(call_result(&mut svc, req).is_ok());
                }
                return;
            }
            let layer = match path.as_str() {
                "trace_off" => steadfast::trace::TraceLayer::new(),
                "trace_sampled_out" => steadfast::trace::TraceLayer::sample(1_000_000).unwrap(),
                _ => steadfast::trace::TraceLayer::sample(1).unwrap(),
            };
            let mut svc = layer.layer(tower::service_fn(answer as fn(_) -> Answer));
            for i in 0..n {
                let req = http::Request::new(std::hint::black_box(i));
                std::hint::black_box(call_result(&mut svc, req).is_ok());
            }
        }
        "validate" => run(
            steadfast::validate::ValidateLayer::builder()
                .response_fn(|r: &u64, _| if *r > 0 { Ok(()) } else { Err("zero") })
                .build()
                .expect("valid layer")
                .layer(Bare),
            n,
        ),
        "export_none"
        | "export_empty"
        | "export_metrics_noop"
        | "export_prometheus"
        | "export_otel"
        | "events_metrics_noop"
        | "events_prometheus"
        | "events_otel" => export_path(&path, n),
        "cancel_request" | "cancel_http" | "cancel_http_reuse" => cancel_path(&path, n),
        other => {
            eprintln!("unknown path {other:?}; see the file's docs for the list");
            std::process::exit(2);
        }
    }
}

/// The metrics export paths: see the file's docs.
fn export_path(path: &str, n: u64) {
    use common::export::*;
    use opentelemetry::metrics::MeterProvider as _;
    use steadfast::export::{MetricsExport, OtelExport};

    let recorder = prometheus();
    let provider = otel_provider();
    match path {
        "export_none" => run(stack(None), n),
        "export_empty" => run(stack(Some(std::sync::Arc::new(EmptyListeners))), n),
        "export_metrics_noop" => run(stack(Some(MetricsExport::new().shared())), n),
        "export_prometheus" => run(stack_prometheus(&recorder), n),
        "export_otel" => run(stack_otel(&provider), n),
        _ => {
            let listener =
                match path {
                    "events_metrics_noop" => retry_listener(&MetricsExport::new()),
                    "events_prometheus" => metrics::with_local_recorder(&recorder, || {
                        retry_listener(&MetricsExport::new())
                    }),
                    _ => retry_listener(&OtelExport::new(&provider.meter("profile"))),
                };
            for _ in 0..n {
                success_events(std::hint::black_box(&*listener));
            }
        }
    }
}

/// The cancellation token paths: see the file's docs.
fn token_path(path: &str, n: u64) {
    use std::future::Future;
    use std::hint::black_box;
    use std::task::{Context, Waker};
    use steadfast::token::CancelToken;

    let root = CancelToken::new();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..n {
        match path {
            "token_new" => drop(black_box(CancelToken::new())),
            "token_child" => {
                let child = black_box(root.child());
                assert!(!black_box(&child).is_cancelled());
            }
            "token_grandchild" => {
                let child = black_box(root.child());
                let grandchild = black_box(child.child());
                assert!(!black_box(&grandchild).is_cancelled());
                assert!(black_box(&grandchild).reason().is_none());
            }
            _ => {
                let child = black_box(root.child());
                let mut waiting = std::pin::pin!(child.cancelled());
                assert!(waiting.as_mut().poll(&mut cx).is_pending());
            }
        }
    }
}

/// An HTTP service that answers every request at once with an empty body.
#[derive(Clone, Copy, Debug)]
struct BareHttp;

impl Service<http::Request<()>> for BareHttp {
    type Response = http::Response<String>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(String::new())))
    }
}

/// The cancel paths on `http::Request`: see the file's docs.
fn cancel_path(path: &str, n: u64) {
    use std::hint::black_box;
    use steadfast::cancel::CancelLayer;
    use steadfast::token::CancelToken;
    use steadfast_http::CancelLayerExt;

    let timed = || {
        CancelLayer::builder()
            .timeout(peers::TIMEOUT)
            .build()
            .expect("a valid cancel layer")
    };
    match path {
        "cancel_request" => {
            let mut svc = timed().layer(BareHttp);
            for _ in 0..n {
                let res = call_result(&mut svc, black_box(http::Request::new(())));
                assert!(black_box(res).is_ok());
            }
        }
        "cancel_http" => {
            let mut svc = timed().for_http().layer(BareHttp);
            for _ in 0..n {
                let res = call_result(&mut svc, black_box(http::Request::new(())));
                assert!(black_box(res).is_ok());
            }
        }
        _ => {
            let token = CancelToken::new();
            let mut svc = CancelLayer::new().for_http().layer(BareHttp);
            for _ in 0..n {
                let mut req = http::Request::new(());
                req.extensions_mut().insert(token.clone());
                let res = call_result(&mut svc, black_box(req));
                assert!(black_box(res).is_ok());
            }
        }
    }
}

/// The chaos layer around the bare service, on, with a fault injection whose rate is 0 (as the
/// `chaos` benchmark's `steadfast_on_rate_zero`).
fn chaos_on_rate_zero() -> steadfast::chaos::Chaos<Bare, u64, u64> {
    use steadfast::chaos::{ChaosLayer, ChaosSwitch, FaultInjection};
    ChaosLayer::builder()
        .switch(ChaosSwitch::new(true))
        .seed(1)
        .fault(FaultInjection::chaos().rate(0.0))
        .build()
        .expect("valid layer")
        .layer(Bare)
}
