//! Test support for steadfast (not published).
//!
//! * [`ReadinessProbe`] wraps a service and panics if `call` comes without a successful
//!   `poll_ready` first: the tower readiness contract, checked on every call.
//! * [`Scripted`] is a fault-injecting service that answers from a script (successes, errors,
//!   delays, calls that never finish) and records when each call arrived, so tests on a paused
//!   clock can assert exact retry delays.
//! * [`server::ScriptedServer`] is a real HTTP/1.1 server on 127.0.0.1 that answers from a
//!   script (statuses, headers, hang-ups) and records every request it received.
//! * [`alloc::CountingAllocator`] counts each thread's heap allocations, for tests that assert
//!   how many a piece of code makes.
//! * [`redis::RedisServer`] starts a real `redis-server` on a free port of 127.0.0.1 and kills
//!   it when dropped.
//! * [`spawn_calls`] sends many requests through clones of a service, each from its own task
//!   on a multi-threaded runtime, for stress tests of state shared across threads.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_test::{Reply, Scripted};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let svc = Scripted::new([Reply::err("down"), Reply::ok(7).after(Duration::from_secs(1))]);
//! assert!(svc.clone().oneshot(()).await.is_err());
//! assert_eq!(svc.clone().oneshot(()).await.unwrap(), 7);
//! assert_eq!(svc.calls(), 2);
//! # }
//! ```

pub mod alloc;
pub mod redis;
pub mod server;

#[cfg(feature = "grpc")]
pub mod echo;

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_service::Service;

/// Wraps a service and enforces the readiness contract: every `call` must follow a
/// `poll_ready` that returned `Ready(Ok(()))` on the same clone, and each readiness is used
/// by at most one call.
///
/// Clones share the counters but each clone has its own readiness, as with real services.
#[derive(Debug)]
pub struct ReadinessProbe<S> {
    inner: S,
    ready: bool,
    stats: Arc<ProbeStats>,
}

#[derive(Debug, Default)]
struct ProbeStats {
    polls: AtomicUsize,
    calls: AtomicUsize,
}

impl<S> ReadinessProbe<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        ReadinessProbe {
            inner,
            ready: false,
            stats: Arc::default(),
        }
    }

    /// Calls made through this probe and its clones.
    pub fn calls(&self) -> usize {
        self.stats.calls.load(Ordering::SeqCst)
    }

    /// `poll_ready` calls that returned ready, through this probe and its clones.
    pub fn ready_polls(&self) -> usize {
        self.stats.polls.load(Ordering::SeqCst)
    }
}

impl<S: Clone> Clone for ReadinessProbe<S> {
    fn clone(&self) -> Self {
        ReadinessProbe {
            inner: self.inner.clone(),
            ready: false,
            stats: self.stats.clone(),
        }
    }
}

impl<S, Req> Service<Req> for ReadinessProbe<S>
where
    S: Service<Req>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        let r = self.inner.poll_ready(cx);
        if let Poll::Ready(Ok(())) = r {
            self.ready = true;
            self.stats.polls.fetch_add(1, Ordering::SeqCst);
        }
        r
    }

    fn call(&mut self, req: Req) -> S::Future {
        assert!(
            self.ready,
            "readiness contract broken: `call` without a successful `poll_ready` first"
        );
        self.ready = false;
        self.stats.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.call(req)
    }
}

/// The error a [`Scripted`] service returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestError(pub String);

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestError {}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply<T> {
    /// Answer with this value.
    Ok(T),
    /// Fail with a [`TestError`] carrying this message.
    Err(String),
    /// Never answer.
    Hang,
    /// Wait, then give the inner reply.
    After(Duration, Box<Reply<T>>),
}

impl<T> Reply<T> {
    /// A success.
    pub fn ok(value: T) -> Self {
        Reply::Ok(value)
    }

    /// A failure with `message`.
    pub fn err(message: impl Into<String>) -> Self {
        Reply::Err(message.into())
    }

    /// This reply, after `delay`.
    pub fn after(self, delay: Duration) -> Self {
        Reply::After(delay, Box::new(self))
    }
}

struct Script<T, Req> {
    replies: Mutex<VecDeque<Reply<T>>>,
    fallback: Mutex<Option<Reply<T>>>,
    calls: Mutex<Vec<(Instant, Req)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A service that answers from a script, in order, shared by all its clones.
///
/// When the script runs out it repeats the [fallback](Self::then_always) (by default it
/// panics, so a test notices an unexpected extra call). Each call's arrival time and request
/// are recorded.
pub struct Scripted<T, Req = ()> {
    script: Arc<Script<T, Req>>,
}

impl<T, Req> Clone for Scripted<T, Req> {
    fn clone(&self) -> Self {
        Scripted {
            script: self.script.clone(),
        }
    }
}

impl<T, Req> fmt::Debug for Scripted<T, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scripted")
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl<T, Req> Scripted<T, Req> {
    /// A service that gives `replies` in order.
    pub fn new(replies: impl IntoIterator<Item = Reply<T>>) -> Self {
        Scripted {
            script: Arc::new(Script {
                replies: Mutex::new(replies.into_iter().collect()),
                fallback: Mutex::new(None),
                calls: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
            }),
        }
    }

    /// After the script, give `reply` to every further call.
    pub fn then_always(self, reply: Reply<T>) -> Self {
        *self.script.fallback.lock().unwrap() = Some(reply);
        self
    }

    /// Calls received so far.
    pub fn calls(&self) -> usize {
        self.script.calls.lock().unwrap().len()
    }

    /// When each call arrived.
    pub fn call_times(&self) -> Vec<Instant> {
        self.script
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| *t)
            .collect()
    }

    /// The gaps between consecutive calls.
    pub fn gaps(&self) -> Vec<Duration> {
        self.call_times()
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .collect()
    }

    /// The most calls that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.script.max_in_flight.load(Ordering::SeqCst)
    }
}

impl<T, Req: Clone> Scripted<T, Req> {
    /// The requests received, in order.
    pub fn requests(&self) -> Vec<Req> {
        self.script
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }
}

impl<T, Req> Service<Req> for Scripted<T, Req>
where
    T: Clone + Send + 'static,
    Req: Send + 'static,
{
    type Response = T;
    type Error = TestError;
    type Future = Pin<Box<dyn Future<Output = Result<T, TestError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TestError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        self.script
            .calls
            .lock()
            .unwrap()
            .push((Instant::now(), req));
        let reply = self.script.replies.lock().unwrap().pop_front();
        let reply = reply
            .or_else(|| self.script.fallback.lock().unwrap().clone())
            .unwrap_or_else(|| panic!("Scripted service called more often than scripted"));
        let now = self.script.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.script.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(self.script.clone());
        Box::pin(async move {
            let _guard = guard;
            play(reply).await
        })
    }
}

struct InFlight<T, Req>(Arc<Script<T, Req>>);

impl<T, Req> Drop for InFlight<T, Req> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn play<T>(mut reply: Reply<T>) -> Result<T, TestError> {
    loop {
        match reply {
            Reply::Ok(v) => return Ok(v),
            Reply::Err(m) => return Err(TestError(m)),
            Reply::Hang => std::future::pending::<()>().await,
            Reply::After(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
        }
    }
}

/// Sends `n` requests (made by `request`) through clones of `svc`, each clone cloned on the
/// calling thread and moved into its own task on a new runtime of `workers` worker threads,
/// where it is made ready, called and dropped. Returns how many requests succeeded, and the
/// runtime: dropping it ends the worker threads (and whatever they keep per thread).
pub fn spawn_calls<S, Req>(
    svc: &S,
    n: usize,
    workers: usize,
    request: impl Fn() -> Req,
) -> (u64, tokio::runtime::Runtime)
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    Req: Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a runtime");
    let ok = rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let mut svc = svc.clone();
                let req = request();
                tokio::spawn(async move {
                    if std::future::poll_fn(|cx| svc.poll_ready(cx)).await.is_err() {
                        return false;
                    }
                    svc.call(req).await.is_ok()
                })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            ok += u64::from(task.await.expect("the task ran to its end"));
        }
        ok
    });
    (ok, rt)
}
