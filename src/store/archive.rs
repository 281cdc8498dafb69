//! The backup archive on disk: a tar file (gzip-compressed when asked) of the database copy,
//! the stored files and the manifest (`domain::backup` says what it may hold). Written to a
//! temporary name with mode 0600, synced, then renamed; read back into a folder with every
//! member's SHA-256 and size checked against the manifest. Blocking I/O: callers run it on a
//! blocking thread.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::domain::backup::{self, FileEntry, Manifest, Member};

/// The largest manifest read (a store of a million files lists about 150 MB; the limit only
/// keeps a wrong file from filling memory).
const MANIFEST_LIMIT: u64 = 512 * 1024 * 1024;

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The archive is not a complete, unaltered ranah backup.
    #[error("{file} is not a usable ranah backup: {reason}")]
    Invalid {
        /// The archive.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A stored file does not hold the bytes its name promises (damaged on disk).
    #[error("the stored file {0} does not match its SHA-256 name: it is damaged")]
    Damaged(PathBuf),
}

impl ArchiveError {
    /// Whether the disk (or quota) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io { source, .. } if super::is_disk_full(source))
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let what = what.into();
    move |source| ArchiveError::Io { what, source }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Whether a file name asks for compression (`.gz`, `.tgz`).
fn compressed(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz") || e.eq_ignore_ascii_case("tgz"))
}

/// A member's tar header: a regular file, 0600, owned by nobody in particular.
fn header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Write the archive `dest`: the database copy `db`, each file of `stored` (SHA-256 names)
/// from `attachments`, then `manifest` with the members' hashes and sizes filled in. Written
/// to `tmp` (created here, mode 0600; in the same folder as `dest`), synced, renamed to `dest`,
/// and the folder synced. Returns the manifest written and the archive's size.
#[allow(clippy::too_many_arguments)]
pub fn write(
    dest: &Path,
    tmp: &Path,
    db: &Path,
    attachments: &Path,
    stored: &[String],
    kek: Option<&Path>,
    mut manifest: Manifest,
    mtime: u64,
) -> Result<(Manifest, u64), ArchiveError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(io_err(format!("cannot create {}", tmp.display())))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let out: Box<dyn Write> = if compressed(dest) {
        Box::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(out)
    };
    let mut tar = tar::Builder::new(out);
    let writing = |what: &str| io_err(format!("cannot write {} ({what})", tmp.display()));
    let mut members = vec![(backup::DATABASE.to_owned(), db.to_owned(), None)];
    if let Some(kek) = kek {
        members.push((backup::KEY_ENCRYPTION_KEY.to_owned(), kek.to_owned(), None));
    }
    for sha in stored {
        members.push((
            backup::attachment_path(sha),
            attachments.join(sha),
            Some(sha.as_str()),
        ));
    }
    manifest.files.clear();
    for (name, source, expected) in members {
        let file = File::open(&source).map_err(io_err(format!(
            "cannot read {} (the database refers to it)",
            source.display()
        )))?;
        let size = file
            .metadata()
            .map_err(io_err(format!("cannot read {}", source.display())))?
            .len();
        let mut reader = Hashing {
            inner: BufReader::with_capacity(1 << 20, file).take(size),
            hasher: Sha256::new(),
            len: 0,
        };
        tar.append_data(&mut header(size, mtime), &name, &mut reader)
            .map_err(writing(&name))?;
        let sha256 = hex::encode(reader.hasher.finalize());
        if reader.len != size || expected.is_some_and(|e| e != sha256) {
            return Err(ArchiveError::Damaged(source));
        }
        manifest.files.push(FileEntry {
            path: name,
            sha256,
            size,
        });
    }
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| io_err("cannot encode the manifest")(io::Error::other(e)))?;
    tar.append_data(
        &mut header(text.len() as u64, mtime),
        backup::MANIFEST,
        text.as_slice(),
    )
    .map_err(writing(backup::MANIFEST))?;
    let mut out = tar.into_inner().map_err(writing("end"))?;
    out.flush().map_err(writing("flush"))?;
    drop(out);
    // The encoder and the buffer are flushed and dropped: sync the file itself.
    let file = File::open(tmp).map_err(io_err(format!("cannot open {}", tmp.display())))?;
    file.sync_all().map_err(writing("sync"))?;
    let size = file.metadata().map_err(writing("size"))?.len();
    std::fs::rename(tmp, dest).map_err(io_err(format!(
        "cannot rename {} to {}",
        tmp.display(),
        dest.display()
    )))?;
    sync_dir(dest);
    Ok((manifest, size))
}

/// Sync the folder holding `path`, so that a rename in it survives a crash (best effort: not
/// every file system can).
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Read the archive `file` into the folder `into` (which exists, empty): every member is
/// checked to be one a backup may hold, written (mode 0600) with its SHA-256 and size
/// computed, and the whole compared with the manifest: nothing missing, nothing more, nothing
/// altered. Returns the manifest and the SHA-256 of its bytes (which names the backup).
pub fn unpack(file: &Path, into: &Path) -> Result<(Manifest, String), ArchiveError> {
    let invalid = |reason: String| ArchiveError::Invalid {
        file: file.to_owned(),
        reason,
    };
    let mut source = BufReader::with_capacity(
        1 << 20,
        File::open(file).map_err(io_err(format!("cannot open {}", file.display())))?,
    );
    let gzip = {
        use std::io::BufRead as _;
        let head = source
            .fill_buf()
            .map_err(io_err(format!("cannot read {}", file.display())))?;
        head.starts_with(&[0x1f, 0x8b])
    };
    let source: Box<dyn Read> = if gzip {
        Box::new(flate2::bufread::GzDecoder::new(source))
    } else {
        Box::new(source)
    };
    let mut archive = tar::Archive::new(source);
    let mut manifest_bytes: Option<Vec<u8>> = None;
    let mut found: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let reading = || io_err(format!("cannot read {}", file.display()));
    for entry in archive.entries().map_err(|e| invalid(e.to_string()))? {
        let mut entry = entry.map_err(|e| invalid(e.to_string()))?;
        let name = match entry.path() {
            Ok(p) => p.to_str().map(str::to_owned),
            Err(_) => None,
        }
        .ok_or_else(|| invalid("a member's name is not UTF-8".into()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(invalid(format!("{name:?} is not a regular file")));
        }
        if name == backup::MANIFEST {
            if manifest_bytes.is_some() {
                return Err(invalid("two manifests".into()));
            }
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MANIFEST_LIMIT + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| invalid(format!("the manifest cannot be read: {e}")))?;
            if bytes.len() as u64 > MANIFEST_LIMIT {
                return Err(invalid("the manifest is too large".into()));
            }
            manifest_bytes = Some(bytes);
            continue;
        }
        let member = backup::member(&name).map_err(invalid)?;
        if found.contains_key(&name) {
            return Err(invalid(format!("{name} appears twice")));
        }
        let dest = into.join(&name);
        if let Member::Attachment(_) = member {
            std::fs::create_dir_all(into.join(backup::ATTACHMENTS)).map_err(io_err(format!(
                "cannot create a folder in {}",
                into.display()
            )))?;
        }
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&dest)
            .map_err(io_err(format!("cannot create {}", dest.display())))?;
        let mut reader = Hashing {
            inner: &mut entry,
            hasher: Sha256::new(),
            len: 0,
        };
        io::copy(&mut reader, &mut out).map_err(|e| {
            if super::is_disk_full(&e) {
                io_err(format!("cannot write {}", dest.display()))(e)
            } else {
                reading()(e)
            }
        })?;
        out.sync_all()
            .map_err(io_err(format!("cannot write {}", dest.display())))?;
        found.insert(name, (hex::encode(reader.hasher.finalize()), reader.len));
    }
    let bytes = manifest_bytes.ok_or_else(|| {
        invalid("it holds no manifest.json (not a ranah backup, or cut short)".into())
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("the manifest cannot be read: {e}")))?;
    manifest
        .check()
        .map_err(|e| invalid(format!("the manifest: {e}")))?;
    for f in &manifest.files {
        match found.remove(&f.path) {
            None => return Err(invalid(format!("{} is listed but missing", f.path))),
            Some((sha256, size)) if sha256 != f.sha256 || size != f.size => {
                return Err(invalid(format!(
                    "{} has SHA-256 {sha256} and {size} bytes; the manifest says {} and {} bytes",
                    f.path, f.sha256, f.size
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().next() {
        return Err(invalid(format!("{extra} is not in the manifest")));
    }
    Ok((manifest, hex::encode(Sha256::digest(&bytes))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: backup::FORMAT.into(),
            ranah_version: "test".into(),
            schema_version: 1,
            created_at: "2026-01-23T10:15:00.000Z".into(),
            zones: vec![],
            audit_head: None,
            files: vec![],
        }
    }

    /// A data folder with a "database" and one stored file, and an archive of it.
    fn archive(name: &str) -> (tempfile::TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"SQLite format 3\0 and the rest").unwrap();
        let bytes = b"%PDF-1.7 letter";
        let sha = hex::encode(Sha256::digest(bytes));
        std::fs::create_dir(dir.path().join("attachments")).unwrap();
        std::fs::write(dir.path().join("attachments").join(&sha), bytes).unwrap();
        let dest = dir.path().join(name);
        let (m, size) = write(
            &dest,
            &dir.path().join("tmp"),
            &dir.path().join("db"),
            &dir.path().join("attachments"),
            std::slice::from_ref(&sha),
            None,
            manifest(),
            0,
        )
        .unwrap();
        assert_eq!(m.files.len(), 2);
        assert_eq!(size, std::fs::metadata(&dest).unwrap().len());
        (dir, dest, sha)
    }

    #[test]
    fn round_trip_plain_and_compressed() {
        use std::os::unix::fs::PermissionsExt as _;
        for name in ["b.tar", "b.tar.gz"] {
            let (dir, dest, sha) = archive(name);
            assert_eq!(
                std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert!(!dir.path().join("tmp").exists());
            let into = dir.path().join("out");
            std::fs::create_dir(&into).unwrap();
            let (m, digest) = unpack(&dest, &into).unwrap();
            assert_eq!(m.files[0].path, "ranah.db");
            assert_eq!(digest.len(), 64);
            assert_eq!(
                std::fs::read(into.join("attachments").join(&sha)).unwrap(),
                b"%PDF-1.7 letter"
            );
            assert_eq!(
                std::fs::read(into.join("ranah.db")).unwrap(),
                std::fs::read(dir.path().join("db")).unwrap()
            );
        }
    }

    #[test]
    fn a_damaged_stored_file_fails_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"db").unwrap();
        std::fs::create_dir(dir.path().join("attachments")).unwrap();
        let sha = hex::encode(Sha256::digest(b"original"));
        std::fs::write(dir.path().join("attachments").join(&sha), b"altered").unwrap();
        let e = write(
            &dir.path().join("b.tar"),
            &dir.path().join("tmp"),
            &dir.path().join("db"),
            &dir.path().join("attachments"),
            &[sha],
            None,
            manifest(),
            0,
        )
        .unwrap_err();
        assert!(matches!(e, ArchiveError::Damaged(_)), "{e}");
    }

    /// An archive with one byte changed, cut short, or with a member added is refused with
    /// what is wrong.
    #[test]
    fn altered_archives_are_refused() {
        let (dir, dest, _) = archive("b.tar");
        let bytes = std::fs::read(&dest).unwrap();
        let unpack_bytes = |bytes: &[u8]| {
            let file = dir.path().join("altered.tar");
            std::fs::write(&file, bytes).unwrap();
            let into = tempfile::tempdir_in(dir.path()).unwrap();
            unpack(&file, into.path()).unwrap_err().to_string()
        };
        // The database's first byte (after its 512-byte header).
        let mut flipped = bytes.clone();
        flipped[512] ^= 1;
        let e = unpack_bytes(&flipped);
        assert!(e.contains("ranah.db has SHA-256"), "{e}");
        // Cut before the manifest.
        let e = unpack_bytes(&bytes[..2048]);
        assert!(e.contains("no manifest.json"), "{e}");
        // A member the manifest does not list.
        let mut extra = tar::Builder::new(Vec::new());
        let mut h = header(1, 0);
        extra
            .append_data(&mut h, format!("attachments/{}", "a".repeat(64)), &b"x"[..])
            .unwrap();
        let mut more = extra.into_inner().unwrap();
        more.truncate(more.len() - 1024); // without its end marker
        more.extend_from_slice(&bytes);
        let e = unpack_bytes(&more);
        assert!(e.contains("is not in the manifest"), "{e}");
        // A member that would land outside the folder.
        let mut evil = tar::Builder::new(Vec::new());
        let mut h = header(1, 0);
        h.set_path("x").unwrap();
        let name = b"../outside";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        evil.append(&h, &b"x"[..]).unwrap();
        let e = unpack_bytes(&evil.into_inner().unwrap());
        assert!(e.contains("unexpected member"), "{e}");
        assert!(!dir.path().join("outside").exists());
    }
}
