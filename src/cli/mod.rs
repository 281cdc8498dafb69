//! The command line: global options that override the configuration, and one type per command.

pub mod admin;
pub mod client;

/// Print a line to standard output as `println!` does, but return the write error instead of
/// panicking: `ranah audit verify | head -3` closes the pipe early, and `main` ends quietly on
/// [`std::io::ErrorKind::BrokenPipe`] (see [`is_broken_pipe`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Print to standard output as `print!` does; errors as [`outln!`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))
    };
}

/// Write to standard output; the error is returned, never a panic.
pub fn write_out(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.flush()
}

/// Whether a command failed only because its reader closed standard output (`| head`): the
/// output wanted was written, so this is not a failure to report.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigLayer, LogFormat};

/// ranah: authoritative DNS and subdomain requests for a government agency's zone.
#[derive(Debug, Parser)]
#[command(name = "ranah", version, about)]
pub struct Cli {
    /// Options that override the configuration file and RANAH_* variables.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML). Also RANAH_CONFIG.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database and state).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (sqlite://PATH or postgres://USER@HOST/DB?sslmode=…).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Directory of *.zone files imported on first start.
    #[arg(long, global = true, value_name = "DIR")]
    pub zones_dir: Option<PathBuf>,
    /// DNS listen address (UDP and TCP); repeat for several.
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub dns_listen: Vec<SocketAddr>,
    /// HTTP API listen address.
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub api_listen: Option<SocketAddr>,
    /// Log filter, e.g. `info,ranah=debug`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_name = "FORMAT", value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    s.parse()
}

impl GlobalArgs {
    /// The flags as a configuration layer: each flag sets one key.
    pub fn layer(&self) -> ConfigLayer {
        let dns_listen = Some(&self.dns_listen).filter(|listen| !listen.is_empty());
        ConfigLayer::default()
            .flag("--data-dir", "data_dir", self.data_dir.as_ref())
            .flag("--database-url", "database_url", self.database_url.as_ref())
            .flag("--zones-dir", "zones_dir", self.zones_dir.as_ref())
            .flag("--dns-listen", "dns.listen", dns_listen)
            .flag("--api-listen", "api.listen", self.api_listen)
            .flag("--log", "log.filter", self.log.as_ref())
            .flag("--log-format", "log.format", self.log_format)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: DNS (UDP and TCP) and the HTTP API.
    Serve,
    /// The approver's client: requests, the register and certificates through a ranah's API
    /// (--server, --token), without the server's configuration.
    Client(client::ClientArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets redacted) and exit.
    CheckConfig,
    /// Zone files: import and export.
    #[command(subcommand)]
    Zone(ZoneCommand),
    /// Agencies (OPD) that request subdomains.
    #[command(subcommand)]
    Agency(AgencyCommand),
    /// Users and their roles.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// TSIG keys for dynamic update (RFC 2136): an agency's certificate clients answer
    /// DNS-01 challenges with them.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Subdomains: owners of names imported from zone files.
    #[command(subcommand)]
    Subdomain(SubdomainCommand),
    /// Zones and their secondaries: serials, sync, last NOTIFY and transfer.
    Status,
    /// The oversight checker: check NAME now and print its findings (exit status 1 when any
    /// is open); with --all, one run over every name, as fast as `[checker] max_connections`
    /// allows, within `[checker] budget_secs`.
    Check {
        /// The subdomain, e.g. sipd.example.go.id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Check every name and print what the run did.
        #[arg(long)]
        all: bool,
    },
    /// DNSSEC: the keys of signed zones, and the DS for the registry.
    #[command(subcommand)]
    Dnssec(DnssecCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Write a backup of the store (the database, its stored files and a manifest) to FILE, a
    /// tar archive (gzip when FILE ends in .gz); safe while the daemon serves.
    Backup {
        /// The archive to write, e.g. /var/backups/ranah/ranah-2026-01-23.tar.gz.
        file: PathBuf,
    },
    /// Replace the store with a backup (the daemon stopped). Refused when a secondary serves a
    /// zone at a newer serial than the backup's, unless --force; every zone's serial then moves
    /// past the secondaries', and the audit trail records the restore.
    Restore {
        /// The archive written by `ranah backup` (or a pre-migration backup).
        file: PathBuf,
        /// Restore even if a secondary is ahead of the backup, does not answer, or the store
        /// being replaced cannot be saved first.
        #[arg(long)]
        force: bool,
    },
}

/// `ranah dnssec …`
#[derive(Debug, Subcommand)]
pub enum DnssecCommand {
    /// Print the DS records to give the registry (for go.id, with the domain registration
    /// form): SHA-256 digests of the zone's key-signing keys.
    Ds {
        /// The zone's apex, e.g. kaltaraprov.go.id.
        zone: String,
    },
    /// The zone's keys (or every zone's): tag, role, algorithm, state, the parent's DS.
    Keys {
        /// One zone only.
        zone: Option<String>,
    },
}

/// `ranah cert …`
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Order a new certificate for NAME now (the running daemon picks it up within
    /// `acme.check_interval_secs`); the current one stays served until the new one is stored.
    Renew {
        /// The certificate's name, e.g. sipd.kaltaraprov.go.id.
        name: String,
    },
    /// Every certificate: state, expiry, last error.
    List,
}

/// `ranah audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the whole trail; exits 1 when it is broken, naming the first
    /// bad sequence number.
    Verify {
        /// A head seen earlier, as `HASH@SEQ` (e.g. from `_audit.<zone>` TXT, which reads
        /// `seq=SEQ head=HASH`): checks that it is still in the chain. Repeatable.
        #[arg(long, value_name = "HASH@SEQ")]
        against: Vec<String>,
    },
}

/// `ranah subdomain …`
#[derive(Debug, Subcommand)]
pub enum SubdomainCommand {
    /// Give an imported name an owning agency (then it can change or delete it by request).
    Assign {
        /// The name, e.g. portal.kaltaraprov.go.id (omit with --csv).
        #[arg(required_unless_present = "csv")]
        name: Option<String>,
        /// The agency's code.
        #[arg(long, required_unless_present = "csv", value_name = "CODE")]
        agency: Option<String>,
        /// A CSV file of `name,agency` lines (a header line `name,agency` is allowed).
        #[arg(long, conflicts_with_all = ["name", "agency"], value_name = "FILE")]
        csv: Option<std::path::PathBuf>,
    },
}

/// `ranah agency …`
#[derive(Debug, Subcommand)]
pub enum AgencyCommand {
    /// Register an agency.
    Add {
        /// Short code, e.g. DINKES (letters, digits, `-`, `_`).
        code: String,
        /// Full name, e.g. "Dinas Kesehatan".
        name: String,
    },
}

/// `ranah user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user.
    Add {
        /// Login name.
        name: String,
        /// A role (repeatable). `ROLE@FROM..UNTIL` holds it only between two dates
        /// (inclusive, YYYY-MM-DD), e.g. an acting head of office.
        #[arg(long = "role", required = true, value_name = "ROLE")]
        roles: Vec<String>,
        /// The agency of an applicant.
        #[arg(long, value_name = "CODE")]
        agency: Option<String>,
        /// Email address for notifications.
        #[arg(long, value_name = "ADDR")]
        email: Option<String>,
    },
    /// Disable a user: their tokens stop working at once.
    Disable {
        /// Login name.
        name: String,
    },
    /// Set the password a user signs in to the console with, read from the first line of
    /// standard input (at least 12 characters); unlocks a locked account.
    Password {
        /// Login name.
        name: String,
        /// Remove the password instead: the user signs in only through single sign-on.
        #[arg(long)]
        remove: bool,
    },
}

/// `ranah token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once, alone on standard output.
    Create {
        /// The user.
        user: String,
        /// Last valid day (YYYY-MM-DD, through the end of that day in UTC).
        #[arg(long, value_name = "DATE")]
        expires: Option<chrono::NaiveDate>,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token.
    Revoke {
        /// The token's id, from `token list`.
        id: i64,
    },
}

/// `ranah key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a key; printed once, alone on standard output, as `hmac-sha256:NAME:SECRET`
    /// (what `nsupdate -y` and certbot's credentials take).
    Create {
        /// The agency whose names the key answers challenges for; without it, the key has
        /// only what `[[dynamic_update.grants]]` gives its name.
        #[arg(long, value_name = "CODE")]
        agency: Option<String>,
        /// The key's name (default: the agency's code and a random suffix).
        #[arg(long, value_name = "KEYNAME")]
        name: Option<String>,
    },
    /// List the keys (never a secret).
    List,
    /// Revoke a key: the next update it signs is refused (NOTAUTH, BADKEY).
    Revoke {
        /// The key's name.
        name: String,
    },
}

/// `ranah zone …`
#[derive(Debug, Subcommand)]
pub enum ZoneCommand {
    /// Import an RFC 1035 master file into the store (all or nothing).
    Import {
        /// The file.
        file: PathBuf,
        /// The zone's apex, if the file name is not `<zone>.zone` and the file has no $ORIGIN.
        #[arg(long)]
        origin: Option<String>,
        /// Replace the records of an existing zone with the file's (one journaled change).
        #[arg(long)]
        replace: bool,
    },
    /// Write a zone as an RFC 1035 master file.
    Export {
        /// The zone's apex, e.g. kaltaraprov.go.id.
        zone: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}
