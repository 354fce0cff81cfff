//! The soak's client: hyper-util's pooled client behind steadfast's whole client stack.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::cancel::CancelLayer;
use steadfast::circuit_breaker::{
    BreakerEvent, CircuitBreaker, CircuitBreakerLayer, CircuitState, SlidingWindow,
};
use steadfast::retry::{Backoff, Jitter, RatioBudget, RetryMetrics, RetryPolicy};
use steadfast::validate::{Reason, ValidateLayer, ValidationContext, Validator};
use steadfast::{BoxError, ConfigError, ServiceBuilderExt};
use steadfast_http::deadline::PropagateDeadlineLayer;
use steadfast_http::replay::{ReplayCloner, ReplayLayer};
use steadfast_http::validate::{json, BufferLayer, Buffered, Json};
use steadfast_http::HttpClassifier;
use tower::{Service, ServiceBuilder};

use super::settings::Settings;

/// The most of an answer the client reads to validate it.
const BODY_CAP: usize = 64 * 1024;

/// What the soak reads from the client's shared state at the end: the breaker and the retry
/// counters every clone of the client shares.
#[derive(Debug, Clone)]
pub struct Observers {
    /// The circuit breaker under the retry layer.
    pub breaker: CircuitBreaker,
    /// The retry layer's counters.
    pub retries: Arc<RetryMetrics>,
    /// How many times the breaker opened (from closed or half-open).
    pub breaker_opened: Arc<AtomicU64>,
}

/// The client stack the soak drives: a `tower` service from requests with a `Full` body to
/// buffered answers, with `BoxError` errors, cheap to clone, whose futures can be spawned.
///
/// ```
/// use steadfast_reliability::soak::{client, Settings, SoakClient};
///
/// fn spawnable(_: &impl SoakClient) {}
/// let (client, _) = client(&Settings::default()).unwrap();
/// spawnable(&client);
/// ```
pub trait SoakClient:
    Service<
        Request<Full<Bytes>>,
        Response = Response<Buffered>,
        Error = BoxError,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> SoakClient for S where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<Buffered>,
            Error = BoxError,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Builds the client, outermost first: a cancel layer that adopts each request's token (and
/// its deadline); body replay; retries (4 attempts, exponential backoff from 1 ms with jitter,
/// `Retry-After` honoured up to 10 ms, a budget of retries for 5% of the requests over 10 s
/// with a floor of 10 a second, HTTP's classification); a circuit
/// breaker (open at 50% failures of the last 100 calls, for 20 ms); the deadline sent to the
/// server; a per-attempt timeout of `settings.attempt_timeout`; a validator that requires a
/// 2xx answer to be JSON; the body read (up to 64 KiB); hyper-util's legacy client.
pub fn client(settings: &Settings) -> Result<(impl SoakClient, Observers), ConfigError> {
    let breaker_opened = Arc::new(AtomicU64::new(0));
    let breaker = CircuitBreaker::builder()
        .name("soak")
        .on_event({
            let opened = breaker_opened.clone();
            move |e| {
                if let BreakerEvent::StateTransition { to, .. } = e {
                    if *to == CircuitState::Open {
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .failure_rate(50.0)
        .window(SlidingWindow::count(100))
        .minimum_calls(50)
        .open_for(Duration::from_millis(20))
        .build()?;
    let retries = Arc::new(RetryMetrics::default());
    let budget = Arc::new(RatioBudget::builder().ratio(0.05).build()?);

    let policy = RetryPolicy::builder()
        .name("soak")
        .max_attempts(4)
        .backoff(
            Backoff::exponential(Duration::from_millis(1))
                .max(Duration::from_millis(20))
                .jitter(Jitter::Equal),
        )
        .seed(settings.seed)
        .max_hint(Duration::from_millis(10))
        .budget(budget)
        .metrics(retries.clone())
        .classify(HttpClassifier::default())
        .clone_requests(ReplayCloner)
        .build()?;
    let svc = ServiceBuilder::new()
        .cancel(CancelLayer::new())
        .layer(ReplayLayer::new())
        .retry_with(policy)
        .circuit_breaker(
            CircuitBreakerLayer::new(breaker.clone()).classify(HttpClassifier::default()),
        )
        .layer(PropagateDeadlineLayer::new())
        .attempt_timeout(
            CancelLayer::builder()
                .timeout(settings.attempt_timeout)
                .build()?,
        )
        .validate(
            ValidateLayer::builder()
                .response(JsonWhenOk(json()))
                .build()?,
        )
        .layer(BufferLayer::new(BODY_CAP))
        .service(Client::builder(TokioExecutor::new()).build_http());
    Ok((
        svc,
        Observers {
            breaker,
            retries,
            breaker_opened,
        },
    ))
}

/// A 2xx answer must be valid JSON; other answers are left to the classifier.
#[derive(Debug, Clone, Copy)]
struct JsonWhenOk(Json);

impl Validator<Response<Buffered>> for JsonWhenOk {
    fn validate(
        &self,
        res: &Response<Buffered>,
        cx: &ValidationContext,
        reasons: &mut Vec<Reason>,
    ) {
        if res.status().is_success() {
            self.0.validate(res, cx, reasons);
        }
    }
}
