//! Backups and restores of the whole store, and the backup taken before migrations.
//!
//! - [`backup`]: a consistent copy while the daemon serves. SQLite's `VACUUM INTO` copies the
//!   database as of one commit; the stored files it refers to are then added (a file is
//!   written, under its SHA-256, before the row that refers to it commits, and never changes or
//!   goes away, so every one the copy names is there); the manifest lists everything with its
//!   SHA-256 (`domain::backup` has the format).
//! - [`restore`]: with the daemon stopped (the data directory's lock says so). The archive is
//!   unpacked beside the store and checked whole (checksums, SQLite's check, the audit chain,
//!   the manifest's serials and head); each configured secondary is asked for its serial, and a
//!   secondary ahead of the backup refuses the restore unless forced; the store being replaced
//!   is saved; then, in the copy, one transaction appends `store.restored` and moves every
//!   zone's serial past everything seen (so the secondaries transfer again), which also moves
//!   each zone's `_audit` TXT to the new head. Only then is the copy put in place.
//! - [`migrate`] / [`open_store`]: pending migrations run only after a backup of the store as
//!   it is (`<data_dir>/backups/pre-migration-<from>-<to>-<time>.tar`, the last
//!   [`backup::KEEP`] kept).

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use hickory_proto::rr::Name;
use serde_json::json;

use crate::config::Config;
use crate::domain::audit::{Attribution, AuditEntry};
use crate::domain::backup::{
    self, AuditHead, Manifest, Member, Refusal, SecondarySeen, Seen, ZoneSerial,
};
use crate::store::archive::{self, ArchiveError};
use crate::store::{ChangeMeta, Files, SerialMove, Store, StoreError, ts};
use crate::zone::ZoneDiff;
use crate::zone::file;

/// The lock file in the data directory: the daemon holds it shared while it runs; a restore
/// takes it exclusively.
pub const LOCK_FILE: &str = "ranah.lock";
/// The folder of automatic backups in the data directory.
pub const BACKUPS_DIR: &str = "backups";
/// How often a secondary that does not answer is asked again.
const ASK_ATTEMPTS: usize = 3;

/// Why a backup, a restore or a migration's backup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The store is not SQLite.
    #[error(
        "ranah backup and restore copy SQLite stores only: back up a PostgreSQL database with \
         pg_dump (and restore it with pg_restore), and copy the data directory's attachments/ \
         folder with it"
    )]
    NotSqlite,
    /// A running ranah holds the data directory.
    #[error(
        "the store in {0} is in use: a ranah daemon holds {0}/{LOCK_FILE}; stop it first \
         (systemctl stop ranah), then restore"
    )]
    InUse(PathBuf),
    /// The restore runs as another user than the data directory's owner.
    #[error(
        "run the restore as the owner of {dir} (uid {owner}; this process is uid {me}), e.g. \
         `sudo -u ranah ranah restore …`: files it writes must belong to the daemon's user"
    )]
    WrongUser {
        /// The data directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's user.
        me: u32,
    },
    /// A restore is replacing the store: the daemon waits for it.
    #[error(
        "a restore is replacing the store in {0} (it holds {0}/{LOCK_FILE}); start the daemon \
         when it has finished"
    )]
    Restoring(PathBuf),
    /// File I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The archive could not be written or is not usable.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The copy in the archive is not what its manifest says, or is damaged.
    #[error("{file}: {reason}")]
    Inconsistent {
        /// The archive.
        file: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The backup's schema is newer than this build's.
    #[error(
        "{file} was made by ranah {version} with schema version {backup}; this ranah knows \
         schema versions up to {known}: restore it with that version or a later one"
    )]
    NewerSchema {
        /// The archive.
        file: PathBuf,
        /// The version of ranah that made it.
        version: String,
        /// Its schema.
        backup: i64,
        /// This build's latest.
        known: i64,
    },
    /// A secondary is ahead of the backup (or did not answer): refused unless forced.
    #[error(
        "restore refused: {}; restoring would put the zone behind its secondaries. Restore \
         a newer backup, or pass --force to restore this one anyway (the zone's serial then \
         moves past the secondaries' so that they transfer it again)",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    SecondariesAhead(Vec<Refusal>),
    /// The store being replaced could not be saved first.
    #[error(
        "the store being replaced cannot be saved first ({0}); pass --force to replace it \
         without a copy"
    )]
    CannotSave(String),
}

impl BackupError {
    /// Whether the disk (or quota) is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Io { source, .. } => crate::store::is_disk_full(source),
            Self::Archive(e) => e.is_disk_full(),
            Self::Store(e) => e.is_disk_full(),
            _ => false,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// An advisory lock on `<data_dir>/ranah.lock`, held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    fn open(data_dir: &Path) -> Result<File, BackupError> {
        private_dir(data_dir)?;
        let path = data_dir.join(LOCK_FILE);
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            // A lock file made by another user can still be locked through a read-only open.
            .or_else(|_| File::open(&path))
            .map_err(io_err(format!("cannot open {}", path.display())))
    }

    /// The daemon's lock: shared, so that several daemons on one store still start, and a
    /// restore sees that the store is in use.
    pub fn shared(data_dir: &Path) -> Result<Self, BackupError> {
        let file = Self::open(data_dir)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(BackupError::Restoring(data_dir.to_owned()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io_err(format!(
                "cannot lock {}",
                data_dir.join(LOCK_FILE).display()
            ))(e)),
        }
    }

    /// A restore's lock: refused while a daemon runs on the data directory.
    pub fn exclusive(data_dir: &Path) -> Result<Self, BackupError> {
        let file = Self::open(data_dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::InUse(data_dir.to_owned())),
            Err(std::fs::TryLockError::Error(e)) => Err(io_err(format!(
                "cannot lock {}",
                data_dir.join(LOCK_FILE).display()
            ))(e)),
        }
    }
}

/// A backup written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The archive.
    pub path: PathBuf,
    /// What it holds.
    pub manifest: Manifest,
    /// Its size in bytes.
    pub size: u64,
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write a backup of `store` (whose stored files are under `data_dir`) to `dest`: a tar
/// archive, gzip-compressed when the name ends in `.gz` or `.tgz`, mode 0600, complete or not
/// there at all. Safe while the daemon serves.
pub async fn backup(
    store: &Store,
    data_dir: &Path,
    dest: &Path,
    now: DateTime<Utc>,
) -> Result<Written, BackupError> {
    let folder = folder_of(dest);
    // A private folder beside the archive (mode 0700) for the copy of the database and the
    // archive while it is written; removed when done, whatever happens.
    let work = tempfile::Builder::new()
        .prefix(".ranah-backup-")
        .tempdir_in(folder)
        .map_err(io_err(format!("cannot write in {}", folder.display())))?;
    let copy = work.path().join(backup::DATABASE);
    store.snapshot_to(&copy).await?;
    // What the manifest says is read from the copy itself, so it describes exactly the copy.
    let snapshot = Store::open_copy(&copy).await?;
    let facts = async {
        Ok::<_, StoreError>((
            snapshot.schema_version().await?.unwrap_or(0),
            snapshot.zone_serials().await?,
            snapshot.audit_head().await?,
            snapshot.stored_file_hashes().await?,
        ))
    }
    .await;
    snapshot.close().await;
    let (schema_version, zones, head, stored) = facts?;
    let manifest = Manifest {
        format: backup::FORMAT.into(),
        ranah_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        created_at: ts(now),
        zones: zones
            .into_iter()
            .map(|(zone, serial)| ZoneSerial {
                zone: zone.to_ascii(),
                serial,
            })
            .collect(),
        audit_head: head.map(|(seq, hash)| AuditHead { seq, hash }),
        files: Vec::new(),
    };
    let tmp = work.path().join("archive.tmp");
    let attachments = Files::folder(data_dir);
    // The key ranah made to seal the DNSSEC keys goes with them (a configured key is the
    // operator's to keep, as the ACME one).
    let kek = Some(data_dir.join(backup::KEY_ENCRYPTION_KEY)).filter(|p| p.is_file());
    let target = dest.to_owned();
    let mtime = u64::try_from(now.timestamp()).unwrap_or(0);
    let (manifest, size) = tokio::task::spawn_blocking(move || {
        archive::write(
            &target,
            &tmp,
            &copy,
            &attachments,
            &stored,
            kek.as_deref(),
            manifest,
            mtime,
        )
    })
    .await
    .map_err(|e| io_err("the backup's writer failed")(std::io::Error::other(e)))??;
    drop(work);
    Ok(Written {
        path: dest.to_owned(),
        manifest,
        size,
    })
}

/// Create `dir` (and its parents) if needed, mode 0700: it holds the store's data.
fn private_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(format!("cannot create {}", dir.display())))
}

/// `<data_dir>/backups`, created (mode 0700) if needed.
fn backups_dir(data_dir: &Path) -> Result<PathBuf, BackupError> {
    let dir = data_dir.join(BACKUPS_DIR);
    private_dir(&dir)?;
    Ok(dir)
}

/// Delete the automatic backups with `prefix` beyond the newest [`backup::KEEP`].
fn prune(dir: &Path, prefix: &str) {
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect(),
        Err(_) => return,
    };
    for name in backup::to_prune(&names, prefix, backup::KEEP) {
        match std::fs::remove_file(dir.join(&name)) {
            Ok(()) => tracing::info!(file = %dir.join(&name).display(), "old backup deleted"),
            Err(e) => {
                tracing::warn!(file = %dir.join(&name).display(), error = %e, "cannot delete an old backup")
            }
        }
    }
}

/// Apply pending migrations, after writing a backup of the store as it is when there are any
/// (a new, empty database has nothing to back up). Returns how many were applied.
pub async fn migrate(
    store: &Store,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<usize, BackupError> {
    let to = crate::store::latest_schema_version();
    if let Some(from) = store.schema_version().await?
        && from < to
    {
        let dir = backups_dir(&config.data_dir)?;
        let dest = dir.join(backup::pre_migration_name(from, to, now));
        let written = backup(store, &config.data_dir, &dest, now)
            .await
            .map_err(|e| BackupError::Io {
                what: format!(
                    "cannot back up the store before migrating it from schema {from} to {to}; \
                     nothing was migrated"
                ),
                source: std::io::Error::other(e.to_string()),
            })?;
        tracing::info!(
            file = %written.path.display(), from, to, bytes = written.size,
            "backed up the store before migrating it"
        );
        prune(&dir, backup::PRE_MIGRATION);
    }
    Ok(store.migrate().await?)
}

/// Open the store of `config`, backing it up first when migrations are pending
/// (see [`migrate`]).
pub async fn open_store(config: &Config, now: DateTime<Utc>) -> Result<Store, BackupError> {
    let store = Store::connect(config.database_url.expose()).await?;
    match migrate(&store, config, now).await {
        Ok(_) => Ok(store),
        Err(e) => {
            store.close().await;
            Err(e)
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// SHA-256 of the manifest's bytes: names the backup in the audit trail.
    pub manifest_sha256: String,
    /// Each zone: the backup's serial and the serial now stored.
    pub serials: Vec<(String, u32, u32)>,
    /// What each secondary answered.
    pub secondaries: Vec<SecondarySeen>,
    /// The refusals `--force` overrode.
    pub overridden: Vec<Refusal>,
    /// The head of the trail replaced, when there was a store and it could be read.
    pub replaced_head: Option<AuditHead>,
    /// Where the replaced store was saved.
    pub saved: Option<PathBuf>,
    /// The trail's head after the restore.
    pub head: Option<AuditHead>,
}

/// The store a restore replaces, as far as it can be read.
enum Replaced {
    None,
    Unreadable(String),
    Read {
        store: Store,
        head: Option<AuditHead>,
        serials: BTreeMap<String, u32>,
    },
}

async fn read_replaced(url: &str, db: &Path) -> Replaced {
    if !db.exists() {
        return Replaced::None;
    }
    let store = match Store::connect(url).await {
        Ok(s) => s,
        Err(e) => return Replaced::Unreadable(e.to_string()),
    };
    let read = async {
        let check = store.quick_check().await?;
        if check != "ok" {
            return Err(StoreError::Corrupt(check));
        }
        Ok((store.audit_head().await?, store.zone_serials().await?))
    }
    .await;
    match read {
        Ok((head, serials)) => Replaced::Read {
            store,
            head: head.map(|(seq, hash)| AuditHead { seq, hash }),
            serials: serials
                .into_iter()
                .map(|(z, s)| (z.to_ascii().to_ascii_lowercase(), s))
                .collect(),
        },
        Err(e) => {
            store.close().await;
            Replaced::Unreadable(e.to_string())
        }
    }
}

/// Ask every configured secondary of a zone in the backup for its serial, all at once; one
/// that does not answer is asked again, up to [`ASK_ATTEMPTS`] times.
async fn ask_secondaries(
    config: &Config,
    zones: &[ZoneSerial],
) -> Result<Vec<SecondarySeen>, BackupError> {
    let (_, list) = crate::dns::secondaries::from_config(
        &config.tsig_keys,
        &config.secondaries,
        config.dns.ixfr_journal_depth,
    )
    .map_err(|e| io_err("the configured secondaries")(std::io::Error::other(e)))?;
    let mut asks = tokio::task::JoinSet::new();
    for (i, secondary) in list.into_iter().enumerate() {
        let zone = secondary.zone.to_ascii();
        if !zones.iter().any(|z| z.zone.eq_ignore_ascii_case(&zone)) {
            continue;
        }
        asks.spawn(async move {
            let mut seen = Seen::NoAnswer("not asked".into());
            for _ in 0..ASK_ATTEMPTS {
                seen = crate::dns::secondaries::ask_serial(&secondary).await;
                if !matches!(seen, Seen::NoAnswer(_)) {
                    break;
                }
            }
            (
                i,
                SecondarySeen {
                    zone,
                    secondary: secondary.id,
                    seen,
                },
            )
        });
    }
    let mut seen: Vec<(usize, SecondarySeen)> =
        asks.join_all().await.into_iter().collect::<Vec<_>>();
    seen.sort_by_key(|(i, _)| *i);
    Ok(seen.into_iter().map(|(_, s)| s).collect())
}

/// Check the staged copy against its manifest: SQLite's own check, the schema (not newer than
/// this build's), the audit chain and its head, the zones' serials.
async fn check_copy(
    copy: &Store,
    manifest: &Manifest,
    archive_path: &Path,
) -> Result<(), BackupError> {
    let inconsistent = |reason: String| BackupError::Inconsistent {
        file: archive_path.to_owned(),
        reason,
    };
    let check = copy.quick_check().await?;
    if check != "ok" {
        return Err(inconsistent(format!("the database is damaged: {check}")));
    }
    let version = copy.schema_version().await?.unwrap_or(0);
    if version != manifest.schema_version {
        return Err(inconsistent(format!(
            "the database has schema version {version}, the manifest says {}",
            manifest.schema_version
        )));
    }
    let known = crate::store::latest_schema_version();
    if version > known {
        return Err(BackupError::NewerSchema {
            file: archive_path.to_owned(),
            version: manifest.ranah_version.clone(),
            backup: version,
            known,
        });
    }
    let verification = copy.verify_audit().await?;
    if !verification.ok {
        return Err(inconsistent(format!(
            "its audit trail does not verify (first bad event: {:?})",
            verification.first_bad
        )));
    }
    let head = copy
        .audit_head()
        .await?
        .map(|(seq, hash)| AuditHead { seq, hash });
    if head != manifest.audit_head {
        return Err(inconsistent(format!(
            "the audit trail's head is {head:?}, the manifest says {:?}",
            manifest.audit_head
        )));
    }
    let zones: Vec<ZoneSerial> = copy
        .zone_serials()
        .await?
        .into_iter()
        .map(|(zone, serial)| ZoneSerial {
            zone: zone.to_ascii(),
            serial,
        })
        .collect();
    if zones != manifest.zones {
        return Err(inconsistent(format!(
            "the zones' serials are {zones:?}, the manifest says {:?}",
            manifest.zones
        )));
    }
    Ok(())
}

/// Move `from` to `to` (replacing it): a rename, or a copy, sync and rename when they are on
/// different file systems.
fn move_file(from: &Path, to: &Path) -> Result<(), BackupError> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            let tmp = to.with_extension("restoring");
            std::fs::copy(from, &tmp)
                .and_then(|_| File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, to))
                .map_err(io_err(format!("cannot write {}", to.display())))
        }
        Err(e) => Err(io_err(format!(
            "cannot move the restored database to {}",
            to.display()
        ))(e)),
    }
}

/// Restore the archive `file` into the store and data directory of `config` (the daemon
/// stopped). Refused while a daemon holds the data directory, when the archive is not a
/// complete, consistent backup, and (unless `force`) when a secondary serves a zone at a
/// serial ahead of the backup's or does not answer.
pub async fn restore(
    config: &Config,
    file: &Path,
    force: bool,
    now: DateTime<Utc>,
) -> Result<Restored, BackupError> {
    let url = config.database_url.expose();
    let db = crate::store::sqlite_file(url).ok_or(BackupError::NotSqlite)?;
    let data_dir = &config.data_dir;
    private_dir(data_dir)?;
    // Everything is unpacked and prepared here (mode 0700), on the data directory's file
    // system, and moved into place only at the end.
    let staging = tempfile::Builder::new()
        .prefix(".ranah-restore-")
        .tempdir_in(data_dir)
        .map_err(io_err(format!("cannot write in {}", data_dir.display())))?;
    let owner = std::fs::metadata(data_dir)
        .map_err(io_err(format!("cannot read {}", data_dir.display())))?
        .uid();
    let me = std::fs::metadata(staging.path())
        .map_err(io_err(format!("cannot read {}", staging.path().display())))?
        .uid();
    if owner != me {
        return Err(BackupError::WrongUser {
            dir: data_dir.clone(),
            owner,
            me,
        });
    }
    let _lock = DataDirLock::exclusive(data_dir)?;

    let into = staging.path().to_owned();
    let archive_path = file.to_owned();
    let (manifest, manifest_sha256) =
        tokio::task::spawn_blocking(move || archive::unpack(&archive_path, &into))
            .await
            .map_err(|e| io_err("the backup's reader failed")(std::io::Error::other(e)))??;
    let staged_db = staging.path().join(backup::DATABASE);
    let copy = Store::open_copy(&staged_db).await?;
    let prepared = prepare(config, &copy, file, &manifest, &manifest_sha256, force, now).await;
    copy.close().await;
    let mut restored = prepared?;

    // Put the copy in place. Stored files first (added to what is there: they are named by
    // their content), then the database in one rename, then the files only the replaced store
    // referred to (saved with it) are removed: a crash at any point leaves a database whose
    // files are all there.
    let files = Files::folder(data_dir);
    private_dir(&files)?;
    let mut kept = HashSet::new();
    for f in &restored.manifest.files {
        if let Ok(Member::Attachment(sha)) = backup::member(&f.path) {
            let dest = files.join(&sha);
            if !dest.exists() {
                move_file(&staging.path().join(&f.path), &dest)?;
            }
            kept.insert(sha);
        }
    }
    archive::sync_dir(&files.join("x"));
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut stale = db.clone().into_os_string();
        stale.push(suffix);
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("cannot remove {}", stale.display()))(e)),
        }
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    move_file(&staged_db, &db)?;
    archive::sync_dir(&db);
    // The restored keys open with the key they were sealed with.
    if restored
        .manifest
        .files
        .iter()
        .any(|f| f.path == backup::KEY_ENCRYPTION_KEY)
    {
        let kek = data_dir.join(backup::KEY_ENCRYPTION_KEY);
        move_file(&staging.path().join(backup::KEY_ENCRYPTION_KEY), &kek)?;
        archive::sync_dir(&kek);
    }
    if restored.saved.is_some() {
        for entry in std::fs::read_dir(&files)
            .map_err(io_err(format!("cannot read {}", files.display())))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if backup::member(&backup::attachment_path(&name)).is_ok() && !kept.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    restored.manifest_sha256 = manifest_sha256;
    Ok(restored)
}

/// Everything a restore decides and writes in the staged copy, before it is put in place.
async fn prepare(
    config: &Config,
    copy: &Store,
    file: &Path,
    manifest: &Manifest,
    manifest_sha256: &str,
    force: bool,
    now: DateTime<Utc>,
) -> Result<Restored, BackupError> {
    check_copy(copy, manifest, file).await?;
    let url = config.database_url.expose();
    let db = crate::store::sqlite_file(url).ok_or(BackupError::NotSqlite)?;
    let replaced = read_replaced(url, &db).await;
    let decided = decide_and_save(config, manifest, &replaced, force, now).await;
    if let Replaced::Read { store, .. } = &replaced {
        store.close().await;
    }
    let (seen, overridden, saved) = decided?;

    copy.migrate().await?;
    let (replaced_head, replaced_serials, replaced_note) = match &replaced {
        Replaced::None => (None, BTreeMap::new(), json!("none")),
        Replaced::Unreadable(e) => (None, BTreeMap::new(), json!(format!("unreadable: {e}"))),
        Replaced::Read { head, serials, .. } => (head.clone(), serials.clone(), json!("read")),
    };
    let today = now.date_naive();
    let mut moves = Vec::new();
    let mut serials = Vec::new();
    for z in &manifest.zones {
        let origin = Name::from_ascii(&z.zone)
            .map_err(|e| StoreError::Corrupt(format!("zone name {}: {e}", z.zone)))?;
        let stored = copy
            .load_zone(&origin)
            .await?
            .ok_or_else(|| StoreError::NoSuchZone(z.zone.clone()))?;
        let replaced_serial = replaced_serials.get(&z.zone.to_ascii_lowercase()).copied();
        let serial = backup::restored_serial(&z.zone, z.serial, replaced_serial, &seen, today);
        let soa = file::soa_with_serial(&stored.content.soa, serial)
            .ok_or_else(|| StoreError::Corrupt(format!("the SOA of {}", z.zone)))?;
        let diff = ZoneDiff {
            removed: Vec::new(),
            added: Vec::new(),
            soa: Some(soa),
        };
        let meta = ChangeMeta {
            reason: "store restored from a backup".into(),
            actor: Some(Attribution::cli()),
            ..ChangeMeta::default()
        };
        let audit = crate::publish::change_audit(&origin, z.serial, &diff, &meta);
        serials.push((z.zone.clone(), z.serial, serial));
        moves.push(SerialMove {
            origin,
            serial_before: z.serial,
            diff,
            meta,
            audit,
        });
    }
    let head_json = |h: &Option<AuditHead>| {
        h.as_ref()
            .map(|h| json!({"seq": h.seq, "hash": h.hash}))
            .unwrap_or(serde_json::Value::Null)
    };
    let entry = AuditEntry::cli(
        "store.restored",
        "store",
        json!({
            "manifest_sha256": manifest_sha256,
            "backup_created_at": manifest.created_at,
            "backup_ranah_version": manifest.ranah_version,
            "backup_schema_version": manifest.schema_version,
            "backup_head": head_json(&manifest.audit_head),
            "replaced_store": replaced_note,
            "replaced_head": head_json(&replaced_head),
            "saved_to": saved.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()),
            "forced": force,
            "overridden": overridden.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "secondaries": seen.iter().map(|s| json!({
                "zone": s.zone,
                "secondary": s.secondary,
                "serial": match s.seen { Seen::Serial(n) => json!(n), _ => serde_json::Value::Null },
                "answer": match &s.seen {
                    Seen::Serial(_) => "serial".to_owned(),
                    Seen::NoCopy(e) | Seen::NoAnswer(e) => e.clone(),
                },
            })).collect::<Vec<_>>(),
            "serials": serials.iter().map(|(zone, from, to)| json!({
                "zone": zone, "backup": from, "restored": to,
                "replaced": replaced_serials.get(&zone.to_ascii_lowercase()),
            })).collect::<Vec<_>>(),
        }),
    );
    copy.commit_restore(&entry, &moves, now).await?;
    let verification = copy.verify_audit().await?;
    if !verification.ok {
        return Err(StoreError::Corrupt("the restored audit trail does not verify".into()).into());
    }
    let head = copy
        .audit_head()
        .await?
        .map(|(seq, hash)| AuditHead { seq, hash });
    Ok(Restored {
        manifest: manifest.clone(),
        manifest_sha256: manifest_sha256.to_owned(),
        serials,
        secondaries: seen,
        overridden,
        replaced_head,
        saved,
        head,
    })
}

type Decision = (Vec<SecondarySeen>, Vec<Refusal>, Option<PathBuf>);

/// Ask the secondaries, refuse (unless forced) when one is ahead or silent, and save the store
/// being replaced.
async fn decide_and_save(
    config: &Config,
    manifest: &Manifest,
    replaced: &Replaced,
    force: bool,
    now: DateTime<Utc>,
) -> Result<Decision, BackupError> {
    let seen = ask_secondaries(config, &manifest.zones).await?;
    let refusals = backup::refusals(&manifest.zones, &seen);
    if !refusals.is_empty() && !force {
        return Err(BackupError::SecondariesAhead(refusals));
    }
    for r in &refusals {
        tracing::warn!(refusal = %r, "restoring anyway (--force)");
    }
    let saved = match replaced {
        Replaced::None => None,
        Replaced::Unreadable(e) if force => {
            tracing::warn!(error = %e, "the store being replaced cannot be read; it is not saved (--force)");
            None
        }
        Replaced::Unreadable(e) => return Err(BackupError::CannotSave(e.clone())),
        Replaced::Read { store, .. } => {
            let dir = backups_dir(&config.data_dir)?;
            let dest = dir.join(backup::pre_restore_name(now));
            match backup(store, &config.data_dir, &dest, now).await {
                Ok(w) => {
                    prune(&dir, backup::PRE_RESTORE);
                    Some(w.path)
                }
                Err(e) if force => {
                    tracing::warn!(error = %e, "the store being replaced cannot be saved; replacing it anyway (--force)");
                    None
                }
                Err(e) => return Err(BackupError::CannotSave(e.to_string())),
            }
        }
    };
    Ok((seen, refusals, saved))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Daemons share the data directory; a restore excludes them, and they it.
    #[test]
    fn the_data_directory_lock() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let one = DataDirLock::shared(&data).unwrap();
        let two = DataDirLock::shared(&data).unwrap();
        let e = DataDirLock::exclusive(&data).unwrap_err();
        assert!(matches!(e, BackupError::InUse(_)), "{e}");
        assert!(e.to_string().contains("stop it first"), "{e}");
        drop((one, two));
        let restoring = DataDirLock::exclusive(&data).unwrap();
        let e = DataDirLock::shared(&data).unwrap_err();
        assert!(matches!(e, BackupError::Restoring(_)), "{e}");
        drop(restoring);
        DataDirLock::shared(&data).unwrap();
    }
}
