//! The steadfast demo: a retrying hyper client against a flaky local HTTP server.
//!
//! ```sh
//! cargo run -p steadfast-examples --example demo
//! ```
//!
//! The demo starts an HTTP/1 server on `127.0.0.1` (a port the OS picks) where every path
//! answers from its own fixed script: some 503s, a 429 asking for `Retry-After: 1`, a response
//! too slow for the client's timeout, a 404, connections that hang up, and finally 200s. A
//! hyper client wrapped in [`RetryLayer`] then sends one GET per path and narrates every
//! attempt, every delay the policy chose and how each request ended. At the end it prints the
//! [`RetryMetrics`] counters and checks that everything it showed really happened: if a check
//! fails, it exits with status 1.
//!
//! The layers, outermost first:
//!
//! ```text
//! RetryLayer        policy: 4 attempts, exponential backoff with seeded jitter,
//!                   Retry-After honoured up to 200 ms, a classifier for HTTP statuses
//!   attempt log     prints each attempt (this file)
//!     Timeout       250 ms per attempt
//!       hyper-util legacy Client
//! ```
//!
//! Colours are plain ANSI escape codes, switched off when stdout is not a terminal or when
//! `NO_COLOR` is set.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use steadfast::classify::{find_source, Attempt, Outcome};
use steadfast::retry::{
    Backoff, Jitter, RetryError, RetryEvent, RetryLayer, RetryMetrics, RetryMetricsSnapshot,
    RetryPolicy, StopReason,
};
use steadfast::token::{CancelReason, CancelToken};
use steadfast::BoxError;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tower::timeout::error::Elapsed;
use tower::timeout::Timeout;
use tower::{Service, ServiceBuilder, ServiceExt};

// ---------------------------------------------------------------------------------------------
// Settings. Small delays keep the whole demo well under a second or two.
// ---------------------------------------------------------------------------------------------

/// Attempts per request, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// The first backoff delay; it doubles for each retry.
const BACKOFF_BASE: Duration = Duration::from_millis(20);
/// The backoff cap (applied before jitter).
const BACKOFF_CAP: Duration = Duration::from_millis(160);
/// Seed of the jitter: the same delays on every run.
const SEED: u64 = 7;
/// The longest `Retry-After` the client honours.
const MAX_HINT: Duration = Duration::from_millis(200);
/// How long one attempt may take before the client gives up on it.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the server's slow answer takes: far beyond the timeout.
const SLOW: Duration = Duration::from_secs(3);
/// The whole demo must finish within this, or it fails.
const DEMO_LIMIT: Duration = Duration::from_secs(30);
/// Why the export request is cancelled.
const CANCEL_MESSAGE: &str = "the user closed the export dialog";

// ---------------------------------------------------------------------------------------------
// Colours
// ---------------------------------------------------------------------------------------------

fn colours_on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
}

fn paint(code: &str, text: impl Display) -> String {
    if colours_on() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn bold(t: impl Display) -> String {
    paint("1", t)
}
fn dim(t: impl Display) -> String {
    paint("2", t)
}
fn red(t: impl Display) -> String {
    paint("31", t)
}
fn green(t: impl Display) -> String {
    paint("32", t)
}
fn yellow(t: impl Display) -> String {
    paint("33", t)
}
fn blue(t: impl Display) -> String {
    paint("34", t)
}
fn magenta(t: impl Display) -> String {
    paint("35", t)
}
fn cyan(t: impl Display) -> String {
    paint("36", t)
}

/// A duration for people: `18.2ms`, `1.25s`.
fn ms(d: Duration) -> String {
    let (value, unit, decimals) = if d < Duration::from_secs(1) {
        (d.as_secs_f64() * 1000.0, "ms", 1)
    } else {
        (d.as_secs_f64(), "s", 2)
    };
    if value.fract() == 0.0 {
        format!("{value:.0}{unit}")
    } else {
        format!("{value:.decimals$}{unit}")
    }
}

/// An error and its `source()` chain on one line.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The flaky server
// ---------------------------------------------------------------------------------------------

/// What the server does with one request.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// 200 with a short body.
    Ok,
    /// An empty-handed answer with this status.
    Status(StatusCode),
    /// 429 with `Retry-After: <seconds>`.
    TooMany { retry_after_secs: u64 },
    /// 200, but only after `SLOW`.
    Slow,
    /// Closes the connection without answering.
    HangUp,
}

impl Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Ok => f.write_str("200"),
            Step::Status(s) => write!(f, "{}", s.as_u16()),
            Step::TooMany { retry_after_secs } => {
                write!(f, "429 (Retry-After: {retry_after_secs})")
            }
            Step::Slow => write!(f, "200 after {}", ms(SLOW)),
            Step::HangUp => f.write_str("hang up"),
        }
    }
}

/// One path's script: the n-th request gets `steps[n]`; the last step repeats forever.
struct Route {
    path: &'static str,
    about: &'static str,
    steps: &'static [Step],
}

impl Route {
    fn script(&self) -> String {
        let mut s: Vec<String> = self.steps.iter().map(Step::to_string).collect();
        if let Some(last) = s.last_mut() {
            last.push_str(" …");
        }
        s.join(" → ")
    }
}

const UNAVAILABLE: Step = Step::Status(StatusCode::SERVICE_UNAVAILABLE);

/// Every path the server knows, in the order the client visits them.
const ROUTES: &[Route] = &[
    Route {
        path: "/health",
        about: "healthy from the start",
        steps: &[Step::Ok],
    },
    Route {
        path: "/inventory",
        about: "overloaded twice, then fine",
        steps: &[UNAVAILABLE, UNAVAILABLE, Step::Ok],
    },
    Route {
        path: "/quote",
        about: "rate limited once: the server asks for 1 s, longer than we allow",
        steps: &[
            Step::TooMany {
                retry_after_secs: 1,
            },
            Step::Ok,
        ],
    },
    Route {
        path: "/report",
        about: "the first answer is too slow for the 250 ms timeout",
        steps: &[Step::Slow, Step::Ok],
    },
    Route {
        path: "/admin",
        about: "not found: a 4xx is final",
        steps: &[Step::Status(StatusCode::NOT_FOUND)],
    },
    Route {
        path: "/ledger",
        about: "never recovers: 5xx and dropped connections until attempts run out",
        steps: &[
            UNAVAILABLE,
            Step::HangUp,
            Step::Status(StatusCode::BAD_GATEWAY),
            Step::HangUp,
        ],
    },
    Route {
        path: "/export",
        about: "down, and the caller cancels while the client waits to retry",
        steps: &[UNAVAILABLE],
    },
];

fn route(path: &str) -> &'static Route {
    ROUTES
        .iter()
        .find(|r| r.path == path)
        .expect("every path the demo visits has a script")
}

/// The server's memory: how many requests each path has received.
#[derive(Default)]
struct Hits(Mutex<HashMap<&'static str, u32>>);

impl Hits {
    /// Counts a request to `path` and returns its script's step for it.
    fn next_step(&self, path: &str) -> Option<(Step, u32)> {
        let route = ROUTES.iter().find(|r| r.path == path)?;
        let mut hits = self.0.lock().unwrap();
        let n = hits.entry(route.path).or_default();
        *n += 1;
        let step = route.steps[(*n as usize - 1).min(route.steps.len() - 1)];
        Some((step, *n))
    }

    fn get(&self, path: &str) -> u32 {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res
}

async fn answer(
    hits: Arc<Hits>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().to_owned();
    let Some((step, n)) = hits.next_step(&path) else {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            format!("no script for {path}"),
        ));
    };
    match step {
        Step::Ok => Ok(plain(
            StatusCode::OK,
            format!("{path} answered request #{n}"),
        )),
        Step::Status(status) => Ok(plain(status, String::new())),
        Step::TooMany { retry_after_secs } => {
            let mut res = plain(StatusCode::TOO_MANY_REQUESTS, String::new());
            res.headers_mut()
                .insert(RETRY_AFTER, retry_after_secs.to_string().parse().unwrap());
            Ok(res)
        }
        Step::Slow => {
            tokio::time::sleep(SLOW).await;
            Ok(plain(
                StatusCode::OK,
                format!("{path} answered request #{n}, late"),
            ))
        }
        // hyper closes the connection when the service fails: the client sees it drop.
        Step::HangUp => Err(std::io::Error::other("scripted hang-up")),
    }
}

/// Starts the server; returns its address and its hit counters.
async fn start_server() -> std::io::Result<(std::net::SocketAddr, Arc<Hits>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let hits = Arc::new(Hits::default());
    let counters = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let hits = counters.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(hits.clone(), req));
                // A scripted hang-up ends the connection with an error: expected.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, hits))
}

// ---------------------------------------------------------------------------------------------
// The client's journal: what the attempt log and the retry listener saw
// ---------------------------------------------------------------------------------------------

/// A retry the policy scheduled, as its listener reported it.
#[derive(Debug, Clone)]
struct RetryNote {
    delay: Duration,
    hint: Option<Duration>,
    timed_out: bool,
}

#[derive(Default)]
struct Journal {
    /// Attempts that reached the transport for the current request.
    attempts: u32,
    /// Retries scheduled for the current request.
    retries: Vec<RetryNote>,
    /// Every `RetryEvent::Retry` seen.
    retry_events: u64,
    /// Fired (with the chosen delay) by the next retry event, if armed.
    cancel_trigger: Option<oneshot::Sender<Duration>>,
}

type SharedJournal = Arc<Mutex<Journal>>;

/// The retry policy's listener: narrates the layer's decisions.
fn on_retry_event(journal: &SharedJournal, event: &RetryEvent<'_>) {
    match *event {
        RetryEvent::Retry {
            attempt,
            delay,
            outcome,
            error,
            ..
        } => {
            let hint = outcome.hint();
            let why = match hint {
                Some(h) if h > delay => {
                    format!("server asked for {}, clamped by max_hint", ms(h))
                }
                Some(_) => "as the server asked".to_owned(),
                None => "exponential backoff + jitter".to_owned(),
            };
            println!(
                "     {} waiting {} before attempt {}  {}",
                yellow("↻"),
                bold(yellow(ms(delay))),
                attempt + 1,
                dim(format!("({why})"))
            );
            let mut j = journal.lock().unwrap();
            j.retry_events += 1;
            j.retries.push(RetryNote {
                delay,
                hint,
                timed_out: error.is_some_and(|e| find_source::<Elapsed>(e).is_some()),
            });
            if let Some(trigger) = j.cancel_trigger.take() {
                let _ = trigger.send(delay);
            }
        }
        RetryEvent::Success { attempts, elapsed } => println!(
            "     {} recovered on attempt {attempts}, {} after the first started",
            green("✔"),
            ms(elapsed)
        ),
        RetryEvent::GiveUp {
            attempts, reason, ..
        } => println!(
            "     {} retry layer gives up after {attempts} attempt{}: {}",
            red("✘"),
            if attempts == 1 { "" } else { "s" },
            red(reason)
        ),
        RetryEvent::BudgetExhausted { attempts } => println!(
            "     {} retry budget empty after {attempts} attempts",
            red("✘")
        ),
        _ => {}
    }
}

/// Prints one attempt as the transport saw it.
fn log_attempt(n: u32, took: Duration, result: &Result<Response<Incoming>, BoxError>) {
    let what = match result {
        Ok(res) => {
            let status = res.status();
            let text = format!("{status}");
            if status.is_success() {
                green(text)
            } else if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
                magenta(text)
            } else {
                red(text)
            }
        }
        Err(e) => red(format!("error: {}", chain(&**e))),
    };
    println!(
        "     {} attempt {n} → {what}  {}",
        blue("•"),
        dim(format!("({})", ms(took)))
    );
}

// ---------------------------------------------------------------------------------------------
// The retry policy
// ---------------------------------------------------------------------------------------------

type Req = Request<Full<Bytes>>;

/// `Retry-After: <seconds>` (the HTTP-date form is not used by this server).
fn retry_after(res: &Response<Incoming>) -> Option<Duration> {
    let secs = res
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// What to retry. Only safe to use like this for idempotent requests (the demo sends GETs).
fn classify_http(_: &Attempt<'_, Req>, result: Result<&Response<Incoming>, &BoxError>) -> Outcome {
    match result {
        // Connection failures, hang-ups and per-attempt timeouts are transient.
        Err(_) => Outcome::retryable(),
        Ok(res) => match res.status() {
            StatusCode::TOO_MANY_REQUESTS => match retry_after(res) {
                Some(delay) => Outcome::retry_after(delay),
                None => Outcome::retryable(),
            },
            s if s.is_server_error() => Outcome::retryable(),
            s if s.is_client_error() => Outcome::NonRetryable,
            _ => Outcome::Success,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Checks: everything the demo shows is verified
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Checks {
    passed: usize,
    failed: Vec<String>,
}

impl Checks {
    fn expect(&mut self, ok: bool, what: impl Display) {
        if ok {
            self.passed += 1;
            println!("       {} {}", green("✓"), dim(&what));
        } else {
            println!("       {} {}", red("✗"), red(bold(&what)));
            self.failed.push(what.to_string());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sending one request
// ---------------------------------------------------------------------------------------------

/// How one request ended, for the checks and the summary.
struct Finished {
    path: &'static str,
    attempts: u32,
    retries: Vec<RetryNote>,
    took: Duration,
    result: Result<(StatusCode, String), BoxError>,
}

impl Finished {
    fn status(&self) -> Option<StatusCode> {
        self.result.as_ref().ok().map(|(s, _)| *s)
    }

    fn retry_error(&self) -> Option<&RetryError> {
        self.result.as_ref().err()?.downcast_ref::<RetryError>()
    }

    fn verdict(&self) -> String {
        match &self.result {
            Ok((s, _)) if s.is_success() => green(s),
            Ok((s, _)) => magenta(s),
            Err(e) => match e.downcast_ref::<RetryError>() {
                Some(r) if r.is_cancelled() => yellow("cancelled"),
                Some(r) if r.reason() == &StopReason::AttemptsExhausted => {
                    red("gave up (attempts exhausted)")
                }
                Some(r) => red(format!("gave up ({})", r.reason())),
                None => red("error"),
            },
        }
    }
}

fn print_retry_error(e: &RetryError) {
    println!("     {} {}", bold(red("⇒ RetryError:")), e);
    println!("         {}  {}", dim("attempts"), e.attempts());
    println!("         {}   {}", dim("elapsed"), ms(e.elapsed()));
    println!("         {}    {}", dim("reason"), e.reason());
    println!("         {}", dim("history"));
    for rec in e.history() {
        let mut line = format!(
            "#{}  {} at {}",
            rec.number,
            rec.outcome,
            ms(rec.finished_at)
        );
        if let Some(err) = &rec.error {
            line.push_str(&format!(": {err}"));
        }
        if let Some(d) = rec.delay_after {
            line.push_str(&format!(", then waited {}", ms(d)));
        }
        println!("           {line}");
    }
    match std::error::Error::source(e) {
        Some(src) => {
            println!("         {}    {}", dim("source"), src);
            let mut cur = src.source();
            while let Some(cause) = cur {
                println!("         {}  {}", dim("caused by"), cause);
                cur = cause.source();
            }
        }
        None => println!(
            "         {}    {}",
            dim("source"),
            dim("none (the last attempt was a response, or none failed with an error)")
        ),
    }
}

async fn fetch<S>(
    client: &S,
    journal: &SharedJournal,
    base: &str,
    index: usize,
    path: &'static str,
    token: Option<CancelToken>,
) -> Finished
where
    S: Service<Req, Response = Response<Incoming>, Error = BoxError> + Clone,
{
    let route = route(path);
    println!();
    println!(
        "{} {} {}  {}",
        cyan(format!("[{}/{}]", index + 1, ROUTES.len())),
        bold("GET"),
        bold(path),
        dim(format!("— {}", route.about))
    );
    println!("     {} {}", dim("script:"), dim(route.script()));
    {
        let mut j = journal.lock().unwrap();
        j.attempts = 0;
        j.retries.clear();
    }

    let mut req = Request::get(format!("{base}{path}"))
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    if let Some(token) = token {
        req.extensions_mut().insert(token);
    }

    let start = Instant::now();
    let result = match client.clone().oneshot(req).await {
        Ok(res) => {
            let status = res.status();
            match res.into_body().collect().await {
                Ok(body) => Ok((
                    status,
                    String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                )),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e),
    };
    let took = start.elapsed();

    let (attempts, retries) = {
        let j = journal.lock().unwrap();
        (j.attempts, j.retries.clone())
    };
    let done = Finished {
        path,
        attempts,
        retries,
        took,
        result,
    };
    let plural = if attempts == 1 { "" } else { "s" };
    match &done.result {
        Ok((status, body)) => {
            let body = if body.is_empty() {
                String::new()
            } else {
                format!(" · body {body:?}")
            };
            println!(
                "     {} {} · {attempts} attempt{plural} · {}{body}",
                bold("⇒"),
                done.verdict(),
                ms(took)
            );
            if status.is_client_error() {
                println!(
                    "       {}",
                    dim("not retried: a 4xx other than 429 is final")
                );
            }
        }
        Err(e) => match e.downcast_ref::<RetryError>() {
            Some(retry_error) => print_retry_error(retry_error),
            None => println!("     {} {}", bold(red("⇒ error:")), chain(&**e)),
        },
    }
    done
}

// ---------------------------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------------------------

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // One thread keeps the narration in order, and makes the cancellation deterministic: the
    // task that cancels is woken by the retry listener and runs before any timer can fire.
    let started = Instant::now();
    let outcome = tokio::time::timeout(DEMO_LIMIT, run()).await;
    let checks = match outcome {
        Ok(Ok(checks)) => checks,
        Ok(Err(e)) => fail(&format!("the demo could not run: {}", chain(&*e))),
        Err(_) => fail(&format!("the demo took longer than {}", ms(DEMO_LIMIT))),
    };
    let total = started.elapsed();
    println!();
    if checks.failed.is_empty() {
        println!(
            "{} all {} checks passed in {}",
            bold(green("✔")),
            checks.passed,
            ms(total)
        );
    } else {
        let mut msg = format!(
            "{} of {} checks failed:",
            checks.failed.len(),
            checks.passed + checks.failed.len()
        );
        for f in &checks.failed {
            msg.push_str("\n  - ");
            msg.push_str(f);
        }
        fail(&msg);
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{} {message}", bold(red("demo failed:")));
    std::process::exit(1);
}

async fn run() -> Result<Checks, BoxError> {
    let (addr, hits) = start_server().await?;
    let base = format!("http://{addr}");

    let journal = SharedJournal::default();
    let metrics = Arc::new(RetryMetrics::default());
    let policy = RetryPolicy::builder()
        .name("demo")
        .max_attempts(MAX_ATTEMPTS)
        .backoff(
            Backoff::exponential(BACKOFF_BASE)
                .max(BACKOFF_CAP)
                .jitter(Jitter::Equal),
        )
        .seed(SEED)
        .max_hint(MAX_HINT)
        // Count elapsed time from the start of the first attempt.
        .max_elapsed(Duration::from_secs(10))
        .classify_with(classify_http)
        .on_event({
            let journal = journal.clone();
            move |event: &RetryEvent<'_>| on_retry_event(&journal, event)
        })
        .metrics(metrics.clone())
        .build()?;

    // The transport: hyper's pooled client with a timeout per attempt, and a log of attempts.
    let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let transport = Timeout::new(hyper_client, ATTEMPT_TIMEOUT);
    let logged = tower::service_fn({
        let journal = journal.clone();
        move |req: Req| {
            let transport = transport.clone();
            let journal = journal.clone();
            async move {
                let n = {
                    let mut j = journal.lock().unwrap();
                    j.attempts += 1;
                    j.attempts
                };
                let start = Instant::now();
                let result = transport.oneshot(req).await;
                log_attempt(n, start.elapsed(), &result);
                result
            }
        }
    });
    let client = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .service(logged);

    println!(
        "{}",
        bold("steadfast demo — a retrying hyper client against a flaky local server")
    );
    println!(
        "  {}  {base}  {}",
        dim("server"),
        dim("(each path answers from its own script)")
    );
    println!(
        "  {}  {MAX_ATTEMPTS} attempts · backoff {} ×2 up to {}, equal jitter (seed {SEED})",
        dim("policy"),
        ms(BACKOFF_BASE),
        ms(BACKOFF_CAP),
    );
    println!(
        "          Retry-After honoured up to {} · {} timeout per attempt",
        ms(MAX_HINT),
        ms(ATTEMPT_TIMEOUT)
    );
    println!(
        "  {}   5xx, 429 and transport errors are retried; other 4xx are final",
        dim("rules"),
    );

    let mut checks = Checks::default();
    let mut finished = Vec::new();

    // 1. Healthy: one attempt.
    let f = fetch(&client, &journal, &base, 0, "/health", None).await;
    checks.expect(f.status() == Some(StatusCode::OK), "200 OK");
    checks.expect(
        f.attempts == 1 && f.retries.is_empty(),
        "one attempt, no retry",
    );
    finished.push(f);

    // 2. Two 503s, then a 200: two retries on the backoff schedule.
    let f = fetch(&client, &journal, &base, 1, "/inventory", None).await;
    checks.expect(f.status() == Some(StatusCode::OK), "200 OK in the end");
    checks.expect(f.attempts == 3, "three attempts (two retries)");
    let in_band = f.retries.len() == 2
        && f.retries.iter().enumerate().all(|(i, r)| {
            let full = BACKOFF_BASE * 2u32.pow(i as u32);
            r.hint.is_none() && r.delay >= full / 2 && r.delay <= full
        });
    checks.expect(
        in_band,
        "backoff delays within their jitter bands (10–20ms, then 20–40ms)",
    );
    finished.push(f);

    // 3. A 429 asking for 1 s: the hint wins over the backoff, clamped to max_hint.
    let f = fetch(&client, &journal, &base, 2, "/quote", None).await;
    checks.expect(
        f.status() == Some(StatusCode::OK),
        "200 OK after the rate limit",
    );
    checks.expect(f.attempts == 2, "two attempts");
    let clamped = matches!(f.retries.as_slice(),
        [r] if r.hint == Some(Duration::from_secs(1)) && r.delay == MAX_HINT);
    checks.expect(
        clamped,
        format!("Retry-After: 1 honoured but clamped to {}", ms(MAX_HINT)),
    );
    finished.push(f);

    // 4. Too slow: the per-attempt timeout fires and the timeout error is retried.
    let f = fetch(&client, &journal, &base, 3, "/report", None).await;
    checks.expect(
        f.status() == Some(StatusCode::OK),
        "200 OK on the second attempt",
    );
    checks.expect(f.attempts == 2, "two attempts");
    checks.expect(
        matches!(f.retries.as_slice(), [r] if r.timed_out),
        "the first attempt timed out and was retried",
    );
    finished.push(f);

    // 5. A 404 is final: returned at once, no retry.
    let f = fetch(&client, &journal, &base, 4, "/admin", None).await;
    checks.expect(
        f.status() == Some(StatusCode::NOT_FOUND),
        "404 returned as is",
    );
    checks.expect(f.attempts == 1 && f.retries.is_empty(), "not retried");
    finished.push(f);

    // 6. Never recovers: the last attempt fails with an error, so the layer returns a
    //    RetryError holding the history and that error as its source.
    let f = fetch(&client, &journal, &base, 5, "/ledger", None).await;
    match f.retry_error() {
        Some(e) => {
            checks.expect(
                e.reason() == &StopReason::AttemptsExhausted,
                "RetryError: attempts exhausted",
            );
            checks.expect(
                e.attempts() == MAX_ATTEMPTS && e.history().len() == MAX_ATTEMPTS as usize,
                format!("{MAX_ATTEMPTS} attempts, all in the history"),
            );
            let transport_error = std::error::Error::source(e)
                .is_some_and(|s| find_source::<hyper_util::client::legacy::Error>(s).is_some());
            checks.expect(
                transport_error,
                "its source is the last attempt's hyper client error",
            );
        }
        None => checks.expect(false, "the request should end in a RetryError"),
    }
    checks.expect(f.retries.len() == 3, "three retries");
    finished.push(f);

    // 7. Cancelled during a backoff sleep. A separate task holds the request's token; the
    //    retry listener wakes it when the retry is scheduled, and it cancels with a reason.
    let token = CancelToken::new();
    let (trigger, fired) = oneshot::channel::<Duration>();
    journal.lock().unwrap().cancel_trigger = Some(trigger);
    let canceller = tokio::spawn({
        let token = token.clone();
        async move {
            let planned = fired.await.ok()?;
            println!(
                "     {} another task cancels the token during the {} sleep: {}",
                bold(magenta("⚡")),
                ms(planned),
                magenta(format!("{CANCEL_MESSAGE:?}"))
            );
            token.cancel_with(CancelReason::manual(CANCEL_MESSAGE));
            Some(planned)
        }
    });
    let f = fetch(&client, &journal, &base, 6, "/export", Some(token)).await;
    let planned = canceller.await?;
    journal.lock().unwrap().cancel_trigger = None;
    match f.retry_error() {
        Some(e) => {
            if let Some(planned) = planned {
                println!(
                    "       {}",
                    dim(format!(
                        "(the sleep was planned for {}; the request ended {} after it began)",
                        ms(planned),
                        ms(f.took)
                    ))
                );
            }
            checks.expect(e.is_cancelled(), "RetryError: cancelled");
            checks.expect(
                e.reason()
                    == &StopReason::Cancelled(CancelReason::Manual(Some(CANCEL_MESSAGE.into()))),
                "the error carries the reason it was cancelled",
            );
            checks.expect(
                e.attempts() == 1,
                "no attempt after the cancellation: the sleep ended at once",
            );
        }
        None => checks.expect(false, "the request should end in a cancelled RetryError"),
    }
    checks.expect(
        planned.is_some(),
        "the cancelling task was woken by the retry listener",
    );
    finished.push(f);

    // What the server saw must match what the client reported.
    println!();
    println!("{}", bold("server side"));
    for f in &finished {
        let n = hits.get(f.path);
        checks.expect(
            n == f.attempts,
            format!(
                "{:<11} received {n} request{}",
                f.path,
                if n == 1 { "" } else { "s" }
            ),
        );
    }

    print_requests(&finished);
    let snap = metrics.snapshot();
    let retry_events = journal.lock().unwrap().retry_events;
    print_metrics(&snap);

    let expected_attempts = {
        let mut buckets = [0u64; steadfast::retry::ATTEMPT_BUCKETS];
        for f in &finished {
            buckets[(f.attempts as usize).clamp(1, buckets.len()) - 1] += 1;
        }
        buckets
    };
    checks.expect(snap.requests == 7, "metrics: 7 requests");
    checks.expect(
        snap.retries == 7 && retry_events == 8,
        "metrics: 7 retries sent; 8 retry events (the one cancelled during its backoff was never sent)",
    );
    checks.expect(
        snap.successes_after_retry == 3,
        "metrics: 3 successes after retry",
    );
    checks.expect(
        snap.gave_up == 2 && snap.cancelled == 1,
        "metrics: gave up on 2 requests, 1 of them cancelled",
    );
    checks.expect(snap.budget_rejections == 0, "metrics: no budget rejections");
    checks.expect(
        snap.attempts == expected_attempts,
        "metrics: attempt distribution matches the requests above",
    );
    Ok(checks)
}

// ---------------------------------------------------------------------------------------------
// The summary
// ---------------------------------------------------------------------------------------------

/// One of the colour functions above.
type Paint = fn(String) -> String;

/// Pads `text` to `width` columns, then paints it (escape codes take no columns).
fn cell(text: &str, width: usize, paint: Paint) -> String {
    paint(format!("{text:<width$}"))
}

fn print_requests(finished: &[Finished]) {
    println!();
    println!("{}", bold("requests"));
    println!(
        "  {}",
        dim(format!(
            "{:<16} {:<34} {:>8}  {:<29} {:>9}",
            "request", "script", "attempts", "result", "time"
        ))
    );
    for f in finished {
        let verdict = f.verdict();
        // Pad on the unpainted text so the columns line up with or without colour.
        let plain_len = strip_len(&verdict);
        let pad = " ".repeat(29usize.saturating_sub(plain_len));
        println!(
            "  {} {} {:>8}  {verdict}{pad} {:>9}",
            cell(&format!("GET {}", f.path), 16, bold),
            cell(&route(f.path).script(), 34, dim),
            f.attempts,
            ms(f.took)
        );
    }
}

/// The number of characters `s` shows, without its escape codes.
fn strip_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

fn print_metrics(s: &RetryMetricsSnapshot) {
    println!();
    println!("{}", bold("retry metrics (RetryMetrics::snapshot)"));
    let rows: [(&str, u64, Paint); 6] = [
        ("requests", s.requests, cyan),
        ("retries sent", s.retries, yellow),
        ("successes after retry", s.successes_after_retry, green),
        ("gave up", s.gave_up, red),
        ("  of which cancelled", s.cancelled, magenta),
        ("budget rejections", s.budget_rejections, dim),
    ];
    println!("  ┌{}┬{}┐", "─".repeat(24), "─".repeat(7));
    for (name, value, paint) in rows {
        println!("  │ {:<22} │ {} │", name, paint(format!("{value:>5}")));
    }
    println!("  └{}┴{}┘", "─".repeat(24), "─".repeat(7));
    println!("  {}", bold("attempts per request"));
    let last = s.attempts.iter().rposition(|&n| n > 0).unwrap_or(0);
    for (i, &n) in s.attempts.iter().enumerate().take(last + 1) {
        let label = if i + 1 == s.attempts.len() {
            format!("{}+", i + 1)
        } else {
            format!("{}", i + 1)
        };
        println!(
            "  {:>3} │ {} {}",
            label,
            cyan("█".repeat(n as usize * 4)),
            n
        );
    }
}
