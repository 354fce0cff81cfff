//! How a backoff reads in a stack's description ([`crate::describe`]).

use std::time::Duration;

use super::{Backoff, Jitter, Schedule};
use crate::describe::Value;

/// A backoff's kind and parameters, under the names of the constructors and methods that set
/// them: `exponential (base 100ms, factor 2, max 10s, jitter full)`. Schedules made from a
/// closure are `custom`.
impl From<&Backoff> for Value {
    fn from(b: &Backoff) -> Self {
        let v = match &b.strategy {
            Schedule::Constant(d) if d.is_zero() => Value::variant("none"),
            Schedule::Constant(d) => Value::variant("constant").with("delay", *d),
            Schedule::Linear { initial, step } => {
                let v = Value::variant("linear");
                let v = if initial == step {
                    v
                } else {
                    v.with("initial", *initial)
                };
                v.with("step", *step)
            }
            Schedule::Exponential { base, factor } => Value::variant("exponential")
                .with("base", *base)
                .with("factor", *factor),
            Schedule::Fibonacci(base) => Value::variant("fibonacci").with("base", *base),
            Schedule::Decorrelated(base) => Value::variant("decorrelated").with("base", *base),
            Schedule::Chain { first, times, rest } => Value::variant("chain")
                .with("first", Value::from(&**first))
                .with("times", *times)
                .with("then", Value::from(&**rest)),
            Schedule::Custom(_) | Schedule::CustomRandom(_) => Value::variant("custom"),
        };
        let v = match b.max {
            Some(max) => v.with("max", max),
            None => v,
        };
        let v = if b.min > Duration::ZERO {
            v.with("min", b.min)
        } else {
            v
        };
        let v = match b.jitter {
            Jitter::None => v,
            j => v.with("jitter", Value::from(j)),
        };
        match b.plus {
            Some((lo, hi)) => v.with("plus_random", vec![lo, hi]),
            None => v,
        }
    }
}

impl From<Backoff> for Value {
    fn from(b: Backoff) -> Self {
        Value::from(&b)
    }
}

/// `none`, `full`, `equal`, or `proportional (share 0.2)`.
impl From<Jitter> for Value {
    fn from(j: Jitter) -> Self {
        match j {
            Jitter::None => Value::text("none"),
            Jitter::Full => Value::text("full"),
            Jitter::Equal => Value::text("equal"),
            Jitter::Proportional(x) => Value::variant("proportional").with("share", x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoffs_describe_their_parameters() {
        let cases = [
            (Backoff::default(), "exponential (base 100ms, factor 2, max 10s, jitter full)"),
            (Backoff::none(), "none"),
            (Backoff::constant(ms(5)), "constant (delay 5ms)"),
            (Backoff::linear(ms(5)), "linear (step 5ms)"),
            (
                Backoff::linear_from(ms(50), ms(5)).min(ms(20)),
                "linear (initial 50ms, step 5ms, min 20ms)",
            ),
            (
                Backoff::fibonacci(ms(10)).jitter(Jitter::Proportional(0.25)),
                "fibonacci (base 10ms, jitter proportional (share 0.25))",
            ),
            (
                Backoff::decorrelated(ms(10)).plus_random(ms(1), ms(3)),
                "decorrelated (base 10ms, plus_random [1ms, 3ms])",
            ),
            (Backoff::from_fn(|_| ms(1)), "custom"),
            (
                Backoff::constant(ms(1))
                    .times(2)
                    .then(Backoff::exponential_with_factor(ms(10), 1.5)),
                "chain (first constant (delay 1ms), times 2, then exponential (base 10ms, factor 1.5))",
            ),
        ];
        for (b, want) in cases {
            assert_eq!(Value::from(&b).to_string(), want);
        }
    }
}
