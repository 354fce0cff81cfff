//! The layers' `tracing` spans as a subscriber sees them: one per request per layer, nested in
//! stack order, with the same `steadfast.*` fields in every layer and each event in the span of
//! the layer that emits it. Through tracing-subscriber's registry and a layer that collects
//! the spans, their parents and fields, and the events; on tokio's paused clock.

#![cfg(all(
    feature = "retry",
    feature = "circuit-breaker",
    feature = "cancel",
    feature = "validate",
    feature = "http"
))]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::cancel::CancelLayer;
use steadfast::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
use steadfast::validate::ValidateLayer;
use tower::{service_fn, ServiceExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Req = http::Request<()>;

/// A span as the collector saw it: its name, its parent's index, its fields.
#[derive(Clone, Debug)]
struct SpanSeen {
    name: &'static str,
    parent: Option<usize>,
    fields: BTreeMap<String, String>,
}

/// An event: the index of the span it is in, its message, its fields.
#[derive(Clone, Debug)]
struct EventSeen {
    span: Option<usize>,
    message: String,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Seen {
    spans: Vec<SpanSeen>,
    events: Vec<EventSeen>,
}

/// A registry layer collecting every span and event. Each span is known by its index in
/// `Seen::spans`, kept in the span's extensions (the registry reuses the ids of closed spans).
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Seen>>);

struct Index(usize);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Collect {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a new span is in the registry");
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Index>().map(|i| i.0));
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut seen = self.0.lock().unwrap();
        seen.spans.push(SpanSeen {
            name: attrs.metadata().name(),
            parent,
            fields,
        });
        span.extensions_mut().insert(Index(seen.spans.len() - 1));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("a recorded span is in the registry");
        let Some(index) = span.extensions().get::<Index>().map(|i| i.0) else {
            return;
        };
        let mut seen = self.0.lock().unwrap();
        values.record(&mut Fields(&mut seen.spans[index].fields));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let span = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<Index>().map(|i| i.0));
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        self.0.lock().unwrap().events.push(EventSeen {
            span,
            message,
            fields,
        });
    }
}

impl Collect {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::set_default(subscriber)
    }

    fn spans(&self) -> Vec<SpanSeen> {
        self.0.lock().unwrap().spans.clone()
    }

    fn events(&self) -> Vec<EventSeen> {
        self.0.lock().unwrap().events.clone()
    }
}

/// A service that fails its first call and answers 200 after.
fn flaky() -> impl tower::Service<
    Req,
    Response = u16,
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<u16, std::io::Error>> + Send,
> + Clone {
    let calls = Arc::new(AtomicU32::new(0));
    service_fn(move |_: Req| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err(std::io::Error::other("connection reset"))
            } else {
                Ok(200)
            }
        }
    })
}

/// cancel → retry → circuit breaker → validate over `inner`, each layer named.
fn stack<S>(
    inner: S,
    breaker: &CircuitBreaker,
) -> impl tower::Service<Req, Response = u16, Error = steadfast::BoxError>
where
    S: tower::Service<Req, Response = u16, Error = std::io::Error> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let policy = RetryPolicy::builder()
        .name("payments")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(50)))
        .build()
        .unwrap();
    let validate = ValidateLayer::builder()
        .name("answers")
        .response_fn(|status: &u16, _| {
            if *status == 200 {
                Ok(())
            } else {
                Err("not 200")
            }
        })
        .build()
        .unwrap();
    let cancel = CancelLayer::builder()
        .name("edge")
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    tower::ServiceBuilder::new()
        .layer(cancel)
        .layer(RetryLayer::new(policy))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .layer(validate)
        .service(inner)
}

/// The path of span `i` from the root: the names of its ancestors and its own.
fn path(spans: &[SpanSeen], mut i: usize) -> Vec<&'static str> {
    let mut names = vec![spans[i].name];
    while let Some(p) = spans[i].parent {
        names.push(spans[p].name);
        i = p;
    }
    names.reverse();
    names
}

#[tokio::test(start_paused = true)]
async fn a_request_makes_one_span_per_layer_nested_in_stack_order() {
    let collect = Collect::default();
    let _guard = collect.install();
    // Opens on the first failure, and lets a probe through once the backoff is over.
    let breaker = CircuitBreaker::builder()
        .name("payments-db")
        .consecutive_failures(1)
        .open_for(Duration::from_millis(10))
        .build()
        .unwrap();
    let answer = stack(flaky(), &breaker)
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(answer, 200);

    let spans = collect.spans();
    let paths: Vec<Vec<&str>> = (0..spans.len()).map(|i| path(&spans, i)).collect();
    let attempt_1 = ["cancel", "retry", "retry_attempt"];
    let nested = |tail: &[&'static str]| [&attempt_1[..], tail].concat();
    assert_eq!(
        paths,
        [
            vec!["cancel"],
            vec!["cancel", "retry"],
            attempt_1.to_vec(),
            nested(&["circuit_breaker"]),
            nested(&["circuit_breaker", "validate"]),
            attempt_1.to_vec(),
            nested(&["circuit_breaker"]),
            nested(&["circuit_breaker", "validate"]),
        ]
    );
    // The two attempts are two spans in the one `retry` span.
    assert_eq!(spans[2].parent, Some(1));
    assert_eq!(spans[5].parent, Some(1));

    // Every span has the same vocabulary: the kind, the layer's name, the outcome.
    let field = |i: usize, name: &str| spans[i].fields.get(name).map(String::as_str);
    for (i, span) in spans.iter().enumerate() {
        for key in ["steadfast.kind", "steadfast.layer", "steadfast.outcome"] {
            assert!(
                span.fields.contains_key(key),
                "{} lacks {key}: {span:?}",
                span.name
            );
        }
        let kind = if span.name == "retry_attempt" {
            "retry"
        } else {
            span.name
        };
        assert_eq!(field(i, "steadfast.kind"), Some(kind));
    }
    let layers: Vec<_> = (0..spans.len())
        .map(|i| field(i, "steadfast.layer").unwrap())
        .collect();
    assert_eq!(
        layers,
        [
            "edge",
            "payments",
            "payments",
            "payments-db",
            "answers",
            "payments",
            "payments-db",
            "answers"
        ]
    );
    let outcomes: Vec<_> = (0..spans.len())
        .map(|i| field(i, "steadfast.outcome").unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "success",
            "success",
            "retryable",
            "failure",
            "failure",
            "success",
            "success",
            "success"
        ]
    );
    // The attempt number, on the retry's attempts and on the layers below them, and
    // OpenTelemetry's resend count on the resend.
    let attempts: Vec<_> = [2, 3, 4, 5, 6, 7]
        .map(|i| field(i, "steadfast.attempt").unwrap())
        .to_vec();
    assert_eq!(attempts, ["1", "1", "1", "2", "2", "2"]);
    assert_eq!(field(2, "http.request.resend_count"), None);
    assert_eq!(field(5, "http.request.resend_count"), Some("1"));
    assert_eq!(field(1, "steadfast.attempt"), Some("2"));
    // The breaker's span says the state it admitted the call under.
    assert_eq!(field(3, "steadfast.circuit_breaker.state"), Some("closed"));
    assert_eq!(
        field(6, "steadfast.circuit_breaker.state"),
        Some("half_open")
    );

    // One `attempt finished` per attempt, in the request's `retry` span; each transition
    // of the breaker in the span of the call that caused it.
    let events = collect.events();
    let finished: Vec<_> = events
        .iter()
        .filter(|e| e.message == "attempt finished")
        .map(|e| (e.span, e.fields["steadfast.attempt"].clone()))
        .collect();
    assert_eq!(finished, [(Some(1), "1".into()), (Some(1), "2".into())]);
    let transitions: Vec<_> = events
        .iter()
        .filter(|e| e.message.starts_with("circuit breaker"))
        .map(|e| (e.span, e.fields["to"].clone()))
        .collect();
    assert_eq!(
        transitions,
        [
            (Some(3), "open".to_string()),
            (Some(6), "half-open".to_string()),
            (Some(6), "closed".to_string()),
        ]
    );
    let retrying: Vec<_> = events
        .iter()
        .filter(|e| e.message == "retrying")
        .map(|e| e.span)
        .collect();
    assert_eq!(retrying, [Some(1)]);
}

/// The cancel layer's span ends `cancelled` (with the reason, and an event in it) when its
/// timeout fires, and `dropped` when its caller gives up first; the validate layer's ends
/// `invalid` for a refused response.
#[tokio::test(start_paused = true)]
async fn cancelled_dropped_and_invalid_requests_say_so_in_their_span() {
    let collect = Collect::default();
    let _guard = collect.install();
    let slow = slow();
    let cancel = CancelLayer::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let svc = tower::Layer::layer(&cancel, slow);
    svc.clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap_err();
    let given_up =
        tokio::time::timeout(Duration::from_secs(1), svc.oneshot(http::Request::new(()))).await;
    assert!(given_up.is_err());

    let validate = ValidateLayer::builder()
        .response_fn(|status: &u16, _| {
            if *status == 200 {
                Ok(())
            } else {
                Err("not 200")
            }
        })
        .build()
        .unwrap();
    let teapot = service_fn(|_: Req| async { Ok::<_, std::io::Error>(418u16) });
    tower::Layer::layer(&validate, teapot)
        .oneshot(http::Request::new(()))
        .await
        .unwrap_err();

    let spans = collect.spans();
    let summary: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                s.name,
                s.fields["steadfast.layer"].as_str(),
                s.fields["steadfast.outcome"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("cancel", "cancel", "cancelled"),
            ("cancel", "cancel", "dropped"),
            ("validate", "validate", "invalid"),
        ]
    );
    assert_eq!(spans[0].fields["steadfast.cancel.reason"], "timeout");
    assert_eq!(spans[2].fields["steadfast.validate.target"], "response");
    let events = collect.events();
    let in_cancel: Vec<_> = events
        .iter()
        .filter(|e| e.span == Some(0))
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(in_cancel, ["request cancelled: timed out after 5s"]);
    let in_validate: Vec<_> = events
        .iter()
        .filter(|e| e.span == Some(2))
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(in_validate, ["response failed validation"]);
}

/// A service that answers 200 after a minute.
fn slow() -> impl tower::Service<
    Req,
    Response = u16,
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<u16, std::io::Error>> + Send,
> + Clone {
    service_fn(|_: Req| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(200)
    })
}

/// A service that answers 418 to its first call (which the validate layer refuses) and 200
/// after.
fn teapot_once() -> impl tower::Service<
    Req,
    Response = u16,
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<u16, std::io::Error>> + Send,
> + Clone {
    let calls = Arc::new(AtomicU32::new(0));
    service_fn(move |_: Req| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok(if n == 0 { 418 } else { 200 }) }
    })
}

/// The decision trace's events (`decision`, target `steadfast::trace`) as `(the entry's layer,
/// the layer of the span the event is in)`.
fn decisions(collect: &Collect) -> Vec<(String, Option<String>)> {
    let spans = collect.spans();
    collect
        .events()
        .iter()
        .filter(|e| e.message == "decision")
        .map(|e| {
            let span = e.span.map(|i| spans[i].fields["steadfast.layer"].clone());
            (e.fields["layer"].clone(), span)
        })
        .collect()
}

/// With a decision trace and spans both on, every entry a layer records is an event of that
/// layer's own span (so that an OpenTelemetry exporter shows it on the right span): the retry
/// layer's verdicts, backoff and give-up in its `retry` span, the breaker's admissions and
/// verdicts in its `circuit_breaker` span (a refusal too), the validate layer's refusal in
/// its `validate` span.
#[tokio::test(start_paused = true)]
async fn decision_trace_entries_are_events_of_their_layers_span() {
    let collect = Collect::default();
    let _guard = collect.install();
    let breaker = CircuitBreaker::builder()
        .name("payments-db")
        .build()
        .unwrap();
    let trace = steadfast::trace::DecisionTrace::new();
    let mut req = http::Request::new(());
    req.extensions_mut().insert(trace.clone());
    let answer = stack(teapot_once(), &breaker).oneshot(req).await.unwrap();
    assert_eq!(answer, 200);

    let seen = decisions(&collect);
    assert_eq!(seen.len(), trace.len(), "{seen:?}");
    let count = |layer: &str| seen.iter().filter(|(l, _)| l == layer).count();
    // Two verdicts and a backoff; two admissions, two verdicts, two records; one refusal.
    assert_eq!(
        (count("payments"), count("payments-db"), count("answers")),
        (3, 6, 1),
        "{seen:?}"
    );
    for (layer, span) in &seen {
        assert_eq!(Some(layer), span.as_ref(), "{seen:?}");
    }

    // A refused call's entry is in the span that says `rejected`.
    breaker.force_open();
    let trace = steadfast::trace::DecisionTrace::new();
    let mut req = http::Request::new(());
    req.extensions_mut().insert(trace.clone());
    let before = decisions(&collect).len();
    tower::Layer::layer(&CircuitBreakerLayer::new(breaker.clone()), teapot_once())
        .oneshot(req)
        .await
        .unwrap_err();
    let refused = decisions(&collect).split_off(before);
    assert_eq!(
        refused,
        [("payments-db".to_string(), Some("payments-db".to_string()))]
    );
}

/// The cancel layer's entry for a traced request its caller drops is an event of the request's
/// `cancel` span, although it is recorded while the future is dropped, outside any poll.
#[tokio::test(start_paused = true)]
async fn a_dropped_requests_trace_entry_is_an_event_of_its_cancel_span() {
    let collect = Collect::default();
    let _guard = collect.install();
    let slow = slow();
    let cancel = CancelLayer::builder()
        .name("edge")
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let trace = steadfast::trace::DecisionTrace::new();
    let mut req = http::Request::new(());
    req.extensions_mut().insert(trace.clone());
    let given_up = tokio::time::timeout(
        Duration::from_secs(1),
        tower::Layer::layer(&cancel, slow).oneshot(req),
    )
    .await;
    assert!(given_up.is_err());
    assert_eq!(
        decisions(&collect),
        [("edge".to_string(), Some("edge".to_string()))]
    );
}
