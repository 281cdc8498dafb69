//! Configuration: defaults → TOML file → `RANAH_*` variables → command-line flags, resolved once
//! into an immutable, validated [`Config`].
//!
//! # Sections, written once
//!
//! Each section is one struct in its own module (`[dns]` is [`DnsConfig`] in `dns.rs`, `[smtp]`
//! is [`SmtpSettings`] in `smtp.rs`, …) that deserializes with its defaults and refuses unknown
//! keys; [`Settings`] gathers them with the top-level keys. A key is written there and nowhere
//! else: the layers, the variables and the reference in `docs/configuration.md` all come from
//! the key tree (`keys.rs`), which is read from those structs.
//!
//! # Layering
//!
//! The file, the environment and the flags each give a [`ConfigLayer`]: the keys it sets, each
//! with its value as TOML and its origin. [`ConfigLayer::merge`] overrides key by key (a list or
//! table value is replaced whole; a section merges through its keys), and the merged layer is
//! deserialized once into [`Settings`] (every key it does not set takes its default), then
//! validated once into [`Config`] by [`Settings::resolve`]. Errors name the key, and the
//! variable or flag when the value came from one.
//!
//! # Variables
//!
//! - A key in a section is `RANAH_<SECTION>_<KEY>` and a top-level key is `RANAH_<KEY>`,
//!   upper-cased: `dns.store_poll_secs` is `RANAH_DNS_STORE_POLL_SECS`, `data_dir` is
//!   `RANAH_DATA_DIR`. One exception: `log.filter` is `RANAH_LOG`.
//! - `RANAH_CONFIG` names the configuration file; it is not a key.
//! - A value is read as the key's type: numbers, `true`/`false`, strings as they are; a list is
//!   comma-separated (`RANAH_DNS_LISTEN=127.0.0.1:53,[::1]:53`), or a TOML array when an item
//!   has a comma; a table (`calendar.hours`) or an array of tables (`tsig_keys`, `secondaries`)
//!   is written in TOML. A bad value is an error naming the variable.
//! - A variable named by a `*_env` key (`secret_env = "RANAH_TSIG_XFR_KEY"`) holds that secret:
//!   it sets no key itself and is not unknown. Any other unknown `RANAH_*` variable is reported
//!   as a warning, because a misspelt variable otherwise fails silently.
//!
//! Unknown keys in the file are an error that names the key and the line.

mod acme;
mod api;
mod attachments;
mod audit;
mod calendar;
mod checker;
mod cloudflare;
mod complaints;
mod confirmation;
mod console;
mod dns;
mod dnssec;
mod expiry;
mod keys;
mod layer;
mod letter;
mod log;
mod metrics;
mod names;
mod rrl;
mod secondaries;
mod secret;
mod signing;
mod smtp;
mod tls;
mod update;
mod webhook;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use acme::{AcmeConfig, AcmeSettings};
pub use api::{ApiConfig, ProxyHeader};
pub use attachments::AttachmentSettings;
pub use audit::AuditSettings;
pub use calendar::CalendarSettings;
pub use checker::{CheckerPorts, CheckerSettings};
pub use cloudflare::{CloudflareApiSettings, CloudflareWrites};
pub use complaints::ComplaintSettings;
pub use confirmation::ConfirmationSettings;
pub use console::{ConsoleConfig, ConsoleSettings, OidcConfig, OidcSettings, Origin};
pub use dns::{DEFAULT_ANSWER_CACHE_BYTES, DnsConfig};
pub use dnssec::{DnssecConfig, DnssecSettings, DnssecZoneSettings, ZonePolicy};
pub use expiry::ExpirySettings;
pub use keys::{FILE_VARIABLE, Key, Shape, key, key_of_variable, keys, reference_table};
pub use layer::ConfigLayer;
pub use letter::LetterConfig;
pub use log::{DEFAULT_LOG_FILTER, LogConfig, LogFormat};
pub use metrics::{MetricsConfig, MetricsSettings};
pub use names::NamesSettings;
pub use rrl::RrlConfig;
pub use secondaries::{SecondaryConfig, SecondarySettings, TsigKeyConfig, TsigKeySettings};
pub use secret::Secret;
pub use signing::SigningSettings;
pub use smtp::{SmtpConfig, SmtpSettings, SmtpTls};
pub use tls::{ApiTlsConfig, TlsSource};
pub use update::{DynamicUpdateSettings, UpdateGrantSettings};
pub use webhook::{WebhookConfig, WebhookSettings};

use acme::resolve_acme;
use audit::resolve_audit;
use calendar::resolve_calendar;
use dnssec::resolve_dnssec;
use secondaries::resolve_transfers;
use smtp::resolve_smtp;
use webhook::resolve_webhook;

/// Errors found while loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has unknown keys.
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// A value (from any layer) is not acceptable.
    #[error("invalid value for {key}: {message}")]
    Invalid {
        /// The key, as written in the file or as the variable's name.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The configuration as written, every key at its default unless a layer set it: the shape of
/// the file, and of the key tree. [`Settings::resolve`] checks it into a [`Config`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Directory for the SQLite database and other state.
    pub data_dir: PathBuf,
    /// Database URL; by default SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// Directory of `*.zone` master files imported on first start.
    pub zones_dir: PathBuf,
    /// Workflow preset name or file (used by the workflow; kept here so every command agrees).
    pub workflow: String,
    /// DNS server settings.
    pub dns: DnsConfig,
    /// HTTP API settings.
    pub api: ApiConfig,
    /// The web console and signing in.
    pub console: ConsoleSettings,
    /// Logging settings.
    pub log: LogConfig,
    /// The office calendar for time standards.
    pub calendar: CalendarSettings,
    /// The name and record policy.
    pub names: NamesSettings,
    /// Outgoing mail.
    pub smtp: SmtpSettings,
    /// The audit trail's signed checkpoints.
    pub audit: AuditSettings,
    /// A webhook called on every request transition.
    pub webhook: WebhookSettings,
    /// The response letter.
    pub letter: LetterConfig,
    /// TSIG keys (`[[tsig_keys]]`).
    pub tsig_keys: Vec<TsigKeySettings>,
    /// Secondaries per zone (`[[secondaries]]`).
    pub secondaries: Vec<SecondarySettings>,
    /// Certificates through ACME.
    pub acme: AcmeSettings,
    /// The files a request takes.
    pub attachments: AttachmentSettings,
    /// Access to `/metrics`.
    pub metrics: MetricsSettings,
    /// DNSSEC signing.
    pub dnssec: DnssecSettings,
    /// RFC 2136 dynamic update.
    pub dynamic_update: DynamicUpdateSettings,
    /// What a write through the Cloudflare-compatible API does.
    pub cloudflare_api: CloudflareApiSettings,
    /// The oversight checker.
    pub checker: CheckerSettings,
    /// Names given for a time.
    pub expiry: ExpirySettings,
    /// The yearly confirmation of each name.
    pub confirmation: ConfirmationSettings,
    /// Complaints.
    pub complaints: ComplaintSettings,
    /// The certificate and key that sign the documents ranah makes.
    pub signing: SigningSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            zones_dir: PathBuf::from("./zones"),
            workflow: "kaltara".into(),
            dns: DnsConfig::default(),
            api: ApiConfig::default(),
            console: ConsoleSettings::default(),
            log: LogConfig::default(),
            calendar: CalendarSettings::default(),
            names: NamesSettings::default(),
            smtp: SmtpSettings::default(),
            audit: AuditSettings::default(),
            webhook: WebhookSettings::default(),
            letter: LetterConfig::default(),
            tsig_keys: Vec::new(),
            secondaries: Vec::new(),
            acme: AcmeSettings::default(),
            attachments: AttachmentSettings::default(),
            metrics: MetricsSettings::default(),
            dnssec: DnssecSettings::default(),
            dynamic_update: DynamicUpdateSettings::default(),
            cloudflare_api: CloudflareApiSettings::default(),
            checker: CheckerSettings::default(),
            expiry: ExpirySettings::default(),
            confirmation: ConfirmationSettings::default(),
            complaints: ComplaintSettings::default(),
            signing: SigningSettings::default(),
        }
    }
}

/// The first retry delay of an outbox channel or of certificate orders (seconds).
const RETRY_BASE_SECS: u64 = 30;
/// The longest retry delay (seconds).
const RETRY_MAX_SECS: u64 = 3600;

/// The retry delays of an outbox channel: a first delay of at least 1, and a longest one no
/// shorter.
fn retry_delays(section: &str, base: u64, max: u64) -> Result<(u64, u64), ConfigError> {
    if base == 0 || max < base {
        return Err(ConfigError::Invalid {
            key: format!("{section}.retry_base_secs"),
            message: "must be at least 1 and at most retry_max_secs".into(),
        });
    }
    Ok((base, max))
}

/// `value`, unless it is zero: intervals and counts where 0 would stall or spin.
fn at_least_one<T: Copy + Default + PartialEq>(key: &str, value: T) -> Result<T, ConfigError> {
    if value == T::default() {
        return Err(ConfigError::Invalid {
            key: key.into(),
            message: "must be at least 1".into(),
        });
    }
    Ok(value)
}

impl Settings {
    /// Check every section and build the configuration in force. `env` looks up the variables
    /// that `*_env` keys name.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let database_url = self.database_url.unwrap_or_else(|| {
            Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ranah.db").display()
            ))
        });
        if crate::store::Backend::of_url(database_url.expose()).is_none() {
            return Err(ConfigError::Invalid {
                key: "database_url".into(),
                message: "must be a sqlite:// URL (a file on this machine) or a postgres:// \
                          (postgresql://) URL"
                    .into(),
            });
        }
        if self.workflow.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: "workflow".into(),
                message: "must name a preset or a file".into(),
            });
        }
        let dns = self.dns.resolve()?;
        let log = self.log.resolve()?;
        let calendar = resolve_calendar(&self.calendar)?;
        let (tsig_keys, secondaries) = resolve_transfers(&self.tsig_keys, &self.secondaries, &env)?;
        let smtp = resolve_smtp(&self.smtp, &env)?;
        let webhook = resolve_webhook(&self.webhook, &env)?;
        let acme = resolve_acme(&self.acme, &env)?;
        let api = self.api.resolve(acme.is_some())?;
        let console = self.console.resolve(&env)?;
        let metrics = self.metrics.resolve()?;
        let audit_signing_key = resolve_audit(&self.audit, &env)?;
        let policy = self.names.resolve()?;
        let dnssec = resolve_dnssec(&self.dnssec, &env)?;
        let dynamic_update = self.dynamic_update.resolve()?;
        let cloudflare_api = self.cloudflare_api.resolve()?;
        let checker = self.checker.resolve()?;
        let expiry = self.expiry.resolve()?;
        let confirmation = self.confirmation.resolve()?;
        let complaints = self.complaints.resolve(&env)?;
        let signing = self.signing.resolve()?;
        if self.attachments.max_per_request == 0 {
            return Err(ConfigError::Invalid {
                key: "attachments.max_per_request".into(),
                message: "must be at least 1".into(),
            });
        }
        Ok(Config {
            calendar_settings: CalendarSettings::of(&calendar, self.calendar.holidays),
            names_settings: NamesSettings::of(&policy),
            calendar,
            policy,
            data_dir: self.data_dir,
            database_url,
            zones_dir: self.zones_dir,
            workflow: self.workflow,
            dns,
            api,
            console,
            console_settings: self.console,
            smtp,
            webhook,
            acme,
            letter: self.letter,
            attachments: self.attachments,
            audit_signing_key,
            tsig_keys,
            secondaries,
            log,
            metrics,
            dnssec,
            dnssec_settings: self.dnssec,
            dynamic_update,
            cloudflare_api,
            checker,
            expiry,
            confirmation,
            complaints,
            signing,
        })
    }
}

/// The effective configuration: immutable after start.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Directory for the SQLite database and other state.
    pub data_dir: PathBuf,
    /// Database URL (its password, if any, redacted in output: the rest shows where the
    /// database is).
    #[serde(serialize_with = "secret::url_password_redacted")]
    pub database_url: Secret,
    /// Directory of `*.zone` files imported on first start.
    pub zones_dir: PathBuf,
    /// Workflow preset name or file.
    pub workflow: String,
    /// DNS server.
    pub dns: DnsConfig,
    /// HTTP API.
    pub api: ApiConfig,
    /// The web console and signing in.
    #[serde(skip)]
    pub console: ConsoleConfig,
    /// `[console]` as written, for `check-config`.
    #[serde(rename = "console")]
    pub console_settings: ConsoleSettings,
    /// Outgoing mail; `None` when no server is configured.
    pub smtp: Option<SmtpConfig>,
    /// The webhook; `None` when not configured.
    pub webhook: Option<WebhookConfig>,
    /// Certificates through ACME; `None` when no directory is configured.
    pub acme: Option<AcmeConfig>,
    /// The response letter.
    pub letter: LetterConfig,
    /// The files a request takes.
    pub attachments: AttachmentSettings,
    /// The key that signs the audit trail's checkpoints (redacted in output).
    pub audit_signing_key: Option<Secret>,
    /// TSIG keys.
    pub tsig_keys: Vec<TsigKeyConfig>,
    /// Secondaries.
    pub secondaries: Vec<SecondaryConfig>,
    /// Logging.
    pub log: LogConfig,
    /// Access to `/metrics`.
    pub metrics: MetricsConfig,
    /// DNSSEC signing: the policy of each zone.
    #[serde(skip)]
    pub dnssec: DnssecConfig,
    /// `[dnssec]` as in force, for `check-config`.
    #[serde(rename = "dnssec")]
    pub dnssec_settings: DnssecSettings,
    /// The office calendar.
    #[serde(skip)]
    pub calendar: crate::domain::calendar::Calendar,
    /// The name and record policy.
    #[serde(skip)]
    pub policy: crate::domain::policy::Policy,
    /// `[calendar]` as in force, for `check-config`.
    #[serde(rename = "calendar")]
    pub calendar_settings: CalendarSettings,
    /// `[names]` as in force, for `check-config`.
    #[serde(rename = "names")]
    pub names_settings: NamesSettings,
    /// RFC 2136 dynamic update.
    pub dynamic_update: DynamicUpdateSettings,
    /// What a write through the Cloudflare-compatible API does.
    pub cloudflare_api: CloudflareApiSettings,
    /// The oversight checker.
    pub checker: CheckerSettings,
    /// Names given for a time.
    pub expiry: ExpirySettings,
    /// The yearly confirmation of each name.
    pub confirmation: ConfirmationSettings,
    /// Complaints.
    pub complaints: ComplaintSettings,
    /// The certificate and key that sign the documents ranah makes.
    pub signing: SigningSettings,
}

impl Config {
    /// The workflow named by `workflow`: a preset, or a TOML file.
    pub fn load_workflow(&self) -> Result<crate::domain::workflow::Workflow, ConfigError> {
        use crate::domain::workflow::Workflow;
        let invalid = |message: String| ConfigError::Invalid {
            key: "workflow".into(),
            message,
        };
        if self.workflow.ends_with(".toml") || self.workflow.contains('/') {
            let path = PathBuf::from(&self.workflow);
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            Workflow::from_toml(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))
        } else {
            Workflow::preset(&self.workflow).map_err(|e| invalid(e.to_string()))
        }
    }

    /// The effective configuration as TOML, secrets redacted (for `ranah check-config`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}
