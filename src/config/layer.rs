//! One layer of configuration (the file, the `RANAH_*` variables or the flags): the keys it sets,
//! each with its value as TOML and where it came from. Layers merge key by key; the merged
//! layer is deserialized once into [`Settings`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::keys::{self, FILE_VARIABLE, Shape};
use super::{Config, ConfigError, Settings};

/// One layer of configuration: the keys it sets. The file, the environment and the flags each
/// give one; [`ConfigLayer::merge`] lets a later layer override an earlier one, key by key.
#[derive(Clone, Default)]
pub struct ConfigLayer {
    /// Each key set, by its dotted path. A key's value is replaced whole by a later layer, lists
    /// and tables included: only sections merge, and they merge through their keys.
    pub(super) entries: BTreeMap<String, Entry>,
    /// Flags whose value cannot be a configuration value (a path that is not UTF-8), with why:
    /// reported when the layer is deserialized, as any other bad value.
    unusable: Vec<(&'static str, String)>,
}

/// A key's value and where it came from.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) value: toml::Value,
    pub(super) origin: Origin,
}

/// Where a value came from, to name it in errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// The configuration file.
    File(PathBuf),
    /// A `RANAH_*` variable.
    Variable(String),
    /// A command-line flag.
    Flag(&'static str),
}

impl Origin {
    fn variable(&self) -> Option<&str> {
        match self {
            Self::Variable(name) => Some(name),
            _ => None,
        }
    }
}

// Never the values: they may be secrets.
impl fmt::Debug for ConfigLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(key, entry)| (key, &entry.origin)))
            .finish()
    }
}

impl ConfigLayer {
    /// Parse a TOML document; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        };
        // Typed first: its errors name the key and the line (unknown keys, wrong types).
        toml::from_str::<Settings>(text).map_err(parse_error)?;
        let table: toml::Table = toml::from_str(text).map_err(parse_error)?;
        let mut layer = Self::default();
        layer.insert_table("", table, &Origin::File(path.to_owned()));
        Ok(layer)
    }

    /// Read and parse a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    fn insert_table(&mut self, prefix: &str, table: toml::Table, origin: &Origin) {
        for (name, value) in table {
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}.{name}")
            };
            match value {
                toml::Value::Table(table) if keys::is_section(&path) => {
                    self.insert_table(&path, table, origin);
                }
                value => {
                    let origin = origin.clone();
                    self.entries.insert(path, Entry { value, origin });
                }
            }
        }
    }

    /// The layer set by `RANAH_*` variables. `vars` is the environment (injected for tests).
    /// Returns the layer and the names of unknown `RANAH_*` variables (some may be secrets
    /// named by `*_env` keys: see [`ConfigLayer::secret_variables`]).
    ///
    /// Each key's variable is derived from its path (see the module's documentation), and its
    /// value is read as the key's type: a bad value is an error naming the variable.
    pub fn from_env<I>(vars: I) -> Result<(Self, Vec<String>), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut layer = Self::default();
        let mut unknown = Vec::new();
        for (name, text) in vars {
            if !name.starts_with("RANAH_") || name == FILE_VARIABLE {
                continue;
            }
            let Some(key) = keys::key_of_variable(&name) else {
                unknown.push(name);
                continue;
            };
            let value = value_of_variable(&key.shape, &text).map_err(|message| {
                // A parser's message may quote the text: not when it holds a secret.
                let message = if key.shape.holds_secret() {
                    format!(
                        "cannot be read as {} (details not shown: it holds a secret)",
                        key.shape
                    )
                } else {
                    message
                };
                ConfigError::Invalid {
                    key: name.clone(),
                    message: format!("{message} (it sets {})", key.path),
                }
            })?;
            let origin = Origin::Variable(name);
            layer
                .entries
                .insert(key.path.clone(), Entry { value, origin });
        }
        let named = layer.secret_variables().into_iter().collect();
        layer.forget_variables(&named);
        // Deserialize now, so that a value of the wrong type is reported by its variable.
        layer.settings()?;
        Ok((layer, unknown))
    }

    /// The layer with `key` (a dotted path, e.g. `dns.listen`) set to `value` by the
    /// command-line flag `flag`; unchanged when `value` is `None`.
    ///
    /// # Panics
    ///
    /// When `key` is not a key: a mistake in the program, not in its input.
    pub fn flag<T: Serialize>(mut self, flag: &'static str, key: &str, value: Option<T>) -> Self {
        let Some(value) = value else {
            return self;
        };
        assert!(
            keys::key(key).is_some(),
            "{flag} sets `{key}`, which is not a configuration key"
        );
        match toml::Value::try_from(value) {
            Ok(value) => {
                let origin = Origin::Flag(flag);
                self.entries.insert(key.to_owned(), Entry { value, origin });
            }
            Err(e) => self.unusable.push((flag, e.to_string())),
        }
        self
    }

    /// Override the values of `self` with those set in `later`.
    ///
    /// Two rules beyond "later wins": a variable named by a `*_env` key is that secret's source
    /// and sets no key of its own (`password_env = "RANAH_SMTP_PASSWORD"` must not also read
    /// as `smtp.password`), and a secret and its `*_env` are one setting, so a later layer that
    /// gives either replaces both.
    pub fn merge(mut self, mut later: ConfigLayer) -> Self {
        let named: BTreeSet<String> = self
            .secret_variables()
            .into_iter()
            .chain(later.secret_variables())
            .collect();
        self.forget_variables(&named);
        later.forget_variables(&named);
        for (path, entry) in later.entries {
            if let Some(pair) = paired(&path) {
                self.entries.remove(&pair);
            }
            self.entries.insert(path, entry);
        }
        self.unusable.extend(later.unusable);
        self
    }

    fn forget_variables(&mut self, named: &BTreeSet<String>) {
        self.entries
            .retain(|_, entry| !entry.origin.variable().is_some_and(|v| named.contains(v)));
    }

    /// The variables that `*_env` keys name (secrets kept out of the file): they are not
    /// unknown `RANAH_*` variables, whatever their names.
    pub fn secret_variables(&self) -> Vec<String> {
        fn collect(name: &str, value: &toml::Value, names: &mut Vec<String>) {
            match value {
                toml::Value::String(variable) if name.ends_with("_env") => {
                    names.push(variable.clone());
                }
                toml::Value::Array(items) => items.iter().for_each(|v| collect("", v, names)),
                toml::Value::Table(table) => table.iter().for_each(|(k, v)| collect(k, v, names)),
                _ => {}
            }
        }
        let mut names = Vec::new();
        for (path, entry) in &self.entries {
            let name = path.rsplit('.').next().unwrap_or(path);
            collect(name, &entry.value, &mut names);
        }
        names
    }

    /// The keys as one TOML table, sections as tables.
    fn tree(&self) -> toml::Table {
        let mut tree = toml::Table::new();
        for (path, entry) in &self.entries {
            let mut names: Vec<&str> = path.split('.').collect();
            let last = names.pop().unwrap_or_default();
            let mut table = &mut tree;
            for name in names {
                let slot = table
                    .entry(name)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(inner) = slot else {
                    unreachable!("a section is only ever a table");
                };
                table = inner;
            }
            table.insert(last.to_owned(), entry.value.clone());
        }
        tree
    }

    /// The settings this layer gives, every key it does not set at its default: one
    /// deserialization of the whole tree. An error names the variable or flag that set the
    /// offending value.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        if let Some((flag, message)) = self.unusable.first() {
            return Err(ConfigError::Invalid {
                key: (*flag).to_owned(),
                message: message.clone(),
            });
        }
        serde_path_to_error::deserialize(toml::Value::Table(self.tree())).map_err(|e| {
            let at = e.path().to_string();
            // The message alone: the path says where, better than toml's own `in …` line.
            let message = e.inner().message().trim_end().to_owned();
            let entry = self.entries.iter().find(|(path, _)| {
                at.strip_prefix(path.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            });
            match entry {
                Some((path, entry)) => {
                    // The value helps find the mistake, unless it is a secret.
                    let shown = match keys::key(path) {
                        Some(key) if !key.shape.holds_secret() => {
                            format!(" (the value is {})", entry.value)
                        }
                        _ => String::new(),
                    };
                    match &entry.origin {
                        Origin::File(file) => ConfigError::Parse {
                            path: file.clone(),
                            message: format!("{at}: {message}"),
                        },
                        Origin::Variable(name) => ConfigError::Invalid {
                            key: name.clone(),
                            message: format!("{at}: {message}{shown}"),
                        },
                        Origin::Flag(flag) => ConfigError::Invalid {
                            key: (*flag).to_owned(),
                            message: format!("{at}: {message}{shown}"),
                        },
                    }
                }
                None => ConfigError::Invalid { key: at, message },
            }
        })
    }

    /// Apply defaults and validate. `*_env` keys are read from the process's environment.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        self.settings()?
            .resolve(|name| std::env::var(name).ok())
            .map_err(|e| self.name_the_source(e))
    }

    /// A value that fails validation and came from a variable or a flag: say which.
    fn name_the_source(&self, error: ConfigError) -> ConfigError {
        let ConfigError::Invalid { key, message } = error else {
            return error;
        };
        let source = self
            .entries
            .get(&key)
            .and_then(|entry| match &entry.origin {
                Origin::Variable(name) => Some(name.clone()),
                Origin::Flag(flag) => Some((*flag).to_owned()),
                Origin::File(_) => None,
            });
        match source {
            Some(source) => ConfigError::Invalid {
                key: format!("{key} (set by {source})"),
                message,
            },
            None => ConfigError::Invalid { key, message },
        }
    }
}

/// The other half of a secret and its `*_env` key (`smtp.password` ↔ `smtp.password_env`).
fn paired(path: &str) -> Option<String> {
    let pair = match path.strip_suffix("_env") {
        Some(secret) => secret.to_owned(),
        None => format!("{path}_env"),
    };
    keys::key(&pair).map(|_| pair)
}

/// A variable's text as the value of a key of `shape`. Scalars are written as they are (numbers
/// and `true`/`false` checked here, the rest by the key's type); a list is comma-separated, or a
/// TOML array `[…]` when an item has a comma; tables and arrays of tables are TOML.
fn value_of_variable(shape: &Shape, text: &str) -> Result<toml::Value, String> {
    match shape {
        Shape::Boolean => match text.trim() {
            "true" => Ok(toml::Value::Boolean(true)),
            "false" => Ok(toml::Value::Boolean(false)),
            other => Err(format!("`{other}` is not `true` or `false`")),
        },
        Shape::Integer => text
            .trim()
            .parse()
            .map(toml::Value::Integer)
            .map_err(|e| format!("`{}` is not a whole number: {e}", text.trim())),
        Shape::Float => text
            .trim()
            .parse()
            .map(toml::Value::Float)
            .map_err(|e| format!("`{}` is not a number: {e}", text.trim())),
        Shape::String | Shape::Secret | Shape::Choice(_) => Ok(toml::Value::String(text.into())),
        Shape::List(item) if item.is_scalar() => {
            let trimmed = text.trim();
            // `[::1]:53` starts with a bracket too, but does not end with one.
            if trimmed.starts_with('[') && trimmed.ends_with(']') {
                return toml_value(trimmed);
            }
            trimmed
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| value_of_variable(item, s))
                .collect::<Result<_, _>>()
                .map(toml::Value::Array)
        }
        Shape::List(_) | Shape::Map(_) | Shape::Table(_) | Shape::Any => toml_value(text),
    }
}

fn toml_value(text: &str) -> Result<toml::Value, String> {
    text.trim().parse().map_err(|e: toml::de::Error| {
        format!(
            "not a TOML value (write a list as [\"a\", \"b\"], a table as {{ key = \"value\" }}): {}",
            e.to_string().trim_end()
        )
    })
}
