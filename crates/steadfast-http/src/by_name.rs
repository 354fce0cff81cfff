//! The built-in classifiers by the names a settings file gives them (`classify = "http"`),
//! and (feature `config`) the validate layer a stack's `validate` section describes
//! ([`validate_layer`]).
//!
//! | name | classifier |
//! | --- | --- |
//! | `"http"` | [`HttpClassifier::default`](crate::HttpClassifier::default): `408`, `429`, `502`, `503`, `504` and transport errors retried, for idempotent requests (RFC 9110) |
//! | `"http_idempotent"` | the same rules, for every request: the caller vouches that each is safe to send again |
//! | `"grpc"` | [`GrpcClassifier::default`](crate::GrpcClassifier::default): `UNAVAILABLE` and `RESOURCE_EXHAUSTED` retried for every call, and server pushback read as gRFC A6 says |
//! | `"transport"` | only errors where no answer came are retried; every status is an answer, `5xx` a failure a breaker counts |
//!
//! ```
//! use steadfast_http::by_name::{classifier_by_name, NamedClassifier};
//!
//! let c = classifier_by_name("stacks.api.retry.classify", "grpc").unwrap();
//! assert!(matches!(c, NamedClassifier::Grpc(_)));
//!
//! let err = classifier_by_name("stacks.api.retry.classify", "htp").unwrap_err();
//! assert_eq!(err.path(), "stacks.api.retry.classify");
//! assert_eq!(
//!     err.to_string(),
//!     "stacks.api.retry.classify = \"htp\": unknown classifier (did you mean `http`? known: \
//!      http, http_idempotent, grpc, transport)"
//! );
//! ```

mod classify;
#[cfg(feature = "config")]
mod rules;
#[cfg(feature = "config")]
mod validate;

pub use classify::{classifier_by_name, NamedClassifier, UnknownClassifier, CLASSIFIER_NAMES};
#[cfg(feature = "config")]
pub use rules::{classifier_with_rules, ClassifierError};
#[cfg(feature = "config")]
pub use validate::{
    validate_layer, FileValidateLayer, RequestChecks, ResponseChecks, DEFAULT_MAX_BODY,
};
