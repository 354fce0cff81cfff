//! The built-in classifiers by name: [`classifier_by_name`] and what it returns.
//!
//! ```
//! use steadfast_http::by_name::{classifier_by_name, NamedClassifier, CLASSIFIER_NAMES};
//!
//! for name in CLASSIFIER_NAMES {
//!     assert!(classifier_by_name("classify", name).is_ok());
//! }
//! assert!(matches!(classifier_by_name("classify", "transport"), Ok(NamedClassifier::Http(_))));
//! ```

use std::borrow::Cow;
use std::fmt;

use http::{Request, Response};
use steadfast::classify::{Attempt, Classify, LateOutcome, Outcome};

use crate::classify::{HttpClassifier, Rule};
use crate::grpc::GrpcClassifier;
use crate::idempotency::Idempotency;
use crate::transport::ClientError;

/// The names [`classifier_by_name`] knows, in the order its errors list them.
pub const CLASSIFIER_NAMES: &[&str] = &["http", "http_idempotent", "grpc", "transport"];

/// One of the built-in classifiers, chosen by name; it classifies as the one it holds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum NamedClassifier {
    /// `"http"`, `"http_idempotent"` or `"transport"`.
    Http(HttpClassifier),
    /// `"grpc"`.
    Grpc(GrpcClassifier),
}

/// The built-in classifier named `name` (see the [module docs](super)), or an error at `path`
/// (the setting's path in the file, such as `stacks.api.retry.classify`) that lists the
/// known names, and suggests the nearest one when `name` looks like a slip.
pub fn classifier_by_name(path: &str, name: &str) -> Result<NamedClassifier, UnknownClassifier> {
    match base(name) {
        Some(base) => Ok(base.build()),
        None => Err(UnknownClassifier {
            path: path.to_owned(),
            name: name.to_owned(),
        }),
    }
}

/// The builder of a built-in classifier, for rules to go on top.
pub(crate) enum Base {
    Http(crate::classify::HttpClassifierBuilder),
    Grpc(crate::grpc::GrpcClassifierBuilder),
}

impl Base {
    pub(crate) fn build(self) -> NamedClassifier {
        match self {
            Base::Http(b) => NamedClassifier::Http(b.build()),
            Base::Grpc(b) => NamedClassifier::Grpc(b.build()),
        }
    }
}

/// The builder of the built-in classifier named `name`, if there is one.
pub(crate) fn base(name: &str) -> Option<Base> {
    Some(match name {
        "http" => Base::Http(HttpClassifier::builder()),
        "http_idempotent" => Base::Http(HttpClassifier::builder().idempotency(Idempotency::any())),
        "grpc" => Base::Grpc(GrpcClassifier::builder()),
        "transport" => Base::Http(
            HttpClassifier::builder()
                .statuses([408, 429], Rule::Success)
                .statuses([502, 503, 504], Rule::Fail),
        ),
        _ => return None,
    })
}

/// A classifier name [`classifier_by_name`] does not know; its `Display` names the setting's
/// path, the name, the nearest known name when there is one, and every known name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownClassifier {
    pub(crate) path: String,
    pub(crate) name: String,
}

impl UnknownClassifier {
    /// The setting's path (`stacks.api.retry.classify`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The name given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = CLASSIFIER_NAMES.join(", ");
        write!(f, "{} = {:?}: unknown classifier (", self.path, self.name)?;
        if let Some(near) = nearest(&self.name) {
            write!(f, "did you mean `{near}`? ")?;
        }
        write!(f, "known: {known})")
    }
}

impl std::error::Error for UnknownClassifier {}

/// The known name at most two edits from `name`, if any.
fn nearest(name: &str) -> Option<&'static str> {
    CLASSIFIER_NAMES
        .iter()
        .map(|k| (edits(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl<B, RB, E> Classify<Request<B>, Response<RB>, E> for NamedClassifier
where
    E: ClientError,
{
    fn classify(
        &self,
        attempt: &Attempt<'_, Request<B>>,
        result: Result<&Response<RB>, &E>,
    ) -> Outcome {
        match self {
            NamedClassifier::Http(c) => c.classify(attempt, result),
            NamedClassifier::Grpc(c) => c.classify(attempt, result),
        }
    }

    fn reads_elapsed(&self) -> bool {
        match self {
            NamedClassifier::Http(c) => Classify::<Request<B>, Response<RB>, E>::reads_elapsed(c),
            NamedClassifier::Grpc(c) => Classify::<Request<B>, Response<RB>, E>::reads_elapsed(c),
        }
    }

    fn late_outcome(&self, response: &Response<RB>) -> Option<LateOutcome> {
        match self {
            NamedClassifier::Http(c) => {
                Classify::<Request<B>, Response<RB>, E>::late_outcome(c, response)
            }
            NamedClassifier::Grpc(c) => {
                Classify::<Request<B>, Response<RB>, E>::late_outcome(c, response)
            }
        }
    }

    fn explain(
        &self,
        attempt: &Attempt<'_, Request<B>>,
        result: Result<&Response<RB>, &E>,
    ) -> (Outcome, Option<Cow<'static, str>>) {
        match self {
            NamedClassifier::Http(c) => c.explain(attempt, result),
            NamedClassifier::Grpc(c) => c.explain(attempt, result),
        }
    }
}
