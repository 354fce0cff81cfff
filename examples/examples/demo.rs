//! The steadfast demo: a hyper client behind the whole steadfast stack, against a flaky local
//! HTTP server.
//!
//! ```sh
//! cargo run -p steadfast-examples --example demo
//! ```
//!
//! The demo starts an HTTP/1 server on `127.0.0.1` (a port the OS picks) where every path
//! answers from its own fixed script: some 503s, a 429 asking for `Retry-After: 1`, a response
//! too slow for the client's timeout, a 404, connections that hang up, JSON that comes back
//! broken, a stretch of downtime, and finally 200s. A hyper client wrapped in the whole stack
//! then sends GETs and narrates every attempt, every delay the policy chose, every breaker
//! transition, every validation failure and how each request ended. At the end it prints the
//! requests, the breakers and the [`RetryMetrics`] counters, and checks that everything it
//! showed really happened: if a check fails, it exits with status 1. Last, a client behind a
//! hedge layer sends one request whose first answer straggles: a second attempt, sent after
//! 30 ms without an answer, answers in its place and the straggler is cancelled.
//!
//! The layers, outermost first:
//!
//! ```text
//! CancelLayer            5 s for the whole request; the caller's token, if any
//!   RetryLayer           4 attempts, exponential backoff with seeded jitter, Retry-After
//!                        honoured up to 200 ms, steadfast-http's HttpClassifier
//!     circuit breakers   one per path: open after 3 failures in a row, probe after 300 ms
//!       attempt log      prints each attempt that reaches the transport (this file)
//!         CancelLayer    250 ms per attempt
//!           ValidateLayer  JSON answers must have `name` and `email`
//!             BufferLayer  reads bodies (up to 64 KiB) so they can be validated
//!               hyper-util legacy Client
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
use steadfast::cancel::{CancelLayer, Cancelled};
use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitState, KeyedBreakers, KeyedCircuitBreakerLayer, Rejected,
};
use steadfast::classify::{find_source, Outcome};
use steadfast::hedge::{HedgeDelay, HedgeEvent, HedgeLayer};
use steadfast::retry::{
    Backoff, Jitter, RatioBudget, RetryError, RetryEvent, RetryMetrics, RetryMetricsSnapshot,
    RetryPolicy, StopReason,
};
use steadfast::token::{CancelReason, CancelToken};
use steadfast::trace::{Decision, DecisionTrace};
use steadfast::validate::{Reason, ValidateLayer, ValidationContext, Validator};
use steadfast::{BoxError, ServiceBuilderExt};
use steadfast_http::validate::{json_fields, BufferLayer, Buffered, JsonFields};
use steadfast_http::HttpClassifier;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

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
/// The whole request's time limit (the outer cancel layer).
const REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// Failures in a row that open a path's breaker.
const TRIP_AFTER: u32 = 4;
/// Requests the demo sends.
const REQUESTS: usize = 11;
/// How long an open breaker waits before letting a probe through.
const OPEN_FOR: Duration = Duration::from_millis(300);
/// The most of a body the client reads to validate it.
const BODY_CAP: usize = 64 * 1024;
/// How long the hedged client waits for an answer before it sends a second attempt.
const HEDGE_DELAY: Duration = Duration::from_millis(30);

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
    /// 200 with a JSON body, and how the script describes it.
    Json(&'static str, &'static str),
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
            Step::Json(_, label) => write!(f, "200 {label}"),
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
    Route {
        path: "/profile",
        about: "answers 200 with broken JSON twice: retry until it is valid",
        steps: &[
            Step::Json(r#"{"name": "Ada", "ema"#, "cut JSON"),
            Step::Json(r#"{"name": "Ada"}"#, "no email"),
            Step::Json(r#"{"name": "Ada", "email": "ada@example.org"}"#, "JSON"),
        ],
    },
    Route {
        path: "/search",
        about: "down for a stretch: its breaker opens, refuses, then probes",
        steps: &[UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE, Step::Ok],
    },
    Route {
        path: "/catalog",
        about: "the first request straggles: a hedge answers in its place",
        steps: &[Step::Slow, Step::Ok],
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
        Step::Json(body, _) => {
            let mut res = plain(StatusCode::OK, body.to_owned());
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok(res)
        }
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
    invalid: bool,
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
    /// Calls a breaker refused for the current request.
    rejections: u32,
    /// Every breaker state change: (breaker, from, to).
    transitions: Vec<(String, CircuitState, CircuitState)>,
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
            let invalid = outcome == Outcome::Invalid;
            let why = match hint {
                Some(h) if h > delay => {
                    format!("server asked for {}, clamped by max_hint", ms(h))
                }
                Some(_) => "as the server asked".to_owned(),
                None if invalid => "the answer was invalid; backoff + jitter".to_owned(),
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
                timed_out: error.is_some_and(|e| {
                    find_source::<Cancelled>(e)
                        .is_some_and(|c| matches!(c.reason(), CancelReason::Timeout(_)))
                }),
                invalid,
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

/// The breakers' listener: narrates state changes and refusals.
fn on_breaker_event(journal: &SharedJournal, event: &BreakerEvent<'_>) {
    match *event {
        BreakerEvent::StateTransition {
            name,
            from,
            to,
            reason,
        } => {
            let to_text = match to {
                CircuitState::Open => red(bold(to)),
                CircuitState::HalfOpen => yellow(bold(to)),
                _ => green(bold(to)),
            };
            println!(
                "     {} breaker {}: {from} → {to_text}  {}",
                bold(magenta("⚡")),
                bold(name),
                dim(format!("({reason})"))
            );
            let mut j = journal.lock().unwrap();
            j.transitions.push((name.to_owned(), from, to));
        }
        BreakerEvent::CallRejected { name, state } => {
            println!(
                "     {} breaker {} is {state}: call refused without reaching the server",
                red("⊘"),
                bold(name)
            );
            journal.lock().unwrap().rejections += 1;
        }
        _ => {}
    }
}

/// Prints one attempt as the transport saw it.
fn log_attempt(n: u32, took: Duration, result: &Result<Response<Buffered>, BoxError>) {
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

/// Prints why an answer was judged invalid (the validate layer's reasons).
fn print_invalid(err: &(dyn StdError + 'static)) {
    if let Some(invalid) = find_source::<steadfast::validate::InvalidResponse>(err) {
        for r in invalid.reasons() {
            println!("       {} {}", yellow("✗ invalid:"), yellow(r));
        }
    }
}

/// JSON answers must be objects with a `name` and an `email`; other answers pass.
#[derive(Clone)]
struct ProfileJson(JsonFields);

impl Validator<Response<Buffered>> for ProfileJson {
    fn validate(
        &self,
        res: &Response<Buffered>,
        cx: &ValidationContext,
        reasons: &mut Vec<Reason>,
    ) {
        let json = res
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if json {
            self.0.validate(res, cx, reasons);
        }
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
    /// Calls a breaker refused for this request (they never reached the server).
    rejections: u32,
    retries: Vec<RetryNote>,
    took: Duration,
    result: Result<(StatusCode, String), BoxError>,
    /// The request's decision trace, for the requests the demo traces.
    trace: Option<DecisionTrace>,
}

impl Finished {
    fn status(&self) -> Option<StatusCode> {
        self.result.as_ref().ok().map(|(s, _)| *s)
    }

    /// What the layers decided, for a traced request.
    fn decisions(&self) -> Vec<Decision> {
        let entries = self.trace.as_ref().map(DecisionTrace::entries);
        entries.into_iter().flatten().map(|e| e.decision).collect()
    }

    fn retry_error(&self) -> Option<&RetryError> {
        self.result.as_ref().err()?.downcast_ref::<RetryError>()
    }

    fn verdict(&self) -> String {
        match &self.result {
            Ok((s, _)) if s.is_success() => green(s),
            Ok((s, _)) => magenta(s),
            Err(e) if e.is::<Rejected>() => red("refused (breaker open)"),
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
    traced: bool,
) -> Finished
where
    S: Service<Req, Response = Response<Buffered>, Error = BoxError> + Clone,
{
    let route = route(path);
    println!();
    println!(
        "{} {} {}  {}",
        cyan(format!("[{}/{}]", index + 1, REQUESTS)),
        bold("GET"),
        bold(path),
        dim(format!("— {}", route.about))
    );
    println!("     {} {}", dim("script:"), dim(route.script()));
    {
        let mut j = journal.lock().unwrap();
        j.attempts = 0;
        j.rejections = 0;
        j.retries.clear();
    }

    let mut req = Request::get(format!("{base}{path}"))
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    if let Some(token) = token {
        req.extensions_mut().insert(token);
    }
    // Ask every layer to say what it decided, and why.
    let trace = traced.then(DecisionTrace::new);
    if let Some(trace) = &trace {
        req.extensions_mut().insert(trace.clone());
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

    let (attempts, rejections, retries) = {
        let j = journal.lock().unwrap();
        (j.attempts, j.rejections, j.retries.clone())
    };
    let done = Finished {
        path,
        attempts,
        rejections,
        retries,
        took,
        result,
        trace,
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
    if let Some(trace) = &done.trace {
        print_trace(trace);
    }
    done
}

/// A request's decision trace: one line per decision, as the layers recorded them.
fn print_trace(trace: &DecisionTrace) {
    println!("     {}", bold(blue("decision trace")));
    for line in trace.to_string().lines() {
        println!("       {}", blue(line.trim_start()));
    }
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
        // HTTP's rules: 502/503/504/408/429 and transport errors are retried, with the
        // server's hint; other 4xx are answers; invalid answers are retried too.
        .classify(HttpClassifier::default())
        .on_event({
            let journal = journal.clone();
            move |event: &RetryEvent<'_>| on_retry_event(&journal, event)
        })
        .metrics(metrics.clone())
        .build()?;

    // One breaker per path, made on first use; every state change is narrated.
    let breakers = KeyedBreakers::builder({
        let journal = journal.clone();
        move || {
            let journal = journal.clone();
            CircuitBreaker::builder()
                .consecutive_failures(TRIP_AFTER)
                .no_failure_rate()
                .open_for(OPEN_FOR)
                .half_open_max_calls(1)
                .success_threshold(1)
                .on_event(move |e| on_breaker_event(&journal, e))
        }
    })
    .name(|path: &String| path.clone())
    .build()?;

    // Each attempt: its own time limit, its answer read and validated, over hyper's client.
    let attempt = ServiceBuilder::new()
        .attempt_timeout(CancelLayer::builder().timeout(ATTEMPT_TIMEOUT).build()?)
        .validate(
            ValidateLayer::builder()
                .response(ProfileJson(json_fields(["name", "email"])))
                .build()?,
        )
        .layer(BufferLayer::new(BODY_CAP))
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    // A log of the attempts that reach it (the breakers sit above it).
    let logged = tower::service_fn({
        let journal = journal.clone();
        move |req: Req| {
            let attempt = attempt.clone();
            let journal = journal.clone();
            async move {
                let n = {
                    let mut j = journal.lock().unwrap();
                    j.attempts += 1;
                    j.attempts
                };
                let start = Instant::now();
                let result = attempt.oneshot(req).await;
                log_attempt(n, start.elapsed(), &result);
                if let Err(e) = &result {
                    print_invalid(&**e);
                }
                result
            }
        }
    });
    let client = ServiceBuilder::new()
        .cancel(CancelLayer::builder().timeout(REQUEST_LIMIT).build()?)
        .retry_with(policy)
        .layer(
            KeyedCircuitBreakerLayer::new(breakers.clone(), |req: &Req| {
                req.uri().path().to_owned()
            })
            .classify(HttpClassifier::default()),
        )
        .service(logged);

    println!(
        "{}",
        bold(
            "steadfast demo — a hyper client behind the whole stack, against a flaky local server"
        )
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
        "  {}   502/503/504/408/429, transport errors and invalid JSON are retried; other 4xx are answers",
        dim("rules"),
    );
    println!(
        "  {} one per path: open after {TRIP_AFTER} failures in a row, probe after {} · {} per request",
        dim("breakers"),
        ms(OPEN_FOR),
        ms(REQUEST_LIMIT),
    );

    let mut checks = Checks::default();
    let mut finished = Vec::new();

    // 1. Healthy: one attempt.
    let f = fetch(&client, &journal, &base, 0, "/health", None, false).await;
    checks.expect(f.status() == Some(StatusCode::OK), "200 OK");
    checks.expect(
        f.attempts == 1 && f.retries.is_empty(),
        "one attempt, no retry",
    );
    finished.push(f);

    // 2. Two 503s, then a 200: two retries on the backoff schedule.
    let f = fetch(&client, &journal, &base, 1, "/inventory", None, true).await;
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
    let decisions = f.decisions();
    checks.expect(
        decisions
            .iter()
            .filter(|d| matches!(d, Decision::Backoff { .. }))
            .count()
            == 2
            && decisions.iter().any(|d| {
                matches!(
                    d,
                    Decision::Classified {
                        attempt: 1,
                        rule: Some(_),
                        ..
                    }
                )
            }),
        "the trace shows each verdict with its rule, and both backoffs",
    );
    finished.push(f);

    // 3. A 429 asking for 1 s: the hint wins over the backoff, clamped to max_hint.
    let f = fetch(&client, &journal, &base, 2, "/quote", None, false).await;
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
    let f = fetch(&client, &journal, &base, 3, "/report", None, false).await;
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
    let f = fetch(&client, &journal, &base, 4, "/admin", None, false).await;
    checks.expect(
        f.status() == Some(StatusCode::NOT_FOUND),
        "404 returned as is",
    );
    checks.expect(f.attempts == 1 && f.retries.is_empty(), "not retried");
    finished.push(f);

    // 6. Never recovers: the last attempt fails with an error, so the layer returns a
    //    RetryError holding the history and that error as its source.
    let f = fetch(&client, &journal, &base, 5, "/ledger", None, false).await;
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
    let f = fetch(&client, &journal, &base, 6, "/export", Some(token), true).await;
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
    checks.expect(
        f.decisions()
            .iter()
            .any(|d| matches!(d, Decision::Stopped { .. })),
        "the trace says why the retries stopped",
    );
    finished.push(f);

    // 8. Retry until valid: the answer comes back 200 but its JSON is broken or incomplete.
    let f = fetch(&client, &journal, &base, 7, "/profile", None, false).await;
    let body_ok =
        matches!(&f.result, Ok((s, b)) if *s == StatusCode::OK && b.contains("ada@example.org"));
    checks.expect(body_ok, "200 OK with a complete profile in the end");
    checks.expect(f.attempts == 3, "three attempts");
    checks.expect(
        f.retries.len() == 2 && f.retries.iter().all(|r| r.invalid),
        "both retries were for invalid answers (Outcome::Invalid)",
    );
    let profile = breakers.peek(&"/profile".to_owned());
    checks.expect(
        profile.is_some_and(|b| b.metrics().invalid == 2),
        "the /profile breaker counted 2 semantic failures",
    );
    finished.push(f);

    // 9. Downtime: four failures in a row open /search's breaker; the next request is refused
    //    without reaching the server; after the open time a probe goes through and closes it.
    let a = fetch(&client, &journal, &base, 8, "/search", None, false).await;
    checks.expect(
        a.status() == Some(StatusCode::SERVICE_UNAVAILABLE) && a.attempts == MAX_ATTEMPTS,
        "four attempts, all 503: the last 503 is the answer",
    );
    let search = breakers.get(&"/search".to_owned())?;
    checks.expect(
        search.state() == CircuitState::Open,
        "the /search breaker is open",
    );
    finished.push(a);
    let b = fetch(&client, &journal, &base, 9, "/search", None, true).await;
    let refused = matches!(&b.result, Err(e) if e.is::<Rejected>());
    checks.expect(refused, "the next request is refused at once (Rejected)");
    checks.expect(
        b.decisions().iter().any(|d| {
            matches!(d,
            Decision::Admission { permitted: false, state, .. } if state == "open")
        }),
        "the trace shows the breaker open at admission",
    );
    checks.expect(
        b.attempts == 0 && b.rejections == 1 && b.retries.is_empty(),
        "nothing reached the server, and a refusal is not retried",
    );
    finished.push(b);
    println!();
    println!(
        "     {} waiting {} for the breaker's open time to pass",
        dim("…"),
        ms(OPEN_FOR)
    );
    tokio::time::sleep(OPEN_FOR + Duration::from_millis(20)).await;
    let c = fetch(&client, &journal, &base, 10, "/search", None, false).await;
    checks.expect(
        c.status() == Some(StatusCode::OK) && c.attempts == 1,
        "the probe succeeds: 200 OK",
    );
    checks.expect(
        search.state() == CircuitState::Closed,
        "the /search breaker is closed again",
    );
    let search_transitions: Vec<(CircuitState, CircuitState)> = journal
        .lock()
        .unwrap()
        .transitions
        .iter()
        .filter(|(name, _, _)| name == "/search")
        .map(|(_, from, to)| (*from, *to))
        .collect();
    checks.expect(
        search_transitions
            == [
                (CircuitState::Closed, CircuitState::Open),
                (CircuitState::Open, CircuitState::HalfOpen),
                (CircuitState::HalfOpen, CircuitState::Closed),
            ],
        "/search: closed → open → half-open → closed",
    );
    finished.push(c);

    // 10. A straggler saved by a hedge (a client of its own, outside the retry stack).
    hedge_a_straggler(&base, &hits, &mut checks).await?;

    // What the server saw must match what the client reported.
    println!();
    println!("{}", bold("server side"));
    let mut paths: Vec<&'static str> = Vec::new();
    for f in &finished {
        if !paths.contains(&f.path) {
            paths.push(f.path);
        }
    }
    for path in paths {
        let n = hits.get(path);
        let sent: u32 = finished
            .iter()
            .filter(|f| f.path == path)
            .map(|f| f.attempts)
            .sum();
        checks.expect(
            n == sent,
            format!(
                "{:<11} received {n} request{}",
                path,
                if n == 1 { "" } else { "s" }
            ),
        );
    }

    print_requests(&finished);
    print_breakers(&breakers, &finished);
    let snap = metrics.snapshot();
    let retry_events = journal.lock().unwrap().retry_events;
    print_metrics(&snap);

    let expected_attempts = {
        let mut buckets = [0u64; steadfast::retry::ATTEMPT_BUCKETS];
        for f in &finished {
            let tried = (f.attempts + f.rejections) as usize;
            buckets[tried.clamp(1, buckets.len()) - 1] += 1;
        }
        buckets
    };
    checks.expect(
        snap.requests == REQUESTS as u64,
        format!("metrics: {REQUESTS} requests"),
    );
    checks.expect(
        snap.retries == 12 && retry_events == 13,
        "metrics: 12 retries sent; 13 retry events (the one cancelled during its backoff was never sent)",
    );
    checks.expect(
        snap.successes_after_retry == 4,
        "metrics: 4 successes after retry",
    );
    checks.expect(
        snap.gave_up == 3 && snap.cancelled == 1,
        "metrics: gave up on 3 requests, 1 of them cancelled",
    );
    checks.expect(snap.budget_rejections == 0, "metrics: no budget rejections");
    checks.expect(
        snap.attempts == expected_attempts,
        "metrics: attempt distribution matches the requests above",
    );
    Ok(checks)
}

/// A hyper client behind a hedge layer sends one request to `/catalog`, whose first answer
/// straggles for `SLOW`: after `HEDGE_DELAY` without an answer the layer sends a second
/// attempt, which answers at once and wins; the straggler is cancelled.
async fn hedge_a_straggler(base: &str, hits: &Hits, checks: &mut Checks) -> Result<(), BoxError> {
    let route = route("/catalog");
    println!();
    println!(
        "{} {} {}  {}",
        cyan("[hedge]"),
        bold("GET"),
        bold(route.path),
        dim(format!("— {}", route.about))
    );
    println!("     {} {}", dim("script:"), dim(route.script()));
    println!(
        "     {} a second attempt after {} without an answer, paid from a budget of 10% extra requests",
        dim("hedge:"),
        ms(HEDGE_DELAY)
    );
    let start = Instant::now();
    let events = Arc::new(Mutex::new(Vec::new()));
    let layer = HedgeLayer::builder()
        .name("catalog")
        .delay(HedgeDelay::fixed(HEDGE_DELAY))
        .budget(Arc::new(RatioBudget::builder().ratio(0.1).build()?))
        .clone_requests_with(|req: &Req| {
            let mut copy = Request::new(req.body().clone());
            *copy.method_mut() = req.method().clone();
            *copy.uri_mut() = req.uri().clone();
            *copy.headers_mut() = req.headers().clone();
            *copy.extensions_mut() = req.extensions().clone();
            Some(copy)
        })
        .on_event({
            let events = events.clone();
            move |e: &HedgeEvent| {
                let at = dim(format!("(at {})", ms(start.elapsed())));
                match e {
                    HedgeEvent::HedgeSent { attempt, .. } => println!(
                        "     {} no answer yet: hedge sent, attempt {attempt}  {at}",
                        yellow("↻")
                    ),
                    HedgeEvent::Won { attempt, .. } => {
                        println!("     {} attempt {attempt} answered first  {at}", blue("•"))
                    }
                    HedgeEvent::LosersCancelled { count } => println!(
                        "     {} {count} losing attempt cancelled (HedgeLost): its connection is dropped",
                        magenta("✂")
                    ),
                    _ => {}
                }
                events.lock().unwrap().push(*e);
            }
        })
        .build()?;
    let client = layer.layer(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let mut req = Request::get(format!("{base}{}", route.path)).body(Full::new(Bytes::new()))?;
    req.extensions_mut().insert(CancelToken::new());
    let res = client.oneshot(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    let took = start.elapsed();
    let body = String::from_utf8_lossy(&body).into_owned();
    println!(
        "     {} {} · body {body:?}  {}",
        green("✔"),
        green(status),
        dim(format!("in {}", ms(took)))
    );
    checks.expect(
        status == StatusCode::OK && body.ends_with("#2"),
        "200 OK from the hedge, the second request the server received",
    );
    checks.expect(
        took < SLOW / 10,
        format!("answered in {}, not the straggler's {}", ms(took), ms(SLOW)),
    );
    let events = events.lock().unwrap().clone();
    let sent = events
        .iter()
        .any(|e| matches!(e, HedgeEvent::HedgeSent { attempt: 2, .. }));
    let won = events
        .iter()
        .any(|e| matches!(e, HedgeEvent::Won { attempt: 2, .. }));
    let cancelled = events.contains(&HedgeEvent::LosersCancelled { count: 1 });
    checks.expect(
        sent && won && cancelled,
        "one hedge sent; it won, and the straggler was cancelled",
    );
    checks.expect(
        hits.get(route.path) == 2,
        format!("{} received 2 requests", route.path),
    );
    Ok(())
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
            "{:<16} {:<42} {:>8}  {:<29} {:>9}",
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
            cell(&route(f.path).script(), 42, dim),
            f.attempts,
            ms(f.took)
        );
    }
}

fn print_breakers(breakers: &KeyedBreakers<String>, finished: &[Finished]) {
    println!();
    println!("{}", bold("circuit breakers (one per path)"));
    println!(
        "  {}",
        dim(format!(
            "{:<11} {:<10} {:>9} {:>9} {:>8} {:>9} {:>6}",
            "breaker", "state", "successes", "failures", "invalid", "refusals", "trips"
        ))
    );
    let mut seen: Vec<&str> = Vec::new();
    for f in finished {
        if seen.contains(&f.path) {
            continue;
        }
        seen.push(f.path);
        let Some(b) = breakers.peek(&f.path.to_owned()) else {
            continue;
        };
        let m = b.metrics();
        let text = format!("{:<10}", m.state.to_string());
        let state = match m.state {
            CircuitState::Closed => green(text),
            CircuitState::Open => red(text),
            _ => yellow(text),
        };
        println!(
            "  {} {state} {:>9} {:>9} {:>8} {:>9} {:>6}",
            cell(f.path, 11, bold),
            m.successes,
            m.failures,
            m.invalid,
            m.rejections,
            m.trips
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
