//! The format-neutral tree a settings file is read into, and the formats it is read from.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A value read from a settings file, whatever its format: the tree the settings are read
/// from, with tables in the order the file gives them.
///
/// Any serde format deserializes into a `Node`, and a `Node` serializes to any format that
/// can hold it (TOML has no `Null`).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An absent value (`null` in JSON, `~` in YAML).
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number (any `i64` or `u64`).
    Integer(i128),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// Text.
    String(String),
    /// A list (an array).
    List(Vec<Node>),
    /// A table (an object, a mapping), in the file's order. A key given twice appears twice.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A short name for the kind of value, as error messages use it ("a table", "text").
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Integer(_) => "a whole number",
            Node::Float(_) => "a number",
            Node::String(_) => "text",
            Node::List(_) => "a list",
            Node::Map(_) => "a table",
        }
    }

    /// Reads `text` in `format` into a tree.
    ///
    /// ```
    /// use steadfast::config::{Format, Node};
    ///
    /// let node = Node::parse(r#"{"max_attempts": 3}"#, Format::Json).unwrap();
    /// assert_eq!(node, Node::Map(vec![("max_attempts".into(), Node::Integer(3))]));
    /// ```
    pub fn parse(text: &str, format: Format) -> Result<Node, String> {
        match format {
            Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
            #[cfg(feature = "toml")]
            Format::Toml => toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned()),
            #[cfg(feature = "yaml")]
            Format::Yaml => serde_norway::from_str(text).map_err(|e| e.to_string()),
            #[allow(unreachable_patterns)]
            other => Err(other.missing_feature()),
        }
    }

    /// Writes the tree as text in `format`.
    pub fn write(&self, format: Format) -> Result<String, String> {
        match format {
            Format::Json => serde_json::to_string_pretty(self).map_err(|e| e.to_string()),
            #[cfg(feature = "toml")]
            Format::Toml => toml::to_string(self).map_err(|e| e.to_string()),
            #[cfg(feature = "yaml")]
            Format::Yaml => serde_norway::to_string(self).map_err(|e| e.to_string()),
            #[allow(unreachable_patterns)]
            other => Err(other.missing_feature()),
        }
    }

    /// The value at `path` (keys separated by dots) below this node, if there is one.
    pub fn at(&self, path: &str) -> Option<&Node> {
        path.split('.')
            .filter(|k| !k.is_empty())
            .try_fold(self, |node, key| match node {
                Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            })
    }
}

/// The value as an error message quotes it: text in quotes, tables and lists in braces and
/// brackets, long ones shortened.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Null => f.write_str("null"),
            Node::Bool(b) => write!(f, "{b}"),
            Node::Integer(n) => write!(f, "{n}"),
            Node::Float(x) => write!(f, "{x:?}"),
            Node::String(s) => write!(f, "{s:?}"),
            Node::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i == 3 {
                        f.write_str(", …")?;
                        break;
                    }
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Node::Map(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i == 3 {
                        f.write_str(", …")?;
                        break;
                    }
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key} = {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// The formats settings are read from and written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// TOML (needs the `toml` feature).
    Toml,
    /// YAML (needs the `yaml` feature).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// The format a file's extension names: `toml`, `yaml` or `yml`, `json`.
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    fn missing_feature(self) -> String {
        let (name, feature) = match self {
            Format::Toml => ("TOML", "toml"),
            Format::Yaml => ("YAML", "yaml"),
            Format::Json => ("JSON", "serde"),
        };
        format!("{name} is read only with steadfast's `{feature}` feature")
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a settings value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Integer(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Integer(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Integer(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let key = match key {
                Node::String(s) => s,
                Node::Integer(n) => n.to_string(),
                Node::Bool(b) => b.to_string(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "a key must be text (got {})",
                        other.kind()
                    )))
                }
            };
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Integer(n) => match (i64::try_from(*n), u64::try_from(*n)) {
                (Ok(n), _) => serializer.serialize_i64(n),
                (_, Ok(n)) => serializer.serialize_u64(n),
                _ => serializer.serialize_i128(*n),
            },
            Node::Float(x) => serializer.serialize_f64(*x),
            Node::String(s) => serializer.serialize_str(s),
            Node::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

/// Builds the table a setting writes itself as, leaving out what is not set.
#[derive(Debug, Default)]
pub(crate) struct Out(Vec<(String, Node)>);

impl Out {
    pub(crate) fn put(&mut self, key: &str, value: Option<Node>) -> &mut Self {
        if let Some(value) = value {
            self.0.push((key.to_owned(), value));
        }
        self
    }

    pub(crate) fn node(&mut self) -> Node {
        Node::Map(std::mem::take(&mut self.0))
    }
}

impl Node {
    pub(crate) fn duration(d: std::time::Duration) -> Node {
        Node::String(super::duration::format_duration(d))
    }

    pub(crate) fn text(s: &str) -> Node {
        Node::String(s.to_owned())
    }
}
