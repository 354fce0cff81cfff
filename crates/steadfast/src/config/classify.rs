//! A built-in classifier's rules as data: `classify = { name = "http", retry = [429, 503] }`.
//!
//! ```
//! use steadfast::config::{ClassifyRules, CodeSetting, Format, Node, RetrySettings};
//!
//! let node = Node::parse(
//!     r#"{ "classify": { "name": "grpc", "retry": ["UNAVAILABLE", "ABORTED"], "fail": ["INTERNAL"] } }"#,
//!     Format::Json,
//! )
//! .unwrap();
//! let settings = RetrySettings::from_node(&node).unwrap();
//! assert_eq!(settings.classify.as_deref(), Some("grpc"));
//! let rules = settings.classify_rules.unwrap();
//! assert_eq!(rules.retry, [CodeSetting::Grpc("UNAVAILABLE"), CodeSetting::Grpc("ABORTED")]);
//!
//! // A status out of range and a misspelt code, each at its path.
//! let node = Node::parse(
//!     r#"{ "classify": { "name": "http", "retry": [503, 600], "fail": ["UNAVALABLE"] } }"#,
//!     Format::Json,
//! )
//! .unwrap();
//! let err = RetrySettings::from_node(&node).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "classify.retry.1 = 600: must be an HTTP status from 100 to 599\n\
//!      classify.fail.0 = \"UNAVALABLE\": unknown gRPC code (did you mean `UNAVAILABLE`?)"
//! );
//! ```

use super::node::{Node, Out};
use super::read::{did_you_mean, join, text, Reader};

/// The rules a file gives a built-in classifier, beside its name: which HTTP statuses or gRPC
/// codes are retried (`retry`), failures not retried (`fail`), successes (`success`), or
/// neither (`ignore`, not counted by a breaker). What a list does not mention keeps the
/// classifier's own rule; each code may be in one list only.
///
/// The settings only carry them: `steadfast_http::by_name::classifier_with_rules` builds the
/// classifier, refusing gRPC codes for an HTTP classifier and statuses for a gRPC one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClassifyRules {
    /// Transient failures: retried, counted by a breaker.
    pub retry: Vec<CodeSetting>,
    /// Failures not retried, counted by a breaker.
    pub fail: Vec<CodeSetting>,
    /// Successes.
    pub success: Vec<CodeSetting>,
    /// Neither: not retried and not counted.
    pub ignore: Vec<CodeSetting>,
}

/// An HTTP status or a gRPC code, in a classifier's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeSetting {
    /// An HTTP status, from 100 to 599 (RFC 9110's classes).
    Status(u16),
    /// A gRPC status code, by its name in the gRPC specification (`"UNAVAILABLE"`).
    Grpc(&'static str),
}

/// The gRPC status codes' names, in the order of their numbers (0 to 16).
pub const GRPC_CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

const LISTS: [&str; 4] = ["retry", "fail", "success", "ignore"];

impl ClassifyRules {
    /// Each list's key and codes, in the order a file writes them.
    pub fn lists(&self) -> [(&'static str, &[CodeSetting]); 4] {
        [
            (LISTS[0], &self.retry),
            (LISTS[1], &self.fail),
            (LISTS[2], &self.success),
            (LISTS[3], &self.ignore),
        ]
    }

    fn list_mut(&mut self, i: usize) -> &mut Vec<CodeSetting> {
        match i {
            0 => &mut self.retry,
            1 => &mut self.fail,
            2 => &mut self.success,
            _ => &mut self.ignore,
        }
    }
}

/// Reads a `classify` setting: a classifier's name, or a table of its name and rules.
pub(crate) fn read_classify(
    r: &mut Reader,
    node: &Node,
    path: &str,
) -> Option<(String, Option<ClassifyRules>)> {
    if let Node::String(name) = node {
        return Some((name.clone(), None));
    }
    let mut t = r.table(node, path)?;
    let name = t.string(r, "name");
    if name.is_none() && !t.has("name") {
        r.report(
            &join(path, "name"),
            None,
            "missing (the built-in classifier these rules adjust, such as \"http\")",
        );
    }
    let mut rules = ClassifyRules::default();
    let mut clean = true;
    for (i, key) in LISTS.into_iter().enumerate() {
        let Some((node, path)) = t.get(key) else {
            continue;
        };
        let Node::List(items) = node else {
            r.report(
                &path,
                Some(node),
                "must be a list of HTTP statuses or gRPC code names",
            );
            clean = false;
            continue;
        };
        for (n, item) in items.iter().enumerate() {
            let path = join(&path, &n.to_string());
            let Some(code) = code(r, item, &path) else {
                clean = false;
                continue;
            };
            if let Some(j) = (0..4).find(|&j| rules.list_mut(j).contains(&code)) {
                r.report(
                    &path,
                    Some(item),
                    format!("given already, in `{}`", LISTS[j]),
                );
                clean = false;
                continue;
            }
            rules.list_mut(i).push(code);
        }
    }
    t.finish(r);
    let name = name?;
    clean.then_some((name, Some(rules)))
}

fn code(r: &mut Reader, node: &Node, path: &str) -> Option<CodeSetting> {
    match node {
        Node::Integer(n) => match u16::try_from(*n) {
            Ok(s) if (100..=599).contains(&s) => Some(CodeSetting::Status(s)),
            _ => {
                r.report(path, Some(node), "must be an HTTP status from 100 to 599");
                None
            }
        },
        Node::String(_) => {
            let s = text(r, node, path)?;
            if let Some(name) = GRPC_CODE_NAMES.iter().find(|n| **n == s) {
                return Some(CodeSetting::Grpc(name));
            }
            let upper = s.to_ascii_uppercase();
            let rule = match did_you_mean(&upper, &GRPC_CODE_NAMES) {
                Some(near) => format!("unknown gRPC code (did you mean `{near}`?)"),
                None => format!("unknown gRPC code (known: {})", GRPC_CODE_NAMES.join(", ")),
            };
            r.report(path, Some(node), rule);
            None
        }
        other => {
            r.report(
                path,
                Some(other),
                "must be an HTTP status (503) or a gRPC code name (\"UNAVAILABLE\")",
            );
            None
        }
    }
}

/// The `classify` setting as a file writes it: the name alone, or a table with the rules.
pub(crate) fn classify_node(name: Option<&str>, rules: Option<&ClassifyRules>) -> Option<Node> {
    let name = name?;
    let Some(rules) = rules else {
        return Some(Node::text(name));
    };
    let mut out = Out::default();
    out.put("name", Some(Node::text(name)));
    for (key, codes) in rules.lists() {
        let list = codes
            .iter()
            .map(|c| match c {
                CodeSetting::Status(s) => Node::Integer((*s).into()),
                CodeSetting::Grpc(g) => Node::text(g),
            })
            .collect::<Vec<_>>();
        out.put(key, (!list.is_empty()).then_some(Node::List(list)));
    }
    Some(out.node())
}
