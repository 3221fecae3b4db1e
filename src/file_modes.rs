//! Owner-only files: the data directory, the secrets and the SQLite database files.
//!
//! Whoever reads both the phone-hash key and the database can recover respondents' phone
//! numbers by hashing every possible number, so these are readable by the server's own user
//! only. Files are created with that mode rather than trusting the umask (which can take
//! permissions away, never add them). On start, what an earlier run left open to other users
//! (releases before this one created the key and the database 0644 in a 0755 directory) is
//! tightened, with a warning; when that fails (another owner, a read-only mount) the server
//! refuses to start rather than run with its secrets exposed.

use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Suffixes of the files SQLite keeps beside a database in WAL mode.
const SQLITE_COMPANIONS: [&str; 2] = ["-wal", "-shm"];

/// Creates the directories missing above `path`, owner-only; existing ones are left as they
/// are (an operator's `/etc/canvass` is not ours to change).
pub fn create_parents(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => create_dir_private(dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display()))),
        _ => Ok(()),
    }
}

/// Writes `contents` to a new file at `path` that only its owner may read or write. Fails
/// with [`io::ErrorKind::AlreadyExists`] when the file exists, so a secret is never replaced.
pub fn create_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = open_options(0o600)
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Writes `contents` to a new file at `path` that others may read but not change (a public
/// key, meant to be copied to servers that only verify).
pub fn create_public(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = open_options(0o644)
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Takes group and other permissions off the file or directory at `path`; nothing when it
/// does not exist (whatever creates it later creates it owner-only).
///
/// # Errors
/// When `path` is open to other users and its mode cannot be changed, naming the fix.
#[cfg(unix)]
pub fn tighten(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(metadata) => metadata.permissions().mode() & 0o7777,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::internal(format!("{}: {e}", path.display()))),
    };
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let private = mode & 0o700;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(private)).map_err(|e| {
        Error::internal(format!(
            "{} is open to other users (mode {mode:04o}) and could not be made private: {e}; \
             make it accessible to its owner only (chmod {private:o} {})",
            path.display(),
            path.display(),
        ))
    })?;
    tracing::warn!(
        path = %path.display(),
        was = format!("{mode:04o}"),
        now = format!("{private:04o}"),
        "was open to other users; tightened to its owner"
    );
    Ok(())
}

#[cfg(not(unix))]
pub fn tighten(_path: &Path) -> Result<()> {
    Ok(())
}

/// Makes the SQLite database that `url` names owner-only: an empty database file is created
/// 0600 when there is none (SQLite gives its `-wal` and `-shm` files the database's mode), and
/// the three files are tightened when an earlier run left them open. Nothing for PostgreSQL or
/// an in-memory database.
///
/// # Errors
/// When a file cannot be created or tightened.
pub fn protect_sqlite(url: &str) -> Result<()> {
    let Some(database) = sqlite_file(url) else {
        return Ok(());
    };
    create_parents(&database)?;
    match create_private(&database, b"") {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::internal(format!(
                "creating {}: {e}",
                database.display()
            )));
        }
    }
    tighten(&database)?;
    for suffix in SQLITE_COMPANIONS {
        let mut companion = database.clone().into_os_string();
        companion.push(suffix);
        tighten(Path::new(&companion))?;
    }
    Ok(())
}

/// The database file of a `sqlite:` URL; `None` for other schemes and in-memory databases.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_owned())
}

#[cfg(unix)]
fn open_options(mode: u32) -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.mode(mode);
    options
}

#[cfg(not(unix))]
fn open_options(_mode: u32) -> std::fs::OpenOptions {
    std::fs::OpenOptions::new()
}

#[cfg(unix)]
fn create_dir_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_dir_private(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn sqlite_urls_name_their_file_and_nothing_else_does() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/canvass/canvass.db"),
            Some(PathBuf::from("/var/lib/canvass/canvass.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://data/canvass.db?mode=rwc"),
            Some(PathBuf::from("data/canvass.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://localhost/canvass"), None);
    }

    #[test]
    fn open_files_and_directories_are_tightened_keeping_the_owner_bits() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "secret").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        tighten(&key).unwrap();
        tighten(dir.path()).unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(dir.path()), 0o700);
        // A read-only secret stays read-only.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o440)).unwrap();
        tighten(&key).unwrap();
        assert_eq!(mode(&key), 0o400);
        tighten(&dir.path().join("absent")).unwrap();
    }

    #[test]
    fn created_files_and_directories_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("a/b/canvass.db");
        protect_sqlite(&format!("sqlite://{}", database.display())).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        assert_eq!(mode(&database), 0o600);
        let key = dir.path().join("key");
        create_private(&key, b"secret").unwrap();
        assert_eq!(mode(&key), 0o600);
        let again = create_private(&key, b"other").unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&key).unwrap(), b"secret");
    }
}
