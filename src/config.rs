//! Configuration: defaults → TOML file → `RANAH_*` variables → command-line flags, resolved once
//! into an immutable, validated [`Config`].
//!
//! Every layer is a [`ConfigLayer`] of optional values; the layers are merged in order and then
//! [`ConfigLayer::resolve`] applies the defaults and checks the result. Unknown keys in the file
//! are an error that names the key (serde's `deny_unknown_fields`); unknown `RANAH_*` variables
//! are reported as warnings, because a misspelt variable otherwise fails silently.
//!
//! The mapping of variables to keys is explicit (see [`ENV_KEYS`]) and documented in
//! `deploy/ranah.example.toml`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

/// A string that must never appear in logs or debug output (passwords inside database URLs,
/// later TSIG and ACME secrets).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

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

/// One layer of configuration: every value optional. The file, the environment and the flags
/// each produce one; [`ConfigLayer::merge`] lets a later layer override an earlier one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    /// Directory for the SQLite database and other state.
    pub data_dir: Option<PathBuf>,
    /// Database URL; defaults to SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// Directory of `*.zone` master files imported on first start.
    pub zones_dir: Option<PathBuf>,
    /// Workflow preset name or file (used by the workflow; kept here so every command agrees).
    pub workflow: Option<String>,
    /// DNS server settings.
    #[serde(default)]
    pub dns: DnsLayer,
    /// HTTP API settings.
    #[serde(default)]
    pub api: ApiLayer,
    /// Logging settings.
    #[serde(default)]
    pub log: LogLayer,
    /// The office calendar for time standards.
    #[serde(default)]
    pub calendar: CalendarLayer,
    /// The name and record policy.
    #[serde(default)]
    pub names: NamesLayer,
    /// Outgoing mail.
    #[serde(default)]
    pub smtp: SmtpLayer,
    /// The audit trail's signed checkpoints.
    #[serde(default)]
    pub audit: AuditLayer,
    /// A webhook called on every request transition.
    #[serde(default)]
    pub webhook: WebhookLayer,
    /// The response letter.
    pub letter: Option<LetterConfig>,
    /// TSIG keys (`[[tsig_keys]]`).
    pub tsig_keys: Option<Vec<TsigKeyLayer>>,
    /// Secondaries per zone (`[[secondaries]]`).
    pub secondaries: Option<Vec<SecondaryLayer>>,
    /// Certificates through ACME.
    #[serde(default)]
    pub acme: AcmeLayer,
}

/// `[acme]` table: certificates through ACME (off without `directory`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeLayer {
    /// The ACME directory URL (Let's Encrypt, its staging, or a private CA).
    pub directory: Option<String>,
    /// A root certificate (PEM) to trust for the directory's TLS, for a private CA.
    pub ca_file: Option<PathBuf>,
    /// The account's contact address.
    pub email: Option<String>,
    /// External account binding: the key id the CA gave.
    pub eab_kid: Option<String>,
    /// External account binding: the HMAC key (base64url) the CA gave.
    pub eab_hmac_key: Option<Secret>,
    /// The variable holding `eab_hmac_key`, instead.
    pub eab_hmac_key_env: Option<String>,
    /// The key (base64, 32 bytes) that encrypts private keys in the store.
    pub key_encryption_key: Option<Secret>,
    /// The variable holding `key_encryption_key`, instead.
    pub key_encryption_key_env: Option<String>,
    /// First delay after a failed order (seconds); it doubles up to `retry_max_secs`.
    pub retry_base_secs: Option<u64>,
    /// Longest delay between attempts.
    pub retry_max_secs: Option<u64>,
    /// Failed attempts after which ranah stops retrying by itself.
    pub max_attempts: Option<u32>,
    /// How long one order may take before it counts as failed.
    pub order_timeout_secs: Option<u64>,
    /// How long to wait for the secondaries to serve a challenge before going on.
    pub propagation_timeout_secs: Option<u64>,
    /// Seconds between checks for due orders, renewals and revocations.
    pub check_interval_secs: Option<u64>,
}

/// `[acme]`, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct AcmeConfig {
    /// The directory URL.
    pub directory: String,
    /// A root to trust for the directory's TLS.
    pub ca_file: Option<PathBuf>,
    /// Contact address.
    pub email: Option<String>,
    /// External account binding key id.
    pub eab_kid: Option<String>,
    /// External account binding HMAC key (redacted in output).
    pub eab_hmac_key: Option<Secret>,
    /// The key that encrypts private keys in the store (redacted in output).
    pub key_encryption_key: Secret,
    /// First retry delay.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
    /// Failed attempts before automatic retries stop.
    pub max_attempts: u32,
    /// Time limit of one order.
    pub order_timeout_secs: u64,
    /// Time limit of the wait for secondaries.
    pub propagation_timeout_secs: u64,
    /// Interval of the check for due work.
    pub check_interval_secs: u64,
}

/// `[letter]`: what the response letter (Surat Tanggapan) prints. Placeholders by default:
/// every office sets its own.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LetterConfig {
    /// The letterhead, line by line (the first two in bold).
    pub letterhead: Vec<String>,
    /// The city the letter is written in.
    pub city: String,
    /// The signatory's title.
    pub signatory_title: String,
    /// The signatory's name.
    pub signatory_name: String,
    /// The signatory's staff number line, e.g. `NIP. …`.
    pub signatory_id: Option<String>,
    /// The letter number: `{id}` (the request), `{month}` (Roman), `{year}`.
    pub number_format: String,
}

impl Default for LetterConfig {
    fn default() -> Self {
        Self {
            letterhead: vec![
                "PEMERINTAH DAERAH".into(),
                "DINAS KOMUNIKASI DAN INFORMATIKA".into(),
                "Alamat kantor, telepon, email".into(),
            ],
            city: "Kota".into(),
            signatory_title: "Kepala Dinas Komunikasi dan Informatika".into(),
            signatory_name: "Nama Penandatangan".into(),
            signatory_id: None,
            number_format: "555/{id}/DKISP/{month}/{year}".into(),
        }
    }
}

/// `[webhook]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookLayer {
    /// Where the JSON is POSTed; without it no webhook is called.
    pub url: Option<String>,
    /// The HMAC-SHA256 key of the `X-Ranah-Signature` header.
    pub secret: Option<Secret>,
    /// The variable holding the key, instead of `secret`.
    pub secret_env: Option<String>,
    /// First retry delay in seconds (doubles with each failure).
    pub retry_base_secs: Option<u64>,
    /// Longest retry delay in seconds.
    pub retry_max_secs: Option<u64>,
}

/// `[webhook]`, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookConfig {
    /// URL.
    pub url: String,
    /// HMAC key (redacted in output).
    pub secret: Secret,
    /// First retry delay.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
}

/// `[audit]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLayer {
    /// Ed25519 seed (base64 of 32 bytes) that signs the trail's head daily and per month.
    pub signing_key: Option<Secret>,
    /// The variable holding the seed, instead of `signing_key`.
    pub signing_key_env: Option<String>,
}

/// `[smtp]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpLayer {
    /// The mail server; without it no email is queued.
    pub host: Option<String>,
    /// Its port (default 587).
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (a relay on the same host).
    pub tls: Option<SmtpTls>,
    /// Login.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// The variable holding the password, instead of `password`.
    pub password_env: Option<String>,
    /// The sender, e.g. `"Diskominfo <noreply@example.go.id>"`.
    pub from: Option<String>,
    /// First retry delay in seconds (doubles with each failure).
    pub retry_base_secs: Option<u64>,
    /// Longest retry delay in seconds.
    pub retry_max_secs: Option<u64>,
}

/// How SMTP is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// No TLS: only for a relay on the same machine or network.
    None,
    /// STARTTLS (required) on the submission port.
    Starttls,
    /// TLS from the first byte.
    Tls,
}

/// `[smtp]`, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct SmtpConfig {
    /// Server.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub tls: SmtpTls,
    /// Login.
    pub username: Option<String>,
    /// Password (redacted in output).
    pub password: Option<Secret>,
    /// Sender.
    pub from: String,
    /// First retry delay.
    pub retry_base_secs: u64,
    /// Longest retry delay.
    pub retry_max_secs: u64,
}

/// One `[[tsig_keys]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKeyLayer {
    /// The key's name as the secondaries know it.
    pub name: String,
    /// `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`.
    pub algorithm: Option<String>,
    /// The secret, base64.
    pub secret: Option<Secret>,
    /// The environment variable holding the secret (base64), instead of `secret`.
    pub secret_env: Option<String>,
}

/// One `[[secondaries]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecondaryLayer {
    /// The zone it serves.
    pub zone: String,
    /// Where NOTIFY goes (and where its serial is polled), `ADDRESS:PORT`.
    pub notify: SocketAddr,
    /// Addresses or prefixes it may transfer from (`127.0.0.1`, `192.0.2.0/24`).
    pub allow_transfer: Vec<String>,
    /// The key its transfers must be signed with.
    pub tsig_key: Option<String>,
}

/// `[calendar]` table.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarLayer {
    /// IANA time zone, e.g. `Asia/Makassar`.
    pub time_zone: Option<String>,
    /// Working hours per weekday, `"08:00-16:00"`; a day left out is not a working day.
    pub hours: Option<std::collections::BTreeMap<String, String>>,
    /// Holidays (`YYYY-MM-DD`).
    pub holidays: Option<Vec<chrono::NaiveDate>>,
}

/// `[names]` table.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamesLayer {
    /// Labels nobody may request.
    pub reserved: Option<Vec<String>>,
    /// Accept private address ranges (internal applications).
    pub allow_private_addresses: Option<bool>,
}

/// `[dns]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsLayer {
    /// Addresses to serve DNS on, UDP and TCP each.
    pub listen: Option<Vec<SocketAddr>>,
    /// Seconds an idle TCP connection is kept.
    pub tcp_idle_timeout_secs: Option<u64>,
    /// How often (seconds) the daemon looks for zone changes written by other processes.
    pub store_poll_secs: Option<u64>,
    /// UDP sockets (and threads) per listen address; 0 = one per CPU.
    pub udp_workers: Option<usize>,
    /// How many journaled changes an IXFR may span before AXFR is sent instead.
    pub ixfr_journal_depth: Option<usize>,
    /// NOTIFY attempts per secondary and serial before giving up.
    pub notify_retries: Option<u32>,
    /// Seconds between SOA polls of each secondary.
    pub secondary_poll_secs: Option<u64>,
}

/// `[api]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiLayer {
    /// Address of the HTTP API.
    pub listen: Option<SocketAddr>,
}

/// `[log]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLayer {
    /// `tracing` filter directive, e.g. `info,ranah=debug`.
    pub filter: Option<String>,
    /// `text` or `json`.
    pub format: Option<LogFormat>,
}

/// Default log filter: hickory-server logs every query at `info`, which costs time on the hot
/// path and floods the log, so its level starts at `warn`.
pub const DEFAULT_LOG_FILTER: &str = "info,hickory_server=warn";

/// The variables read from the environment, with the key each one sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("RANAH_CONFIG", "(the configuration file itself)"),
    ("RANAH_DATA_DIR", "data_dir"),
    ("RANAH_DATABASE_URL", "database_url"),
    ("RANAH_ZONES_DIR", "zones_dir"),
    ("RANAH_WORKFLOW", "workflow"),
    ("RANAH_DNS_LISTEN", "dns.listen (comma-separated)"),
    (
        "RANAH_DNS_TCP_IDLE_TIMEOUT_SECS",
        "dns.tcp_idle_timeout_secs",
    ),
    ("RANAH_DNS_STORE_POLL_SECS", "dns.store_poll_secs"),
    ("RANAH_DNS_UDP_WORKERS", "dns.udp_workers"),
    ("RANAH_API_LISTEN", "api.listen"),
    ("RANAH_ACME_DIRECTORY", "acme.directory"),
    ("RANAH_ACME_CA_FILE", "acme.ca_file"),
    ("RANAH_ACME_EMAIL", "acme.email"),
    ("RANAH_LOG", "log.filter"),
    ("RANAH_LOG_FORMAT", "log.format"),
];

impl ConfigLayer {
    /// Parse a TOML document; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Read and parse a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// The layer set by `RANAH_*` variables. `vars` is the environment (injected for tests).
    /// Returns the layer and the names of unknown `RANAH_*` variables.
    pub fn from_env<I>(vars: I) -> Result<(Self, Vec<String>), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut layer = Self::default();
        let mut unknown = Vec::new();
        for (name, value) in vars {
            if !name.starts_with("RANAH_") {
                continue;
            }
            let invalid = |message: String| ConfigError::Invalid {
                key: name.clone(),
                message,
            };
            match name.as_str() {
                "RANAH_CONFIG" => {}
                "RANAH_DATA_DIR" => layer.data_dir = Some(value.into()),
                "RANAH_DATABASE_URL" => layer.database_url = Some(Secret::new(value)),
                "RANAH_ZONES_DIR" => layer.zones_dir = Some(value.into()),
                "RANAH_WORKFLOW" => layer.workflow = Some(value),
                "RANAH_DNS_LISTEN" => {
                    layer.dns.listen = Some(parse_addr_list(&value).map_err(invalid)?);
                }
                "RANAH_DNS_TCP_IDLE_TIMEOUT_SECS" => {
                    layer.dns.tcp_idle_timeout_secs =
                        Some(value.parse().map_err(|e| invalid(format!("{e}")))?);
                }
                "RANAH_DNS_STORE_POLL_SECS" => {
                    layer.dns.store_poll_secs =
                        Some(value.parse().map_err(|e| invalid(format!("{e}")))?);
                }
                "RANAH_DNS_UDP_WORKERS" => {
                    layer.dns.udp_workers =
                        Some(value.parse().map_err(|e| invalid(format!("{e}")))?);
                }
                "RANAH_API_LISTEN" => {
                    layer.api.listen = Some(value.parse().map_err(|e| invalid(format!("{e}")))?);
                }
                "RANAH_ACME_DIRECTORY" => layer.acme.directory = Some(value),
                "RANAH_ACME_CA_FILE" => layer.acme.ca_file = Some(value.into()),
                "RANAH_ACME_EMAIL" => layer.acme.email = Some(value),
                "RANAH_LOG" => layer.log.filter = Some(value),
                "RANAH_LOG_FORMAT" => layer.log.format = Some(value.parse().map_err(invalid)?),
                _ => unknown.push(name),
            }
        }
        Ok((layer, unknown))
    }

    /// Override the values of `self` with those set in `later`.
    pub fn merge(mut self, later: ConfigLayer) -> Self {
        fn pick<T>(earlier: &mut Option<T>, later: Option<T>) {
            if later.is_some() {
                *earlier = later;
            }
        }
        pick(&mut self.data_dir, later.data_dir);
        pick(&mut self.database_url, later.database_url);
        pick(&mut self.zones_dir, later.zones_dir);
        pick(&mut self.workflow, later.workflow);
        pick(&mut self.dns.listen, later.dns.listen);
        pick(
            &mut self.dns.tcp_idle_timeout_secs,
            later.dns.tcp_idle_timeout_secs,
        );
        pick(&mut self.dns.store_poll_secs, later.dns.store_poll_secs);
        pick(&mut self.dns.udp_workers, later.dns.udp_workers);
        pick(
            &mut self.dns.ixfr_journal_depth,
            later.dns.ixfr_journal_depth,
        );
        pick(&mut self.dns.notify_retries, later.dns.notify_retries);
        pick(
            &mut self.dns.secondary_poll_secs,
            later.dns.secondary_poll_secs,
        );
        pick(&mut self.tsig_keys, later.tsig_keys);
        pick(&mut self.letter, later.letter);
        pick(&mut self.webhook.url, later.webhook.url);
        let (acme, later_acme) = (&mut self.acme, later.acme);
        pick(&mut acme.directory, later_acme.directory);
        pick(&mut acme.ca_file, later_acme.ca_file);
        pick(&mut acme.email, later_acme.email);
        pick(&mut acme.eab_kid, later_acme.eab_kid);
        pick(&mut acme.eab_hmac_key, later_acme.eab_hmac_key);
        pick(&mut acme.eab_hmac_key_env, later_acme.eab_hmac_key_env);
        pick(&mut acme.key_encryption_key, later_acme.key_encryption_key);
        pick(
            &mut acme.key_encryption_key_env,
            later_acme.key_encryption_key_env,
        );
        pick(&mut acme.retry_base_secs, later_acme.retry_base_secs);
        pick(&mut acme.retry_max_secs, later_acme.retry_max_secs);
        pick(&mut acme.max_attempts, later_acme.max_attempts);
        pick(&mut acme.order_timeout_secs, later_acme.order_timeout_secs);
        pick(
            &mut acme.propagation_timeout_secs,
            later_acme.propagation_timeout_secs,
        );
        pick(
            &mut acme.check_interval_secs,
            later_acme.check_interval_secs,
        );
        pick(&mut self.webhook.secret, later.webhook.secret);
        pick(&mut self.webhook.secret_env, later.webhook.secret_env);
        pick(
            &mut self.webhook.retry_base_secs,
            later.webhook.retry_base_secs,
        );
        pick(
            &mut self.webhook.retry_max_secs,
            later.webhook.retry_max_secs,
        );
        pick(&mut self.audit.signing_key, later.audit.signing_key);
        pick(&mut self.audit.signing_key_env, later.audit.signing_key_env);
        pick(&mut self.smtp.host, later.smtp.host);
        pick(&mut self.smtp.port, later.smtp.port);
        pick(&mut self.smtp.tls, later.smtp.tls);
        pick(&mut self.smtp.username, later.smtp.username);
        pick(&mut self.smtp.password, later.smtp.password);
        pick(&mut self.smtp.password_env, later.smtp.password_env);
        pick(&mut self.smtp.from, later.smtp.from);
        pick(&mut self.smtp.retry_base_secs, later.smtp.retry_base_secs);
        pick(&mut self.smtp.retry_max_secs, later.smtp.retry_max_secs);
        pick(&mut self.secondaries, later.secondaries);
        pick(&mut self.api.listen, later.api.listen);
        pick(&mut self.log.filter, later.log.filter);
        pick(&mut self.log.format, later.log.format);
        pick(&mut self.calendar.time_zone, later.calendar.time_zone);
        pick(&mut self.calendar.hours, later.calendar.hours);
        pick(&mut self.calendar.holidays, later.calendar.holidays);
        pick(&mut self.names.reserved, later.names.reserved);
        pick(
            &mut self.names.allow_private_addresses,
            later.names.allow_private_addresses,
        );
        self
    }

    /// The variables that `*_env` keys name (secrets kept out of the file): they are not
    /// unknown `RANAH_*` variables, whatever their names.
    pub fn secret_variables(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            &self.webhook.secret_env,
            &self.audit.signing_key_env,
            &self.smtp.password_env,
            &self.acme.key_encryption_key_env,
            &self.acme.eab_hmac_key_env,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        names.extend(
            self.tsig_keys
                .iter()
                .flatten()
                .filter_map(|k| k.secret_env.clone()),
        );
        names
    }

    /// Apply defaults and validate.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = match self.database_url {
            Some(url) => url,
            None => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("ranah.db").display()
            )),
        };
        let scheme_ok = database_url.expose().starts_with("sqlite:");
        if !scheme_ok {
            return Err(ConfigError::Invalid {
                key: "database_url".into(),
                message: "only sqlite:// URLs are supported by this build (PostgreSQL support is \
                          planned)"
                    .into(),
            });
        }
        let dns_listen = self
            .dns
            .listen
            .unwrap_or_else(|| vec![SocketAddr::from(([127, 0, 0, 1], 5300))]);
        if dns_listen.is_empty() {
            return Err(ConfigError::Invalid {
                key: "dns.listen".into(),
                message: "at least one address is required".into(),
            });
        }
        let workflow = self.workflow.unwrap_or_else(|| "kaltara".into());
        if workflow.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: "workflow".into(),
                message: "must name a preset or a file".into(),
            });
        }
        let tcp_idle_timeout_secs = self.dns.tcp_idle_timeout_secs.unwrap_or(10);
        if tcp_idle_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "dns.tcp_idle_timeout_secs".into(),
                message: "must be at least 1".into(),
            });
        }
        let store_poll_secs = self.dns.store_poll_secs.unwrap_or(2);
        if store_poll_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "dns.store_poll_secs".into(),
                message: "must be at least 1".into(),
            });
        }
        let log_filter = self.log.filter.unwrap_or_else(|| DEFAULT_LOG_FILTER.into());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            return Err(ConfigError::Invalid {
                key: "log.filter".into(),
                message: e.to_string(),
            });
        }
        let calendar = resolve_calendar(&self.calendar)?;
        let transfers = resolve_transfers(
            self.tsig_keys.as_deref().unwrap_or_default(),
            self.secondaries.as_deref().unwrap_or_default(),
            |name| std::env::var(name).ok(),
        )?;
        let smtp = resolve_smtp(&self.smtp, |name| std::env::var(name).ok())?;
        let webhook = resolve_webhook(&self.webhook, |name| std::env::var(name).ok())?;
        let acme = resolve_acme(&self.acme, |name| std::env::var(name).ok())?;
        let audit_signing_key = secret_from(
            "audit",
            "signing_key",
            self.audit.signing_key.as_ref(),
            self.audit.signing_key_env.as_deref(),
            &|name: &str| std::env::var(name).ok(),
        )?;
        if let Some(key) = &audit_signing_key {
            crate::audit::checkpoint::Signer::from_base64(key.expose()).map_err(|e| {
                ConfigError::Invalid {
                    key: "audit.signing_key".into(),
                    message: e.to_string(),
                }
            })?;
        }
        let secondary_poll_secs = self.dns.secondary_poll_secs.unwrap_or(30);
        if secondary_poll_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "dns.secondary_poll_secs".into(),
                message: "must be at least 1".into(),
            });
        }
        let mut policy = crate::domain::policy::Policy::default();
        if let Some(reserved) = self.names.reserved {
            policy.reserved = reserved.iter().map(|r| r.to_ascii_lowercase()).collect();
        }
        policy.allow_private_addresses = self.names.allow_private_addresses.unwrap_or(false);
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let calendar_settings = CalendarLayer {
            time_zone: Some(calendar.time_zone().name().to_owned()),
            hours: Some(
                calendar
                    .week()
                    .iter()
                    .zip(DAYS)
                    .filter_map(|(h, d)| {
                        h.map(|h| {
                            (
                                d.to_owned(),
                                format!("{}-{}", h.open.format("%H:%M"), h.close.format("%H:%M")),
                            )
                        })
                    })
                    .collect(),
            ),
            holidays: Some(self.calendar.holidays.clone().unwrap_or_default()),
        };
        let names_settings = NamesLayer {
            reserved: Some(policy.reserved.clone()),
            allow_private_addresses: Some(policy.allow_private_addresses),
        };
        Ok(Config {
            calendar,
            policy,
            calendar_settings,
            names_settings,
            zones_dir: self.zones_dir.unwrap_or_else(|| PathBuf::from("./zones")),
            data_dir,
            database_url,
            workflow,
            dns: DnsConfig {
                listen: dns_listen,
                tcp_idle_timeout_secs,
                store_poll_secs,
                udp_workers: match self.dns.udp_workers.unwrap_or(0) {
                    0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                    n => n,
                },
                ixfr_journal_depth: self.dns.ixfr_journal_depth.unwrap_or(1000),
                notify_retries: self.dns.notify_retries.unwrap_or(5),
                secondary_poll_secs,
            },
            smtp,
            webhook,
            acme,
            letter: self.letter.unwrap_or_default(),
            audit_signing_key,
            tsig_keys: transfers.0,
            secondaries: transfers.1,
            api: ApiConfig {
                listen: self
                    .api
                    .listen
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            },
            log: LogConfig {
                filter: log_filter,
                format: self.log.format.unwrap_or(LogFormat::Text),
            },
        })
    }
}

fn parse_addr_list(value: &str) -> Result<Vec<SocketAddr>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SocketAddr>()
                .map_err(|e| format!("`{s}`: {e} (expected ADDRESS:PORT)"))
        })
        .collect()
}

fn resolve_calendar(
    layer: &CalendarLayer,
) -> Result<crate::domain::calendar::Calendar, ConfigError> {
    use crate::domain::calendar::{Calendar, Hours};
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("calendar.{key}"),
        message,
    };
    let default = Calendar::default_wita(layer.holidays.clone().unwrap_or_default());
    let tz = match &layer.time_zone {
        Some(name) => name
            .parse::<chrono_tz::Tz>()
            .map_err(|e| invalid("time_zone", format!("`{name}`: {e}")))?,
        None => default.time_zone(),
    };
    let Some(hours) = &layer.hours else {
        return Calendar::new(
            tz,
            default.week(),
            layer.holidays.clone().unwrap_or_default(),
        )
        .map_err(|e| invalid("hours", e.to_string()));
    };
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut week = [None; 7];
    for (day, span) in hours {
        let i = DAYS.iter().position(|d| d == day).ok_or_else(|| {
            invalid(
                "hours",
                format!("`{day}`: use mon, tue, wed, thu, fri, sat, sun"),
            )
        })?;
        let parse = |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M");
        let (open, close) = span
            .split_once('-')
            .and_then(|(a, b)| Some((parse(a).ok()?, parse(b).ok()?)))
            .ok_or_else(|| invalid("hours", format!("{day} = `{span}`: write \"08:00-16:00\"")))?;
        week[i] = Some(Hours { open, close });
    }
    Calendar::new(tz, week, layer.holidays.clone().unwrap_or_default())
        .map_err(|e| invalid("hours", e.to_string()))
}

/// The effective configuration: immutable after start.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// Directory for the SQLite database and other state.
    pub data_dir: PathBuf,
    /// Database URL (redacted in output).
    pub database_url: Secret,
    /// Directory of `*.zone` files imported on first start.
    pub zones_dir: PathBuf,
    /// Workflow preset name or file.
    pub workflow: String,
    /// DNS server.
    pub dns: DnsConfig,
    /// HTTP API.
    pub api: ApiConfig,
    /// Outgoing mail; `None` when no server is configured.
    pub smtp: Option<SmtpConfig>,
    /// The webhook; `None` when not configured.
    pub webhook: Option<WebhookConfig>,
    /// Certificates through ACME; `None` when no directory is configured.
    pub acme: Option<AcmeConfig>,
    /// The response letter.
    pub letter: LetterConfig,
    /// The key that signs the audit trail's checkpoints (redacted in output).
    pub audit_signing_key: Option<Secret>,
    /// TSIG keys.
    pub tsig_keys: Vec<TsigKeyConfig>,
    /// Secondaries.
    pub secondaries: Vec<SecondaryConfig>,
    /// Logging.
    pub log: LogConfig,
    /// The office calendar.
    #[serde(skip)]
    pub calendar: crate::domain::calendar::Calendar,
    /// The name and record policy.
    #[serde(skip)]
    pub policy: crate::domain::policy::Policy,
    /// `[calendar]` as in force, for `check-config`.
    #[serde(rename = "calendar")]
    pub calendar_settings: CalendarLayer,
    /// `[names]` as in force, for `check-config`.
    #[serde(rename = "names")]
    pub names_settings: NamesLayer,
}

/// `[dns]`.
#[derive(Clone, Debug, Serialize)]
pub struct DnsConfig {
    /// UDP and TCP addresses.
    pub listen: Vec<SocketAddr>,
    /// Idle TCP connection timeout.
    pub tcp_idle_timeout_secs: u64,
    /// Interval of the check for zone changes made by other processes.
    pub store_poll_secs: u64,
    /// UDP sockets and threads per listen address.
    pub udp_workers: usize,
    /// Journaled changes an IXFR may span.
    pub ixfr_journal_depth: usize,
    /// NOTIFY attempts per secondary and serial.
    pub notify_retries: u32,
    /// Seconds between SOA polls of each secondary.
    pub secondary_poll_secs: u64,
}

/// A TSIG key, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct TsigKeyConfig {
    /// Name.
    pub name: String,
    /// Algorithm name.
    pub algorithm: String,
    /// The decoded secret (redacted in output).
    #[serde(serialize_with = "redacted")]
    pub secret: Vec<u8>,
}

fn redacted<S: serde::Serializer, T>(_: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("<redacted>")
}

/// A secondary, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct SecondaryConfig {
    /// The zone's apex, absolute (`example.go.id.`).
    pub zone: String,
    /// NOTIFY address.
    pub notify: SocketAddr,
    /// Prefixes it may transfer from.
    pub allow_transfer: Vec<ipnet::IpNet>,
    /// Its key's name.
    pub tsig_key: Option<String>,
}

/// A secret given in the file (`value`, under the key `section.name`) or in the variable it
/// names (`var`, under `section.name_env`); at most one of them.
fn secret_from(
    section: &str,
    name: &str,
    value: Option<&Secret>,
    var: Option<&str>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    match (value, var) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            key: format!("{section}.{name}"),
            message: format!("set `{name}` or `{name}_env`, not both"),
        }),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(var)) => {
            env(var)
                .map(|v| Some(Secret::new(v)))
                .ok_or_else(|| ConfigError::Invalid {
                    key: format!("{section}.{name}_env"),
                    message: format!("the variable {var} is not set"),
                })
        }
        (None, None) => Ok(None),
    }
}

/// The retry delays of an outbox channel: first delay (default 30 s) and longest (1 h).
fn retry_delays(
    section: &str,
    base: Option<u64>,
    max: Option<u64>,
) -> Result<(u64, u64), ConfigError> {
    let (base, max) = (base.unwrap_or(30), max.unwrap_or(3600));
    if base == 0 || max < base {
        return Err(ConfigError::Invalid {
            key: format!("{section}.retry_base_secs"),
            message: "must be at least 1 and at most retry_max_secs".into(),
        });
    }
    Ok((base, max))
}

fn resolve_acme(
    layer: &AcmeLayer,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<AcmeConfig>, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("acme.{key}"),
        message,
    };
    let Some(directory) = layer.directory.clone() else {
        return Ok(None);
    };
    if !directory.starts_with("https://") {
        return Err(invalid(
            "directory",
            format!("`{directory}` is not an https:// URL"),
        ));
    }
    if let Some(file) = &layer.ca_file
        && !file.is_file()
    {
        return Err(invalid(
            "ca_file",
            format!("{} is not a readable file", file.display()),
        ));
    }
    let key_encryption_key = secret_from(
        "acme",
        "key_encryption_key",
        layer.key_encryption_key.as_ref(),
        layer.key_encryption_key_env.as_deref(),
        &env,
    )?
    .ok_or_else(|| {
        invalid(
            "key_encryption_key",
            "required with acme.directory: 32 random bytes in base64 (`openssl rand -base64 \
             32`), in the file or in the variable named by key_encryption_key_env"
                .into(),
        )
    })?;
    crate::acme::sealing::KeyCipher::from_base64(key_encryption_key.expose())
        .map_err(|e| invalid("key_encryption_key", e.to_string()))?;
    let eab_hmac_key = secret_from(
        "acme",
        "eab_hmac_key",
        layer.eab_hmac_key.as_ref(),
        layer.eab_hmac_key_env.as_deref(),
        &env,
    )?;
    if eab_hmac_key.is_some() != layer.eab_kid.is_some() {
        return Err(invalid(
            "eab_kid",
            "external account binding needs both eab_kid and eab_hmac_key".into(),
        ));
    }
    let (retry_base_secs, retry_max_secs) =
        retry_delays("acme", layer.retry_base_secs, layer.retry_max_secs)?;
    let positive = |key: &str, value: Option<u64>, default: u64| match value.unwrap_or(default) {
        0 => Err(invalid(key, "must be at least 1".into())),
        n => Ok(n),
    };
    Ok(Some(AcmeConfig {
        directory,
        ca_file: layer.ca_file.clone(),
        email: layer.email.clone(),
        eab_kid: layer.eab_kid.clone(),
        eab_hmac_key,
        key_encryption_key,
        retry_base_secs,
        retry_max_secs,
        max_attempts: match layer.max_attempts.unwrap_or(10) {
            0 => return Err(invalid("max_attempts", "must be at least 1".into())),
            n => n,
        },
        order_timeout_secs: positive("order_timeout_secs", layer.order_timeout_secs, 300)?,
        propagation_timeout_secs: positive(
            "propagation_timeout_secs",
            layer.propagation_timeout_secs,
            120,
        )?,
        check_interval_secs: positive("check_interval_secs", layer.check_interval_secs, 30)?,
    }))
}

fn resolve_webhook(
    layer: &WebhookLayer,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<WebhookConfig>, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("webhook.{key}"),
        message,
    };
    let Some(url) = layer.url.clone().filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(invalid("url", format!("`{url}` is not an http(s) URL")));
    }
    let secret = secret_from(
        "webhook",
        "secret",
        layer.secret.as_ref(),
        layer.secret_env.as_deref(),
        &env,
    )?
    .ok_or_else(|| {
        invalid(
            "secret",
            "set exactly one of `secret` and `secret_env`: calls are signed".into(),
        )
    })?;
    let (retry_base_secs, retry_max_secs) =
        retry_delays("webhook", layer.retry_base_secs, layer.retry_max_secs)?;
    Ok(Some(WebhookConfig {
        url,
        secret,
        retry_base_secs,
        retry_max_secs,
    }))
}

fn resolve_smtp(
    layer: &SmtpLayer,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<SmtpConfig>, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("smtp.{key}"),
        message,
    };
    let Some(host) = layer.host.clone().filter(|h| !h.trim().is_empty()) else {
        return Ok(None);
    };
    let password = secret_from(
        "smtp",
        "password",
        layer.password.as_ref(),
        layer.password_env.as_deref(),
        &env,
    )?;
    let from = layer
        .from
        .clone()
        .unwrap_or_else(|| format!("ranah <ranah@{host}>"));
    if !from.contains('@') {
        return Err(invalid("from", format!("`{from}` is not an email address")));
    }
    let (retry_base_secs, retry_max_secs) =
        retry_delays("smtp", layer.retry_base_secs, layer.retry_max_secs)?;
    Ok(Some(SmtpConfig {
        host,
        port: layer.port.unwrap_or(587),
        tls: layer.tls.unwrap_or(SmtpTls::Starttls),
        username: layer.username.clone(),
        password,
        from,
        retry_base_secs,
        retry_max_secs,
    }))
}

type Transfers = (Vec<TsigKeyConfig>, Vec<SecondaryConfig>);

/// Check the keys and secondaries: decodable secrets from exactly one source, supported
/// algorithms, prefixes, and keys that exist. `env` looks up `secret_env` variables.
fn resolve_transfers(
    keys: &[TsigKeyLayer],
    secondaries: &[SecondaryLayer],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Transfers, ConfigError> {
    use base64::Engine as _;
    let mut resolved_keys = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let invalid = |message: String| ConfigError::Invalid {
            key: format!("tsig_keys[{i}] ({})", key.name),
            message,
        };
        let encoded = secret_from(
            &format!("tsig_keys[{i}] ({})", key.name),
            "secret",
            key.secret.as_ref(),
            key.secret_env.as_deref(),
            &env,
        )?
        .ok_or_else(|| invalid("set exactly one of `secret` and `secret_env`".into()))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(encoded.expose().trim())
            .map_err(|e| invalid(format!("the secret is not base64: {e}")))?;
        let algorithm = key
            .algorithm
            .clone()
            .unwrap_or_else(|| "hmac-sha256".into());
        crate::dns::tsig::TsigKey::new(&key.name, &algorithm, secret.clone())
            .map_err(|e| invalid(e.to_string()))?;
        if resolved_keys
            .iter()
            .any(|k: &TsigKeyConfig| k.name.eq_ignore_ascii_case(&key.name))
        {
            return Err(invalid("a key with this name is already defined".into()));
        }
        resolved_keys.push(TsigKeyConfig {
            name: key.name.clone(),
            algorithm,
            secret,
        });
    }
    let mut resolved = Vec::new();
    for (i, secondary) in secondaries.iter().enumerate() {
        let invalid = |message: String| ConfigError::Invalid {
            key: format!("secondaries[{i}] ({} {})", secondary.zone, secondary.notify),
            message,
        };
        let mut zone = secondary.zone.trim().to_ascii_lowercase();
        if !zone.ends_with('.') {
            zone.push('.');
        }
        hickory_proto::rr::Name::from_ascii(&zone)
            .map_err(|e| invalid(format!("zone `{}`: {e}", secondary.zone)))?;
        let allow_transfer = secondary
            .allow_transfer
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(format!("allow_transfer `{p}` is not an address or prefix"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(key) = &secondary.tsig_key
            && !resolved_keys
                .iter()
                .any(|k| k.name.eq_ignore_ascii_case(key))
        {
            return Err(invalid(format!(
                "tsig_key `{key}` is not defined in [[tsig_keys]]"
            )));
        }
        resolved.push(SecondaryConfig {
            zone,
            notify: secondary.notify,
            allow_transfer,
            tsig_key: secondary.tsig_key.clone(),
        });
    }
    Ok((resolved_keys, resolved))
}

/// `[api]`.
#[derive(Clone, Debug, Serialize)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: SocketAddr,
}

/// `[log]`.
#[derive(Clone, Debug, Serialize)]
pub struct LogConfig {
    /// Filter directive.
    pub filter: String,
    /// Output format.
    pub format: LogFormat,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = ConfigLayer::default().resolve().unwrap();
        assert_eq!(c.dns.listen, vec!["127.0.0.1:5300".parse().unwrap()]);
        assert_eq!(c.api.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.zones_dir, PathBuf::from("./zones"));
        assert_eq!(c.workflow, "kaltara");
        assert_eq!(c.log.format, LogFormat::Text);
        assert!(
            c.database_url
                .expose()
                .starts_with("sqlite://./data/ranah.db")
        );
    }

    #[test]
    fn layers_override_in_order() {
        let file = ConfigLayer::from_toml(
            "data_dir = \"/file\"\n[dns]\nlisten = [\"127.0.0.1:1\"]\n[api]\nlisten = \"127.0.0.1:2\"\n",
            Path::new("f.toml"),
        )
        .unwrap();
        let (envl, unknown) = ConfigLayer::from_env(env(&[
            ("RANAH_DATA_DIR", "/env"),
            ("RANAH_DNS_LISTEN", "127.0.0.1:3, [::1]:3"),
            ("RANAH_BOGUS", "x"),
            ("PATH", "/bin"),
        ]))
        .unwrap();
        assert_eq!(unknown, vec!["RANAH_BOGUS".to_string()]);
        let flags = ConfigLayer {
            data_dir: Some("/flag".into()),
            ..Default::default()
        };
        let c = file.merge(envl).merge(flags).resolve().unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        assert_eq!(c.dns.listen.len(), 2);
        assert_eq!(c.api.listen, "127.0.0.1:2".parse().unwrap());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = ConfigLayer::from_toml("[dns]\nlisten_udp = []\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_udp"), "{err}");
        let err = ConfigLayer::from_toml("colour = 1\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        let err = ConfigLayer::from_env(env(&[("RANAH_DNS_LISTEN", "localhost")])).unwrap_err();
        assert!(err.to_string().contains("RANAH_DNS_LISTEN"));
        let err = ConfigLayer::from_env(env(&[("RANAH_LOG_FORMAT", "xml")])).unwrap_err();
        assert!(err.to_string().contains("RANAH_LOG_FORMAT"));
        let layer = ConfigLayer {
            database_url: Some(Secret::new("mysql://x")),
            ..Default::default()
        };
        assert!(layer.resolve().is_err());
    }

    #[test]
    fn calendar_and_names_settings() {
        let layer = ConfigLayer::from_toml(
            "[calendar]\ntime_zone = \"Asia/Jakarta\"\nholidays = [\"2026-12-25\"]\n\
             [calendar.hours]\nmon = \"07:30-15:30\"\n[names]\nreserved = [\"Portal\"]\n\
             allow_private_addresses = true\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let c = layer.resolve().unwrap();
        assert_eq!(c.calendar.time_zone(), chrono_tz::Asia::Jakarta);
        let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            c.calendar.hours(monday).unwrap().open.to_string(),
            "07:30:00"
        );
        assert!(
            c.calendar.hours(monday.succ_opt().unwrap()).is_none(),
            "only Monday works"
        );
        assert!(
            c.calendar
                .hours(chrono::NaiveDate::from_ymd_opt(2026, 12, 25).unwrap())
                .is_none()
        );
        assert_eq!(c.policy.reserved, vec!["portal".to_string()]);
        assert!(c.policy.allow_private_addresses);
        for bad in [
            "[calendar]\ntime_zone = \"Mars/Base\"\n",
            "[calendar.hours]\nmonday = \"08:00-16:00\"\n",
            "[calendar.hours]\nmon = \"16:00-08:00\"\n",
            "[calendar.hours]\nmon = \"8 to 4\"\n",
        ] {
            let layer = ConfigLayer::from_toml(bad, Path::new("c.toml")).unwrap();
            assert!(layer.resolve().is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let layer = ConfigLayer {
            database_url: Some(Secret::new("sqlite:///tmp/s3cr3t.db")),
            ..Default::default()
        };
        let c = layer.resolve().unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!c.to_toml().contains("s3cr3t"));
    }

    #[test]
    fn the_commented_acme_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let block: String = text
            .lines()
            .skip_while(|l| !l.starts_with("# [acme]"))
            .take_while(|l| l.starts_with('#'))
            .filter(|l| !l.contains("ca_file"))
            .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
            .collect();
        let layer = ConfigLayer::from_toml(&block, &path).unwrap();
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let vars = |name: &str| match name {
            "RANAH_ACME_KEY" => Some(key.to_string()),
            "RANAH_ACME_EAB_HMAC" => Some("c2VjcmV0".to_string()),
            _ => None,
        };
        // The variables it names are secrets, not unknown RANAH_* variables.
        let named = layer.secret_variables();
        assert!(named.contains(&"RANAH_ACME_KEY".to_string()), "{named:?}");
        assert!(
            named.contains(&"RANAH_ACME_EAB_HMAC".to_string()),
            "{named:?}"
        );
        let acme = resolve_acme(&layer.acme, vars).unwrap().unwrap();
        assert!(acme.directory.contains("letsencrypt.org"));
        assert_eq!(acme.key_encryption_key.expose(), key);
        assert_eq!((acme.retry_base_secs, acme.max_attempts), (30, 10));
        // No directory: no certificates; a directory without a key, or a bad key, is an error.
        assert!(
            resolve_acme(&AcmeLayer::default(), |_| None)
                .unwrap()
                .is_none()
        );
        let no_key = AcmeLayer {
            directory: Some("https://acme.example/dir".into()),
            ..Default::default()
        };
        let err = resolve_acme(&no_key, |_| None).unwrap_err().to_string();
        assert!(err.contains("acme.key_encryption_key"), "{err}");
        let short = AcmeLayer {
            key_encryption_key: Some(Secret::new("c2hvcnQ=")),
            ..no_key.clone()
        };
        assert!(resolve_acme(&short, |_| None).is_err());
        let http = AcmeLayer {
            directory: Some("http://acme.example/dir".into()),
            ..short
        };
        let err = resolve_acme(&http, |_| None).unwrap_err().to_string();
        assert!(err.contains("https"), "{err}");
        // The variables of the contract set the directory, the CA file and the contact.
        let (env_layer, unknown) = ConfigLayer::from_env(env(&[
            ("RANAH_ACME_DIRECTORY", "https://acme.example/dir"),
            ("RANAH_ACME_EMAIL", "ops@example.go.id"),
        ]))
        .unwrap();
        assert!(unknown.is_empty());
        assert_eq!(env_layer.acme.email.as_deref(), Some("ops@example.go.id"));
    }

    #[test]
    fn the_commented_smtp_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let block: String = text
            .lines()
            .skip_while(|l| !l.starts_with("# [smtp]"))
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
            .collect();
        let layer = ConfigLayer::from_toml(&block, &path).unwrap();
        let smtp = resolve_smtp(&layer.smtp, |_| Some("rahasia".into()))
            .unwrap()
            .unwrap();
        assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::Starttls));
        assert_eq!(smtp.password.unwrap().expose(), "rahasia");
        // No host: no mail.
        assert!(
            resolve_smtp(&SmtpLayer::default(), |_| None)
                .unwrap()
                .is_none()
        );
        let bad = SmtpLayer {
            host: Some("mail".into()),
            password_env: Some("UNSET".into()),
            ..Default::default()
        };
        assert!(
            resolve_smtp(&bad, |_| None)
                .unwrap_err()
                .to_string()
                .contains("UNSET")
        );
    }

    #[test]
    fn the_commented_secondaries_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let block: String = text
            .lines()
            .skip_while(|l| !l.starts_with("# [[tsig_keys]]"))
            .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
            .collect();
        let layer = ConfigLayer::from_toml(&block, &path).unwrap();
        let (keys, secondaries) = resolve_transfers(
            layer.tsig_keys.as_deref().unwrap(),
            layer.secondaries.as_deref().unwrap(),
            |_| Some("c2VjcmV0".into()),
        )
        .unwrap();
        assert_eq!((keys.len(), secondaries.len()), (1, 1));
    }

    #[test]
    fn keys_and_secondaries() {
        let text = r#"
[[tsig_keys]]
name = "xfr-key"
secret_env = "XFR_SECRET"

[[secondaries]]
zone = "Example.go.id"
notify = "127.0.0.1:5301"
allow_transfer = ["127.0.0.1", "2001:db8::/32"]
tsig_key = "xfr-key"
"#;
        let layer = ConfigLayer::from_toml(text, Path::new("f.toml")).unwrap();
        let env = |name: &str| (name == "XFR_SECRET").then(|| "c2VjcmV0".to_owned());
        let (keys, secondaries) = resolve_transfers(
            layer.tsig_keys.as_deref().unwrap(),
            layer.secondaries.as_deref().unwrap(),
            env,
        )
        .unwrap();
        assert_eq!(keys[0].secret, b"secret");
        assert_eq!(keys[0].algorithm, "hmac-sha256");
        assert_eq!(secondaries[0].zone, "example.go.id.");
        assert_eq!(
            secondaries[0].allow_transfer,
            vec![
                "127.0.0.1/32".parse::<ipnet::IpNet>().unwrap(),
                "2001:db8::/32".parse().unwrap()
            ]
        );

        let err = |keys: &str, secondaries: &str| {
            let layer =
                ConfigLayer::from_toml(&format!("{keys}\n{secondaries}"), Path::new("f.toml"))
                    .unwrap();
            resolve_transfers(
                layer.tsig_keys.as_deref().unwrap_or_default(),
                layer.secondaries.as_deref().unwrap_or_default(),
                env,
            )
            .unwrap_err()
            .to_string()
        };
        let secondary = |key: &str| {
            format!(
                "[[secondaries]]\nzone = \"example.go.id\"\nnotify = \"127.0.0.1:5301\"\n\
                 allow_transfer = [\"127.0.0.1\"]\ntsig_key = \"{key}\""
            )
        };
        let key = |body: &str| format!("[[tsig_keys]]\nname = \"xfr-key\"\n{body}");
        assert!(err(&key("secret_env = \"NOPE\""), "").contains("NOPE"));
        assert!(err(&key("secret = \"not base64!\""), "").contains("base64"));
        assert!(err(&key(""), "").contains("exactly one"));
        assert!(
            err(&key("secret = \"c2VjcmV0\"\nalgorithm = \"hmac-md5\""), "")
                .contains("unsupported algorithm")
        );
        assert!(err(&key("secret = \"c2VjcmV0\""), &secondary("other")).contains("not defined"));
        let bad_prefix = "[[secondaries]]\nzone = \"example.go.id\"\nnotify = \"127.0.0.1:5301\"\n\
                          allow_transfer = [\"localhost\"]";
        assert!(err("", bad_prefix).contains("localhost"));
        // The secret never shows in check-config's output.
        let layer = ConfigLayer::from_toml(
            &format!("{}\n{}", key("secret = \"c2VjcmV0\""), secondary("xfr-key")),
            Path::new("f.toml"),
        )
        .unwrap();
        let shown = layer.resolve().unwrap().to_toml();
        assert!(
            shown.contains("<redacted>") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
    }

    #[test]
    fn example_config_parses_and_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ranah.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let layer = ConfigLayer::from_toml(&text, &path).unwrap();
        layer.resolve().unwrap();
        // Every variable is documented in the example.
        for (var, _) in ENV_KEYS {
            assert!(text.contains(var), "{var} is not documented in the example");
        }
        // Every key appears uncommented in the example, so a renamed key fails here.
        for key in [
            "data_dir",
            "database_url",
            "zones_dir",
            "workflow",
            "listen",
            "tcp_idle_timeout_secs",
            "store_poll_secs",
            "ixfr_journal_depth",
            "notify_retries",
            "secondary_poll_secs",
            "udp_workers",
            "time_zone",
            "holidays",
            "reserved",
            "allow_private_addresses",
            "filter",
            "format",
        ] {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(key)),
                "{key} missing from the example"
            );
        }
        // Injecting a bogus key into every table is refused.
        let bogus = format!("bogus_key = 1\n{text}");
        assert!(ConfigLayer::from_toml(&bogus, &path).is_err());
        for table in ["[dns]\n", "[api]\n", "[log]\n", "[calendar]\n", "[names]\n"] {
            assert!(text.contains(table), "{table}");
            let bogus = text.replacen(table, &format!("{table}bogus_key = 1\n"), 1);
            let err = ConfigLayer::from_toml(&bogus, &path)
                .unwrap_err()
                .to_string();
            assert!(err.contains("bogus_key"), "{table}: {err}");
        }
    }
}
