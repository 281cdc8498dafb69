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
use ranah::cli::{Cli, Command, ZoneCommand};
use ranah::config::{Config, ConfigLayer};
use ranah::publish::import::{self, ImportOutcome};
use ranah::store::Store;
use ranah::zone::file;
use ranah::{daemon, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ranah: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
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
            let applied = store.migrate().await;
            store.close().await;
            ranah::outln!(
                "{} migration(s) applied; the schema is up to date",
                applied?
            )?;
            Ok(())
        }
        command => {
            // Every other command works on the store: open it once, close it also on error.
            let store = Store::open(config.database_url.expose()).await?;
            let result = store_command(&store, &config, command).await;
            store.close().await;
            result
        }
    }
}

async fn store_command(store: &Store, config: &Config, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve | Command::CheckConfig | Command::Migrate => Ok(()),
        Command::Agency(cmd) => admin::agency(store, config, cmd).await,
        Command::User(cmd) => admin::user(store, config, cmd).await,
        Command::Token(cmd) => admin::token(store, config, cmd).await,
        Command::Subdomain(cmd) => admin::subdomain(store, cmd).await,
        Command::Status => admin::status(store).await,
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
