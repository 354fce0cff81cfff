//! A stack describes itself: its layers in order, outermost first, each with its kind, its
//! name and its settings, so that a log line at start-up or a `/debug` endpoint can show
//! exactly what protects a client.
//!
//! Every steadfast layer implements [`Describe`], and so do tower's
//! [`Identity`](tower_layer::Identity) (nothing) and [`Stack`](tower_layer::Stack) (its outer
//! layer, then its inner one), so the layers a `ServiceBuilder` holds describe themselves in
//! the order they wrap a request: the layer added first is the outermost and comes first.
//! Services built by steadfast's layers describe themselves too, down to the first service
//! that does not (a stack is described by building it around [`Innermost`]), so a stack
//! holding a layer of another crate cannot describe itself: describe it by hand instead.
//! Settings are read from the built layers, under the names of the builder methods that set
//! them; a setting left unset (an optional limit, a budget) is left out.
//!
//! [`StackDescription`] is the whole: its [`Display`](fmt::Display) form is one numbered line
//! per layer, and with the `serde` feature it serializes (to JSON, say) as a list of layers.
//! Layers from elsewhere join a description by hand with [`StackDescription::other`].
//!
//! ```
//! use std::time::Duration;
//! use steadfast::describe::{Describe, StackDescription};
//! use steadfast::retry::{Backoff, RetryLayer, RetryPolicy};
//! use steadfast::cancel::CancelLayer;
//! use tower::ServiceBuilder;
//!
//! let retry = RetryLayer::new(
//!     RetryPolicy::builder()
//!         .name("payments")
//!         .max_attempts(3)
//!         .backoff(Backoff::exponential(Duration::from_millis(100)).max(Duration::from_secs(2)))
//!         .build()
//!         .unwrap(),
//! );
//! let attempt_timeout = CancelLayer::builder().timeout(Duration::from_secs(1)).build().unwrap();
//! let layers = ServiceBuilder::new().layer(retry).layer(attempt_timeout).into_inner();
//!
//! let description = layers.description();
//! assert_eq!(description.layers()[0].kind(), "retry");
//! assert_eq!(description.layers()[1].kind(), "cancel");
//! assert_eq!(
//!     description.to_string(),
//!     "1. retry \"payments\": max_attempts 3, backoff exponential (base 100ms, factor 2, max 2s), \
//!      max_hint 1m, max_hint_wait_total 1m, classify AnyError, clone_requests CloneAll\n\
//!      2. cancel: timeout 1s\n"
//! );
//!
//! // A layer steadfast does not know, described by hand after the others.
//! let description = description.other("tower timeout", [("timeout", Duration::from_secs(5))]);
//! assert!(description.to_string().ends_with("3. tower timeout: timeout 5s\n"));
//! ```
//!
//! # Serialized form
//!
//! With the `serde` feature, [`StackDescription`], [`LayerDescription`], [`Setting`] and
//! [`Value`] implement `serde::Serialize`. A stack is a list of layers, outermost first; a
//! layer is an object with its `kind`, its `name` (only when it has one) and its `settings`,
//! an object from each setting's name to its value, in order. Durations are exact strings in
//! the largest unit that holds them whole (`"1500ms"`, `"2s"`, `"1m"`), percentages strings
//! ending in `%`, counts and factors numbers, and a [`Value::Variant`] an object with its
//! `kind` next to its own settings. The stack above, as JSON:
//!
//! ```json
//! [
//!   {
//!     "kind": "retry",
//!     "name": "payments",
//!     "settings": {
//!       "max_attempts": 3,
//!       "backoff": { "kind": "exponential", "base": "100ms", "factor": 2.0, "max": "2s" },
//!       "max_hint": "1m",
//!       "max_hint_wait_total": "1m",
//!       "classify": "AnyError",
//!       "clone_requests": "CloneAll"
//!     }
//!   },
//!   { "kind": "cancel", "settings": { "timeout": "1s" } },
//!   { "kind": "tower timeout", "settings": { "timeout": "5s" } }
//! ]
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::display::Short as ShortDuration;

#[cfg(feature = "serde")]
pub(crate) mod serialize;

/// A setting's value: what a builder method was given, in a small set of forms that read well
/// and serialize plainly.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A length of time, shown short ("1.5s", "100ms") and serialized exactly ("1500ms").
    Duration(Duration),
    /// A count.
    Integer(u64),
    /// A plain number (a factor, a ratio).
    Float(f64),
    /// A percentage, as a number of percent: `Percent(20.0)` is 20%.
    Percent(f64),
    /// Text: a choice by name, or `"custom"` for a closure or a type of yours.
    Text(Cow<'static, str>),
    /// Yes or no.
    Bool(bool),
    /// Several values.
    List(Vec<Value>),
    /// A choice that has settings of its own: a backoff's kind and its parameters, a
    /// sliding window, an injection.
    Variant {
        /// What it is ("exponential", "count", "ratio").
        kind: Cow<'static, str>,
        /// Its settings, in order.
        settings: Vec<Setting>,
    },
}

impl Value {
    /// A [`Value::Text`].
    pub fn text(text: impl Into<Cow<'static, str>>) -> Self {
        Value::Text(text.into())
    }

    /// A [`Value::Variant`] with no settings yet; add them with [`with`](Self::with).
    pub fn variant(kind: impl Into<Cow<'static, str>>) -> Self {
        Value::Variant {
            kind: kind.into(),
            settings: Vec::new(),
        }
    }

    /// This value with one more setting, if it is a [`Value::Variant`] (any other value is
    /// returned unchanged).
    pub fn with(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        if let Value::Variant { settings, .. } = &mut self {
            settings.push(Setting::new(key, value));
        }
        self
    }
}

impl From<Duration> for Value {
    fn from(d: Duration) -> Self {
        Value::Duration(d)
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Integer(n as u64)
            }
        }
    )*};
}
from_integer!(u8, u16, u32, u64, usize);

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Self {
        Value::Text(Cow::Borrowed(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(Cow::Owned(s))
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(values: Vec<T>) -> Self {
        Value::List(values.into_iter().map(Into::into).collect())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Duration(d) => write!(f, "{}", Short(*d)),
            Value::Integer(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Percent(p) => write!(f, "{p}%"),
            Value::Text(t) => f.write_str(t),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(values) => {
                f.write_str("[")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Variant { kind, settings } => {
                f.write_str(kind)?;
                if !settings.is_empty() {
                    f.write_str(" (")?;
                    write_settings(f, settings)?;
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

/// A duration in the short form the crate's messages use.
struct Short(Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        // Whole minutes and hours read better as such than as hundreds of seconds.
        if d >= Duration::from_secs(60) && d.subsec_nanos() == 0 {
            let secs = d.as_secs();
            if secs % 3600 == 0 {
                return write!(f, "{}h", secs / 3600);
            }
            if secs % 60 == 0 {
                return write!(f, "{}m", secs / 60);
            }
        }
        write!(f, "{}", ShortDuration(d))
    }
}

/// One setting: the name of the builder method that sets it, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    key: Cow<'static, str>,
    value: Value,
}

impl Setting {
    /// A setting named `key`.
    pub fn new(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        Setting {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The setting's name: the builder method that sets it.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its value.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.value)
    }
}

fn write_settings(f: &mut fmt::Formatter<'_>, settings: &[Setting]) -> fmt::Result {
    for (i, s) in settings.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{s}")?;
    }
    Ok(())
}

/// One layer: its kind ("retry", "circuit-breaker", "cancel"...), its name when it has one,
/// and its settings in order.
///
/// Its [`Display`](fmt::Display) form is one line: `retry "payments": max_attempts 3, ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerDescription {
    kind: Cow<'static, str>,
    name: Option<Cow<'static, str>>,
    settings: Vec<Setting>,
}

impl LayerDescription {
    /// A layer of `kind`, with no name and no settings yet.
    pub fn new(kind: impl Into<Cow<'static, str>>) -> Self {
        LayerDescription {
            kind: kind.into(),
            name: None,
            settings: Vec::new(),
        }
    }

    /// The same, named `name`.
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The same, with one more setting after the others.
    pub fn with(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.settings.push(Setting::new(key, value));
        self
    }

    /// The same, with `key` set to `value` if there is a value (nothing otherwise).
    pub fn with_some<V: Into<Value>>(
        self,
        key: impl Into<Cow<'static, str>>,
        value: Option<V>,
    ) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// The layer's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The layer's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Its settings, in order.
    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }

    /// The value of the setting named `key`, if the layer has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.settings
            .iter()
            .find(|s| s.key == key)
            .map(|s| &s.value)
    }
}

impl fmt::Display for LayerDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        if !self.settings.is_empty() {
            f.write_str(": ")?;
            write_settings(f, &self.settings)?;
        }
        Ok(())
    }
}

/// What a layer (or a stack of them) says about itself: its layers, outermost first.
///
/// Implemented by every layer of this crate and of `steadfast-http` and by the services they
/// build (around a service that describes itself), by tower's
/// [`Identity`](tower_layer::Identity) and [`Stack`](tower_layer::Stack), by
/// `tower::ServiceBuilder` (the layers it holds), and by references and `Option`s of those.
pub trait Describe {
    /// The layers, outermost first (one for a plain layer, none for `Identity`).
    fn describe(&self) -> Vec<LayerDescription>;

    /// The same, as a [`StackDescription`].
    fn description(&self) -> StackDescription {
        StackDescription {
            layers: self.describe(),
        }
    }
}

impl<T: Describe + ?Sized> Describe for &T {
    fn describe(&self) -> Vec<LayerDescription> {
        (**self).describe()
    }
}

impl<T: Describe> Describe for Option<T> {
    fn describe(&self) -> Vec<LayerDescription> {
        self.as_ref().map(T::describe).unwrap_or_default()
    }
}

impl Describe for tower_layer::Identity {
    fn describe(&self) -> Vec<LayerDescription> {
        Vec::new()
    }
}

/// The service a [`Stack`](tower_layer::Stack) is built around to describe it: a stack's
/// layers are private to it, so it describes the services it wraps around this one, each of
/// which describes its layer and then the service inside it. `Stack::new(inner, outer)` wraps
/// a service in `inner` first, then in `outer`: the outer layer sees a request first, so it
/// comes first. It answers every request with `()` and describes as nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Innermost;

impl Describe for Innermost {
    fn describe(&self) -> Vec<LayerDescription> {
        Vec::new()
    }
}

impl<R> tower_service::Service<R> for Innermost {
    type Response = ();
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<(), std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: R) -> Self::Future {
        std::future::ready(Ok(()))
    }
}

impl<Inner, Outer> Describe for tower_layer::Stack<Inner, Outer>
where
    Self: tower_layer::Layer<Innermost>,
    <Self as tower_layer::Layer<Innermost>>::Service: Describe,
{
    fn describe(&self) -> Vec<LayerDescription> {
        tower_layer::Layer::layer(self, Innermost).describe()
    }
}

impl<L: Describe + Clone> Describe for tower::ServiceBuilder<L> {
    fn describe(&self) -> Vec<LayerDescription> {
        self.clone().into_inner().describe()
    }
}

impl Describe for LayerDescription {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![self.clone()]
    }
}

impl Describe for StackDescription {
    fn describe(&self) -> Vec<LayerDescription> {
        self.layers.clone()
    }
}

/// A stack's layers, outermost first: what [`Describe::description`] returns, or a
/// description built by hand for a stack with layers of other crates.
///
/// Its [`Display`](fmt::Display) form is one numbered line per layer:
///
/// ```text
/// 1. retry "payments": max_attempts 3, backoff exponential (base 100ms, factor 2, max 2s), ...
/// 2. circuit-breaker "payments": failure_rate 50%, minimum_calls 20, window count (size 100), ...
/// 3. tower timeout: timeout 5s
/// ```
///
/// ```
/// use std::time::Duration;
/// use steadfast::cancel::CancelLayer;
/// use steadfast::describe::StackDescription;
///
/// let cancel = CancelLayer::builder().timeout(Duration::from_secs(10)).build().unwrap();
/// let description = StackDescription::new()
///     .other("load shed", [] as [(&str, bool); 0])
///     .layer(&cancel)
///     .other("concurrency limit", [("max", 64u32)]);
/// assert_eq!(
///     description.to_string(),
///     "1. load shed\n2. cancel: timeout 10s\n3. concurrency limit: max 64\n"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StackDescription {
    layers: Vec<LayerDescription>,
}

impl StackDescription {
    /// An empty description.
    pub fn new() -> Self {
        StackDescription::default()
    }

    /// The description of `layer` (a layer, a `Stack` or a `ServiceBuilder`).
    pub fn of(layer: &(impl Describe + ?Sized)) -> Self {
        StackDescription {
            layers: layer.describe(),
        }
    }

    /// The same, with `layer`'s layers inside the ones described so far.
    pub fn layer(mut self, layer: &(impl Describe + ?Sized)) -> Self {
        self.layers.extend(layer.describe());
        self
    }

    /// The same, with a layer that does not describe itself inside the ones described so far:
    /// its kind and its settings as `(name, value)` pairs.
    pub fn other<K, V>(
        mut self,
        kind: impl Into<Cow<'static, str>>,
        settings: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: Into<Cow<'static, str>>,
        V: Into<Value>,
    {
        let mut layer = LayerDescription::new(kind);
        for (k, v) in settings {
            layer = layer.with(k, v);
        }
        self.layers.push(layer);
        self
    }

    /// Adds `layer` inside the ones described so far.
    pub fn push(&mut self, layer: LayerDescription) {
        self.layers.push(layer);
    }

    /// The layers, outermost first.
    pub fn layers(&self) -> &[LayerDescription] {
        &self.layers
    }
}

impl From<Vec<LayerDescription>> for StackDescription {
    fn from(layers: Vec<LayerDescription>) -> Self {
        StackDescription { layers }
    }
}

impl IntoIterator for StackDescription {
    type Item = LayerDescription;
    type IntoIter = std::vec::IntoIter<LayerDescription>;

    fn into_iter(self) -> Self::IntoIter {
        self.layers.into_iter()
    }
}

impl fmt::Display for StackDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, layer) in self.layers.iter().enumerate() {
            writeln!(f, "{}. {layer}", i + 1)?;
        }
        Ok(())
    }
}

/// The time left before `deadline`, as text: "in 2.5s", or "passed".
#[cfg(any(feature = "retry", feature = "cancel"))]
pub(crate) fn until(deadline: tokio::time::Instant) -> Value {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if left.is_zero() {
        Value::text("passed")
    } else {
        Value::text(format!("in {}", Value::Duration(left)))
    }
}

/// A short label for a type chosen by the user (a classifier, a cloner): its name without
/// its path or parameters, or `"custom"` for closures and the closure adapters.
#[cfg(any(feature = "retry", feature = "circuit-breaker"))]
pub(crate) fn type_label<T: ?Sized>() -> Value {
    let full = std::any::type_name::<T>();
    let head = full.split('<').next().unwrap_or(full);
    let last = head.rsplit("::").next().unwrap_or(head);
    if full.contains("{{closure}}") || last.ends_with("Fn") || last.is_empty() {
        Value::text("custom")
    } else {
        Value::Text(Cow::Owned(last.to_owned()))
    }
}

/// Whether a type chosen by the user is `name` (its name without path or parameters).
#[cfg(any(feature = "retry", feature = "circuit-breaker"))]
pub(crate) fn is_type<T: ?Sized>(name: &str) -> bool {
    let full = std::any::type_name::<T>();
    let head = full.split('<').next().unwrap_or(full);
    head.rsplit("::").next() == Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_well() {
        let v = Value::variant("exponential")
            .with("base", Duration::from_millis(100))
            .with("factor", 2.0)
            .with("max", Duration::from_secs(600));
        assert_eq!(v.to_string(), "exponential (base 100ms, factor 2, max 10m)");
        assert_eq!(Value::Percent(12.5).to_string(), "12.5%");
        assert_eq!(Value::from(vec![1u32, 2]).to_string(), "[1, 2]");
        assert_eq!(Value::from(Duration::from_secs(7200)).to_string(), "2h");
        assert_eq!(Value::from(Duration::from_secs(90)).to_string(), "90s");
    }

    #[test]
    #[cfg(any(feature = "retry", feature = "circuit-breaker"))]
    fn labels() {
        struct Mine;
        assert_eq!(type_label::<Mine>(), Value::text("Mine"));
        assert_eq!(type_label::<Vec<u8>>(), Value::text("Vec"));
        let f = |_: u8| ();
        fn label_of<T>(_: &T) -> Value {
            type_label::<T>()
        }
        assert_eq!(label_of(&f), Value::text("custom"));
        assert!(is_type::<Mine>("Mine"));
    }
}
