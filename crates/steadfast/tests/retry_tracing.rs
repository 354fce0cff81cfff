//! The retry layer's `tracing` output: one span per request that reports anything, events
//! inside it.

#![cfg(feature = "retry")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
use steadfast_test::{Reply, Scripted};
use tower::{Layer, ServiceExt};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Default)]
struct Shared(Arc<Capture>, Option<Level>);

#[derive(Default)]
struct Capture {
    next_id: AtomicU64,
    spans: Mutex<Vec<(u64, String)>>,
    events: Mutex<Vec<(Option<u64>, String)>>,
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Shared {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.1.is_none_or(|max| *meta.level() <= max)
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.1.map(LevelFilter::from_level)
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        self.0
            .spans
            .lock()
            .unwrap()
            .push((id, attrs.metadata().name().to_string()));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0
            .events
            .lock()
            .unwrap()
            .push((event.parent().map(Id::into_u64), m.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(start_paused = true)]
async fn one_span_per_request_with_an_event_per_attempt() {
    let shared = Shared::default();
    let capture = shared.0.clone();
    let _guard = tracing::subscriber::set_default(shared);

    let svc = Scripted::new([Reply::err("a"), Reply::err("b"), Reply::ok(1)]);
    let policy = RetryPolicy::builder()
        .name("inventory")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(5)))
        .build()
        .unwrap();
    RetryLayer::new(policy)
        .layer(svc)
        .oneshot(())
        .await
        .unwrap();

    let spans = capture.spans.lock().unwrap().clone();
    let retry_spans: Vec<_> = spans.iter().filter(|(_, n)| n == "retry").collect();
    assert_eq!(retry_spans.len(), 1);
    let span_id = retry_spans[0].0;

    let events = capture.events.lock().unwrap().clone();
    let in_span: Vec<&str> = events
        .iter()
        .filter(|(p, _)| *p == Some(span_id))
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(
        in_span,
        [
            "attempt finished",
            "retrying",
            "attempt finished",
            "retrying",
            "attempt finished",
            "succeeded after retries"
        ]
    );
}

/// Without the `spans` feature, with `debug` the most a subscriber records, a request that succeeds at once reports nothing
/// and makes no span; one that retries gets one, with its `debug` events in it.
#[cfg(not(feature = "spans"))]
#[tokio::test(start_paused = true)]
async fn only_requests_with_something_to_report_make_a_span() {
    let shared = Shared(Arc::default(), Some(Level::DEBUG));
    let capture = shared.0.clone();
    let _guard = tracing::subscriber::set_default(shared);
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(5)))
        .build()
        .unwrap();

    let at_once = Scripted::new([Reply::ok(1)]);
    let layer = RetryLayer::new(policy);
    layer.layer(at_once).oneshot(()).await.unwrap();
    assert!(capture.spans.lock().unwrap().is_empty());
    assert!(capture.events.lock().unwrap().is_empty());

    let once_more = Scripted::new([Reply::err("a"), Reply::ok(1)]);
    layer.layer(once_more).oneshot(()).await.unwrap();
    let spans = capture.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].1, "retry");
    let events = capture.events.lock().unwrap().clone();
    let in_span: Vec<&str> = events
        .iter()
        .filter(|(p, _)| *p == Some(spans[0].0))
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(in_span, ["retrying", "succeeded after retries"]);
}

/// With the `spans` feature, a subscriber that records `debug` gets a `retry` span for every request, with a
/// `retry_attempt` span per attempt in it; one that keeps `info` and above gets no span, and
/// no event from a request that succeeds at once.
#[cfg(feature = "spans")]
#[tokio::test(start_paused = true)]
async fn spans_are_made_when_a_subscriber_records_them() {
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(5)))
        .build()
        .unwrap();
    let layer = RetryLayer::new(policy);

    let shared = Shared(Arc::default(), Some(Level::INFO));
    let capture = shared.0.clone();
    {
        let _guard = tracing::subscriber::set_default(shared);
        let at_once = Scripted::new([Reply::ok(1)]);
        layer.layer(at_once).oneshot(()).await.unwrap();
    }
    assert!(capture.spans.lock().unwrap().is_empty());
    assert!(capture.events.lock().unwrap().is_empty());

    let shared = Shared(Arc::default(), Some(Level::DEBUG));
    let capture = shared.0.clone();
    let _guard = tracing::subscriber::set_default(shared);
    let at_once = Scripted::new([Reply::ok(1)]);
    layer.layer(at_once).oneshot(()).await.unwrap();
    let names = |capture: &Capture| -> Vec<String> {
        let spans = capture.spans.lock().unwrap();
        spans.iter().map(|(_, n)| n.clone()).collect()
    };
    assert_eq!(names(&capture), ["retry", "retry_attempt"]);
    assert!(capture.events.lock().unwrap().is_empty());

    let once_more = Scripted::new([Reply::err("a"), Reply::ok(1)]);
    layer.layer(once_more).oneshot(()).await.unwrap();
    let spans = capture.spans.lock().unwrap().clone();
    assert_eq!(
        names(&capture),
        [
            "retry",
            "retry_attempt",
            "retry",
            "retry_attempt",
            "retry_attempt"
        ]
    );
    let events = capture.events.lock().unwrap().clone();
    let in_span: Vec<&str> = events
        .iter()
        .filter(|(p, _)| *p == Some(spans[2].0))
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(in_span, ["retrying", "succeeded after retries"]);
}

#[tokio::test(start_paused = true)]
async fn the_events_level_is_a_setting() {
    let run = |level: Option<Level>| async move {
        let shared = Shared(Arc::default(), Some(Level::WARN));
        let capture = shared.0.clone();
        let _guard = tracing::subscriber::set_default(shared);
        let mut builder = RetryPolicy::builder()
            .max_attempts(2)
            .backoff(Backoff::constant(Duration::from_millis(5)));
        if let Some(level) = level {
            builder = builder.log_level(level);
        }
        let svc = Scripted::<u8>::new([Reply::err("a"), Reply::err("b")]);
        RetryLayer::new(builder.build().unwrap())
            .layer(svc)
            .oneshot(())
            .await
            .unwrap_err();
        let events = capture.events.lock().unwrap().clone();
        let spans = capture
            .spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, name)| name == "retry")
            .count();
        (
            events.into_iter().map(|(_, m)| m).collect::<Vec<_>>(),
            spans,
        )
    };
    // At the default level a subscriber that keeps warnings sees nothing.
    assert_eq!(run(None).await, (vec![], 0));
    // At `WARN` it sees the retry and the end, in the request's span.
    assert_eq!(
        run(Some(Level::WARN)).await,
        (vec!["retrying".to_string(), "giving up".to_string()], 1)
    );
    assert_eq!(run(Some(Level::INFO)).await, (vec![], 0));
}
