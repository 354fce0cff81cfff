//! [`RetryBudget`]: what the retry layer asks of a budget.

use std::fmt;

/// A shared allowance of retries.
///
/// The retry layer calls [`deposit`](Self::deposit) once per request (before its first
/// attempt), [`withdraw`](Self::withdraw) before each retry (a `false` stops the retries with
/// a budget-exhausted error), and [`on_success`](Self::on_success) when a request succeeds.
pub trait RetryBudget: Send + Sync + fmt::Debug {
    /// Records a new request.
    fn deposit(&self);
    /// Asks for one retry; `false` when the budget is exhausted.
    fn withdraw(&self) -> bool;
    /// Records that a request succeeded, after `attempts` attempts.
    fn on_success(&self, attempts: u32) {
        let _ = attempts;
    }
    /// The budget's balance now, in retries (fractional where the budget counts fractions),
    /// for a [decision trace](crate::trace); `None` (the default) when the budget cannot
    /// tell. The retry layer asks only for a request that carries a trace.
    fn balance(&self) -> Option<f64> {
        None
    }
    /// How the budget reads in a stack's description ([`crate::describe`]): its kind and
    /// settings, under the names of the builder methods that set them. `custom` unless the
    /// budget says more.
    fn describe(&self) -> crate::describe::Value {
        crate::describe::Value::text("custom")
    }
}
