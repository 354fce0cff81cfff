//! The validate layer a stack's `validate` section describes, built from steadfast-http's
//! HTTP validators (feature `config`).
//!
//! ```
//! use steadfast::config::{Format, Node, ValidateSettings};
//! use steadfast_http::by_name::validate_layer;
//!
//! let node = Node::parse(r#"{ "success_status": true, "max_body": 4096 }"#, Format::Json).unwrap();
//! assert!(validate_layer(&ValidateSettings::from_node(&node).unwrap()).is_ok());
//! // A section that checks nothing is refused.
//! let err = validate_layer(&ValidateSettings::default()).unwrap_err();
//! assert_eq!(err.field(), "validators");
//! ```

use std::sync::Arc;

use http::{HeaderName, Request, Response};
use steadfast::config::ValidateSettings;
use steadfast::validate::{AcceptAll, And, Reason, ValidateLayer, ValidationContext, Validator};
use steadfast::ConfigError;
use tower_layer::Stack;

use crate::validate::{
    grpc_status, has_header, success_status, BufferLayer, Buffered, GrpcStatusOk, HasHeader,
    SuccessStatus,
};

/// The most bytes of a response body read for a `validate` section's checks when it gives no
/// `max_body`: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// The layer [`validate_layer`] builds: the validate layer over a [`BufferLayer`] that reads
/// each response body (up to `max_body`) so that the body checks see it.
pub type FileValidateLayer = Stack<
    BufferLayer,
    ValidateLayer<And<AcceptAll, RequestChecks>, And<AcceptAll, ResponseChecks>>,
>;

/// The request checks of a `validate` section: the headers every request must carry.
#[derive(Debug, Clone)]
pub struct RequestChecks {
    headers: Arc<[HasHeader]>,
}

impl<B> Validator<Request<B>> for RequestChecks {
    fn validate(&self, req: &Request<B>, cx: &ValidationContext, reasons: &mut Vec<Reason>) {
        for h in self.headers.iter() {
            h.validate(req, cx, reasons);
        }
    }
}

/// The response checks of a `validate` section, on buffered responses: the status, headers,
/// JSON body and gRPC status it asks for, each failure its own reason. Cheap to clone (the
/// validate layer clones it into each call's future).
#[derive(Debug, Clone)]
pub struct ResponseChecks {
    inner: Arc<Checks>,
}

#[derive(Debug)]
struct Checks {
    success: Option<SuccessStatus>,
    headers: Vec<HasHeader>,
    #[cfg(feature = "json")]
    json: Option<crate::validate::Json>,
    #[cfg(feature = "json")]
    fields: Option<crate::validate::JsonFields>,
    grpc: Option<GrpcStatusOk>,
}

impl Validator<Response<Buffered>> for ResponseChecks {
    fn validate(
        &self,
        res: &Response<Buffered>,
        cx: &ValidationContext,
        reasons: &mut Vec<Reason>,
    ) {
        let c = &*self.inner;
        if let Some(v) = &c.success {
            v.validate(res, cx, reasons);
        }
        for h in &c.headers {
            h.validate(res, cx, reasons);
        }
        #[cfg(feature = "json")]
        {
            // The fields check reads the JSON too: a body that is not JSON gets one reason.
            match (&c.fields, &c.json) {
                (Some(v), _) => v.validate(res, cx, reasons),
                (None, Some(v)) => v.validate(res, cx, reasons),
                (None, None) => {}
            }
        }
        if let Some(v) = &c.grpc {
            v.validate(res, cx, reasons);
        }
    }
}

/// The validate layer a stack's `validate` section describes (see
/// [`ValidateSettings`]): its request headers as request validators, and its status, response
/// headers, JSON and gRPC checks as response validators over a [`BufferLayer`] of `max_body`
/// bytes ([`DEFAULT_MAX_BODY`] when not given). Give it to
/// [`StackBuilder::validate_with`](steadfast::config::StackBuilder::validate_with), which puts
/// it innermost in the stack; the service below it answers `http::Response`s of any body, and
/// the stack answers [`Buffered`] bodies (the same bytes, read to the end).
///
/// Fails, naming the setting, when the section checks nothing, when it asks for JSON checks
/// and the `json` feature is off, or when `max_body` does not fit in memory.
///
/// ```
/// use steadfast::config::{Config, Format};
/// use steadfast_http::by_name::validate_layer;
///
/// let config = Config::from_str(
///     r#"{ "stacks": { "api": { "retry": { "max_attempts": 3 },
///          "validate": { "success_status": true, "json_fields": ["id"] } } } }"#,
///     Format::Json,
/// )
/// .unwrap();
/// let stack = config
///     .find_stack("api")
///     .unwrap()
///     .builder()
///     .classify(steadfast_http::HttpClassifier::default())
///     .validate_with(validate_layer)
///     .build()
///     .unwrap();
/// # let _ = stack.validate();
/// ```
pub fn validate_layer(settings: &ValidateSettings) -> Result<FileValidateLayer, ConfigError> {
    if !settings.checks_anything() {
        return Err(ConfigError::new(
            "validate",
            "validators",
            "checks nothing: turn on a check (success_status, json, grpc_status) or list \
             headers or fields",
        ));
    }
    let headers = |names: &Option<Vec<String>>, field: &'static str| {
        names
            .iter()
            .flatten()
            .map(|n| {
                HeaderName::from_bytes(n.as_bytes())
                    .map(has_header)
                    .map_err(|_| {
                        ConfigError::new("validate", field, format!("`{n}` is not a header name"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let request = RequestChecks {
        headers: headers(&settings.request_headers, "request_headers")?.into(),
    };
    let on = |b: Option<bool>| b == Some(true);
    #[cfg(not(feature = "json"))]
    if on(settings.json) || settings.json_fields.as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(ConfigError::new(
            "validate",
            "json",
            "the JSON checks need steadfast-http's `json` feature",
        ));
    }
    let checks = Checks {
        success: on(settings.success_status).then(success_status),
        headers: headers(&settings.response_headers, "response_headers")?,
        #[cfg(feature = "json")]
        json: on(settings.json).then(crate::validate::json),
        #[cfg(feature = "json")]
        fields: settings
            .json_fields
            .as_ref()
            .filter(|f| !f.is_empty())
            .map(|f| crate::validate::json_fields(f.clone())),
        grpc: on(settings.grpc_status).then(grpc_status),
    };
    let max_body = match settings.max_body {
        None => DEFAULT_MAX_BODY,
        Some(n) => usize::try_from(n).map_err(|_| {
            ConfigError::new(
                "validate",
                "max_body",
                format!("must fit in memory (got {n})"),
            )
        })?,
    };
    let mut b = ValidateLayer::builder()
        .request(request)
        .response(ResponseChecks {
            inner: Arc::new(checks),
        });
    if let Some(name) = &settings.name {
        b = b.name(name.clone());
    }
    Ok(Stack::new(BufferLayer::new(max_body), b.build()?))
}
