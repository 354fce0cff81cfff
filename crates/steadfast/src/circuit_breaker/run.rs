//! Guarding plain code with a circuit breaker: [`CircuitBreaker::run`] for async code,
//! [`CircuitBreaker::run_blocking`] for synchronous code, and [`ClassifiedBreaker`] for either
//! with a classifier of your own.
//!
//! A call made this way goes through the same breaker as the layer's calls, by the same rules:
//! it asks for admission (taking a half-open permit when probing), is measured for the slow-call
//! rule, and has its result classified and recorded. A rejected call fails with the same
//! [`Rejected`](super::Rejected) error, without running the code.
//!
//! ```
//! use std::time::Duration;
//! use steadfast::circuit_breaker::{CircuitBreaker, CircuitState, Rejected};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let breaker = CircuitBreaker::builder()
//!     .consecutive_failures(2)
//!     .open_for(Duration::from_secs(10))
//!     .build()
//!     .unwrap();
//!
//! let price = breaker.run(|| async { Ok::<_, std::io::Error>(42) }).await.unwrap();
//! assert_eq!(price, 42);
//!
//! for _ in 0..2 {
//!     let _ = breaker.run(|| async { Err::<u32, _>(std::io::Error::other("down")) }).await;
//! }
//! assert_eq!(breaker.state(), CircuitState::Open);
//!
//! // Open: the code does not run, and the error says when the next probe is due.
//! let err = breaker.run_blocking(|| -> Result<u32, std::io::Error> { unreachable!() }).unwrap_err();
//! assert_eq!(err.downcast_ref::<Rejected>().unwrap().retry_after(), Some(Duration::from_secs(10)));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project::pin_project;
use tokio::time::Instant;

use super::breaker::{BreakerRef, CircuitBreaker};
use super::future::{settle, PermitGuard};
use crate::classify::{classify_fn, AnyError, Attempt, Classify, ClassifyFn, Outcome};
use crate::BoxError;

impl CircuitBreaker {
    /// Runs `f`'s future through the breaker, as resilience4j's
    /// `CircuitBreaker.executeSupplier` and Polly's `ExecuteAsync` do: if the breaker admits
    /// the call, `f` is called and its future awaited, and the result is recorded; otherwise
    /// `f` is not called and the call fails with [`Rejected`](super::Rejected), which can be
    /// downcast from the `BoxError`.
    ///
    /// Every `Ok` is a success and every `Err` a failure (steadfast's own errors are refined
    /// as in the layer: see [`refine`](crate::classify::refine)); use
    /// [`classify`](Self::classify) or [`classify_with`](Self::classify_with) to decide
    /// otherwise. Errors come back boxed, unchanged.
    ///
    /// Nothing happens until the returned [`Run`] is first polled: admission is asked for then,
    /// and the slow-call clock starts then. A half-open probe whose future is dropped before it
    /// finishes gives its permit back, as a probe sent through the layer does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::circuit_breaker::CircuitBreaker;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let breaker = CircuitBreaker::builder()
    ///     .slow_call_rate(50.0, Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// let n = breaker
    ///     .run(|| async {
    ///         tokio::time::sleep(Duration::from_secs(2)).await;
    ///         Ok::<_, std::io::Error>(7)
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(n, 7);
    /// let m = breaker.metrics();
    /// assert_eq!((m.successes, m.slow), (1, 1), "a slow success");
    /// # }
    /// ```
    pub fn run<F, Fut, T, E>(&self, f: F) -> Run<F, Fut, AnyError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        Run::new(self.clone(), AnyError, f)
    }

    /// Calls `f` through the breaker on this thread: [`run`](Self::run) for synchronous code
    /// (resilience4j's `executeSupplier`, Polly's `Execute`). Needs no runtime.
    ///
    /// If `f` panics, the call is not recorded (a probe gives its permit back) and the panic
    /// carries on.
    ///
    /// ```
    /// use steadfast::circuit_breaker::{CircuitBreaker, CircuitState};
    ///
    /// let breaker = CircuitBreaker::builder().consecutive_failures(1).build().unwrap();
    /// assert_eq!(breaker.run_blocking(|| "42".parse::<u32>()).unwrap(), 42);
    /// assert!(breaker.run_blocking(|| "x".parse::<u32>()).is_err());
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// ```
    pub fn run_blocking<F, T, E>(&self, f: F) -> Result<T, BoxError>
    where
        F: FnOnce() -> Result<T, E>,
        E: Into<BoxError>,
    {
        run_blocking(self, &AnyError, f)
    }

    /// This breaker with `classifier` deciding which results are failures, successes or
    /// ignored, for [`ClassifiedBreaker::run`] and [`ClassifiedBreaker::run_blocking`]. The
    /// classifier sees `()` as the request; outcomes count as they do in the layer (see
    /// [`CircuitBreakerLayer::classify`](super::CircuitBreakerLayer::classify)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use steadfast::circuit_breaker::CircuitBreaker;
    /// use steadfast::classify::ErrorIs;
    ///
    /// // An `Arc` makes any classifier cheap to clone into each call.
    /// let guarded = CircuitBreaker::builder()
    ///     .build()
    ///     .unwrap()
    ///     .classify(Arc::new(ErrorIs::<std::io::Error>::new()));
    /// assert_eq!(guarded.run_blocking(|| Ok::<_, std::io::Error>(1)).unwrap(), 1);
    /// ```
    pub fn classify<C>(&self, classifier: C) -> ClassifiedBreaker<C> {
        ClassifiedBreaker {
            breaker: self.clone(),
            classifier,
        }
    }

    /// [`classify`](Self::classify) with a closure: resilience4j's `recordResult`,
    /// `recordExceptions` and `ignoreExceptions`, or Polly's `ShouldHandle`, in one place.
    /// [`Outcome::Ignored`] leaves a result out of the breaker's counts altogether (and gives
    /// a probe's permit back); every failure outcome counts as a failure.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use steadfast::circuit_breaker::CircuitBreaker;
    /// use steadfast::classify::{Attempt, Outcome};
    ///
    /// let breaker = CircuitBreaker::builder().consecutive_failures(1).build().unwrap();
    /// // A status of 500 or more is a failure; a missing record is the caller's problem.
    /// let guarded = breaker.classify_with(|_: &Attempt<'_, ()>, r: Result<&u16, &std::io::Error>| {
    ///     match r {
    ///         Ok(status) if *status >= 500 => Outcome::NonRetryable,
    ///         Ok(_) => Outcome::Success,
    ///         Err(e) if e.kind() == ErrorKind::NotFound => Outcome::Ignored,
    ///         Err(_) => Outcome::NonRetryable,
    ///     }
    /// });
    /// let _ = guarded.run_blocking(|| Err::<u16, _>(std::io::Error::from(ErrorKind::NotFound)));
    /// assert_eq!(breaker.metrics().ignored, 1);
    /// assert_eq!(guarded.run_blocking(|| Ok::<u16, std::io::Error>(503)).unwrap(), 503);
    /// assert!(breaker.state().rejects(), "a 503 is a failure");
    /// ```
    pub fn classify_with<T, E, G>(&self, f: G) -> ClassifiedBreaker<ClassifyFn<G>>
    where
        G: Fn(&Attempt<'_, ()>, Result<&T, &E>) -> Outcome,
    {
        self.classify(classify_fn(f))
    }
}

/// A [`CircuitBreaker`] with a classifier, for running plain code: made by
/// [`CircuitBreaker::classify`] or [`CircuitBreaker::classify_with`].
///
/// Cheap to clone when the classifier is; every clone guards with the same breaker.
///
/// ```
/// use steadfast::circuit_breaker::{CircuitBreaker, ClassifiedBreaker};
/// use steadfast::classify::Never;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let guarded: ClassifiedBreaker<Never> = CircuitBreaker::builder().build().unwrap().classify(Never);
/// let v = guarded.run(|| async { Ok::<_, std::io::Error>("fine") }).await.unwrap();
/// assert_eq!(v, "fine");
/// assert_eq!(guarded.breaker().metrics().successes, 1);
/// # }
/// ```
#[derive(Clone)]
pub struct ClassifiedBreaker<C> {
    breaker: CircuitBreaker,
    classifier: C,
}

impl<C> fmt::Debug for ClassifiedBreaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifiedBreaker")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<C> ClassifiedBreaker<C> {
    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The classifier.
    pub fn classifier(&self) -> &C {
        &self.classifier
    }

    /// [`CircuitBreaker::run`], judged by this classifier (cloned into the returned future).
    pub fn run<F, Fut, T, E>(&self, f: F) -> Run<F, Fut, C>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
        C: Classify<(), T, E> + Clone,
    {
        Run::new(self.breaker.clone(), self.classifier.clone(), f)
    }

    /// [`CircuitBreaker::run_blocking`], judged by this classifier.
    pub fn run_blocking<F, T, E>(&self, f: F) -> Result<T, BoxError>
    where
        F: FnOnce() -> Result<T, E>,
        E: Into<BoxError>,
        C: Classify<(), T, E>,
    {
        run_blocking(&self.breaker, &self.classifier, f)
    }
}

/// The context a classifier sees for a call made through [`CircuitBreaker::run`] or
/// [`CircuitBreaker::run_blocking`]: the first attempt, of the request `()`.
fn attempt() -> Attempt<'static, ()> {
    Attempt::first(&())
}

fn run_blocking<C, F, T, E>(breaker: &CircuitBreaker, classifier: &C, f: F) -> Result<T, BoxError>
where
    F: FnOnce() -> Result<T, E>,
    E: Into<BoxError>,
    C: Classify<(), T, E>,
{
    let core = &breaker.core;
    let permit = match core.try_acquire() {
        Ok(p) => p,
        Err(r) => return Err(breaker.rejected(r.state, r.retry_after).into()),
    };
    // Should `f` panic, the guard's drop gives a probe's permit back.
    let mut guard = PermitGuard::new(breaker.clone(), permit);
    let start = core.measures_duration().then(Instant::now);
    let result = f();
    settle(
        &mut guard,
        classifier,
        &attempt(),
        result,
        &start,
        &None,
        None,
    )
}

/// The future of [`CircuitBreaker::run`] and [`ClassifiedBreaker::run`].
///
/// Asks the breaker for admission when first polled; then calls the closure and awaits its
/// future. Dropping it before it finishes records nothing, and gives a half-open permit back.
#[pin_project]
#[must_use = "futures do nothing unless polled"]
pub struct Run<F, Fut, C = AnyError> {
    classifier: C,
    #[pin]
    stage: Stage<F, Fut>,
}

#[pin_project(project = StageProj, project_replace = StageOwn)]
enum Stage<F, Fut> {
    /// Not polled yet: nothing asked of the breaker.
    Ready {
        breaker: CircuitBreaker,
        f: F,
    },
    /// Admitted: the call runs, holding its permit.
    Running {
        #[pin]
        fut: Fut,
        guard: PermitGuard<CircuitBreaker>,
        start: Option<Instant>,
    },
    Done,
}

impl<F, Fut, C> Run<F, Fut, C> {
    fn new(breaker: CircuitBreaker, classifier: C, f: F) -> Self {
        Run {
            classifier,
            stage: Stage::Ready { breaker, f },
        }
    }
}

impl<F, Fut, C> fmt::Debug for Run<F, Fut, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Ready { .. } => "ready",
            Stage::Running { .. } => "running",
            Stage::Done => "done",
        };
        f.debug_struct("Run")
            .field("stage", &stage)
            .finish_non_exhaustive()
    }
}

impl<F, Fut, C, T, E> Future for Run<F, Fut, C>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<(), T, E>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let StageProj::Ready { .. } = this.stage.as_mut().project() {
            if let StageOwn::Ready { breaker, f } = this.stage.as_mut().project_replace(Stage::Done)
            {
                let permit = match breaker.core.try_acquire() {
                    Ok(p) => p,
                    Err(r) => {
                        let rejected = breaker.rejected(r.state, r.retry_after);
                        return Poll::Ready(Err(rejected.into()));
                    }
                };
                let start = breaker.core.measures_duration().then(Instant::now);
                let guard = PermitGuard::new(breaker, permit);
                this.stage.set(Stage::Running {
                    fut: f(),
                    guard,
                    start,
                });
            }
        }
        match this.stage.as_mut().project() {
            StageProj::Running { fut, guard, start } => {
                let result = ready!(fut.poll(cx));
                let out = settle(
                    guard,
                    this.classifier,
                    &attempt(),
                    result,
                    start,
                    &None,
                    None,
                );
                this.stage.set(Stage::Done);
                Poll::Ready(out)
            }
            _ => panic!("`Run` polled after completion"),
        }
    }
}
