//! What this crate's layers say about themselves in a stack's description
//! ([`steadfast::describe`]), and the services they build (around a service that describes
//! itself) likewise.

use http::HeaderName;
use steadfast::describe::{Describe, LayerDescription, Value};

use crate::attempt::{AttemptHeader, AttemptHeaderLayer, UpstreamRetries, UpstreamRetriesLayer};
use crate::cancel::{HttpCancel, HttpCancelLayer};
use crate::deadline::{
    AcceptDeadline, AcceptDeadlineLayer, PropagateDeadline, PropagateDeadlineLayer,
};
use crate::grpc_status::{GrpcStatus, GrpcStatusLayer};
use crate::replay::{Replay, ReplayLayer};
use crate::validate::{Buffer, BufferLayer, ValidateRequests, ValidateRequestsLayer};

/// `layer`'s description, then `inner`'s.
fn then(layer: LayerDescription, inner: &impl Describe) -> Vec<LayerDescription> {
    let mut layers = vec![layer];
    layers.extend(inner.describe());
    layers
}

fn header(name: &HeaderName) -> Value {
    Value::text(name.as_str().to_owned())
}

/// The cancel layer's description, as `http-cancel` or `grpc-cancel`.
fn http_cancel(mut described: Vec<LayerDescription>, grpc: bool) -> Vec<LayerDescription> {
    if let Some(first) = described.first_mut() {
        let kind = if grpc { "grpc-cancel" } else { "http-cancel" };
        let mut layer = LayerDescription::new(kind);
        for s in first.settings() {
            layer = layer.with(s.key().to_owned(), s.value().clone());
        }
        *first = layer;
    }
    described
}

/// `http-cancel: timeout 10s, ...` (`grpc-cancel` for [`for_grpc`](crate::CancelLayerExt::for_grpc)):
/// the cancel layer's settings.
impl Describe for HttpCancelLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        http_cancel(self.layer.describe(), self.grpc)
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for HttpCancel<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        http_cancel(self.inner.describe(), self.grpc)
    }
}

fn replay(max_bytes: usize) -> LayerDescription {
    LayerDescription::new("replay").with("max_bytes", max_bytes)
}

/// `replay: max_bytes 65536`.
impl Describe for ReplayLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![replay(self.max_bytes())]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for Replay<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(replay(self.max_bytes), self.get_ref())
    }
}

/// `header x-request-timeout-ms`, or `grpc_only true`.
fn deadline_header(layer: LayerDescription, name: Option<&HeaderName>) -> LayerDescription {
    match name {
        Some(name) => layer.with("header", header(name)),
        None => layer.with("grpc_only", true),
    }
}

fn propagate(name: Option<&HeaderName>) -> LayerDescription {
    deadline_header(LayerDescription::new("propagate-deadline"), name)
}

/// `propagate-deadline: header x-request-timeout-ms` (`grpc-timeout` is always written on
/// gRPC requests).
impl Describe for PropagateDeadlineLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![propagate(self.header.as_ref())]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for PropagateDeadline<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(propagate(self.header.as_ref()), &self.inner)
    }
}

fn accept(layer: &AcceptDeadlineLayer) -> LayerDescription {
    deadline_header(
        LayerDescription::new("accept-deadline"),
        layer.header.as_ref(),
    )
    .with_some("max", layer.max)
}

/// `accept-deadline: header x-request-timeout-ms, max 5s`.
impl Describe for AcceptDeadlineLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![accept(self)]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for AcceptDeadline<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(accept(&self.config), &self.inner)
    }
}

fn attempt_header(layer: &AttemptHeaderLayer) -> LayerDescription {
    LayerDescription::new("attempt-header")
        .with("header", header(&layer.header))
        .with("on_first_attempts", layer.first_too)
}

/// `attempt-header: header x-retry-attempt, on_first_attempts false`.
impl Describe for AttemptHeaderLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![attempt_header(self)]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for AttemptHeader<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(attempt_header(&self.config), &self.inner)
    }
}

fn upstream(layer: &UpstreamRetriesLayer) -> LayerDescription {
    LayerDescription::new("upstream-retries").with("header", header(&layer.header))
}

/// `upstream-retries: header x-retry-attempt`.
impl Describe for UpstreamRetriesLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![upstream(self)]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for UpstreamRetries<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(upstream(&self.config), &self.inner)
    }
}

fn buffer(cap: usize) -> LayerDescription {
    LayerDescription::new("buffer").with("cap", cap)
}

/// `buffer: cap 1048576`: the most bytes of a response body read into memory.
impl Describe for BufferLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![buffer(self.cap)]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for Buffer<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(buffer(self.cap), &self.inner)
    }
}

/// `grpc-status`: watches streamed gRPC answers for the status in their trailers.
impl Describe for GrpcStatusLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![LayerDescription::new("grpc-status")]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe> Describe for GrpcStatus<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(LayerDescription::new("grpc-status"), &self.inner)
    }
}

/// A type's name without its path or parameters; `custom` for closures and the closure
/// adapters.
fn label<T>() -> Value {
    let full = std::any::type_name::<T>();
    let head = full.split('<').next().unwrap_or(full);
    let short = head.rsplit("::").next().unwrap_or(head);
    if full.contains("{{closure}}") || short.ends_with("Fn") || short.is_empty() {
        Value::text("custom")
    } else {
        Value::text(short.to_owned())
    }
}

fn validate_requests<V>(status: http::StatusCode) -> LayerDescription {
    LayerDescription::new("validate-requests")
        .with("validator", label::<V>())
        .with("status", u64::from(status.as_u16()))
}

/// `validate-requests: validator NonEmpty, status 422`: the validator, by the name of its
/// type, and the status invalid requests are answered with.
impl<V> Describe for ValidateRequestsLayer<V> {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![validate_requests::<V>(self.status)]
    }
}

/// The layer's description, then the inner service's.
impl<S: Describe, V> Describe for ValidateRequests<S, V> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(validate_requests::<V>(self.status), &self.inner)
    }
}

/// `tonic-body`: hands tonic's channel its own body type.
#[cfg(feature = "tonic")]
impl Describe for crate::grpc::TonicBodyLayer {
    fn describe(&self) -> Vec<LayerDescription> {
        vec![LayerDescription::new("tonic-body")]
    }
}

/// The layer's description, then the inner service's.
#[cfg(feature = "tonic")]
impl<S: Describe> Describe for crate::grpc::TonicBody<S> {
    fn describe(&self) -> Vec<LayerDescription> {
        then(LayerDescription::new("tonic-body"), &self.inner)
    }
}
