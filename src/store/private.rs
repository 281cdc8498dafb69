//! Folders and files that only ranah's own user may read. The data directory holds the
//! applicants' contacts, their letters and the sealed keys: it is made 0700 and every file ranah
//! writes in it 0600, with the mode given when each is created, so that the umask of whoever
//! started ranah (a shell's usual 0022 would make them world-readable) does not decide.
//!
//! SQLite creates the database's `-wal` and `-shm` files with the database file's own mode, so
//! making the database file 0600 before SQLite opens it covers all three.

use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;

/// The mode of a folder ranah creates for its state.
pub const DIR_MODE: u32 = 0o700;
/// The mode of a file ranah creates in its state.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (and any missing parent) 0700. A folder that exists is left as it is.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    match std::fs::metadata(dir) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)?;
            // The umask may have taken bits away; the mode is exactly 0700 whatever it was.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
        }
        Err(e) => Err(e),
    }
}

/// Report a data directory that other users may enter (one made before ranah set modes, or by
/// hand). It is not changed: the operator chose it, and it may be shared; `chmod` is theirs.
pub fn warn_if_shared(dir: &Path) {
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.is_dir()
        && meta.mode() & 0o077 != 0
    {
        tracing::warn!(
            dir = %dir.display(),
            mode = format_args!("{:04o}", meta.mode() & 0o7777),
            "the data directory can be entered by other users; make it private: chmod 0700"
        );
    }
}

/// Create the database file `file` empty and 0600 if it does not exist (SQLite then takes it as
/// a new database, and gives its `-wal` and `-shm` files the same mode); a database file of
/// ours that exists, or its `-wal` and `-shm`, with a wider mode (made before ranah set modes)
/// is narrowed to 0600.
pub fn prepare_database_file(file: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(file)
    {
        Ok(_) => std::fs::set_permissions(file, std::fs::Permissions::from_mode(FILE_MODE)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = file.as_os_str().to_owned();
                name.push(suffix);
                narrow(Path::new(&name))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Narrow `file` to 0600 if it exists and others may read it. A file of another user's
/// (which this user may not chmod) is reported, not an error: the database still opens.
fn narrow(file: &Path) -> io::Result<()> {
    let meta = match std::fs::metadata(file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_file() || meta.mode() & 0o077 == 0 {
        return Ok(());
    }
    match std::fs::set_permissions(file, std::fs::Permissions::from_mode(FILE_MODE)) {
        Ok(()) => {
            tracing::info!(file = %file.display(), "made the database file private (0600)");
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            tracing::warn!(
                file = %file.display(),
                mode = format_args!("{:04o}", meta.mode() & 0o7777),
                "the database file can be read by other users, and is not ours to chmod"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Options that create a file 0600, or truncate it (the attachments' temporary files).
pub fn file_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    /// 0700 and 0600 exactly, whatever this process's umask (the integration test
    /// `deploy::data_files_are_private_whatever_the_umask` runs the binary under 0022).
    #[test]
    fn private_modes_at_creation_and_older_files_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/data");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("ranah.db");
        prepare_database_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);

        // Files made before ranah set modes are narrowed when the store opens them.
        for name in ["ranah.db", "ranah.db-wal", "ranah.db-shm"] {
            std::fs::write(dir.join(name), b"x").unwrap();
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        prepare_database_file(&db).unwrap();
        for name in ["ranah.db", "ranah.db-wal", "ranah.db-shm"] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
            assert_eq!(std::fs::read(dir.join(name)).unwrap(), b"x", "{name} kept");
        }
        // An existing folder is not changed (it may be shared).
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_dir_all(&open).unwrap();
        assert_eq!(mode(&open), 0o755);
    }
}
