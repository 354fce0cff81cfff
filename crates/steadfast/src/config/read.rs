//! Reading settings from a [`Node`] tree: the path of every value, and every problem found.

use std::fmt;
use std::time::Duration;

use super::duration::parse_duration;
use super::node::Node;

/// One thing wrong with a settings file: where (the file, the path of the setting), what (the
/// value found) and why (the rule it breaks).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    file: Option<String>,
    path: String,
    value: Option<Node>,
    rule: String,
}

impl Problem {
    pub(crate) fn new(
        path: impl Into<String>,
        value: Option<&Node>,
        rule: impl Into<String>,
    ) -> Self {
        Problem {
            file: None,
            path: path.into(),
            value: value.cloned(),
            rule: rule.into(),
        }
    }

    /// The file the setting was read from, when it was read from one.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The setting's path, keys joined by dots (`stacks.inventory.retry.backoff.max`); empty
    /// for a problem with the whole text (a syntax error).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The value found there, if there was one.
    pub fn value(&self) -> Option<&Node> {
        self.value.as_ref()
    }

    /// The rule it breaks, in words.
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

/// `file: path = value: rule`, leaving out what the problem does not have.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        match (&*self.path, &self.value) {
            ("", _) => {}
            (path, Some(value)) => write!(f, "{path} = {value}: ")?,
            (path, None) => write!(f, "{path}: ")?,
        }
        f.write_str(&self.rule)
    }
}

/// Everything wrong with a settings file (or text), every problem at once.
///
/// Its `Display` shows one problem a line, in the order they were found.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsError {
    problems: Vec<Problem>,
}

impl SettingsError {
    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        SettingsError { problems }
    }

    pub(crate) fn in_file(mut self, file: &str) -> Self {
        for p in &mut self.problems {
            p.file = Some(file.to_owned());
        }
        self
    }

    /// The problems, in the order they were found (never empty).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SettingsError {}

/// Collects the problems found while reading.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    problems: Vec<Problem>,
}

impl Reader {
    pub(crate) fn report(&mut self, path: &str, value: Option<&Node>, rule: impl Into<String>) {
        self.problems.push(Problem::new(path, value, rule));
    }

    /// Reads `node` as a table at `path`: `None` (and a problem) if it is something else.
    pub(crate) fn table<'n>(&mut self, node: &'n Node, path: &str) -> Option<Table<'n>> {
        match node {
            Node::Map(entries) => {
                // A key given again is reported here, and counts as read.
                let mut used = vec![false; entries.len()];
                for (i, (key, value)) in entries.iter().enumerate() {
                    if entries[..i].iter().any(|(k, _)| k == key) {
                        self.report(&join(path, key), Some(value), "given twice");
                        used[i] = true;
                    }
                }
                Some(Table {
                    path: path.to_owned(),
                    entries,
                    used,
                    known: Vec::new(),
                })
            }
            other => {
                self.report(path, Some(other), "must be a table");
                None
            }
        }
    }

    /// The problems found, or `Ok(value)` if there were none.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, SettingsError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(SettingsError::new(self.problems))
        }
    }

    pub(crate) fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// `path.key`, or `key` at the top.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A table being read: its path, and which of its keys were asked for (the rest are unknown).
#[derive(Debug)]
pub(crate) struct Table<'n> {
    path: String,
    entries: &'n [(String, Node)],
    used: Vec<bool>,
    known: Vec<&'static str>,
}

impl<'n> Table<'n> {
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The value of `key` and its path, if the table has it; `key` counts as known.
    pub(crate) fn get(&mut self, key: &'static str) -> Option<(&'n Node, String)> {
        self.known.push(key);
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        self.used[i] = true;
        Some((&self.entries[i].1, join(&self.path, key)))
    }

    /// Whether the table has `key`, without reading it.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// The keys of the table, in order, with their values (all count as read).
    pub(crate) fn entries(&mut self) -> &'n [(String, Node)] {
        self.used.iter_mut().for_each(|u| *u = true);
        self.entries
    }

    /// Reads `key` with `read`, which reports its own problems.
    pub(crate) fn read<T>(
        &mut self,
        r: &mut Reader,
        key: &'static str,
        read: impl FnOnce(&mut Reader, &'n Node, &str) -> Option<T>,
    ) -> Option<T> {
        let (node, path) = self.get(key)?;
        read(r, node, &path)
    }

    pub(crate) fn duration(&mut self, r: &mut Reader, key: &'static str) -> Option<Duration> {
        self.read(r, key, duration)
    }

    pub(crate) fn u32(&mut self, r: &mut Reader, key: &'static str) -> Option<u32> {
        self.read(r, key, integer)
    }

    pub(crate) fn u64(&mut self, r: &mut Reader, key: &'static str) -> Option<u64> {
        self.read(r, key, integer)
    }

    pub(crate) fn f64(&mut self, r: &mut Reader, key: &'static str) -> Option<f64> {
        self.read(r, key, number)
    }

    pub(crate) fn bool(&mut self, r: &mut Reader, key: &'static str) -> Option<bool> {
        self.read(r, key, |r, node, path| match node {
            Node::Bool(b) => Some(*b),
            other => {
                r.report(path, Some(other), "must be true or false");
                None
            }
        })
    }

    pub(crate) fn string(&mut self, r: &mut Reader, key: &'static str) -> Option<String> {
        self.read(r, key, |r, node, path| {
            text(r, node, path).map(str::to_owned)
        })
    }

    /// Reports every key nobody asked for, with the nearest known key when one is close.
    pub(crate) fn finish(self, r: &mut Reader) {
        for ((key, value), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let rule = match did_you_mean(key, &self.known) {
                Some(near) => format!("unknown setting (did you mean `{near}`?)"),
                None if self.known.is_empty() => "unknown setting".to_owned(),
                None => format!("unknown setting (known here: {})", self.known.join(", ")),
            };
            r.report(&join(&self.path, key), Some(value), rule);
        }
    }
}

pub(crate) fn text<'n>(r: &mut Reader, node: &'n Node, path: &str) -> Option<&'n str> {
    match node {
        Node::String(s) => Some(s),
        other => {
            r.report(path, Some(other), "must be text");
            None
        }
    }
}

pub(crate) fn duration(r: &mut Reader, node: &Node, path: &str) -> Option<Duration> {
    match node {
        Node::String(s) => match parse_duration(s) {
            Ok(d) => Some(d),
            Err(rule) => {
                r.report(path, Some(node), rule);
                None
            }
        },
        Node::Integer(_) | Node::Float(_) => {
            r.report(path, Some(node), "not a duration (use a unit: \"2s\")");
            None
        }
        other => {
            r.report(
                path,
                Some(other),
                "must be a duration (\"250ms\", \"2s\", \"1m30s\")",
            );
            None
        }
    }
}

pub(crate) fn integer<T: TryFrom<i128> + Bounded>(
    r: &mut Reader,
    node: &Node,
    path: &str,
) -> Option<T> {
    match node {
        Node::Integer(n) => match T::try_from(*n) {
            Ok(v) => Some(v),
            Err(_) => {
                r.report(
                    path,
                    Some(node),
                    format!("must be a whole number from 0 to {}", T::MAX_TEXT),
                );
                None
            }
        },
        other => {
            r.report(path, Some(other), "must be a whole number");
            None
        }
    }
}

/// The largest value of an integer type, as error messages show it.
pub(crate) trait Bounded {
    const MAX_TEXT: &'static str;
}

impl Bounded for u32 {
    const MAX_TEXT: &'static str = "4294967295";
}

impl Bounded for u64 {
    const MAX_TEXT: &'static str = "18446744073709551615";
}

pub(crate) fn number(r: &mut Reader, node: &Node, path: &str) -> Option<f64> {
    match node {
        Node::Float(x) if x.is_finite() => Some(*x),
        Node::Integer(n) => Some(*n as f64),
        other => {
            r.report(path, Some(other), "must be a finite number");
            None
        }
    }
}

/// Reads one of `names` (each with its value) from text.
pub(crate) fn choice<T: Copy>(
    r: &mut Reader,
    node: &Node,
    path: &str,
    names: &[(&'static str, T)],
) -> Option<T> {
    let s = text(r, node, path)?;
    if let Some((_, v)) = names.iter().find(|(n, _)| *n == s) {
        return Some(*v);
    }
    let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    let rule = match did_you_mean(s, &known) {
        Some(near) => format!("unknown value (did you mean `{near}`?)"),
        None => format!("must be one of: {}", known.join(", ")),
    };
    r.report(path, Some(node), rule);
    None
}

/// The known name nearest to `key`, if it is near enough to be a slip: at most one edit for
/// names of up to four letters, two for longer ones, three past eight.
pub(crate) fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let limit = match key.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The Levenshtein distance between `a` and `b`, counting an adjacent swap as one edit
/// (`max_atempts`, `mxa_attempts`), over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back, one back, and the current one.
    let mut two_back = vec![0; b.len() + 1];
    let mut one_back: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (one_back[j] + 1)
                .min(current[j - 1] + 1)
                .min(one_back[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(two_back[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut two_back, &mut one_back);
        std::mem::swap(&mut one_back, &mut current);
    }
    one_back[b.len()]
}

/// `from_node`, `Serialize` and `Deserialize` for a settings type with `read` and `to_node`:
/// it serializes as the table it reads from, and deserializing reports every problem.
macro_rules! settings_serde {
    ($t:ty) => {
        impl $t {
            /// Reads the settings from a tree, reporting every problem (paths are relative
            /// to the tree).
            pub fn from_node(
                node: &$crate::config::Node,
            ) -> Result<Self, $crate::config::SettingsError> {
                let mut r = $crate::config::read::Reader::default();
                let settings = <$t>::read(&mut r, node, "");
                r.finish(settings).map(|s| s.unwrap_or_default())
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.to_node().serialize(serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let node = $crate::config::Node::deserialize(deserializer)?;
                <$t>::from_node(&node).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use settings_serde;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("max_attempts", "max_attempts"), 0);
        assert_eq!(edit_distance("max_atempts", "max_attempts"), 1);
        assert_eq!(edit_distance("mxa_attempts", "max_attempts"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("µs", "us"), 1);
    }

    #[test]
    fn near_misses_only() {
        let known = ["max_attempts", "max_elapsed", "backoff", "name"];
        assert_eq!(did_you_mean("max_atempts", &known), Some("max_attempts"));
        assert_eq!(did_you_mean("backof", &known), Some("backoff"));
        assert_eq!(did_you_mean("nmae", &known), Some("name"));
        // Two slips in a name of five to eight letters, one in a shorter one.
        assert_eq!(did_you_mean("bakof", &known), Some("backoff"));
        assert_eq!(did_you_mean("nmea", &known), None);
        assert_eq!(did_you_mean("colour", &known), None);
        assert_eq!(did_you_mean("max", &known), None);
    }
}
