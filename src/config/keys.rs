//! The key tree: every key of the configuration, the variable that sets it and the kind of value
//! it holds, read from the sections' own `Deserialize` implementations.
//!
//! Nothing here names a key. A probing deserializer asks [`Settings`] (serde's derive) which
//! fields each struct has (`deserialize_struct` is handed their names) and what each field
//! holds (the `deserialize_*` method its type calls), one field per pass, so a key added to a
//! section's struct is at once merged, settable by its variable, and listed in
//! `docs/configuration.md`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use super::Settings;
use super::secret::SECRET_NEWTYPE;

/// The variable that names the configuration file; it is not a key.
pub const FILE_VARIABLE: &str = "RANAH_CONFIG";

/// Keys whose variable is not the one the rule gives. `log.filter` keeps `RANAH_LOG`, the name it
/// has always had (like `RUST_LOG`); `RANAH_LOG_FILTER` is not a variable.
const VARIABLE_EXCEPTIONS: &[(&str, &str)] = &[("log.filter", "RANAH_LOG")];

/// What a key holds, as its type deserializes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `true` or `false`.
    Boolean,
    /// A whole number.
    Integer,
    /// A number.
    Float,
    /// A string (also paths, addresses, dates: they parse from strings).
    String,
    /// A string that is never printed.
    Secret,
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// A list of values.
    List(Box<Shape>),
    /// A table with free keys (`[calendar.hours]`).
    Map(Box<Shape>),
    /// A table with these keys: a section, or the entries of an array of tables.
    Table(Vec<(&'static str, Shape)>),
    /// Anything TOML can write (a type that deserializes by looking at the value).
    Any,
}

impl Shape {
    /// A single value: written in a variable as it is, not as a list or TOML.
    pub fn is_scalar(&self) -> bool {
        matches!(
            self,
            Self::Boolean
                | Self::Integer
                | Self::Float
                | Self::String
                | Self::Secret
                | Self::Choice(_)
        )
    }

    /// Whether a value of this shape is or contains a secret (then it is never echoed).
    pub fn holds_secret(&self) -> bool {
        match self {
            Self::Secret => true,
            Self::List(inner) | Self::Map(inner) => inner.holds_secret(),
            Self::Table(fields) => fields.iter().any(|(_, shape)| shape.holds_secret()),
            _ => false,
        }
    }

    fn plural(&self) -> String {
        match self {
            Self::Boolean => "booleans".into(),
            Self::Integer => "integers".into(),
            Self::Float => "numbers".into(),
            Self::String => "strings".into(),
            Self::Secret => "secret strings".into(),
            Self::Choice(variants) => format!("values ({})", Self::alternatives(variants)),
            Self::List(inner) => format!("lists of {}", inner.plural()),
            Self::Map(inner) => format!("tables of {}", inner.plural()),
            Self::Table(fields) => format!("tables ({})", Self::field_names(fields)),
            Self::Any => "TOML values".into(),
        }
    }

    fn alternatives(variants: &[&str]) -> String {
        let quoted: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
        quoted.join(", ")
    }

    fn field_names(fields: &[(&str, Shape)]) -> String {
        let names: Vec<String> = fields.iter().map(|(name, _)| format!("`{name}`")).collect();
        names.join(", ")
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Boolean => f.write_str("boolean"),
            Self::Integer => f.write_str("integer"),
            Self::Float => f.write_str("number"),
            Self::String => f.write_str("string"),
            Self::Secret => f.write_str("secret string"),
            Self::Choice(variants) => write!(f, "one of {}", Self::alternatives(variants)),
            Self::List(inner) => match **inner {
                Self::Table(ref fields) => {
                    write!(f, "array of tables ({})", Self::field_names(fields))
                }
                ref inner => write!(f, "list of {}", inner.plural()),
            },
            Self::Map(inner) => write!(f, "table of {}", inner.plural()),
            Self::Table(fields) => write!(f, "table ({})", Self::field_names(fields)),
            Self::Any => f.write_str("TOML value"),
        }
    }
}

/// One key: its dotted path as in the file, its variable, what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// `data_dir`, `dns.listen`, …
    pub path: String,
    /// `RANAH_DATA_DIR`, `RANAH_DNS_LISTEN`, …
    pub variable: String,
    /// What it holds.
    pub shape: Shape,
}

/// Every key and section, in the order of the structs' fields.
struct Tree {
    keys: Vec<Key>,
    sections: Vec<String>,
}

static TREE: LazyLock<Tree> = LazyLock::new(|| {
    let mut tree = Tree {
        keys: Vec::new(),
        sections: Vec::new(),
    };
    let Shape::Table(fields) = shape_of::<Settings>() else {
        unreachable!("Settings is a struct")
    };
    walk(&mut tree, "", fields);
    tree
});

fn walk(tree: &mut Tree, prefix: &str, fields: Vec<(&'static str, Shape)>) {
    for (name, shape) in fields {
        let path = join(prefix, name);
        match shape {
            Shape::Table(fields) => {
                tree.sections.push(path.clone());
                walk(tree, &path, fields);
            }
            shape => tree.keys.push(Key {
                variable: variable_for(&path),
                path,
                shape,
            }),
        }
    }
}

/// The rule: `RANAH_` and the key's path with dots as underscores, upper-cased
/// (`dns.store_poll_secs` → `RANAH_DNS_STORE_POLL_SECS`), but for [`VARIABLE_EXCEPTIONS`].
fn variable_for(path: &str) -> String {
    VARIABLE_EXCEPTIONS
        .iter()
        .find(|(key, _)| *key == path)
        .map_or_else(
            || format!("RANAH_{}", path.replace('.', "_").to_ascii_uppercase()),
            |(_, variable)| (*variable).to_owned(),
        )
}

/// Every key, sections' keys under their section.
pub fn keys() -> &'static [Key] {
    &TREE.keys
}

/// The key at `path` (`dns.listen`), if there is one.
pub fn key(path: &str) -> Option<&'static Key> {
    TREE.keys.iter().find(|k| k.path == path)
}

/// The key that the variable `name` sets, if any.
pub fn key_of_variable(name: &str) -> Option<&'static Key> {
    TREE.keys.iter().find(|k| k.variable == name)
}

/// Whether `path` is a section (a table of keys, like `dns`), not a key.
pub(super) fn is_section(path: &str) -> bool {
    TREE.sections.iter().any(|s| s == path)
}

/// The keys as a Markdown table (key, variable, value, default) for `docs/configuration.md`.
pub fn reference_table() -> String {
    let defaults = toml::Value::try_from(Settings::default()).unwrap_or_else(|e| {
        unreachable!("the default settings are TOML: {e}");
    });
    let cell = |text: &str| text.replace('|', "\\|");
    let mut out = String::from("| key | variable | value | default |\n|---|---|---|---|\n");
    for key in keys() {
        let default = key
            .path
            .split('.')
            .try_fold(&defaults, |value, name| value.get(name))
            .map_or_else(
                || "(unset)".to_owned(),
                |v| format!("`{}`", cell(&v.to_string())),
            );
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            key.path,
            key.variable,
            cell(&key.shape.to_string()),
            default
        ));
    }
    out
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// What the probe has learnt about one path. Lists and maps are known by their element, at
/// `path[]` and `path{}`.
#[derive(Clone, Debug)]
enum Found {
    Leaf(Shape),
    List,
    Map,
    Table(&'static [&'static str]),
}

type Findings = RefCell<BTreeMap<String, Found>>;

/// The shape of `T`, learnt by deserializing it over and over from a [`Probe`], each pass
/// descending to the first thing not yet known, recording it and stopping there.
fn shape_of<'de, T: Deserialize<'de>>() -> Shape {
    let found = Findings::default();
    while !complete(&found.borrow(), "") {
        let before = found.borrow().len();
        // Every pass ends in `Stop` (or a derived visitor's own error): the finding is the point.
        let _ = T::deserialize(Probe {
            found: &found,
            path: String::new(),
        });
        assert!(
            found.borrow().len() > before,
            "the key tree of {} cannot be read",
            std::any::type_name::<T>()
        );
    }
    build(&found.borrow(), "")
}

fn complete(found: &BTreeMap<String, Found>, path: &str) -> bool {
    match found.get(path) {
        None => false,
        Some(Found::Leaf(_)) => true,
        Some(Found::List) => complete(found, &format!("{path}[]")),
        Some(Found::Map) => complete(found, &format!("{path}{{}}")),
        Some(Found::Table(fields)) => fields.iter().all(|f| complete(found, &join(path, f))),
    }
}

fn build(found: &BTreeMap<String, Found>, path: &str) -> Shape {
    match &found[path] {
        Found::Leaf(shape) => shape.clone(),
        Found::List => Shape::List(Box::new(build(found, &format!("{path}[]")))),
        Found::Map => Shape::Map(Box::new(build(found, &format!("{path}{{}}")))),
        Found::Table(fields) => Shape::Table(
            fields
                .iter()
                .map(|f| (*f, build(found, &join(path, f))))
                .collect(),
        ),
    }
}

/// The probe's only error: it has recorded something and stops the pass.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe stopped")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

/// A deserializer that records what is asked of it at `path`.
struct Probe<'a> {
    found: &'a Findings,
    path: String,
}

impl<'a> Probe<'a> {
    fn record<T>(&self, finding: Found) -> Result<T, Stop> {
        self.found.borrow_mut().insert(self.path.clone(), finding);
        Err(Stop)
    }

    fn known(&self) -> bool {
        self.found.borrow().contains_key(&self.path)
    }

    fn at(&self, path: String) -> Probe<'a> {
        Probe {
            found: self.found,
            path,
        }
    }
}

macro_rules! leaf {
    ($($method:ident => $shape:expr),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            self.record(Found::Leaf($shape))
        })*
    };
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    leaf! {
        deserialize_bool => Shape::Boolean,
        deserialize_i8 => Shape::Integer,
        deserialize_i16 => Shape::Integer,
        deserialize_i32 => Shape::Integer,
        deserialize_i64 => Shape::Integer,
        deserialize_i128 => Shape::Integer,
        deserialize_u8 => Shape::Integer,
        deserialize_u16 => Shape::Integer,
        deserialize_u32 => Shape::Integer,
        deserialize_u64 => Shape::Integer,
        deserialize_u128 => Shape::Integer,
        deserialize_f32 => Shape::Float,
        deserialize_f64 => Shape::Float,
        deserialize_char => Shape::String,
        deserialize_str => Shape::String,
        deserialize_string => Shape::String,
        deserialize_bytes => Shape::String,
        deserialize_byte_buf => Shape::String,
        deserialize_identifier => Shape::String,
        deserialize_any => Shape::Any,
        deserialize_ignored_any => Shape::Any,
        deserialize_unit => Shape::Any,
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Stop> {
        self.record(Found::Leaf(Shape::Any))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Stop> {
        self.record(Found::Leaf(Shape::Any))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Stop> {
        self.record(Found::Leaf(Shape::Any))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        // Optional or not, the key holds the same kind of value.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        if name == SECRET_NEWTYPE {
            return self.record(Found::Leaf(Shape::Secret));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.record(Found::Leaf(Shape::Choice(variants)))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        if !self.known() {
            return self.record(Found::List);
        }
        let element = self.at(format!("{}[]", self.path));
        visitor.visit_seq(One {
            key: None,
            value: Some(element),
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        if !self.known() {
            return self.record(Found::Map);
        }
        let value = self.at(format!("{}{{}}", self.path));
        visitor.visit_map(One {
            key: Some("key"),
            value: Some(value),
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        if !self.known() {
            return self.record(Found::Table(fields));
        }
        let next = fields
            .iter()
            .map(|f| join(&self.path, f))
            .zip(fields)
            .find(|(path, _)| !complete(&self.found.borrow(), path));
        let Some((path, field)) = next else {
            return Err(Stop);
        };
        let value = self.at(path);
        visitor.visit_map(One {
            key: Some(field),
            value: Some(value),
        })
    }
}

/// A map of one entry or a sequence of one element, whose value is a probe.
struct One<'a> {
    key: Option<&'static str>,
    value: Option<Probe<'a>>,
}

impl<'de> MapAccess<'de> for One<'_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        match self.value.take() {
            Some(probe) => seed.deserialize(probe),
            None => Err(Stop),
        }
    }
}

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        match self.value.take() {
            Some(probe) => seed.deserialize(probe).map(Some),
            None => Ok(None),
        }
    }
}
