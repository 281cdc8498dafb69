//! Bringing master files into the store: the first-start import of `zones/*.zone` and
//! `ranah zone import`.
//!
//! After a zone is in the store, the store is the truth: the file is not read again at start,
//! only compared by hash so that an edited file is reported (an operator who edits it probably
//! expects the edit to take effect, and must run `ranah zone import --replace`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use hickory_proto::rr::{Name, RData, Record};
use sha2::{Digest, Sha256};

use crate::domain::audit::AuditEntry;
use crate::domain::serial::next_serial;
use crate::store::{ChangeMeta, Store, StoreError, ZoneSource};
use crate::zone::ZoneDiff;
use crate::zone::file::{self, ZoneContent, ZoneFileError};

/// Errors importing a zone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid zone.
    #[error(transparent)]
    Parse(#[from] ZoneFileError),
    /// The zone exists and `--replace` was not given.
    #[error("zone {0} already exists; use --replace to replace its records with the file's")]
    Exists(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new zone was created.
    Created {
        /// Apex.
        zone: String,
        /// Records, the SOA included.
        records: usize,
        /// Serial.
        serial: u32,
    },
    /// An existing zone's records were replaced.
    Replaced {
        /// Apex.
        zone: String,
        /// Records removed.
        removed: usize,
        /// Records added.
        added: usize,
        /// New serial.
        serial: u32,
    },
    /// The zone exists and the file is what was imported before.
    Unchanged {
        /// Apex.
        zone: String,
    },
    /// The zone exists and the file changed since it was imported (the store stays the truth).
    FileDiffers {
        /// Apex.
        zone: String,
        /// The file.
        file: String,
    },
}

/// The zone a file name implies: `kaltaraprov.go.id.zone` → `kaltaraprov.go.id.`.
pub fn origin_from_file_name(path: &Path) -> Option<Name> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".zone")?;
    let mut name = Name::from_ascii(stem).ok()?;
    name.set_fqdn(true);
    Some(name.to_lowercase())
}

fn read(path: &Path) -> Result<(String, String), ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|e| ImportError::Read {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    Ok((text, sha))
}

/// A zone read from its file and checked, not in the store yet.
#[derive(Debug, Clone)]
pub struct NewZone {
    /// The zone's records (without an `_audit` anchor from elsewhere).
    pub content: ZoneContent,
    /// The file it came from.
    pub source: ZoneSource,
}

impl NewZone {
    fn created(&self) -> ImportOutcome {
        ImportOutcome::Created {
            zone: self.content.origin.to_ascii(),
            records: self.content.records.len() + 1,
            serial: self.content.soa_data().map(|s| s.serial).unwrap_or(0),
        }
    }
}

/// What reading a file found.
enum FileRead {
    /// A zone the store does not have.
    New(NewZone),
    /// Nothing to do (the outcome says why).
    Known(ImportOutcome),
    /// The file's records replace the stored zone's.
    Replace {
        stored: Box<crate::store::StoredZone>,
        content: ZoneContent,
        label: String,
    },
}

/// Read and check one file against the store, writing nothing.
async fn read_file(
    store: &Store,
    path: &Path,
    origin: Option<&Name>,
    replace: bool,
) -> Result<FileRead, ImportError> {
    let (text, sha256) = read(path)?;
    let label = path.display().to_string();
    let implied = origin
        .map(|o| {
            let mut o = o.to_lowercase();
            o.set_fqdn(true);
            o
        })
        .or_else(|| origin_from_file_name(path));
    // A zone already in the store is only compared, not parsed again (the store is the truth,
    // and parsing a large file at every start would slow the start down).
    if !replace && let Some(implied) = &implied {
        match store.zone_source(implied).await? {
            Some(Some(s)) if s.sha256 == sha256 => {
                return Ok(FileRead::Known(ImportOutcome::Unchanged {
                    zone: implied.to_ascii(),
                }));
            }
            Some(Some(_)) => {
                return Ok(FileRead::Known(ImportOutcome::FileDiffers {
                    zone: implied.to_ascii(),
                    file: label,
                }));
            }
            Some(None) => return Err(ImportError::Exists(implied.to_ascii())),
            None => {}
        }
    }
    let (mut content, dropped) = file::parse_signed(&text, &label, implied.as_ref())?;
    drop(text);
    if dropped > 0 {
        // A zone signed elsewhere: ranah signs with its own keys (docs/dnssec.md, "Import").
        tracing::warn!(
            file = %label, records = dropped,
            "the file's DNSSEC records (RRSIG, NSEC, NSEC3, DNSKEY, CDS, CDNSKEY) are dropped: \
             ranah signs the zone with its own keys; give the registry ranah's DS \
             (`ranah dnssec ds ZONE`) before the old signer's keys leave the zone"
        );
    }
    // An exported `_audit` anchor from elsewhere is not this installation's: ranah sets its own.
    let origin = content.origin.clone();
    content.records.retain(|r| !file::is_managed(r, &origin));
    let zone = content.origin.to_ascii();
    let source = ZoneSource {
        file: label.clone(),
        sha256,
    };
    let exists = if replace || implied.as_ref() != Some(&content.origin) {
        store.load_zone(&content.origin).await?
    } else {
        // Asked above: not in the store.
        None
    };
    let Some(stored) = exists else {
        return Ok(FileRead::New(NewZone { content, source }));
    };
    if !replace {
        if stored
            .source
            .as_ref()
            .is_some_and(|s| s.sha256 != source.sha256)
        {
            return Ok(FileRead::Known(ImportOutcome::FileDiffers {
                zone,
                file: label,
            }));
        }
        if stored.source.is_some() {
            return Ok(FileRead::Known(ImportOutcome::Unchanged { zone }));
        }
        return Err(ImportError::Exists(zone));
    }
    Ok(FileRead::Replace {
        stored: Box::new(stored),
        content,
        label,
    })
}

/// Put a zone read from its file into the store, with the audit entry of its import. Returns
/// the `_audit` anchor the zone starts with.
pub async fn store_new_zone(
    store: &Store,
    zone: &NewZone,
    actor: &crate::domain::audit::Attribution,
    now: DateTime<Utc>,
) -> Result<ZoneDiff, ImportError> {
    let content = &zone.content;
    let audit = AuditEntry::by(
        actor,
        "zone.import",
        format!("zone/{}", content.origin.to_ascii().trim_end_matches('.')),
        serde_json::json!({
            "serial": content.soa_data().map(|s| s.serial).unwrap_or(0),
            "records": content.records.len() + 1,
            "file": zone.source.file,
            "sha256": zone.source.sha256,
        }),
    );
    Ok(store
        .create_zone(content, Some(&zone.source), &audit, now)
        .await?)
}

/// Import one file. A new zone is created; an existing zone is left alone unless `replace`,
/// which replaces its records with the file's in one journaled change. Nothing is written when
/// the file has an error.
pub async fn import_file(
    store: &Store,
    path: &Path,
    origin: Option<&Name>,
    replace: bool,
    actor: &crate::domain::audit::Attribution,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, ImportError> {
    let (stored, content, label) = match read_file(store, path, origin, replace).await? {
        FileRead::Known(outcome) => return Ok(outcome),
        FileRead::New(zone) => {
            store_new_zone(store, &zone, actor, now).await?;
            return Ok(zone.created());
        }
        FileRead::Replace {
            stored,
            content,
            label,
        } => (stored, content, label),
    };
    let zone = content.origin.to_ascii();
    let diff = replacement_diff(&stored.content, &content, now);
    let serial_before = stored.content.soa_data().map(|s| s.serial).unwrap_or(0);
    let serial = diff
        .soa
        .as_ref()
        .and_then(|r| match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        })
        .unwrap_or(serial_before);
    let meta = ChangeMeta {
        reason: format!("zone import --replace {label}"),
        actor: Some(actor.clone()),
        ..Default::default()
    };
    let audit = super::change_audit(&content.origin, serial_before, &diff, &meta);
    store
        .commit_change(
            &content.origin,
            serial_before,
            &diff,
            &meta,
            &audit,
            now,
            None,
        )
        .await?;
    Ok(ImportOutcome::Replaced {
        zone,
        removed: diff.removed.len(),
        added: diff.added.len(),
        serial,
    })
}

/// The change from `old` to `new`: records only in `old` are removed, records only in `new`
/// (or with another TTL) added. The serial becomes the file's when that is ahead, else the next
/// date-based one, so that secondaries always see it move forward.
fn replacement_diff(old: &ZoneContent, new: &ZoneContent, now: DateTime<Utc>) -> ZoneDiff {
    let key = |r: &Record| {
        (
            r.name.to_ascii(),
            u16::from(r.record_type()),
            r.ttl,
            file::rdata_wire(&r.data).unwrap_or_default(),
        )
    };
    // The `_audit` anchor is ranah's own: a file never removes or sets it.
    let managed = |r: &Record| file::is_managed(r, &old.origin);
    let old_keys: HashSet<_> = old.records.iter().map(key).collect();
    let new_keys: HashSet<_> = new.records.iter().map(key).collect();
    let removed = old
        .records
        .iter()
        .filter(|r| !managed(r) && !new_keys.contains(&key(r)))
        .cloned()
        .collect();
    let added = new
        .records
        .iter()
        .filter(|r| !managed(r) && !old_keys.contains(&key(r)))
        .cloned()
        .collect();
    let current = old.soa_data().map(|s| s.serial).unwrap_or(0);
    let file_serial = new.soa_data().map(|s| s.serial).unwrap_or(0);
    let ahead = file_serial.wrapping_sub(current);
    let serial = if (1..(1u32 << 31)).contains(&ahead) {
        file_serial
    } else {
        next_serial(current, now.date_naive())
    };
    let soa = file::soa_with_serial(&new.soa, serial);
    ZoneDiff {
        removed,
        added,
        soa,
    }
}

/// Read every `*.zone` in `dir` whose zone is not in the store yet, for the caller to serve
/// and store ([`store_new_zone`]); report files that changed since their zone was imported. A
/// bad file is reported and skipped: the other zones are still served.
pub async fn read_zones_dir(store: &Store, dir: &Path) -> Vec<NewZone> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "zone"))
            .collect(),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot read the zones directory");
            return Vec::new();
        }
    };
    files.sort();
    let mut new = Vec::new();
    for file in files {
        let started = std::time::Instant::now();
        match read_file(store, &file, None, false).await {
            Ok(FileRead::New(zone)) => {
                tracing::info!(
                    zone = %zone.content.origin, records = zone.content.records.len() + 1,
                    file = %file.display(), elapsed_ms = started.elapsed().as_millis() as u64,
                    "zone file read"
                );
                if new
                    .iter()
                    .any(|z: &NewZone| z.content.origin == zone.content.origin)
                {
                    tracing::error!(
                        zone = %zone.content.origin, file = %file.display(),
                        "zone not imported: another file of the directory holds it"
                    );
                    continue;
                }
                new.push(zone);
            }
            Ok(FileRead::Known(ImportOutcome::FileDiffers { zone, file })) => tracing::warn!(
                %zone, %file,
                "the zone file changed since it was imported; the store stays the truth \
                 (run `ranah zone import --replace` to apply the file)"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(file = %file.display(), error = %e, "zone not imported"),
        }
    }
    new
}
