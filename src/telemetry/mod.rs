//! Logging set-up: `tracing` with an `EnvFilter`, human-readable or JSON lines on stderr;
//! Prometheus metrics ([`metrics`]); the limit of one line per interval for log lines a client
//! can cause ([`throttle`]).

pub mod metrics;
pub mod throttle;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Install the global subscriber. Called once by the binary; a second call is ignored.
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
