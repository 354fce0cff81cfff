//! The validate layer and its builder.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::events::{Listeners, ValidateEvent};
use super::reason::Reason;
use super::service::Validate;
use super::validator::{validator_fn, AcceptAll, And, ValidationContext, ValidatorFn};
use crate::config::ConfigError;
use crate::observe::{Observer, ValidateListener};

/// Wraps services in [`Validate`]: requests are checked before they are sent, responses
/// before they are returned.
///
/// `Q` checks requests and `P` responses (chains of validators, built with
/// [`ValidateLayer::builder`]). Every validator on a side must pass, and every reason is
/// reported.
///
/// ```
/// use steadfast::validate::{ensure, Invalid, ValidateLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ValidateLayer::builder()
///     .response(ensure("not a JSON object", |s: &String| s.starts_with('{')))
///     .response_fn(|s: &String, _| if s.len() < 4 { Err("too short") } else { Ok(()) })
///     .build()
///     .unwrap();
/// let model = service_fn(|_: ()| async { Ok::<_, std::io::Error>(String::from("ok")) });
///
/// let err = layer.layer(model).oneshot(()).await.unwrap_err();
/// let invalid = err.downcast::<Invalid<String>>().unwrap();
/// let reasons: Vec<&str> = invalid.reasons().iter().map(|r| r.as_str()).collect();
/// assert_eq!(reasons, ["not a JSON object", "too short"]);
/// assert_eq!(invalid.into_response(), "ok");
/// # }
/// ```
#[derive(Clone)]
pub struct ValidateLayer<Q = AcceptAll, P = AcceptAll> {
    request: Q,
    response: P,
    counts: (usize, usize),
    listeners: Option<Listeners>,
    name: Option<Cow<'static, str>>,
}

impl<Q, P> fmt::Debug for ValidateLayer<Q, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateLayer")
            .field("request_validators", &self.counts.0)
            .field("response_validators", &self.counts.1)
            .finish()
    }
}

impl ValidateLayer {
    /// Starts a builder with no validators.
    pub fn builder() -> ValidateLayerBuilder {
        ValidateLayerBuilder {
            request: AcceptAll,
            response: AcceptAll,
            counts: (0, 0),
            watch: Watch::default(),
        }
    }
}

impl<Q, P> ValidateLayer<Q, P> {
    /// The request validators.
    pub fn request_validator(&self) -> &Q {
        &self.request
    }

    /// The response validators.
    pub fn response_validator(&self) -> &P {
        &self.response
    }

    /// The name given with [`ValidateLayerBuilder::name`], if any.
    pub(crate) fn name_ref(&self) -> Option<&Cow<'static, str>> {
        self.name.as_ref()
    }
}

impl<S, Q: Clone, P: Clone> Layer<S> for ValidateLayer<Q, P> {
    type Service = Validate<S, Q, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Validate::new(inner, self.request.clone(), self.response.clone())
            .with_listeners(self.listeners.clone())
            .with_name(self.name.clone())
    }
}

/// Builds a [`ValidateLayer`]; [`build`](Self::build) checks that it validates something.
///
/// Each call adds a validator to its side; they run in the order they were added, and all
/// of them run even after one has failed, so every reason is reported. Start one with
/// [`ValidateLayer::builder`].
///
/// ```
/// use steadfast::validate::{ensure, non_empty, InvalidRequest, ValidateLayer};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = ValidateLayer::builder()
///     .request(non_empty())
///     .request(ensure("too long", |p: &String| p.len() <= 10))
///     .build()
///     .unwrap();
/// let svc = layer.layer(service_fn(|p: String| async move { Ok::<_, std::io::Error>(p.len()) }));
///
/// assert_eq!(svc.clone().oneshot("short".to_string()).await.unwrap(), 5);
/// let err = svc.oneshot("far too long a prompt".to_string()).await.unwrap_err();
/// let rejected = err.downcast_ref::<InvalidRequest>().unwrap();
/// assert_eq!(rejected.reasons()[0].as_str(), "too long");
/// # }
/// ```
#[derive(Clone)]
pub struct ValidateLayerBuilder<Q = AcceptAll, P = AcceptAll> {
    request: Q,
    response: P,
    counts: (usize, usize),
    watch: Watch,
}

/// Who watches the layer being built: its name, listeners and observers.
#[derive(Clone, Default)]
struct Watch {
    name: Option<Cow<'static, str>>,
    listeners: Vec<ValidateListener>,
    observers: Vec<Arc<dyn Observer>>,
}

impl<Q, P> fmt::Debug for ValidateLayerBuilder<Q, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateLayerBuilder")
            .field("request_validators", &self.counts.0)
            .field("response_validators", &self.counts.1)
            .finish()
    }
}

impl<Q, P> ValidateLayerBuilder<Q, P> {
    /// Adds a request validator: a request it rejects is answered with an
    /// [`InvalidRequest`](super::InvalidRequest) error and never reaches the service.
    pub fn request<V>(self, validator: V) -> ValidateLayerBuilder<And<Q, V>, P> {
        ValidateLayerBuilder {
            request: And::new(self.request, validator),
            response: self.response,
            counts: (self.counts.0 + 1, self.counts.1),
            watch: self.watch,
        }
    }

    /// Adds a request validator made from a closure (see
    /// [`validator_fn`](super::validator_fn)).
    pub fn request_fn<Req, E, F>(self, f: F) -> ValidateLayerBuilder<And<Q, ValidatorFn<F, E>>, P>
    where
        F: Fn(&Req, &ValidationContext) -> Result<(), E>,
        E: Into<Reason>,
    {
        self.request(validator_fn(f))
    }

    /// Adds a response validator: a response it rejects becomes an
    /// [`Invalid`](super::Invalid) error that holds the response.
    ///
    /// The response validators are cloned into each call's future (which outlives the
    /// borrow of the service): wrap one that owns large state in an `Arc` (`Arc<V>` is a
    /// validator too), so that every call shares it.
    pub fn response<V>(self, validator: V) -> ValidateLayerBuilder<Q, And<P, V>> {
        ValidateLayerBuilder {
            request: self.request,
            response: And::new(self.response, validator),
            counts: (self.counts.0, self.counts.1 + 1),
            watch: self.watch,
        }
    }

    /// Adds a response validator made from a closure (see
    /// [`validator_fn`](super::validator_fn)).
    pub fn response_fn<Res, E, F>(self, f: F) -> ValidateLayerBuilder<Q, And<P, ValidatorFn<F, E>>>
    where
        F: Fn(&Res, &ValidationContext) -> Result<(), E>,
        E: Into<Reason>,
    {
        self.response(validator_fn(f))
    }

    /// Names the layer, for [`observe`](Self::observe). Default: `"validate"`.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.watch.name = Some(name.into());
        self
    }

    /// Calls `listener` for every [`ValidateEvent`]: each request rejected, each response
    /// judged valid or invalid. Listeners run inline: keep them short. May be called several
    /// times.
    ///
    /// ```
    /// use steadfast::validate::{ensure, ValidateEvent, ValidateLayer};
    ///
    /// let layer = ValidateLayer::builder()
    ///     .response(ensure("empty", |s: &String| !s.is_empty()))
    ///     .on_event(|event: &ValidateEvent<'_>| {
    ///         if let ValidateEvent::ResponseInvalid { reasons, .. } = event {
    ///             eprintln!("invalid response: {}", reasons[0]);
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn on_event(
        mut self,
        listener: impl Fn(&ValidateEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.watch.listeners.push(Arc::new(listener));
        self
    }

    /// Hands this layer's events to `observer`: when the layer is built, the observer is
    /// asked for a listener for it ([`Observer::validate`], given the layer's
    /// [`name`](Self::name)), which then sees every [`ValidateEvent`] as a listener given to
    /// [`on_event`](Self::on_event) would. May be called several times.
    pub fn observe(mut self, observer: Arc<dyn Observer>) -> Self {
        self.watch.observers.push(observer);
        self
    }

    /// Checks the settings and builds the layer.
    ///
    /// ```
    /// use steadfast::validate::ValidateLayer;
    ///
    /// let err = ValidateLayer::builder().build().unwrap_err();
    /// assert_eq!((err.layer(), err.field()), ("validate", "validators"));
    /// ```
    pub fn build(self) -> Result<ValidateLayer<Q, P>, ConfigError> {
        if self.counts == (0, 0) {
            return Err(ConfigError::new(
                "validate",
                "validators",
                "must include at least one request or response validator (got none)",
            ));
        }
        let Watch {
            name,
            mut listeners,
            observers,
        } = self.watch;
        let observed = name.as_deref().unwrap_or("validate");
        listeners.extend(observers.iter().filter_map(|o| o.validate(observed)));
        Ok(ValidateLayer {
            request: self.request,
            response: self.response,
            counts: self.counts,
            listeners: (!listeners.is_empty()).then(|| Listeners(listeners.into())),
            name,
        })
    }
}
