//! Files kept beside the database: attachments and response letters, under
//! `<data_dir>/attachments/`, each named by the SHA-256 of its bytes (so a file is written once
//! however often it is attached, and its name proves its content).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The folder of stored files.
#[derive(Debug, Clone)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    /// The files under `data_dir/attachments`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("attachments"),
        }
    }

    /// The folder itself (the mailer attaches from it).
    pub fn dir(&self) -> &Path {
        &self.dir
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
        let path = self.dir.join(&sha256);
        if tokio::fs::try_exists(&path).await? {
            return Ok((sha256, false));
        }
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || super::private::create_dir_all(&dir))
            .await
            .map_err(std::io::Error::other)??;
        let tmp = self.dir.join(format!(
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
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a SHA-256",
            ));
        }
        tokio::fs::remove_file(self.dir.join(sha256)).await
    }

    /// The bytes kept under `sha256`.
    pub async fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a SHA-256",
            ));
        }
        tokio::fs::read(self.dir.join(sha256)).await
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
        let names: Vec<String> = std::fs::read_dir(files.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
