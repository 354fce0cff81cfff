//! Five instances (each its own runtime, thread and Redis client) against one failing backend,
//! with and without sharing, on a real `redis-server` on 127.0.0.1. Real time: the paused clock
//! cannot drive Redis. Run with `--nocapture` to see the figures.

// Real time on purpose: the paused clock cannot drive a Redis server.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer, SlidingWindow};
use steadfast::retry::{RetryBudget, TokenBucket};
use steadfast_redis::{Fleet, FleetBudget};
use steadfast_test::redis::RedisServer;
use tower::{service_fn, Layer, ServiceExt};

const INSTANCES: usize = 5;
mod common;
use common::{fleet, local_breaker as lone_breaker, SYNC};
const OPEN_FOR: Duration = Duration::from_millis(300);
const FLEET_MIN_CALLS: u32 = 20;

/// Every call that reached the backend, by when it arrived.
#[derive(Default)]
struct Backend {
    calls: Mutex<Vec<Instant>>,
}

struct Run {
    /// When each instance first rejected a call.
    first_open: Vec<Duration>,
    /// Backend calls, as offsets from the start.
    calls: Vec<Duration>,
    /// Fleet generation when the instance first rejected, and at the end (shared only).
    generations: Vec<(u64, u64)>,
    permits: u64,
}

fn local_breaker(i: usize) -> CircuitBreaker {
    let _ = i;
    CircuitBreaker::builder()
        .name("backend")
        .failure_rate(50.0)
        .minimum_calls(20)
        .window(SlidingWindow::count(20))
        .open_for(OPEN_FOR)
        .half_open_max_calls(1)
        .build()
        .unwrap()
}

fn fleet_run(url: Option<String>, duration: Duration) -> Run {
    let backend = Arc::new(Backend::default());
    let start_line = Arc::new(Barrier::new(INSTANCES));
    let start = Arc::new(Mutex::new(None::<Instant>));
    let handles: Vec<_> = (0..INSTANCES)
        .map(|i| {
            let backend = backend.clone();
            let url = url.clone();
            let start_line = start_line.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let breaker = local_breaker(i);
                    let shared = url.map(|url| {
                        let fleet = Fleet::builder(url)
                            .namespace("fleet-test")
                            .sync_interval(SYNC)
                            .build()
                            .unwrap();
                        fleet
                            .share_breaker(breaker.clone())
                            .failure_rate(50.0)
                            .minimum_calls(FLEET_MIN_CALLS)
                            .window(Duration::from_secs(10))
                            .open_for(OPEN_FOR)
                            .probes(1)
                            .half_open_timeout(Duration::from_secs(2))
                            .start()
                            .unwrap()
                    });
                    // Let every instance connect and subscribe before the backend fails.
                    tokio::time::sleep(SYNC * 3).await;
                    let gate = backend.clone();
                    let svc = CircuitBreakerLayer::new(breaker.clone()).layer(service_fn(
                        move |_: ()| {
                            gate.calls.lock().unwrap().push(Instant::now());
                            async { Err::<(), _>(std::io::Error::other("backend down")) }
                        },
                    ));
                    start_line.wait();
                    let t0 = *start.lock().unwrap().get_or_insert_with(Instant::now);
                    let mut first_open = None;
                    let mut gen_open = 0;
                    while t0.elapsed() < duration {
                        let r = svc.clone().oneshot(()).await;
                        if first_open.is_none()
                            && r.is_err_and(|e| e.is::<steadfast::circuit_breaker::Rejected>())
                        {
                            first_open = Some(t0.elapsed());
                            gen_open = shared.as_ref().map_or(0, |s| s.stats().generation);
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let (gen_end, permits) = shared
                        .as_ref()
                        .map_or((0, 0), |s| (s.stats().generation, s.stats().permits));
                    (
                        first_open.unwrap_or(duration),
                        (gen_open, gen_end),
                        permits,
                        t0,
                    )
                })
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let t0 = results[0].3;
    let calls = backend
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.saturating_duration_since(t0))
        .collect();
    Run {
        first_open: results.iter().map(|r| r.0).collect(),
        generations: results.iter().map(|r| r.1).collect(),
        permits: results.iter().map(|r| r.2).sum(),
        calls,
    }
}

struct Figures {
    failed_before_all_open: usize,
    all_open: Duration,
    crossing: Duration,
    probes: usize,
    probe_seconds: f64,
}

fn figures(run: &Run) -> Figures {
    let all_open = *run.first_open.iter().max().unwrap();
    let mut calls = run.calls.clone();
    calls.sort();
    Figures {
        failed_before_all_open: calls.iter().filter(|t| **t < all_open).count(),
        all_open,
        crossing: calls
            .get(FLEET_MIN_CALLS as usize - 1)
            .copied()
            .unwrap_or_default(),
        probes: calls.iter().filter(|t| **t >= all_open).count(),
        probe_seconds: (Duration::from_millis(2000).saturating_sub(all_open)).as_secs_f64(),
    }
}

#[test]
fn a_shared_breaker_opens_the_fleet_together_and_probes_once_per_period() {
    let server = RedisServer::start();
    let alone = figures(&fleet_run(None, Duration::from_millis(2000)));
    let run = fleet_run(Some(server.url()), Duration::from_millis(2000));
    let shared = figures(&run);
    let periods = run
        .generations
        .iter()
        .map(|(open, end)| end.saturating_sub(*open) / 2)
        .max()
        .unwrap();
    println!(
        "without sharing: {} failed calls reached the backend before all {INSTANCES} were open, \
         all open after {:?}, {} probes in {:.2} s",
        alone.failed_before_all_open, alone.all_open, alone.probes, alone.probe_seconds
    );
    println!(
        "with sharing:    {} failed calls before all open, all open after {:?} (fleet crossed \
         its threshold at {:?}: {:?} later), {} probes in {:.2} s, {} fleet half-open periods, \
         {} permits",
        shared.failed_before_all_open,
        shared.all_open,
        shared.crossing,
        shared.all_open.saturating_sub(shared.crossing),
        shared.probes,
        shared.probe_seconds,
        periods,
        run.permits
    );
    assert!(
        shared.failed_before_all_open < alone.failed_before_all_open,
        "sharing opens the fleet on the fleet's calls: {} vs {}",
        shared.failed_before_all_open,
        alone.failed_before_all_open
    );
    assert!(
        shared.all_open.saturating_sub(shared.crossing) <= SYNC * 3,
        "all open within a sync interval (plus scheduling slack) of the fleet crossing"
    );
    // One probe permit per fleet half-open period, and a local limit of one probe.
    assert!(periods >= 1, "the fleet went half-open at least once");
    assert!(
        shared.probes as u64 <= periods + 1,
        "{} probes in {periods} periods",
        shared.probes
    );
    assert!(shared.probes < alone.probes);
}

/// Retries per request under total outage: five local budgets give five budgets' worth; one
/// fleet budget gives one.
#[test]
fn a_shared_budget_bounds_the_fleets_retries() {
    let server = RedisServer::start();
    let retries = |shared: bool| -> (u64, u64) {
        let requests = Arc::new(AtomicU64::new(0));
        let retries = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(Barrier::new(INSTANCES));
        let handles: Vec<_> = (0..INSTANCES)
            .map(|_| {
                let (requests, retries, ready) = (requests.clone(), retries.clone(), ready.clone());
                let url = server.url();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        // 100 tokens, 5 a retry: 20 retries.
                        let local: Arc<dyn RetryBudget> = Arc::new(
                            TokenBucket::builder()
                                .capacity(100)
                                .retry_cost(5)
                                .build()
                                .unwrap(),
                        );
                        let budget: Arc<dyn RetryBudget> = if shared {
                            let fleet = Fleet::builder(url)
                                .namespace("budget-test")
                                .sync_interval(SYNC)
                                .build()
                                .unwrap();
                            let b = fleet
                                .share_budget(
                                    "backend",
                                    FleetBudget::token_bucket(100, 5, 1).lease(2),
                                    local,
                                )
                                .unwrap();
                            while !b.is_shared() {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            b
                        } else {
                            local
                        };
                        ready.wait();
                        let t0 = Instant::now();
                        while t0.elapsed() < Duration::from_millis(600) {
                            // A request to a backend that is down: up to three retries.
                            budget.deposit();
                            requests.fetch_add(1, Ordering::Relaxed);
                            for _ in 0..3 {
                                if !budget.withdraw() {
                                    break;
                                }
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    })
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        (
            requests.load(Ordering::Relaxed),
            retries.load(Ordering::Relaxed),
        )
    };
    let (req_alone, alone) = retries(false);
    let (req_shared, shared) = retries(true);
    println!(
        "retries under total outage: without sharing {alone} for {req_alone} requests ({:.3} a \
         request), with sharing {shared} for {req_shared} requests ({:.3} a request); the fleet \
         budget is 20",
        alone as f64 / req_alone as f64,
        shared as f64 / req_shared as f64
    );
    assert_eq!(alone, 100, "five budgets of 20");
    assert!(shared <= 20, "one fleet budget of 20, got {shared}");
    assert!(
        shared >= 15,
        "the fleet's retries were leased out, got {shared}"
    );
}

/// Redis stopped, restarted, and slow: the request path never fails or waits because of it,
/// the outage is told once, and sharing resumes.
#[test]
fn redis_faults_never_reach_the_request_path() {
    let mut server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fleet = rt.block_on(async { fleet(&server, "fault-test") });
    let shared = rt.block_on(async {
        fleet
            .share_breaker(local_breaker(0))
            .minimum_calls(100)
            .start()
            .unwrap()
    });
    let budget = rt.block_on(async {
        let local = Arc::new(TokenBucket::builder().build().unwrap());
        fleet
            .share_budget("faults", FleetBudget::token_bucket(500, 5, 1), local)
            .unwrap()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let worst = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, worst, failures, calls) =
            (stop.clone(), worst.clone(), failures.clone(), calls.clone());
        let breaker = shared.breaker().clone();
        let budget = budget.clone();
        rt.spawn(async move {
            let svc = CircuitBreakerLayer::new(breaker)
                .layer(service_fn(|_: ()| async { Ok::<_, std::io::Error>(()) }));
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                budget.deposit();
                if svc.clone().oneshot(()).await.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                budget.on_success(1);
                let _ = budget.withdraw();
                worst.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        let t = Instant::now();
        while !cond() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "timed out waiting: {what}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for("first sync", &|| {
        shared.stats().syncs > 0 && budget.is_shared()
    });
    assert_eq!(fleet.status().outages, 0);

    server.stop();
    wait_for("outage noticed, the local budget deciding", &|| {
        !fleet.status().online && !budget.is_shared()
    });
    std::thread::sleep(SYNC * 6);
    assert_eq!(fleet.status().outages, 1, "one outage, told once");

    server.restart();
    let syncs = shared.stats().syncs;
    wait_for("sharing resumed after a restart", &|| {
        fleet.status().online && shared.stats().syncs > syncs + 2 && budget.is_shared()
    });

    // Slow: every command waits behind a `DEBUG SLEEP`.
    let before = fleet.status().outages;
    let slow = {
        let port = server.port();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::io::Write::write_all(&mut s, b"DEBUG SLEEP 0.6\r\n").unwrap();
            let mut buf = [0u8; 16];
            let _ = std::io::Read::read(&mut s, &mut buf);
        })
    };
    wait_for("slow Redis noticed", &|| fleet.status().outages > before);
    slow.join().unwrap();
    let syncs = shared.stats().syncs;
    wait_for("sharing resumed after the slow spell", &|| {
        fleet.status().online && shared.stats().syncs > syncs + 2
    });

    stop.store(true, Ordering::Relaxed);
    rt.block_on(load).unwrap();
    let worst = Duration::from_micros(worst.load(Ordering::Relaxed));
    println!(
        "faults: {} calls, {} failed, slowest {:?}; {:?}",
        calls.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        worst,
        fleet.status()
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no call failed because of Redis"
    );
    assert!(
        worst < Duration::from_millis(50),
        "no call waited on Redis (slowest {worst:?}, Redis timeout 100 ms, slow spell 600 ms)"
    );
}

/// While the fleet holds a breaker open, a Redis restart (which loses the shared state) does
/// not close it, and a Redis that stays away leaves the local breaker to probe on its own.
#[test]
fn an_outage_leaves_an_open_breaker_to_its_local_rules() {
    let mut server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fleet = fleet(&server, "outage-test");
        let breaker = lone_breaker();
        let shared = fleet
            .share_breaker(breaker.clone())
            .minimum_calls(5)
            .open_for(Duration::from_secs(1))
            .half_open_timeout(Duration::from_secs(2))
            .start()
            .unwrap();
        let svc = CircuitBreakerLayer::new(breaker.clone()).layer(service_fn(|_: ()| async {
            Err::<(), _>(std::io::Error::other("down"))
        }));
        tokio::time::sleep(SYNC * 2).await;
        // Five failures: the local breaker (minimum 100 calls) stays closed, the fleet opens.
        for _ in 0..5 {
            let _ = svc.clone().oneshot(()).await;
        }
        let t = Instant::now();
        while !breaker.state().rejects() {
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "the fleet opened the breaker"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let opened = t.elapsed();

        server.restart();
        tokio::time::sleep(SYNC * 6).await;
        assert!(
            breaker.check().is_err(),
            "a restarted Redis, with no state, does not close what the fleet opened"
        );
        assert!(shared.stats().syncs > 0);

        server.stop();
        // The fleet's open time (1 s) plus two sync intervals: then the local breaker admits a
        // probe by itself.
        tokio::time::sleep(Duration::from_millis(1100).saturating_sub(opened) + SYNC * 3).await;
        assert!(
            breaker.check().is_ok(),
            "with Redis away, the local breaker probes on its own once the open time is over"
        );
        assert!(!fleet.status().online);
    });
}
