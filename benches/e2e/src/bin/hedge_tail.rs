//! Tail latency over HTTP with and without hedging: a server on 127.0.0.1 whose answers are
//! fast except for a share of stragglers, and a hyper client driving the same requests at a
//! fixed concurrency through no hedging, tower's `hedge`, and steadfast's hedge layer.
//!
//! ```sh
//! hedge_tail [--requests N] [--concurrency C] [--seed S] [--check]
//! ```
//!
//! The server answers 98% of requests after 1 to 5 ms and 2% (the stragglers) after 200 ms,
//! chosen per request by a seeded random number generator (SplitMix64), and counts the requests
//! it receives. Each setup first runs a warm-up of 1.5 s (so that both hedges have seen enough
//! latencies to trust their percentile), then `N` measured requests, `C` in flight at a time.
//! The hedges:
//!
//! - tower's `hedge` at the 95th percentile, its histogram rotated every second, trusted after
//!   20 data points; it has no budget and hedges every request slower than the percentile;
//! - steadfast's latency mode at the 95th percentile of a one-second window, trusted after 20
//!   samples (a [`LatencyHistogram`] of ten slots), paid from a [`RatioBudget`] of 5% extra requests (and its default floor of ten
//!   hedges a second).
//!
//! It prints a markdown table: p50, p99, p99.9 and the slowest request, and the extra requests
//! the server received (beyond `N`). With `--check` it exits non-zero when steadfast's hedge
//! misses its targets grossly: a p99.9 less than 3 times lower than without hedging, or more
//! than 7% extra requests (the targets are 10 times and 5%; `benches/hedge-tail.sh` runs the
//! full version).

// Real time on purpose: a paused clock cannot drive a real server.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::hedge::{HedgeDelay, HedgeEvent, HedgeLayer, HedgeStop, LatencyHistogram};
use steadfast::retry::RatioBudget;
use steadfast::token::CancelToken;
use steadfast::BoxError;
use tokio::task::JoinSet;
use tower::{Layer, Service, ServiceExt};

/// How long a straggler takes.
const SLOW: Duration = Duration::from_millis(200);
/// Stragglers per 10,000 requests.
const SLOW_PER_10K: u64 = 200;
/// The warm-up before each measured run.
const WARM_UP: Duration = Duration::from_millis(1500);

/// What the server holds: the generator's state and the count of requests received.
#[derive(Debug)]
struct Server {
    rng: AtomicU64,
    seen: AtomicU64,
}

/// SplitMix64's output function, applied to the state `fetch_add` handed out: one draw.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

async fn answer(State(server): State<Arc<Server>>) -> &'static str {
    server.seen.fetch_add(1, Ordering::Relaxed);
    let draw = mix(server
        .rng
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed));
    let wait = if draw % 10_000 < SLOW_PER_10K {
        SLOW
    } else {
        // 1 to 5 ms, from the draw's high bits.
        Duration::from_micros(1_000 + (draw >> 32) % 4_000)
    };
    tokio::time::sleep(wait).await;
    "ok"
}

/// Starts the server on a thread and runtime of its own; returns its address and state.
fn start_server(seed: u64) -> Result<(std::net::SocketAddr, Arc<Server>), BoxError> {
    let state = Arc::new(Server {
        rng: AtomicU64::new(seed),
        seen: AtomicU64::new(0),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/", get(answer))
        .with_state(state.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the server");
        rt.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(listener).expect("the listener in tokio");
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok((addr, state))
}

/// A copy of a bodiless request: method, URI, headers and extensions (its token with them).
fn copy(req: &Request<Empty<Bytes>>) -> Option<Request<Empty<Bytes>>> {
    let mut copy = Request::new(Empty::new());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    Some(copy)
}

/// tower's hedge policy: every request may be copied and hedged.
#[derive(Debug, Clone, Copy)]
struct CopyAll;

impl tower::hedge::Policy<Request<Empty<Bytes>>> for CopyAll {
    fn clone_request(&self, req: &Request<Empty<Bytes>>) -> Option<Request<Empty<Bytes>>> {
        copy(req)
    }

    fn can_retry(&self, _req: &Request<Empty<Bytes>>) -> bool {
        true
    }
}

/// Sends requests through `svc`, `concurrency` in flight at a time: `count` of them, or as
/// many as fit in `for_at_least` when it is given. Returns the latencies, sorted.
async fn drive<S>(
    svc: &mut S,
    url: &str,
    count: usize,
    for_at_least: Option<Duration>,
    concurrency: usize,
) -> Result<Vec<Duration>, BoxError>
where
    S: Service<Request<Empty<Bytes>>, Response = Response<hyper::body::Incoming>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    let mut latencies = Vec::with_capacity(count);
    let mut sent = 0;
    loop {
        let more = match for_at_least {
            Some(d) => started.elapsed() < d,
            None => sent < count,
        };
        if !more && in_flight.is_empty() {
            break;
        }
        if more && in_flight.len() < concurrency {
            let mut req = Request::get(url).body(Empty::new())?;
            req.extensions_mut().insert(CancelToken::new());
            let start = Instant::now();
            let call = svc.ready().await.map_err(Into::into)?.call(req);
            in_flight.spawn(async move {
                let res = call.await.map_err(Into::into)?;
                let body = res.into_body().collect().await?.to_bytes();
                if body != "ok" {
                    return Err::<Duration, BoxError>("unexpected answer".into());
                }
                Ok(start.elapsed())
            });
            sent += 1;
            continue;
        }
        if let Some(done) = in_flight.join_next().await {
            latencies.push(done??);
        }
    }
    latencies.sort();
    Ok(latencies)
}

/// One setup's figures.
#[derive(Debug)]
struct Figures {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
    extra: u64,
    requests: usize,
}

impl Figures {
    fn extra_share(&self) -> f64 {
        self.extra as f64 / self.requests as f64
    }
}

/// The nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Warms `svc` up, then measures `requests` requests through it.
async fn measure<S>(
    mut svc: S,
    url: &str,
    server: &Server,
    requests: usize,
    concurrency: usize,
) -> Result<Figures, BoxError>
where
    S: Service<Request<Empty<Bytes>>, Response = Response<hyper::body::Incoming>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    drive(&mut svc, url, 0, Some(WARM_UP), concurrency).await?;
    // Let a cancelled loser's request, if it was on its way, reach the server before counting.
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.seen.store(0, Ordering::Relaxed);
    let sorted = drive(&mut svc, url, requests, None, concurrency).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let seen = server.seen.load(Ordering::Relaxed);
    Ok(Figures {
        p50: percentile(&sorted, 0.5),
        p99: percentile(&sorted, 0.99),
        p999: percentile(&sorted, 0.999),
        max: sorted[sorted.len() - 1],
        extra: seen.saturating_sub(requests as u64),
        requests,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn row(name: &str, f: &Figures) {
    println!(
        "| {name} | {} | {} | {} | {} | {} ({:.2}%) |",
        ms(f.p50),
        ms(f.p99),
        ms(f.p999),
        ms(f.max),
        f.extra,
        f.extra_share() * 100.0
    );
}

fn usage() -> ! {
    eprintln!("usage: hedge_tail [--requests N] [--concurrency C] [--seed S] [--check]");
    std::process::exit(2);
}

fn main() -> Result<(), BoxError> {
    let (mut requests, mut concurrency, mut seed, mut check) = (20_000, 32, 1, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--requests" => requests = value().parse()?,
            "--concurrency" => concurrency = value().parse()?,
            "--seed" => seed = value().parse()?,
            "--check" => check = true,
            _ => usage(),
        }
    }
    if requests == 0 || concurrency == 0 {
        usage();
    }
    let (addr, server) = start_server(seed)?;
    let url = format!("http://{addr}/");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

        let none = measure(client.clone(), &url, &server, requests, concurrency).await?;

        let tower = tower::hedge::Hedge::new::<Request<Empty<Bytes>>>(
            client.clone(),
            CopyAll,
            20,
            0.95,
            Duration::from_secs(1),
        );
        let tower = measure(tower, &url, &server, requests, concurrency).await?;

        let histogram = Arc::new(LatencyHistogram::new(Duration::from_secs(1), 10));
        let refused = Arc::new(AtomicU64::new(0));
        let hedge = HedgeLayer::builder()
            .delay(
                HedgeDelay::percentile(0.95)
                    .histogram(histogram.clone())
                    .min_samples(20),
            )
            .budget(Arc::new(RatioBudget::builder().ratio(0.05).build()?))
            .clone_requests_with(copy)
            .on_event({
                let refused = refused.clone();
                move |e: &HedgeEvent| {
                    if let HedgeEvent::Stopped {
                        reason: HedgeStop::BudgetExhausted,
                    } = e
                    {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .build()?;
        let steadfast = measure(
            hedge.layer(client.clone()),
            &url,
            &server,
            requests,
            concurrency,
        )
        .await?;

        println!(
            "{requests} requests, {concurrency} in flight, 2% of answers after 200 ms, \
             the others after 1 to 5 ms (seed {seed})"
        );
        println!();
        println!("| hedging | p50 | p99 | p99.9 | max | extra requests |");
        println!("|---|---:|---:|---:|---:|---:|");
        row("none", &none);
        row("tower `hedge` (p95)", &tower);
        row("steadfast, latency mode (p95, budget 5%)", &steadfast);
        println!();
        let cut = none.p999.as_secs_f64() / steadfast.p999.as_secs_f64();
        let vs_tower = tower.p999.as_secs_f64() / steadfast.p999.as_secs_f64();
        println!(
            "steadfast: p99.9 {cut:.1}x lower than without hedging, {vs_tower:.2}x lower than \
             tower's, for {:.2}% extra requests (tower's: {:.2}%)",
            steadfast.extra_share() * 100.0,
            tower.extra_share() * 100.0
        );
        if let Some(delay) = histogram.percentile(0.95) {
            println!(
                "steadfast's hedge delay at the end (its p95 over the last second): {delay:.1?}; \
                 hedges its budget refused (warm-up included): {}",
                refused.load(Ordering::Relaxed)
            );
        }
        if check && (cut < 3.0 || steadfast.extra_share() > 0.07) {
            eprintln!(
                "hedging missed its targets grossly: p99.9 {cut:.1}x lower (want 10x, fail \
                 under 3x), {:.2}% extra requests (want at most 5%, fail over 7%)",
                steadfast.extra_share() * 100.0
            );
            std::process::exit(1);
        }
        Ok(())
    })
}
