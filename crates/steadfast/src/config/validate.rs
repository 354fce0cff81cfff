//! The validate layer's built-in checks as data: a stack's `validate` section.
//!
//! ```
//! use steadfast::config::{Format, Node, ValidateSettings};
//!
//! let node = Node::parse(
//!     r#"{ "success_status": true, "response_headers": ["content-type"], "json_fields": ["id"] }"#,
//!     Format::Json,
//! )
//! .unwrap();
//! let settings = ValidateSettings::from_node(&node).unwrap();
//! assert_eq!(settings.success_status, Some(true));
//! assert_eq!(settings.json_fields.as_deref(), Some(&["id".to_owned()][..]));
//!
//! // Every problem at once, with its path.
//! let node = Node::parse(r#"{ "request_headers": ["x y"], "jsn": true }"#, Format::Json).unwrap();
//! let err = ValidateSettings::from_node(&node).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "request_headers.0 = \"x y\": not a header name (letters, digits and !#$%&'*+-.^_`|~ only, as RFC 9110's tokens)\n\
//!      jsn = true: unknown setting (did you mean `json`?)"
//! );
//! ```

use super::node::{Node, Out};
use super::read::settings_serde;
use super::read::{integer, join, text, Reader, Table};

/// The checks of a stack's validate layer, as a file gives them: the built-in validators
/// that need no code, every setting optional.
///
/// In a file:
///
/// ```toml
/// [stacks.api.validate]
/// name = "api"                          # default: the stack's key
/// request_headers = ["authorization"]   # each request must carry these headers
/// success_status = true                 # each response's status must be 2xx
/// response_headers = ["content-type"]   # each response must carry these headers
/// json = true                           # each response body must be JSON
/// json_fields = ["id", "name"]          # ... a JSON object with these fields
/// grpc_status = true                    # each gRPC answer must end with status OK
/// max_body = 65536                      # the most bytes of a body read for the checks
/// ```
///
/// These are HTTP checks: `steadfast_http::by_name::validate_layer` turns them into a
/// validate layer (its request validators, its response validators, and the buffer that
/// reads each response body, up to `max_body`, for the body checks), which
/// [`StackBuilder::validate_with`](crate::config::StackBuilder::validate_with) puts
/// innermost in the stack. A response that fails a check is an invalid answer: the retry
/// layer retries it and the breaker counts it (see `docs/validate.md`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ValidateSettings {
    /// The layer's name ([`name`](crate::validate::ValidateLayerBuilder::name)).
    pub name: Option<String>,
    /// Headers every request must carry; a request without one is not sent.
    pub request_headers: Option<Vec<String>>,
    /// Whether a response's status must be a success (2xx).
    pub success_status: Option<bool>,
    /// Headers every response must carry.
    pub response_headers: Option<Vec<String>>,
    /// Whether a response body must be valid JSON.
    pub json: Option<bool>,
    /// Fields a response body must have, as a JSON object.
    pub json_fields: Option<Vec<String>>,
    /// Whether a gRPC answer must end with status `OK` (in its headers or trailers).
    pub grpc_status: Option<bool>,
    /// The most bytes of a response body read for the checks; a larger body fails the call.
    pub max_body: Option<u64>,
}

impl ValidateSettings {
    /// Whether these settings check anything: a check turned on, or a header or field listed.
    pub fn checks_anything(&self) -> bool {
        self.checks_requests() || self.checks_responses()
    }

    /// Whether these settings check requests.
    pub fn checks_requests(&self) -> bool {
        self.request_headers.as_ref().is_some_and(|l| !l.is_empty())
    }

    /// Whether these settings check responses.
    pub fn checks_responses(&self) -> bool {
        let on = |b: Option<bool>| b == Some(true);
        let listed = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| !l.is_empty());
        on(self.success_status) || listed(&self.response_headers) || self.checks_bodies()
    }

    /// Whether these settings read response bodies (JSON, gRPC status in trailers).
    pub fn checks_bodies(&self) -> bool {
        let on = |b: Option<bool>| b == Some(true);
        on(self.json)
            || self.json_fields.as_ref().is_some_and(|l| !l.is_empty())
            || on(self.grpc_status)
    }

    /// These settings with every setting `over` gives replacing this one's; a list is
    /// replaced whole.
    pub fn overridden_by(&self, over: &ValidateSettings) -> ValidateSettings {
        ValidateSettings {
            name: over.name.clone().or_else(|| self.name.clone()),
            request_headers: over
                .request_headers
                .clone()
                .or_else(|| self.request_headers.clone()),
            success_status: over.success_status.or(self.success_status),
            response_headers: over
                .response_headers
                .clone()
                .or_else(|| self.response_headers.clone()),
            json: over.json.or(self.json),
            json_fields: over
                .json_fields
                .clone()
                .or_else(|| self.json_fields.clone()),
            grpc_status: over.grpc_status.or(self.grpc_status),
            max_body: over.max_body.or(self.max_body),
        }
    }

    pub(crate) fn read_table(r: &mut Reader, t: &mut Table<'_>) -> ValidateSettings {
        ValidateSettings {
            name: t.string(r, "name"),
            request_headers: t.read(r, "request_headers", header_names),
            success_status: t.bool(r, "success_status"),
            response_headers: t.read(r, "response_headers", header_names),
            json: t.bool(r, "json"),
            json_fields: t.read(r, "json_fields", field_names),
            grpc_status: t.bool(r, "grpc_status"),
            max_body: t.read(r, "max_body", |r, node, path| {
                let n: u64 = integer(r, node, path)?;
                if n == 0 {
                    r.report(path, Some(node), "must be at least 1 byte");
                    return None;
                }
                Some(n)
            }),
        }
    }

    pub(crate) fn read(r: &mut Reader, node: &Node, path: &str) -> Option<ValidateSettings> {
        let mut t = r.table(node, path)?;
        let settings = Self::read_table(r, &mut t);
        t.finish(r);
        Some(settings)
    }

    /// The table these settings read from.
    pub fn to_node(&self) -> Node {
        let list = |l: &Vec<String>| Node::List(l.iter().map(|s| Node::text(s)).collect());
        Out::default()
            .put("name", self.name.as_deref().map(Node::text))
            .put("request_headers", self.request_headers.as_ref().map(list))
            .put("success_status", self.success_status.map(Node::Bool))
            .put("response_headers", self.response_headers.as_ref().map(list))
            .put("json", self.json.map(Node::Bool))
            .put("json_fields", self.json_fields.as_ref().map(list))
            .put("grpc_status", self.grpc_status.map(Node::Bool))
            .put("max_body", self.max_body.map(|n| Node::Integer(n.into())))
            .node()
    }
}

/// A list of text, each item checked by `check` (which returns the rule it breaks).
fn names(
    r: &mut Reader,
    node: &Node,
    path: &str,
    check: fn(&str) -> Option<&'static str>,
) -> Option<Vec<String>> {
    let Node::List(items) = node else {
        r.report(path, Some(node), "must be a list of text");
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut clean = true;
    for (i, item) in items.iter().enumerate() {
        let path = join(path, &i.to_string());
        match text(r, item, &path) {
            Some(s) => match check(s) {
                Some(rule) => {
                    r.report(&path, Some(item), rule);
                    clean = false;
                }
                None => out.push(s.to_owned()),
            },
            None => clean = false,
        }
    }
    clean.then_some(out)
}

fn header_names(r: &mut Reader, node: &Node, path: &str) -> Option<Vec<String>> {
    names(r, node, path, |s| {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if s.is_empty() || !s.chars().all(token) {
            Some("not a header name (letters, digits and !#$%&'*+-.^_`|~ only, as RFC 9110's tokens)")
        } else {
            None
        }
    })
}

fn field_names(r: &mut Reader, node: &Node, path: &str) -> Option<Vec<String>> {
    names(r, node, path, |s| {
        s.is_empty().then_some("must not be empty")
    })
}

settings_serde!(ValidateSettings);
