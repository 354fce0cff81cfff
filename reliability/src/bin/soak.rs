//! The soak: `--requests N` requests (a million by default) at `--concurrency` through
//! steadfast's whole HTTP client stack, against a local axum server whose faults come from
//! steadfast's chaos layer.
//!
//! ```sh
//! cargo run --release -p steadfast-reliability --bin soak -- --requests 50000
//! ```
//!
//! Checks, each printed with its figures; the program exits with status 1 if any fails:
//! 1. every request ended in exactly one answer or one of steadfast's typed errors, and the
//!    counts of the kinds add up to the requests sent;
//! 2. every 2xx answer is the body the server sent (a replayed `POST` body arrived whole);
//! 3. no request ended later than its deadline plus `--slack-ms`;
//! 4. the resident set grew by at most `--max-rss-growth-mib` from the end of the warm-up (the
//!    first 5% of the requests) to the end;
//! 5. once the client and the server are dropped, the runtime's live tasks are back to the
//!    count before the server started.
//!
//! See `steadfast_reliability::soak` for the server, the faults and the client stack, and
//! `docs/reliability.md` for the figures.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, Uri};
use http_body_util::Full;
use steadfast::token::CancelToken;
use steadfast::BoxError;
use steadfast_http::validate::Buffered;
use steadfast_http::WithCancelToken;
use steadfast_reliability::soak::{
    client, ChaosServer, Ending, Settings, SoakClient, Tally, FAULTS, ITEM,
};
use steadfast_reliability::{mib, rss_bytes};
use tokio::runtime::Handle;
use tokio::time::Instant;
use tower::ServiceExt;

/// How long past its deadline a request may run before the soak stops waiting for it and
/// counts it as hung.
const HANG_LIMIT: Duration = Duration::from_secs(5);
/// How long the runtime has to wind down its tasks after the client and server are dropped.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// The body of every `POST /echo`.
const ECHO_BODY: [u8; 256] = [b'x'; 256];
/// What the server answers a whole `POST /echo` with.
const ECHO_ANSWER: &str = r#"{"received":256}"#;

fn main() -> ExitCode {
    let settings = match Settings::from_args(std::env::args().skip(1)) {
        Ok(s) => s,
        Err(problem) => {
            eprintln!("soak: {problem}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak: no runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(soak(settings)) {
        Ok(failed) if failed.is_empty() => {
            println!("\nsoak passed");
            ExitCode::SUCCESS
        }
        Ok(failed) => {
            println!("\nsoak FAILED: {} check(s)", failed.len());
            for f in failed {
                println!("  - {f}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("soak: could not run: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the soak and returns the checks that failed.
async fn soak(settings: Settings) -> Result<Vec<String>, BoxError> {
    let runtime = Handle::current().metrics();
    let tasks_before = runtime.num_alive_tasks();
    let server = ChaosServer::start(&settings).await?;
    let (client, observers) = client(&settings)?;
    let urls = Urls {
        item: format!("http://{}/item", server.addr()).parse()?,
        echo: format!("http://{}/echo", server.addr()).parse()?,
    };
    println!(
        "soak: {} requests, concurrency {}, deadline {:?} (+{:?} slack), attempt timeout {:?}, seed {}",
        settings.requests,
        settings.concurrency,
        settings.deadline,
        settings.slack,
        settings.attempt_timeout,
        settings.seed
    );
    for (fault, rate) in FAULTS {
        println!("  fault {:>5.1}%  {fault}", rate * 100.0);
    }
    if !settings.outage_every.is_zero() {
        println!(
            "  outage: every answer a 503 for {:?} every {:?}",
            settings.outage, settings.outage_every
        );
    }

    let started = Instant::now();
    let warmup = settings.warmup();
    let mut tally = drive(&client, &urls, &settings, 0..warmup).await;
    let rss_warm = rss_bytes();
    tally.merge(&drive(&client, &urls, &settings, warmup..settings.requests).await);
    let elapsed = started.elapsed();
    let rss_end = rss_bytes();

    drop(client);
    server.shutdown();
    let settle_started = Instant::now();
    let mut tasks_after = runtime.num_alive_tasks();
    while tasks_after > tasks_before && settle_started.elapsed() < SETTLE_LIMIT {
        tokio::time::sleep(Duration::from_millis(10)).await;
        tasks_after = runtime.num_alive_tasks();
    }

    // The report.
    let n = settings.requests;
    println!(
        "\n{n} requests in {:.1} s: {:.0} requests/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    for ending in Ending::ALL {
        let count = tally.count(ending);
        println!(
            "  {count:>9}  {:>7.3}%  {ending}",
            count as f64 * 100.0 / n as f64
        );
    }
    println!("  {:>9}  in all", tally.total());
    let retries = observers.retries.snapshot();
    let breaker = observers.breaker.metrics();
    println!(
        "retry layer: {} retries, {} successes after a retry, {} budget refusals, waited {:.1} s in all",
        retries.retries,
        retries.successes_after_retry,
        retries.budget_rejections,
        retries.wait_time.as_secs_f64()
    );
    println!(
        "breaker: opened {} times; {} successes, {} failures ({} invalid answers), {} calls refused",
        observers.breaker_opened.load(Ordering::Relaxed),
        breaker.successes,
        breaker.failures,
        breaker.invalid,
        breaker.rejections
    );
    println!(
        "latest end: {:?} after the deadline ({} past the slack)",
        tally.max_overrun(),
        tally.late()
    );
    let show = |rss: Option<u64>| rss.map_or_else(|| "unknown".to_owned(), mib);
    println!(
        "memory (RSS): {} after the warm-up ({warmup} requests), {} at the end",
        show(rss_warm),
        show(rss_end)
    );
    println!(
        "tasks: {tasks_before} before the server started, {tasks_after} after it stopped ({:.1} s to settle)",
        settle_started.elapsed().as_secs_f64()
    );

    // The checks.
    let mut failed = Vec::new();
    let mut check = |ok: bool, what: String| {
        println!("  {}  {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failed.push(what);
        }
    };
    println!();
    check(
        tally.total() == n,
        format!(
            "the endings add up to the requests sent ({} of {n})",
            tally.total()
        ),
    );
    check(
        tally.count(Ending::Untyped) + tally.count(Ending::Hung) == 0,
        format!(
            "every request ended in an answer or a typed error ({} untyped, {} hung)",
            tally.count(Ending::Untyped),
            tally.count(Ending::Hung)
        ),
    );
    check(
        tally.count(Ending::WrongAnswer) == 0,
        format!(
            "every 2xx answer is what the server sent ({} differ)",
            tally.count(Ending::WrongAnswer)
        ),
    );
    check(
        tally.late() == 0,
        format!(
            "no request ended more than {:?} after its deadline ({} did)",
            settings.slack,
            tally.late()
        ),
    );
    match (rss_warm, rss_end) {
        (Some(warm), Some(end)) => check(
            end.saturating_sub(warm) <= settings.max_rss_growth,
            format!(
                "memory grew by at most {} after the warm-up (changed by {}{})",
                mib(settings.max_rss_growth),
                if end < warm { "-" } else { "+" },
                mib(end.abs_diff(warm))
            ),
        ),
        _ => println!("  skip  memory growth: no resident set size on this platform"),
    }
    check(
        tasks_after == tasks_before,
        format!("the runtime's live tasks are back to {tasks_before} (now {tasks_after})"),
    );
    Ok(failed)
}

struct Urls {
    item: Uri,
    echo: Uri,
}

/// Sends the requests numbered `range`, `settings.concurrency` at a time, and counts how each
/// ended.
async fn drive(
    client: &impl SoakClient,
    urls: &Urls,
    settings: &Settings,
    range: std::ops::Range<u64>,
) -> Tally {
    let next = Arc::new(AtomicU64::new(range.start));
    let progress_every = (settings.requests / 10).max(1);
    let workers: Vec<_> = (0..settings.concurrency)
        .map(|_| {
            let client = client.clone();
            let next = next.clone();
            let (item, echo) = (urls.item.clone(), urls.echo.clone());
            let (end, deadline, slack) = (range.end, settings.deadline, settings.slack);
            let total = settings.requests;
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        break;
                    }
                    if i > 0 && i % progress_every == 0 {
                        eprintln!("  ... {i} of {total} requests sent");
                    }
                    let post = i % 2 == 1;
                    let sent = Instant::now();
                    let due = sent + deadline;
                    let token = CancelToken::with_deadline(due);
                    let req = request(post, i, if post { &echo } else { &item })
                        .with_cancel_token(&token);
                    let result =
                        tokio::time::timeout_at(due + HANG_LIMIT, client.clone().oneshot(req))
                            .await;
                    let overrun = Instant::now().saturating_duration_since(due);
                    let ending = match result {
                        Err(_) => Ending::Hung,
                        Ok(result) => ending(post, &result),
                    };
                    tally.record(ending, overrun);
                    if overrun > slack {
                        tally.record_late();
                    }
                    // A refused request ends without waiting for anything: give the other
                    // tasks (the probe the breaker waits for, the server) their turn.
                    tokio::task::yield_now().await;
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        match worker.await {
            Ok(t) => tally.merge(&t),
            Err(e) => eprintln!("soak: a worker failed: {e}"),
        }
    }
    tally
}

/// Request `i`: a `GET /item`, or a `POST /echo` with a 256-byte body and an idempotency key
/// (so the retry layer may replay it).
fn request(post: bool, i: u64, url: &Uri) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = url.clone();
    if post {
        *req.method_mut() = Method::POST;
        *req.body_mut() = Full::new(Bytes::from_static(&ECHO_BODY));
        if let Ok(key) = HeaderValue::try_from(format!("soak-{i}")) {
            req.headers_mut().insert("idempotency-key", key);
        }
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    req
}

/// How a request ended, with its 2xx body checked against what the server sends.
fn ending(post: bool, result: &Result<Response<Buffered>, BoxError>) -> Ending {
    match (Ending::of(result), result) {
        (Ending::Answered, Ok(res)) => {
            let expected = if post { ECHO_ANSWER } else { ITEM };
            if res.body().bytes() == expected.as_bytes() {
                Ending::Answered
            } else {
                Ending::WrongAnswer
            }
        }
        (ending, _) => ending,
    }
}
