//! Validators for buffered JSON bodies.

use std::borrow::Cow;
use std::sync::Arc;

use http::Response;
use steadfast::validate::{Reason, ValidationContext, Validator};

use super::buffered::Buffered;

/// Accepts a buffered response whose body is valid JSON; see [`json`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

/// A validator: the body must be valid JSON.
pub fn json() -> Json {
    Json
}

impl Validator<Response<Buffered>> for Json {
    fn validate(&self, res: &Response<Buffered>, _: &ValidationContext, reasons: &mut Vec<Reason>) {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(res.body().bytes()) {
            reasons.push(Reason::new(format!("body is not valid JSON: {e}")));
        }
    }
}

/// Accepts a buffered response whose body is a JSON object with every one of the given
/// fields; see [`json_fields`].
#[derive(Debug, Clone)]
pub struct JsonFields {
    // Shared: the validate layer clones its response validator into every call's future.
    fields: Arc<[Cow<'static, str>]>,
}

/// A validator: the body must be a JSON object holding every field of `fields` (each
/// missing field is its own reason).
pub fn json_fields<I, F>(fields: I) -> JsonFields
where
    I: IntoIterator<Item = F>,
    F: Into<Cow<'static, str>>,
{
    JsonFields {
        fields: fields.into_iter().map(Into::into).collect(),
    }
}

impl Validator<Response<Buffered>> for JsonFields {
    fn validate(&self, res: &Response<Buffered>, _: &ValidationContext, reasons: &mut Vec<Reason>) {
        match serde_json::from_slice::<serde_json::Value>(res.body().bytes()) {
            Ok(serde_json::Value::Object(map)) => {
                for f in self.fields.iter() {
                    if !map.contains_key(f.as_ref()) {
                        reasons.push(Reason::new(format!("JSON field `{f}` is missing")));
                    }
                }
            }
            Ok(_) => reasons.push(Reason::new("body is JSON but not an object")),
            Err(e) => reasons.push(Reason::new(format!("body is not valid JSON: {e}"))),
        }
    }
}
