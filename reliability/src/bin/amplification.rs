//! Amplification: how many attempts reach a backend that always fails, per request, when the
//! retry layer has a ratio budget, a token bucket, or no budget at all.
//!
//! The backend is a service that counts its attempts and fails every one of them (after
//! yielding once, so that concurrent requests interleave). It is wrapped in `RetryLayer` with
//! `max_attempts` 3 and no backoff delay, and driven on a paused clock: each simulated second
//! sends `--per-second` requests in ten slices a tenth of a second apart, each slice either
//! one request after another or all at once. For each budget the program checks the promise its documentation
//! makes, with the bound computed from its settings:
//!
//! * `RatioBudget` (ratio 0.2, floor 10 retries per second, window 10 s): at the end of every
//!   second, the retries of the last window are at most `ratio` × the window's requests +
//!   `min_per_second` × (window seconds + 1).
//! * `TokenBucket` (capacity 500, retry cost 5, refund 1 per success): retries × cost never
//!   exceed capacity + refund × successes; with a backend that never succeeds, that is at most
//!   capacity / cost retries in the whole run. A second backend that answers one attempt in
//!   ten checks the refund side of the promise.
//! * No budget: exactly `max_attempts` attempts per request.
//!
//! It prints a table (with the most attempts the backend held at once, which shows how far the
//! concurrent drive interleaves) and exits with status 1 if any bound is broken.
//!
//! ```text
//! cargo run --release -p steadfast-reliability --bin amplification -- --requests 100000
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steadfast::retry::{Backoff, RatioBudget, RetryBudget, RetryLayer, RetryPolicy, TokenBucket};
use tower::{service_fn, Layer, Service, ServiceExt};

const MAX_ATTEMPTS: u32 = 3;
const RATIO: f64 = 0.2;
const MIN_PER_SECOND: u64 = 10;
const WINDOW_SECS: u64 = 10;
const CAPACITY: u64 = 500;
const RETRY_COST: u64 = 5;
const REFUND: u64 = 1;
/// Each simulated second is sent in this many slices.
const SLICES: u64 = 10;

/// What the command line asks for.
struct Args {
    requests: u64,
    per_second: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        requests: 100_000,
        per_second: 1_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a whole number"))?;
        match flag.as_str() {
            "--requests" => args.requests = n,
            "--per-second" => args.per_second = n,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.requests == 0 || args.per_second == 0 {
        return Err("--requests and --per-second must be at least 1".into());
    }
    Ok(args)
}

#[derive(Clone, Copy, PartialEq)]
enum Budget {
    None,
    Ratio,
    Bucket,
}

#[derive(Clone, Copy, PartialEq)]
enum Drive {
    Sequential,
    Concurrent,
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    /// Fails every attempt.
    AlwaysFails,
    /// Answers every tenth attempt it sees, fails the others.
    AnswersOneInTen,
}

/// What one run saw.
struct Run {
    requests: u64,
    attempts: u64,
    successes: u64,
    /// The most attempts the backend held at once.
    most_in_flight: u64,
    /// Per simulated second: requests sent and attempts that reached the backend.
    per_second: Vec<(u64, u64)>,
}

impl Run {
    fn retries(&self) -> u64 {
        self.attempts - self.requests
    }
}

async fn run(budget: Budget, drive: Drive, backend: Backend, args: &Args) -> Run {
    let attempts = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let service = {
        let (attempts, in_flight) = (attempts.clone(), in_flight.clone());
        service_fn(move |_request: u64| {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            let in_flight = in_flight.clone();
            async move {
                let now = in_flight.0.fetch_add(1, Ordering::Relaxed) + 1;
                in_flight.1.fetch_max(now, Ordering::Relaxed);
                tokio::task::yield_now().await;
                in_flight.0.fetch_sub(1, Ordering::Relaxed);
                match backend {
                    Backend::AnswersOneInTen if n % 10 == 0 => Ok(()),
                    _ => Err(std::io::Error::other("backend down")),
                }
            }
        })
    };
    let mut policy = RetryPolicy::builder()
        .max_attempts(MAX_ATTEMPTS)
        .backoff(Backoff::none());
    // The budget is built now, so its windows start with the first simulated second.
    let shared: Option<Arc<dyn RetryBudget>> = match budget {
        Budget::None => None,
        Budget::Ratio => Some(Arc::new(
            RatioBudget::builder()
                .ratio(RATIO)
                .min_per_second(MIN_PER_SECOND as u32)
                .window(Duration::from_secs(WINDOW_SECS))
                .build()
                .expect("valid ratio budget"),
        )),
        Budget::Bucket => Some(Arc::new(
            TokenBucket::builder()
                .capacity(CAPACITY as u32)
                .retry_cost(RETRY_COST as u32)
                .success_refund(REFUND as u32)
                .build()
                .expect("valid token bucket"),
        )),
    };
    if let Some(b) = shared {
        policy = policy.budget(b);
    }
    let svc = RetryLayer::new(policy.build().expect("valid policy")).layer(service);

    let mut out = Run {
        requests: 0,
        attempts: 0,
        successes: 0,
        most_in_flight: 0,
        per_second: Vec::new(),
    };
    let mut sent = 0;
    while sent < args.requests {
        let batch = args.per_second.min(args.requests - sent);
        let before = attempts.load(Ordering::Relaxed);
        // The second is sent in slices a tenth of a second apart, so that a window of the
        // ratio budget spans (almost) its whole length of time.
        for slice in 0..SLICES {
            let (from, to) = (batch * slice / SLICES, batch * (slice + 1) / SLICES);
            match drive {
                Drive::Sequential => {
                    for i in from..to {
                        let mut svc = svc.clone();
                        let ok = svc.ready().await.expect("ready").call(sent + i).await;
                        out.successes += u64::from(ok.is_ok());
                    }
                }
                Drive::Concurrent => {
                    let mut tasks = tokio::task::JoinSet::new();
                    for i in from..to {
                        tasks.spawn(svc.clone().oneshot(sent + i));
                    }
                    while let Some(done) = tasks.join_next().await {
                        out.successes += u64::from(done.expect("task").is_ok());
                    }
                }
            }
            tokio::time::advance(Duration::from_secs(1) / SLICES as u32).await;
        }
        let seen = attempts.load(Ordering::Relaxed) - before;
        out.per_second.push((batch, seen));
        out.requests += batch;
        out.attempts += seen;
        sent += batch;
    }
    out.most_in_flight = in_flight.1.load(Ordering::Relaxed);
    out
}

/// Checks the budget's documented promise against what reached the backend; returns the
/// bound and whether it held.
fn check(budget: Budget, run: &Run) -> (String, bool) {
    match budget {
        Budget::None => {
            let expected = run.requests * u64::from(MAX_ATTEMPTS);
            (format!("attempts = {expected}"), run.attempts == expected)
        }
        Budget::Ratio => {
            // The per-window promise, at the end of every second: the window is the last
            // WINDOW_SECS seconds. `RATIO` is 1/5, so the product is exact in integers.
            let floor = MIN_PER_SECOND * (WINDOW_SECS + 1);
            let mut worst_margin = i64::MAX;
            let mut ok = true;
            for end in 0..run.per_second.len() {
                let start = (end + 1).saturating_sub(WINDOW_SECS as usize);
                let window = &run.per_second[start..=end];
                let requests: u64 = window.iter().map(|(r, _)| r).sum();
                let retries: u64 = window.iter().map(|(r, a)| a - r).sum();
                let bound = requests / 5 + floor;
                ok &= retries <= bound;
                worst_margin = worst_margin.min(bound as i64 - retries as i64);
            }
            (
                format!(
                    "every {WINDOW_SECS} s window: retries <= {RATIO} x requests + {floor} \
                     (closest: {worst_margin} under)"
                ),
                ok,
            )
        }
        Budget::Bucket => {
            let bound = (CAPACITY + REFUND * run.successes) / RETRY_COST;
            (
                format!(
                    "retries <= ({CAPACITY} + {REFUND} x {}) / {RETRY_COST} = {bound}",
                    run.successes
                ),
                run.retries() <= bound,
            )
        }
    }
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("amplification: {message}");
            eprintln!("usage: amplification [--requests N] [--per-second N]");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");

    println!(
        "{} requests, {} per simulated second in {SLICES} slices, max_attempts {MAX_ATTEMPTS}, \
         no backoff delay",
        args.requests, args.per_second
    );
    println!(
        "{:<12} {:<11} {:<16} {:>9} {:>10} {:>8} {:>9}  bound",
        "budget", "drive", "backend", "in flight", "attempts", "per req", "successes"
    );
    let mut broken = 0;
    let cases = [
        (Budget::None, Backend::AlwaysFails),
        (Budget::Ratio, Backend::AlwaysFails),
        (Budget::Bucket, Backend::AlwaysFails),
        (Budget::Ratio, Backend::AnswersOneInTen),
        (Budget::Bucket, Backend::AnswersOneInTen),
    ];
    for (budget, backend) in cases {
        for drive in [Drive::Sequential, Drive::Concurrent] {
            let run = runtime.block_on(run(budget, drive, backend, &args));
            let (bound, ok) = check(budget, &run);
            println!(
                "{:<12} {:<11} {:<16} {:>9} {:>10} {:>8.4} {:>9}  {} {}",
                match budget {
                    Budget::None => "none",
                    Budget::Ratio => "ratio 20%",
                    Budget::Bucket => "token bucket",
                },
                match drive {
                    Drive::Sequential => "sequential",
                    Drive::Concurrent => "concurrent",
                },
                match backend {
                    Backend::AlwaysFails => "always fails",
                    Backend::AnswersOneInTen => "answers 1 in 10",
                },
                run.most_in_flight,
                run.attempts,
                run.attempts as f64 / run.requests as f64,
                run.successes,
                bound,
                if ok { "ok" } else { "BROKEN" },
            );
            broken += usize::from(!ok);
        }
    }
    if broken > 0 {
        eprintln!("amplification: {broken} bound(s) broken");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(per_second: Vec<(u64, u64)>, successes: u64) -> Run {
        Run {
            requests: per_second.iter().map(|(r, _)| r).sum(),
            attempts: per_second.iter().map(|(_, a)| a).sum(),
            successes,
            most_in_flight: 1,
            per_second,
        }
    }

    #[test]
    fn a_ratio_window_over_its_bound_is_reported() {
        // After three seconds of 1,000 requests, the window allows 0.2 x 3,000 + 110 = 710
        // retries.
        let at_bound = synthetic(
            vec![(1_000, 1_200), (1_000, 1_200), (1_000, 1_000 + 310)],
            0,
        );
        assert!(check(Budget::Ratio, &at_bound).1);
        let over = synthetic(
            vec![(1_000, 1_200), (1_000, 1_200), (1_000, 1_000 + 311)],
            0,
        );
        assert!(!check(Budget::Ratio, &over).1);
    }

    #[test]
    fn a_token_bucket_over_its_quota_is_reported() {
        assert!(check(Budget::Bucket, &synthetic(vec![(1_000, 1_100)], 0)).1);
        assert!(!check(Budget::Bucket, &synthetic(vec![(1_000, 1_101)], 0)).1);
        assert!(check(Budget::Bucket, &synthetic(vec![(1_000, 1_101)], 5)).1);
    }

    #[test]
    fn no_budget_means_exactly_max_attempts() {
        assert!(check(Budget::None, &synthetic(vec![(10, 30)], 0)).1);
        assert!(!check(Budget::None, &synthetic(vec![(10, 29)], 0)).1);
        assert!(!check(Budget::None, &synthetic(vec![(10, 31)], 0)).1);
    }

    #[tokio::test(start_paused = true)]
    async fn short_runs_keep_every_bound() {
        let args = Args {
            requests: 3_000,
            per_second: 100,
        };
        for budget in [Budget::None, Budget::Ratio, Budget::Bucket] {
            for drive in [Drive::Sequential, Drive::Concurrent] {
                let run = run(budget, drive, Backend::AlwaysFails, &args).await;
                assert_eq!(run.requests, 3_000);
                assert!(check(budget, &run).1, "{}", check(budget, &run).0);
            }
        }
    }
}
