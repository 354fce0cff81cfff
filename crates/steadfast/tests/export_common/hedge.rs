//! The hedge layer's part of what both export tests feed an export and read back.

use std::collections::BTreeMap;

use steadfast::classify::Outcome;
use steadfast::export::names;
use steadfast::hedge::{HedgeEvent, HedgeStop};
use steadfast::observe::Observer;

use super::{s, series, Series, Value};

/// Every reason the hedge layer stops hedging and its attribute value.
pub fn stops() -> [(steadfast::hedge::HedgeStop, &'static str); 6] {
    [
        (HedgeStop::BudgetExhausted, "budget_exhausted"),
        (HedgeStop::ServerRefused, "server_refused"),
        (HedgeStop::NotReplayable, "not_replayable"),
        (HedgeStop::Draining, "draining"),
        (HedgeStop::NotReady, "not_ready"),
        (HedgeStop::CircuitOpen, "circuit_open"),
    ]
}

/// Sends every kind of hedge event to the listener `observer` gives a hedge layer named `h`:
/// requests won by each attempt from 1 to 10 (attempt `a` wins `a` times), two won by a fatal
/// failure of attempt 10, three exhausted, seven hedges, two rounds of four losers, and each
/// stop reason (the `i`-th `i` times).
pub fn feed(observer: &dyn Observer) {
    let hedge = observer.hedge("h").unwrap();
    for attempt in 1..=10u32 {
        for _ in 0..attempt {
            hedge(&HedgeEvent::Won {
                attempt,
                attempts: attempt,
                outcome: Outcome::Success,
                elapsed: s(1),
            });
        }
    }
    for _ in 0..2 {
        hedge(&HedgeEvent::Won {
            attempt: 10,
            attempts: 10,
            outcome: Outcome::NonRetryable,
            elapsed: s(2),
        });
    }
    for _ in 0..3 {
        hedge(&HedgeEvent::Exhausted {
            attempts: 2,
            elapsed: s(3),
        });
    }
    for attempt in 2..=8 {
        hedge(&HedgeEvent::HedgeSent {
            attempt,
            in_flight: 1,
        });
    }
    for _ in 0..2 {
        hedge(&HedgeEvent::LosersCancelled { count: 4 });
    }
    for (i, (reason, _)) in stops().into_iter().enumerate() {
        for _ in 0..=i {
            hedge(&HedgeEvent::Stopped { reason });
        }
    }
    // Events no instrument counts.
    hedge(&HedgeEvent::AttemptFailed {
        attempt: 1,
        outcome: Outcome::retryable(),
    });
    hedge(&HedgeEvent::PushedBack {
        attempt: 1,
        delay: s(1),
    });
}

/// Every series [`feed`] leaves, with its value.
pub fn expected() -> BTreeMap<Series, Value> {
    use names::*;
    let mut e = BTreeMap::new();
    let mut put = |name: &str, attrs: &[(&str, &str)], value: Value| {
        e.insert(series(name, attrs), value);
    };
    let h = ("steadfast.layer", "h");
    for (end, n, each) in [
        ("success", 55, 0.5),
        ("failed", 2, 1.0),
        ("exhausted", 3, 1.5),
    ] {
        put(HEDGE_REQUESTS.name, &[h, (HEDGE_END, end)], Value::Count(n));
        put(
            HEDGE_REQUEST_DURATION.name,
            &[h, (HEDGE_END, end)],
            Value::Histogram(n, n as f64 * each),
        );
    }
    for (i, attempt) in HEDGE_ATTEMPTS.iter().enumerate() {
        let n = i as u64 + 1 + if *attempt == "10" { 2 } else { 0 };
        put(
            HEDGE_WINS.name,
            &[h, (HEDGE_ATTEMPT, attempt)],
            Value::Count(n),
        );
    }
    put(HEDGE_HEDGES.name, &[h], Value::Count(7));
    put(HEDGE_LOSERS.name, &[h], Value::Count(8));
    for (i, (_, reason)) in stops().iter().enumerate() {
        put(
            HEDGE_STOPS.name,
            &[h, (STOP_REASON, reason)],
            Value::Count(i as u64 + 1),
        );
    }
    e
}

/// The name of the hedge layer of [`run`].
pub const LAYER: &str = "hedged";

/// One request through a real hedge layer watched by `observer`, on tokio's paused clock: the
/// first attempt would answer after 1 s, so a hedge is sent at 50 ms; it answers 10 ms later
/// and wins, and the first attempt is cancelled.
pub fn run(observer: std::sync::Arc<dyn Observer>) {
    use std::sync::Arc;
    use std::time::Duration;
    use steadfast::hedge::{HedgeDelay, HedgeLayer};
    use steadfast::retry::TokenBucket;
    use steadfast_test::{Reply, Scripted};
    use tower::{Layer, ServiceExt};

    let ms = Duration::from_millis;
    let layer = HedgeLayer::builder()
        .name(LAYER)
        .delay(HedgeDelay::fixed(ms(50)))
        .budget(Arc::new(TokenBucket::builder().build().unwrap()))
        .observe(observer)
        .build()
        .unwrap();
    let inner =
        Scripted::<u32, u32>::new([Reply::ok(1).after(ms(1000)), Reply::ok(2).after(ms(10))]);
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async move {
            assert_eq!(layer.layer(inner).oneshot(7).await.unwrap(), 2);
        });
}

/// Every series of [`run`]'s layer, with its value (histograms without a value left out).
pub fn run_expected() -> BTreeMap<Series, Value> {
    use names::*;
    let mut e = BTreeMap::new();
    let mut put = |name: &str, attrs: &[(&str, &str)], value: Value| {
        e.insert(series(name, attrs), value);
    };
    let h = (names::LAYER, self::LAYER);
    for end in HEDGE_ENDS {
        let n = u64::from(end == "success");
        put(HEDGE_REQUESTS.name, &[h, (HEDGE_END, end)], Value::Count(n));
    }
    put(
        HEDGE_REQUEST_DURATION.name,
        &[h, (HEDGE_END, "success")],
        Value::Histogram(1, 0.06),
    );
    for attempt in HEDGE_ATTEMPTS {
        let n = u64::from(attempt == "2");
        put(
            HEDGE_WINS.name,
            &[h, (HEDGE_ATTEMPT, attempt)],
            Value::Count(n),
        );
    }
    put(HEDGE_HEDGES.name, &[h], Value::Count(1));
    put(HEDGE_LOSERS.name, &[h], Value::Count(1));
    for reason in HEDGE_STOP_REASONS {
        put(
            HEDGE_STOPS.name,
            &[h, (STOP_REASON, reason)],
            Value::Count(0),
        );
    }
    e
}

/// Compares the series of [`run`]'s layer in `got` with [`run_expected`].
pub fn check_run(got: &BTreeMap<Series, Value>) {
    let layer = (names::LAYER.to_owned(), LAYER.to_owned());
    let mine: BTreeMap<Series, Value> = got
        .iter()
        .filter(|((_, attributes), value)| {
            attributes.contains(&layer) && **value != Value::Histogram(0, 0.0)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(mine, run_expected());
}
