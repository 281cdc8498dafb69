//! Backups: what an archive holds (its manifest, and the only names it may contain), when a
//! restore must be refused because a secondary holds a newer copy of a zone, the serial a
//! restored zone moves to, and which old automatic backups are pruned.
//!
//! An archive is a tar file (gzip-compressed when its name ends in `.gz` or `.tgz`) holding
//! `ranah.db` (a consistent copy of the SQLite store), `attachments/<sha256>` for every stored
//! file the copy refers to, and `manifest.json` last: the [`Manifest`], which lists every other
//! member with its SHA-256 and size.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::serial::{is_ahead, next_serial_after_all};

/// The manifest's `format`: changes when the archive's layout changes.
pub const FORMAT: &str = "ranah-backup/1";
/// The member holding the database.
pub const DATABASE: &str = "ranah.db";
/// The member holding the manifest.
pub const MANIFEST: &str = "manifest.json";
/// The folder of stored files inside the archive (as in the data directory).
pub const ATTACHMENTS: &str = "attachments";
/// The key that seals the DNSSEC keys when ranah made it itself (in the data directory, and
/// under this name in an archive): without it the restored keys cannot be opened.
pub const KEY_ENCRYPTION_KEY: &str = "dnssec.kek";
/// How many automatic backups of each kind (before a migration, before a restore) are kept in
/// `<data_dir>/backups/`; older ones are deleted when a new one is written.
pub const KEEP: usize = 5;
/// Name prefix of the backups written before migrations.
pub const PRE_MIGRATION: &str = "pre-migration-";
/// Name prefix of the copies of a store saved before a restore replaced it.
pub const PRE_RESTORE: &str = "pre-restore-";

/// What an archive holds, written last into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The version of ranah that wrote it.
    pub ranah_version: String,
    /// The last migration applied to the copied store.
    pub schema_version: i64,
    /// When the copy was taken (RFC 3339, UTC, milliseconds).
    pub created_at: String,
    /// Every zone and its serial in the copy.
    pub zones: Vec<ZoneSerial>,
    /// The audit trail's head in the copy (none when the trail is empty).
    pub audit_head: Option<AuditHead>,
    /// Every other member, with its SHA-256 (hex) and size.
    pub files: Vec<FileEntry>,
}

/// A zone's apex (absolute, lower case) and serial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSerial {
    /// The apex, e.g. `example.go.id.`.
    pub zone: String,
    /// Its SOA serial.
    pub serial: u32,
}

/// The audit trail's last event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    /// Its sequence number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its name in the archive.
    pub path: String,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a member of an archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// The database.
    Database,
    /// A stored file, named by its SHA-256.
    Attachment(String),
    /// The key that seals the DNSSEC keys ([`KEY_ENCRYPTION_KEY`]).
    KeyEncryptionKey,
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The archive path of the stored file `sha256`.
pub fn attachment_path(sha256: &str) -> String {
    format!("{ATTACHMENTS}/{sha256}")
}

/// What the member named `path` is: only the database and `attachments/<sha256>` are allowed,
/// so that unpacking never writes outside its folder or anything else.
pub fn member(path: &str) -> Result<Member, String> {
    if path == DATABASE {
        return Ok(Member::Database);
    }
    if path == KEY_ENCRYPTION_KEY {
        return Ok(Member::KeyEncryptionKey);
    }
    match path
        .strip_prefix(ATTACHMENTS)
        .and_then(|p| p.strip_prefix('/'))
    {
        Some(sha) if is_sha256(sha) => Ok(Member::Attachment(sha.to_owned())),
        _ => Err(format!("unexpected member {path:?}")),
    }
}

impl Manifest {
    /// Check what the manifest itself says: a known format, exactly one database, allowed
    /// member names each listed once, attachments named by their own SHA-256.
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format {:?} is not {FORMAT:?} (made by another program or a newer ranah)",
                self.format
            ));
        }
        let mut seen = HashSet::new();
        let mut databases = 0;
        for f in &self.files {
            if !seen.insert(f.path.as_str()) {
                return Err(format!("{} is listed twice", f.path));
            }
            if !is_sha256(&f.sha256) {
                return Err(format!("{}: {:?} is not a SHA-256", f.path, f.sha256));
            }
            match member(&f.path)? {
                Member::Database => databases += 1,
                Member::Attachment(sha) if sha != f.sha256 => {
                    return Err(format!("{} is listed with another SHA-256", f.path));
                }
                Member::Attachment(_) | Member::KeyEncryptionKey => {}
            }
        }
        if databases != 1 {
            return Err(format!("it lists no {DATABASE}"));
        }
        Ok(())
    }

    /// The serial of `zone` in the copy.
    pub fn serial_of(&self, zone: &str) -> Option<u32> {
        self.zones
            .iter()
            .find(|z| z.zone.eq_ignore_ascii_case(zone))
            .map(|z| z.serial)
    }
}

/// What a secondary answered when asked for a zone's SOA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// It serves the zone at this serial.
    Serial(u32),
    /// It answered without a serial (it has no copy of the zone: REFUSED, SERVFAIL…).
    NoCopy(String),
    /// It did not answer (timeout, unreachable): its serial is unknown.
    NoAnswer(String),
}

/// A configured secondary of a zone and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondarySeen {
    /// The zone's apex.
    pub zone: String,
    /// The secondary (its NOTIFY address).
    pub secondary: String,
    /// Its answer.
    pub seen: Seen,
}

/// Why a restore is refused (unless forced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A secondary serves a newer serial than the backup's: restoring would go behind it.
    Ahead {
        /// The zone.
        zone: String,
        /// The secondary.
        secondary: String,
        /// The serial it serves.
        serial: u32,
        /// The backup's serial.
        backup: u32,
    },
    /// A secondary did not answer: whether it is ahead is unknown.
    Unknown {
        /// The zone.
        zone: String,
        /// The secondary.
        secondary: String,
        /// Why there was no answer.
        error: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ahead {
                zone,
                secondary,
                serial,
                backup,
            } => write!(
                f,
                "secondary {secondary} serves {zone} at serial {serial}, ahead of the backup's \
                 serial {backup}"
            ),
            Self::Unknown {
                zone,
                secondary,
                error,
            } => write!(
                f,
                "secondary {secondary} did not answer for {zone} ({error}): whether it is ahead \
                 of the backup is unknown"
            ),
        }
    }
}

/// The reasons to refuse restoring a backup with the zones `backup` while the secondaries
/// answered `seen`: each secondary of a zone in the backup that serves a serial ahead of the
/// backup's (RFC 1982), or that did not answer. A secondary without a copy of the zone is no
/// reason; neither is a zone the backup does not hold.
pub fn refusals(backup: &[ZoneSerial], seen: &[SecondarySeen]) -> Vec<Refusal> {
    let mut out = Vec::new();
    for s in seen {
        let Some(zone) = backup.iter().find(|z| z.zone.eq_ignore_ascii_case(&s.zone)) else {
            continue;
        };
        match &s.seen {
            Seen::Serial(serial) if is_ahead(*serial, zone.serial) => out.push(Refusal::Ahead {
                zone: zone.zone.clone(),
                secondary: s.secondary.clone(),
                serial: *serial,
                backup: zone.serial,
            }),
            Seen::NoAnswer(error) => out.push(Refusal::Unknown {
                zone: zone.zone.clone(),
                secondary: s.secondary.clone(),
                error: error.clone(),
            }),
            Seen::Serial(_) | Seen::NoCopy(_) => {}
        }
    }
    out
}

/// The serial a restored zone moves to: past the backup's, past the serial of the store it
/// replaces (what the secondaries were last sent) and past every serial a secondary answered,
/// so that every secondary sees a newer zone and transfers it again.
pub fn restored_serial(
    zone: &str,
    backup: u32,
    replaced: Option<u32>,
    seen: &[SecondarySeen],
    today: NaiveDate,
) -> u32 {
    let answered = seen.iter().filter_map(|s| match s.seen {
        Seen::Serial(serial) if s.zone.eq_ignore_ascii_case(zone) => Some(serial),
        _ => None,
    });
    next_serial_after_all(
        std::iter::once(backup).chain(replaced).chain(answered),
        today,
    )
}

/// The time in a backup's file name: `20260123T101500Z` (sorts as time does).
pub fn file_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The name of the backup written before migrating from schema `from` to `to` at `t`.
pub fn pre_migration_name(from: i64, to: i64, t: DateTime<Utc>) -> String {
    format!("{PRE_MIGRATION}{from:04}-{to:04}-{}.tar", file_stamp(t))
}

/// The name of the copy of a store saved before a restore replaced it at `t`.
pub fn pre_restore_name(t: DateTime<Utc>) -> String {
    format!("{PRE_RESTORE}{}.tar", file_stamp(t))
}

/// Of the file `names` in the backups folder, those to delete so that the newest `keep` with
/// `prefix` stay (newest by the time at the end of the name). Other files are never touched.
pub fn to_prune(names: &[String], prefix: &str, keep: usize) -> Vec<String> {
    let mut ours: Vec<(&str, &String)> = names
        .iter()
        .filter_map(|n| {
            let stem = n.strip_prefix(prefix)?.strip_suffix(".tar")?;
            let stamp = stem.rsplit('-').next()?;
            Some((stamp, n))
        })
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep);
    ours.into_iter()
        .take(excess)
        .map(|(_, n)| n.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn manifest(files: Vec<FileEntry>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            ranah_version: "0.1.0".into(),
            schema_version: 15,
            created_at: "2026-01-23T10:15:00.000Z".into(),
            zones: vec![ZoneSerial {
                zone: "example.go.id.".into(),
                serial: 2026012300,
            }],
            audit_head: None,
            files,
        }
    }

    fn file(path: &str, sha256: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            sha256: sha256.into(),
            size: 4,
        }
    }

    #[test]
    fn members() {
        assert_eq!(member("ranah.db"), Ok(Member::Database));
        assert_eq!(
            member(&format!("attachments/{SHA}")),
            Ok(Member::Attachment(SHA.into()))
        );
        for bad in [
            "../ranah.db",
            "/etc/passwd",
            "attachments/../../x",
            "attachments/",
            &format!("attachments/{}", SHA.to_uppercase()),
            &format!("attachments/{SHA}/x"),
            &format!("./attachments/{SHA}"),
            "manifest.json",
            "ranah.db-wal",
        ] {
            assert!(member(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifest_checks() {
        let db = file("ranah.db", SHA);
        let att = file(&format!("attachments/{SHA}"), SHA);
        assert_eq!(manifest(vec![db.clone(), att.clone()]).check(), Ok(()));
        assert!(manifest(vec![att.clone()]).check().is_err(), "no database");
        assert!(manifest(vec![db.clone(), db.clone()]).check().is_err());
        let other = "0".repeat(64);
        assert!(
            manifest(vec![
                db.clone(),
                file(&format!("attachments/{SHA}"), &other)
            ])
            .check()
            .is_err(),
            "an attachment is named by its hash"
        );
        let mut m = manifest(vec![db]);
        m.format = "ranah-backup/2".into();
        assert!(m.check().unwrap_err().contains("ranah-backup/2"));
        // The manifest is JSON a reader understands without ranah.
        let text = serde_json::to_string(&manifest(vec![att])).unwrap();
        assert!(text.contains(r#""audit_head":null"#), "{text}");
    }

    fn seen(secondary: &str, seen: Seen) -> SecondarySeen {
        SecondarySeen {
            zone: "example.go.id.".into(),
            secondary: secondary.into(),
            seen,
        }
    }

    #[test]
    fn refused_when_a_secondary_is_ahead_or_silent() {
        let backup = manifest(vec![]).zones;
        let all = [
            seen("192.0.2.1:53", Seen::Serial(2026012305)),
            seen("192.0.2.2:53", Seen::Serial(2026012300)),
            seen("192.0.2.3:53", Seen::Serial(2026010100)),
            seen("192.0.2.4:53", Seen::NoCopy("REFUSED".into())),
            seen("192.0.2.5:53", Seen::NoAnswer("timeout".into())),
            SecondarySeen {
                zone: "other.example.".into(),
                secondary: "192.0.2.6:53".into(),
                seen: Seen::Serial(4_000_000_000),
            },
        ];
        let r = refusals(&backup, &all);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            r[0].to_string(),
            "secondary 192.0.2.1:53 serves example.go.id. at serial 2026012305, ahead of the \
             backup's serial 2026012300"
        );
        assert!(matches!(&r[1], Refusal::Unknown { secondary, .. } if secondary == "192.0.2.5:53"));
        assert!(refusals(&backup, &all[1..4]).is_empty());
    }

    #[test]
    fn the_restored_serial_passes_everything_seen() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 23).unwrap();
        let all = [
            seen("a", Seen::Serial(2026012307)),
            seen("b", Seen::NoAnswer("timeout".into())),
        ];
        assert_eq!(
            restored_serial("example.go.id.", 2026012300, Some(2026012304), &all, today),
            2026012308
        );
        assert_eq!(
            restored_serial("EXAMPLE.go.id.", 2026012300, Some(2026012309), &all, today),
            2026012310
        );
        // Nothing newer anywhere: still a step forward, so the secondaries transfer again.
        assert_eq!(
            restored_serial("example.go.id.", 2026012300, None, &[], today),
            2026012301
        );
        let tomorrow = today.succ_opt().unwrap();
        assert_eq!(
            restored_serial("example.go.id.", 2026012300, None, &all, tomorrow),
            2026012400
        );
    }

    #[test]
    fn pruning_keeps_the_newest() {
        let names: Vec<String> = [
            "pre-migration-0013-0014-20250101T000000Z.tar",
            "pre-migration-0014-0015-20260101T000000Z.tar",
            "pre-migration-0012-0013-20240101T000000Z.tar",
            "pre-restore-20200101T000000Z.tar",
            "mine.tar",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            to_prune(&names, PRE_MIGRATION, 2),
            ["pre-migration-0012-0013-20240101T000000Z.tar"]
        );
        assert!(to_prune(&names, PRE_MIGRATION, 5).is_empty());
        assert_eq!(
            to_prune(&names, PRE_RESTORE, 0),
            ["pre-restore-20200101T000000Z.tar"]
        );
        let t = DateTime::parse_from_rfc3339("2026-01-23T10:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            pre_migration_name(14, 15, t),
            "pre-migration-0014-0015-20260123T101500Z.tar"
        );
        assert_eq!(pre_restore_name(t), "pre-restore-20260123T101500Z.tar");
    }
}
