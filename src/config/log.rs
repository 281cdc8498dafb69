//! `[log]`: the log's filter and format.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Default log filter: hickory-server logs every query at `info`, which costs time on the hot
/// path and floods the log, so its level starts at `warn`.
pub const DEFAULT_LOG_FILTER: &str = "info,hickory_server=warn";

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `text` or `json`, found `{other}`")),
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter directive, e.g. `info,ranah=debug`. Unless it names `hickory_proto`,
    /// that crate logs only errors: its warnings are about oddities of the messages clients
    /// send, one line a query.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
    /// Seconds between two log lines of one kind of refusal or failure a client can cause
    /// (refused transfers, TSIG failures, HTTP errors, refused connections): the first is
    /// logged in full, the rest of the interval only counted (`ranah_log_lines_suppressed`)
    /// and summed up in one line.
    pub repeat_interval_secs: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: DEFAULT_LOG_FILTER.into(),
            format: LogFormat::Text,
            repeat_interval_secs: 60,
        }
    }
}

impl LogConfig {
    /// Check that the filter parses, so that a typo fails at start instead of logging nothing.
    pub(super) fn resolve(self) -> Result<Self, ConfigError> {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.filter) {
            return Err(ConfigError::Invalid {
                key: "log.filter".into(),
                message: e.to_string(),
            });
        }
        super::at_least_one("log.repeat_interval_secs", self.repeat_interval_secs)?;
        Ok(self)
    }
}
