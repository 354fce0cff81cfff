//! What a retry layer says about itself in a stack's description ([`crate::describe`]).

use super::policy::{PolicyRef, RetryPolicy};
use super::{Retry, RetryLayer, StartJitter, StartJitterLayer};
use crate::describe::{is_type, type_label, until, Describe, LayerDescription, Value};

/// A layer of `kind` named as the policy is, when it was given a name.
fn named<C, K, R>(kind: &'static str, policy: &RetryPolicy<C, K, R>) -> LayerDescription {
    let layer = LayerDescription::new(kind);
    match policy.settings.shared_name() {
        Some(name) => layer.named(name.to_string()),
        None => layer,
    }
}

/// A retry policy's settings, in the order of its builder's methods.
fn describe_policy<C, K, R>(policy: &RetryPolicy<C, K, R>) -> LayerDescription {
    let s = &policy.settings;
    let mut d = named("retry", policy)
        .with("max_attempts", s.max_attempts)
        .with("backoff", s.backoff());
    if !s.classes().is_empty() {
        let backoffs: Vec<Value> = s.classes().iter().map(|c| (&c.backoff).into()).collect();
        d = d.with("backoff_for", backoffs);
    }
    d = d
        .with_some("max_elapsed", s.max_elapsed)
        .with_some("deadline", s.deadline().map(until))
        .with("max_hint", s.max_hint())
        .with("max_hint_wait_total", s.max_hint_wait_total())
        .with_some("budget", s.budget().map(|b| b.describe()))
        .with("classify", type_label::<C>())
        .with("clone_requests", type_label::<K>());
    if !is_type::<R>("NoRecover") {
        d = d.with("recover", type_label::<R>());
    }
    if s.log_level() != tracing::Level::DEBUG {
        d = d.with("log_level", s.log_level().as_str().to_ascii_lowercase());
    }
    if s.metrics().is_some() {
        d = d.with("metrics", true);
    }
    if s.has_listeners() {
        d = d.with("on_event", true);
    }
    d
}

/// The wait before a request's first attempt.
fn describe_start<C, K, R>(policy: &RetryPolicy<C, K, R>) -> LayerDescription {
    named("start-jitter", policy).with_some("start_jitter", policy.settings.start_jitter())
}

/// `retry "name": max_attempts 3, backoff exponential (...), ...`: the policy's settings
/// (the wait before the first attempt only matters to
/// [`with_start_jitter`](RetryLayer::with_start_jitter), which describes it as a layer of
/// its own).
impl<P: PolicyRef> Describe for RetryLayer<P> {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![describe_policy(self.policy())]
    }
}

/// The retry layer's description, then the inner service's.
impl<S: Describe, P: PolicyRef> Describe for Retry<S, P> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = vec![describe_policy(self.policy())];
        layers.extend(self.get_ref().describe());
        layers
    }
}

/// Two layers: `start-jitter` (the most a request waits before its first attempt), then
/// `retry`.
impl<P: PolicyRef> Describe for StartJitterLayer<P> {
    fn describe(&self) -> Vec<LayerDescription> {
        let policy = self.policy_ref().policy();
        vec![describe_start(policy), describe_policy(policy)]
    }
}

/// The `start-jitter` layer's description, then the inner service's.
impl<S: Describe, P: PolicyRef> Describe for StartJitter<S, P> {
    fn describe(&self) -> Vec<LayerDescription> {
        let mut layers = vec![describe_start(self.policy_ref().policy())];
        layers.extend(self.get_ref().describe());
        layers
    }
}
