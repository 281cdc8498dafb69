//! The `ranah` binary: parse the command line, resolve the configuration, set up logging, run
//! the command.
//!
//! Exit codes: 0 success; 1 the command failed (the message says why); 2 bad usage or
//! configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use hickory_proto::rr::Name;

use ranah::cli::admin;
use ranah::cli::{Cli, Command, DnssecCommand, ZoneCommand};
use ranah::config::{Config, ConfigLayer};
use ranah::publish::import::{self, ImportOutcome};
use ranah::service::backup;
use ranah::store::Store;
use ranah::zone::file;
use ranah::{daemon, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The client runs where the server's configuration is not (an approver's laptop).
    if let Command::Client(args) = cli.command {
        return run_client(args);
    }
    let (config, unknown_vars) = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ranah: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log);
    for var in unknown_vars {
        tracing::warn!(variable = %var, "unknown RANAH_* variable ignored");
    }
    finish(
        tokio::runtime::Builder::new_multi_thread(),
        run(cli.command, config),
    )
}

/// `ranah client …`: no configuration, no logging set up (what it has to say goes to standard
/// output and its errors to standard error), a runtime of one thread.
fn run_client(args: ranah::cli::client::ClientArgs) -> ExitCode {
    finish(
        tokio::runtime::Builder::new_current_thread(),
        ranah::cli::client::run(args),
    )
}

/// Run a command's `work` on a runtime built by `builder`, and its outcome as the exit code.
fn finish(
    mut builder: tokio::runtime::Builder,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ranah: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`ranah audit verify | head -3`): what it wanted
        // was written, and the shell's pipeline decides what that means.
        Err(e) if ranah::cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ranah: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<(Config, Vec<String>)> {
    let file = cli
        .global
        .config
        .clone()
        .or_else(|| std::env::var_os("RANAH_CONFIG").map(PathBuf::from));
    let file_layer = match &file {
        Some(path) => ConfigLayer::from_file(path)?,
        None => ConfigLayer::default(),
    };
    let (env_layer, mut unknown) = ConfigLayer::from_env(std::env::vars())?;
    let layer = file_layer.merge(env_layer).merge(cli.global.layer());
    let secrets = layer.secret_variables();
    unknown.retain(|var| !secrets.contains(var));
    let config = layer.resolve()?;
    Ok((config, unknown))
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => daemon::run(config).await,
        Command::CheckConfig => {
            ranah::out!("{}", config.to_toml())?;
            Ok(())
        }
        Command::Migrate => {
            let store = Store::connect(config.database_url.expose()).await?;
            let applied = backup::migrate(&store, &config, chrono::Utc::now()).await;
            store.close().await;
            ranah::outln!(
                "{} migration(s) applied; the schema is up to date",
                applied?
            )?;
            Ok(())
        }
        // Said before the store is opened: this copies SQLite only, and says what to do instead.
        Command::Backup { .. }
            if ranah::store::sqlite_file(config.database_url.expose()).is_none() =>
        {
            Err(backup::BackupError::NotSqlite.into())
        }
        Command::Restore { file, force } => {
            let started = std::time::Instant::now();
            let r = backup::restore(&config, &file, force, chrono::Utc::now()).await?;
            print_restored(&r, started.elapsed())?;
            Ok(())
        }
        command => {
            // Every other command works on the store: open it once, close it also on error.
            let store = backup::open_store(&config, chrono::Utc::now()).await?;
            let result = store_command(&store, &config, command).await;
            store.close().await;
            result
        }
    }
}

async fn store_command(store: &Store, config: &Config, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve
        | Command::Client(_)
        | Command::CheckConfig
        | Command::Migrate
        | Command::Restore { .. } => Ok(()),
        Command::Backup { file } => {
            let started = std::time::Instant::now();
            let w = backup::backup(store, &config.data_dir, &file, chrono::Utc::now()).await?;
            let m = &w.manifest;
            let zones: Vec<String> = m
                .zones
                .iter()
                .map(|z| format!("{} {}", z.zone.trim_end_matches('.'), z.serial))
                .collect();
            ranah::outln!(
                "backup written to {}: {} bytes, {} files, schema {}, zones: {}, audit head: {}, in {:.2} s",
                w.path.display(),
                w.size,
                m.files.len(),
                m.schema_version,
                if zones.is_empty() {
                    "none".into()
                } else {
                    zones.join(", ")
                },
                m.audit_head
                    .as_ref()
                    .map_or("none".into(), |h| format!("{}@{}", h.hash, h.seq)),
                started.elapsed().as_secs_f64()
            )?;
            Ok(())
        }
        Command::Agency(cmd) => admin::agency(store, config, cmd).await,
        Command::User(cmd) => admin::user(store, config, cmd).await,
        Command::Token(cmd) => admin::token(store, config, cmd).await,
        Command::Key(cmd) => admin::key(store, config, cmd).await,
        Command::Subdomain(cmd) => admin::subdomain(store, cmd).await,
        Command::Status => admin::status(store).await,
        Command::Check { name, all } => admin::check(store, config, name.as_deref(), all).await,
        Command::Dnssec(DnssecCommand::Ds { zone }) => admin::dnssec_ds(store, &zone).await,
        Command::Dnssec(DnssecCommand::Keys { zone }) => {
            admin::dnssec_status(store, zone.as_deref()).await
        }
        Command::Audit(cmd) => admin::audit(store, cmd).await,
        Command::Cert(cmd) => admin::cert(store, cmd).await,
        Command::Zone(ZoneCommand::Import {
            file,
            origin,
            replace,
        }) => {
            let origin = origin
                .map(|o| Name::from_ascii(&o).with_context(|| format!("invalid --origin {o}")))
                .transpose()?;
            let outcome = import::import_file(
                store,
                &file,
                origin.as_ref(),
                replace,
                &ranah::domain::audit::Attribution::cli(),
                chrono::Utc::now(),
            )
            .await?;
            match outcome {
                ImportOutcome::Created {
                    zone,
                    records,
                    serial,
                } => ranah::outln!("imported {zone}: {records} records, serial {serial}")?,
                ImportOutcome::Replaced {
                    zone,
                    removed,
                    added,
                    serial,
                } => ranah::outln!(
                    "replaced {zone}: {removed} removed, {added} added, serial {serial}"
                )?,
                ImportOutcome::Unchanged { zone } => {
                    ranah::outln!("{zone} is already imported from this file; nothing to do")?
                }
                ImportOutcome::FileDiffers { zone, .. } => anyhow::bail!(
                    "zone {zone} already exists; use --replace to replace its records with the file's"
                ),
            }
            Ok(())
        }
        Command::Zone(ZoneCommand::Export { zone, output }) => {
            let mut origin =
                Name::from_ascii(&zone).with_context(|| format!("invalid zone name {zone}"))?;
            origin.set_fqdn(true);
            let origin = origin.to_lowercase();
            let stored = store
                .load_zone(&origin)
                .await?
                .with_context(|| format!("no zone {origin} in the store"))?;
            let text = file::export(&stored.content);
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => ranah::out!("{text}")?,
            }
            Ok(())
        }
    }
}

/// What `ranah restore` did, for the operator.
fn print_restored(r: &backup::Restored, took: std::time::Duration) -> anyhow::Result<()> {
    use ranah::domain::backup::Seen;
    let m = &r.manifest;
    ranah::outln!(
        "restored the backup of {} (ranah {}, schema {}, manifest SHA-256 {}) in {:.2} s",
        m.created_at,
        m.ranah_version,
        m.schema_version,
        r.manifest_sha256,
        took.as_secs_f64()
    )?;
    match &r.saved {
        Some(p) => ranah::outln!("the replaced store was saved to {}", p.display())?,
        None => ranah::outln!("no store was replaced, or it could not be saved")?,
    }
    for (zone, from, to) in &r.serials {
        ranah::outln!(
            "zone {}: serial {from} in the backup, now {to}",
            zone.trim_end_matches('.')
        )?;
    }
    for s in &r.secondaries {
        let answer = match &s.seen {
            Seen::Serial(n) => format!("serial {n}"),
            Seen::NoCopy(e) => format!("no copy ({e})"),
            Seen::NoAnswer(e) => format!("no answer ({e})"),
        };
        ranah::outln!(
            "secondary {} of {}: {answer}",
            s.secondary,
            s.zone.trim_end_matches('.')
        )?;
    }
    for o in &r.overridden {
        ranah::outln!("overridden with --force: {o}")?;
    }
    if let Some(h) = &r.head {
        ranah::outln!(
            "audit head now {}@{} (store.restored, then one zone.change per zone); start the daemon",
            h.hash,
            h.seq
        )?;
    }
    Ok(())
}
