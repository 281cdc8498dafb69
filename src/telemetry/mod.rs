//! Logging set-up: `tracing` with an `EnvFilter`, human-readable or JSON lines on stderr;
//! Prometheus metrics ([`metrics`]); the limit of one line per interval for log lines a client
//! can cause ([`throttle`]).

pub mod memory;
pub mod metrics;
pub mod throttle;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// hickory-proto logs at `warn` what it notices in each message it parses (options of an OPT
/// record that do not add up, every SIG record): any client can send such a query as often as
/// it likes, so at the `info` most filters have these would fill the log, one line a query or
/// more. ranah answers such queries as it answers the others; only hickory-proto's errors are
/// logged unless the filter names `hickory_proto` itself.
const HICKORY_PROTO: &str = "hickory_proto=error";

/// The filter `log.filter` says, with hickory-proto quietened (see [`HICKORY_PROTO`]).
fn filter(log: &LogConfig) -> EnvFilter {
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    if log.filter.contains("hickory_proto") {
        return filter;
    }
    match HICKORY_PROTO.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Install the global subscriber. Called once by the binary; a second call is ignored.
pub fn init(log: &LogConfig) {
    let filter = filter(log);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
