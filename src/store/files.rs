//! Files the requests refer to (attachments, response letters, files of queued messages),
//! each named by the SHA-256 of its bytes (so a file is written once however often it is
//! attached, and its name proves its content): beside a SQLite database, under
//! `<data_dir>/attachments/`; in a PostgreSQL database, in its table `stored_files`, so that
//! every instance that shares it reads what another received.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Store;

/// Where the files are.
#[derive(Debug, Clone)]
pub struct Files {
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    /// A folder of the data directory.
    Dir(PathBuf),
    /// The database's `stored_files`.
    Database(Store),
}

impl Files {
    /// The files under `data_dir/attachments`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            place: Place::Dir(Self::folder(data_dir)),
        }
    }

    /// The folder of the files beside a SQLite store in `data_dir`.
    pub fn folder(data_dir: &Path) -> PathBuf {
        data_dir.join("attachments")
    }

    /// The files of `store`: in the database when instances share it (PostgreSQL), else under
    /// `data_dir/attachments`.
    pub fn of(store: &Store, data_dir: &Path) -> Self {
        if store.is_shared() {
            Self {
                place: Place::Database(store.clone()),
            }
        } else {
            Self::new(data_dir)
        }
    }

    /// The folder, when the files are in one (what a backup of a SQLite store copies).
    pub fn dir(&self) -> Option<&Path> {
        match &self.place {
            Place::Dir(dir) => Some(dir),
            Place::Database(_) => None,
        }
    }

    /// Keep `bytes`; returns their SHA-256 (hex), the name to find them by. Written to a
    /// temporary name of its own, synced, then renamed: a crash never leaves half a file under
    /// the final name, two uploads of the same bytes at once do not take each other's
    /// temporary file, and a write that fails (the disk full) removes what it wrote. Bytes kept
    /// already are not written again.
    pub async fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        Ok(self.put_new(bytes).await?.0)
    }

    /// As [`Self::put`], and whether this call wrote the file (false: it was kept already), so
    /// that a caller whose record of it then fails can take back what it wrote
    /// ([`Self::remove`]).
    pub async fn put_new(&self, bytes: &[u8]) -> std::io::Result<(String, bool)> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let sha256 = hex::encode(Sha256::digest(bytes));
        let dir = match &self.place {
            Place::Dir(dir) => dir,
            Place::Database(store) => {
                let written = store.put_file(&sha256, bytes).await.map_err(io_error)?;
                return Ok((sha256, written));
            }
        };
        let path = dir.join(&sha256);
        if tokio::fs::try_exists(&path).await? {
            return Ok((sha256, false));
        }
        let owned = dir.clone();
        tokio::task::spawn_blocking(move || super::private::create_dir_all(&owned))
            .await
            .map_err(std::io::Error::other)??;
        let tmp = dir.join(format!(
            ".{sha256}.{}.{}.tmp",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let written = async {
            use tokio::io::AsyncWriteExt as _;
            // 0600 from the start, whatever the umask (`private`).
            let mut file = super::private::file_options().open(&tmp).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        Ok((sha256, true))
    }

    /// Remove the file kept under `sha256` (the caller knows nothing refers to it).
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        check_name(sha256)?;
        match &self.place {
            Place::Dir(dir) => tokio::fs::remove_file(dir.join(sha256)).await,
            Place::Database(store) => store.remove_file(sha256).await.map_err(io_error),
        }
    }

    /// The bytes kept under `sha256`.
    pub async fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        check_name(sha256)?;
        match &self.place {
            Place::Dir(dir) => tokio::fs::read(dir.join(sha256)).await,
            Place::Database(store) => store
                .get_file(sha256)
                .await
                .map_err(io_error)?
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    }
}

/// A file's name must be a SHA-256 in hex (never a path).
fn check_name(sha256: &str) -> std::io::Result<()> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a SHA-256",
        ));
    }
    Ok(())
}

/// A database failure as the I/O error the callers of [`Files`] handle (a database that
/// cannot be reached is the one a retry may get past, as a full disk is for a folder).
fn io_error(e: super::StoreError) -> std::io::Error {
    let kind = if e.is_unavailable() {
        std::io::ErrorKind::ConnectionRefused
    } else {
        std::io::ErrorKind::Other
    };
    std::io::Error::new(kind, e.to_string())
}

impl Store {
    /// Keep a file's bytes under their SHA-256; false when they were kept already.
    async fn put_file(&self, sha256: &str, bytes: &[u8]) -> Result<bool, super::StoreError> {
        let done = sqlx::query(
            "INSERT INTO stored_files (sha256, data, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(bytes)
        .bind(super::ts(chrono::Utc::now()))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A file's bytes, if kept.
    async fn get_file(&self, sha256: &str) -> Result<Option<Vec<u8>>, super::StoreError> {
        Ok(
            sqlx::query_scalar("SELECT data FROM stored_files WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Remove a file (the caller knows nothing refers to it).
    async fn remove_file(&self, sha256: &str) -> Result<(), super::StoreError> {
        sqlx::query("DELETE FROM stored_files WHERE sha256 = $1")
            .bind(sha256)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_then_get() {
        let tmp = tempfile::tempdir().unwrap();
        let files = Files::new(tmp.path());
        let sha = files.put(b"%PDF-1.7").await.unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(b"%PDF-1.7")));
        assert_eq!(files.get(&sha).await.unwrap(), b"%PDF-1.7");
        assert!(files.get("../ranah.db").await.is_err());
        // The folder is a file: a fault, reported, not a panic.
        let broken = tempfile::tempdir().unwrap();
        std::fs::write(broken.path().join("attachments"), b"x").unwrap();
        assert!(Files::new(broken.path()).put(b"y").await.is_err());
    }

    /// The same bytes from many uploads at once (every applicant's template letter): each
    /// upload succeeds, the file is kept once, and no temporary file is left. (One temporary
    /// name for all made the later renames fail: a 500 for an upload.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_same_bytes_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let files = Files::new(tmp.path());
        let puts: Vec<_> = (0..16)
            .map(|_| {
                let files = files.clone();
                tokio::spawn(async move { files.put(b"%PDF-1.7 same").await })
            })
            .collect();
        for p in puts {
            p.await.unwrap().unwrap();
        }
        let names: Vec<String> = std::fs::read_dir(files.dir().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
