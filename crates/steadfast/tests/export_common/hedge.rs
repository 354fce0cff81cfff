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
