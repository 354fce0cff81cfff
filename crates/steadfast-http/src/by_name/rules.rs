//! A built-in classifier with the rules a file gives it (feature `config`):
//! `classify = { name = "http", retry = [429, 503], fail = [500] }`.
//!
//! ```
//! use steadfast_http::by_name::{classifier_with_rules, NamedClassifier};
//!
//! // Without rules, the named classifier as it is.
//! let c = classifier_with_rules("classify", "grpc", None).unwrap();
//! assert!(matches!(c, NamedClassifier::Grpc(_)));
//! ```

use std::fmt;

use http::StatusCode;
use steadfast::config::{ClassifyRules, CodeSetting, GRPC_CODE_NAMES};

use super::classify::{base, Base, NamedClassifier, UnknownClassifier};
use crate::classify::Rule;
use crate::grpc::GrpcCode;

/// The built-in classifier named `name` (see [`classifier_by_name`](super::classify::classifier_by_name)),
/// with `rules` on top: each listed HTTP status or gRPC code takes the list's rule (`retry`,
/// `fail`, `success`, `ignore`), and the rest keep the classifier's own. `path` is the
/// setting's path in the file (`stacks.api.retry.classify`), which errors name.
///
/// An HTTP classifier (`http`, `http_idempotent`, `transport`) takes statuses and a gRPC one
/// (`grpc`) takes code names; a code of the other kind is refused at its path.
///
/// ```
/// use http::StatusCode;
/// use steadfast::config::{Config, Format};
/// use steadfast_http::by_name::{classifier_with_rules, NamedClassifier};
/// use steadfast_http::Rule;
///
/// let config = Config::from_str(
///     r#"{ "policies": { "p": { "classify": { "name": "http", "retry": [500], "success": [503] } } } }"#,
///     Format::Json,
/// )
/// .unwrap();
/// let p = config.policy("p").unwrap();
/// let c = classifier_with_rules("policies.p.classify", "http", p.classify_rules.as_ref()).unwrap();
/// let NamedClassifier::Http(c) = c else { unreachable!() };
/// assert_eq!(c.rule(StatusCode::INTERNAL_SERVER_ERROR), Rule::Retry);
/// assert_eq!(c.rule(StatusCode::SERVICE_UNAVAILABLE), Rule::Success);
/// assert_eq!(c.rule(StatusCode::BAD_GATEWAY), Rule::Retry, "the default rule");
///
/// let err = classifier_with_rules("policies.p.classify", "grpc", p.classify_rules.as_ref()).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "policies.p.classify.retry.0 = 500: an HTTP status, but `grpc` classifies gRPC codes \
///      (give a code name, such as \"UNAVAILABLE\")"
/// );
/// ```
pub fn classifier_with_rules(
    path: &str,
    name: &str,
    rules: Option<&ClassifyRules>,
) -> Result<NamedClassifier, ClassifierError> {
    let Some(base) = base(name) else {
        return Err(ClassifierError::Unknown(UnknownClassifier {
            path: path.to_owned(),
            name: name.to_owned(),
        }));
    };
    let Some(rules) = rules else {
        return Ok(base.build());
    };
    let mut base = base;
    for (key, codes) in rules.lists() {
        let rule = match key {
            "retry" => Rule::Retry,
            "fail" => Rule::Fail,
            "success" => Rule::Success,
            _ => Rule::Ignore,
        };
        for (i, code) in codes.iter().enumerate() {
            let at = || format!("{path}.{key}.{i}");
            base = match (base, *code) {
                (Base::Http(b), CodeSetting::Status(s)) => match StatusCode::from_u16(s) {
                    Ok(status) => Base::Http(b.status(status, rule)),
                    Err(_) => return Err(ClassifierError::rule(at(), s, "not an HTTP status")),
                },
                (Base::Grpc(b), CodeSetting::Grpc(g)) => {
                    let n = GRPC_CODE_NAMES.iter().position(|c| *c == g).unwrap_or(2);
                    Base::Grpc(b.code(GrpcCode::from_i32(n as i32), rule))
                }
                (Base::Http(_), CodeSetting::Grpc(g)) => {
                    let rule = format!(
                        "a gRPC code, but `{name}` classifies HTTP statuses (give a status, \
                         such as 503)"
                    );
                    return Err(ClassifierError::rule(at(), format!("{g:?}"), rule));
                }
                (Base::Grpc(_), CodeSetting::Status(s)) => {
                    let rule = format!(
                        "an HTTP status, but `{name}` classifies gRPC codes (give a code \
                         name, such as \"UNAVAILABLE\")"
                    );
                    return Err(ClassifierError::rule(at(), s, rule));
                }
                (b, _) => b,
            };
        }
    }
    Ok(base.build())
}

/// Why [`classifier_with_rules`] could not build a classifier: an unknown name, or a rule
/// for a code of the other kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClassifierError {
    /// No built-in classifier has the name.
    Unknown(UnknownClassifier),
    /// A code the classifier does not judge (a gRPC code for an HTTP classifier, or a status
    /// for a gRPC one).
    Rule {
        /// The code's path (`stacks.api.retry.classify.retry.0`).
        path: String,
        /// The code, as the file gives it.
        value: String,
        /// The rule it breaks.
        rule: String,
    },
}

impl ClassifierError {
    fn rule(path: String, value: impl fmt::Display, rule: impl Into<String>) -> Self {
        ClassifierError::Rule {
            path,
            value: value.to_string(),
            rule: rule.into(),
        }
    }

    /// The path of the setting at fault.
    pub fn path(&self) -> &str {
        match self {
            ClassifierError::Unknown(e) => e.path(),
            ClassifierError::Rule { path, .. } => path,
        }
    }
}

impl fmt::Display for ClassifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassifierError::Unknown(e) => e.fmt(f),
            ClassifierError::Rule { path, value, rule } => write!(f, "{path} = {value}: {rule}"),
        }
    }
}

impl std::error::Error for ClassifierError {}
