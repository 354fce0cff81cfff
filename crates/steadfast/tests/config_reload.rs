//! Live reload: requests in flight across a reload each run on one version of the settings,
//! the breaker keeps its state and window, the budget its balance, and a reload that fails
//! changes nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::circuit_breaker::CircuitState;
use steadfast::classify::AnyError;
use steadfast::config::{Config, Format, ReloadableStack, StackSettings};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};

fn config(text: &str) -> Config {
    Config::from_str(text, Format::Toml).unwrap_or_else(|e| panic!("{e}"))
}

/// A stack of `attempts` attempts of `timeout_ms` each, without backoff.
fn timed(attempts: u32, timeout_ms: u64) -> Config {
    config(&format!(
        r#"
        [stacks.s]
        retry = {{ max_attempts = {attempts}, backoff = {{ kind = "none" }} }}
        attempt_timeout = "{timeout_ms}ms"
        "#
    ))
}

/// Per request: the attempts the downstream saw.
type Seen = Arc<Mutex<HashMap<u64, u32>>>;

/// A downstream that never answers, counting the attempts of each request.
fn hanging(
    seen: Seen,
) -> impl Service<
    u64,
    Response = (),
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<(), std::io::Error>> + Send,
> + Clone {
    service_fn(move |id: u64| {
        *seen.lock().unwrap().entry(id).or_default() += 1;
        std::future::pending::<Result<(), std::io::Error>>()
    })
}

#[tokio::test(start_paused = true)]
async fn requests_in_flight_across_reloads_each_run_on_one_version() {
    // Version 1: 2 attempts of 100ms; 2: 4 of 300ms; 3: 3 of 50ms.
    let versions = [(2u32, 100u64), (4, 300), (3, 50)];
    let stack = ReloadableStack::new(&timed(2, 100), "s", AnyError).unwrap();
    let seen: Seen = Arc::default();
    let svc = stack.layer(hanging(seen.clone()));
    let origin = Instant::now();
    let mut tasks = Vec::new();
    // A request every 7ms for 1.4s; reloads at 503ms and 1003ms.
    for id in 0..200u64 {
        let mut svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(id * 7)).await;
            let fut = svc.ready().await.unwrap().call(id);
            let version = fut.version();
            let started = Instant::now();
            assert!(fut.await.is_err());
            (id, version, started, Instant::now())
        }));
    }
    tokio::time::sleep(Duration::from_millis(503)).await;
    assert_eq!(stack.reload(&timed(4, 300)).unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stack.reload(&timed(3, 50)).unwrap(), 3);
    let mut across = 0;
    for task in tasks {
        let (id, version, started, ended) = task.await.unwrap();
        let at = started - origin;
        let want = if at < Duration::from_millis(503) {
            1
        } else if at < Duration::from_millis(1003) {
            2
        } else {
            3
        };
        assert_eq!(version, want, "request {id} called at {at:?}");
        let (attempts, timeout) = versions[version as usize - 1];
        assert_eq!(
            seen.lock().unwrap()[&id],
            attempts,
            "request {id} (version {version})"
        );
        assert_eq!(
            ended - started,
            Duration::from_millis(timeout) * attempts,
            "request {id} (version {version})"
        );
        let reload_at = [503, 1003].map(|ms| origin + Duration::from_millis(ms));
        if reload_at.iter().any(|&r| started < r && r < ended) {
            across += 1;
        }
    }
    assert!(
        across > 50,
        "only {across} requests were in flight across a reload"
    );
    assert_eq!(stack.version(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_and_reloads_never_mix_versions() {
    // Odd versions make 2 attempts, even ones 3; the downstream fails at once.
    let file = |attempts: u32| {
        config(&format!(
            "[stacks.s]\nretry = {{ max_attempts = {attempts}, backoff = {{ kind = \"none\" }} }}\n"
        ))
    };
    let stack = ReloadableStack::new(&file(2), "s", AnyError).unwrap();
    let attempts = Arc::new(Mutex::new(HashMap::<u64, u32>::new()));
    let svc = stack.layer(service_fn({
        let attempts = attempts.clone();
        move |id: u64| {
            *attempts.lock().unwrap().entry(id).or_default() += 1;
            async {
                // Each attempt lets other tasks, and reloads, run in between.
                tokio::task::yield_now().await;
                Err::<(), _>(std::io::Error::other("down"))
            }
        }
    }));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reloader = {
        let (stack, done) = (stack.clone(), done.clone());
        tokio::spawn(async move {
            let mut n = 0u32;
            while !done.load(Ordering::Relaxed) {
                n += 1;
                stack.reload(&file(2 + n % 2)).unwrap();
                tokio::task::yield_now().await;
            }
            n
        })
    };
    let mut tasks = Vec::new();
    for worker in 0..8u64 {
        let mut svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let mut saw = Vec::new();
            for n in 0..250u64 {
                let id = worker * 1000 + n;
                let fut = svc.ready().await.unwrap().call(id);
                let version = fut.version();
                assert!(fut.await.is_err());
                saw.push((id, version));
            }
            saw
        }));
    }
    let mut saw = Vec::new();
    for task in tasks {
        saw.extend(task.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    let reloads = reloader.await.unwrap();
    let mut versions = std::collections::HashSet::new();
    {
        for (id, version) in saw {
            let want = if version % 2 == 1 { 2 } else { 3 };
            assert_eq!(
                attempts.lock().unwrap()[&id],
                want,
                "request {id}, version {version}"
            );
            versions.insert(version);
        }
    }
    assert!(
        versions.len() > 10,
        "{reloads} reloads, and the requests saw versions {versions:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_breaker_keeps_its_state_and_window() {
    let file = |rate: u32| {
        config(&format!(
            r#"
            [stacks.s]
            breaker = {{ failure_rate = {rate}, minimum_calls = 4, window = {{ count = 10 }}, open_for = "30s" }}
            "#
        ))
    };
    let stack = ReloadableStack::new(&file(50), "s", AnyError).unwrap();
    let svc = stack.layer(service_fn(|fail: bool| async move {
        if fail {
            Err(std::io::Error::other("down"))
        } else {
            Ok(())
        }
    }));
    // One failure in four: 25%, under 50%.
    for fail in [false, false, false, true] {
        let _ = svc.clone().oneshot(fail).await;
    }
    let breaker = stack.breaker().unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    // At 20%, the window as it stands (2 failures in 5 with the next) trips the breaker.
    stack.reload(&file(20)).unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    let _ = svc.clone().oneshot(true).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(breaker.metrics().failures, 2);
    // Open stays open across another reload; the next call is refused.
    stack.reload(&file(60)).unwrap();
    assert_eq!(stack.breaker().unwrap().state(), CircuitState::Open);
    let err = svc.clone().oneshot(false).await.unwrap_err();
    assert!(
        steadfast::classify::find_source::<steadfast::circuit_breaker::Rejected>(&*err).is_some()
    );
}

#[tokio::test(start_paused = true)]
async fn the_budget_keeps_its_balance() {
    let file = |attempts: u32, capacity: u32| {
        config(&format!(
            r#"
            [stacks.s]
            retry = {{ max_attempts = {attempts}, backoff = {{ kind = "none" }}, budget = {{ kind = "token_bucket", capacity = {capacity}, retry_cost = 1, success_refund = 0 }} }}
            "#
        ))
    };
    let stack = ReloadableStack::new(&file(3, 2), "s", AnyError).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let svc = stack.layer(service_fn({
        let calls = calls.clone();
        move |_: u64| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(std::io::Error::other("down")) }
        }
    }));
    // Three attempts: two retries spend the budget.
    let _ = svc.clone().oneshot(1).await;
    assert_eq!(calls.swap(0, Ordering::SeqCst), 3);
    assert_eq!(stack.budget().unwrap().balance(), Some(0.0));
    // Another policy with the same budget: still spent, so no retry.
    stack.reload(&file(5, 2)).unwrap();
    assert_eq!(stack.budget().unwrap().balance(), Some(0.0));
    let _ = svc.clone().oneshot(2).await;
    assert_eq!(
        calls.swap(0, Ordering::SeqCst),
        1,
        "the spent budget allows no retry"
    );
    // A budget of other settings starts full.
    stack.reload(&file(5, 4)).unwrap();
    assert_eq!(stack.budget().unwrap().balance(), Some(4.0));
    let _ = svc.oneshot(3).await;
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_fails_changes_nothing() {
    let text = r#"
        [stacks.s]
        retry = { max_attempts = 2, backoff = { kind = "none" } }
        breaker = { failure_rate = 50, minimum_calls = 2, window = { count = 10 } }
        "#;
    let stack = ReloadableStack::new(&config(text), "s", AnyError).unwrap();
    let before: StackSettings = stack.settings();
    let breaker = stack.breaker().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let svc = stack.layer(service_fn({
        let calls = calls.clone();
        move |_: u64| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(std::io::Error::other("down")) }
        }
    }));

    // A rule broken: every problem, at its path.
    let mut bad = before.clone();
    bad.retry.as_mut().unwrap().max_attempts = Some(0);
    bad.breaker.as_mut().unwrap().minimum_calls = Some(0);
    let err = stack.reload_settings(&bad).unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path()).collect();
    assert_eq!(
        paths,
        [
            "stacks.s.retry.max_attempts",
            "stacks.s.breaker.minimum_calls"
        ]
    );

    // Valid retry settings with a breaker window that cannot change: the retry change is not
    // applied either.
    let mut window = before.clone();
    window.retry.as_mut().unwrap().max_attempts = Some(5);
    window.breaker.as_mut().unwrap().window = Some(steadfast::config::WindowSettings::Count(20));
    window.breaker.as_mut().unwrap().failure_rate =
        Some(steadfast::config::FailureRate::Percent(10.0));
    let err = stack.reload_settings(&window).unwrap_err();
    assert_eq!(err.problems()[0].path(), "stacks.s.breaker.window");

    // A file that does not read names the file.
    let dir = std::env::temp_dir().join(format!("steadfast-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[stacks.s]\nretry = { max_atempts = 3 }\n").unwrap();
    let err = stack.reload_file(&path).unwrap_err();
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    assert!(
        err.to_string().contains("did you mean `max_attempts`"),
        "{err}"
    );
    // A file without the stack.
    std::fs::write(&path, "[stacks.other]\n").unwrap();
    let err = stack.reload_file(&path).unwrap_err();
    assert!(
        err.to_string().contains("stacks.s: no stack of that name"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Nothing changed: the version, the settings, the breaker's rules, the behaviour.
    assert_eq!(stack.version(), 1);
    assert_eq!(stack.settings(), before);
    let _ = svc.clone().oneshot(1).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "still two attempts");
    // The breaker's rules too: 2 failures in 6 calls (33%) trip a 10% rule, not a 50% one.
    breaker.reset();
    let ok = stack.layer(service_fn(|_: u64| async { Ok::<(), std::io::Error>(()) }));
    for id in 0..4 {
        ok.clone().oneshot(id).await.unwrap();
    }
    let _ = svc.oneshot(9).await;
    assert_eq!(breaker.metrics().failures, 4);
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn rules_a_reload_turns_on_apply_from_the_next_call() {
    let file = |extra: &str| {
        config(&format!(
            "[stacks.s]\nbreaker = {{ failure_rate = 90, minimum_calls = 4, window = {{ count = 10 }}{extra} }}\n"
        ))
    };
    let stack = ReloadableStack::new(&file(""), "s", AnyError).unwrap();
    // Each request says how long the downstream takes (in ms) and whether it fails.
    let req = |ms: u64, fail: bool| ms * 2 + u64::from(fail);
    let svc = stack.layer(service_fn(|n: u64| async move {
        tokio::time::sleep(Duration::from_millis(n / 2)).await;
        if n % 2 == 1 {
            Err(std::io::Error::other("down"))
        } else {
            Ok(())
        }
    }));
    let breaker = stack.breaker().unwrap();

    // A slow-call rule: calls are timed from the next one on, and four slow calls trip it.
    stack
        .reload(&file(
            ", slow_call_rate = { percent = 50, threshold = \"100ms\" }",
        ))
        .unwrap();
    for _ in 0..4 {
        let _ = svc.clone().oneshot(req(200, false)).await;
    }
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "{:?}",
        breaker.metrics()
    );
    assert_eq!(breaker.metrics().slow, 4);

    // A consecutive-failure rule: a success in between starts the count again.
    breaker.reset();
    stack.reload(&file(", consecutive_failures = 3")).unwrap();
    for fail in [true, true, false, true, true] {
        let _ = svc.clone().oneshot(req(0, fail)).await;
    }
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "two in a row, not four"
    );
    let _ = svc.clone().oneshot(req(0, true)).await;
    assert_eq!(breaker.state(), CircuitState::Open, "three in a row");
}

#[test]
fn a_stack_with_a_validate_section_is_refused_at_its_path() {
    let with = config("[stacks.s]\nretry = { max_attempts = 2 }\nvalidate = { json = true }\n");
    let err = ReloadableStack::new(&with, "s", AnyError).unwrap_err();
    assert_eq!(err.problems()[0].path(), "stacks.s.validate");
    assert!(err.problems()[0].rule().contains("validate_with"), "{err}");

    let without = config("[stacks.s]\nretry = { max_attempts = 2 }\n");
    let stack = ReloadableStack::new(&without, "s", AnyError).unwrap();
    let err = stack.reload(&with).unwrap_err();
    assert_eq!(err.problems()[0].path(), "stacks.s.validate");
    assert_eq!(stack.version(), 1);
}

#[test]
fn a_stack_with_a_hedge_section_is_refused_at_its_path() {
    let with = config(
        "[stacks.s]\nretry = { max_attempts = 2 }\nhedge = { delay = \"50ms\", budget = { kind = \"ratio\" } }\n",
    );
    let err = ReloadableStack::new(&with, "s", AnyError).unwrap_err();
    assert_eq!(err.problems()[0].path(), "stacks.s.hedge");
    assert!(err.problems()[0].rule().contains("layer_hedged"), "{err}");

    let without = config("[stacks.s]\nretry = { max_attempts = 2 }\n");
    let stack = ReloadableStack::new(&without, "s", AnyError).unwrap();
    let err = stack.reload(&with).unwrap_err();
    assert_eq!(err.problems()[0].path(), "stacks.s.hedge");
    assert_eq!(stack.version(), 1);
}
